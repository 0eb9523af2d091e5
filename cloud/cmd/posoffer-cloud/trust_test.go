package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

// embeddedOnly skips tests of HQ's embedded server's authentication when
// the suite runs on an external NATS server.
func embeddedOnly(t *testing.T) {
	if os.Getenv("POSOFFER_TEST_NATS_URL") != "" {
		t.Skip("HQ's embedded server decides who connects; POSOFFER_TEST_NATS_URL is another server")
	}
}

// TestStoreIdentity: store add writes the store's seed (0600) and HQ's
// catalog key and prints only the agent's cloud: section; an agent with it
// syncs; after store revoke, HQ closes the store's connection within
// seconds and the agent cannot connect again, while HQ counts the
// refusals.
func TestStoreIdentity(t *testing.T) {
	embeddedOnly(t)
	h := newHQ(t, "")
	h.push(t, testCatalog)

	// Without credentials, nobody gets in.
	if nc, err := nats.Connect(h.natsURL, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("HQ's NATS let a client in without credentials")
	}

	if fi, err := os.Stat(h.seed()); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("HQ's seed %s: mode %v, want 0600", h.seed(), fi.Mode().Perm())
	}
	a := newAgent(t, h, h.natsURL, testCatalog)
	c := h.addStore(t, "other")
	if fi, err := os.Stat(c.Cloud.CredsFile); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("creds file %s: mode %v, want 0600", c.Cloud.CredsFile, fi.Mode().Perm())
	}
	pub, err := catalogsig.LoadPublicKey(c.Cloud.CatalogKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signing, err := catalogsig.LoadSigningKey(signingKeyFile) // newHQ names it in catalog_signing_key_file
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(signing.Public().(ed25519.PublicKey)) {
		t.Error("catalog.pub is not the public half of HQ's catalog signing key")
	}
	if c.Cloud.NATSURL != h.natsURL {
		t.Errorf("nats_url %q, want %q", c.Cloud.NATSURL, h.natsURL)
	}
	out, err := exec.Command(cloudBin, "store", "add", "--config", h.config, "--out", t.TempDir(), "other").CombinedOutput()
	if code := exitCode(err); code != exitUsage {
		t.Errorf("second store add of a store: exit %d (%s), want %d", code, out, exitUsage)
	}
	out, err = exec.Command(cloudBin, "store", "list", "--config", h.config).Output()
	if err != nil || !strings.Contains(string(out), a.store) || !strings.Contains(string(out), "other") {
		t.Errorf("store list: %v\n%s", err, out)
	}

	settle(t, a, []string{"before-revoke"})
	a.stop(t) // stopping ends the catalog watch, deleting its consumer
	a.start(t)
	settle(t, a, []string{"before-revoke-2"})
	checkExactlyOnce(t, h, a.store, []string{"before-revoke", "before-revoke-2"})
	// The real agent's work (events, heartbeats, the catalog watch and its
	// end, profile reads) needs nothing its permissions refuse.
	for _, kind := range []string{"publish", "subscribe"} {
		if got := metric(t, h.http, fmt.Sprintf(`posoffer_cloud_nats_refused_total{kind=%q}`, kind)); got != "" && got != "0" {
			t.Errorf("HQ's server refused %s %s requests of a working agent; logs:\n%s", got, kind, h.logs)
		}
	}
	if !strings.Contains(agentStatus(t, a), `"connected": true`) {
		t.Fatalf("agent not connected: %s", agentStatus(t, a))
	}
	refused := func() int {
		n, _ := strconv.Atoi(metric(t, h.http, `posoffer_cloud_nats_refused_total{kind="auth"}`))
		return n
	}
	before := refused()
	out, err = exec.Command(cloudBin, "store", "revoke", "--config", h.config, a.store).CombinedOutput()
	if err != nil {
		t.Fatalf("store revoke: %v\n%s", err, out)
	}
	start := time.Now()
	if !waitFor(5*time.Second, func() bool { return strings.Contains(agentStatus(t, a), `"connected": false`) }) {
		t.Fatalf("5s after store revoke the agent is still connected: %s", agentStatus(t, a))
	}
	t.Logf("revoked store cut off in %v", time.Since(start).Round(time.Millisecond))
	settle(t, a, []string{"after-revoke"}) // the store keeps serving; the event waits in its outbox
	time.Sleep(3 * time.Second)            // the agent retries every second
	if strings.Contains(agentStatus(t, a), `"connected": true`) {
		t.Error("the revoked store connected again")
	}
	if n := refused(); n <= before {
		t.Errorf("HQ counted %d refused connections after the revocation, want more than %d", n, before)
	}
	if got := redemptions(t, h.db(t), a.store); got["after-revoke"] != 0 {
		t.Error("an event of a revoked store reached HQ")
	}
	out, _ = exec.Command(cloudBin, "store", "list", "--config", h.config).Output()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, a.store+" ") && strings.HasSuffix(strings.TrimSpace(line), "-") {
			t.Errorf("store list shows %s not revoked: %q", a.store, line)
		}
	}
}

