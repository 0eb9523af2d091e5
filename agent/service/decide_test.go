package service

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
	"github.com/posoffer/posoffer/protocol/offer"
)

// decideCatalog: a nudge for a second coffee, and three offers that
// coffee buyers tend to add (the model's rules): a pastry discount with
// no condition (met, nothing to discount yet), a sandwich deal (the basket
// lacks a sandwich), and a muffin deal; plus one for a segment nobody is
// in, which is never a candidate.
const decideCatalog = `{"version":1,"revision":7,
 "segments":[{"id":"vip","when":{"customer":{"visits_min":1000}}}],
 "offers":[
  {"id":"coffee-2","status":"active","stacking":{"priority":5},"condition":{"items":{"categories":["coffee"],"min_qty":2}},
   "reward":{"type":"percent_off","percent":10,"target":{"categories":["coffee"]}}},
  {"id":"pastry-20","status":"active","reward":{"type":"percent_off","percent":20,"target":{"categories":["pastry"]}}},
  {"id":"sandwich-deal","status":"active","condition":{"items":{"categories":["sandwich"]}},
   "reward":{"type":"amount_off","amount":100}},
  {"id":"muffin-deal","status":"active","condition":{"items":{"skus":["MUF"],"min_qty":2}},
   "reward":{"type":"amount_off","amount":50}},
  {"id":"vip-only","status":"active","audience":{"segments_any":["vip"]},
   "reward":{"type":"percent_off","percent":30,"target":{"categories":["tea"]}}}]}`

func decideModel(holdout float64, arms ...decide.Arm) *decide.Model {
	return &decide.Model{Version: decide.ModelVersion, Revision: 3, Holdout: holdout,
		Rules: []decide.Rule{
			{If: "category:coffee", Offer: "pastry-20", Support: 0.1, Confidence: 0.4, Lift: 2, N: 100},
			{If: "category:coffee", Offer: "sandwich-deal", Support: 0.1, Confidence: 0.3, Lift: 1.5, N: 100},
			{If: "sku:C", Offer: "muffin-deal", Support: 0.1, Confidence: 0.2, Lift: 1.2, N: 100},
			{If: "category:coffee", Offer: "vip-only", Support: 0.1, Confidence: 0.5, Lift: 3, N: 100},
			{Group: "north", If: "category:coffee", Offer: "muffin-deal", Support: 0.1, Confidence: 0.2, Lift: 9, N: 100},
		},
		Arms: arms}
}

type decideFixture struct {
	svc *Service
	db  *store.Store
	now time.Time
}

func newDecideFixture(t testing.TB, d Decide, m *decide.Model) *decideFixture {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "agent.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &decideFixture{db: db, now: time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)}
	svc, err := New(db, Options{Store: "s001", TenantKey: []byte("0123456789abcdef0123"), MaxNudges: 3,
		Now: func() time.Time { return f.now }, Decide: d})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	cat, err := offer.Parse([]byte(decideCatalog))
	if err != nil {
		t.Fatal(err)
	}
	svc.SetCatalog(cat)
	if m != nil {
		svc.SetModel(m)
	}
	t.Cleanup(func() { svc.Close(); db.Close() })
	return f
}

// coffeeBasket is one coffee, identified by customer when not "".
func coffeeBasket(txn, customer string) string {
	c := ""
	if customer != "" {
		c = `"customer":"` + customer + `",`
	}
	return `{"v":1,"type":"basket","id":"b-` + txn + `","txn":"` + txn + `",` + c +
		`"lines":[{"sku":"C","qty":1,"price":350,"category":"coffee"}]}`
}

func coffeeCheckout(txn, customer string, applied string) string {
	c := ""
	if customer != "" {
		c = `"customer":"` + customer + `",`
	}
	return `{"v":1,"type":"checkout","id":"c-` + txn + `","txn":"` + txn + `",` + c + `"paid":350,"applied":[` + applied + `],` +
		`"lines":[{"sku":"C","qty":1,"price":350,"category":"coffee"}]}`
}

func (f *decideFixture) send(t testing.TB, terminal, msg string) *protocol.Message {
	t.Helper()
	r := f.svc.Handle(context.Background(), terminal, []byte(msg))
	if r.Type == protocol.TypeError {
		t.Fatalf("%.80s: %s %s", msg, r.Code, r.Message)
	}
	return r
}

