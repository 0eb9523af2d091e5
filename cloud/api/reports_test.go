package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
)

// reportEvents: the clock is t0, 10:00 on 2026-11-22 in HQ's zone, UTC,
// so the default period is the days [2026-10-24, 2026-11-23). The events
// say no day, so they count on their UTC dates.
func reportEvents() []*protocol.Event {
	h := time.Hour
	coffee, spend := protocol.Shown{Offer: "coffee-2-pastry"}, protocol.Shown{Offer: "spend"}
	redeemed := func(s protocol.Shown) protocol.Shown { s.Redeemed = true; return s }
	return []*protocol.Event{
		redemption("r1", "s001", "coffee-2-pastry", t0.Add(-h), 280, 0, "regulars"),
		redemption("r2", "s002", "coffee-2-pastry", t0.Add(-2*h), 280, 0),
		redemption("r3", "s001", "spend", t0.Add(-25*h), 300, 5, "regulars", "vip"),
		redemption("r4", "s001", "coffee-2-pastry", t0.AddDate(0, 0, -40), 140, 0), // before the period
		redemption("r5", "s001", "tea", t0.Add(24*h), 100, 0),                      // after it
		impression("i1", "s001", "coffee-2-pastry", t0.Add(-h), false),
		impression("i2", "s001", "coffee-2-pastry", t0.Add(-h), false),
		impression("i3", "s001", "coffee-2-pastry", t0.Add(-h), false),
		impression("i4", "s002", "coffee-2-pastry", t0.Add(-2*h), false),
		impression("i5", "s001", "coffee-2-pastry", t0.Add(-3*h), true),
		impression("i6", "s001", "spend", t0.Add(-25*h), false),
		impression("i7", "s001", "spend", t0.Add(-25*h), false),
		// c1 and c2 were shown coffee and redeemed it, c3 was shown it and
		// nudged toward it and did not, c4 was shown spend and redeemed it.
		shown(checkout("c1", "s001", t0.Add(-h), 1000), redeemed(coffee)),
		shown(checkout("c2", "s002", t0.Add(-2*h), 500), redeemed(coffee)),
		shown(checkout("c3", "s001", t0.Add(-3*h), 200), coffee, protocol.Shown{Offer: coffee.Offer, Suggested: true}),
		shown(checkout("c4", "s001", t0.Add(-25*h), 3000), redeemed(spend)),
	}
}

func shown(e *protocol.Event, s ...protocol.Shown) *protocol.Event {
	e.Checkout.Shown = s
	return e
}

func ptr(f float64) *float64 { return &f }

