package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/agent/internal/natstest"
	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol/catalogsig"
	"github.com/posoffer/posoffer/protocol/decide"
)

// modelBench is an uplink watching a real model bucket, and the models it
// applied.
type modelBench struct {
	t   *testing.T
	url string
	js  jetstream.JetStream
	kv  jetstream.KeyValue // nil until the bucket exists
	hq  *catalogsig.Signer
	db  *store.Store
	reg *prometheus.Registry
	up  *Uplink
	log *syncLog

	mu      sync.Mutex
	applied []int64 // revisions
}

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *syncLog) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newModelBench(t *testing.T, bucket bool) *modelBench {
	srv := natstest.Start(t, server.Options{JetStream: true})
	nc := natstest.Connect(t, srv.ClientURL())
	js, _ := jetstream.New(nc)
	db, err := store.Open(filepath.Join(t.TempDir(), "agent.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := &modelBench{t: t, url: srv.ClientURL(), js: js, db: db,
		hq: catalogsig.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))}
	if bucket {
		b.createBucket()
	}
	b.start(false)
	return b
}

func (b *modelBench) createBucket() {
	kv, err := b.js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: decide.Bucket})
	if err != nil {
		b.t.Fatal(err)
	}
	b.kv = kv
}

func (b *modelBench) start(allowUnsigned bool) {
	b.reg, b.log = prometheus.NewRegistry(), &syncLog{}
	o := Options{URL: b.url, Store: "s1", DB: b.db, Heartbeat: time.Hour, Registry: b.reg,
		Apply: func(int64, []byte) error { return nil },
		ApplyModel: func(m *decide.Model) {
			b.mu.Lock()
			b.applied = append(b.applied, m.Revision)
			b.mu.Unlock()
		},
		Logger: slog.New(slog.NewTextHandler(b.log, nil))}
	if allowUnsigned {
		o.AllowUnsigned = true
	} else {
		o.CatalogKey = b.hq.Public()
	}
	up, err := Start(o)
	if err != nil {
		b.t.Fatal(err)
	}
	b.up = up
	b.t.Cleanup(up.Close)
}

func modelDoc(revision int64) []byte {
	return fmt.Appendf(nil, `{"version":1,"revision":%d,"computed":"2026-11-23T00:00:00Z","data_until":"2026-11-22T23:00:00Z",`+
		`"holdout":0.05,"rules":[{"if":"category:coffee","offer":"pastry-20","support":0.1,"confidence":0.4,"lift":2,"n":100}]}`, revision)
}

func (b *modelBench) put(value []byte) {
	b.t.Helper()
	if _, err := b.kv.Put(context.Background(), decide.ModelKey, value); err != nil {
		b.t.Fatal(err)
	}
}

func (b *modelBench) signed(revision int64) []byte {
	return b.hq.Sign(decide.ModelKey, uint64(revision), modelDoc(revision))
}

func (b *modelBench) last() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.applied) == 0 {
		return 0
	}
	return b.applied[len(b.applied)-1]
}

// refused returns posoffer_decide_model_refused_total{reason}, as scraped.
func (b *modelBench) refused(reason string) string {
	return scrape(b.reg, `posoffer_decide_model_refused_total{reason="`+reason+`"}`)
}