// TestEventOfAnotherStoreRefused: a store publishes, on its own subject,
// an event that names another store; HQ terminates it and counts it.
func TestEventOfAnotherStoreRefused(t *testing.T) {
	h := newHQ(t, "")
	own := uniqueID("s")
	c := h.addStore(t, own)
	inbox, _ := protocol.StoreInboxPrefix(own)
	opts := []nats.Option{nats.CustomInboxPrefix(inbox)}
	if !externalNATS() {
		opt, err := bus.CredsOption(c.Cloud.CredsFile)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, opt)
	}
	var nc *nats.Conn
	var err error
	waitFor(5*time.Second, func() bool { // a running HQ lets a new store in within a second or so
		nc, err = nats.Connect(h.natsURL, opts...)
		return err == nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	victim := uniqueID("s")
	id, _ := uuid.NewV7()
	e := protocol.Event{ID: id.String(), Kind: protocol.EventRedemption, Store: victim, At: time.Now().UTC(), Txn: "forged",
		Redemption: &protocol.RedemptionEvent{Offer: "coffee-2-pastry", Discount: 280}}
	b, _ := json.Marshal(e)
	subject, _ := protocol.EventSubject(own, e.Kind)
	if _, err := js.Publish(context.Background(), subject, b, jetstream.WithMsgID(e.ID)); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool {
		return metric(t, h.http, `posoffer_cloud_events_refused_total{reason="store_mismatch"}`) == "1"
	}) {
		t.Errorf("refused events (store_mismatch) = %q, want 1", metric(t, h.http, `posoffer_cloud_events_refused_total{reason="store_mismatch"}`))
	}
	db := h.db(t)
	if len(redemptions(t, db, victim))+len(redemptions(t, db, own)) != 0 {
		t.Error("the forged event was stored")
	}
}

