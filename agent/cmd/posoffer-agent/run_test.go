package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/agent/internal/natstest"
	"github.com/posoffer/posoffer/agent/mqtt/passwd"
	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
)

// These tests run the built agent and talk to it as a terminal would, over
// MQTT: through the agent's embedded broker, or, when POSOFFER_TEST_MQTT_URL
// names one (tcp://host:port), through that broker.

const testCatalog = `{"version":1,"revision":7,
 "segments":[{"id":"coffee-fan","when":{"history":{"categories":["coffee"],"min_qty":2}}}],
 "offers":[
  {"id":"coffee-2-pastry","status":"active","condition":{"items":{"categories":["coffee"],"min_qty":2}},
   "reward":{"type":"free_item","target":{"categories":["pastry"]},"qty":1},"limits":{"per_customer":1}},
  {"id":"fans-10","status":"active","audience":{"segments_any":["coffee-fan"]},"reward":{"type":"percent_off","percent":10}}]}`

const (
	loyaltyID = "4900123456789"
	tenantKey = "a-tenant-key-of-some-length"
)

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runningAgent is a started posoffer-agent.
type runningAgent struct {
	cmd     *exec.Cmd
	dir     string
	broker  string
	http    string
	store   string
	logs    *syncBuffer
	started time.Time
	ready   time.Duration // from start to /readyz answering 200
	// authenticated: the agent's own broker, where terminals t00 to t29
	// log in as themselves with testSecret.
	authenticated bool
}

// testSecret is a test terminal's password.
func testSecret(id string) string { return "secret-of-" + id }

// addTestTerminals gives terminals t00 to t29 their test secrets in the
// credentials file.
func addTestTerminals(t testing.TB, path string) {
	t.Helper()
	f, err := passwd.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		id := fmt.Sprintf("t%02d", i)
		if _, ok := f.Lookup(id); !ok {
			f.Add(id, testSecret(id), time.Now(), false)
		}
	}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
}

// dialAs connects to the agent's broker as terminal id: with its
// credentials (and its id as client id) on the agent's own broker.
func dialAs(t testing.TB, a *runningAgent, id string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(a.broker).SetClientID(fmt.Sprintf("test-%s-%s-%d", a.store, id, time.Now().UnixNano()))
	if a.authenticated {
		o.SetClientID(id).SetUsername(id).SetPassword(testSecret(id))
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("terminal %s connect: %v", id, tok.Error())
	}
	return c
}

// syncBuffer is the logs of a process: written by the process's output
// copier, read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startAgent runs an agent for a store over dir with the test catalog;
// store "" picks a new id, unique on a shared broker. It uses the broker
// at POSOFFER_TEST_MQTT_URL, or else its own.
func startAgent(t testing.TB, dir, store string) *runningAgent {
	t.Helper()
	return startAgentWith(t, dir, store, testCatalog, os.Getenv("POSOFFER_TEST_MQTT_URL"))
}

// startAgentWith runs an agent with this catalog, through broker (empty:
// the agent's own).
func startAgentWith(t testing.TB, dir, store, catalog, broker string) *runningAgent {
	t.Helper()
	return startAgentExtra(t, dir, store, catalog, broker, "")
}

