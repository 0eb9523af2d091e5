package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
)

// BenchmarkIngest measures, in one run on one embedded NATS server (every
// write synced before its acknowledgement, as HQ runs it):
//   - publish-ev/s: raw JetStream publishing of b.N events (at least 10,000;
//     async, with ids);
//   - consume-ev/s: raw consuming of them (fetch 500, ack each, no database);
//   - sqlite-ev/s and postgres-ev/s: the ingest into each database (the
//     latter when POSOFFER_TEST_PG_URL is set), each on a consumer of its
//     own over the same events;
//   - postgres-vs-consume: the PostgreSQL ingest rate over the raw consume
//     rate.
//
// Events come as a store makes them: per checkout, the checkout, one or
// two redemptions, a profile delta and two or three impressions.
func BenchmarkIngest(b *testing.B) {
	srv, err := bus.StartServer(b.TempDir(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	ctx := context.Background()
	if _, err := bus.Ensure(ctx, js, 0); err != nil {
		b.Fatal(err)
	}
	events := benchEvents(max(b.N, 10_000)) // rates over fewer are mostly start-up
	b.ResetTimer()

	start := time.Now()
	for _, e := range events {
		data, _ := json.Marshal(e)
		subject, _ := protocol.EventSubject(e.Store, e.Kind)
		for {
			_, err := js.PublishAsync(subject, data, jetstream.WithMsgID(e.ID))
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				b.Fatal(err)
			}
			<-js.PublishAsyncComplete() // the window is full: let it drain
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		b.Fatal("publishing did not complete")
	}
	b.ReportMetric(rate(len(events), time.Since(start)), "publish-ev/s")

	consume := consumer(b, js, "bench-raw")
	start = time.Now()
	for n := 0; n < len(events); {
		batch, err := consume.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			if _, err := protocol.DecodeEvent(m.Data()); err != nil {
				b.Fatal(err)
			}
			m.Ack()
			n++
		}
	}
	consumeRate := rate(len(events), time.Since(start))
	b.ReportMetric(consumeRate, "consume-ev/s")

	ingestInto := func(name, dsn string) float64 {
		db, err := store.Open(ctx, dsn, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		ictx, cancel := context.WithCancel(ctx)
		stored := make(chan int, 1024)
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			Run(ictx, Options{DB: db, JS: js, Consumer: consumer(b, js, "bench-"+name),
				Stored: func(_, total int) { stored <- total }})
		}()
		for n := 0; n < len(events); n += <-stored {
		}
		took := time.Since(start)
		cancel()
		<-done
		return rate(len(events), took)
	}
	b.ReportMetric(ingestInto("sqlite", ""), "sqlite-ev/s")
	if dsn := os.Getenv("POSOFFER_TEST_PG_URL"); dsn != "" {
		pg := ingestInto("postgres", pgSchema(b, dsn))
		b.ReportMetric(pg, "postgres-ev/s")
		b.ReportMetric(pg/consumeRate, "postgres-vs-consume")
	}
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// consumer is a durable consumer of its own over the whole stream.
func consumer(b *testing.B, js jetstream.JetStream, name string) jetstream.Consumer {
	b.Helper()
	st, err := js.Stream(context.Background(), protocol.EventsStream)
	if err != nil {
		b.Fatal(err)
	}
	c, err := st.CreateOrUpdateConsumer(context.Background(), jetstream.ConsumerConfig{Durable: name,
		AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20_000, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// pgSchema makes a schema for the benchmark and returns a DSN using it.
func pgSchema(b *testing.B, dsn string) string {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// benchEvents returns n events as stores make them.
func benchEvents(n int) []*protocol.Event {
	r := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var out []*protocol.Event
	add := func(e protocol.Event) {
		id, _ := uuid.NewV7()
		e.ID = id.String()
		out = append(out, &e)
	}
	for txn := 0; len(out) < n; txn++ {
		at = at.Add(time.Second)
		store := fmt.Sprintf("s%03d", r.IntN(50))
		customer := fmt.Sprintf("%026d", r.IntN(20_000))
		customer = strings.Map(func(c rune) rune { return 'a' + (c - '0') }, customer)
		base := protocol.Event{Store: store, At: at, Terminal: "t01", Txn: fmt.Sprintf("t%d", txn), Customer: customer}
		lines := []protocol.EventLine{{SKU: fmt.Sprintf("S%d", r.IntN(3000)), Qty: 2, Price: 350, Category: "coffee"},
			{SKU: fmt.Sprintf("S%d", r.IntN(3000)), Qty: 1, Price: 280, Category: "pastry"}}
		for range 1 + r.IntN(2) {
			e := base
			e.Kind = protocol.EventRedemption
			e.Redemption = &protocol.RedemptionEvent{Offer: fmt.Sprintf("offer-%02d", r.IntN(40)), Discount: 100}
			add(e)
		}
		ck := base
		ck.Kind = protocol.EventCheckout
		ck.Checkout = &protocol.CheckoutEvent{Lines: lines, Subtotal: 980, Discount: 100, Paid: 880, Currency: "JPY"}
		add(ck)
		pr := base
		pr.Kind = protocol.EventProfile
		pr.Profile = &protocol.ProfileDelta{Visits: 1, Spend: 880, Day: at.Format(time.DateOnly), Items: lines}
		add(pr)
		for i := range 2 + r.IntN(2) {
			im := base
			im.Kind, im.Txn = protocol.EventImpression, ""
			im.Impression = &protocol.ImpressionEvent{Offer: fmt.Sprintf("offer-%02d", r.IntN(40)), Nudge: i == 2}
			add(im)
		}
	}
	return out[:n]
}
