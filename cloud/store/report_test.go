package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// reportEvents are two UTC days of activity at three stores.
func reportEvents(day time.Time) []*protocol.Event {
	return []*protocol.Event{
		checkout("c1", "s001", "t1", "", day.Add(1*time.Hour), 1000, 280, 720),
		checkout("c2", "s001", "t2", "", day.Add(2*time.Hour), 500, 0, 500),
		checkout("c3", "s002", "t3", "", day.Add(3*time.Hour), 2000, 300, 1700),
		checkout("c4", "s001", "t4", "", day.Add(26*time.Hour), 700, 140, 560), // the next day
		redemption("r1", "s001", "coffee", day.Add(1*time.Hour), 280, 0, "regulars", "vip"),
		redemption("r2", "s002", "spend", day.Add(3*time.Hour), 300, 5, "vip"),
		redemption("r3", "s001", "coffee", day.Add(26*time.Hour), 140, 0),
		redemption("r4", "s003", "coffee", day.Add(27*time.Hour), 100, 2, "regulars"),
		impression("i1", "s001", "coffee", day.Add(1*time.Hour), false),
		impression("i2", "s001", "coffee", day.Add(2*time.Hour), false),
		impression("i3", "s002", "spend", day.Add(3*time.Hour), false),
		impression("i4", "s002", "spend", day.Add(3*time.Hour), true),
		impression("i5", "s001", "coffee", day.Add(26*time.Hour), false),
		impression("i6", "s003", "coffee", day.Add(27*time.Hour), true),
	}
}

// days returns Days from a date for n days.
func days(from string, n int) Days {
	d, _ := time.Parse(time.DateOnly, from)
	return Days{from, d.AddDate(0, 0, n).Format(time.DateOnly)}
}

func TestStoreReport(t *testing.T) {
	day := t0.Truncate(24 * time.Hour) // 2026-11-22, UTC: these events say no day
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, reportEvents(day)...)
		got, err := db.StoreReport(context.Background(), days("2026-11-22", 1), "")
		if err != nil {
			t.Fatal(err)
		}
		want := []StoreReportRow{
			{Store: "s001", Checkouts: 2, Sales: 1500, Redemptions: 1, Discount: 280, Shown: Shown{Impressions: 2}},
			{Store: "s002", Checkouts: 1, Sales: 2000, Redemptions: 1, Discount: 300, Points: 5,
				Shown: Shown{Impressions: 1, NudgeImpressions: 1}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("first day\n got %+v\nwant %+v", got, want)
		}
		got, err = db.StoreReport(context.Background(), days("2026-11-01", 30), "")
		if err != nil {
			t.Fatal(err)
		}
		want = []StoreReportRow{
			{Store: "s001", Checkouts: 3, Sales: 2200, Redemptions: 2, Discount: 420, Shown: Shown{Impressions: 3}},
			{Store: "s002", Checkouts: 1, Sales: 2000, Redemptions: 1, Discount: 300, Points: 5,
				Shown: Shown{Impressions: 1, NudgeImpressions: 1}},
			{Store: "s003", Redemptions: 1, Discount: 100, Points: 2, Shown: Shown{NudgeImpressions: 1}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("the month\n got %+v\nwant %+v", got, want)
		}
		// One offer: its figures, at the stores that showed or redeemed it.
		got, err = db.StoreReport(context.Background(), days("2026-11-01", 30), "spend")
		want = []StoreReportRow{{Store: "s002", Checkouts: 1, Sales: 2000, Redemptions: 1, Discount: 300, Points: 5,
			Shown: Shown{Impressions: 1, NudgeImpressions: 1}}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("spend\n got %+v, %v\nwant %+v", got, err, want)
		}
		for _, d := range []Days{{"2026-11-22", "2026-11-22"}, {"2026-11-22", "2026-11-21"}, {"", "2026-11-22"},
			{"2026-11-22", "2026-13-01"}, {"2026-11-22T00:00:00Z", "2026-11-23"}} {
			if _, err := db.StoreReport(context.Background(), d, ""); !errors.Is(err, ErrBadQuery) {
				t.Errorf("StoreReport(%+v): %v, want ErrBadQuery", d, err)
			}
		}
	})
}

