package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
)

// previewBasket is two coffees, a pastry and three teas, at 09:30 UTC on
// Monday 2026-11-23; its subtotal is 700 + 280 + 480 = 1460.
const previewBasket = `{"v":1,"type":"basket","id":"m-1","txn":"t1-1","ts":"2026-11-23T09:30:00Z","lines":[
	{"sku":"COF-001","qty":2,"price":350,"category":"coffee","brand":"acme"},
	{"sku":"PAS-001","qty":1,"price":280,"category":"pastry"},
	{"sku":"TEA-001","qty":3,"price":160,"category":"tea","brand":"acme"}]}`

func previewBody(offerDoc string, extra ...string) string {
	b := `{"offer":` + offerDoc + `,"basket":` + previewBasket
	for i := 0; i+1 < len(extra); i += 2 {
		b += `,"` + extra[i] + `":` + extra[i+1]
	}
	return b + "}"
}

func TestPreview(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	preview := func(body string) previewReply {
		t.Helper()
		var p previewReply
		e.call("POST", "/api/v1/preview", e.analyst, body, http.StatusOK, &p)
		if p.V != 1 || p.Type != "offers" || p.Re != "m-1" || p.Txn != "t1-1" || p.Offers == nil || p.Nudges == nil {
			t.Fatalf("reply %+v", p)
		}
		return p
	}

	// The offer names segment staff, which HQ does not hold yet.
	e.fails("POST", "/api/v1/preview", e.analyst, previewBody(coffeeOffer), http.StatusUnprocessableEntity,
		CodeInvalidOffer, `unknown segment "staff"`)
	e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
	p := preview(previewBody(coffeeOffer))
	want := []protocol.Offer{{ID: "coffee-2-pastry", Name: "Buy 2 coffees, get a pastry free",
		Text: "Free pastry with 2 coffees", Discount: 280, Lines: []protocol.LineReward{{Line: 1, Qty: 1, Discount: 280}},
		Why: "2+ of category coffee; 1 cheapest of category pastry free"}}
	if !p.Applied || p.Reason != "" || p.AsActive || !reflect.DeepEqual(p.Offers, want) || !p.At.Equal(t0.AddDate(0, 0, 1).Add(-30*time.Minute)) {
		t.Fatalf("preview %+v", p)
	}

	// A draft is evaluated as if active.
	if p := preview(previewBody(strings.Replace(coffeeOffer, `"active"`, `"draft"`, 1))); !p.Applied || !p.AsActive {
		t.Fatalf("draft %+v", p)
	}

	// Out of its schedule at the basket's time; in it in Tokyo, where it is
	// 18:30; and at 09:30 in Tokyo.
	weekday := strings.Replace(coffeeOffer, `"status"`, `"schedule":{"days":["mon"],"from":"06:00","until":"11:00"},"status"`, 1)
	if p := preview(previewBody(weekday, "at", `"2026-11-22T09:30:00Z"`)); p.Applied || p.Reason != "outside its schedule" {
		t.Fatalf("sunday %+v", p)
	}
	if p := preview(previewBody(weekday, "timezone", `"Asia/Tokyo"`)); p.Applied || p.Reason != "outside its schedule" {
		t.Fatalf("monday 18:30 in Tokyo %+v", p)
	}
	if p := preview(previewBody(weekday, "timezone", `"Asia/Tokyo"`, "at", `"2026-11-23T00:30:00Z"`)); !p.Applied ||
		p.Local != "Mon 2026-11-23 09:30" || p.Timezone != "Asia/Tokyo" {
		t.Fatalf("monday 09:30 in Tokyo %+v", p)
	}
	// A store HQ knows the zone of: its zone without one given.
	hb := heartbeat("h-tokyo", "tokyo-1", t0)
	hb.Heartbeat.Zone = "Asia/Tokyo"
	e.write(hb)
	if p := preview(previewBody(weekday, "store", `"tokyo-1"`)); p.Applied || p.Timezone != "Asia/Tokyo" ||
		p.Local != "Mon 2026-11-23 18:30" {
		t.Fatalf("monday 18:30 at the Tokyo store %+v", p)
	}
	if p := preview(previewBody(weekday, "store", `"tokyo-1"`, "at", `"2026-11-23T00:30:00Z"`)); !p.Applied {
		t.Fatalf("monday 09:30 at the Tokyo store %+v", p)
	}
	if p := preview(previewBody(weekday, "store", `"s-unknown"`)); !p.Applied || p.Timezone != "UTC" {
		t.Fatalf("a store HQ has not heard from: UTC %+v", p)
	}

	// Only for a segment: not without it, yes with it given or earned by a
	// profile.
	e.call("POST", "/api/v1/segments", e.admin, `{"id":"vip","when":{"customer":{"visits_min":10}}}`, http.StatusCreated, nil)
	vip := `{"id":"vip-tea","status":"active","audience":{"segments_any":["vip"]},
		"reward":{"type":"buy_x_get_y","buy":{"categories":["tea"],"qty":2},"get":{"categories":["tea"],"qty":1}}}`
	if p := preview(previewBody(vip)); p.Applied || p.Reason != "customer is in none of its segments" {
		t.Fatalf("no segment %+v", p)
	}
	wantTea := []protocol.Offer{{ID: "vip-tea", Discount: 160, Lines: []protocol.LineReward{{Line: 2, Qty: 1, Discount: 160}},
		Why: "buy 2 of category tea, get 1 cheapest of category tea free"}}
	if p := preview(previewBody(vip, "segments", `["vip"]`)); !p.Applied || !reflect.DeepEqual(p.Offers, wantTea) {
		t.Fatalf("segment vip %+v", p)
	}
	if p := preview(previewBody(vip, "profile", `{"visits":12,"lifetime_spend":0,"points":0}`)); !p.Applied {
		t.Fatalf("profile of a vip %+v", p)
	}
	if p := preview(previewBody(vip, "profile", `{"visits":3,"lifetime_spend":0,"points":0}`)); p.Applied {
		t.Fatalf("profile of a non-vip %+v", p)
	}

	// 40 short of a 1500 threshold: a nudge.
	spend := `{"id":"spend-1500","status":"active","condition":{"spend":{"min":1500}},"reward":{"type":"amount_off","amount":150}}`
	p = preview(previewBody(spend))
	if p.Applied || len(p.Nudges) != 1 || p.Nudges[0].Missing.Spend != 40 || !strings.Contains(p.Reason, "nudge") {
		t.Fatalf("nudge %+v", p)
	}
	// Only for store s002.
	if p := preview(previewBody(strings.Replace(spend, `"status"`, `"stores":["s002"],"status"`, 1), "store", `"s001"`)); p.Reason != "not offered at this store" {
		t.Fatalf("store %+v", p)
	}
}

