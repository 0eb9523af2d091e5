package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

func TestFixtures(t *testing.T) {
	for _, k := range []string{alice, bob} {
		if !protocol.ValidCustomerKey(k) {
			t.Fatalf("%q is not a customer_key", k)
		}
	}
}

// mixed is a batch with every kind of event, from two stores.
func mixed() []*protocol.Event {
	return []*protocol.Event{
		checkout("e01", "s001", "t1-1", alice, t0, 1000, 100, 900),
		redemption("e02", "s001", "coffee-2-pastry", t0, 100, 0, "regulars"),
		profile("e03", "s001", alice, "2026-11-22", 900, 9, protocol.EventLine{SKU: "COF-001", Qty: 2, Price: 350}),
		impression("e04", "s001", "coffee-2-pastry", t0, false),
		impression("e05", "s001", "spend-3000-300", t0, true),
		heartbeat("e06", "s001", t0, "1.0.0", 3),
		checkout("e07", "s002", "t9-1", "", t0.Add(time.Minute), 500, 0, 500),
		impression("e08", "s002", "coffee-2-pastry", t0.Add(time.Minute), false),
	}
}

func TestWriteEventsExactlyOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		batch := mixed()
		if res := mustWrite(t, db, batch...); res.Added != len(batch) {
			t.Fatalf("first write added %d, want %d", res.Added, len(batch))
		}
		before := dump(t, db)

		if res := mustWrite(t, db, batch...); res.Added != 0 || res.Customers != nil {
			t.Fatalf("the same batch again: %+v, want nothing added", res)
		}
		shuffled := slices.Clone(batch)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if res := mustWrite(t, db, shuffled...); res.Added != 0 {
			t.Fatalf("the batch shuffled: added %d, want 0", res.Added)
		}
		for _, e := range batch {
			if res := mustWrite(t, db, e); res.Added != 0 {
				t.Fatalf("a replay of %s (%s) alone added %d", e.ID, e.Kind, res.Added)
			}
		}
		if after := dump(t, db); after != before {
			t.Fatalf("replays changed the database:\nbefore\n%s\nafter\n%s", before, after)
		}

		// Overlapping: two old events and two new ones, one of them twice.
		overlap := []*protocol.Event{batch[3], batch[2],
			impression("e09", "s001", "coffee-2-pastry", t0, false),
			profile("e10", "s002", alice, "2026-11-23", 100, 1),
			impression("e09", "s001", "coffee-2-pastry", t0, false)}
		if res := mustWrite(t, db, overlap...); res.Added != 2 || !slices.Equal(res.Customers, []string{alice}) {
			t.Fatalf("overlapping batch: %+v, want 2 added and customer alice", res)
		}
		want := map[string]int64{"checkout": 2, "redemption": 1, "profile": 2, "impression": 4, "heartbeat": 1}
		if got := counts(t, db); !reflect.DeepEqual(got, want) {
			t.Fatalf("counts %v, want %v", got, want)
		}
		rows := offerReport(t, db)
		if rows[0].Offer != "coffee-2-pastry" || rows[0].Impressions != 3 {
			t.Fatalf("report %+v: want coffee-2-pastry shown 3 times", rows)
		}
	})
}

func TestWriteEventsEffects(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		res := mustWrite(t, db, mixed()...)
		if res.Added != 8 || !slices.Equal(res.Customers, []string{alice}) {
			t.Fatalf("result %+v", res)
		}
		got := dump(t, db)
		us := t0.UnixMicro()
		for _, want := range []string{
			fmt.Sprintf("events [e01 checkout s001 %d]", us),
			fmt.Sprintf("checkouts [e01 s001 t1 t1-1 %s %d 1000 100 0 900 JPY sku:COF-001   0 0]", alice, us),
			fmt.Sprintf("checkouts [e07 s002 t1 t9-1  %d 500 0 0 500 JPY sku:COF-001   0 0]", us+60e6),
			fmt.Sprintf("redemptions [e02 s001 coffee-2-pastry txn-e02  100 0 %d regulars t1]", us),
			"offer_days [coffee-2-pastry s001 2026-11-22 1 100 0 1 0 0 0 0 0]",
			"offer_days [coffee-2-pastry s002 2026-11-22 0 0 0 1 0 0 0 0 0]",
			"offer_days [spend-3000-300 s001 2026-11-22 0 0 0 0 1 0 0 0 0]",
			"store_days [s001 2026-11-22 1 1000 100 0 1 100 0 1 1 0 0 0 0]",
			"offer_chain_days [coffee-2-pastry 2026-11-22 1 100 0 2 0 0 0 0 0]",
			"offer_stores [coffee-2-pastry s001 1 100 0]",
			"segment_days [regulars 2026-11-22 1 100 0]",
			fmt.Sprintf("profile_counters [%s s001 1 900 9 2026-11-22 2026-11-22]", alice),
			fmt.Sprintf("profile_history [%s 2026-11-22 COF-001   2 700]", alice),
			fmt.Sprintf(`stores [s001 %d %d %d 1.0.0 7 3 1500 2 []  %d]`, us, us, us, us),
			fmt.Sprintf(`stores [s002 %d %d 0  0 0 0 0 []  0]`, us+60e6, us+60e6),
		} {
			if !strings.Contains(got, want+"\n") {
				t.Errorf("no row %s in\n%s", want, got)
			}
		}
	})
}

