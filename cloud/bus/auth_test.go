package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// target is a NATS server that holds HQ's identity and two stores', s001
// and s002, with the permissions HQ gives them.
type target struct {
	url   string
	seeds map[string]string // "hq", "s001", "s002": nkey seed files
	// refused is what the server counted as refused, by kind; nil when
	// the server is not ours to count (a nats-server process).
	refused func(kind string) int64
}

// identities makes seed files for HQ and the stores.
func identities(t *testing.T) (seeds map[string]string, hq string, stores []StoreUser) {
	t.Helper()
	dir := t.TempDir()
	seeds = map[string]string{}
	for _, who := range []string{"hq", "s001", "s002"} {
		seeds[who] = filepath.Join(dir, who+".nk")
		pub, err := LoadOrCreateSeed(seeds[who])
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(seeds[who]); err != nil {
			t.Fatal(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Fatalf("seed file %s: mode %v, want 0600", who, fi.Mode().Perm())
		}
		if who == "hq" {
			hq = pub
		} else {
			stores = append(stores, StoreUser{Store: who, PublicKey: pub})
		}
	}
	return seeds, hq, stores
}

// embedded starts HQ's embedded server with identities.
func embedded(t *testing.T) (target, *Server) {
	t.Helper()
	seeds, hq, stores := identities(t)
	var mu sync.Mutex
	counts := map[string]int64{}
	srv, err := Start(t.TempDir(), "127.0.0.1:0", &Auth{HQ: hq, Stores: stores, Refused: func(kind, _ string) {
		mu.Lock()
		counts[kind]++
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return target{url: srv.ClientURL(), seeds: seeds, refused: func(kind string) int64 {
		mu.Lock()
		defer mu.Unlock()
		return counts[kind]
	}}, srv
}

// external starts /usr/sbin/nats-server (or the one on PATH) with a
// configuration holding AuthConfig, as a cluster HQ does not run would.
func external(t *testing.T) target {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/nats-server"); err != nil {
			t.Skip("no nats-server binary on PATH or in /usr/sbin")
		}
		bin = "/usr/sbin/nats-server"
	}
	seeds, hq, stores := identities(t)
	auth, err := AuthConfig(hq, stores)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "nats.conf")
	text := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream {store_dir: %q}\n%s", port, filepath.Join(dir, "js"), auth)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	// The file says what the embedded server does.
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("generated configuration: %v\n%s", err, text)
	}
	want, _ := Users(hq, stores)
	if len(opts.Nkeys) != len(want) {
		t.Fatalf("configuration has %d users, want %d", len(opts.Nkeys), len(want))
	}
	for i, u := range opts.Nkeys {
		if u.Nkey != want[i].Nkey || !reflect.DeepEqual(u.Permissions, want[i].Permissions) {
			t.Errorf("user %d in the configuration: %s %+v, want %s %+v", i, u.Nkey, u.Permissions, want[i].Nkey, want[i].Permissions)
		}
	}

	cmd := exec.Command(bin, "-c", conf)
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := connectAs(url, seeds["hq"], "")
		if err == nil {
			nc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server -c not up: %v\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return target{url: url, seeds: seeds}
}

func connectAs(url, seed, inbox string, more ...nats.Option) (*nats.Conn, error) {
	opts := more
	if seed != "" {
		o, err := CredsOption(seed)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	return nats.Connect(url, opts...)
}

// client is a store's connection that records the permission violations
// the server reports to it.
type client struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	violations atomic.Int64
	last       atomic.Pointer[string]
}

func connectStore(t *testing.T, tg target, store string) *client {
	t.Helper()
	c := &client{}
	inbox, _ := protocol.StoreInboxPrefix(store)
	nc, err := connectAs(tg.url, tg.seeds[store], inbox, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(err.Error(), "Permissions Violation") {
			msg := err.Error()
			c.last.Store(&msg)
			c.violations.Add(1)
		}
	}))
	if err != nil {
		t.Fatalf("store %s connects: %v", store, err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	c.js, _ = jetstream.New(nc)
	return c
}

// hqSetup connects as HQ, makes the stream, consumer and buckets, and
// puts an offer and a profile in.
func hqSetup(t *testing.T, tg target) jetstream.JetStream {
	t.Helper()
	nc, err := connectAs(tg.url, tg.seeds["hq"], "")
	if err != nil {
		t.Fatalf("hq connects: %v", err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := Ensure(ctx, js, 0); err != nil {
		t.Fatal(err)
	}
	cat, _ := js.KeyValue(ctx, protocol.CatalogBucket)
	if _, err := cat.Put(ctx, "offer.five", []byte(`{"id":"five","status":"active","reward":{"type":"percent_off","percent":5}}`)); err != nil {
		t.Fatal(err)
	}
	prof, _ := js.KeyValue(ctx, protocol.ProfilesBucket)
	if _, err := prof.Put(ctx, profileKey, []byte(`{"visits":3}`)); err != nil {
		t.Fatal(err)
	}
	model, _ := js.KeyValue(ctx, decide.Bucket)
	if _, err := model.Put(ctx, decide.ModelKey, []byte(`model 1`)); err != nil {
		t.Fatal(err)
	}
	return js
}

const profileKey = "abcdefghijklmnopqrstuvwxyz"

func event(t *testing.T, store string, kind protocol.EventKind) (string, []byte) {
	t.Helper()
	subject := "posoffer.v1.events." + store + "." + string(kind)
	b, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("0190c0de-0000-7000-8000-%012d", time.Now().UnixNano()%1e12),
		"kind": kind, "store": store, "at": time.Now().UTC()})
	return subject, b
}

// TestStoreCanDoItsJob: with its credentials, a store does everything the
// agent does (publish its events and heartbeats, watch the catalog, get a
// profile, stop the watch) without one permission violation.
func TestStoreCanDoItsJob(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { tg, _ := embedded(t); storeWorks(t, tg) })
	t.Run("nats-server", func(t *testing.T) { storeWorks(t, external(t)) })
}

