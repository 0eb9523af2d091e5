package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol/offer"
)

const (
	coffeeOffer = `{
		"id": "coffee-2-pastry", "name": "Buy 2 coffees, get a pastry free", "status": "active",
		"audience": {"segments_none": ["staff"]},
		"condition": {"items": {"categories": ["coffee"], "min_qty": 2}},
		"reward": {"type": "free_item", "target": {"categories": ["pastry"]}, "qty": 1},
		"limits": {"budget": 10000}, "text": "Free pastry with 2 coffees"}`
	staffSegment = `{"id": "staff", "name": "Store staff", "when": {"history": {"skus": ["STAFF-CARD"], "within_days": 365}}}`
)

func TestOffers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		var seg, created, got objectView
		e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, &seg)
		e.call("POST", "/api/v1/offers", e.admin, coffeeOffer, http.StatusCreated, &created)
		if created.ID != "coffee-2-pastry" || created.Status != "active" || created.UpdatedBy != "ann" ||
			!created.UpdatedAt.Equal(t0) || !created.CreatedAt.Equal(t0) || created.Published == nil || !*created.Published {
			t.Fatalf("created %+v", created)
		}
		if compact(t, string(created.Doc)) != compact(t, coffeeOffer) {
			t.Fatalf("stored document %s", created.Doc)
		}
		keys := e.keys()
		if compact(t, keys["offer.coffee-2-pastry"]) != compact(t, coffeeOffer) ||
			compact(t, keys["segment.staff"]) != compact(t, staffSegment) || len(keys) != 2 {
			t.Fatalf("bucket %v", keys)
		}

		e.call("GET", "/api/v1/offers/coffee-2-pastry", e.analyst, "", http.StatusOK, &got)
		if got.ID != created.ID || string(got.Doc) != string(created.Doc) || got.Published != nil {
			t.Fatalf("got %+v", got)
		}
		e.fails("GET", "/api/v1/offers/nope", e.analyst, "", http.StatusNotFound, CodeNotFound, "nope")
		e.fails("GET", "/api/v1/offers/Bad%20Id", e.analyst, "", http.StatusNotFound, CodeNotFound)
		e.fails("POST", "/api/v1/offers", e.admin, coffeeOffer, http.StatusConflict, CodeConflict, "exists")

		// An update, later, by another admin.
		e.clock.set(t0.Add(time.Hour))
		bob := e.token(RoleAdmin, "bob")
		v2 := strings.Replace(coffeeOffer, `"qty": 1}`, `"qty": 2}`, 1)
		e.fails("PUT", "/api/v1/offers/other", bob, v2, http.StatusBadRequest, CodeBadRequest, "id")
		e.fails("PUT", "/api/v1/offers/nope", bob, strings.Replace(v2, "coffee-2-pastry", "nope", 1),
			http.StatusNotFound, CodeNotFound)
		var updated objectView
		e.call("PUT", "/api/v1/offers/coffee-2-pastry", bob, v2, http.StatusOK, &updated)
		if !updated.CreatedAt.Equal(t0) || !updated.UpdatedAt.Equal(t0.Add(time.Hour)) || updated.UpdatedBy != "bob" {
			t.Fatalf("updated %+v", updated)
		}
		if compact(t, e.keys()["offer.coffee-2-pastry"]) != compact(t, v2) {
			t.Fatalf("bucket after update: %s", e.keys()["offer.coffee-2-pastry"])
		}
		// The same document again changes nothing.
		e.call("PUT", "/api/v1/offers/coffee-2-pastry", bob, v2, http.StatusOK, nil)

		// Status: pause, pause again (nothing), resume, end; then it is final.
		status := func(action string, want int, wantStatus string) {
			t.Helper()
			var v objectView
			e.call("POST", "/api/v1/offers/coffee-2-pastry/"+action, e.admin, "", want, &v)
			var doc struct{ Status string }
			json.Unmarshal([]byte(e.keys()["offer.coffee-2-pastry"]), &doc)
			if v.Status != wantStatus || doc.Status != wantStatus || !strings.Contains(string(v.Doc), `"status":"`+wantStatus+`"`) {
				t.Fatalf("%s: %+v, bucket status %q; want %s", action, v, doc.Status, wantStatus)
			}
		}
		status("pause", http.StatusOK, "paused")
		status("pause", http.StatusOK, "paused")
		status("resume", http.StatusOK, "active")
		status("end", http.StatusOK, "ended")
		e.fails("POST", "/api/v1/offers/coffee-2-pastry/resume", e.admin, "", http.StatusConflict, CodeConflict, "ended")
		e.fails("POST", "/api/v1/offers/coffee-2-pastry/pause", e.admin, "", http.StatusConflict, CodeConflict)
		e.fails("PUT", "/api/v1/offers/coffee-2-pastry", e.admin, v2, http.StatusConflict, CodeConflict, "ended")
		e.fails("POST", "/api/v1/offers/nope/end", e.admin, "", http.StatusNotFound, CodeNotFound)

		// A draft resumes to active; it cannot be paused.
		draft := `{"id":"tea","status":"draft","reward":{"type":"percent_off","target":{"brands":["acme"]},"percent":12.5}}`
		e.call("POST", "/api/v1/offers", e.admin, draft, http.StatusCreated, nil)
		e.fails("POST", "/api/v1/offers/tea/pause", e.admin, "", http.StatusConflict, CodeConflict, "is draft")
		e.call("POST", "/api/v1/offers/tea/resume", e.admin, "", http.StatusOK, nil)
		if !strings.Contains(e.keys()["offer.tea"], `"percent":12.5`) {
			t.Fatalf("a number changed on the way: %s", e.keys()["offer.tea"])
		}

		var all, ended, bad list[objectView]
		e.call("GET", "/api/v1/offers", e.analyst, "", http.StatusOK, &all)
		e.call("GET", "/api/v1/offers?status=ended", e.analyst, "", http.StatusOK, &ended)
		if len(all.Items) != 2 || all.Items[0].ID != "coffee-2-pastry" || all.Items[1].ID != "tea" ||
			len(ended.Items) != 1 || ended.Items[0].ID != "coffee-2-pastry" {
			t.Fatalf("lists %+v %+v", all, ended)
		}
		e.fails("GET", "/api/v1/offers?status=gone", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "status")
		e.call("GET", "/api/v1/offers?status=paused", e.analyst, "", http.StatusOK, &bad)
		if bad.Items == nil || len(bad.Items) != 0 {
			t.Fatalf("empty list: %+v", bad)
		}

		// The audit log: every change, newest first, with before and after.
		var audit page[store.AuditEntry]
		e.call("GET", "/api/v1/audit?kind=offer&id=coffee-2-pastry", e.analyst, "", http.StatusOK, &audit)
		var actions []string
		for _, a := range audit.Items {
			actions = append(actions, a.Action+"/"+a.Actor)
		}
		if strings.Join(actions, " ") != "end/ann resume/ann pause/ann update/bob create/ann" || audit.Next != "" {
			t.Fatalf("audit %v", actions)
		}
		upd := audit.Items[3]
		if compact(t, string(upd.Before)) != compact(t, coffeeOffer) || compact(t, string(upd.After)) != compact(t, v2) ||
			!upd.At.Equal(t0.Add(time.Hour)) || upd.Kind != "offer" || upd.ObjectID != "coffee-2-pastry" {
			t.Fatalf("update entry %+v", upd)
		}
		if cr := audit.Items[4]; !isAbsent(cr.Before) || string(cr.After) != string(created.Doc) {
			t.Fatalf("create entry %+v", cr)
		}
		var paged []string
		next := ""
		for {
			var p page[store.AuditEntry]
			e.call("GET", "/api/v1/audit?limit=2&after="+next, e.analyst, "", http.StatusOK, &p)
			for _, a := range p.Items {
				paged = append(paged, a.ID)
			}
			if next = p.Next; next == "" {
				break
			}
		}
		if len(paged) != 8 { // segment, 5 coffee changes, tea create and resume
			t.Fatalf("paged audit: %d entries", len(paged))
		}
		e.fails("GET", "/api/v1/audit?kind=coupon", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "kind")
		e.fails("GET", "/api/v1/audit?after=junk", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "after")
	})
}

