package decide

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

var settings = Settings{Window: 28 * 24 * time.Hour, HalfLife: 7 * 24 * time.Hour, MinSupport: 0.005, MinLift: 1.2,
	Holdout: 0.05, Groups: map[string]string{"s1": "north", "s2": "south"}}

// txn is one checkout to write, with the offers it redeemed.
type txn struct {
	store, terminal, id string
	at                  time.Time
	lines               []protocol.EventLine
	subtotal            int64
	decision            *protocol.Decision
	redeemed            []string
}

func line(sku, category, brand string) protocol.EventLine {
	return protocol.EventLine{SKU: sku, Qty: 1, Price: 100, Category: category, Brand: brand}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// events returns the checkout event of x and its redemption events.
func (x txn) events() (checkout *protocol.Event, redemptions []*protocol.Event) {
	sub := x.subtotal
	if sub == 0 {
		sub = 100 * int64(len(x.lines))
	}
	checkout = &protocol.Event{ID: newID(), Kind: protocol.EventCheckout, Store: x.store, At: x.at, Terminal: x.terminal,
		Txn: x.id, Checkout: &protocol.CheckoutEvent{Lines: x.lines, Subtotal: sub, Paid: sub, Decision: x.decision}}
	for _, o := range x.redeemed {
		redemptions = append(redemptions, &protocol.Event{ID: newID(), Kind: protocol.EventRedemption, Store: x.store,
			At: x.at, Terminal: x.terminal, Txn: x.id, Redemption: &protocol.RedemptionEvent{Offer: o, Discount: 10}})
	}
	return checkout, redemptions
}

func write(t testing.TB, db *store.DB, events ...*protocol.Event) {
	t.Helper()
	if _, err := db.WriteEvents(context.Background(), events); err != nil {
		t.Fatal(err)
	}
}

func putOffer(t testing.TB, db *store.DB, id, condition string) {
	t.Helper()
	doc := fmt.Sprintf(`{"id":%q,"status":"active","condition":%s,"reward":{"type":"amount_off","amount":10}}`, id, condition)
	_, err := db.EditCatalog(context.Background(), store.Actor{Name: "test", Token: "t"}, t0,
		func(*store.Catalog) (*store.Edit, error) {
			return &store.Edit{Action: "create", Kind: store.KindOffer, ID: id, Doc: json.RawMessage(doc), Status: "active"}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func decision(context string, holdout bool, offers ...string) *protocol.Decision {
	d := &protocol.Decision{Context: context, Policy: protocol.PolicyLearned, Model: 1, Holdout: holdout}
	for _, o := range offers {
		d.Suggested = append(d.Suggested, protocol.Suggested{Offer: o, Kind: protocol.SuggestCrossSell})
	}
	return d
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-3 }

func arm(m *decide.Model, offer, context string) *decide.Arm {
	for i := range m.Arms {
		if m.Arms[i].Offer == offer && m.Arms[i].Context == context {
			return &m.Arms[i]
		}
	}
	return nil
}

func rule(m *decide.Model, group, item, offer string) *decide.Rule {
	for i := range m.Rules {
		r := &m.Rules[i]
		if r.Group == group && r.If == item && r.Offer == offer {
			return r
		}
	}
	return nil
}

// TestLearnPosteriors checks the arms against counts worked out by hand:
// decay by data time, the holdout left out, conversions whatever order
// the redemption and the checkout arrive in, and a context shrunk toward
// its offer's pooled rate.
func TestLearnPosteriors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		db := open(t)
		ctx := context.Background()
		morning := "taste:coffee|morning|north"
		evening := "anon|evening|north"
		newest := t0.Add(30 * 24 * time.Hour)
		var txns []txn
		add := func(n int, at time.Time, ctxKey string, holdout bool, converted int) {
			for i := range n {
				x := txn{store: "s1", terminal: "t1", id: fmt.Sprintf("x%d", len(txns)), at: at,
					lines: []protocol.EventLine{line("COF-1", "Coffee", "")}, decision: decision(ctxKey, holdout, "pastry")}
				if i < converted {
					x.redeemed = []string{"pastry"}
				}
				txns = append(txns, x)
			}
		}
		// At the newest time (weight 1): morning 10 exposed, 4 taken;
		// evening 10 exposed, 1 taken. One half-life before: morning 4
		// exposed, 2 taken (weight 0.5). Held out: 20, all taken, which
		// must not count. Before the window (29 days back): ignored.
		add(10, newest, morning, false, 4)
		add(10, newest, evening, false, 1)
		add(4, newest.Add(-7*24*time.Hour), morning, false, 2)
		add(20, newest, morning, true, 20)
		add(5, newest.Add(-29*24*time.Hour), morning, false, 5)
		for i, x := range txns {
			ck, reds := x.events()
			if i%2 == 0 { // the redemptions first, in another batch
				write(t, db, reds...)
				write(t, db, ck)
			} else {
				write(t, db, append(reds, ck)...)
			}
		}
		l, err := Learn(ctx, db, settings)
		if err != nil {
			t.Fatal(err)
		}
		m := &l.Model
		if !m.DataUntil.Equal(newest) || l.Baskets != 44 || l.Decisions != 44 {
			t.Fatalf("data until %v, %d baskets, %d decisions", m.DataUntil, l.Baskets, l.Decisions)
		}
		// Pooled: exposures 10 + 10 + 4×0.5 = 22, conversions 4 + 1 + 1 = 6.
		all := arm(m, "pastry", decide.AllContexts)
		if all == nil || !near(all.Exposures, 22) || !near(all.Conversions, 6) || !near(all.Alpha, 7) || !near(all.Beta, 17) {
			t.Fatalf("pooled arm %+v, want 22 exposures, 6 conversions, Beta(7, 17)", all)
		}
		// Each context shrinks toward its segment over all dayparts (here
		// its own counts: one daypart each), which shrinks toward the
		// offer over all contexts, which shrinks toward Beta(1, 1): the
		// pooled rate is (1+6)/(2+22), worth min(10, 2+22) = 10
		// observations, and so is the segment's.
		// Morning: 12 exposures, 5 conversions.
		pool := 7.0 / 24
		p := (10*pool + 5) / (10 + 12)
		mo := arm(m, "pastry", morning)
		if mo == nil || !near(mo.Exposures, 12) || !near(mo.Conversions, 5) ||
			!near(mo.Alpha, 10*p+5) || !near(mo.Beta, 10*(1-p)+7) {
			t.Fatalf("morning arm %+v, want Beta(%.4f, %.4f)", mo, 10*p+5, 10*(1-p)+7)
		}
		p = (10*pool + 1) / (10 + 10)
		ev := arm(m, "pastry", evening)
		if ev == nil || !near(ev.Alpha, 10*p+1) || !near(ev.Beta, 10*(1-p)+9) {
			t.Fatalf("evening arm %+v, want Beta(%.4f, %.4f)", ev, 10*p+1, 10*(1-p)+9)
		}
		if len(m.Arms) != 3 {
			t.Errorf("%d arms, want 3: %+v", len(m.Arms), m.Arms)
		}
		if err := m.Validate(); err == nil {
			t.Error("a model without a revision validates")
		}
		m.Revision = 1
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLearnRules mines a chain of two groups where coffee buyers take
// pastry: baskets 0-199 in the north, 200-399 in the south.
func TestLearnRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		db := open(t)
		ctx := context.Background()
		putOffer(t, db, "pastry", `{"items":{"categories":["Pastry"]}}`)
		putOffer(t, db, "acme", `{"all":[{"items":{"brands":["Acme"]}},{"not":{"items":{"skus":["COF-1"]}}}]}`)
		putOffer(t, db, "spend", `{"spend":{"min":1000}}`)
		var events []*protocol.Event
		for i := range 400 {
			group, store := "north", "s1"
			if i >= 200 {
				group, store = "south", "s2"
			}
			var lines []protocol.EventLine
			// North: 100 coffee baskets, 60 of them with pastry; 100
			// others, 10 with pastry. South: 100 coffee baskets, 20
			// with pastry; 100 others, 20 with pastry.
			j := i % 200
			coffee := j < 100
			pastry := coffee && (group == "north" && j < 60 || group == "south" && j < 20) ||
				!coffee && (group == "north" && j < 110 || group == "south" && j < 120)
			if coffee {
				lines = append(lines, line("COF-1", "Coffee", "Acme"))
			}
			if pastry {
				lines = append(lines, line("CRO-1", "Pastry", ""))
			}
			if len(lines) == 0 {
				lines = append(lines, line("MILK-1", "Dairy", ""))
			}
			var d *protocol.Decision
			if i%10 == 0 { // the group is known from some decisions only
				d = decision("anon|morning|"+group, false)
			}
			ck, _ := txn{store: store, terminal: "t1", id: fmt.Sprintf("x%d", i), at: t0.Add(time.Duration(i) * time.Minute),
				lines: lines, decision: d}.events()
			events = append(events, ck)
		}
		write(t, db, events...)
		l, err := Learn(ctx, db, settings)
		if err != nil {
			t.Fatal(err)
		}
		m := &l.Model
		// All stores: 200 coffee baskets, 80 with pastry; 110 pastry
		// baskets of 400. Confidence 0.4, lift 0.4 / 0.275.
		r := rule(m, "", "category:coffee", "pastry")
		if r == nil || r.N != 200 || !near(r.Support, 80.0/400) || !near(r.Confidence, 0.4) || !near(r.Lift, 0.4/0.275) {
			t.Fatalf("all stores coffee→pastry %+v", r)
		}
		if r := rule(m, "", "sku:COF-1", "pastry"); r == nil || r.N != 200 {
			t.Errorf("all stores sku:COF-1→pastry %+v", r)
		}
		// North: 60 of 100 coffee baskets, 70 pastry baskets of 200:
		// lift 0.6 / 0.35.
		r = rule(m, "north", "category:coffee", "pastry")
		if r == nil || r.N != 100 || !near(r.Confidence, 0.6) || !near(r.Lift, 0.6/0.35) {
			t.Fatalf("north coffee→pastry %+v", r)
		}
		// South: 20 of 100 against 40 of 200: lift 1, no rule.
		if r := rule(m, "south", "category:coffee", "pastry"); r != nil {
			t.Errorf("south coffee→pastry kept at lift 1: %+v", r)
		}
		// An offer's own items are no rule for it; an offer without items
		// has none; brands are items of offers but never a rule's If.
		for _, x := range m.Rules {
			if x.Offer == "pastry" && x.If == "category:pastry" || x.Offer == "spend" || x.If[:6] == "brand:" {
				t.Errorf("rule %+v", x)
			}
		}
		// The brand offer is on Acme coffee: baskets of dairy never hold
		// it, so no rule from dairy with lift above 1.
		if r := rule(m, "", "category:pastry", "acme"); r == nil || r.N != 110 || !near(r.Confidence, 80.0/110) {
			t.Errorf("pastry→acme %+v", r)
		}
		if l.Baskets != 400 || l.Decisions != 40 {
			t.Errorf("%d baskets, %d decisions", l.Baskets, l.Decisions)
		}
	})
}

// TestLearnIgnoresCheckoutsFromTheFuture: a store whose clock runs days
// ahead must not drag the window past every other store's data.
func TestLearnIgnoresCheckoutsFromTheFuture(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		db := open(t)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		for i, at := range []time.Time{now.Add(-time.Hour), now.Add(MaxAhead + 48*time.Hour)} {
			c, _ := txn{store: "s001", terminal: "t01", id: fmt.Sprint("x", i), at: at,
				lines:    []protocol.EventLine{line("cof-1", "coffee", "")},
				decision: decision("taste:coffee|morning|all", false, "o1")}.events()
			write(t, db, c)
		}
		l, err := Learn(ctx, db, settings)
		if err != nil {
			t.Fatal(err)
		}
		if !l.Model.DataUntil.Equal(now.Add(-time.Hour)) || l.Baskets != 1 {
			t.Errorf("learned until %v from %d baskets; want %v from 1: the checkout %v ahead is left out",
				l.Model.DataUntil, l.Baskets, now.Add(-time.Hour), MaxAhead+48*time.Hour)
		}
	})
}