func TestSegmentReport(t *testing.T) {
	day := t0.Truncate(24 * time.Hour)
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, reportEvents(day)...)
		got, err := db.SegmentReport(context.Background(), days("2026-11-22", 2))
		if err != nil {
			t.Fatal(err)
		}
		// r1 counts for regulars and vip; r3 for no segment.
		want := []SegmentRow{
			{Segment: "", Redemptions: 1, Discount: 140},
			{Segment: "regulars", Redemptions: 2, Discount: 380, Points: 2},
			{Segment: "vip", Redemptions: 2, Discount: 580, Points: 5},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("segments\n got %+v\nwant %+v", got, want)
		}
		got, err = db.SegmentReport(context.Background(), days("2026-11-23", 1))
		want = []SegmentRow{{Segment: "", Redemptions: 1, Discount: 140}, {Segment: "regulars", Redemptions: 1, Discount: 100, Points: 2}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("second day\n got %+v, %v\nwant %+v", got, err, want)
		}
	})
}

func TestDayReport(t *testing.T) {
	day := t0.Truncate(24 * time.Hour) // 2026-11-22
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, reportEvents(day)...)
		ctx := context.Background()
		got, err := db.DayReport(ctx, days("2026-11-21", 3), "", "")
		if err != nil {
			t.Fatal(err)
		}
		want := []DayRow{
			{Day: "2026-11-21"},
			{Day: "2026-11-22", Checkouts: 3, Sales: 3500, Redemptions: 2, Discount: 580, Points: 5,
				Shown: Shown{Impressions: 3, NudgeImpressions: 1}},
			{Day: "2026-11-23", Checkouts: 1, Sales: 700, Redemptions: 2, Discount: 240, Points: 2,
				Shown: Shown{Impressions: 1, NudgeImpressions: 1}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("days\n got %+v\nwant %+v", got, want)
		}
		got, err = db.DayReport(ctx, days("2026-11-22", 2), "coffee", "")
		want = []DayRow{
			{Day: "2026-11-22", Checkouts: 3, Sales: 3500, Redemptions: 1, Discount: 280, Shown: Shown{Impressions: 2}},
			{Day: "2026-11-23", Checkouts: 1, Sales: 700, Redemptions: 2, Discount: 240, Points: 2,
				Shown: Shown{Impressions: 1, NudgeImpressions: 1}},
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("coffee days\n got %+v, %v\nwant %+v", got, err, want)
		}
		got, err = db.DayReport(ctx, days("2026-11-22", 2), "coffee", "s003")
		want = []DayRow{{Day: "2026-11-22"},
			{Day: "2026-11-23", Redemptions: 1, Discount: 100, Points: 2, Shown: Shown{NudgeImpressions: 1}}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("coffee days at s003\n got %+v, %v\nwant %+v", got, err, want)
		}
		for _, d := range []Days{{"", "2026-11-22"}, {"2026-11-22", ""}, days("2026-01-01", MaxReportDays+1)} {
			if _, err := db.DayReport(ctx, d, "", ""); !errors.Is(err, ErrBadQuery) {
				t.Errorf("DayReport(%+v): %v, want ErrBadQuery", d, err)
			}
		}
	})
}

// on sets the store-local day an event says it happened on.
func on(day string, e *protocol.Event) *protocol.Event {
	e.Day = day
	return e
}

// showing sets what a checkout's transaction showed.
func showing(e *protocol.Event, shown ...protocol.Shown) *protocol.Event {
	e.Checkout.Shown = shown
	return e
}