// startAgentExtra is startAgentWith with more configuration (YAML lines).
func startAgentExtra(t testing.TB, dir, store, catalog, broker, extra string) *runningAgent {
	t.Helper()
	if store == "" {
		store = fmt.Sprintf("s%d", time.Now().UnixNano()%1_000_000_000)
	}
	a := &runningAgent{dir: dir, http: freePort(t), logs: &syncBuffer{}, store: store}
	if err := os.WriteFile(filepath.Join(dir, "catalog.json"), []byte(catalog), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tenant.key"), []byte(tenantKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mqttCfg := ""
	if broker != "" {
		a.broker = broker
		mqttCfg = "mqtt: {broker: '" + broker + "'}\n"
	} else {
		listen := freePort(t)
		a.broker = "tcp://" + listen
		mqttCfg = "mqtt: {listen: '" + listen + "'}\n"
		// The embedded broker refuses anonymous clients: give the test
		// terminals their credentials.
		addTestTerminals(t, filepath.Join(dir, "data", "terminals.passwd"))
		a.authenticated = true
	}
	if strings.HasPrefix(extra, "mqtt:") { // the caller's own mqtt section
		mqttCfg = ""
		a.broker, a.authenticated = broker, false
	}
	cfg := fmt.Sprintf("version: 1\nstore: %s\ntimezone: Asia/Tokyo\ndata_dir: %s\ntenant_key_file: %s\ncatalog_file: %s\nhttp: {listen: '%s'}\n%s%s",
		a.store, filepath.Join(dir, "data"), filepath.Join(dir, "tenant.key"), filepath.Join(dir, "catalog.json"), a.http, mqttCfg, extra)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(agentBin, "run", "--config", path)
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	a.started = time.Now()
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.stop(t) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + a.http + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				a.ready = time.Since(a.started)
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not ready after 10s; logs:\n%s", a.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (a *runningAgent) stop(t testing.TB) {
	if a.cmd.ProcessState != nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("agent exited with %v on SIGTERM; logs:\n%s", err, a.logs)
		}
	case <-time.After(10 * time.Second):
		a.cmd.Process.Kill()
		t.Errorf("agent did not stop within 10s of SIGTERM")
	}
}

// terminal is a test terminal on the broker.
type terminal struct {
	c       paho.Client
	id      string
	store   string
	mu      sync.Mutex
	replies map[string]chan *protocol.Message
}

func newTerminal(t *testing.T, a *runningAgent, id string) *terminal {
	t.Helper()
	term := &terminal{id: id, store: a.store, replies: map[string]chan *protocol.Message{}}
	term.c = dialAs(t, a, id)
	t.Cleanup(func() { term.c.Disconnect(100) })
	out, _ := protocol.TopicOut(a.store, id)
	tok := term.c.Subscribe(out, 1, func(_ paho.Client, m paho.Message) {
		r, err := protocol.Decode(m.Payload())
		if err != nil {
			return
		}
		term.mu.Lock()
		ch := term.replies[r.Re]
		term.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return term
}

// send publishes a message and waits for the reply with re == id (empty
// for a message whose id cannot be read).
func (term *terminal) send(t *testing.T, id string, payload string) *protocol.Message {
	t.Helper()
	ch := make(chan *protocol.Message, 1)
	term.mu.Lock()
	term.replies[id] = ch
	term.mu.Unlock()
	in, _ := protocol.TopicIn(term.store, term.id)
	term.c.Publish(in, 1, false, payload)
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("no reply to %s within 5s", id)
		return nil
	}
}

func basketMsg(id, txn string) string {
	return `{"v":1,"type":"basket","id":"` + id + `","txn":"` + txn + `","customer":"` + loyaltyID + `",
 "lines":[{"sku":"C","qty":2,"price":350,"category":"coffee"},{"sku":"P","qty":1,"price":280,"category":"pastry"}]}`
}

func checkoutMsg(id, txn string) string {
	return `{"v":1,"type":"checkout","id":"` + id + `","txn":"` + txn + `","customer":"` + loyaltyID + `","paid":700,
 "applied":[{"offer":"coffee-2-pastry","discount":280,"points":0}],
 "lines":[{"sku":"C","qty":2,"price":350,"category":"coffee"},{"sku":"P","qty":1,"price":280,"category":"pastry"}]}`
}

// startHQNATS starts an in-process NATS server with JetStream, as HQ's:
// the events stream and the catalog and profiles buckets, without
// identities. It returns the server and a connection to it, both closed
// when the test ends.
func startHQNATS(t *testing.T) (*server.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv := natstest.Start(t, server.Options{JetStream: true})
	nc := natstest.Connect(t, srv.ClientURL())
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: protocol.EventsStream,
		Subjects: []string{protocol.EventsSubjects}}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{protocol.CatalogBucket, protocol.ProfilesBucket} {
		if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b}); err != nil {
			t.Fatal(err)
		}
	}
	return srv, nc, js
}