// TestLearnOldExposuresWeighNothing: exposures so many half-lives old
// that their weight underflows to 0 leave a valid model (no NaN), which
// the agent would otherwise refuse, and HQ would never publish again.
func TestLearnOldExposuresWeighNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		db := open(t)
		s := settings
		s.HalfLife = time.Minute // 2 days are 2,880 half-lives: 2^-2880 is 0
		for i, at := range []time.Time{t0, t0.Add(48 * time.Hour)} {
			offer := "o1"
			if i == 1 {
				offer = "o2"
			}
			c, _ := txn{store: "s001", terminal: "t01", id: fmt.Sprint("x", i), at: at,
				lines:    []protocol.EventLine{line("cof-1", "coffee", "")},
				decision: decision("taste:coffee|morning|all", false, offer)}.events()
			write(t, db, c)
		}
		l, err := Learn(context.Background(), db, s)
		if err != nil {
			t.Fatal(err)
		}
		l.Model.Revision = 1
		if err := l.Model.Validate(); err != nil {
			t.Fatalf("the model learned is refused: %v", err)
		}
		if a := arm(&l.Model, "o1", "taste:coffee|morning|all"); a == nil || a.Alpha != 1 || a.Beta != 1 {
			t.Errorf("o1's context arm %+v, want Beta(1, 1)", a)
		}
	})
}

// TestLearnGroupIsHQs: a store's decisions count in the group HQ puts the
// store in, whatever group they name, so no store adds to another group's
// posteriors and rules, or has HQ keep a group per name it makes up.
func TestLearnGroupIsHQs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		db := open(t)
		for i := range 40 {
			c, _ := txn{store: "s1", terminal: "t1", id: fmt.Sprint("g", i), at: t0.Add(time.Duration(i) * time.Minute),
				lines:    []protocol.EventLine{line("COF-1", "coffee", "")},
				decision: decision(fmt.Sprintf("anon|morning|made-up-%d", i%2), false, "o1")}.events()
			write(t, db, c)
		}
		l, err := Learn(context.Background(), db, settings)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range l.Model.Arms {
			if a.Context != decide.AllContexts && a.Context != "anon|morning|north" {
				t.Errorf("arm in context %q: s1 is in north", a.Context)
			}
		}
		if a := arm(&l.Model, "o1", "anon|morning|north"); a == nil || math.Round(a.Exposures) != 40 {
			t.Errorf("north's arm %+v, want 40 exposures (decayed a little over 40 minutes)", a)
		}
	})
}