func TestMergedProfile(t *testing.T) {
	cof := protocol.EventLine{SKU: "COF-001", Qty: 1, Price: 350, Category: "coffee", Brand: "acme"}
	pas := protocol.EventLine{SKU: "PAS-1", Qty: 1, Price: 280, Category: "pastry"}
	tea := protocol.EventLine{SKU: "TEA-2", Qty: 3, Price: 160, Category: "tea", Brand: "acme"}
	// Alice at two stores, in the order the stores happen to sync: s002's
	// later visits first, then s001's, one of them twice.
	batches := [][]*protocol.Event{
		{profile("p5", "s002", alice, "2026-11-20", 480, 4, tea), profile("p4", "s002", alice, "2026-11-10", 700, 7, cof, cof)},
		{profile("p1", "s001", alice, "2026-09-01", 350, 3, cof), profile("p2", "s001", alice, "2026-11-20", 630, 6, pas, cof)},
		{profile("p2", "s001", alice, "2026-11-20", 630, 6, pas, cof), profile("b1", "s001", bob, "2026-11-21", 100, 1)},
	}
	want := &offer.Profile{
		Visits: 4, FirstVisit: "2026-09-01", LastVisit: "2026-11-20", LifetimeSpend: 2160, Points: 20,
		History: []offer.HistoryDay{
			{Day: "2026-11-10", Items: []offer.HistoryItem{{SKU: "COF-001", Category: "coffee", Brand: "acme", Qty: 2, Spend: 700}}},
			{Day: "2026-11-20", Items: []offer.HistoryItem{
				{SKU: "COF-001", Category: "coffee", Brand: "acme", Qty: 1, Spend: 350},
				{SKU: "PAS-1", Category: "pastry", Qty: 1, Spend: 280},
				{SKU: "TEA-2", Category: "tea", Brand: "acme", Qty: 3, Spend: 480},
			}},
		},
	}
	for _, tc := range []struct {
		name      string
		order     []int
		customers []string
	}{
		{"in order", []int{0, 1, 2}, []string{alice, alice, bob}},
		{"reversed", []int{2, 1, 0}, []string{alice, alice, alice, bob}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, open opener) {
				db := open(t)
				var customers []string
				for _, i := range tc.order {
					customers = append(customers, mustWrite(t, db, batches[i]...).Customers...)
				}
				slices.Sort(customers)
				if !slices.Equal(customers, tc.customers) {
					t.Fatalf("changed customers %v, want %v", customers, tc.customers)
				}
				// 30 days up to 2026-12-09 start on 2026-11-10.
				got, err := db.MergedProfile(context.Background(), alice, 30, "2026-12-09")
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					g, _ := json.Marshal(got)
					w, _ := json.Marshal(want)
					t.Fatalf("merged profile\n got %s\nwant %s", g, w)
				}

				p, err := db.MergedProfile(context.Background(), alice, 0, "2026-12-09")
				if err != nil || p.History != nil || p.Visits != 4 {
					t.Fatalf("no history: %+v, %v", p, err)
				}
				p, err = db.MergedProfile(context.Background(), "nobodyaaaaaaaaaaaaaaaaaaaa", 30, "2026-12-09")
				if p != nil || err != nil {
					t.Fatalf("unknown customer: %+v, %v; want nil, nil", p, err)
				}
				for _, bad := range []struct {
					key, today string
					days       int
				}{{"4900123456789", "2026-12-09", 30}, {alice, "2026-13-01", 30}, {alice, "2026-12-09", -1}} {
					_, err := db.MergedProfile(context.Background(), bad.key, bad.days, bad.today)
					if !errors.Is(err, ErrBadQuery) || strings.Contains(err.Error(), "4900123456789") {
						t.Errorf("MergedProfile(%+v): %v; want ErrBadQuery, without the key", bad, err)
					}
				}
			})
		})
	}
}