func TestSegments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
		e.call("POST", "/api/v1/segments", e.admin, `{"id":"vip","when":{"customer":{"visits_min":10}}}`, http.StatusCreated, nil)
		e.call("POST", "/api/v1/offers", e.admin, coffeeOffer, http.StatusCreated, nil)

		var segs list[objectView]
		e.call("GET", "/api/v1/segments", e.analyst, "", http.StatusOK, &segs)
		if len(segs.Items) != 2 || segs.Items[0].ID != "staff" || segs.Items[0].Status != "" {
			t.Fatalf("segments %+v", segs)
		}
		var vip objectView
		e.call("GET", "/api/v1/segments/vip", e.analyst, "", http.StatusOK, &vip)

		e.call("PUT", "/api/v1/segments/vip", e.admin, `{"id":"vip","name":"VIP","when":{"customer":{"visits_min":20}}}`,
			http.StatusOK, nil)
		if !strings.Contains(e.keys()["segment.vip"], `"visits_min":20`) {
			t.Fatalf("bucket %v", e.keys())
		}
		e.fails("PUT", "/api/v1/segments/vip", e.admin, `{"id":"vip","when":{"items":{"skus":["A"]}}}`,
			http.StatusUnprocessableEntity, CodeInvalidSegment, `segment "vip"`)

		// A segment an offer uses stays; one no offer uses goes, from the
		// bucket too.
		e.fails("DELETE", "/api/v1/segments/staff", e.admin, "", http.StatusConflict, CodeConflict, "coffee-2-pastry")
		var del objectView
		e.call("DELETE", "/api/v1/segments/vip", e.admin, "", http.StatusOK, &del)
		if !del.Deleted || del.Published == nil || !*del.Published {
			t.Fatalf("delete reply %+v", del)
		}
		if _, ok := e.keys()["segment.vip"]; ok {
			t.Fatal("the deleted segment is still in the bucket")
		}
		e.fails("DELETE", "/api/v1/segments/vip", e.admin, "", http.StatusNotFound, CodeNotFound)
		e.fails("GET", "/api/v1/segments/vip", e.admin, "", http.StatusNotFound, CodeNotFound)
		var audit page[store.AuditEntry]
		e.call("GET", "/api/v1/audit?kind=segment&id=vip", e.analyst, "", http.StatusOK, &audit)
		if len(audit.Items) != 3 || audit.Items[0].Action != "delete" || !isAbsent(audit.Items[0].After) ||
			!strings.Contains(string(audit.Items[0].Before), `"visits_min":20`) {
			t.Fatalf("segment audit %+v", audit.Items)
		}
	})
}