func TestOfferReport(t *testing.T) {
	// A day at a store in Tokyo, worked out by hand: its events say their
	// store-local day, 2026-11-23, though most are on the 22nd in UTC.
	at := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC) // 08:00 in Tokyo
	const d = "2026-11-23"
	coffee, spend, tea := protocol.Shown{Offer: "coffee"}, protocol.Shown{Offer: "spend"}, protocol.Shown{Offer: "tea"}
	redeemed := func(s protocol.Shown) protocol.Shown { s.Redeemed = true; return s }
	nudged := func(s protocol.Shown) protocol.Shown { s.Suggested = true; return s }
	events := []*protocol.Event{
		// A: coffee shown and redeemed.
		on(d, showing(checkout("A", "tokyo", "A", "", at, 1000, 280, 720), redeemed(coffee))),
		on(d, redemption("rA", "tokyo", "coffee", at, 280, 0)),
		// B: coffee shown, not redeemed.
		on(d, showing(checkout("B", "tokyo", "B", "", at.Add(time.Hour), 500, 0, 500), coffee)),
		// C: nudged toward spend, then earned and redeemed it: counts as both.
		on(d, showing(checkout("C", "tokyo", "C", "", at.Add(2*time.Hour), 5000, 300, 4700),
			redeemed(nudged(spend)), redeemed(spend))),
		on(d, redemption("rC", "tokyo", "spend", at.Add(2*time.Hour), 300, 5)),
		// D: nudged toward spend, did not get there; tea applied by the
		// terminal without being shown.
		on(d, showing(checkout("D", "tokyo", "D", "", at.Add(3*time.Hour), 800, 160, 640), nudged(spend))),
		on(d, redemption("rD", "tokyo", "tea", at.Add(3*time.Hour), 160, 0)),
		// Impressions: A, B and an abandoned transaction for coffee; C for
		// spend, C and D for the nudges.
		on(d, impression("i1", "tokyo", "coffee", at, false)),
		on(d, impression("i2", "tokyo", "coffee", at.Add(time.Hour), false)),
		on(d, impression("i3", "tokyo", "coffee", at.Add(90*time.Minute), false)),
		on(d, impression("i4", "tokyo", "spend", at.Add(2*time.Hour), false)),
		on(d, impression("i5", "tokyo", "spend", at.Add(2*time.Hour), true)),
		on(d, impression("i6", "tokyo", "spend", at.Add(3*time.Hour), true)),
		// The next day: tea shown and not redeemed.
		on("2026-11-24", showing(checkout("E", "tokyo", "E", "", at.Add(25*time.Hour), 300, 0, 300), tea)),
	}
	half, one := 0.5, 1.0
	want := []OfferRow{
		{Offer: "coffee", Redemptions: 1, Discount: 280,
			Shown: Shown{Impressions: 3, ShownCheckouts: 2, ShownRedeemed: 1, Uptake: &half}},
		{Offer: "spend", Redemptions: 1, Discount: 300, Points: 5,
			Shown: Shown{Impressions: 1, NudgeImpressions: 2, ShownCheckouts: 1, ShownRedeemed: 1, NudgedCheckouts: 2,
				NudgedRedeemed: 1, Uptake: &one, NudgeUptake: &half}},
		{Offer: "tea", Redemptions: 1, Discount: 160},
	}
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, events...)
		got, err := db.OfferReport(context.Background(), days(d, 1), "")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("report\n got %s, %v\nwant %s", jsonOf(got), err, jsonOf(want))
		}
		// The UTC day 2026-11-22 holds none of it: the store lived it on the 23rd.
		if got, err := db.OfferReport(context.Background(), days("2026-11-22", 1), ""); len(got) != 0 || err != nil {
			t.Fatalf("2026-11-22: %+v, %v", got, err)
		}
		zero := 0.0
		got, err = db.OfferReport(context.Background(), days(d, 2), "tokyo")
		if err != nil || len(got) != 3 || !reflect.DeepEqual(got[2].Uptake, &zero) || got[2].ShownCheckouts != 1 {
			t.Fatalf("two days at tokyo: %s, %v", jsonOf(got), err)
		}
		if got, err := db.OfferReport(context.Background(), days(d, 2), "osaka"); len(got) != 0 || err != nil {
			t.Fatalf("osaka: %+v, %v", got, err)
		}
	})
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// An agent too old to say its events' day has them counted on their date
// in the zone of its store's latest heartbeat, UTC before any.
func TestReportDayOfOldAgents(t *testing.T) {
	at := time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC) // 2026-11-23 08:30 in Tokyo
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, redemption("r1", "tokyo", "coffee", at, 100, 0))
		hb := heartbeat("h1", "tokyo", at, "1.0.0", 0)
		hb.Heartbeat.Zone = "Asia/Tokyo"
		mustWrite(t, db, hb, heartbeat("h0", "tokyo", at.Add(-time.Hour), "1.0.0", 0)) // the older one says no zone
		mustWrite(t, db, redemption("r2", "tokyo", "coffee", at, 200, 0))
		// A heartbeat without a zone (an agent rolled back) leaves the zone.
		mustWrite(t, db, heartbeat("h2", "tokyo", at.Add(time.Hour), "0.9.0", 0))
		mustWrite(t, db, redemption("r3", "tokyo", "coffee", at, 400, 0))
		got, err := db.DayReport(context.Background(), days("2026-11-22", 2), "coffee", "")
		want := []DayRow{{Day: "2026-11-22", Redemptions: 1, Discount: 100}, {Day: "2026-11-23", Redemptions: 2, Discount: 600}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, %v\nwant %+v", got, err, want)
		}
		stores, err := db.Stores(context.Background())
		if err != nil || len(stores) != 1 || stores[0].Zone != "Asia/Tokyo" {
			t.Fatalf("stores: %+v, %v", stores, err)
		}
	})
}

