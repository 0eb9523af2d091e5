package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/bus/bustest"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

// t0 is a Sunday morning in UTC.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// env is the API over a real database and a real NATS server with
// JetStream, served by an httptest server.
type env struct {
	t       testing.TB
	db      *store.DB
	bucket  jetstream.KeyValue // the real catalog bucket
	kv      *flakyKV           // what the API publishes through
	signer  *catalogsig.Signer // HQ's catalog signing key
	s       *server
	srv     *httptest.Server
	clock   *clock
	admin   string // an admin token
	analyst string // an analyst token
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// flakyKV is the catalog bucket, whose writes fail while broken is set.
type flakyKV struct {
	jetstream.KeyValue
	broken atomic.Bool
}

var errBroken = errors.New("test: the bucket is down")

func (k *flakyKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if k.broken.Load() {
		return 0, errBroken
	}
	return k.KeyValue.Put(ctx, key, value)
}

func (k *flakyKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if k.broken.Load() {
		return 0, errBroken
	}
	return k.KeyValue.Create(ctx, key, value, opts...)
}

func (k *flakyKV) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	if k.broken.Load() {
		return 0, errBroken
	}
	return k.KeyValue.Update(ctx, key, value, last)
}

func (k *flakyKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if k.broken.Load() {
		return errBroken
	}
	return k.KeyValue.Delete(ctx, key, opts...)
}

// startBucket runs an embedded NATS server on a random port and returns
// its catalog bucket.
func startBucket(t testing.TB) jetstream.KeyValue {
	t.Helper()
	js, _ := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, protocol.CatalogBucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func newEnv(t testing.TB, open storetest.Opener) *env {
	t.Helper()
	e := &env{t: t, db: open(t), bucket: startBucket(t), clock: &clock{t: t0}}
	e.kv = &flakyKV{KeyValue: e.bucket}
	e.signer = testSigner
	e.s = newServer(Options{DB: e.db, Catalog: e.kv, Signer: e.signer, Clock: e.clock.now, Context: t.Context(),
		StoreGroups: testGroups})
	e.s.pub.first, e.s.pub.most = 20*time.Millisecond, 100*time.Millisecond
	e.srv = httptest.NewServer(e.s)
	t.Cleanup(e.srv.Close)
	e.admin = e.token(RoleAdmin, "ann")
	e.analyst = e.token(RoleAnalyst, "otto")
	return e
}

func (e *env) token(role, name string) string {
	e.t.Helper()
	tok, _, err := NewToken(context.Background(), e.db, role, name, t0)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// reply is an HTTP response, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with the token (none when empty) and a body (none
// when empty); header is pairs of names and values.
func (e *env) do(method, path, token, body string, header ...string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// call sends a request and checks its status; out, when not nil, gets the
// JSON reply.
func (e *env) call(method, path, token, body string, want int, out any) reply {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: %v; body %s", method, path, err, r.body)
		}
	}
	return r
}

// fails sends a request and checks that it is refused with the status and
// code, and a message that contains each of msg.
func (e *env) fails(method, path, token, body string, status int, code string, msg ...string) {
	e.t.Helper()
	r := e.do(method, path, token, body)
	var er errorReply
	if err := json.Unmarshal(r.body, &er); err != nil || er.Error == nil {
		e.t.Fatalf("%s %s: not an error reply: %d %s", method, path, r.status, r.body)
	}
	if r.status != status || er.Error.Code != code {
		e.t.Fatalf("%s %s: %d %s, want %d %s", method, path, r.status, r.body, status, code)
	}
	for _, m := range msg {
		if !strings.Contains(er.Error.Message, m) {
			e.t.Fatalf("%s %s: message %q lacks %q", method, path, er.Error.Message, m)
		}
	}
}

// testSigner is HQ's catalog signing key in tests.
var testSigner = catalogsig.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))

// keys returns the catalog an agent would take from the bucket: each key
// and its document, as the manifest vouches for them. It fails the test
// when the bucket holds anything else: a value HQ did not sign, a key the
// manifest does not list, a key it lists with another document. Half a
// publish reads as an empty catalog.
func (e *env) keys() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	raw := map[string][]byte{}
	lister, err := e.bucket.ListKeys(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for k := range lister.Keys() {
		v, err := e.bucket.Get(ctx, k)
		if err != nil {
			e.t.Fatal(err)
		}
		raw[k] = v.Value()
	}
	out := map[string]string{}
	cat, err := e.signer.Verifier().Verify(raw, 0)
	if errors.Is(err, catalogsig.ErrPending) {
		return out // half a publish, seen by a poll: nothing an agent would apply yet
	}
	if err != nil {
		e.t.Fatalf("the bucket is not a signed catalog: %v", err)
	}
	if cat == nil {
		return out
	}
	if len(raw) != len(cat.Entries)+1 {
		e.t.Fatalf("the bucket holds %d keys besides the manifest, which lists %d", len(raw)-1, len(cat.Entries))
	}
	for k, v := range cat.Entries {
		out[k] = string(v)
	}
	return out
}

// state is everything a change could touch: the bucket's stream sequence,
// the catalog and the audit log.
func (e *env) state() string {
	e.t.Helper()
	ctx := context.Background()
	st, err := e.bucket.Status(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	seq := st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq
	cat, err := e.db.Catalog(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	audit, _, err := e.db.Audit(ctx, store.AuditFilter{Limit: store.MaxLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(struct {
		Seq     uint64
		Catalog *store.Catalog
		Audit   int
	}{seq, cat, len(audit)})
	return string(b)
}

// waitFor polls cond until it holds, failing after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// compact returns JSON without insignificant space, keys sorted.
func compact(t testing.TB, s string) string {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
