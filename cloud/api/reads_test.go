package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
)

func redemption(id, store, offer string, at time.Time, discount, points int64, segments ...string) *protocol.Event {
	return &protocol.Event{ID: id, Kind: protocol.EventRedemption, Store: store, At: at, Terminal: "t1",
		Txn: "txn-" + id, Redemption: &protocol.RedemptionEvent{Offer: offer, Discount: discount, Points: points,
			Segments: segments}}
}

func impression(id, store, offer string, at time.Time, nudge bool) *protocol.Event {
	return &protocol.Event{ID: id, Kind: protocol.EventImpression, Store: store, At: at,
		Impression: &protocol.ImpressionEvent{Offer: offer, Nudge: nudge}}
}

func checkout(id, store string, at time.Time, subtotal int64) *protocol.Event {
	return &protocol.Event{ID: id, Kind: protocol.EventCheckout, Store: store, At: at, Terminal: "t1", Txn: "txn-" + id,
		Checkout: &protocol.CheckoutEvent{Lines: []protocol.EventLine{{SKU: "A", Qty: 1, Price: subtotal}},
			Subtotal: subtotal, Paid: subtotal, Currency: "JPY"}}
}

func heartbeat(id, store string, at time.Time) *protocol.Event {
	return &protocol.Event{ID: id, Kind: protocol.EventHeartbeat, Store: store, At: at,
		Heartbeat: &protocol.Heartbeat{Agent: "1.2.0", Catalog: 42, OutboxDepth: 3}}
}

func (e *env) write(events ...*protocol.Event) {
	e.t.Helper()
	if _, err := e.db.WriteEvents(context.Background(), events); err != nil {
		e.t.Fatal(err)
	}
}

func TestStores(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		e.write(heartbeat("h1", "s001", t0.Add(-5*time.Second)), heartbeat("h2", "s002", t0.Add(-2*time.Minute)),
			checkout("c1", "s003", t0.Add(-time.Hour), 100))
		var got list[map[string]any]
		e.call("GET", "/api/v1/stores", e.analyst, "", http.StatusOK, &got)
		if len(got.Items) != 3 {
			t.Fatalf("stores %+v", got)
		}
		s1, s2, s3 := got.Items[0], got.Items[1], got.Items[2]
		if s1["store"] != "s001" || s1["online"] != true || s1["agent"] != "1.2.0" || s1["catalog"] != 42.0 ||
			s1["outbox_depth"] != 3.0 || s1["last_seen"] != "2026-11-22T09:59:55Z" {
			t.Errorf("s001 %v", s1)
		}
		if s2["online"] != false || s2["last_seen"] != "2026-11-22T09:58:00Z" {
			t.Errorf("s002 %v", s2)
		}
		if _, seen := s3["last_seen"]; s3["online"] != false || seen {
			t.Errorf("s003 %v", s3)
		}
		// 60 s after its heartbeat a store is still online; after that, not.
		e.clock.set(t0.Add(55 * time.Second))
		e.call("GET", "/api/v1/stores", e.analyst, "", http.StatusOK, &got)
		if got.Items[0]["online"] != true {
			t.Errorf("at 60 s: %v", got.Items[0])
		}
		e.clock.set(t0.Add(56 * time.Second))
		e.call("GET", "/api/v1/stores", e.analyst, "", http.StatusOK, &got)
		if got.Items[0]["online"] != false {
			t.Errorf("after 60 s: %v", got.Items[0])
		}
	})
}

// redemptionEvents are 30 redemptions at 6 times, at three stores.
func redemptionEvents() []*protocol.Event {
	var out []*protocol.Event
	for i := range 30 {
		var segments []string
		switch i % 3 {
		case 0:
			segments = []string{"regulars", "vip"}
		case 1:
			segments = []string{"vip"}
		}
		out = append(out, redemption(fmt.Sprintf("r%02d", (i*7)%30), []string{"s001", "s002", "s003"}[i%3],
			[]string{"coffee", "tea"}[i%2], t0.Add(-time.Duration(i%6)*time.Hour), int64(100+i), int64(i%4), segments...))
	}
	return out
}