func TestPreviewErrors(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	amount := `{"id":"x","status":"active","reward":{"type":"amount_off","amount":1}}`
	cases := []struct {
		body, code, msg string
	}{
		{`{"basket":` + previewBasket + `}`, CodeBadRequest, "offer: required"},
		{`{"offer":` + amount + `}`, CodeBadRequest, "basket: required"},
		{`{"offer":` + amount + `,"basket":{"v":1,"type":"basket","id":"m","txn":"t","lines":[{"sku":"A","qty":0,"price":1}]}}`,
			CodeBadRequest, "basket: lines[0].qty"},
		{`{"offer":` + amount + `,"basket":{"v":1,"type":"hello","id":"m"}}`, CodeBadRequest, "basket: type"},
		{`{"offer":` + amount + `,"basket":"basket"}`, CodeBadRequest, "basket"},
		{previewBody(amount, "at", `"yesterday"`), CodeBadRequest, "at:"},
		{previewBody(amount, "timezone", `"Mars/Olympus"`), CodeBadRequest, "timezone"},
		{previewBody(amount, "store", `"S 1"`), CodeBadRequest, "store"},
		{previewBody(amount, "segments", `["ok","Not OK"]`), CodeBadRequest, "segments[1]"},
		{previewBody(amount, "segments", `"vip"`), CodeBadRequest, "segments"},
		{previewBody(amount, "profile", `{"visits":-1}`), CodeBadRequest, "profile"},
		{previewBody(amount, "colour", `1`), CodeBadRequest, "colour"},
		{previewBody(`[1]`), CodeBadRequest, "offer"},
		{previewBody(`{"id":"x","status":"active","reward":{"type":"amount_off","amount":-1}}`), CodeInvalidOffer,
			`offer "x": reward.amount`},
	}
	for _, c := range cases {
		status := http.StatusBadRequest
		if c.code == CodeInvalidOffer {
			status = http.StatusUnprocessableEntity
		}
		e.fails("POST", "/api/v1/preview", e.analyst, c.body, status, c.code, c.msg)
	}
	// The customer's loyalty id never comes back in an error.
	r := e.do("POST", "/api/v1/preview", e.analyst, `{"offer":`+amount+`,"basket":{"v":1,"type":"basket","id":"m","txn":"t",
		"customer":"4900123456789","lines":[{"sku":"4900123456789","qty":0,"price":1}]}}`)
	var er errorReply
	json.Unmarshal(r.body, &er)
	if r.status != http.StatusBadRequest || strings.Contains(string(r.body), "4900123456789") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
