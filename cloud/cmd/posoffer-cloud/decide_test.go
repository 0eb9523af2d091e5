package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/cloud/bus/bustest"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// decideEvents are a store's checkouts with decisions at data time at:
// exposed transactions suggest pastry, taken in taken of them; held-out
// ones would have, taken in heldTaken.
func decideEvents(store string, at time.Time, exposed, taken, heldOut, heldTaken int) []*protocol.Event {
	var out []*protocol.Event
	for i := range exposed + heldOut {
		holdout := i >= exposed
		took := !holdout && i < taken || holdout && i-exposed < heldTaken
		txn := uniqueID("x")
		out = append(out, &protocol.Event{ID: uuid.Must(uuid.NewV7()).String(), Kind: protocol.EventCheckout, Store: store,
			At: at, Terminal: "t1", Txn: txn, Checkout: &protocol.CheckoutEvent{
				Lines:    []protocol.EventLine{{SKU: "COF-1", Qty: 1, Price: 400, Category: "coffee"}},
				Subtotal: 400, Paid: 400, Decision: &protocol.Decision{Context: "taste:coffee|morning|all",
					Policy: protocol.PolicyLearned, Holdout: holdout,
					Suggested: []protocol.Suggested{{Offer: "pastry", Kind: protocol.SuggestCrossSell}}}}})
		if took {
			out = append(out, &protocol.Event{ID: uuid.Must(uuid.NewV7()).String(), Kind: protocol.EventRedemption,
				Store: store, At: at, Terminal: "t1", Txn: txn, Redemption: &protocol.RedemptionEvent{Offer: "pastry", Discount: 50}})
		}
	}
	return out
}

// publishAs publishes events on their subjects over nc, as an agent does.
func publishAs(t *testing.T, nc *nats.Conn, events []*protocol.Event) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	bustest.Publish(t, js, events)
}

// modelIn returns the model in HQ's decide bucket, verified with the
// catalog key; nil when there is none yet.
func modelIn(t *testing.T, js jetstream.JetStream) *decide.Model {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, decide.Bucket)
	if err != nil {
		return nil
	}
	e, err := kv.Get(ctx, decide.ModelKey)
	if err != nil {
		return nil
	}
	env, err := hqSigner.Verifier().Open(decide.ModelKey, e.Value())
	if err != nil {
		t.Fatalf("the decide model is not signed with the catalog key: %v", err)
	}
	m, err := decide.ParseModel(env.Payload)
	if err != nil {
		t.Fatalf("the decide model: %v", err)
	}
	return m
}

