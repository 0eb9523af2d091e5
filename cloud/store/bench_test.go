package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/posoffer/posoffer/protocol"
)

// BenchmarkWriteEvents writes batches of 500 new events as stores send them:
// per checkout, the checkout, one or two redemptions, a profile delta with
// three items and two or three impressions; and a heartbeat now and then.
// events/s counts every event of a batch, whatever its kind.
func BenchmarkWriteEvents(b *testing.B) {
	const size = 500
	for _, be := range []struct {
		name   string
		opener func(testing.TB) opener
	}{{"db=sqlite", sqliteOpener}, {"db=postgres", pgOpener}} {
		b.Run(be.name, func(b *testing.B) {
			db := be.opener(b)(b)
			gen := newEventGen(1)
			batches := make([][]*protocol.Event, b.N)
			for i := range batches {
				batches[i] = gen.batch(size)
			}
			b.ResetTimer()
			for _, batch := range batches {
				res, err := db.WriteEvents(context.Background(), batch)
				if err != nil {
					b.Fatal(err)
				}
				if res.Added != len(batch) {
					b.Fatalf("added %d of %d", res.Added, len(batch))
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// eventGen makes realistic batches: 200 stores, 20,000 customers, 40
// offers, 2,000 SKUs.
type eventGen struct {
	r   *rand.Rand
	at  time.Time
	txn int
}

func newEventGen(seed uint64) *eventGen {
	return &eventGen{r: rand.New(rand.NewPCG(seed, 0)), at: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
}

func (g *eventGen) batch(n int) []*protocol.Event {
	var out []*protocol.Event
	add := func(e *protocol.Event) {
		if len(out) < n {
			e.ID = uuid.Must(uuid.NewV7()).String()
			out = append(out, e)
		}
	}
	for len(out) < n {
		g.txn++
		g.at = g.at.Add(time.Duration(g.r.IntN(1000)) * time.Millisecond)
		store := fmt.Sprintf("s%03d", g.r.IntN(200))
		if g.txn%100 == 0 {
			add(&protocol.Event{Kind: protocol.EventHeartbeat, Store: store, At: g.at,
				Heartbeat: &protocol.Heartbeat{Agent: "1.0.0", Catalog: 42, OutboxDepth: int64(g.r.IntN(10))}})
		}
		customer := customerKey(g.r.IntN(20000))
		txn := fmt.Sprintf("t%d-%06d", g.r.IntN(4), g.txn)
		var lines []protocol.EventLine
		var subtotal int64
		for range 3 {
			l := protocol.EventLine{SKU: fmt.Sprintf("SKU-%04d", g.r.IntN(2000)), Qty: 1 + int64(g.r.IntN(3)),
				Price: 100 + int64(g.r.IntN(400)), Category: fmt.Sprintf("cat-%d", g.r.IntN(20))}
			lines = append(lines, l)
			subtotal += l.Qty * l.Price
		}
		base := protocol.Event{Store: store, At: g.at, Terminal: "t1", Txn: txn, Customer: customer}
		var discount int64
		for range 1 + g.r.IntN(2) {
			e := base
			e.Kind = protocol.EventRedemption
			e.Redemption = &protocol.RedemptionEvent{Offer: fmt.Sprintf("offer-%02d", g.r.IntN(40)), Discount: 50,
				Segments: []string{"regulars"}}
			discount += 50
			add(&e)
		}
		ck := base
		ck.Kind = protocol.EventCheckout
		ck.Checkout = &protocol.CheckoutEvent{Lines: lines, Subtotal: subtotal, Discount: discount,
			Paid: subtotal - discount, Currency: "JPY"}
		add(&ck)
		pr := base
		pr.Kind = protocol.EventProfile
		pr.Profile = &protocol.ProfileDelta{Visits: 1, Spend: subtotal - discount, Day: g.at.Format(time.DateOnly),
			Items: lines}
		add(&pr)
		for i := range 2 + g.r.IntN(2) {
			im := protocol.Event{Kind: protocol.EventImpression, Store: store, At: g.at, Customer: customer,
				Impression: &protocol.ImpressionEvent{Offer: fmt.Sprintf("offer-%02d", g.r.IntN(40)), Nudge: i == 2}}
			add(&im)
		}
	}
	return out
}

// customerKey returns the n-th customer_key: n in base 26, in letters.
func customerKey(n int) string {
	b := []byte(strings.Repeat("a", protocol.CustomerKeyLen))
	for i := len(b) - 1; n > 0; i-- {
		b[i] = 'a' + byte(n%26)
		n /= 26
	}
	return string(b)
}
