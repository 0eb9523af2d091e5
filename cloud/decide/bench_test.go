package decide

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
)

// benchChain writes n checkouts over 28 days to db: baskets of 3 to 6
// lines out of 400 SKUs in 20 categories, every one with a decision that
// suggests two of 30 offers (one of them taken in a quarter of them) in
// one of 60 contexts; 5% held out.
func benchChain(b *testing.B, db *store.DB, n int) {
	b.Helper()
	for i := range 30 {
		putOffer(b, db, fmt.Sprintf("o%d", i), fmt.Sprintf(`{"items":{"categories":["c%d"]}}`, i%20))
	}
	var batch []*protocol.Event
	for i := range n {
		var lines []protocol.EventLine
		for j := range 3 + i%4 {
			sku := (i*7 + j*13) % 400
			lines = append(lines, line(fmt.Sprintf("SKU-%d", sku), fmt.Sprintf("c%d", sku%20), ""))
		}
		ctxKey := fmt.Sprintf("taste:c%d|%s|g%d", i%6, []string{"morning", "midday", "evening"}[i%3], i%2)
		x := txn{store: fmt.Sprintf("s%d", i%20), terminal: "t1", id: fmt.Sprintf("x%d", i),
			at: t0.Add(time.Duration(i) * 28 * 24 * time.Hour / time.Duration(n)), lines: lines,
			decision: decision(ctxKey, i%20 == 0, fmt.Sprintf("o%d", i%30), fmt.Sprintf("o%d", (i+7)%30))}
		if i%4 == 0 {
			x.redeemed = []string{fmt.Sprintf("o%d", i%30)}
		}
		ck, reds := x.events()
		batch = append(append(batch, ck), reds...)
		if len(batch) >= 1000 || i == n-1 {
			write(b, db, batch...)
			batch = batch[:0]
		}
	}
}

// BenchmarkLearn is one recompute over a month of a chain's checkouts:
// what HQ does every decide.interval when something changed.
func BenchmarkLearn(b *testing.B) {
	dbs := []struct {
		name string
		open func(testing.TB) storetest.Opener
	}{{"sqlite", storetest.SQLite}}
	if os.Getenv("POSOFFER_TEST_PG_URL") != "" {
		dbs = append(dbs, struct {
			name string
			open func(testing.TB) storetest.Opener
		}{"postgres", storetest.Postgres})
	}
	for _, d := range dbs {
		for _, n := range []int{10_000, 40_000} {
			b.Run(fmt.Sprintf("db=%s/checkouts=%d", d.name, n), func(b *testing.B) {
				db := d.open(b)(b)
				benchChain(b, db, n)
				ctx := context.Background()
				st, err := db.DecideStamp(ctx)
				if err != nil {
					b.Fatal(err)
				}
				mined, err := learn(ctx, db, settings, st, nil)
				if err != nil {
					b.Fatal(err)
				}
				// A step between minings: the posteriors alone.
				start := time.Now()
				if _, err := learn(ctx, db, settings, st, mined); err != nil {
					b.Fatal(err)
				}
				posteriorsOnly := time.Since(start)
				var l *Learned
				b.ResetTimer()
				for b.Loop() {
					if l, err = Learn(ctx, db, settings); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/recompute")
				b.ReportMetric(float64(posteriorsOnly.Microseconds())/1000, "ms/posteriors-only")
				b.ReportMetric(float64(len(l.Model.Arms)), "arms")
				b.ReportMetric(float64(len(l.Model.Rules)), "rules")
				if l.Baskets != n {
					b.Fatalf("%d baskets learned from, want %d", l.Baskets, n)
				}
			})
		}
	}
}