// TestLearnedModelPublished: a store's checkouts with decisions, sent
// with the store's own credentials, are learned from by the running HQ,
// whose model reaches the decide bucket signed with the catalog key; the
// store may read the model and not write it; the uplift report counts the
// transactions.
func TestLearnedModelPublished(t *testing.T) {
	if externalNATS() {
		t.Skip("the store's credentials are the embedded server's")
	}
	h := newHQWith(t, "", "decide: {interval: 200ms, holdout: 0.1}\n")
	store := uniqueID("s")
	creds := h.addStore(t, store).Cloud.CredsFile
	credsOpt, err := bus.CredsOption(creds)
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := protocol.StoreInboxPrefix(store)
	var snc *nats.Conn
	// The embedded server takes the new store in within a second.
	if !waitFor(10*time.Second, func() bool {
		snc, err = nats.Connect(h.natsURL, credsOpt, nats.CustomInboxPrefix(inbox))
		return err == nil
	}) {
		t.Fatalf("the store cannot connect: %v", err)
	}
	defer snc.Close()
	at := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC) // a simulated clock: months from now
	publishAs(t, snc, decideEvents(store, at, 40, 20, 35, 7))

	hjs, err := jetstream.New(h.connect(t))
	if err != nil {
		t.Fatal(err)
	}
	var m *decide.Model
	if !waitFor(20*time.Second, func() bool {
		m = modelIn(t, hjs)
		if m == nil {
			return false
		}
		for _, a := range m.Arms {
			if a.Offer == "pastry" && a.Context == decide.AllContexts && a.Exposures == 40 && a.Conversions == 20 {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no model learned from the 40 exposed transactions: %+v\n%s", m, h.logs)
	}
	if !m.DataUntil.Equal(at) || m.Holdout != 0.1 {
		t.Errorf("model data until %v, holdout %v", m.DataUntil, m.Holdout)
	}

	// The store reads the model, and may not write it.
	sjs, _ := jetstream.New(snc)
	if got := modelIn(t, sjs); got == nil || got.Revision < m.Revision {
		t.Errorf("the store reads model %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	skv, err := sjs.KeyValue(ctx, decide.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := skv.Put(ctx, decide.ModelKey, []byte("forged")); err == nil {
		t.Error("a store wrote the decide model")
	}
	if got := modelIn(t, hjs); got == nil {
		t.Error("the model is gone after the store's attempt")
	}

	// The uplift report over the data's period.
	token := h.token(t, "analyst")
	req, _ := http.NewRequest("GET", "http://"+h.http+"/api/v1/reports/uplift?from=2026-05-01&to=2026-07-01", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var u struct {
		Overall struct {
			Exposed    int64 `json:"exposed_transactions"`
			HeldOut    int64 `json:"held_out_transactions"`
			Conversion struct {
				Exposed float64 `json:"exposed"`
				HeldOut float64 `json:"held_out"`
				Verdict string  `json:"verdict"`
			} `json:"conversion"`
		} `json:"overall"`
	}
	if err := json.Unmarshal(body, &u); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("uplift: %d %s", resp.StatusCode, body)
	}
	if u.Overall.Exposed != 40 || u.Overall.HeldOut != 35 || u.Overall.Conversion.Exposed != 0.5 || u.Overall.Conversion.HeldOut != 0.2 ||
		u.Overall.Conversion.Verdict != "uplift" {
		t.Errorf("uplift %s", body)
	}
	if metric(t, h.http, "posoffer_cloud_decide_arms") != "2" {
		t.Errorf("arms metric %q", metric(t, h.http, "posoffer_cloud_decide_arms"))
	}
}

// TestSuggestionsDashboard: the Suggestions page shows, per offer, the
// suggestions shown and taken, the model's posterior and the uplift
// against the holdout, over the 30 days up to the data's newest checkout.
func TestSuggestionsDashboard(t *testing.T) {
	chrome := findChrome(t)
	h := newHQWith(t, "", "decide: {interval: 200ms}\n")
	store := uniqueID("s")
	at := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	events := decideEvents(store, at, 40, 20, 35, 7)
	// Milk, suggested in 10 more transactions the day before, never taken.
	for _, e := range decideEvents(store, at.Add(-24*time.Hour), 10, 0, 0, 0) {
		if e.Checkout != nil {
			e.Checkout.Decision.Suggested[0].Offer = "milk"
		}
		events = append(events, e)
	}
	publishAs(t, h.connect(t), events)
	hjs, err := jetstream.New(h.connect(t))
	if err != nil {
		t.Fatal(err)
	}
	if !waitFor(20*time.Second, func() bool { m := modelIn(t, hjs); return m != nil && len(m.Arms) == 4 }) {
		t.Fatalf("no model of pastry and milk\n%s", h.logs)
	}

	b := newBrowser(t, chrome, "http://"+h.http)
	b.login(h.token(t, "analyst"))
	b.open("/suggestions")
	b.waitFor("the suggestions loaded", eq(`document.getElementById("main").dataset.loaded`, "true"))
	b.waitFor("pastry's row: 40 shown, 20 taken, uplift",
		and(eq(query(`tr[data-offer="pastry"]`)+"?.dataset.verdict", "uplift"),
			contains(text(query(`tr[data-offer="pastry"]`)), "40"), contains(text(query(`tr[data-offer="pastry"]`)), "20")))
	// Pastry's pooled arm is Beta(21, 21): a mean of 50%.
	if mean := b.eval(query(`tr[data-offer="pastry"]`) + ".dataset.mean"); mean != "0.5" {
		t.Errorf("pastry's posterior mean %s, want 0.5", mean)
	}
	b.waitFor("milk's row, with nobody held out",
		and(eq(query(`tr[data-offer="milk"]`)+"?.dataset.verdict", "too little data"),
			contains(text(query(`tr[data-offer="milk"]`)), "none held out yet")))
	// Overall: 50 exposed transactions (20 + 0 taken), 35 held out (7).
	b.waitFor("the overall verdict", and(eq(text(byID("overall-verdict")), "uplift"),
		eq(data("overall-exposed", "value"), "0.4"), eq(data("overall-held-out", "value"), "0.2")))
	b.waitFor("the per-day chart of suggestions shown",
		and(eq(data("chart-exposures", "total"), "50"), eq(data("chart-exposures", "last"), "40")))
	b.waitFor("the nav link", eq(query(`#nav-suggestions`)+`?.getAttribute("aria-current")`, "page"))
	b.screenshot("suggestions")
	b.checkConsole()
}
