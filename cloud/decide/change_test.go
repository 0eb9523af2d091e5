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

// learnNow learns with the test settings from what db holds.
func learnNow(t *testing.T, db *store.DB) *Learned {
	t.Helper()
	l, err := Learn(context.Background(), db, settings)
	if err != nil {
		t.Fatal(err)
	}
	return l
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

		l := learnNow(t, db)
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
		if de == nil || de.Exposures != 0 || de.Alpha+de.Beta > PriorWeight+1e-3 {
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
		l := learnNow(t, db)
		a := arm(&l.Model, "juice", ctxKey)
		if a == nil || a.Exposures > 30 {
			t.Fatalf("juice %+v: want the 30 exposures since the rise", a)
		}
		if mean := a.Alpha / (a.Alpha + a.Beta); mean < 0.4 {
			t.Errorf("juice's mean %.3f: it rose to 60%%", mean)
		}
	})
}

// TestLearnNoChangeInNoise: arms whose rates never changed are not cut,
// however their conversions happen to fall: at 30%, and at the 2% many
// offers convert at, where a lucky run of conversions is likeliest to
// pass for a change.
func TestLearnNoChangeInNoise(t *testing.T) {
	for _, tc := range []struct {
		rate     float64
		arms, n  int
		seed     uint64
		minCount float64 // the least (decayed) exposures an arm keeps
	}{
		{rate: 0.3, arms: 20, n: 400, seed: 5, minCount: 150},
		{rate: 0.02, arms: 40, n: 500, seed: 9, minCount: 150},
	} {
		t.Run(fmt.Sprint("rate=", tc.rate), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open storetest.Opener) {
				db := open(t)
				r := rand.New(rand.NewPCG(tc.seed, tc.seed+1))
				for i := range tc.arms {
					exposures(t, db, r, t0, tc.n, fmt.Sprintf("taste:c%d|morning|north", i), "pastry", tc.rate)
				}
				l := learnNow(t, db)
				if l.Changes != 0 {
					t.Errorf("%d changes found in %d arms whose rate never changed", l.Changes, tc.arms)
				}
				for i := range tc.arms {
					if a := arm(&l.Model, "pastry", fmt.Sprintf("taste:c%d|morning|north", i)); a == nil ||
						a.Exposures < tc.minCount {
						t.Errorf("arm %d: %+v, want all its exposures", i, a)
					}
				}
			})
		})
	}
}

// TestLikelihoodRatio checks the statistic against a worked example (G
// over the 2×2 table: 2·Σ observed·ln(observed/expected)) and its
// degenerate cases.
func TestLikelihoodRatio(t *testing.T) {
	// 10/100 against 30/100; expected 20 and 80 conversions and misses
	// on each side: 2·(10·ln 0.5 + 90·ln 1.125 + 30·ln 1.5 + 70·ln 0.875).
	if g := likelihoodRatio(10, 100, 30, 100); !near(g, 12.971514) {
		t.Errorf("G = %v, want 12.9715", g)
	}
	if g := likelihoodRatio(0, 50, 0, 50); g != 0 {
		t.Errorf("never converted: G = %v", g)
	}
	if g := likelihoodRatio(50, 50, 20, 20); g != 0 {
		t.Errorf("always converted: G = %v", g)
	}
	if g := likelihoodRatio(20, 50, 40, 100); g > 1e-9 {
		t.Errorf("the same rate: G = %v", g)
	}
}

// TestHistorySplit: a hand-built history, 30% in slots 0 to 4 and 70% in
// slots 5 to 9, 10 exposures each; the change is at slot 5, the newest of
// the older side, and counts(5) holds slots 0 to 4 exactly.
func TestHistorySplit(t *testing.T) {
	h := history{}
	for i := range 10 {
		conv := 3
		if i >= 5 {
			conv = 7
		}
		for j := range 10 {
			h.add(i, 0.5, j < conv)
		}
	}
	x := h.series()
	from, ok := x.change()
	if !ok || from != 5 {
		t.Fatalf("change at %d (%v), want slot 5", from, ok)
	}
	if e, c := x.counts(from, false); !near(e, 25) || !near(c, 7.5) {
		t.Errorf("since the change: %v exposures, %v conversions; want 25 and 7.5 (weight 0.5)", e, c)
	}
	if e, c := x.counts(from, true); !near(e, 25) || !near(c, 17.5) {
		t.Errorf("before the change: %v exposures, %v conversions; want 25 and 17.5", e, c)
	}
	// Fewer than ChangeMinSide on the newer side: no change yet.
	h = history{}
	for j := range 19 {
		h.add(0, 1, j < 0)
	}
	for j := range 100 {
		h.add(1, 1, j < 90)
	}
	if from, ok := h.series().change(); ok {
		t.Errorf("a change at %d with 19 exposures since", from)
	}
}

// TestLearnContextsAndPooledChanges: in a context where two arms changed,
// at different times, the others follow the latest change; the arms over
// all contexts go by their own changes only.
func TestLearnContextsAndPooledChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		db := open(t)
		r := rand.New(rand.NewPCG(7, 8))
		ctxKey := "taste:coffee|morning|north"
		// pastry falls on day 10, dessert on day 15; tea never changes,
		// and is last suggested on day 12.
		exposures(t, db, r, t0, 200, ctxKey, "pastry", 0.6)
		exposures(t, db, r, t0.Add(10*24*time.Hour), 200, ctxKey, "pastry", 0.05)
		exposures(t, db, r, t0, 300, ctxKey, "dessert", 0.5)
		exposures(t, db, r, t0.Add(15*24*time.Hour), 60, ctxKey, "dessert", 0.02)
		exposures(t, db, r, t0.Add(2*24*time.Hour), 240, ctxKey, "tea", 0.2)
		l := learnNow(t, db)
		m := &l.Model
		// tea's exposures all came before dessert's change (the latest):
		// none are left, only its prior.
		tea := arm(m, "tea", ctxKey)
		if tea == nil || tea.Exposures != 0 {
			t.Fatalf("tea %+v: all its exposures are before its context's latest change", tea)
		}
		// pastry keeps what came after its own change, though its
		// context changed again since.
		pa := arm(m, "pastry", ctxKey)
		if pa == nil || pa.Exposures < 60 || pa.Alpha/(pa.Alpha+pa.Beta) > 0.15 {
			t.Fatalf("pastry %+v: want its exposures since its own change, at about 5%%", pa)
		}
		// Over all contexts, tea did not change: it keeps its counts.
		if all := arm(m, "tea", decide.AllContexts); all == nil || all.Exposures < 50 {
			t.Errorf("tea over all contexts %+v: it did not change", all)
		}
		if l.Changes < 4 { // pastry and dessert, in the context and over all
			t.Errorf("%d changes, want at least 4", l.Changes)
		}
	})
}