// TestHQRecreatesWhatWasDeleted: someone with HQ's rights deletes HQ's
// consumer, then the events stream; HQ reports not ready, makes them
// again, is ready again, and ingests what stores publish after.
func TestHQRecreatesWhatWasDeleted(t *testing.T) {
	h := newHQ(t, "")
	nc := h.connect(t)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	readyz := func() int {
		resp, err := http.Get("http://" + h.http + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	storeID := uniqueID("s")
	for i, del := range []struct {
		what string
		do   func() error
	}{
		{"consumer", func() error { return js.DeleteConsumer(ctx, protocol.EventsStream, bus.Consumer) }},
		{"stream", func() error { return js.DeleteStream(ctx, protocol.EventsStream) }},
	} {
		if err := del.do(); err != nil {
			t.Fatalf("delete %s: %v", del.what, err)
		}
		saw503 := waitFor(3*time.Second, func() bool { return readyz() == http.StatusServiceUnavailable })
		if !waitFor(10*time.Second, func() bool { return readyz() == http.StatusOK }) {
			t.Fatalf("HQ not ready 10s after its %s was deleted; logs:\n%s", del.what, h.logs)
		}
		if !saw503 { // not ready from when HQ notices until its next check finds all back
			t.Errorf("/readyz never said 503 after the %s was deleted", del.what)
		}
		if got := metric(t, h.http, fmt.Sprintf(`posoffer_cloud_nats_recreated_total{what=%q}`, del.what)); got == "" || got == "0" {
			t.Errorf("recreated %s = %q, want at least 1", del.what, got)
		}
		id, _ := uuid.NewV7()
		txn := fmt.Sprintf("after-%d", i)
		e := protocol.Event{ID: id.String(), Kind: protocol.EventRedemption, Store: storeID, At: time.Now().UTC(), Txn: txn,
			Redemption: &protocol.RedemptionEvent{Offer: "coffee-2-pastry", Discount: 280}}
		b, _ := json.Marshal(e)
		subject, _ := protocol.EventSubject(storeID, e.Kind)
		if _, err := js.Publish(ctx, subject, b, jetstream.WithMsgID(e.ID)); err != nil {
			t.Fatalf("publish after the %s was recreated: %v", del.what, err)
		}
		db := h.db(t)
		if !waitFor(10*time.Second, func() bool { return redemptions(t, db, storeID)[txn] == 1 }) {
			t.Errorf("an event published after the %s was recreated is not ingested", del.what)
		}
	}
}

// TestNATSConfigForACluster: nats-config's output, in a nats-server -c of
// its own, lets HQ and a store (made with store add) sync, and keeps the
// store to its rights there too.
func TestNATSConfigForACluster(t *testing.T) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/nats-server"); err != nil {
			t.Skip("no nats-server binary on PATH or in /usr/sbin")
		}
		bin = "/usr/sbin/nats-server"
	}
	dir := t.TempDir()
	listen := freePort(t)
	h := &hq{dir: dir, http: freePort(t), logs: &bytes.Buffer{}, natsURL: "nats://" + listen}
	h.config = filepath.Join(dir, "cloud.yaml")
	cfg := fmt.Sprintf("version: 1\ndata_dir: %s\nhttp: {listen: '%s'}\nnats: {url: '%s'}\n", filepath.Join(dir, "data"), h.http, h.natsURL)
	if err := os.WriteFile(h.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	storeID := uniqueID("s")
	c := h.addStore(t, storeID)
	auth, err := exec.Command(cloudBin, "nats-config", "--config", h.config).Output()
	if err != nil {
		t.Fatalf("nats-config: %v", err)
	}
	// HQ connects as the identity nats-config made and printed first.
	cfg += fmt.Sprintf("nats: {url: '%s', creds_file: '%s'}\n", h.natsURL, h.seed())
	cfg = strings.Replace(cfg, fmt.Sprintf("nats: {url: '%s'}\n", h.natsURL), "", 1)
	if err := os.WriteFile(h.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nats.conf")
	os.WriteFile(conf, fmt.Appendf(nil, "listen: %s\njetstream {store_dir: %q}\n%s", listen, filepath.Join(dir, "js"), auth), 0o600)
	srv := exec.Command(bin, "-c", conf)
	srvLogs := &bytes.Buffer{}
	srv.Stdout, srv.Stderr = srvLogs, srvLogs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	if !waitFor(10*time.Second, func() bool {
		nc, err := bus.Connect(h.natsURL, h.seed(), "probe")
		if err == nil {
			nc.Close()
		}
		return err == nil
	}) {
		t.Fatalf("nats-server -c with nats-config's output: not up\n%s", srvLogs)
	}
	h.start(t)
	t.Cleanup(func() { h.stop(t) })
	h.push(t, testCatalog)

	// The store's agent syncs with its identity.
	a := &agent{dir: t.TempDir(), store: storeID, http: freePort(t), logs: &bytes.Buffer{}}
	mqtt := freePort(t)
	a.broker = "tcp://" + mqtt
	os.WriteFile(filepath.Join(a.dir, "tenant.key"), []byte(tenantKey+"\n"), 0o600)
	a.config = filepath.Join(a.dir, "agent.yaml")
	os.WriteFile(a.config, fmt.Appendf(nil, "version: 1\nstore: %s\ndata_dir: %s\ntenant_key_file: %s\nhttp: {listen: '%s'}\nmqtt: {listen: '%s'}\ndiscovery: {advertise: false}\ncloud: {nats_url: '%s', creds_file: '%s', catalog_key_file: '%s'}\n",
		a.store, filepath.Join(a.dir, "data"), filepath.Join(a.dir, "tenant.key"), a.http, mqtt, h.natsURL, c.Cloud.CredsFile, c.Cloud.CatalogKeyFile), 0o644)
	a.addTerminal(t)
	a.start(t)
	t.Cleanup(func() { a.stop(t) })
	settle(t, a, []string{"c-1", "c-2"})
	checkExactlyOnce(t, h, a.store, []string{"c-1", "c-2"})

	// Without credentials: refused. With the store's: no KV writes.
	if nc, err := nats.Connect(h.natsURL, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Error("the cluster let a client in without credentials")
	}
	opt, _ := bus.CredsOption(c.Cloud.CredsFile)
	violation := make(chan error, 10)
	nc, err := nats.Connect(h.natsURL, opt, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violation <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Publish("$KV."+protocol.CatalogBucket+".offer.evil", []byte(`{"id":"evil","status":"active","reward":{"type":"percent_off","percent":100}}`))
	nc.Flush()
	select {
	case err := <-violation:
		if !strings.Contains(err.Error(), "Permissions Violation") {
			t.Errorf("KV put by a store: %v, want a permissions violation", err)
		}
	case <-time.After(2 * time.Second):
		t.Error("KV put by a store: no permissions violation")
	}
}
