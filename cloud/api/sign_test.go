package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

// manifestSeq returns the sequence of the bucket's manifest, 0 for none.
func (e *env) manifestSeq() uint64 {
	e.t.Helper()
	v, err := e.bucket.Get(context.Background(), catalogsig.ManifestKey)
	if err != nil {
		return 0
	}
	m, err := e.signer.Verifier().OpenManifest(v.Value())
	if err != nil {
		e.t.Fatalf("manifest: %v", err)
	}
	return m.Seq
}

// Every value HQ writes is signed for its key, and each change writes a
// newer manifest; a change that leaves the bucket as it was writes
// nothing.
func TestPublishSigns(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
	first := e.manifestSeq()
	e.call("POST", "/api/v1/offers", e.admin, coffeeOffer, http.StatusCreated, nil)
	second := e.manifestSeq()
	if first == 0 || second <= first {
		t.Fatalf("manifest sequences %d then %d", first, second)
	}
	raw, err := e.bucket.Get(context.Background(), "offer.coffee-2-pastry")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw.Value(), []byte(catalogsig.Magic+" ")) {
		t.Fatalf("offer.coffee-2-pastry is not signed: %.80q", raw.Value())
	}
	before := e.state()
	e.call("POST", "/api/v1/publish", e.admin, "", http.StatusOK, nil)
	if e.state() != before {
		t.Fatal("a publish with nothing to change wrote to the bucket")
	}
	third := e.manifestSeq()
	e.call("POST", "/api/v1/segments", e.admin, strings.ReplaceAll(staffSegment, "staff", "gone"), http.StatusCreated, nil)
	e.call("DELETE", "/api/v1/segments/gone", e.admin, "", http.StatusOK, nil)
	if keys := e.keys(); len(keys) != 2 || e.manifestSeq() <= third {
		t.Fatalf("after the delete: %v, manifest %d", sortedKeys(keys), e.manifestSeq())
	}
}

// A bucket whose manifest is gone, or is not HQ's, gets HQ's whole
// catalog at the next change, not a manifest of that change alone.
func TestPublishRestoresTheManifest(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
	ctx := context.Background()
	other := catalogsig.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize)))
	for name, spoil := range map[string]func(){
		"deleted": func() { e.bucket.Delete(ctx, catalogsig.ManifestKey) },
		"another key's": func() {
			e.bucket.Put(ctx, catalogsig.ManifestKey, other.SignManifest(1<<62, map[string]string{}))
		},
	} {
		t.Run(name, func(t *testing.T) {
			spoil()
			id := strings.ReplaceAll(name, " ", "-")
			id = strings.ReplaceAll(id, "'", "")
			e.call("POST", "/api/v1/offers", e.admin, strings.Replace(coffeeOffer, "coffee-2-pastry", id, 1), http.StatusCreated, nil)
			keys := e.keys() // fails unless the manifest lists exactly the bucket
			if _, ok := keys["segment.staff"]; !ok {
				t.Fatalf("the manifest lost segment.staff: %v", sortedKeys(keys))
			}
			if _, ok := keys["offer."+id]; !ok {
				t.Fatalf("the manifest lacks offer.%s: %v", id, sortedKeys(keys))
			}
		})
	}
}

// Two HQ processes publishing at once, over one bucket: the manifest is
// written by compare-and-set, so neither loses the other's change.
func TestPublishConcurrentPublishers(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
	p1 := newPublisher(t.Context(), e.db, e.bucket, e.signer, e.s.log)
	p2 := newPublisher(t.Context(), e.db, e.bucket, e.signer, e.s.log)
	const n = 8
	ctx := context.Background()
	for i := range n {
		doc := strings.Replace(coffeeOffer, "coffee-2-pastry", fmt.Sprintf("o%d", i), 1)
		e.call("POST", "/api/v1/offers", e.admin, doc, http.StatusCreated, nil)
	}
	// Wipe the manifest's knowledge of the offers: each publisher puts
	// back half of them, at once.
	e.bucket.Put(ctx, catalogsig.ManifestKey, e.signer.SignManifest(e.manifestSeq()+1,
		map[string]string{"segment.staff": catalogsig.Hash([]byte(e.keys()["segment.staff"]))}))
	var wg sync.WaitGroup
	for i := range n {
		p := p1
		if i%2 == 1 {
			p = p2
		}
		wg.Go(func() {
			if err := p.sync(ctx, object{store.KindOffer, fmt.Sprintf("o%d", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if keys := e.keys(); len(keys) != n+1 {
		t.Fatalf("the manifest lists %v, want the segment and %d offers", sortedKeys(keys), n)
	}
}