func TestRedemptionsPages(t *testing.T) {
	// 40 redemptions at 8 distinct times, so pages split runs of equal times.
	var all []*protocol.Event
	for i := range 40 {
		store := []string{"s001", "s002", "s003"}[i%3]
		offer := []string{"coffee-2-pastry", "onigiri-3-for-300"}[i%2]
		var segments []string
		if i%4 == 0 {
			segments = []string{"regulars", "vip"}
		} else if i%4 == 1 {
			segments = []string{"vip-plus"}
		}
		all = append(all, redemption(fmt.Sprintf("r%02d", (i*7)%40), store, offer,
			t0.Add(time.Duration(i%8)*time.Hour), int64(10+i), 0, segments...))
	}
	newestFirst := func(keep func(e *protocol.Event) bool) []string {
		var out []*protocol.Event
		for _, e := range all {
			if keep(e) {
				out = append(out, e)
			}
		}
		slices.SortFunc(out, func(a, b *protocol.Event) int {
			if c := b.At.Compare(a.At); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		ids := []string{}
		for _, e := range out {
			ids = append(ids, e.ID)
		}
		return ids
	}
	cases := []struct {
		name string
		f    Filter
		keep func(e *protocol.Event) bool
	}{
		{"all", Filter{}, func(*protocol.Event) bool { return true }},
		{"store", Filter{Store: "s002"}, func(e *protocol.Event) bool { return e.Store == "s002" }},
		{"offer", Filter{Offer: "onigiri-3-for-300"}, func(e *protocol.Event) bool { return e.Redemption.Offer == "onigiri-3-for-300" }},
		{"segment", Filter{Segment: "vip"}, func(e *protocol.Event) bool { return slices.Contains(e.Redemption.Segments, "vip") }},
		{"time", Filter{From: t0.Add(2 * time.Hour), To: t0.Add(5 * time.Hour)}, func(e *protocol.Event) bool {
			return !e.At.Before(t0.Add(2*time.Hour)) && e.At.Before(t0.Add(5*time.Hour))
		}},
		{"store and segment", Filter{Store: "s001", Segment: "regulars", From: t0.Add(time.Hour)}, func(e *protocol.Event) bool {
			return e.Store == "s001" && slices.Contains(e.Redemption.Segments, "regulars") && !e.At.Before(t0.Add(time.Hour))
		}},
		{"none", Filter{Offer: "no-such-offer"}, func(*protocol.Event) bool { return false }},
	}
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, all[:25]...)
		mustWrite(t, db, all[20:]...)
		for _, tc := range cases {
			for _, limit := range []int{1, 3, 7, 0} {
				t.Run(fmt.Sprintf("%s/limit=%d", tc.name, limit), func(t *testing.T) {
					f := tc.f
					f.Limit = limit
					got := []string{}
					for pages := 0; ; pages++ {
						items, next, err := db.Redemptions(context.Background(), f)
						if err != nil {
							t.Fatal(err)
						}
						if len(items) > cmp.Or(limit, DefaultLimit) || pages > len(all) {
							t.Fatalf("page %d has %d items, limit %d", pages, len(items), limit)
						}
						for _, it := range items {
							got = append(got, it.ID)
							if it.At.Location() != time.UTC || it.Txn != "txn-"+it.ID {
								t.Fatalf("item %+v", it)
							}
						}
						if next == "" {
							break
						}
						f.After = next
					}
					if want := newestFirst(tc.keep); !slices.Equal(got, want) {
						t.Fatalf("walked\n%v\nwant\n%v", got, want)
					}
				})
			}
		}

		items, _, err := db.Redemptions(context.Background(), Filter{Segment: "vip", Limit: 1})
		if err != nil || len(items) != 1 || !slices.Equal(items[0].Segments, []string{"regulars", "vip"}) {
			t.Fatalf("segments of %+v: %v", items, err)
		}
		for _, f := range []Filter{{After: "not a cursor"}, {After: "MTIz"}, {Segment: "vip%"}} {
			if _, _, err := db.Redemptions(context.Background(), f); !errors.Is(err, ErrBadQuery) {
				t.Errorf("Redemptions(%+v): %v, want ErrBadQuery", f, err)
			}
		}
	})
}

