package decide

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// exposures writes n checkouts from at on, an hour apart, each
// suggesting offer in context and redeeming it with chance p.
func exposures(t *testing.T, db *store.DB, r *rand.Rand, at time.Time, n int, ctxKey, offer string, p float64) {
	t.Helper()
	var events []*protocol.Event
	for i := range n {
		x := txn{store: "s1", terminal: "t1", id: newID(),
			at:       at.Add(time.Duration(i) * time.Hour),
			lines:    []protocol.EventLine{line("COF-1", "coffee", "")},
			decision: decision(ctxKey, false, offer)}
		if r.Float64() < p {
			x.redeemed = []string{offer}
		}
		ck, reds := x.events()
		events = append(events, ck)
		events = append(events, reds...)
	}
	write(t, db, events...)
}

// TestLearnFollowsAChange: customers who took an offer half the time stop
// taking it. Twenty days of counts would hold its arm up for a week at a
// 7-day half-life; HQ learns the arm from after the change only, gives the
// other arms of that context their old rate as a light prior only (so the
// till tries them again), and leaves other contexts alone.
func TestLearnFollowsAChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		db := open(t)
		r := rand.New(rand.NewPCG(1, 2))
		morning, evening := "taste:coffee|morning|north", "taste:coffee|evening|north"
		// Before: 20 days of pastry in the morning at 50%, dessert at 20%,
		// and pastry in the evening at 30%.
		before := t0
		exposures(t, db, r, before, 480, morning, "pastry", 0.5)
		exposures(t, db, r, before, 240, morning, "dessert", 0.2)
		exposures(t, db, r, before, 240, evening, "pastry", 0.3)
		// Then, for a day: pastry in the morning at 5%.
		after := before.Add(20 * 24 * time.Hour)
		exposures(t, db, r, after, 40, morning, "pastry", 0.05)

		l, err := Learn(context.Background(), db, settings)
		if err != nil {
			t.Fatal(err)
		}
		m := &l.Model
		mo := arm(m, "pastry", morning)
		if mo == nil || mo.Exposures > 40 || mo.Exposures < 30 {
			t.Fatalf("morning pastry %+v: want the 40 exposures since the change only (decayed a little)", mo)
		}
		if mean := mo.Alpha / (mo.Alpha + mo.Beta); mean > 0.2 {
			t.Errorf("morning pastry's mean %.3f (%+v): it fell to 5%%", mean, mo)
		}
		// Dessert saw nothing since: its prior is its old rate, worth
		// PriorWeight observations at most.
		de := arm(m, "dessert", morning)
		if de == nil || de.Exposures != 0 || de.Alpha+de.Beta > 2+PriorWeight+1e-6 {
			t.Fatalf("morning dessert %+v: want no exposures and at most %d pseudo-observations", de, PriorWeight)
		}
		if mean := de.Alpha / (de.Alpha + de.Beta); mean < 0.15 || mean > 0.35 {
			t.Errorf("morning dessert's mean %.3f: its old rate was 20%% (with Beta(1, 1) under it)", mean)
		}
		// The evening did not change: it keeps all its counts.
		if ev := arm(m, "pastry", evening); ev == nil || ev.Exposures < 40 { // 240 exposures 11 to 21 days old
			t.Errorf("evening pastry %+v: it did not change, and keeps its counts", ev)
		}
		if l.Changes < 1 {
			t.Errorf("%d changes counted", l.Changes)
		}
	})
}

// TestLearnFindsARise: an offer few took becomes popular; the rise is a
// change too, found once there are enough exposures after it.
func TestLearnFindsARise(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		db := open(t)
		r := rand.New(rand.NewPCG(3, 4))
		ctxKey := "taste:snack|afternoon|north"
		exposures(t, db, r, t0, 300, ctxKey, "juice", 0.1)
		exposures(t, db, r, t0.Add(15*24*time.Hour), 30, ctxKey, "juice", 0.6)
		l, err := Learn(context.Background(), db, settings)
		if err != nil {
			t.Fatal(err)
		}
		a := arm(&l.Model, "juice", ctxKey)
		if a == nil || a.Exposures > 30 {
			t.Fatalf("juice %+v: want the 30 exposures since the rise", a)
		}
		if mean := a.Alpha / (a.Alpha + a.Beta); mean < 0.4 {
			t.Errorf("juice's mean %.3f: it rose to 60%%", mean)
		}
	})
}

// TestLearnNoChangeInNoise: an arm whose rate never changed is not cut,
// however its conversions happen to fall, over many draws.
func TestLearnNoChangeInNoise(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		db := open(t)
		r := rand.New(rand.NewPCG(5, 6))
		for i := range 20 {
			exposures(t, db, r, t0, 400, fmt.Sprintf("taste:c%d|morning|north", i), "pastry", 0.3)
		}
		l, err := Learn(context.Background(), db, settings)
		if err != nil {
			t.Fatal(err)
		}
		if l.Changes != 0 {
			t.Errorf("%d changes found in 20 arms whose rate never changed", l.Changes)
		}
		for i := range 20 {
			if a := arm(&l.Model, "pastry", fmt.Sprintf("taste:c%d|morning|north", i)); a == nil || a.Exposures < 150 {
				t.Errorf("arm %d: %+v, want all its exposures", i, a)
			}
		}
		if a := arm(&l.Model, "pastry", decide.AllContexts); a == nil || a.Exposures < 3000 {
			t.Errorf("pooled arm %+v", a)
		}
	})
}

// TestTwoProportionZ checks the test against a worked example and its
// degenerate cases.
func TestTwoProportionZ(t *testing.T) {
	// 10/100 against 30/100: pooled 0.2, se = sqrt(0.2·0.8·0.02) = 0.05657.
	if z := twoProportionZ(10, 100, 30, 100); !near(z, -0.2/0.0565685) {
		t.Errorf("z = %v", z)
	}
	if z := twoProportionZ(0, 50, 0, 50); z != 0 {
		t.Errorf("never converted: z = %v", z)
	}
	if z := twoProportionZ(50, 50, 20, 20); z != 0 {
		t.Errorf("always converted: z = %v", z)
	}
}