func storeWorks(t *testing.T, tg target) {
	hq := hqSetup(t, tg)
	c := connectStore(t, tg, "s001")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, kind := range []protocol.EventKind{protocol.EventCheckout, protocol.EventHeartbeat} {
		subject, b := event(t, "s001", kind)
		f, err := c.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: b})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatalf("publish %s: %v", subject, err)
		case <-ctx.Done():
			t.Fatalf("publish %s: no ack", subject)
		}
		if _, err := c.js.Publish(ctx, subject, b); err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
	}
	kv, err := c.js.KeyValue(ctx, protocol.CatalogBucket)
	if err != nil {
		t.Fatalf("catalog bucket: %v", err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	got := ""
	for e := range w.Updates() {
		if e == nil {
			break
		}
		got += e.Key()
	}
	if got != "offer.five" {
		t.Errorf("watch gave %q, want offer.five", got)
	}
	// A change HQ makes arrives on the watch.
	hcat, _ := hq.KeyValue(ctx, protocol.CatalogBucket)
	hcat.Put(ctx, "offer.ten", []byte(`{}`))
	select {
	case e := <-w.Updates():
		if e == nil || e.Key() != "offer.ten" {
			t.Errorf("watch update %v, want offer.ten", e)
		}
	case <-ctx.Done():
		t.Error("no update on the watch")
	}
	if err := w.Stop(); err != nil {
		t.Errorf("stop watch: %v", err)
	}
	// The decide model: a get, and a watch that sees HQ's next model.
	mkv, err := c.js.KeyValue(ctx, decide.Bucket)
	if err != nil {
		t.Fatalf("decide bucket: %v", err)
	}
	if e, err := mkv.Get(ctx, decide.ModelKey); err != nil || string(e.Value()) != "model 1" {
		t.Errorf("model get: %v", err)
	}
	mw, err := mkv.Watch(ctx, decide.ModelKey)
	if err != nil {
		t.Fatalf("watch the model: %v", err)
	}
	next := func() (jetstream.KeyValueEntry, bool) {
		select {
		case e := <-mw.Updates():
			return e, true
		case <-ctx.Done():
			t.Error("no value on the model watch")
			return nil, false
		}
	}
	if e, ok := next(); ok && (e == nil || string(e.Value()) != "model 1") {
		t.Errorf("model watch gave %v", e)
	}
	if e, ok := next(); ok && e != nil {
		t.Errorf("model watch: %v, want the end of the initial values", e)
	}
	hmodel, _ := hq.KeyValue(ctx, decide.Bucket)
	hmodel.Put(ctx, decide.ModelKey, []byte("model 2"))
	if e, ok := next(); ok && (e == nil || string(e.Value()) != "model 2") {
		t.Errorf("model watch update %v, want model 2", e)
	}
	if err := mw.Stop(); err != nil {
		t.Errorf("stop the model watch: %v", err)
	}
	pkv, err := c.js.KeyValue(ctx, protocol.ProfilesBucket)
	if err != nil {
		t.Fatalf("profiles bucket: %v", err)
	}
	e, err := pkv.Get(ctx, profileKey)
	if err != nil || string(e.Value()) != `{"visits":3}` {
		t.Errorf("profile get: %v", err)
	}
	if _, err := pkv.Get(ctx, "zzzzzzzzzzzzzzzzzzzzzzzzzz"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("get of a missing profile: %v, want ErrKeyNotFound", err)
	}
	c.nc.Flush()
	time.Sleep(100 * time.Millisecond)
	if n := c.violations.Load(); n != 0 {
		t.Errorf("%d permission violations doing the agent's job; last: %s", n, *c.last.Load())
	}
	if tg.refused != nil {
		if n := tg.refused("publish") + tg.refused("subscribe"); n != 0 {
			t.Errorf("server refused %d publishes or subscriptions of the agent's job", n)
		}
	}
}

// TestAttacks: everything a store's credentials must not allow is refused
// by the server, reported to the client, counted by HQ's server, and
// changes nothing at HQ.
func TestAttacks(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { tg, _ := embedded(t); attacks(t, tg) })
	t.Run("nats-server", func(t *testing.T) { attacks(t, external(t)) })
}

