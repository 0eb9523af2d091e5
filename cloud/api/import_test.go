package api

import (
	"context"
	"strings"
	"testing"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
)

func TestImport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		who := store.Actor{Name: "catalog push"}
		file := `version: 1
segments:
  - {id: vip, when: {customer: {visits_min: 10}}}
offers:
  - {id: vip-5, status: active, audience: {segments_any: [vip]}, reward: {type: percent_off, percent: 5}}
  - {id: all-3, status: active, reward: {type: percent_off, percent: 3}}
`
		if n, err := Import(ctx, e.db, []byte(file), who, t0); err != nil || n != 3 {
			t.Fatalf("first import: %d, %v; want 3 objects", n, err)
		}
		if n, err := Import(ctx, e.db, []byte(file), who, t0); err != nil || n != 0 {
			t.Fatalf("the same file again: %d, %v; want nothing changed", n, err)
		}
		before := e.state()

		// An offer whose segment HQ does not have: refused whole, and the
		// API's own changes still work afterwards.
		bad := "version: 1\noffers:\n  - {id: gold-9, status: active, audience: {segments_any: [gold]}, reward: {type: percent_off, percent: 9}}\n" +
			"  - {id: all-3, status: active, reward: {type: percent_off, percent: 4}}\n"
		if _, err := Import(ctx, e.db, []byte(bad), who, t0); err == nil || !strings.Contains(err.Error(), `unknown segment "gold"`) {
			t.Fatalf("import with an unknown segment: %v", err)
		}
		if after := e.state(); after != before {
			t.Errorf("a refused import changed HQ:\n%s\nwant\n%s", after, before)
		}
		e.call("POST", "/api/v1/segments", e.admin, `{"id":"new","when":{}}`, 201, nil)

		// An ended offer does not come back through a file.
		e.call("POST", "/api/v1/offers/all-3/end", e.admin, "", 200, nil)
		if _, err := Import(ctx, e.db, []byte(file), who, t0); err == nil || !strings.Contains(err.Error(), "has ended") {
			t.Fatalf("import over an ended offer: %v", err)
		}
		o, err := e.db.Object(ctx, store.KindOffer, "all-3")
		if err != nil || o.Status != "ended" {
			t.Fatalf("all-3 after the refused import: %+v, %v; want ended", o, err)
		}
	})
}