func TestStores(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, heartbeat("h2", "s001", t0.Add(time.Hour), "1.1.0", 5, "outbox_old", "disk, almost full"),
			redemption("r1", "s001", "coffee", t0.Add(-time.Hour), 1, 0),
			impression("i1", "s002", "coffee", t0, false))
		// Older heartbeats, in a later batch and in the same batch as a newer one.
		mustWrite(t, db, heartbeat("h1", "s001", t0, "1.0.0", 9), heartbeat("h3", "s002", t0, "1.0.0", 1),
			heartbeat("h4", "s002", t0.Add(-time.Minute), "0.9.0", 2))
		got, err := db.Stores(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := []StoreRow{
			{Store: "s001", FirstEvent: t0.Add(-time.Hour), LastEvent: t0.Add(time.Hour), LastSeen: t0.Add(time.Hour),
				Agent: "1.1.0", Catalog: 7, OutboxDepth: 5, OutboxOldestMS: 1500, DroppedImpressions: 2,
				Alarms: []string{"outbox_old", "disk, almost full"}, AlarmsSince: t0.Add(time.Hour)},
			{Store: "s002", FirstEvent: t0.Add(-time.Minute), LastEvent: t0, LastSeen: t0,
				Agent: "1.0.0", Catalog: 7, OutboxDepth: 1, OutboxOldestMS: 1500, DroppedImpressions: 2, AlarmsSince: t0},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("stores\n got %+v\nwant %+v", got, want)
		}
		// The same alarms again keep their age; others start a new one.
		mustWrite(t, db, heartbeat("h5", "s001", t0.Add(2*time.Hour), "1.1.0", 5, "outbox_old", "disk, almost full"),
			heartbeat("h6", "s002", t0.Add(2*time.Hour), "1.0.0", 1, "store_damaged: moved"))
		got, _ = db.Stores(context.Background())
		if !got[0].AlarmsSince.Equal(t0.Add(time.Hour)) || !got[1].AlarmsSince.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("alarms since %v and %v, want %v and %v", got[0].AlarmsSince, got[1].AlarmsSince,
				t0.Add(time.Hour), t0.Add(2*time.Hour))
		}
	})
}

func TestMigrations(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, mixed()...)
		before := dump(t, db)
		if err := db.migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		again := open(t) // a second Open migrates again
		if after := dump(t, again); after != before {
			t.Fatalf("migrating again changed the data:\n%s\n%s", before, after)
		}
		var n, v int64
		err := db.each(context.Background(), func(r rows) error { return r.Scan(&n, &v) },
			"SELECT count(*), max(version) FROM schema_migrations")
		if err != nil || n != int64(len(migrations)) || v != migrations[len(migrations)-1].version {
			t.Fatalf("schema_migrations: %d rows up to version %d, %v", n, v, err)
		}

		// A schema newer than this program is refused.
		err = db.be.write(context.Background(), func(t tx) error {
			return t.exec(context.Background(), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '')")
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.migrate(context.Background()); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Fatalf("migrate with version 999 stored: %v, want refused", err)
		}
	})
}