// The rollups of events stored before them are rebuilt from the
// redemptions and checkouts (migration 7), and the coarser ones from
// offer_days (migration 8): the same figures as WriteEvents keeps.
func TestRollUpHistory(t *testing.T) {
	day := t0.Truncate(24 * time.Hour)
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		ctx := context.Background()
		var events []*protocol.Event
		for _, e := range reportEvents(day) {
			if e.Kind != protocol.EventImpression { // moved by the migration's SQL, not rebuilt
				events = append(events, e)
			}
		}
		mustWrite(t, db, events...)
		report := func() string {
			o, err1 := db.OfferReport(ctx, days("2026-11-22", 2), "")
			s, err2 := db.StoreReport(ctx, days("2026-11-22", 2), "")
			g, err3 := db.SegmentReport(ctx, days("2026-11-22", 2))
			if err := errors.Join(err1, err2, err3); err != nil {
				t.Fatal(err)
			}
			d, err4 := db.DayReport(ctx, days("2026-11-22", 2), "", "s001")
			x, err5 := db.OfferStores(ctx, "coffee")
			if err := errors.Join(err4, err5); err != nil {
				t.Fatal(err)
			}
			return jsonOf([]any{o, s, g, d, x})
		}
		kept := report()
		err := db.be.write(ctx, func(tx tx) error {
			err := tx.exec(ctx, "DELETE FROM offer_days; DELETE FROM store_days; DELETE FROM segment_days; "+
				"DELETE FROM offer_chain_days; DELETE FROM offer_stores")
			if err != nil {
				return err
			}
			if err := rollUpHistory(ctx, tx); err != nil {
				return err
			}
			return rollUpCoarser(ctx, tx)
		})
		if err != nil {
			t.Fatal(err)
		}
		if rebuilt := report(); rebuilt != kept || !strings.Contains(kept, `"redemptions":2`) {
			t.Fatalf("rebuilt\n%s\nkept\n%s", rebuilt, kept)
		}
	})
}

func TestRedemptionsAfter(t *testing.T) {
	var events []*protocol.Event
	for i := range 12 {
		// Three per second, their ids out of time order.
		events = append(events, redemption(fmt.Sprintf("r%02d", (i*5)%12), "s001", "coffee",
			t0.Add(time.Duration(i/3)*time.Second), int64(i), 0))
	}
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, events...)
		var walked []string
		at, id := t0.Add(-time.Second), ""
		for {
			page, err := db.RedemptionsAfter(context.Background(), at, id, 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, r := range page {
				walked = append(walked, r.ID)
			}
			last := page[len(page)-1]
			at, id = last.At, last.ID
		}
		var want []string
		for _, e := range slices.SortedFunc(slices.Values(events), func(a, b *protocol.Event) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		}) {
			want = append(want, e.ID)
		}
		if !slices.Equal(walked, want) {
			t.Fatalf("walked %v\nwant   %v", walked, want)
		}
		// From the start of a second: all of that second and after.
		page, err := db.RedemptionsAfter(context.Background(), t0.Add(3*time.Second), "", 0)
		if err != nil || len(page) != 3 {
			t.Fatalf("from the last second: %+v, %v", page, err)
		}
	})
}

// offerReport is the report over every day the tests' events are on.
func offerReport(t testing.TB, db *DB) []OfferRow {
	t.Helper()
	rows, err := db.OfferReport(context.Background(), Days{"2000-01-01", "2100-01-01"}, "")
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
