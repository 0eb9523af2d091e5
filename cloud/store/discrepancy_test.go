package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

func discrepancy(id, store, terminal, offer string, at time.Time, claimed, honoured int64) *protocol.Event {
	return &protocol.Event{ID: id, Kind: protocol.EventDiscrepancy, Store: store, At: at, Terminal: terminal,
		Txn: "txn-" + id, Discrepancy: &protocol.DiscrepancyEvent{Offer: offer, Claimed: claimed, Honoured: honoured}}
}

func TestDiscrepancies(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		ctx := context.Background()
		batch := []*protocol.Event{
			discrepancy("d1", "s001", "t1", "coffee-2-pastry", t0, 999_999, 280),
			discrepancy("d2", "s001", "t1", "forged", t0.Add(time.Minute), 500, 0),
			discrepancy("d3", "s001", "t2", "coffee-2-pastry", t0.Add(2*time.Minute), 300, 280),
			discrepancy("d4", "s002", "t1", "coffee-2-pastry", t0.Add(3*time.Minute), 100, 0),
			// The honoured part, as the redemption that came with d1.
			redemption("r1", "s001", "coffee-2-pastry", t0, 280, 0),
		}
		if res := mustWrite(t, db, batch...); res.Added != len(batch) {
			t.Fatalf("added %d, want %d", res.Added, len(batch))
		}
		// Delivered again: stored once.
		if res := mustWrite(t, db, batch[0], batch[1]); res.Added != 0 {
			t.Fatalf("a redelivery added %d", res.Added)
		}

		all, next, err := db.Discrepancies(ctx, DiscrepancyFilter{})
		if err != nil || next != "" || len(all) != 4 {
			t.Fatalf("all: %d, %q, %v", len(all), next, err)
		}
		want := Discrepancy{ID: "d1", Store: "s001", Terminal: "t1", Txn: "txn-d1", Offer: "coffee-2-pastry",
			Claimed: 999_999, Honoured: 280, Excess: 999_719, At: t0}
		if all[3] != want {
			t.Fatalf("oldest %+v, want %+v", all[3], want)
		}
		got, _, err := db.Discrepancies(ctx, DiscrepancyFilter{Store: "s001", Terminal: "t1"})
		if err != nil || len(got) != 2 || got[0].ID != "d2" || got[1].ID != "d1" {
			t.Fatalf("s001/t1: %+v, %v", got, err)
		}
		got, _, err = db.Discrepancies(ctx, DiscrepancyFilter{From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)})
		if err != nil || len(got) != 2 || got[0].ID != "d3" || got[1].ID != "d2" {
			t.Fatalf("[t0+1m, t0+3m): %+v, %v", got, err)
		}
		// Pages of one visit each once.
		var ids []string
		f := DiscrepancyFilter{Limit: 1}
		for {
			page, next, err := db.Discrepancies(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range page {
				ids = append(ids, d.ID)
			}
			if next == "" {
				break
			}
			f.After = next
		}
		if len(ids) != 4 || ids[0] != "d4" || ids[3] != "d1" {
			t.Fatalf("paged: %v", ids)
		}
		if _, _, err := db.Discrepancies(ctx, DiscrepancyFilter{After: "!"}); !errors.Is(err, ErrBadQuery) {
			t.Fatalf("bad cursor: %v", err)
		}

		sum, err := db.DiscrepancySummary(ctx, DiscrepancyFilter{})
		if err != nil || len(sum) != 3 {
			t.Fatalf("summary %+v, %v", sum, err)
		}
		top := DiscrepancySummaryRow{Store: "s001", Terminal: "t1", Discrepancies: 2, Claimed: 1_000_499, Honoured: 280,
			Excess: 1_000_219, First: t0, Last: t0.Add(time.Minute)}
		if sum[0] != top || sum[1].Store != "s002" || sum[1].Excess != 100 || sum[2].Terminal != "t2" || sum[2].Excess != 20 {
			t.Fatalf("summary %+v, want %+v first, then s002/t1 and s001/t2 by excess", sum, top)
		}
		if sum, _ := db.DiscrepancySummary(ctx, DiscrepancyFilter{Store: "s002"}); len(sum) != 1 || sum[0].Discrepancies != 1 {
			t.Fatalf("s002 summary %+v", sum)
		}

		// Budgets and reports at HQ see only the honoured amount.
		rows := offerReport(t, db)
		if len(rows) != 1 || rows[0].Discount != 280 {
			t.Fatalf("offer report %+v: want the 280 honoured", rows)
		}
	})
}

func TestDiscrepancyValidation(t *testing.T) {
	for _, e := range []*protocol.Event{
		discrepancy("x1", "s001", "t1", "a", t0, 100, 200),                           // honoured above claimed
		discrepancy("x2", "s001", "t1", "a", t0, 100, 100),                           // nothing in excess
		discrepancy("x3", "s001", "t1", "a", t0, -1, 0),                              // negative
		discrepancy("x4", "s001", "t1", "", t0, 100, 0),                              // no offer
		{ID: "x5", Kind: protocol.EventDiscrepancy, Store: "s001", At: t0, Txn: "x"}, // no part
	} {
		if err := Validate(e); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: %v, want ErrInvalidEvent", e.ID, err)
		}
	}
	e := discrepancy("x6", "s001", "t1", "a", t0, 100, 0)
	e.Txn = ""
	if err := Validate(e); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("no txn: %v", err)
	}
}