// Every bad change is refused with a reason, and leaves the database and
// the bucket as they were.
func TestBadChangesWriteNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
		e.call("POST", "/api/v1/offers", e.admin, coffeeOffer, http.StatusCreated, nil)
		before := e.state()
		keys := e.keys()

		cases := []struct {
			method, path, body string
			status             int
			code               string
			msg                string
		}{
			{"POST", "/api/v1/offers", ``, 400, CodeBadRequest, "body"},
			{"POST", "/api/v1/offers", `{"id":`, 400, CodeBadRequest, "not valid JSON"},
			{"POST", "/api/v1/offers", `[1,2]`, 400, CodeBadRequest, "body"},
			{"POST", "/api/v1/offers", `null`, 400, CodeBadRequest, "null"},
			{"POST", "/api/v1/offers", `{"id":"a"} {"id":"b"}`, 400, CodeBadRequest, "after"},
			{"POST", "/api/v1/offers", `{"id":"x","status":"active","reward":{"type":"amount_off","amount":-300}}`,
				422, CodeInvalidOffer, `offer "x": reward.amount: must not be negative, got -300`},
			{"POST", "/api/v1/offers", `{"id":"x","status":"live","reward":{"type":"amount_off","amount":1}}`,
				422, CodeInvalidOffer, "status"},
			{"POST", "/api/v1/offers", `{"id":"x","status":"active","reward":{"type":"amount_off","amount":1},"colour":"red"}`,
				422, CodeInvalidOffer, "colour"},
			{"POST", "/api/v1/offers", `{"status":"active","reward":{"type":"amount_off","amount":1}}`,
				422, CodeInvalidOffer, "id"},
			{"POST", "/api/v1/offers", `{"id":"x","status":"active","audience":{"segments_any":["vip"]},"reward":{"type":"amount_off","amount":1}}`,
				422, CodeInvalidOffer, `offer "x": audience.segments_any: unknown segment "vip"`},
			{"POST", "/api/v1/offers", `{"id":"x","status":"active","reward":{"type":"free_item","target":{},"qty":1}}`,
				422, CodeInvalidOffer, `offer "x"`},
			{"POST", "/api/v1/offers", `{"id":"x","status":"active","reward":{"type":"amount_off","amount":1},"name":"` +
				strings.Repeat("x", maxBody) + `"}`, 413, CodeTooLarge, "body"},
			{"POST", "/api/v1/offers", coffeeOffer, 409, CodeConflict, "exists"},
			{"PUT", "/api/v1/offers/coffee-2-pastry", strings.Replace(coffeeOffer, `"qty": 1`, `"qty": 0`, 1),
				422, CodeInvalidOffer, "qty"},
			{"PUT", "/api/v1/offers/coffee-2-pastry", strings.Replace(coffeeOffer, `"staff"`, `"staf"`, 1),
				422, CodeInvalidOffer, `unknown segment "staf"`},
			{"PUT", "/api/v1/offers/coffee-2-pastry", strings.Replace(coffeeOffer, `"coffee-2-pastry"`, `"other"`, 1),
				400, CodeBadRequest, "id"},
			{"POST", "/api/v1/segments", `{"id":"s","when":{"spend":{"min":1}}}`, 422, CodeInvalidSegment, `segment "s"`},
			{"POST", "/api/v1/segments", `{"id":"S!","when":{}}`, 422, CodeInvalidSegment, "id"},
			{"POST", "/api/v1/segments", `{"id":"","when":{}}`, 422, CodeInvalidSegment, "id: must be 1 to 64"},
			{"POST", "/api/v1/offers", `{"id":"","status":"active","reward":{"type":"amount_off","amount":1}}`,
				422, CodeInvalidOffer, "id: must be 1 to 64"},
			{"POST", "/api/v1/segments", staffSegment, 409, CodeConflict, "exists"},
			{"DELETE", "/api/v1/segments/staff", "", 409, CodeConflict, "coffee-2-pastry"},
			{"POST", "/api/v1/offers/coffee-2-pastry/resume", "", 200, "", ""}, // active already: nothing to do
		}
		for _, c := range cases {
			if c.code == "" {
				e.call(c.method, c.path, e.admin, c.body, c.status, nil)
			} else {
				e.fails(c.method, c.path, e.admin, c.body, c.status, c.code, c.msg)
			}
			if after := e.state(); after != before {
				t.Fatalf("%s %s %.60s changed the state:\n%s\n%s", c.method, c.path, c.body, before, after)
			}
		}
		if after := e.keys(); len(after) != len(keys) || after["offer.coffee-2-pastry"] != keys["offer.coffee-2-pastry"] {
			t.Fatalf("bucket changed: %v", after)
		}
	})
}