func (b *modelBench) waitFor(what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("after 10s: %s; logs:\n%s", what, b.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// HQ's model is applied and kept when HQ's key signed it for its key; a
// value that is unsigned, signed by another key, signed for another key,
// or older than the model applied is refused, counted and logged once, and
// the model applied stays, also across a restart.
func TestModelSignedRefusedAndKept(t *testing.T) {
	b := newModelBench(t, true)
	b.put(b.signed(5))
	b.waitFor("model 5 applied", func() bool { return b.last() == 5 })
	if doc, rev, seq, err := b.db.Model(); err != nil || rev != 5 || seq != 5 || !bytes.Equal(doc, modelDoc(5)) {
		t.Fatalf("store keeps revision %d sequence %d (%v): %s", rev, seq, err, doc)
	}
	other := catalogsig.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize)))
	for _, c := range []struct {
		reason string
		value  []byte
	}{
		{"unsigned", modelDoc(6)},
		{"unknown_signer", other.Sign(decide.ModelKey, 7, modelDoc(7))},
		{"wrong_key", b.hq.Sign("decide.other", 8, modelDoc(8))},
		{"rollback", b.signed(4)},
		{"invalid", b.hq.Sign(decide.ModelKey, 9, []byte(`{"version":1,"revision":9,"holdout":2}`))},
	} {
		b.put(c.value)
		b.waitFor(c.reason+" refused", func() bool { return b.refused(c.reason) == "1" })
		if got := b.last(); got != 5 {
			t.Fatalf("after a %s model the agent applied %d, want 5 kept", c.reason, got)
		}
		if r := b.up.ModelRejected(); !strings.Contains(r, "("+c.reason+")") {
			t.Errorf("after a %s model: ModelRejected() = %q", c.reason, r)
		}
	}
	if n := strings.Count(b.log.String(), "suggestion model from hq refused"); n != 5 {
		t.Errorf("%d refusals logged for 5 refused values:\n%s", n, b.log)
	}
	b.put(b.signed(6))
	b.waitFor("model 6 applied", func() bool { return b.last() == 6 })
	if r := b.up.ModelRejected(); r != "" {
		t.Errorf("after model 6 was applied: ModelRejected() = %q", r)
	}

	// Restarted, the floor is still 6: HQ's model 5 put back is refused.
	b.up.Close()
	b.put(b.signed(5))
	b.start(false)
	b.waitFor("model 5 refused after the restart", func() bool { return b.refused("rollback") == "1" })
	if doc, rev, _, _ := b.db.Model(); rev != 6 || !bytes.Equal(doc, modelDoc(6)) {
		t.Fatalf("after the restart the store keeps revision %d: %s", rev, doc)
	}
}

// A model signed with a larger sequence for an older revision, or the
// reverse, is a rollback too.
func TestModelSequenceFloor(t *testing.T) {
	b := newModelBench(t, true)
	b.put(b.hq.Sign(decide.ModelKey, 100, modelDoc(5)))
	b.waitFor("model 5 applied", func() bool { return b.last() == 5 })
	b.put(b.hq.Sign(decide.ModelKey, 99, modelDoc(6)))
	b.waitFor("an older sequence refused", func() bool { return b.refused("rollback") == "1" })
	if b.last() != 5 {
		t.Fatalf("applied %d, want 5 kept", b.last())
	}
}

// With allow_unsigned_catalog a test bench's unsigned model is applied.
func TestModelUnsignedAllowed(t *testing.T) {
	b := newModelBench(t, true)
	b.up.Close()
	b.start(true)
	b.put(modelDoc(2))
	b.waitFor("unsigned model 2 applied", func() bool { return b.last() == 2 })
}

// An HQ without the model bucket is normal: nothing is logged above
// debug, and a bucket made later is found.
func TestModelBucketMissing(t *testing.T) {
	was := modelBucketRetry
	t.Cleanup(func() { modelBucketRetry = was }) // after the uplink's Close
	modelBucketRetry = 100 * time.Millisecond
	b := newModelBench(t, false)
	time.Sleep(500 * time.Millisecond) // several looks at the missing bucket
	if s := b.log.String(); strings.Contains(s, "level=WARN") || strings.Contains(s, "level=ERROR") {
		t.Fatalf("a missing model bucket was logged:\n%s", s)
	}
	b.createBucket()
	b.put(b.signed(1))
	b.waitFor("model 1 applied once the bucket exists", func() bool { return b.last() == 1 })
}

// HQ makes a deleted model bucket again, its revisions from 1: a model put
// there is applied.
func TestModelBucketRecreated(t *testing.T) {
	was := modelRewatch
	t.Cleanup(func() { modelRewatch = was }) // after the uplink's Close
	modelRewatch = 300 * time.Millisecond
	b := newModelBench(t, true)
	for rev := int64(1); rev <= 4; rev++ {
		b.put(b.signed(rev))
		b.waitFor(fmt.Sprintf("model %d applied", rev), func() bool { return b.last() == rev })
	}
	if err := b.js.DeleteKeyValue(context.Background(), decide.Bucket); err != nil {
		t.Fatal(err)
	}
	b.createBucket()
	b.put(b.signed(5))
	b.waitFor("model 5 in the bucket made again applied", func() bool { return b.last() == 5 })
}
