package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
	"github.com/posoffer/posoffer/protocol/decide"
)

// suggestCatalog: a pastry discount, which customers who buy coffee take
// (HQ's model says), and nothing a coffee basket nearly qualifies for.
const suggestCatalog = `{"version":1,"revision":7,"offers":[
  {"id":"pastry-20","status":"active","reward":{"type":"percent_off","percent":20,"target":{"categories":["pastry"]}}}]}`

const suggestModel = `{"version":1,"revision":3,"computed":"2026-11-23T00:00:00Z","data_until":"2026-11-22T23:00:00Z","holdout":0,
 "rules":[{"if":"category:coffee","offer":"pastry-20","support":0.1,"confidence":0.4,"lift":2,"n":100}],
 "arms":[{"offer":"pastry-20","context":"*","alpha":41,"beta":61,"exposures":100,"conversions":40}]}`

// TestAgentSuggestsWithHQsModel runs the built agent against an HQ NATS
// server whose model bucket holds a signed model: a basket gets the
// model's cross-sell, its checkout event on NATS carries the decision, and
// after a restart without HQ the agent still suggests with the model it
// kept.
func TestAgentSuggestsWithHQsModel(t *testing.T) {
	srv, nc, js := startHQNATS(t)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: decide.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	hq := catalogsig.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize)))
	if _, err := kv.Put(ctx, decide.ModelKey, hq.Sign(decide.ModelKey, 3, []byte(suggestModel))); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var decisions []*protocol.Decision
	sub, err := nc.Subscribe(protocol.EventsSubjects, func(m *nats.Msg) {
		if e, err := protocol.DecodeEvent(m.Data); err == nil && e.Kind == protocol.EventCheckout {
			mu.Lock()
			decisions = append(decisions, e.Checkout.Decision)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	dir := t.TempDir()
	pub, _ := catalogsig.EncodePublicKey(hq.Public())
	keyFile := filepath.Join(dir, "catalog.pub")
	if err := os.WriteFile(keyFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	extra := "cloud: {nats_url: '" + srv.ClientURL() + "', catalog_key_file: '" + keyFile + "'}\n" +
		"decide: {report_candidates: true}\n"
	a := startAgentExtra(t, dir, "", suggestCatalog, "", extra)
	waitMetric(t, a, "posoffer_decide_model_revision", "3")
	term := newTerminal(t, a, "t01")
	basket := `{"v":1,"type":"basket","id":"b-1","txn":"T1","lines":[{"sku":"C","qty":1,"price":350,"category":"coffee"}]}`
	r := term.send(t, "b-1", basket)
	want := []protocol.Suggestion{{Offer: "pastry-20", Kind: protocol.SuggestCrossSell, Text: "",
		Why: "taken by 40% of customers, n=100"}}
	if r.Type != protocol.TypeOffers || !slices.EqualFunc(r.Suggestions, want, sameSuggestion) || len(r.Candidates) != 1 || r.Holdout {
		t.Fatalf("reply %+v, want the suggestion %+v", r, want)
	}
	if r := term.send(t, "c-1", `{"v":1,"type":"checkout","id":"c-1","txn":"T1","paid":350,
	 "lines":[{"sku":"C","qty":1,"price":350,"category":"coffee"}]}`); r.Type != protocol.TypeAck {
		t.Fatalf("checkout: %+v", r)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(decisions)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkout event on NATS within 10s; logs:\n%s", a.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d := decisions[0]
	if d == nil || d.Context != "taste:coffee|"+decide.DaypartOf(time.Now(), mustTokyo(t))+"|all" || d.Policy != protocol.PolicyLearned ||
		d.Model != 3 || d.Holdout || len(d.Suggested) != 1 || d.Suggested[0] != (protocol.Suggested{Offer: "pastry-20", Kind: protocol.SuggestCrossSell}) {
		t.Fatalf("decision %+v", d)
	}

	// Restarted with HQ gone, the agent suggests with the model it kept.
	a.stop(t)
	srv.Shutdown()
	b := startAgentExtra(t, dir, a.store, suggestCatalog, "", extra)
	if got := metric(t, b, "posoffer_decide_model_revision"); got != "3" {
		t.Fatalf("after a restart without HQ the model revision is %q, want 3", got)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("restarted agent's logs:\n%s", b.logs)
		}
	})
	term = newTerminal(t, b, "t01")
	r = term.send(t, "b-2", strings.NewReplacer("T1", "T2", "b-1", "b-2").Replace(basket))
	if !slices.EqualFunc(r.Suggestions, want, sameSuggestion) {
		t.Fatalf("after a restart without HQ: suggestions %+v, want %+v", r.Suggestions, want)
	}
}

func sameSuggestion(a, b protocol.Suggestion) bool {
	return a.Offer == b.Offer && a.Kind == b.Kind && a.Why == b.Why && (a.Missing == nil) == (b.Missing == nil)
}

func mustTokyo(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
