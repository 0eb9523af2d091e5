package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/posoffer/posoffer/agent/firmware"
	"github.com/posoffer/posoffer/agent/serial"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/frame"
)

// These tests give the built agent serial terminals on pseudo-terminals:
// the agent opens the pty's slave through tarm/serial, by a stable path (a
// symlink, as udev names USB adapters), and the test holds the master, the
// terminal's end of the cable.

// firmwareDir is the repository's terminal models.
var firmwareDir, _ = filepath.Abs("../../../firmware-configs")

// defaultModel is the model that speaks the protocol's default framing.
const defaultModel = "acme-tp100"

// cable is a pty: the agent's end is path, the test's end is master.
type cable struct {
	path   string
	master *os.File
	slave  *os.File
	events chan frame.Event // what the agent sent, decoded with the model's framing
}

// newCable makes a pty reachable at path (replacing what path was).
func newCable(t *testing.T, path string, m *firmware.Model) *cable {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	tmp := path + ".new"
	os.Remove(tmp)
	if err := os.Symlink(slave.Name(), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	c := &cable{path: path, master: master, slave: slave, events: make(chan frame.Event, 256)}
	dec, err := frame.NewDecoder(m.Frame)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			dec.Feed(buf[:n], func(e frame.Event) {
				e.Payload = append([]byte(nil), e.Payload...)
				c.events <- e
			})
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *cable) close() {
	c.master.Close()
	c.slave.Close()
}

func (c *cable) write(t *testing.T, b []byte) {
	t.Helper()
	if _, err := c.master.Write(b); err != nil {
		t.Fatal(err)
	}
}

// expect waits for the agent to send something of kind.
func (c *cable) expect(t *testing.T, kind frame.Kind) frame.Event {
	t.Helper()
	select {
	case e := <-c.events:
		if e.Kind != kind {
			t.Fatalf("agent sent %v (%q), want %v", e.Kind, e.Payload, kind)
		}
		return e
	case <-time.After(3 * time.Second):
		t.Fatalf("agent sent nothing within 3s, want %v", kind)
	}
	return frame.Event{}
}

// quiet checks that the agent sends nothing for d.
func (c *cable) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-c.events:
		t.Fatalf("agent sent %v (%q), want nothing", e.Kind, e.Payload)
	case <-time.After(d):
	}
}

// reply waits for a reply frame, acknowledges it and decodes it.
func (c *cable) reply(t *testing.T, m *firmware.Model) *protocol.Message {
	t.Helper()
	e := c.expect(t, frame.EventFrame)
	if m.Acks {
		c.write(t, []byte{m.Frame.ACK})
	}
	r, err := m.DecodeReply(e.Payload)
	if err != nil {
		t.Fatalf("agent's reply %q: %v", e.Payload, err)
	}
	return r
}