func TestConcurrentReplicas(t *testing.T) {
	// 600 events; two replicas each write all of them, in batches of 50
	// that overlap and come in different orders.
	var events []*protocol.Event
	for i := range 100 {
		id := func(k string) string { return fmt.Sprintf("%s-%03d", k, i) }
		store := fmt.Sprintf("s%03d", i%5)
		at := t0.Add(time.Duration(i) * time.Minute)
		events = append(events,
			checkout(id("c"), store, id("txn"), alice, at, 1000, 100, 900),
			redemption(id("r"), store, "coffee", at, 100, 1),
			profile(id("p"), store, alice, "2026-11-22", 900, 9, protocol.EventLine{SKU: "COF-001", Qty: 1, Price: 350}),
			impression(id("i"), store, "coffee", at, false),
			impression(id("n"), store, "spend", at, true),
			heartbeat(id("h"), store, at, "1.0.0", int64(i)))
	}
	eachDB(t, func(t *testing.T, open opener) {
		replicas := []*DB{open(t), open(t)}
		var wg sync.WaitGroup
		added := make([]int, len(replicas))
		errs := make([]error, len(replicas))
		for r, db := range replicas {
			order := slices.Clone(events)
			rand.New(rand.NewPCG(uint64(r), 1)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			wg.Go(func() {
				// Batches of 50 that step by 40: each overlaps the last.
				for i := 0; i < len(order); i += 40 {
					res, err := db.WriteEvents(context.Background(), order[i:min(i+50, len(order))])
					if err != nil {
						errs[r] = err
						return
					}
					added[r] += res.Added
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if added[0]+added[1] != len(events) {
			t.Fatalf("replicas added %v events, want %d in all", added, len(events))
		}
		want := map[string]int64{"checkout": 100, "redemption": 100, "profile": 100, "impression": 200, "heartbeat": 100}
		if got := counts(t, replicas[0]); !reflect.DeepEqual(got, want) {
			t.Fatalf("counts %v, want %v", got, want)
		}
		p, err := replicas[1].MergedProfile(context.Background(), alice, 1, "2026-11-22")
		if err != nil || p.Visits != 100 || p.LifetimeSpend != 90000 || p.History[0].Items[0].Qty != 100 {
			t.Fatalf("merged profile %+v, %v; want 100 visits", p, err)
		}
		report := offerReport(t, replicas[0])
		if c, s := report[0], report[1]; c.Redemptions != 100 || c.Discount != 10000 || c.Impressions != 100 ||
			s.NudgeImpressions != 100 {
			t.Fatalf("report %+v", report)
		}
		stores, err := replicas[1].Stores(context.Background())
		if err != nil || len(stores) != 5 || stores[4].OutboxDepth != 99 {
			t.Fatalf("stores %+v, %v; want s004's last heartbeat, depth 99", stores, err)
		}
	})
}

func TestBadInput(t *testing.T) {
	good := impression("g1", "s001", "coffee", t0, false)
	bad := map[string]*protocol.Event{
		"nil event":           nil,
		"unknown kind":        {ID: "x", Kind: "refund", Store: "s001", At: t0},
		"no id":               impression("", "s001", "coffee", t0, false),
		"bad store":           impression("x", "S 001", "coffee", t0, false),
		"no time":             impression("x", "s001", "coffee", time.Time{}, false),
		"nil checkout":        {ID: "x", Kind: protocol.EventCheckout, Store: "s001", At: t0, Txn: "t"},
		"checkout, no txn":    checkout("x", "s001", "", "", t0, 1, 0, 1),
		"negative paid":       checkout("x", "s001", "t", "", t0, 1, 0, -1),
		"nil redemption":      {ID: "x", Kind: protocol.EventRedemption, Store: "s001", At: t0, Txn: "t"},
		"bad offer":           redemption("x", "s001", "Coffee!", t0, 1, 0),
		"bad segment":         redemption("x", "s001", "coffee", t0, 1, 0, "a,b"),
		"nil impression":      {ID: "x", Kind: protocol.EventImpression, Store: "s001", At: t0},
		"nil profile":         {ID: "x", Kind: protocol.EventProfile, Store: "s001", At: t0, Customer: alice},
		"profile, no key":     profile("x", "s001", "", "2026-11-22", 1, 0),
		"loyalty id":          profile("x", "s001", "4900123456789", "2026-11-22", 1, 0),
		"bad day":             profile("x", "s001", alice, "2026-02-30", 1, 0),
		"zero qty":            profile("x", "s001", alice, "2026-11-22", 1, 0, protocol.EventLine{SKU: "A", Qty: 0}),
		"huge price":          profile("x", "s001", alice, "2026-11-22", 1, 0, protocol.EventLine{SKU: "A", Qty: 1, Price: 1e13}),
		"nil heartbeat":       {ID: "x", Kind: protocol.EventHeartbeat, Store: "s001", At: t0},
		"NUL in txn":          checkout("x", "s001", "t\x00", "", t0, 1, 0, 1),
		"invalid UTF-8 alarm": heartbeat("x", "s001", t0, "1.0.0", 0, "\xff"),
	}
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		for name, e := range bad {
			_, err := db.WriteEvents(context.Background(), []*protocol.Event{good, e})
			if !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("%s: %v, want ErrInvalidEvent", name, err)
			}
			if err != nil && strings.Contains(err.Error(), "4900123456789") {
				t.Errorf("%s: the error quotes the customer: %v", name, err)
			}
		}
		if c := counts(t, db); len(c) != 0 {
			t.Fatalf("bad batches wrote %v", c)
		}
		if res := mustWrite(t, db); res.Added != 0 {
			t.Fatalf("an empty batch: %+v", res)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	for _, dsn := range []string{"mysql://hq:s3cret@db/hq", "file:cloud.db"} {
		_, err := Open(context.Background(), dsn, t.TempDir())
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q): %v, want an error without the password", dsn, err)
		}
	}
	if _, err := Open(context.Background(), "", ""); err == nil {
		t.Error("Open without a dsn or a data dir succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Open(ctx, "postgres://hq:s3cret@127.0.0.1:1/hq?connect_timeout=2", "")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open on a closed port: %v, want an error without the password", err)
	}
}
