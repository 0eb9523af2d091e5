package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v3"

	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

// These tests run the built posoffer-cloud and posoffer-agent, with the
// cloud's embedded NATS server and SQLite, or with the NATS server at
// POSOFFER_TEST_NATS_URL and the PostgreSQL at POSOFFER_TEST_PG_URL. A
// terminal talks to the agent over MQTT (the agent's own broker); the
// agent reaches NATS through a proxy the test can cut.
//
// On a shared NATS server the stream, the consumer and the buckets are
// the contract's, shared by every test: the tests do not run in parallel,
// and each uses stores of its own.

var cloudBin, agentBin string

// HQ's catalog signing key in every test (one key, so that tests sharing a
// NATS server agree on who signs the bucket), and its public half, which
// every agent is given.
var (
	signingKeyFile, catalogPubFile string
	hqSigner                       *catalogsig.Signer
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "posoffer-cloud-test")
	if err != nil {
		panic(err)
	}
	cloudBin, agentBin = filepath.Join(dir, "posoffer-cloud"), filepath.Join(dir, "posoffer-agent")
	for bin, pkg := range map[string]string{cloudBin: ".", agentBin: "../../../agent/cmd/posoffer-agent"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	signingKeyFile, catalogPubFile = filepath.Join(dir, "catalog-signing.pem"), filepath.Join(dir, "catalog.pub")
	k, err := catalogsig.LoadOrCreateSigningKey(signingKeyFile)
	if err != nil {
		panic(err)
	}
	hqSigner = catalogsig.NewSigner(k)
	pub, err := catalogsig.EncodePublicKey(hqSigner.Public())
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(catalogPubFile, pub, 0o644); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func uniqueID(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// hq is a posoffer-cloud, stopped and started again over the same data.
type hq struct {
	dir, config string
	natsURL     string // what agents and the test connect to
	dsn         string // the database, "" for SQLite in dir
	http        string
	cmd         *exec.Cmd
	logs        *bytes.Buffer
}

// newHQ configures a posoffer-cloud over a new data dir and starts it.
func newHQ(t *testing.T, extra string) *hq {
	t.Helper()
	return newHQWith(t, extra, "")
}

// newHQWith is newHQ with more top-level configuration, such as a decide:
// section.
func newHQWith(t *testing.T, extra, top string) *hq {
	t.Helper()
	h := &hq{dir: t.TempDir(), http: freePort(t), logs: &bytes.Buffer{}}
	natsCfg := ""
	if url := os.Getenv("POSOFFER_TEST_NATS_URL"); url != "" {
		h.natsURL = url
		natsCfg = "url: " + url
	} else {
		listen := freePort(t)
		h.natsURL = "nats://" + listen
		natsCfg = "listen: " + listen
	}
	if dsn := os.Getenv("POSOFFER_TEST_PG_URL"); dsn != "" {
		h.dsn = pgSchema(t, dsn)
	}
	h.config = filepath.Join(h.dir, "cloud.yaml")
	cfg := fmt.Sprintf("version: 1\ndata_dir: %s\nhttp: {listen: '%s'}\nnats: {%s%s}\ndb: '%s'\ncatalog_signing_key_file: %s\n%s",
		filepath.Join(h.dir, "data"), h.http, natsCfg, extra, h.dsn, signingKeyFile, top)
	if err := os.WriteFile(h.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	t.Cleanup(func() { h.stop(t) })
	return h
}

// newReplica starts a second posoffer-cloud sharing first's NATS and
// database, as HQ scales out.
func newReplica(t *testing.T, first *hq) *hq {
	t.Helper()
	h := &hq{dir: t.TempDir(), http: freePort(t), logs: &bytes.Buffer{}, natsURL: first.natsURL, dsn: first.dsn}
	h.config = filepath.Join(h.dir, "cloud.yaml")
	// HQ's identity is the first replica's: the embedded server knows it.
	cfg := fmt.Sprintf("version: 1\ndata_dir: %s\nhttp: {listen: '%s'}\nnats: {url: '%s', creds_file: '%s'}\ndb: '%s'\ncatalog_signing_key_file: %s\n",
		filepath.Join(h.dir, "data"), h.http, h.natsURL, first.creds(), h.dsn, signingKeyFile)
	if err := os.WriteFile(h.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	t.Cleanup(func() { h.stop(t) })
	return h
}

// pgSchema makes a schema of its own for the test and returns a DSN that
// uses it.
func pgSchema(t *testing.T, dsn string) string {
	t.Helper()
	schema := uniqueID("t_")
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("POSOFFER_TEST_PG_URL: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, dsn)
		if err == nil {
			c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

func (h *hq) start(t *testing.T) {
	t.Helper()
	h.cmd = exec.Command(cloudBin, "run", "--config", h.config)
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, h.http, h.logs)
}

func (h *hq) stop(t *testing.T) {
	if h.cmd == nil || h.cmd.ProcessState != nil {
		return
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(h.cmd, 10*time.Second); err != nil {
		t.Errorf("posoffer-cloud on SIGTERM: %v; logs:\n%s", err, h.logs)
	}
}

func (h *hq) kill() {
	h.cmd.Process.Kill()
	h.cmd.Wait()
}

// db opens the cloud's database, as HQ's API would read it.
func (h *hq) db(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), h.dsn, filepath.Join(h.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// externalNATS reports whether the tests run on the NATS server at
// POSOFFER_TEST_NATS_URL, which lets anyone in: there, HQ, the tests and
// the agents connect without credentials.
func externalNATS() bool { return os.Getenv("POSOFFER_TEST_NATS_URL") != "" }

// seed is HQ's nkey seed file, which it makes on first start.
func (h *hq) seed() string { return filepath.Join(h.dir, "data", bus.HQSeedFile) }

// creds is what HQ connects with: its seed, or none on an external server.
func (h *hq) creds() string {
	if externalNATS() {
		return ""
	}
	return h.seed()
}

// connect connects to HQ's NATS as HQ.
func (h *hq) connect(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := bus.Connect(h.natsURL, h.creds(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// cloudSection is what posoffer-cloud store add prints.
type cloudSection struct {
	Cloud struct {
		NATSURL        string `yaml:"nats_url"`
		CredsFile      string `yaml:"creds_file"`
		CatalogKeyFile string `yaml:"catalog_key_file"`
	} `yaml:"cloud"`
}

// addStore gives the store an identity with posoffer-cloud store add and
// returns the cloud: section it printed, which is all it printed on
// stdout.
func (h *hq) addStore(t *testing.T, id string) cloudSection {
	t.Helper()
	cmd := exec.Command(cloudBin, "store", "add", "--config", h.config, "--out", filepath.Join(h.dir, "stores", id), id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("store add %s: %v\n%s", id, err, stderr.String())
	}
	var c cloudSection
	d := yaml.NewDecoder(&stdout)
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil || c.Cloud.CredsFile == "" || c.Cloud.NATSURL == "" || c.Cloud.CatalogKeyFile == "" {
		t.Fatalf("store add printed %q (%v), want the agent's cloud: section", stdout.String(), err)
	}
	return c
}

// push publishes a catalog document with posoffer-cloud catalog push.
func (h *hq) push(t *testing.T, catalog string) {
	t.Helper()
	f := filepath.Join(h.dir, uniqueID("catalog-")+".json")
	os.WriteFile(f, []byte(catalog), 0o644)
	out, err := exec.Command(cloudBin, "catalog", "push", "--config", h.config, "--file", f).CombinedOutput()
	if err != nil {
		t.Fatalf("catalog push: %v\n%s", err, out)
	}
}

func waitReady(t *testing.T, addr string, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not ready on %s after 15s; logs:\n%s", addr, logs)
}

func waitExit(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		return fmt.Errorf("did not exit within %v", d)
	}
}

// proxy is a TCP proxy the test can cut, as a WAN link goes down.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  []net.Conn
	frozen atomic.Bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, up: true}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			up := p.up
			p.mu.Unlock()
			if !up {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { p.copy(s, c); s.Close() }()
			go func() { p.copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

// copy forwards bytes, holding them while the proxy is frozen.
func (p *proxy) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze stops forwarding without closing anything: a link that hangs.
func (p *proxy) freeze(on bool) { p.frozen.Store(on) }

// cut closes every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.up = true
	p.mu.Unlock()
}

// agent is a posoffer-agent connected to HQ.
type agent struct {
	dir, store, broker, http, config string
	secret                           string // terminal t01's MQTT password
	cmd                              *exec.Cmd
	logs                             *bytes.Buffer
}

const testCatalog = `{"version":1,"offers":[
  {"id":"coffee-2-pastry","status":"active","condition":{"items":{"categories":["coffee"],"min_qty":2}},
   "reward":{"type":"free_item","target":{"categories":["pastry"]},"qty":1}}]}`

// newAgent starts an agent of a new store, with an identity HQ h made,
// that reaches HQ's NATS at natsURL.
func newAgent(t *testing.T, h *hq, natsURL, catalogFile string) *agent {
	t.Helper()
	return newAgentWith(t, h, natsURL, catalogFile, "")
}

// newAgentWith is newAgent with more top-level configuration, such as a
// timezone.
func newAgentWith(t *testing.T, h *hq, natsURL, catalogFile, top string) *agent {
	t.Helper()
	a := &agent{dir: t.TempDir(), store: uniqueID("s"), http: freePort(t), logs: &bytes.Buffer{}}
	creds := h.addStore(t, a.store).Cloud.CredsFile
	if externalNATS() {
		creds = ""
	}
	listen := freePort(t)
	a.broker = "tcp://" + listen
	os.WriteFile(filepath.Join(a.dir, "tenant.key"), []byte(tenantKey+"\n"), 0o600)
	catalog := ""
	if catalogFile != "" {
		f := filepath.Join(a.dir, "catalog.json")
		os.WriteFile(f, []byte(catalogFile), 0o644)
		catalog = "catalog_file: " + f + "\n"
	}
	a.config = filepath.Join(a.dir, "agent.yaml")
	cfg := fmt.Sprintf("version: 1\nstore: %s\ndata_dir: %s\ntenant_key_file: %s\n%shttp: {listen: '%s'}\nmqtt: {listen: '%s'}\ndiscovery: {advertise: false}\ncloud: {nats_url: '%s', creds_file: '%s', catalog_key_file: '%s'}\n%s",
		a.store, filepath.Join(a.dir, "data"), filepath.Join(a.dir, "tenant.key"), catalog, a.http, listen, natsURL, creds, catalogPubFile, top)
	os.WriteFile(a.config, []byte(cfg), 0o644)
	a.addTerminal(t)
	a.start(t)
	t.Cleanup(func() { a.stop(t) })
	return a
}

func (a *agent) start(t *testing.T) {
	t.Helper()
	a.cmd = exec.Command(agentBin, "run", "--config", a.config)
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, a.http, a.logs)
}

func (a *agent) stop(t *testing.T) {
	if a.cmd.ProcessState != nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(a.cmd, 10*time.Second); err != nil {
		t.Errorf("posoffer-agent on SIGTERM: %v; logs:\n%s", err, a.logs)
	}
}

// terminal is a till on the agent's MQTT broker.
type terminal struct {
	c       paho.Client
	a       *agent
	mu      sync.Mutex
	replies map[string]chan *protocol.Message
}

// addTerminal gives till t01 its credential, as a technician would: the
// agent's broker refuses anonymous tills.
func (a *agent) addTerminal(t *testing.T) {
	t.Helper()
	out, err := exec.Command(agentBin, "terminal", "add", "--config", a.config, "t01").Output()
	if err != nil {
		t.Fatalf("posoffer-agent terminal add: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	a.secret = lines[len(lines)-1]
}

func newTerminal(t *testing.T, a *agent) *terminal {
	t.Helper()
	term := &terminal{a: a, replies: map[string]chan *protocol.Message{}}
	term.c = paho.NewClient(paho.NewClientOptions().AddBroker(a.broker).SetClientID("t01").SetUsername("t01").SetPassword(a.secret).
		SetConnectRetry(false).SetAutoReconnect(false))
	if tok := term.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("terminal connect: %v", tok.Error())
	}
	out, _ := protocol.TopicOut(a.store, "t01")
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

func (term *terminal) close() { term.c.Disconnect(0) }

// send publishes a message and returns the reply, or nil after wait.
func (term *terminal) send(id, payload string, wait time.Duration) *protocol.Message {
	ch := make(chan *protocol.Message, 1)
	term.mu.Lock()
	term.replies[id] = ch
	term.mu.Unlock()
	in, _ := protocol.TopicIn(term.a.store, "t01")
	term.c.Publish(in, 1, false, payload)
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		return nil
	}
}

// The tenant's key and the loyalty id of most checkouts.
const (
	tenantKey = "a-tenant-key-of-some-length"
	loyaltyID = "4900123456789"
)

func checkoutMsg(txn string) string {
	return `{"v":1,"type":"checkout","id":"m-` + txn + `","txn":"` + txn + `","customer":"` + loyaltyID + `","paid":700,
 "applied":[{"offer":"coffee-2-pastry","discount":280,"points":0}],
 "lines":[{"sku":"C","qty":2,"price":350,"category":"coffee"},{"sku":"P","qty":1,"price":280,"category":"pastry"}]}`
}

func basketMsg(id string) string {
	return `{"v":1,"type":"basket","id":"` + id + `","txn":"b-` + id + `",
 "lines":[{"sku":"C","qty":2,"price":350,"category":"coffee"},{"sku":"P","qty":1,"price":280,"category":"pastry"}]}`
}

// redemptions returns how many times each txn of store has a redemption
// in HQ's database.
func redemptions(t *testing.T, db *store.DB, storeID string) map[string]int {
	t.Helper()
	got := map[string]int{}
	after := ""
	for {
		items, next, err := db.Redemptions(context.Background(), store.Filter{Store: storeID, After: after, Limit: store.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range items {
			got[r.Txn]++
		}
		if next == "" {
			return got
		}
		after = next
	}
}

// waitFor polls cond every 100 ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
