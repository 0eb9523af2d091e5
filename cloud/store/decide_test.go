package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

func TestItemsOf(t *testing.T) {
	got := ItemsOf([]protocol.EventLine{
		{SKU: "COF-1", Qty: 1, Category: "Coffee", Brand: "Acme"},
		{SKU: "COF-2", Qty: 1, Category: "coffee"},
		{SKU: "odd\nsku", Qty: 1},
	})
	want := "brand:acme\ncategory:coffee\nsku:COF-1\nsku:COF-2"
	if got != want {
		t.Fatalf("ItemsOf: %q, want %q", got, want)
	}
	if l := SplitItems(got); len(l) != 4 || l[2] != "sku:COF-1" {
		t.Fatalf("SplitItems: %q", l)
	}
	if SplitItems("") != nil {
		t.Fatal("SplitItems of nothing")
	}
}

// TestDecisions: a checkout's decision and suggestions are kept once,
// however often the event arrives, and a suggestion converted when its
// offer is among the redemptions of the same store, terminal and
// transaction, whichever arrived first.
func TestDecisions(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		ctx := context.Background()
		ck := func(id, terminal, txn string, at time.Time, holdout bool, offers ...string) *protocol.Event {
			e := checkout(id, "s1", txn, "", at, 500, 0, 500)
			e.Terminal = terminal
			d := &protocol.Decision{Context: "anon|morning|all", Policy: protocol.PolicyLearned, Model: 3, Holdout: holdout}
			for _, o := range offers {
				d.Suggested = append(d.Suggested, protocol.Suggested{Offer: o, Kind: protocol.SuggestNudge})
			}
			e.Checkout.Decision = d
			return e
		}
		red := func(id, terminal, txn, offer string) *protocol.Event {
			e := redemption(id, "s1", offer, t0, 10, 0)
			e.Terminal, e.Txn = terminal, txn
			return e
		}
		// The redemption of a first, then its checkout (twice).
		mustWrite(t, db, red("r1", "t1", "a", "coffee"))
		mustWrite(t, db, ck("c1", "t1", "a", t0, false, "coffee", "pastry"))
		if res := mustWrite(t, db, ck("c1", "t1", "a", t0, false, "coffee", "pastry")); res.Added != 0 {
			t.Fatalf("a repeated checkout added %d", res.Added)
		}
		// b: checkout first, then its redemption; and the same offer
		// redeemed at another terminal's transaction b, which is not b.
		mustWrite(t, db, ck("c2", "t1", "b", t0.Add(time.Second), true, "pastry"))
		mustWrite(t, db, red("r2", "t2", "b", "pastry"), red("r3", "t1", "b", "coffee"))
		// A checkout without a decision is no decision.
		mustWrite(t, db, checkout("c3", "s1", "c", "", t0, 100, 0, 100))

		var got []string
		err := db.EachDecision(ctx, t0.UnixMicro(), t0.Add(time.Hour).UnixMicro(), func(d *Decision) error {
			got = append(got, fmt.Sprintf("%s %s %v %d %v", d.ID, d.Group(), d.Holdout, d.Subtotal, d.Suggested))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"c1 all false 500 [{coffee nudge true} {pastry nudge false}]", "c2 all true 500 [{pastry nudge false}]"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("decisions\n%q\nwant\n%q", got, want)
		}
		mustWrite(t, db, red("r4", "t1", "b", "pastry"))
		got = got[:0]
		db.EachDecision(ctx, t0.Add(time.Second).UnixMicro(), t0.Add(time.Hour).UnixMicro(), func(d *Decision) error {
			got = append(got, fmt.Sprint(d.ID, d.Suggested))
			return nil
		})
		if fmt.Sprint(got) != "[c2[{pastry nudge true}]]" {
			t.Fatalf("after the redemption at its terminal: %q", got)
		}

		var baskets int
		if err := db.EachBasket(ctx, t0.UnixMicro(), func(b *Basket) {
			baskets++
			if b.Items != "sku:COF-001" {
				t.Errorf("basket items %q", b.Items)
			}
		}); err != nil || baskets != 3 {
			t.Fatalf("%d baskets (%v)", baskets, err)
		}
		st, err := db.DecideStamp(ctx)
		if err != nil || st.Checkouts != 3 || st.Redemptions != 4 || st.NewestUS != t0.Add(time.Second).UnixMicro() {
			t.Fatalf("stamp %+v (%v)", st, err)
		}
	})
}

func TestSaveModel(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		ctx := context.Background()
		if _, err := db.LastModel(ctx); !errors.Is(err, ErrNoModel) {
			t.Fatalf("empty: %v", err)
		}
		if err := db.SaveModel(ctx, 0, &PublishedModel{Revision: 1, Seq: 10, Hash: "h1", Doc: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveModel(ctx, 0, &PublishedModel{Revision: 1, Seq: 11, Hash: "h2", Doc: []byte(`{}`)}); !errors.Is(err, ErrModelRace) {
			t.Fatalf("a save over a stale revision: %v", err)
		}
		if err := db.SaveModel(ctx, 1, &PublishedModel{Revision: 2, Seq: 12, Hash: "h3", Doc: []byte(`{"a":1}`)}); err != nil {
			t.Fatal(err)
		}
		m, err := db.LastModel(ctx)
		if err != nil || m.Revision != 2 || m.Seq != 12 || m.Hash != "h3" || string(m.Doc) != `{"a":1}` {
			t.Fatalf("last %+v (%v)", m, err)
		}
	})
}