// waitMetric waits until the series name reads want: a counter may move
// just after the reply it counts is on its way.
func waitMetric(t *testing.T, a *runningAgent, name, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, a, name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s is %q after 10s, want %s; logs:\n%s", name, metric(t, a, name), want, a.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metric(t testing.TB, a *runningAgent, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" ")
		}
	}
	return ""
}

func TestAgentOverMQTT(t *testing.T) {
	a := startAgent(t, t.TempDir(), "")
	term := newTerminal(t, a, "t01")

	r := term.send(t, "m-1", basketMsg("m-1", "T1"))
	if r.Type != protocol.TypeOffers || r.Catalog != 7 || len(r.Offers) != 1 || r.Offers[0].ID != "coffee-2-pastry" || r.Offers[0].Discount != 280 {
		t.Fatalf("basket: %+v", r)
	}
	for i := range 2 {
		id := fmt.Sprintf("m-2-%d", i)
		if r := term.send(t, id, checkoutMsg(id, "T1")); r.Type != protocol.TypeAck || r.Txn != "T1" {
			t.Fatalf("checkout %d: %+v", i, r)
		}
	}
	if got := metric(t, a, "posoffer_checkouts_total"); got != "1" {
		t.Errorf("posoffer_checkouts_total = %q after the same checkout twice, want 1", got)
	}
	// The second visit: in coffee-fan now, and coffee-2-pastry's
	// per_customer limit of 1 is used up.
	r = term.send(t, "m-3", basketMsg("m-3", "T2"))
	if len(r.Offers) != 1 || r.Offers[0].ID != "fans-10" {
		t.Fatalf("second visit: %+v, want only fans-10", r.Offers)
	}

	if r := term.send(t, "", `{"v":1,"type":"basket","id":"b-0"`); r.Type != protocol.TypeError || r.Code != protocol.CodeBadJSON {
		t.Errorf("truncated JSON: %+v, want error bad_json", r)
	}
	for i, bad := range []struct{ msg, code string }{
		{`{"v":1,"type":"basket","id":"b-0","txn":"T","lines":[{"sku":"A","qty":1,"price":1}],"currency":"yen"}`, protocol.CodeBadMessage},
		{`{"v":1,"type":"basket","id":"b-1","txn":"T","lines":[{"sku":"A","qty":-2,"price":1}]}`, protocol.CodeBadMessage},
		{`{"v":1,"type":"basket","id":"b-2","txn":"T","lines":[{"sku":"A","qty":"two","price":1}]}`, protocol.CodeBadMessage},
		{`{"v":1,"type":"teleport","id":"b-3"}`, protocol.CodeUnknownType},
		{`{"v":9,"type":"basket","id":"b-4","txn":"T","lines":[]}`, protocol.CodeUnsupportedVersion},
		{`{"v":1,"type":"basket","id":"b-5","txn":"T","customer":";4111111111111111=2512101?","lines":[]}`, protocol.CodeCardData},
	} {
		id := fmt.Sprintf("b-%d", i)
		if r := term.send(t, id, bad.msg); r.Type != protocol.TypeError || r.Code != bad.code {
			t.Errorf("%s: %+v, want error %s", bad.msg, r, bad.code)
		}
	}
	if r := term.send(t, "m-4", basketMsg("m-4", "T3")); r.Type != protocol.TypeOffers {
		t.Fatalf("the agent stopped serving after bad input: %+v", r)
	}
	if got := metric(t, a, `posoffer_errors_total{code="bad_message"}`); got != "3" {
		t.Errorf("bad_message errors counted %q, want 3", got)
	}

	// The retained status says online.
	status := make(chan string, 1)
	topic, _ := protocol.TopicStatus(a.store)
	term.c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		select {
		case status <- string(m.Payload()):
		default:
		}
	})
	select {
	case s := <-status:
		if s != protocol.StatusOnline {
			t.Errorf("status %q, want online", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("no retained status")
	}

	a.stop(t)
	// The raw loyalty id is nowhere in the data directory.
	filepath.WalkDir(filepath.Join(a.dir, "data"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(loyaltyID)) {
				t.Errorf("%s holds the raw loyalty id", path)
			}
		}
		return nil
	})
	if strings.Contains(a.logs.String(), loyaltyID) {
		t.Error("the agent's log holds the raw loyalty id")
	}
}