func attacks(t *testing.T, tg target) {
	hq := hqSetup(t, tg)
	ctx := context.Background()

	t.Run("no credentials", func(t *testing.T) {
		before := refusedCount(tg, "auth")
		nc, err := nats.Connect(tg.url, nats.NoReconnect())
		if err == nil {
			nc.Close()
			t.Fatal("connected without credentials")
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("connect without credentials: %v, want an authorization violation", err)
		}
		checkCounted(t, tg, "auth", before)
	})
	t.Run("unknown key", func(t *testing.T) {
		seed := filepath.Join(t.TempDir(), "stranger.nk")
		if _, err := LoadOrCreateSeed(seed); err != nil {
			t.Fatal(err)
		}
		before := refusedCount(tg, "auth")
		nc, err := connectAs(tg.url, seed, "", nats.NoReconnect())
		if err == nil {
			nc.Close()
			t.Fatal("connected with a key HQ never made")
		}
		checkCounted(t, tg, "auth", before)
	})

	// An event of s001's, stored before the attacks.
	kept, keptBody := event(t, "s001", protocol.EventCheckout)
	if _, err := hq.Publish(ctx, kept, keptBody); err != nil {
		t.Fatal(err)
	}
	c := connectStore(t, tg, "s001")
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 500*time.Millisecond) }

	catalogPut := func(js jetstream.JetStream, bucket, key, value string) func() {
		return func() {
			kv, err := js.KeyValue(ctx, bucket)
			if err != nil {
				t.Errorf("bucket %s: %v", bucket, err)
				return
			}
			cctx, cancel := short()
			defer cancel()
			if _, err := kv.Put(cctx, key, []byte(value)); err == nil {
				t.Errorf("put %s into %s: no error", key, bucket)
			}
		}
	}
	publish := func(subject string, data []byte) func() {
		return func() {
			cctx, cancel := short()
			defer cancel()
			if _, err := c.js.Publish(cctx, subject, data); err == nil {
				t.Errorf("publish on %s acknowledged", subject)
			}
		}
	}
	storedOn := func(subject string) bool {
		st, _ := hq.Stream(ctx, protocol.EventsStream)
		_, err := st.GetLastMsgForSubject(ctx, subject)
		return err == nil
	}
	consumerThere := func() bool { _, err := hq.Consumer(ctx, protocol.EventsStream, Consumer); return err == nil }
	streamThere := func() bool { _, err := hq.Stream(ctx, protocol.EventsStream); return err == nil }
	hqKey := func(bucket, key string) bool {
		kv, _ := hq.KeyValue(ctx, bucket)
		_, err := kv.Get(ctx, key)
		return err == nil
	}

	s002, s002Body := event(t, "s002", protocol.EventCheckout)
	s002hb, s002hbBody := event(t, "s002", protocol.EventHeartbeat)
	s999, s999Body := event(t, "s999", protocol.EventRedemption)
	for _, a := range []struct {
		name    string
		kind    string // what the server counts: publish or subscribe
		attack  func()
		harmed  func() bool
		harmMsg string
	}{
		{"catalog put percent_off 100", "publish",
			catalogPut(c.js, protocol.CatalogBucket, "offer.evil", `{"id":"evil","status":"active","reward":{"type":"percent_off","percent":100}}`),
			func() bool { return hqKey(protocol.CatalogBucket, "offer.evil") }, "offer.evil is in the catalog"},
		{"catalog raw publish", "publish",
			func() { c.nc.Publish("$KV."+protocol.CatalogBucket+".offer.evil2", []byte(`{}`)); c.nc.Flush() },
			func() bool { return hqKey(protocol.CatalogBucket, "offer.evil2") }, "offer.evil2 is in the catalog"},
		{"decide model put", "publish", catalogPut(c.js, decide.Bucket, decide.ModelKey, `forged`),
			func() bool {
				kv, _ := hq.KeyValue(ctx, decide.Bucket)
				e, err := kv.Get(ctx, decide.ModelKey)
				return err != nil || string(e.Value()) != "model 1"
			}, "the decide model changed"},
		{"decide model raw publish", "publish",
			func() { c.nc.Publish("$KV."+decide.Bucket+"."+decide.ModelKey, []byte("forged")); c.nc.Flush() },
			func() bool {
				kv, _ := hq.KeyValue(ctx, decide.Bucket)
				e, err := kv.Get(ctx, decide.ModelKey)
				return err != nil || string(e.Value()) != "model 1"
			}, "the decide model changed"},
		{"decide bucket delete", "publish", func() {
			cctx, cancel := short()
			defer cancel()
			c.js.DeleteKeyValue(cctx, decide.Bucket)
		}, func() bool { _, err := hq.KeyValue(ctx, decide.Bucket); return err != nil }, "the decide bucket is gone"},
		{"profile put", "publish", catalogPut(c.js, protocol.ProfilesBucket, profileKey, `{"visits":999}`),
			func() bool {
				kv, _ := hq.KeyValue(ctx, protocol.ProfilesBucket)
				e, err := kv.Get(ctx, profileKey)
				return err != nil || string(e.Value()) != `{"visits":3}`
			}, "the profile changed"},
		{"publish as s002", "publish", publish(s002, s002Body), func() bool { return storedOn(s002) }, "an s002 event is stored"},
		{"heartbeat as s002", "publish", publish(s002hb, s002hbBody), func() bool { return storedOn(s002hb) }, "an s002 heartbeat is stored"},
		{"publish as an unknown store", "publish", publish(s999, s999Body), func() bool { return storedOn(s999) }, "an s999 event is stored"},
		{"delete hq's consumer", "publish", func() {
			cctx, cancel := short()
			defer cancel()
			c.js.DeleteConsumer(cctx, protocol.EventsStream, Consumer)
		}, func() bool { return !consumerThere() }, "the consumer is gone"},
		{"delete the events stream", "publish", func() {
			cctx, cancel := short()
			defer cancel()
			c.js.DeleteStream(cctx, protocol.EventsStream)
		}, func() bool { return !streamThere() }, "the stream is gone"},
		{"purge the events stream", "publish", func() {
			cctx, cancel := short()
			defer cancel()
			c.nc.RequestWithContext(cctx, "$JS.API.STREAM.PURGE."+protocol.EventsStream, nil)
		}, func() bool { return !storedOn(kept) }, "the stream was purged"},
		{"read events with a consumer of its own", "publish", func() {
			cctx, cancel := short()
			defer cancel()
			c.js.CreateConsumer(cctx, protocol.EventsStream, jetstream.ConsumerConfig{Name: "spy"})
		}, func() bool { _, err := hq.Consumer(ctx, protocol.EventsStream, "spy"); return err == nil }, "a spy consumer exists"},
		{"watch every profile", "publish", func() {
			kv, err := c.js.KeyValue(ctx, protocol.ProfilesBucket)
			if err != nil {
				t.Errorf("profiles bucket: %v", err)
				return
			}
			cctx, cancel := short()
			defer cancel()
			if w, err := kv.WatchAll(cctx); err == nil {
				select {
				case e := <-w.Updates():
					if e != nil {
						t.Errorf("watched profile %s", e.Key())
					}
				case <-cctx.Done():
				}
				w.Stop()
			}
		}, nil, ""},
		{"walk the profiles by sequence", "publish", func() {
			cctx, cancel := short()
			defer cancel()
			c.nc.RequestWithContext(cctx, "$JS.API.DIRECT.GET.KV_"+protocol.ProfilesBucket, []byte(`{"seq":1}`))
		}, func() bool { return false }, ""},
		{"read another store's replies", "subscribe", func() { c.nc.SubscribeSync("_INBOX_s002.>"); c.nc.Flush() }, nil, ""},
		{"read the default inbox", "subscribe", func() { c.nc.SubscribeSync("_INBOX.>"); c.nc.Flush() }, nil, ""},
		{"read every store's events", "subscribe", func() { c.nc.SubscribeSync("posoffer.v1.events.>"); c.nc.Flush() }, nil, ""},
	} {
		t.Run(a.name, func(t *testing.T) {
			before, server := c.violations.Load(), refusedCount(tg, a.kind)
			a.attack()
			if !waitUntil(2*time.Second, func() bool { return c.violations.Load() > before }) {
				t.Errorf("the client was told of no permission violation")
			}
			checkCounted(t, tg, a.kind, server)
			if a.harmed != nil && a.harmed() {
				t.Errorf("harm done: %s", a.harmMsg)
			}
		})
	}
	if !c.nc.IsConnected() {
		t.Error("the store's connection is gone; violations should be refused, not disconnect")
	}

	// What a store may do, creating a consumer on the catalog's stream,
	// cannot push the catalog onto another store's subject.
	t.Run("catalog consumer delivering to s002's subject", func(t *testing.T) {
		target := "posoffer.v1.events.s002.profile"
		req, _ := json.Marshal(map[string]any{"stream_name": "KV_" + protocol.CatalogBucket, "config": map[string]any{
			"deliver_subject": target, "ack_policy": "none", "deliver_policy": "all"}})
		c.nc.Request("$JS.API.CONSUMER.CREATE.KV_"+protocol.CatalogBucket, req, 2*time.Second)
		time.Sleep(time.Second)
		if storedOn(target) {
			t.Error("catalog entries were stored as s002's events")
		}
	})
}