func TestRedemptions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		e.write(redemptionEvents()...)
		// s002 says it is in Tokyo: its CSV times are Tokyo's.
		tokyo, _ := time.LoadLocation("Asia/Tokyo")
		hb := heartbeat("h-s002", "s002", t0)
		hb.Heartbeat.Zone = "Asia/Tokyo"
		e.write(hb)

		var all page[store.Redemption]
		e.call("GET", "/api/v1/redemptions?limit=1000", e.analyst, "", http.StatusOK, &all)
		if len(all.Items) != 30 || all.Next != "" {
			t.Fatalf("%d items, next %q", len(all.Items), all.Next)
		}
		// The contract's fields, on each item.
		var raw struct{ Items []map[string]any }
		r := e.call("GET", "/api/v1/redemptions?limit=1", e.analyst, "", http.StatusOK, &raw)
		for _, f := range []string{"id", "store", "offer", "txn", "discount", "points", "at"} {
			if _, ok := raw.Items[0][f]; !ok {
				t.Errorf("an item lacks %s: %s", f, r.body)
			}
		}
		if !strings.Contains(string(r.body), `"next":"`) {
			t.Errorf("no next: %s", r.body)
		}

		filters := []struct {
			query string
			keep  func(x store.Redemption) bool
		}{
			{"", func(store.Redemption) bool { return true }},
			{"store=s002", func(x store.Redemption) bool { return x.Store == "s002" }},
			{"offer=tea&segment=vip", func(x store.Redemption) bool {
				return x.Offer == "tea" && slices.Contains(x.Segments, "vip")
			}},
			{"from=" + url.QueryEscape(t0.Add(-3*time.Hour).Format(time.RFC3339)) + "&to=" +
				url.QueryEscape(t0.Add(-time.Hour).Format(time.RFC3339)), func(x store.Redemption) bool {
				return !x.At.Before(t0.Add(-3*time.Hour)) && x.At.Before(t0.Add(-time.Hour))
			}},
			{"from=2026-11-22", func(x store.Redemption) bool { return !x.At.Before(t0.Add(-10 * time.Hour)) }},
		}
		for _, f := range filters {
			var want []string
			for _, x := range all.Items {
				if f.keep(x) {
					want = append(want, x.ID)
				}
			}
			// Pages of 4: no gaps, no repeats, newest first.
			var got []string
			next := ""
			for pages := 0; ; pages++ {
				var p page[store.Redemption]
				e.call("GET", "/api/v1/redemptions?limit=4&"+f.query+"&after="+url.QueryEscape(next), e.analyst, "",
					http.StatusOK, &p)
				if len(p.Items) > 4 || pages > 30 {
					t.Fatalf("%s: page of %d", f.query, len(p.Items))
				}
				for _, x := range p.Items {
					got = append(got, x.ID)
				}
				if next = p.Next; next == "" {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%q:\n got %v\nwant %v", f.query, got, want)
			}

			// The same as CSV: a header, then every row, however many pages.
			for _, how := range []string{"format", "accept"} {
				path, hdr := "/api/v1/redemptions?format=csv&"+f.query, []string{}
				if how == "accept" {
					path, hdr = "/api/v1/redemptions?"+f.query, []string{"Accept", "text/csv"}
				}
				r := e.do("GET", path, e.analyst, "", hdr...)
				if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
					t.Fatalf("csv: %d %s", r.status, r.body)
				}
				rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(rows[0], csvHeader) || len(rows) != len(want)+1 {
					t.Fatalf("%s csv: %d rows, header %v", f.query, len(rows), rows[0])
				}
				i := 0
				for _, x := range all.Items {
					if !f.keep(x) {
						continue
					}
					i++
					loc := time.UTC
					if x.Store == "s002" {
						loc = tokyo
					}
					wantRow := []string{x.ID, x.Store, x.Offer, x.Txn, strconv.FormatInt(x.Discount, 10),
						strconv.FormatInt(x.Points, 10), x.At.In(loc).Format(time.RFC3339Nano), strings.Join(x.Segments, " "),
						"", loc.String()}
					if !reflect.DeepEqual(rows[i], wantRow) {
						t.Fatalf("csv row %d: %v, want %v", i, rows[i], wantRow)
					}
				}
			}
		}

		bad := map[string]string{
			"store=S001":                       "store",
			"offer=" + strings.Repeat("x", 65): "offer",
			"segment=a,b":                      "segment",
			"from=yesterday":                   "from",
			"to=2026-13-01":                    "to",
			"from=2026-11-22&to=2026-11-21":    "from",
			"limit=0":                          "limit",
			"limit=1001":                       "limit",
			"limit=ten":                        "limit",
			"after=junk":                       "after",
			"format=xml":                       "format",
			"store=s001&store=s002":            "store",
			"shop=s001":                        "shop",
		}
		for q, name := range bad {
			e.fails("GET", "/api/v1/redemptions?"+q, e.analyst, "", http.StatusBadRequest, CodeBadRequest, name)
		}
		e.fails("GET", "/api/v1/redemptions?format=csv&after=junk", e.analyst, "", http.StatusBadRequest,
			CodeBadRequest, "after")
	})
}

// A txn that a spreadsheet would read as a formula is defused in the CSV.
func TestRedemptionsCSVFormula(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	x := redemption("r1", "s001", "coffee", t0, 1, 0)
	x.Txn = "=HYPERLINK(\"http://evil\")"
	e.write(x)
	r := e.do("GET", "/api/v1/redemptions?format=csv", e.analyst, "")
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][3] != "'"+x.Txn {
		t.Fatalf("%v %v", rows, err)
	}
	var p page[store.Redemption]
	json.Unmarshal(e.call("GET", "/api/v1/redemptions", e.analyst, "", http.StatusOK, nil).body, &p)
	if p.Items[0].Txn != x.Txn {
		t.Fatalf("json txn %q", p.Items[0].Txn)
	}
}