// When the bucket is down, a change is kept, answered 202 with
// "published": false, and published once the bucket is back.
func TestPublishRetries(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.kv.broken.Store(true)
	var v objectView
	e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusAccepted, &v)
	if v.Published == nil || *v.Published {
		t.Fatalf("reply %+v", v)
	}
	e.call("POST", "/api/v1/offers", e.admin, coffeeOffer, http.StatusAccepted, nil)
	if _, err := e.db.Object(context.Background(), store.KindOffer, "coffee-2-pastry"); err != nil {
		t.Fatalf("the database lost the change: %v", err)
	}
	if len(e.keys()) != 0 || e.s.pub.pendingCount() != 2 {
		t.Fatalf("bucket %v, %d pending", e.keys(), e.s.pub.pendingCount())
	}
	e.fails("POST", "/api/v1/publish", e.admin, "", http.StatusServiceUnavailable, CodeUnavailable, "bucket")

	e.kv.broken.Store(false)
	waitFor(t, "the pending changes published", func() bool {
		return len(e.keys()) == 2 && e.s.pub.pendingCount() == 0
	})
	if compact(t, e.keys()["offer.coffee-2-pastry"]) != compact(t, coffeeOffer) {
		t.Fatalf("bucket %v", e.keys())
	}
}

// POST /api/v1/publish makes the bucket hold exactly what the database
// holds.
func TestPublishAll(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
		e.call("POST", "/api/v1/offers", e.admin, coffeeOffer, http.StatusCreated, nil)
		ctx := context.Background()
		// The bucket drifts: a stray key, a changed one, a deleted one.
		if _, err := e.bucket.Put(ctx, "offer.stray", []byte(`{"id":"stray"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.bucket.Put(ctx, "offer.coffee-2-pastry", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if err := e.bucket.Delete(ctx, "segment.staff"); err != nil {
			t.Fatal(err)
		}
		e.fails("POST", "/api/v1/publish", e.analyst, "", http.StatusForbidden, CodeForbidden)
		var res publishResult
		e.call("POST", "/api/v1/publish", e.admin, "", http.StatusOK, &res)
		if res != (publishResult{Put: 2, Deleted: 1}) {
			t.Fatalf("publish %+v", res)
		}
		keys := e.keys()
		if len(keys) != 2 || compact(t, keys["offer.coffee-2-pastry"]) != compact(t, coffeeOffer) ||
			compact(t, keys["segment.staff"]) != compact(t, staffSegment) {
			t.Fatalf("bucket %v", keys)
		}
		e.call("POST", "/api/v1/publish", e.admin, "", http.StatusOK, &res)
		if res != (publishResult{Unchanged: 2}) {
			t.Fatalf("publish again %+v", res)
		}
	})
}

// The catalog the bucket holds is one the agents' parser accepts.
func TestPublishedCatalogParses(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
	e.call("POST", "/api/v1/offers", e.admin, coffeeOffer, http.StatusCreated, nil)
	doc := catalogDoc{Version: 1}
	keys := e.keys()
	for _, k := range sortedKeys(keys) {
		if strings.HasPrefix(k, "offer.") {
			doc.Offers = append(doc.Offers, json.RawMessage(keys[k]))
		} else {
			doc.Segments = append(doc.Segments, json.RawMessage(keys[k]))
		}
	}
	b, _ := json.Marshal(doc)
	c, err := offer.Parse(b)
	if err != nil || c.Offer("coffee-2-pastry") == nil || c.Offer("coffee-2-pastry").Limits.Budget != 10000 {
		t.Fatalf("the bucket's catalog: %v", err)
	}
}
