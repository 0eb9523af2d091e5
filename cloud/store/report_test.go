package store

import (
	"context"
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

func TestStoreReport(t *testing.T) {
	day := t0.Truncate(24 * time.Hour)
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, reportEvents(day)...)
		got, err := db.StoreReport(context.Background(), day, day.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []StoreReportRow{
			{Store: "s001", Checkouts: 2, Sales: 1500, Redemptions: 1, Discount: 280, Impressions: 2, Uptake: 0.5},
			{Store: "s002", Checkouts: 1, Sales: 2000, Redemptions: 1, Discount: 300, Points: 5, Impressions: 1,
				NudgeImpressions: 1, Uptake: 1},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("first day\n got %+v\nwant %+v", got, want)
		}
		got, err = db.StoreReport(context.Background(), time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want = []StoreReportRow{
			{Store: "s001", Checkouts: 3, Sales: 2200, Redemptions: 2, Discount: 420, Impressions: 3, Uptake: 2.0 / 3},
			{Store: "s002", Checkouts: 1, Sales: 2000, Redemptions: 1, Discount: 300, Points: 5, Impressions: 1,
				NudgeImpressions: 1, Uptake: 1},
			{Store: "s003", Redemptions: 1, Discount: 100, Points: 2, NudgeImpressions: 1},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("all time\n got %+v\nwant %+v", got, want)
		}
		if got, err := db.StoreReport(context.Background(), day, day); got != nil || err != nil {
			t.Fatalf("empty range: %+v, %v", got, err)
		}
	})
}

func TestSegmentReport(t *testing.T) {
	day := t0.Truncate(24 * time.Hour)
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		mustWrite(t, db, reportEvents(day)...)
		got, err := db.SegmentReport(context.Background(), time.Time{}, time.Time{})
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
		got, err = db.SegmentReport(context.Background(), day.Add(24*time.Hour), day.Add(48*time.Hour))
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
		// From noon the day before to 02:30 on the second day: three days
		// touched; the redemptions after 02:30 are out, the impressions of
		// the second day are all in.
		got, err := db.DayReport(ctx, day.Add(-12*time.Hour), day.Add(26*time.Hour+30*time.Minute), "")
		if err != nil {
			t.Fatal(err)
		}
		want := []DayRow{
			{Day: "2026-11-21"},
			{Day: "2026-11-22", Redemptions: 2, Discount: 580, Points: 5, Impressions: 3, NudgeImpressions: 1},
			{Day: "2026-11-23", Redemptions: 1, Discount: 140, Impressions: 1, NudgeImpressions: 1},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("days\n got %+v\nwant %+v", got, want)
		}
		got, err = db.DayReport(ctx, day, day.Add(48*time.Hour), "coffee")
		want = []DayRow{
			{Day: "2026-11-22", Redemptions: 1, Discount: 280, Impressions: 2},
			{Day: "2026-11-23", Redemptions: 2, Discount: 240, Points: 2, Impressions: 1, NudgeImpressions: 1},
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("coffee days\n got %+v, %v\nwant %+v", got, err, want)
		}
		for _, r := range [][2]time.Time{{{}, day}, {day, {}}, {day, day.AddDate(11, 0, 0)}} {
			if _, err := db.DayReport(ctx, r[0], r[1], ""); !errors.Is(err, ErrBadQuery) {
				t.Errorf("DayReport(%v, %v): %v, want ErrBadQuery", r[0], r[1], err)
			}
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
