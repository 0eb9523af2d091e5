package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posoffer/posoffer/protocol"
)

// pgEnv names the PostgreSQL the tests also run against, such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Each test gets a
// schema of its own, dropped when it ends.
const pgEnv = "POSOFFER_TEST_PG_URL"

// opener opens a handle on the database of one test. Each call opens
// another, as another HQ replica would; each is closed when the test ends.
type opener func(t testing.TB) *DB

// eachDB runs test on SQLite and, when pgEnv is set, on PostgreSQL.
func eachDB(t *testing.T, test func(t *testing.T, open opener)) {
	t.Run("db=sqlite", func(t *testing.T) {
		test(t, sqliteOpener(t))
	})
	t.Run("db=postgres", func(t *testing.T) {
		test(t, pgOpener(t))
	})
}

func sqliteOpener(t testing.TB) opener {
	dir := t.TempDir()
	return func(t testing.TB) *DB { return openDB(t, "", dir) }
}

// pgOpener creates a schema for t and returns an opener whose handles use
// it. It skips t when pgEnv is not set.
func pgOpener(t testing.TB) opener {
	t.Helper()
	base := os.Getenv(pgEnv)
	if base == "" {
		t.Skipf("set %s to a PostgreSQL URL to run on PostgreSQL", pgEnv)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin := func(sql string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	admin("CREATE SCHEMA " + schema)
	t.Cleanup(func() { admin("DROP SCHEMA " + schema + " CASCADE") })

	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return func(t testing.TB) *DB { return openDB(t, u.String(), "") }
}

func openDB(t testing.TB, dsn, dir string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Customer keys: 26 characters of a-z and 2-7.
const (
	alice = "aliceaaaaaaaaaaaaaaaaaaaaa"
	bob   = "bobbbbbbbbbbbbbbbbbbbbbbbb"
)

// t0 is a Sunday morning in UTC.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func checkout(id, store, txn, customer string, at time.Time, subtotal, discount, paid int64) *protocol.Event {
	return &protocol.Event{ID: id, Kind: protocol.EventCheckout, Store: store, At: at, Terminal: "t1", Txn: txn,
		Customer: customer, Checkout: &protocol.CheckoutEvent{
			Lines:    []protocol.EventLine{{SKU: "COF-001", Qty: 1, Price: subtotal}},
			Subtotal: subtotal, Discount: discount, Points: 0, Paid: paid, Currency: "JPY"}}
}

func redemption(id, store, offer string, at time.Time, discount, points int64, segments ...string) *protocol.Event {
	return &protocol.Event{ID: id, Kind: protocol.EventRedemption, Store: store, At: at, Terminal: "t1",
		Txn: "txn-" + id, Redemption: &protocol.RedemptionEvent{Offer: offer, Discount: discount, Points: points,
			Segments: segments}}
}

func impression(id, store, offer string, at time.Time, nudge bool) *protocol.Event {
	return &protocol.Event{ID: id, Kind: protocol.EventImpression, Store: store, At: at,
		Impression: &protocol.ImpressionEvent{Offer: offer, Nudge: nudge}}
}

func profile(id, store, customer, day string, spend, points int64, items ...protocol.EventLine) *protocol.Event {
	at, _ := time.Parse(time.DateOnly, day)
	return &protocol.Event{ID: id, Kind: protocol.EventProfile, Store: store, At: at.Add(10 * time.Hour),
		Customer: customer, Profile: &protocol.ProfileDelta{Visits: 1, Spend: spend, Points: points, Day: day,
			Items: items}}
}

func heartbeat(id, store string, at time.Time, agent string, depth int64, alarms ...string) *protocol.Event {
	return &protocol.Event{ID: id, Kind: protocol.EventHeartbeat, Store: store, At: at,
		Heartbeat: &protocol.Heartbeat{Agent: agent, Catalog: 7, OutboxDepth: depth, OutboxOldestMS: 1500,
			Dropped: 2, Alarms: alarms}}
}

func mustWrite(t testing.TB, db *DB, events ...*protocol.Event) Result {
	t.Helper()
	res, err := db.WriteEvents(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// dumpTables lists the tables WriteEvents writes, with the key they are
// ordered by.
var dumpTables = []struct{ table, cols, order string }{
	{"events", "id, kind, store, at_us", "id"},
	{"checkouts", "id, store, terminal, txn, customer, at_us, subtotal, discount, points, paid, currency, items, " +
		"decision_context, decision_policy, decision_model, decision_holdout", "id"},
	{"suggestions", "checkout, offer, kind, ord", "checkout, ord"},
	{"redemptions", "id, store, offer, txn, customer, discount, points, at_us, segments, terminal", "id"},
	{"discrepancies", "id, store, terminal, txn, offer, claimed, honoured, claimed_points, honoured_points, at_us", "id"},
	{"offer_days", "offer, store, day, redemptions, discount, points, impressions, suggested, shown_checkouts, " +
		"shown_redeemed, suggested_checkouts, suggested_redeemed", "offer, store, day"},
	{"store_days", "store, day, checkouts, sales, discount, points, offer_redemptions, offer_discount, offer_points, " +
		"offer_impressions, offer_suggested, offer_shown_checkouts, offer_shown_redeemed, offer_suggested_checkouts, " +
		"offer_suggested_redeemed", "store, day"},
	{"offer_chain_days", "offer, day, redemptions, discount, points, impressions, suggested, shown_checkouts, " +
		"shown_redeemed, suggested_checkouts, suggested_redeemed", "offer, day"},
	{"offer_stores", "offer, store, redemptions, discount, points", "offer, store"},
	{"segment_days", "segment, day, redemptions, discount, points", "segment, day"},
	{"profile_counters", "customer, store, visits, spend, points, first_day, last_day", "customer, store"},
	{"profile_history", "customer, day, sku, category, brand, qty, spend", "customer, day, sku"},
	{"stores", "store, first_event_us, last_event_us, last_seen_us, agent, catalog, outbox_depth, " +
		"outbox_oldest_ms, dropped_impressions, alarms, zone, alarms_since_us", "store"},
}

// dump returns every row WriteEvents wrote, a line per row, so that two
// states of the database compare as strings.
func dump(t testing.TB, db *DB) string {
	t.Helper()
	var b strings.Builder
	for _, d := range dumpTables {
		n := strings.Count(d.cols, ",") + 1
		err := db.each(context.Background(), func(r rows) error {
			vals := make([]any, n)
			ptrs := make([]any, n)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				return err
			}
			fmt.Fprintln(&b, d.table, vals)
			return nil
		}, "SELECT "+d.cols+" FROM "+d.table+" ORDER BY "+d.order)
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func counts(t testing.TB, db *DB) map[string]int64 {
	t.Helper()
	c, err := db.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