func refusedCount(tg target, kind string) int64 {
	if tg.refused == nil {
		return 0
	}
	return tg.refused(kind)
}

func checkCounted(t *testing.T, tg target, kind string, before int64) {
	t.Helper()
	if tg.refused == nil {
		return
	}
	if !waitUntil(2*time.Second, func() bool { return tg.refused(kind) > before }) {
		t.Errorf("HQ's server did not count the refusal (%s)", kind)
	}
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// TestRevokeClosesConnections: a store dropped from the users is
// disconnected at once and cannot connect again; the others stay.
func TestRevokeClosesConnections(t *testing.T) {
	tg, srv := embedded(t)
	hqSetup(t, tg)
	closed := make(chan struct{})
	s1, err := connectAs(tg.url, tg.seeds["s001"], "_INBOX_s001", nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2 := connectStore(t, tg, "s002")
	pub2, err := SeedPublicKey(tg.seeds["s002"])
	if err != nil {
		t.Fatal(err)
	}
	before := refusedCount(tg, "auth")
	if err := srv.SetStores([]StoreUser{{Store: "s002", PublicKey: pub2}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked store is still connected")
	}
	if _, err := connectAs(tg.url, tg.seeds["s001"], "_INBOX_s001", nats.NoReconnect()); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("revoked store connects again: %v, want an authorization violation", err)
	}
	checkCounted(t, tg, "auth", before)
	if !s2.nc.IsConnected() {
		t.Error("a store not revoked lost its connection")
	}
	subject, b := event(t, "s002", protocol.EventCheckout)
	if _, err := s2.js.Publish(context.Background(), subject, b); err != nil {
		t.Errorf("store not revoked publishes: %v", err)
	}
}

// TestAllowAnonymous: only when asked, a client without credentials gets
// in (as HQ).
func TestAllowAnonymous(t *testing.T) {
	_, hq, stores := identities(t)
	srv, err := Start(t.TempDir(), "127.0.0.1:0", &Auth{HQ: hq, Stores: stores, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("allow_anonymous: %v", err)
	}
	nc.Close()
}
