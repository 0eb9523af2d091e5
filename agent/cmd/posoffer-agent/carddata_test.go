package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/frame"
)

// TestAgentRefusesCardNumbers runs the built agent with a serial terminal
// and an MQTT terminal and an HQ NATS server, sends it checkouts that
// carry card numbers in every form and place, and checks that each is
// refused and counted, and that no digit of the numbers reaches agent.db,
// the agent's logs or NATS; a good checkout sent after them reaches NATS,
// so the refused ones would have too.
func TestAgentRefusesCardNumbers(t *testing.T) {
	srv, nc, _ := startHQNATS(t)
	// Everything published on NATS, whatever the subject.
	var (
		mu      sync.Mutex
		onNATS  bytes.Buffer
		txnSeen = map[string]bool{}
	)
	sniff, err := nc.Subscribe(">", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		onNATS.WriteString(m.Subject + " ")
		onNATS.Write(m.Data)
		onNATS.WriteByte('\n')
		if e, err := protocol.DecodeEvent(m.Data); err == nil && e.Txn != "" {
			txnSeen[e.Txn] = true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sniff.Unsubscribe()
	nc.Flush()

	m := loadModel(t, defaultModel)
	dir := t.TempDir()
	c := newCable(t, filepath.Join(dir, "ttyPOS1"), m)
	extra := fmt.Sprintf("firmware_dir: %s\nserial: [{terminal: t02, port: %s, model: %s}]\ncloud: {nats_url: '%s', allow_unsigned_catalog: true}\n",
		firmwareDir, c.path, defaultModel, srv.ClientURL())
	a := startAgentExtra(t, dir, "", testCatalog, "", extra)
	waitPort(t, a, "t02", true)
	term := newTerminal(t, a, "t01")

	const luhnFails = "4111111111111112" // found only by the track's form
	pans := []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "3530111333300000", luhnFails}
	checkout := func(id, field string) string {
		msg := strings.Replace(checkoutMsg(id, "tx-"+id), `"sku":"C"`, field, 1)
		if msg == checkoutMsg(id, "tx-"+id) {
			t.Fatal("checkoutMsg changed: the test does not place the card data")
		}
		return msg
	}
	overMQTT := map[string]string{
		"c1": checkout("c1", `"sku":"C","name":"`+pans[0]+`"`),                          // bare, in a name
		"c2": checkout("c2", `"sku":"5555 5555 5555 4444"`),                             // grouped, in a sku
		"c3": checkout("c3", `"sku":"C","brand":"%B`+luhnFails+`^DOE/JOHN^2512101000"`), // track 1, no end sentinel
		"c4": checkout("c4", `"sku":"C","name":"\u0033782822463\u00310005"`),            // escaped digits
		"c5": checkout("c5", `"sku":"C","category":"`+pans[4]+`=25121010000"`),          // track 2, no sentinels
	}
	for id, msg := range overMQTT {
		r := term.send(t, id, msg)
		if r.Type != protocol.TypeError || r.Code != protocol.CodeCardData {
			t.Errorf("%s: reply %s %s %q, want error card_data", id, r.Type, r.Code, r.Message)
		}
	}
	if got := metric(t, a, `posoffer_errors_total{code="card_data"}`); got != fmt.Sprint(len(overMQTT)) {
		t.Errorf(`posoffer_errors_total{code="card_data"} = %q, want %d`, got, len(overMQTT))
	}

	// Over the serial line, the frame is refused with a NAK.
	for _, msg := range []string{
		checkout("s1", `"sku":"C","name":"`+pans[3]+`"`),
		checkout("s2", `"sku":"C","name":"B`+luhnFails+`^DOE/JOHN^2512"`),
	} {
		c.write(t, framed(t, m, msg))
		c.expect(t, frame.EventNAK)
	}
	// The frame is counted as the NAK goes out: wait for it.
	waitMetric(t, a, `posoffer_serial_frames_total{kind="card_data",terminal="t02"}`, "2")

	// A good checkout after them reaches NATS.
	if r := term.send(t, "ok", checkoutMsg("ok", "tx-ok")); r.Type != protocol.TypeAck {
		t.Fatalf("good checkout: %+v", r)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		seen := txnSeen["tx-ok"]
		mu.Unlock()
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the good checkout did not reach NATS in 15s; logs:\n%s", a.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.stop(t)

	var disk bytes.Buffer
	filepath.WalkDir(filepath.Join(dir, "data"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			disk.Write(b)
		}
		return nil
	})
	if disk.Len() == 0 {
		t.Fatal("no agent.db to look into")
	}
	mu.Lock()
	sent := onNATS.String()
	mu.Unlock()
	for _, pan := range pans {
		for _, part := range []string{pan, pan[len(pan)-10:], pan[:4] + " " + pan[4:8]} {
			if bytes.Contains(disk.Bytes(), []byte(part)) {
				t.Errorf("%q is in the agent's data directory", part)
			}
			if strings.Contains(a.logs.String(), part) {
				t.Errorf("%q is in the agent's logs", part)
			}
			if strings.Contains(sent, part) {
				t.Errorf("%q was sent on NATS", part)
			}
		}
	}
	for _, txn := range []string{"tx-c1", "tx-c2", "tx-c3", "tx-c4", "tx-c5", "tx-s1", "tx-s2"} {
		if txnSeen[txn] || bytes.Contains(disk.Bytes(), []byte(txn)) {
			t.Errorf("refused checkout %s was recorded or sent", txn)
		}
	}
}