// checkouts returns the checkout events in the outbox, by txn.
func (f *decideFixture) checkouts(t testing.TB) map[string]*protocol.Event {
	t.Helper()
	pend, err := f.db.Peek(1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*protocol.Event{}
	for _, p := range pend {
		e, err := protocol.DecodeEvent(p.Event)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == protocol.EventCheckout {
			out[e.Txn] = e
		}
	}
	return out
}

func offersOf(s []protocol.Suggestion) []string {
	var ids []string
	for _, x := range s {
		ids = append(ids, x.Offer)
	}
	return ids
}

func TestSuggestionsAndDecisionRecord(t *testing.T) {
	f := newDecideFixture(t, Decide{ReportCandidates: true, Seed: 1}, decideModel(0))
	r := f.send(t, "t1", coffeeBasket("T1", ""))
	// Candidates in the fixed rule's order: the nudge, then cross-sells by
	// lift; vip-only is for a segment this customer is not in.
	want := []string{"coffee-2", "pastry-20", "sandwich-deal", "muffin-deal"}
	if got := offersOf(r.Candidates); !slices.Equal(got, want) {
		t.Fatalf("candidates %v, want %v", got, want)
	}
	byID := map[string]protocol.Suggestion{}
	for _, c := range r.Candidates {
		byID[c.Offer] = c
	}
	if c := byID["coffee-2"]; c.Kind != protocol.SuggestNudge || c.Missing == nil || c.Missing.Qty != 1 {
		t.Errorf("nudge candidate %+v", c)
	}
	if c := byID["pastry-20"]; c.Kind != protocol.SuggestCrossSell || c.Missing != nil {
		t.Errorf("pastry-20 candidate %+v: a cross-sell whose condition holds lacks nothing", c)
	}
	if c := byID["sandwich-deal"]; c.Missing == nil || c.Missing.Qty != 1 || !strings.HasPrefix(c.Text, "Add 1 ") {
		t.Errorf("sandwich-deal candidate %+v: the basket lacks one sandwich", c)
	}
	if c := byID["muffin-deal"]; c.Missing == nil || c.Missing.Qty != 2 {
		t.Errorf("muffin-deal candidate %+v: the basket lacks two muffins", c)
	}
	if len(r.Suggestions) != decide.DefaultMaxSuggestions || r.Holdout {
		t.Fatalf("suggestions %+v (holdout %v), want %d", r.Suggestions, r.Holdout, decide.DefaultMaxSuggestions)
	}
	for _, s := range r.Suggestions {
		if s.Why != "new suggestion, still learning" {
			t.Errorf("why %q without data", s.Why)
		}
	}
	var nudges []string
	for _, s := range r.Suggestions {
		if s.Kind == protocol.SuggestNudge {
			nudges = append(nudges, s.Offer)
		}
	}
	var gotNudges []string
	for _, n := range r.Nudges {
		gotNudges = append(gotNudges, n.Offer)
	}
	if !slices.Equal(nudges, gotNudges) {
		t.Errorf("reply nudges %v, want the chosen nudges %v", gotNudges, nudges)
	}
	first := offersOf(r.Suggestions)
	// The same basket again keeps its draws: the same suggestions.
	if again := f.send(t, "t1", coffeeBasket("T1", "")); !slices.Equal(offersOf(again.Suggestions), first) {
		t.Errorf("basket sent again suggests %v, first %v", offersOf(again.Suggestions), first)
	}
	f.send(t, "t1", coffeeCheckout("T1", "", ""))
	e := f.checkouts(t)["T1"]
	if e == nil || e.Checkout.Decision == nil {
		t.Fatalf("checkout event %+v has no decision", e)
	}
	d := e.Checkout.Decision
	if d.Context != "taste:coffee|morning|all" || d.Policy != protocol.PolicyLearned || d.Model != 3 || d.Holdout {
		t.Errorf("decision %+v", d)
	}
	var suggested []string
	for _, s := range d.Suggested {
		suggested = append(suggested, s.Offer)
	}
	if !slices.Equal(suggested, first) {
		t.Errorf("decision suggested %v, want %v", suggested, first)
	}
}

// TestStoreGroupRules: a store group's own rules come before the rules
// over all stores for the same item.
func TestStoreGroupRules(t *testing.T) {
	f := newDecideFixture(t, Decide{ReportCandidates: true, Group: "north", Policy: protocol.PolicyFixed}, decideModel(0))
	r := f.send(t, "t1", coffeeBasket("T1", ""))
	// category:coffee has a north rule (muffin-deal), so the all-stores
	// rules of category:coffee are not used; sku:C has none in north.
	if got, want := offersOf(r.Candidates), []string{"coffee-2", "muffin-deal"}; !slices.Equal(got, want) {
		t.Fatalf("candidates %v, want %v", got, want)
	}
	if r.Suggestions[1].Why != "bought with coffee 9.0x as often as by others" {
		t.Errorf("why %q", r.Suggestions[1].Why)
	}
}

func TestFixedPolicyAndV1Nudges(t *testing.T) {
	f := newDecideFixture(t, Decide{Policy: protocol.PolicyFixed, MaxSuggestions: 1}, nil)
	r := f.send(t, "t1", coffeeBasket("T1", ""))
	// Without a model there are no cross-sells; the nudge is suggested and
	// sent as a nudge, which is all a v1 terminal reads.
	if len(r.Suggestions) != 1 || r.Suggestions[0].Offer != "coffee-2" || len(r.Nudges) != 1 || r.Nudges[0].Offer != "coffee-2" ||
		r.Nudges[0].Missing.Qty != 1 || r.Nudges[0].Text == "" {
		t.Fatalf("reply %+v", r)
	}
	if r.Candidates != nil {
		t.Errorf("candidates sent without report_candidates: %+v", r.Candidates)
	}
	f.send(t, "t1", coffeeCheckout("T1", "", ""))
	d := f.checkouts(t)["T1"].Checkout.Decision
	if d == nil || d.Policy != protocol.PolicyFixed || d.Model != 0 || len(d.Suggested) != 1 || d.Suggested[0].Kind != protocol.SuggestNudge {
		t.Fatalf("decision %+v", d)
	}
}

func TestSeededChoiceIsReproducible(t *testing.T) {
	run := func(seed int64) []string {
		f := newDecideFixture(t, Decide{Seed: seed, MaxSuggestions: 1}, decideModel(0))
		var out []string
		for i := range 40 {
			r := f.send(t, "t1", coffeeBasket(fmt.Sprintf("T%d", i), ""))
			out = append(out, strings.Join(offersOf(r.Suggestions), ","))
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Fatalf("the same seed chose differently:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatalf("seeds 7 and 8 chose alike in 40 transactions: %v", a)
	}
}

// TestLearnedChoiceExploitsAndExplores: a suggestion HQ's posterior
// clearly favours is chosen almost always; without data each candidate
// gets a fair share.
func TestLearnedChoiceExploitsAndExplores(t *testing.T) {
	count := func(m *decide.Model) map[string]int {
		f := newDecideFixture(t, Decide{MaxSuggestions: 1, Seed: 42}, m)
		n := map[string]int{}
		for i := range 400 {
			r := f.send(t, "t1", coffeeBasket(fmt.Sprintf("T%d", i), ""))
			if len(r.Suggestions) != 1 {
				t.Fatalf("suggestions %+v, want 1", r.Suggestions)
			}
			n[r.Suggestions[0].Offer]++
		}
		return n
	}
	ctx := "taste:coffee|morning|all"
	favoured := count(decideModel(0,
		decide.Arm{Offer: "sandwich-deal", Context: ctx, Alpha: 300, Beta: 700, Exposures: 1000, Conversions: 299},
		decide.Arm{Offer: "coffee-2", Context: decide.AllContexts, Alpha: 20, Beta: 980, Exposures: 1000, Conversions: 19},
		decide.Arm{Offer: "pastry-20", Context: ctx, Alpha: 30, Beta: 970, Exposures: 1000, Conversions: 29},
		decide.Arm{Offer: "muffin-deal", Context: decide.AllContexts, Alpha: 10, Beta: 490, Exposures: 500, Conversions: 9}))
	if favoured["sandwich-deal"] < 380 {
		t.Errorf("the favoured suggestion was chosen %d of 400 times: %v", favoured["sandwich-deal"], favoured)
	}
	fresh := count(decideModel(0))
	for _, id := range []string{"coffee-2", "pastry-20", "sandwich-deal", "muffin-deal"} {
		if fresh[id] < 60 { // a fair share is 100
			t.Errorf("without data %s was chosen %d of 400 times: %v", id, fresh[id], fresh)
		}
	}
}

func TestWhy(t *testing.T) {
	ctx := "taste:coffee|morning|all"
	f := newDecideFixture(t, Decide{MaxSuggestions: 4, ReportCandidates: true}, decideModel(0,
		decide.Arm{Offer: "sandwich-deal", Context: ctx, Alpha: 413, Beta: 793, Exposures: 1204, Conversions: 412},
		decide.Arm{Offer: "pastry-20", Context: decide.AllContexts, Alpha: 11, Beta: 11, Exposures: 20, Conversions: 10},
		decide.Arm{Offer: "muffin-deal", Context: ctx, Alpha: 2, Beta: 18, Exposures: 19, Conversions: 1}))
	r := f.send(t, "t1", coffeeBasket("T1", ""))
	got := map[string]string{}
	for _, s := range r.Suggestions {
		got[s.Offer] = s.Why
	}
	want := map[string]string{
		"sandwich-deal": "taken by 34% of similar customers, n=1,204",
		"pastry-20":     "taken by 50% of customers, n=20",
		"muffin-deal":   "new suggestion, still learning",
		"coffee-2":      "new suggestion, still learning",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: why %q, want %q", id, got[id], w)
		}
	}
}

// TestHoldout: a held-out customer's reply has no suggestions and no
// nudges, while the checkout records what would have been suggested.
func TestHoldout(t *testing.T) {
	f := newDecideFixture(t, Decide{ReportCandidates: true}, decideModel(0.5))
	var in, out int
	for i := 0; i < 200 && (in < 5 || out < 5); i++ {
		txn := fmt.Sprintf("T%d", i)
		r := f.send(t, "t1", coffeeBasket(txn, ""))
		held := decide.InHoldout(decide.HoldoutID("", "s001", "t1", txn), 0.5)
		if r.Holdout != held {
			t.Fatalf("%s: reply holdout %v, want %v", txn, r.Holdout, held)
		}
		f.send(t, "t1", coffeeCheckout(txn, "", ""))
		d := f.checkouts(t)[txn].Checkout.Decision
		if d == nil || d.Holdout != held || len(d.Suggested) != decide.DefaultMaxSuggestions {
			t.Fatalf("%s: decision %+v, want holdout %v and %d suggested", txn, d, held, decide.DefaultMaxSuggestions)
		}
		if held {
			in++
			if len(r.Suggestions) != 0 || len(r.Nudges) != 0 {
				t.Fatalf("%s: held out, but the reply suggests %+v and nudges %+v", txn, r.Suggestions, r.Nudges)
			}
		} else {
			out++
			if len(r.Suggestions) != decide.DefaultMaxSuggestions {
				t.Fatalf("%s: exposed, but the reply suggests %+v", txn, r.Suggestions)
			}
		}
	}
	if in < 5 || out < 5 {
		t.Fatalf("%d held out and %d exposed of 200 at a share of 0.5", in, out)
	}
	// Identified customers: the holdout hangs on the customer, whatever
	// the transaction.
	key := CustomerKey([]byte("0123456789abcdef0123"), loyaltyID)
	held := decide.InHoldout(key, 0.5)
	for i := range 5 {
		if r := f.send(t, "t2", coffeeBasket(fmt.Sprintf("C%d", i), loyaltyID)); r.Holdout != held {
			t.Fatalf("customer's transaction %d: holdout %v, want %v", i, r.Holdout, held)
		}
	}
}

func TestVoidForgetsDecision(t *testing.T) {
	f := newDecideFixture(t, Decide{}, decideModel(0))
	f.send(t, "t1", coffeeBasket("T1", ""))
	f.send(t, "t1", `{"v":1,"type":"void","id":"v-1","txn":"T1"}`)
	f.send(t, "t1", `{"v":1,"type":"checkout","id":"c-T1","txn":"T1","paid":0,"lines":[{"sku":"Z","qty":1,"price":0}]}`)
	if d := f.checkouts(t)["T1"].Checkout.Decision; d != nil {
		t.Fatalf("a voided transaction's decision reached its checkout: %+v", d)
	}
}

func TestTerminalClock(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "agent.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := New(db, Options{Store: "s001", TenantKey: []byte("0123456789abcdef0123"), Location: time.FixedZone("JST", 9*3600),
		TerminalClock: true, Decide: Decide{ReportCandidates: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	cat, err := offer.Parse([]byte(decideCatalog))
	if err != nil {
		t.Fatal(err)
	}
	svc.SetCatalog(cat)
	svc.SetModel(decideModel(0))
	ctx := context.Background()
	for _, msg := range []string{coffeeBasket("T1", ""), coffeeCheckout("T1", "", "")} {
		if r := svc.Handle(ctx, "t1", []byte(msg)); r.Type != protocol.TypeError || r.Code != protocol.CodeBadMessage ||
			!strings.Contains(r.Message, "ts") {
			t.Fatalf("without ts: %+v, want a bad_message error about ts", r)
		}
	}
	ts := `"ts":"2026-11-23T10:15:00Z",` // 19:15 in the store: evening
	b := strings.Replace(coffeeBasket("T1", ""), `"txn"`, ts+`"txn"`, 1)
	if r := svc.Handle(ctx, "t1", []byte(b)); r.Type != protocol.TypeOffers {
		t.Fatalf("basket with ts: %+v", r)
	}
	c := strings.Replace(coffeeCheckout("T1", "", ""), `"txn"`, ts+`"txn"`, 1)
	if r := svc.Handle(ctx, "t1", []byte(c)); r.Type != protocol.TypeAck {
		t.Fatalf("checkout with ts: %+v", r)
	}
	pend, _ := db.Peek(100)
	for _, p := range pend {
		e, _ := protocol.DecodeEvent(p.Event)
		if e.Kind != protocol.EventCheckout {
			continue
		}
		if !e.At.Equal(time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)) || e.Checkout.Decision == nil ||
			e.Checkout.Decision.Context != "taste:coffee|evening|all" {
			t.Fatalf("checkout event at %v, decision %+v", e.At, e.Checkout.Decision)
		}
		return
	}
	t.Fatal("no checkout event")
}

// A basket's category matches rules lowercased.
func TestRuleCategoryCase(t *testing.T) {
	f := newDecideFixture(t, Decide{ReportCandidates: true}, decideModel(0))
	r := f.send(t, "t1", `{"v":1,"type":"basket","id":"b-1","txn":"T1","lines":[{"sku":"X","qty":1,"price":350,"category":"COFFEE"}]}`)
	if got := offersOf(r.Candidates); !slices.Contains(got, "pastry-20") || slices.Contains(got, "coffee-2") {
		t.Fatalf("candidates %v: want the cross-sells of category:coffee, and no nudge (offer selectors are case-sensitive)", got)
	}
}

// Terminals choose at the same time; each checkout records its own
// transaction's decision (run with -race).
func TestConcurrentTerminalsDecide(t *testing.T) {
	f := newDecideFixture(t, Decide{Seed: 3}, decideModel(0))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for term := range 4 {
		wg.Go(func() {
			id := fmt.Sprintf("t%d", term)
			for i := range 25 {
				txn := fmt.Sprintf("%s-%d", id, i)
				ctx := context.Background()
				b := f.svc.Handle(ctx, id, []byte(coffeeBasket(txn, "")))
				c := f.svc.Handle(ctx, id, []byte(coffeeCheckout(txn, "", "")))
				if b.Type != protocol.TypeOffers || c.Type != protocol.TypeAck || len(b.Suggestions) != 2 {
					errs <- fmt.Errorf("%s: basket %+v, checkout %+v", txn, b, c)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := f.checkouts(t)
	if len(got) != 100 {
		t.Fatalf("%d checkouts, want 100", len(got))
	}
	for txn, e := range got {
		if d := e.Checkout.Decision; d == nil || len(d.Suggested) != 2 {
			t.Fatalf("%s: decision %+v", txn, d)
		}
	}
}

// A terminal that reads only nudges (v1) gets the chosen nudge there with
// the learned policy too, and before any model.
func TestV1TerminalGetsChosenNudges(t *testing.T) {
	f := newDecideFixture(t, Decide{}, nil)
	shown := 0
	for i := range 20 {
		txn := fmt.Sprintf("T%d", i)
		r := f.send(t, "t1", coffeeBasket(txn, ""))
		if decide.InHoldout(decide.HoldoutID("", "s001", "t1", txn), decide.DefaultHoldout) {
			if len(r.Nudges) != 0 {
				t.Fatalf("%s: held out, but nudged %+v", txn, r.Nudges)
			}
			continue
		}
		if len(r.Nudges) != 1 || r.Nudges[0].Offer != "coffee-2" || r.Nudges[0].Missing.Qty != 1 || len(r.Suggestions) != 1 {
			t.Fatalf("%s: nudges %+v, suggestions %+v", txn, r.Nudges, r.Suggestions)
		}
		shown++
	}
	if shown < 15 {
		t.Fatalf("%d of 20 transactions nudged at the default holdout of %g", shown, decide.DefaultHoldout)
	}
}
