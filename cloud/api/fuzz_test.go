package api

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/posoffer/posoffer/cloud/store/storetest"
)

// FuzzBodies sends any body to the routes that read one: the reply is
// never a panic or a 500, whatever the body.
func FuzzBodies(f *testing.F) {
	for _, seed := range []string{
		coffeeOffer, staffSegment, previewBody(coffeeOffer), previewBody(`{"id":"x"}`, "segments", `["a"]`),
		`{"fields":{"id":"x","buy_qty":2,"buy_skus":"A,B"}}`, `{"fields":{"id":"x","components":[{"qty":1}],"price":1}}`,
		`{`, `null`, `[]`, `""`, `{"offer":null,"basket":{}}`, `{"id":"x","status":"active","reward":{"type":"points","multiplier":1e308}}`,
	} {
		f.Add(seed)
	}
	e := newEnv(f, storetest.SQLite(f))
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/api/v1/offers", "/api/v1/segments", "/api/v1/preview",
			"/api/v1/templates/buy_x_get_y", "/api/v1/templates/spend_threshold", "/api/v1/templates/bundle"} {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.admin)
			rec := httptest.NewRecorder()
			e.s.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
			}
		}
	})
}