func TestReports(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
		e.call("POST", "/api/v1/offers", e.admin, coffeeOffer, http.StatusCreated, nil) // budget 10000
		e.call("POST", "/api/v1/offers", e.admin,
			`{"id":"idle","name":"Nobody's","status":"paused","limits":{"budget":500},"reward":{"type":"amount_off","amount":5}}`,
			http.StatusCreated, nil)
		e.write(reportEvents()...)

		var offers report[offerReportRow]
		e.call("GET", "/api/v1/reports/offers", e.analyst, "", http.StatusOK, &offers)
		want := []offerReportRow{
			{OfferRow: store.OfferRow{Offer: "coffee-2-pastry", Redemptions: 2, Discount: 560,
				Shown: store.Shown{Impressions: 4, NudgeImpressions: 1, ShownCheckouts: 3, ShownRedeemed: 2,
					NudgedCheckouts: 1, Uptake: ptr(2.0 / 3), NudgeUptake: ptr(0)}},
				Name: "Buy 2 coffees, get a pastry free", Status: "active", Budget: 10000, BudgetBurn: ptr(0.056)},
			{OfferRow: store.OfferRow{Offer: "idle"}, Name: "Nobody's", Status: "paused", Budget: 500, BudgetBurn: ptr(0)},
			{OfferRow: store.OfferRow{Offer: "spend", Redemptions: 1, Discount: 300, Points: 5,
				Shown: store.Shown{Impressions: 2, ShownCheckouts: 1, ShownRedeemed: 1, Uptake: ptr(1)}}},
		}
		if !reflect.DeepEqual(offers.Items, want) || offers.From != "2026-10-24" || offers.To != "2026-11-23" {
			t.Fatalf("offers from %v to %v\n got %s\nwant %s", offers.From, offers.To, js(offers.Items), js(want))
		}
		r := e.call("GET", "/api/v1/reports/offers", e.analyst, "", http.StatusOK, nil)
		var raw struct{ Items []map[string]any }
		json.Unmarshal(r.body, &raw)
		if v, ok := raw.Items[2]["budget_burn"]; !ok || v != nil {
			t.Fatalf("budget_burn without a budget: %v", raw.Items[2])
		}
		if v, ok := raw.Items[1]["uptake"]; !ok || v != nil {
			t.Fatalf("uptake of an offer never shown: %v", raw.Items[1])
		}

		// A wider period takes r4 and r5 in; an RFC 3339 time stands for its date.
		e.call("GET", "/api/v1/reports/offers?from=2026-10-01&to=2026-11-24T09:00:00%2B09:00", e.analyst, "",
			http.StatusOK, &offers)
		if c, tea := offers.Items[0], offers.Items[3]; c.Redemptions != 3 || c.Discount != 700 || tea.Offer != "tea" ||
			tea.Redemptions != 1 || offers.To != "2026-11-24" {
			t.Fatalf("wide %s", js(offers))
		}
		// One store's.
		e.call("GET", "/api/v1/reports/offers?store=s002", e.analyst, "", http.StatusOK, &offers)
		if c := offers.Items[0]; c.Redemptions != 1 || c.ShownCheckouts != 1 || *c.Uptake != 1 {
			t.Fatalf("s002 %s", js(offers.Items))
		}

		var stores report[store.StoreReportRow]
		e.call("GET", "/api/v1/reports/stores", e.analyst, "", http.StatusOK, &stores)
		wantStores := []store.StoreReportRow{
			{Store: "s001", Checkouts: 3, Sales: 4200, Redemptions: 2, Discount: 580, Points: 5,
				Shown: store.Shown{Impressions: 5, NudgeImpressions: 1, ShownCheckouts: 3, ShownRedeemed: 2,
					NudgedCheckouts: 1, Uptake: ptr(2.0 / 3), NudgeUptake: ptr(0)}},
			{Store: "s002", Checkouts: 1, Sales: 500, Redemptions: 1, Discount: 280,
				Shown: store.Shown{Impressions: 1, ShownCheckouts: 1, ShownRedeemed: 1, Uptake: ptr(1)}},
		}
		if !reflect.DeepEqual(stores.Items, wantStores) {
			t.Fatalf("stores\n got %s\nwant %s", js(stores.Items), js(wantStores))
		}

		var segments report[store.SegmentRow]
		e.call("GET", "/api/v1/reports/segments", e.analyst, "", http.StatusOK, &segments)
		wantSegments := []store.SegmentRow{
			{Segment: "", Redemptions: 1, Discount: 280},
			{Segment: "regulars", Redemptions: 2, Discount: 580, Points: 5},
			{Segment: "vip", Redemptions: 1, Discount: 300, Points: 5},
		}
		if !reflect.DeepEqual(segments.Items, wantSegments) {
			t.Fatalf("segments\n got %s\nwant %s", js(segments.Items), js(wantSegments))
		}

		var days report[store.DayRow]
		e.call("GET", "/api/v1/reports/days?from=2026-11-21&to=2026-11-23", e.analyst, "", http.StatusOK, &days)
		wantDays := []store.DayRow{
			{Day: "2026-11-21", Checkouts: 1, Sales: 3000, Redemptions: 1, Discount: 300, Points: 5,
				Shown: store.Shown{Impressions: 2, ShownCheckouts: 1, ShownRedeemed: 1, Uptake: ptr(1)}},
			{Day: "2026-11-22", Checkouts: 3, Sales: 1700, Redemptions: 2, Discount: 560,
				Shown: store.Shown{Impressions: 4, NudgeImpressions: 1, ShownCheckouts: 3, ShownRedeemed: 2,
					NudgedCheckouts: 1, Uptake: ptr(2.0 / 3), NudgeUptake: ptr(0)}},
		}
		if !reflect.DeepEqual(days.Items, wantDays) {
			t.Fatalf("days\n got %s\nwant %s", js(days.Items), js(wantDays))
		}
		e.call("GET", "/api/v1/reports/days?from=2026-11-21&to=2026-11-23&offer=spend&store=s001", e.analyst, "",
			http.StatusOK, &days)
		wantDays = []store.DayRow{
			{Day: "2026-11-21", Checkouts: 1, Sales: 3000, Redemptions: 1, Discount: 300, Points: 5,
				Shown: store.Shown{Impressions: 2, ShownCheckouts: 1, ShownRedeemed: 1, Uptake: ptr(1)}},
			{Day: "2026-11-22", Checkouts: 2, Sales: 1200}}
		if !reflect.DeepEqual(days.Items, wantDays) {
			t.Fatalf("spend days at s001\n got %s\nwant %s", js(days.Items), js(wantDays))
		}
		e.call("GET", "/api/v1/reports/days", e.analyst, "", http.StatusOK, &days)
		if len(days.Items) != 30 || days.Items[0].Day != "2026-10-24" || days.Items[29].Day != "2026-11-22" {
			t.Fatalf("default days: %d, %s to %s", len(days.Items), days.Items[0].Day, days.Items[len(days.Items)-1].Day)
		}

		for _, path := range []string{"/api/v1/reports/offers", "/api/v1/reports/stores", "/api/v1/reports/segments",
			"/api/v1/reports/days"} {
			e.fails("GET", path+"?from=junk", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "from")
			e.fails("GET", path+"?from=2026-11-22&to=2026-11-22", e.analyst, "", http.StatusBadRequest, CodeBadRequest,
				"from: must be before to")
			e.fails("GET", path+"?to=2026-11-22T10:00:00", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "to")
			e.fails("GET", path+"?terminal=t1", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "terminal")
			var empty report[json.RawMessage]
			e.call("GET", path+"?from=2020-01-01&to=2020-01-02", e.analyst, "", http.StatusOK, &empty)
			if empty.Items == nil {
				t.Errorf("%s: items is null", path)
			}
		}
		e.fails("GET", "/api/v1/reports/days?offer=Coffee", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "offer")
		e.fails("GET", "/api/v1/reports/days?from=2000-01-01", e.analyst, "", http.StatusBadRequest, CodeBadRequest,
			"at most")
	})
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