func TestAgentRestartKeepsCheckouts(t *testing.T) {
	dir := t.TempDir()
	a := startAgent(t, dir, "")
	term := newTerminal(t, a, "t01")
	if r := term.send(t, "m-1", checkoutMsg("m-1", "T1")); r.Type != protocol.TypeAck {
		t.Fatalf("checkout: %+v", r)
	}
	a.cmd.Process.Kill() // no clean shutdown
	a.cmd.Wait()

	b := startAgent(t, dir, a.store)
	term = newTerminal(t, b, "t01")
	if r := term.send(t, "m-2", checkoutMsg("m-2", "T1")); r.Type != protocol.TypeAck {
		t.Fatalf("the same checkout after a kill and restart: %+v", r)
	}
	if got := metric(t, b, "posoffer_checkouts_repeated_total"); got != "1" {
		t.Fatalf("after kill -9, the acknowledged checkout was not kept: repeated = %q, want 1", got)
	}
}

func TestAgentUnderSimulatedLoad(t *testing.T) {
	a := startAgent(t, t.TempDir(), "")
	args := []string{"load", "--broker", a.broker, "--store", a.store, "--terminals", "4", "--rate", "100", "--duration", "3s", "--json"}
	if a.authenticated {
		creds := filepath.Join(t.TempDir(), "terminals.txt")
		var b strings.Builder
		for i := 1; i <= 4; i++ {
			id := fmt.Sprintf("t%02d", i)
			fmt.Fprintf(&b, "%s %s\n", id, testSecret(id))
		}
		os.WriteFile(creds, []byte(b.String()), 0o600)
		args = append(args, "--credentials", creds)
	}
	out, err := exec.Command(simBin, args...).Output()
	if err != nil {
		t.Fatalf("posoffer-sim load: %v\n%s", err, out)
	}
	var report struct {
		Sent, Answered, Errors, Timeouts, Checkouts int64
		Offers                                      int64              `json:"offers_shown"`
		Latency                                     map[string]float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if report.Sent < 100 || report.Answered != report.Sent || report.Errors != 0 || report.Timeouts != 0 || report.Checkouts == 0 {
		t.Fatalf("load report: %s", out)
	}
	if got := metric(t, a, "posoffer_checkouts_total"); got != fmt.Sprint(report.Checkouts) {
		t.Errorf("the agent counted %s checkouts, the terminals %d", got, report.Checkouts)
	}
}

// TestAgentKilledWhileCheckoutsStream kills the agent with SIGKILL three
// times, at random moments, while a terminal streams checkouts, and
// restarts it each time. Every checkout the agent acknowledged must be in
// its store exactly once, and no checkout twice.
func TestAgentKilledWhileCheckoutsStream(t *testing.T) {
	dir := t.TempDir()
	a := startAgent(t, dir, "")
	var mu sync.Mutex
	acked := map[string]bool{}
	sent := 0
	for round := range 4 {
		term := newTerminal(t, a, "t01")
		stop := make(chan struct{})
		streamed := make(chan struct{})
		go func() { // streams checkouts until stopped
			defer close(streamed)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				txn := fmt.Sprintf("K%d-%d", round, i)
				id := "m-" + txn
				ch := make(chan *protocol.Message, 1)
				term.mu.Lock()
				term.replies[id] = ch
				term.mu.Unlock()
				in, _ := protocol.TopicIn(a.store, "t01")
				term.c.Publish(in, 1, false, checkoutMsg(id, txn))
				mu.Lock()
				sent++
				mu.Unlock()
				select {
				case r := <-ch:
					if r.Type == protocol.TypeAck {
						mu.Lock()
						acked[txn] = true
						mu.Unlock()
					}
				case <-time.After(time.Second): // killed meanwhile
				case <-stop:
					return
				}
			}
		}()
		time.Sleep(time.Duration(300+rand.IntN(400)) * time.Millisecond)
		a.cmd.Process.Kill() // while checkouts are in flight
		a.cmd.Wait()
		close(stop)
		<-streamed
		term.c.Disconnect(0)
		a = startAgent(t, dir, a.store) // also takes what the broker kept for it
	}
	time.Sleep(500 * time.Millisecond) // let the last agent drain what was queued
	a.stop(t)
	if len(acked) < 10 {
		t.Fatalf("only %d checkouts acknowledged; the test did not exercise the agent", len(acked))
	}
	db, err := store.Open(filepath.Join(dir, "data", "agent.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending, err := db.Peek(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]int{}
	for _, p := range pending {
		e, err := protocol.DecodeEvent(p.Event)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == protocol.EventCheckout {
			recorded[e.Txn]++
		}
	}
	for txn := range acked {
		if recorded[txn] != 1 {
			t.Errorf("acknowledged checkout %s is in the store %d times, want 1", txn, recorded[txn])
		}
	}
	for txn, n := range recorded {
		if n != 1 {
			t.Errorf("checkout %s recorded %d times", txn, n)
		}
	}
	t.Logf("%d checkouts sent, %d acknowledged, %d recorded, across 4 kills", sent, len(acked), len(recorded))
}

// TestAgentKeepsEachTerminalsOrder sends bursts from three terminals
// without waiting; each terminal's replies come back in the order sent.
// A payload over 64 KiB is refused as too_large, and the agent serves on.
func TestAgentKeepsEachTerminalsOrder(t *testing.T) {
	a := startAgent(t, t.TempDir(), "")
	obs := newTerminal(t, a, "t00")
	var mu sync.Mutex
	got := map[string][]string{} // terminal -> re in arrival order
	all := make(chan struct{}, 100)
	terms := map[string]*terminal{}
	for _, id := range []string{"t01", "t02", "t03"} { // each terminal on its own connection, as itself
		term := &terminal{id: id, store: a.store, c: dialAs(t, a, id)}
		t.Cleanup(func() { term.c.Disconnect(100) })
		out, _ := protocol.TopicOut(a.store, id)
		term.c.Subscribe(out, 1, func(_ paho.Client, m paho.Message) {
			r, err := protocol.Decode(m.Payload())
			if err != nil {
				return
			}
			mu.Lock()
			got[id] = append(got[id], r.Re)
			mu.Unlock()
			all <- struct{}{}
		}).Wait()
		terms[id] = term
	}
	const n = 20
	for _, terminal := range []string{"t01", "t02", "t03"} {
		in, _ := protocol.TopicIn(a.store, terminal)
		for i := range n {
			id := fmt.Sprintf("%s-%02d", terminal, i)
			terms[terminal].c.Publish(in, 1, false, basketMsg(id, "T-"+terminal))
		}
	}
	for range 3 * n {
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Fatalf("replies so far: %v", got)
		}
	}
	for _, terminal := range []string{"t01", "t02", "t03"} {
		mu.Lock()
		order := got[terminal]
		mu.Unlock()
		for i, re := range order {
			if want := fmt.Sprintf("%s-%02d", terminal, i); re != want {
				t.Fatalf("terminal %s: reply %d is to %s, want %s (order %v)", terminal, i, re, want, order)
			}
		}
	}

	huge := `{"v":1,"type":"basket","id":"big","txn":"T","lines":[],"pad":"` + strings.Repeat("x", 70_000) + `"}`
	if r := obs.send(t, "", huge); r.Type != protocol.TypeError || r.Code != protocol.CodeTooLarge {
		t.Fatalf("a 70 KB message: %+v, want error too_large", r)
	}
	if r := obs.send(t, "m-after", basketMsg("m-after", "T9")); r.Type != protocol.TypeOffers {
		t.Fatalf("after a huge message: %+v", r)
	}
}
