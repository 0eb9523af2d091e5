package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/posoffer/posoffer/agent/internal/natstest"
	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

// catalogBench is an uplink watching a real catalog bucket, with HQ's
// key, and what it applied.
type catalogBench struct {
	t   *testing.T
	kv  jetstream.KeyValue
	hq  *catalogsig.Signer
	db  *store.Store
	reg *prometheus.Registry
	up  *Uplink

	mu      sync.Mutex
	served  int64    // the revision applied
	applied []string // the offers of each catalog applied
}

func newCatalogBench(t *testing.T) *catalogBench {
	srv := natstest.Start(t, server.Options{JetStream: true})
	nc := natstest.Connect(t, srv.ClientURL())
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: protocol.CatalogBucket})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "agent.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := &catalogBench{t: t, kv: kv, db: db, reg: prometheus.NewRegistry(),
		hq: catalogsig.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))}
	b.start(srv.ClientURL(), 0)
	return b
}

// start starts the uplink serving a catalog of revision served (a
// catalog_file's, say).
func (b *catalogBench) start(url string, served int64) {
	b.served = served
	up, err := Start(Options{URL: url, Store: "s1", DB: b.db, Heartbeat: time.Hour, Registry: b.reg,
		CatalogKey: b.hq.Public(),
		Apply: func(rev int64, doc []byte) error {
			var d struct {
				Offers []struct{ ID string } `json:"offers"`
			}
			json.Unmarshal(doc, &d)
			var ids []string
			for _, o := range d.Offers {
				ids = append(ids, o.ID)
			}
			b.mu.Lock()
			b.served, b.applied = rev, append(b.applied, strings.Join(ids, ","))
			b.mu.Unlock()
			return nil
		},
		Catalog: func() int64 { b.mu.Lock(); defer b.mu.Unlock(); return b.served },
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.up = up
	b.t.Cleanup(up.Close)
}

func (b *catalogBench) put(key string, value []byte) {
	b.t.Helper()
	if _, err := b.kv.Put(context.Background(), key, value); err != nil {
		b.t.Fatal(err)
	}
}

// publish writes a catalog of offers as HQ does: values, then manifest.
func (b *catalogBench) publish(seq uint64, ids ...string) {
	entries := map[string]string{}
	for _, id := range ids {
		doc := []byte(`{"id":"` + id + `"}`)
		b.put("offer."+id, b.hq.Sign("offer."+id, seq, doc))
		entries["offer."+id] = catalogsig.Hash(doc)
	}
	b.put(catalogsig.ManifestKey, b.hq.SignManifest(seq, entries))
}

func (b *catalogBench) last() (int64, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.applied) == 0 {
		return b.served, ""
	}
	return b.served, b.applied[len(b.applied)-1]
}

// refused returns posoffer_catalog_refused_total{reason}, as scraped.
func (b *catalogBench) refused(reason string) string {
	return scrape(b.reg, `posoffer_catalog_refused_total{reason="`+reason+`"}`)
}

// scrape returns the value of one series (name with its labels) as the
// registry's /metrics page shows it; "0" when absent.
func scrape(reg prometheus.Gatherer, series string) string {
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return "0"
}

func (b *catalogBench) waitFor(what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("after 5s: %s (rejected %q)", what, b.up.Rejected())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// HQ's catalog is applied with its manifest's sequence; a publish caught
// half way is waited for, not reported; a value that is not HQ's is
// refused, counted and reported until it is gone.
func TestCatalogSigned(t *testing.T) {
	b := newCatalogBench(t)
	b.publish(100, "a")
	b.waitFor("catalog 100 applied", func() bool { rev, ids := b.last(); return rev == 100 && ids == "a" })
	b.waitFor("sequence 100 recorded", func() bool { seq, _ := b.db.HQCatalogSeq(); return seq == 100 })

	// HQ half way through catalog 200: offer.a changed, the manifest not
	// yet written. Nothing applied, nothing reported.
	b.put("offer.a", b.hq.Sign("offer.a", 200, []byte(`{"id":"a","v":2}`)))
	time.Sleep(3 * settle)
	if rev, _ := b.last(); rev != 100 || b.up.Rejected() != "" || b.refused("mismatch") != "0" {
		t.Fatalf("half a publish: revision %d, rejected %q", rev, b.up.Rejected())
	}
	b.publish(200, "a", "b")
	b.waitFor("catalog 200 applied", func() bool { rev, ids := b.last(); return rev == 200 && ids == "a,b" })

	b.put("offer.evil", []byte(`{"id":"evil","reward":{"type":"percent_off","percent":100}}`))
	b.waitFor("the unsigned key refused", func() bool { return strings.Contains(b.up.Rejected(), "(unsigned)") })
	if b.refused("unsigned") != "1" {
		t.Errorf("refused{unsigned} = %s, want 1", b.refused("unsigned"))
	}
	if rev, ids := b.last(); rev != 200 || ids != "a,b" {
		t.Errorf("serving %d (%s), want 200 (a,b)", rev, ids)
	}
	b.kv.Delete(context.Background(), "offer.evil")
	b.waitFor("the refusal cleared", func() bool { return b.up.Rejected() == "" })
}

// A catalog_file served since a restart does not lower the floor: an old
// catalog of HQ's replayed after the restart is still refused.
func TestCatalogReplayAfterRestartWithAFile(t *testing.T) {
	b := newCatalogBench(t)
	b.publish(100, "old")
	b.waitFor("catalog 100 applied", func() bool { rev, _ := b.last(); return rev == 100 })
	old := map[string][]byte{}
	for _, k := range []string{"offer.old", catalogsig.ManifestKey} {
		e, _ := b.kv.Get(context.Background(), k)
		old[k] = e.Value()
	}
	b.kv.Delete(context.Background(), "offer.old")
	b.publish(200, "new")
	b.waitFor("catalog 200 applied", func() bool { rev, _ := b.last(); return rev == 200 })
	url := b.up.nc.ConnectedUrl()
	b.up.Close()

	// The agent restarts serving its catalog_file (revision 3), and an
	// attacker puts HQ's catalog 100 back.
	b.put("offer.old", old["offer.old"])
	b.put(catalogsig.ManifestKey, old[catalogsig.ManifestKey])
	b.kv.Delete(context.Background(), "offer.new")
	b.reg = prometheus.NewRegistry()
	b.start(url, 3)
	b.waitFor("the replay refused", func() bool { return strings.Contains(b.up.Rejected(), "(rollback)") })
	if rev, _ := b.last(); rev != 3 {
		t.Fatalf("serving %d, want the file's 3", rev)
	}
}