func loadModel(t *testing.T, name string) *firmware.Model {
	t.Helper()
	m, err := firmware.Load(firmwareDir, name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func framed(t *testing.T, m *firmware.Model, v1 string) []byte {
	t.Helper()
	p, err := m.EncodeRequest([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := frame.Encode(m.Frame, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// agentStatus is GET /status.
func agentStatus(t *testing.T, a *runningAgent) status {
	t.Helper()
	resp, err := http.Get("http://" + a.http + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitPort waits until the agent reports terminal's port up (or down).
func waitPort(t *testing.T, a *runningAgent, terminal string, up bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range agentStatus(t, a).Serial {
			if s.Terminal == terminal && s.Up == up {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("port of %s not up=%v after 10s: %+v; logs:\n%s", terminal, up, agentStatus(t, a).Serial, a.logs)
}

// startSerialAgent runs an agent with one serial terminal t01 of model on
// a new cable.
func startSerialAgent(t *testing.T, model string) (*runningAgent, *cable, *firmware.Model) {
	t.Helper()
	m := loadModel(t, model)
	dir := t.TempDir()
	c := newCable(t, filepath.Join(dir, "ttyPOS1"), m)
	extra := fmt.Sprintf("firmware_dir: %s\nserial: [{terminal: t01, port: %s, model: %s}]\n", firmwareDir, c.path, model)
	a := startAgentExtra(t, dir, "", testCatalog, "", extra)
	waitPort(t, a, "t01", true)
	return a, c, m
}

func serialMetric(t *testing.T, a *runningAgent, name, kind string) string {
	t.Helper()
	if kind != "" {
		return metric(t, a, name+`{kind="`+kind+`",terminal="t01"}`)
	}
	return metric(t, a, name+`{terminal="t01"}`)
}

func TestSerialExchange(t *testing.T) {
	a, c, m := startSerialAgent(t, defaultModel)
	good := framed(t, m, basketMsg("m1", "tx1"))

	// A frame whose LRC is wrong is refused; the terminal's retry is served.
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 0x55
	c.write(t, bad)
	c.expect(t, frame.EventNAK)
	c.write(t, good)
	c.expect(t, frame.EventACK)
	if r := c.reply(t, m); r.Type != protocol.TypeOffers || r.Re != "m1" || len(r.Offers) != 1 || r.Offers[0].ID != "coffee-2-pastry" {
		t.Fatalf("reply %+v, want the coffee-2-pastry offer for m1", r)
	}
	c.quiet(t, 700*time.Millisecond) // acknowledged: not sent again

	// Garbage between frames is skipped.
	c.write(t, []byte("\x00\xffnoise\r\n"))
	c.write(t, framed(t, m, basketMsg("m2", "tx1")))
	c.expect(t, frame.EventACK)
	if r := c.reply(t, m); r.Re != "m2" {
		t.Fatalf("reply to %q, want m2", r.Re)
	}

	// A frame cut in half, then the whole frame again: the half is
	// garbage, the whole one is served once.
	half := framed(t, m, basketMsg("m3", "tx1"))
	c.write(t, half[:len(half)/2])
	time.Sleep(50 * time.Millisecond)
	c.write(t, half)
	c.expect(t, frame.EventACK)
	if r := c.reply(t, m); r.Re != "m3" {
		t.Fatalf("reply to %q, want m3", r.Re)
	}
	c.quiet(t, 200*time.Millisecond)

	// Oversize frames are refused.
	big := append([]byte{m.Frame.STX}, strings.Repeat("x", frame.DefaultMaxPayload+10)...)
	c.write(t, append(big, m.Frame.ETX, 0))
	c.expect(t, frame.EventNAK)

	// Track data is refused, counted and not logged.
	track := `{"v":1,"type":"basket","id":"m4","txn":"tx1","customer":"%B4111111111111111^DOE/JOHN^2512101?","lines":[]}`
	c.write(t, framed(t, m, track))
	c.expect(t, frame.EventNAK)

	garbage := serialMetric(t, a, "posoffer_serial_garbage_bytes_total", "")
	for kind, want := range map[string]string{"bad_lrc": "1", "request": "3", "oversize": "1", "card_data": "1"} {
		if got := serialMetric(t, a, "posoffer_serial_frames_total", kind); got != want {
			t.Errorf("frames %s = %q, want %s", kind, got, want)
		}
	}
	if garbage == "" || garbage == "0" {
		t.Errorf("garbage bytes = %q, want some", garbage)
	}
	if strings.Contains(a.logs.String(), "4111111111111111") {
		t.Error("the card number is in the agent's logs")
	}
}

func TestSerialDuplicateHandledOnce(t *testing.T) {
	a, c, m := startSerialAgent(t, defaultModel)
	ck := framed(t, m, checkoutMsg("m1", "tx-dup"))
	c.write(t, ck)
	c.expect(t, frame.EventACK)
	first := c.reply(t, m)
	// The terminal missed our ACK and sends the same frame again: it is
	// acknowledged and answered again, and recorded once.
	c.write(t, ck)
	c.expect(t, frame.EventACK)
	again := c.reply(t, m)
	if first.Type != protocol.TypeAck || again.Type != protocol.TypeAck || again.Re != "m1" {
		t.Fatalf("replies %+v and %+v, want two acks of m1", first, again)
	}
	if got := serialMetric(t, a, "posoffer_serial_frames_total", "duplicate"); got != "1" {
		t.Errorf("duplicate frames = %q, want 1", got)
	}
	if got := metric(t, a, "posoffer_checkouts_total"); got != "1" {
		t.Errorf("checkouts = %q, want 1", got)
	}
	if got := metric(t, a, "posoffer_checkouts_repeated_total"); got != "0" {
		t.Errorf("repeated checkouts = %q, want 0: the duplicate reached the service", got)
	}
}

func TestSerialResendsUnacknowledgedReply(t *testing.T) {
	a, c, m := startSerialAgent(t, defaultModel)
	c.write(t, framed(t, m, basketMsg("m1", "tx1")))
	c.expect(t, frame.EventACK)
	first := c.expect(t, frame.EventFrame) // not acknowledged
	start := time.Now()
	again := c.expect(t, frame.EventFrame)
	if waited := time.Since(start); waited < m.AckTimeout/2 {
		t.Errorf("resent after %v, want about %v", waited, m.AckTimeout)
	}
	if string(again.Payload) != string(first.Payload) {
		t.Errorf("resent %q, want %q", again.Payload, first.Payload)
	}
	c.write(t, []byte{m.Frame.NAK}) // a NAK gets it resent at once
	c.expect(t, frame.EventFrame)
	c.write(t, []byte{m.Frame.ACK})
	c.quiet(t, m.AckTimeout+200*time.Millisecond)
	if got := serialMetric(t, a, "posoffer_serial_retransmits_total", ""); got != "2" {
		t.Errorf("retransmits = %q, want 2", got)
	}
}

func TestSerialPortLostAndFound(t *testing.T) {
	a, c, m := startSerialAgent(t, defaultModel)
	c.write(t, framed(t, m, basketMsg("m1", "tx1")))
	c.expect(t, frame.EventACK)
	c.reply(t, m)

	// The adapter is unplugged: the device goes away.
	c.close()
	os.Remove(c.path)
	waitPort(t, a, "t01", false)
	if got := metric(t, a, `posoffer_serial_port_up{terminal="t01"}`); got != "0" {
		t.Errorf("port_up = %q while unplugged, want 0", got)
	}
	// It comes back (at a new pty, under the same name).
	c = newCable(t, c.path, m)
	waitPort(t, a, "t01", true)
	c.write(t, framed(t, m, basketMsg("m2", "tx2")))
	c.expect(t, frame.EventACK)
	if r := c.reply(t, m); r.Re != "m2" || len(r.Offers) != 1 {
		t.Fatalf("after the port came back: %+v", r)
	}
	if got := serialMetric(t, a, "posoffer_serial_port_opens_total", ""); got != "2" {
		t.Errorf("port opens = %q, want 2", got)
	}
}

// TestSerialEveryModel runs posoffer-sim serial as a terminal of every
// shipped model against the agent, over two ptys joined by a null-modem
// cable (the test copies bytes between their masters): real serial I/O
// through tarm/serial on both ends.
func TestSerialEveryModel(t *testing.T) {
	models, err := firmware.List(firmwareDir)
	if err != nil || len(models) < 3 {
		t.Fatalf("models in %s: %v, %v; want at least 3", firmwareDir, models, err)
	}
	dir := t.TempDir()
	var extra strings.Builder
	fmt.Fprintf(&extra, "firmware_dir: %s\nserial:\n", firmwareDir)
	ends := map[string]string{}
	for i, name := range models {
		agentEnd, simEnd := nullModem(t, dir, fmt.Sprintf("tty%d", i))
		fmt.Fprintf(&extra, "  - {terminal: t%02d, port: %s, model: %s}\n", i, agentEnd, name)
		ends[name] = simEnd
	}
	a := startAgentExtra(t, dir, "", testCatalog, "", extra.String())
	for i := range models {
		waitPort(t, a, fmt.Sprintf("t%02d", i), true)
	}
	for i, name := range models {
		t.Run(name, func(t *testing.T) {
			// A customer of their own: the offer is once per customer.
			customer := fmt.Sprintf("49001234%05d", i)
			japanese := strings.NewReplacer(loyaltyID, customer, `"category":"pastry"`, `"category":"pastry","name":"メロンパン"`)
			txn := "tx-" + name
			basket := filepath.Join(dir, name+"-basket.json")
			os.WriteFile(basket, []byte(japanese.Replace(basketMsg("m1", txn))), 0o644)
			checkout := filepath.Join(dir, name+"-checkout.json")
			os.WriteFile(checkout, []byte(japanese.Replace(checkoutMsg("m2", txn))), 0o644)
			cmd := exec.Command(simBin, "serial", "--port", ends[name], "--model", name, "--firmware-dir", firmwareDir,
				"--file", basket, "--file", checkout)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("posoffer-sim serial: %v\n%s", err, stderrOf(err))
			}
			dec := json.NewDecoder(strings.NewReader(string(out)))
			var offers, ack protocol.Message
			if err := dec.Decode(&offers); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			if err := dec.Decode(&ack); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			if offers.Type != protocol.TypeOffers || len(offers.Offers) != 1 || offers.Offers[0].ID != "coffee-2-pastry" || offers.Offers[0].Discount != 280 {
				t.Errorf("basket reply %+v, want coffee-2-pastry, 280 off", offers)
			}
			if ack.Type != protocol.TypeAck || ack.Re != "m2" {
				t.Errorf("checkout reply %+v, want ack of m2", ack)
			}
		})
	}
	if got := metric(t, a, "posoffer_checkouts_total"); got != fmt.Sprint(len(models)) {
		t.Errorf("checkouts = %q, want %d", got, len(models))
	}
}

// nullModem makes two ptys joined like a null-modem cable and returns the
// paths of their two ends.
func nullModem(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	open := func(end string) (*os.File, string) {
		master, slave, err := pty.Open()
		if err != nil {
			t.Skipf("no pseudo-terminals here: %v", err)
		}
		path := filepath.Join(dir, name+end)
		if err := os.Symlink(slave.Name(), path); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { master.Close(); slave.Close() })
		return master, path
	}
	ma, pa := open("a")
	mb, pb := open("b")
	go io.Copy(ma, mb)
	go io.Copy(mb, ma)
	return pa, pb
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// TestSerialTerminalTimesOut checks the simulator's side: with no agent on
// the line, a request fails after the model's retries.
func TestSerialTerminalTimesOut(t *testing.T) {
	m := loadModel(t, defaultModel)
	c := newCable(t, filepath.Join(t.TempDir(), "tty"), m)
	term, err := serial.Dial(c.path, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = term.Request(ctx, []byte(basketMsg("m1", "tx1")))
	if err == nil || term.Resent() != m.Retries {
		t.Fatalf("Request with nobody listening: %v after %d resends, want an error after %d", err, term.Resent(), m.Retries)
	}
	for range m.Retries + 1 { // every try reached the line
		c.expect(t, frame.EventFrame)
	}
}

// TestSerialWithoutAcks: a newline device cannot be sent a NAK, so what
// the agent refuses is answered with an error reply.
func TestSerialWithoutAcks(t *testing.T) {
	a, c, m := startSerialAgent(t, "kite-sc20")
	if m.Acks {
		t.Fatal("kite-sc20 is expected to have no ACK/NAK")
	}
	c.write(t, framed(t, m, basketMsg("m1", "tx1")))
	if r := c.reply(t, m); r.Re != "m1" || len(r.Offers) != 1 {
		t.Fatalf("reply %+v", r)
	}
	c.write(t, append([]byte(strings.Repeat("x", m.Frame.MaxPayload+1)), '\n'))
	if r := c.reply(t, m); r.Type != protocol.TypeError || r.Code != protocol.CodeTooLarge {
		t.Fatalf("reply to an oversize line: %+v, want error too_large", r)
	}
	c.write(t, append([]byte(";4111111111111111=25121010000000000000?"), '\n'))
	if r := c.reply(t, m); r.Type != protocol.TypeError || r.Code != protocol.CodeCardData {
		t.Fatalf("reply to track data: %+v, want error card_data", r)
	}
	c.write(t, []byte("not a message\n"))
	if r := c.reply(t, m); r.Type != protocol.TypeError {
		t.Fatalf("reply to a line that is not a message: %+v, want an error", r)
	}
	if got := serialMetric(t, a, "posoffer_serial_frames_total", "card_data"); got != "1" {
		t.Errorf("card_data frames = %q, want 1", got)
	}
}

// TestSerialLineHangsUp: a hung-up line (what an unplugged USB adapter
// gives) reads as nothing, at once and forever; the agent must see it as
// gone and open the port again.
func TestSerialLineHangsUp(t *testing.T) {
	a, c, m := startSerialAgent(t, defaultModel)
	if err := unix.IoctlSetInt(int(c.slave.Fd()), unix.TIOCVHANGUP, 0); err != nil {
		t.Skipf("cannot hang up a pty here: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for serialMetric(t, a, "posoffer_serial_port_opens_total", "") != "2" {
		if time.Now().After(deadline) {
			t.Fatalf("port not opened again within 10s of the hang-up: %+v", agentStatus(t, a).Serial)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitPort(t, a, "t01", true)
	c.write(t, framed(t, m, basketMsg("m1", "tx1")))
	c.expect(t, frame.EventACK)
	if r := c.reply(t, m); r.Re != "m1" {
		t.Fatalf("after the hang-up: %+v", r)
	}
}

// TestSerialRefusalKeepsTheLastReply: on a model without ACK/NAK, a
// refused line between a request and its repetition does not change what
// the repetition is answered with.
func TestSerialRefusalKeepsTheLastReply(t *testing.T) {
	_, c, m := startSerialAgent(t, "kite-sc20")
	basket := framed(t, m, basketMsg("m1", "tx1"))
	c.write(t, basket)
	first := c.reply(t, m)
	c.write(t, append([]byte(";4111111111111111=25121010000000000000?"), '\n'))
	if r := c.reply(t, m); r.Code != protocol.CodeCardData {
		t.Fatalf("track data: %+v", r)
	}
	c.write(t, basket)
	if again := c.reply(t, m); again.Type != first.Type || again.Re != "m1" {
		t.Fatalf("the repeated basket got %+v, want the reply to m1 again", again)
	}
}
