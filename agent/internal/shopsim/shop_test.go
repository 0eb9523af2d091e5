package shopsim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// fakeTill answers as an agent with report_candidates would: the offers
// that apply (by the catalog's evaluator), every offer of cands that does
// not apply yet as a candidate, and the first k of them as suggestions
// unless the customer is held out.
type fakeTill struct {
	w       *World
	cands   []string
	k       int
	holdout bool
	sent    []*protocol.Message
}

func (f *fakeTill) Send(m *protocol.Message) (*protocol.Message, error) {
	f.sent = append(f.sent, m)
	if m.Type == protocol.TypeCheckout {
		return &protocol.Message{V: protocol.Version, Type: protocol.TypeAck, Re: m.ID}, nil
	}
	r := &protocol.Message{V: protocol.Version, Type: protocol.TypeOffers, Re: m.ID, Holdout: f.holdout}
	applied := f.w.applied(m.Lines)
	for _, o := range f.w.Catalog.Offers() {
		if applied[o.ID] {
			r.Offers = append(r.Offers, protocol.Offer{ID: o.ID, Discount: 10})
		}
	}
	for _, id := range f.cands {
		if !applied[id] {
			r.Candidates = append(r.Candidates, protocol.Suggestion{Offer: id, Kind: protocol.SuggestCrossSell})
		}
	}
	if !f.holdout {
		r.Suggestions = r.Candidates[:min(f.k, len(r.Candidates))]
	}
	return r, nil
}

func shopWorld(t *testing.T, take, baseline string) *World {
	t.Helper()
	cat := `{"version": 1, "offers": [
	  {"id": "tea-free", "status": "active", "condition": {"items": {"categories": ["bento"]}}, "reward": {"type": "free_item", "target": {"categories": ["tea"]}, "qty": 1}},
	  {"id": "cake-off", "status": "active", "condition": {"items": {"categories": ["bento"]}}, "reward": {"type": "amount_off", "target": {"categories": ["cake"]}, "amount": 50}}
	]}`
	pop := `version: 1
products:
  - {sku: TEA, category: tea, price: 150}
  - {sku: CAKE, category: cake, price: 300}
segments:
  - id: lunch
    share: 1
    buys:
      - {sku: BENTO, category: bento, price: 600, often: 1}
    take: {tea-free: ` + take + `, cake-off: 0}
    baseline: {tea-free: ` + baseline + `, cake-off: 0}
`
	w, err := Parse("c.json", []byte(cat), "p.yaml", []byte(pop))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestShop(t *testing.T) {
	at := time.Date(2026, 3, 2, 12, 30, 0, 0, time.UTC)
	type want struct {
		tea                    bool
		converted              int
		learned, fixed, oracle float64
		uplift, effect         float64
		upliftKnown            bool
	}
	for _, tc := range []struct {
		name           string
		take, baseline string
		cands          []string
		holdout        bool
		k              int
		want           want
	}{
		// Shown, always taken: the tea is added, and the offer redeemed.
		{"taken", "1", "0", []string{"tea-free", "cake-off"}, false, 1, want{true, 1, 1, 1, 1, 1, 1, true}},
		// One suggestion: the fixed rule's first (cake-off) is shown; the
		// oracle would have shown tea-free, which is never seen, so never
		// taken.
		{"not shown", "1", "0", []string{"cake-off", "tea-free"}, false, 1, want{false, 0, 0, 0, 1, 0, 0, true}},
		// Never taken, never bought: nothing added.
		{"declined", "0", "0", []string{"tea-free", "cake-off"}, false, 2, want{false, 0, 0, 0, 0, 0, 0, true}},
		// Held out: nothing shown, so nothing taken; the would-be
		// suggestions are not reported, so the uplift is unknown.
		{"held out", "1", "0", []string{"tea-free", "cake-off"}, true, 2, want{false, 0, 0, 0, 0, 0, 0, false}},
		// Held out, but bought anyway: redeemed, not a conversion of
		// anything shown.
		{"held out, anyway", "0", "1", []string{"tea-free", "cake-off"}, true, 2, want{true, 0, 0, 0, 0, 0, 0, false}},
		// Shown and bought anyway: converted, but no effect of showing.
		{"anyway", "0", "1", []string{"tea-free", "cake-off"}, false, 2, want{true, 1, 1, 1, 1, 0, 0, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			world := shopWorld(t, tc.take, tc.baseline)
			till := &fakeTill{w: world, cands: tc.cands, k: tc.k, holdout: tc.holdout}
			v := Visit{Day: 3, At: at, Segment: &world.Population.Segments[0], Customer: "4900000000001", Txn: "d003-00001"}
			got, err := world.Shop(till, rand.New(rand.NewPCG(1, 2)), v, tc.k, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			last := till.sent[len(till.sent)-1]
			if last.Type != protocol.TypeCheckout || last.Txn != v.Txn || last.TS != "2026-03-02T12:32:00Z" {
				t.Fatalf("last message %+v, want the checkout at 12:32", last)
			}
			hasTea := slices.ContainsFunc(last.Lines, func(l protocol.Line) bool { return l.SKU == "TEA" })
			applied := slices.ContainsFunc(last.Applied, func(a protocol.Applied) bool { return a.Offer == "tea-free" })
			w := tc.want
			switch {
			case hasTea != w.tea || applied != w.tea:
				t.Errorf("tea in the basket %v, tea-free applied %v; want %v", hasTea, applied, w.tea)
			case got.Holdout != tc.holdout || got.Converted != w.converted:
				t.Errorf("holdout %v converted %d; want %v, %d", got.Holdout, got.Converted, tc.holdout, w.converted)
			case got.Learned != w.learned || got.Fixed != w.fixed || got.Oracle != w.oracle:
				t.Errorf("learned %g fixed %g oracle %g; want %g %g %g", got.Learned, got.Fixed, got.Oracle, w.learned, w.fixed, w.oracle)
			case got.Uplift != w.uplift || got.UpliftKnown != w.upliftKnown || got.Effect != w.effect || !got.Decided:
				t.Errorf("uplift %g known %v effect %g decided %v; want %g %v %g", got.Uplift, got.UpliftKnown, got.Effect, got.Decided, w.uplift, w.upliftKnown, w.effect)
			}
		})
	}
}
