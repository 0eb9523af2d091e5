package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
)

// concrete turns a route's pattern into a path it serves.
func concrete(path string) string {
	return strings.NewReplacer("{id}", "coffee", "{name}", "bundle").Replace(path)
}

func TestAuth(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	routes := e.s.routes()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.s.metrics.errors)
	unauthorized := func() float64 { // posoffer_cloud_api_errors_total{code="unauthorized"}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == CodeUnauthorized {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}

	for _, rt := range routes {
		path := concrete(rt.path)
		if rt.role == "" {
			if r := e.do(rt.method, path, "", ""); r.status != http.StatusOK {
				t.Errorf("%s %s without a token: %d, want 200", rt.method, path, r.status)
			}
			continue
		}
		before := unauthorized()
		e.fails(rt.method, path, "", "", http.StatusUnauthorized, CodeUnauthorized, "token")
		if n := unauthorized(); n != before+1 {
			t.Errorf("%s %s without a token: refusals counted went from %v to %v", rt.method, path, before, n)
		}
		if r := e.do(rt.method, path, "", ""); r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", rt.method, path)
		}
		if rt.role == RoleAdmin {
			e.fails(rt.method, path, e.analyst, "{}", http.StatusForbidden, CodeForbidden, "admin")
		}
	}

	// Malformed, unknown and revoked tokens.
	for _, h := range []string{"Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer nope", "Bearer pof_unknown", "Token " + e.admin} {
		r := e.do("GET", "/api/v1/me", "", "", "Authorization", h)
		if r.status != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", h, r.status)
		}
	}
	revoked := e.token(RoleAdmin, "gone")
	var me store.Token
	e.call("GET", "/api/v1/me", revoked, "", http.StatusOK, &me)
	if err := e.db.RevokeToken(context.Background(), me.ID, t0); err != nil {
		t.Fatal(err)
	}
	e.fails("GET", "/api/v1/me", revoked, "", http.StatusUnauthorized, CodeUnauthorized, "revoked")

	// /me says who is asking; the scheme is case-insensitive.
	r := e.do("GET", "/api/v1/me", "", "", "Authorization", "bearer "+e.analyst)
	if err := json.Unmarshal(r.body, &me); err != nil || r.status != http.StatusOK || me.Role != RoleAnalyst ||
		me.Name != "otto" || me.ID == "" {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), e.analyst) {
		t.Fatal("/me echoes the token")
	}

	// Tokens are stored as hashes only.
	tokens, err := e.db.Tokens(context.Background())
	if err != nil || len(tokens) != 3 {
		t.Fatalf("tokens %+v, %v", tokens, err)
	}
	if _, err := e.db.TokenByHash(context.Background(), hashToken(e.admin)); err != nil {
		t.Fatalf("admin token by hash: %v", err)
	}
}

func TestCookieAuth(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	cookie := CookieName + "=" + e.admin
	offerDoc := `{"id":"coffee","status":"draft","reward":{"type":"amount_off","amount":100}}`

	if r := e.do("GET", "/api/v1/me", "", "", "Cookie", cookie); r.status != http.StatusOK {
		t.Fatalf("GET with the cookie: %d %s", r.status, r.body)
	}
	// A change with the cookie alone, or from another origin, is refused
	// and writes nothing.
	before := e.state()
	for _, hdr := range [][]string{
		{"Cookie", cookie},
		{"Cookie", cookie, "Origin", "https://evil.example"},
		{"Cookie", cookie, "Sec-Fetch-Site", "cross-site"},
		{"Cookie", cookie, "X-Requested-With", "XMLHttpRequest"},
	} {
		r := e.do("POST", "/api/v1/offers", "", offerDoc, hdr...)
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), CodeForbidden) {
			t.Errorf("POST with %v: %d %s, want 403", hdr, r.status, r.body)
		}
	}
	if after := e.state(); after != before {
		t.Fatalf("refused changes wrote:\n%s\n%s", before, after)
	}
	// The dashboard's header, or a same-origin browser, may.
	for i, hdr := range [][]string{
		{"Cookie", cookie, RequestedWithHeader, RequestedWithValue},
		{"Cookie", cookie, "Sec-Fetch-Site", "same-origin"},
		{"Cookie", cookie, "Origin", e.srv.URL},
	} {
		doc := strings.Replace(offerDoc, "coffee", []string{"a", "b", "c"}[i], 1)
		if r := e.do("POST", "/api/v1/offers", "", doc, hdr...); r.status != http.StatusCreated {
			t.Errorf("POST with %v: %d %s, want 201", hdr, r.status, r.body)
		}
	}
	// The header wins over the cookie.
	r := e.do("GET", "/api/v1/me", e.analyst, "", "Cookie", cookie)
	if !strings.Contains(string(r.body), `"role":"analyst"`) {
		t.Fatalf("header and cookie: %s", r.body)
	}
}

func TestNoRoute(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.fails("GET", "/api/v1/nothing", e.admin, "", http.StatusNotFound, CodeNotFound, "/api/v1/nothing")
	e.fails("DELETE", "/api/v1/offers/coffee", e.admin, "", http.StatusMethodNotAllowed, CodeMethodNotAllowed,
		"GET, PUT")
	r := e.do("PATCH", "/api/v1/offers", e.admin, "")
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, POST" {
		t.Fatalf("PATCH /api/v1/offers: %d, Allow %q", r.status, r.header.Get("Allow"))
	}
	e.fails("GET", "/api/v1/stores?x=1", e.analyst, "", http.StatusBadRequest, CodeBadRequest, `"x": unknown parameter`)
}

func TestNewToken(t *testing.T) {
	db := storetest.SQLite(t)(t)
	ctx := context.Background()
	a, tok, err := NewToken(ctx, db, RoleAdmin, "", t0)
	if err != nil || !strings.HasPrefix(a, "pof_") || len(a) != 4+52 || tok.Name != RoleAdmin {
		t.Fatalf("NewToken: %q %+v %v", a, tok, err)
	}
	b, _, err := NewToken(ctx, db, RoleAdmin, "", t0)
	if err != nil || a == b {
		t.Fatalf("two tokens alike: %q %q %v", a, b, err)
	}
	for _, bad := range [][2]string{{"root", ""}, {"", ""}, {RoleAdmin, "two\nlines"}, {RoleAdmin, strings.Repeat("x", 101)}} {
		if _, _, err := NewToken(ctx, db, bad[0], bad[1], t0); err == nil {
			t.Errorf("NewToken(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}
