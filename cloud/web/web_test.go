package web

import (
	"context"
	"crypto/tls"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/api"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
)

// env is HQ's HTTP side as run.go mounts it: the real API on a real
// database, and the dashboard, behind an httptest server.
type env struct {
	t              *testing.T
	db             *store.DB
	srv            *httptest.Server
	handler        http.Handler // the dashboard alone
	admin, analyst string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := storetest.SQLite(t)(t)
	hqAPI := api.New(api.Options{DB: db}) // no bucket: these tests change nothing
	e := &env{t: t, db: db, handler: New(Options{API: hqAPI})}
	mux := http.NewServeMux()
	mux.Handle(api.Prefix, hqAPI)
	mux.Handle("/", e.handler)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.admin = e.token(api.RoleAdmin, "Marketing")
	e.analyst = e.token(api.RoleAnalyst, "Insights")
	return e
}

func (e *env) token(role, name string) string {
	e.t.Helper()
	token, _, err := api.NewToken(context.Background(), e.db, role, name, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return token
}

// reply is a response, read whole.
type reply struct {
	*http.Response
	body string
}

// do sends a request without following redirects. cookie, when not "",
// is the token cookie's value.
func (e *env) do(method, path, cookie string, form url.Values, header ...string) reply {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: api.CookieName, Value: cookie})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{resp, string(b)}
}

func tokenCookieOf(r reply) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == api.CookieName {
			return c
		}
	}
	return nil
}

func TestLogin(t *testing.T) {
	e := newEnv(t)

	if r := e.do("GET", "/", "", nil); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Errorf("GET / without a token: %d to %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
	}
	if r := e.do("GET", "/stores", "", nil); r.Header.Get("Location") != "/login?next=%2Fstores" {
		t.Errorf("GET /stores without a token goes to %q, want back to /stores after login", r.Header.Get("Location"))
	}
	for _, path := range []string{"/offers/coffee", "/reports", "/calendar"} {
		if r := e.do("GET", path, "", nil); r.StatusCode != http.StatusSeeOther ||
			r.Header.Get("Location") != "/login?next="+url.QueryEscape(path) {
			t.Errorf("GET %s without a token: %d to %q, want the login page", path, r.StatusCode, r.Header.Get("Location"))
		}
	}
	r := e.do("GET", "/login?next=/stores", "", nil)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `id="token"`) ||
		!strings.Contains(r.body, `name="next" value="/stores"`) || strings.Contains(r.body, `id="logout"`) {
		t.Errorf("GET /login: %d\n%s", r.StatusCode, r.body)
	}

	for _, tc := range []struct {
		name, token string
		status      int
		message     string
	}{
		{"empty", "  ", http.StatusBadRequest, "Paste a token"},
		{"unknown", "pof_" + strings.Repeat("a", 52), http.StatusUnauthorized, "not accepted"},
		{"not a token", "hunter2", http.StatusUnauthorized, "not a posoffer token"},
		{"control characters", "pof_\x00\r\n;=", http.StatusUnauthorized, "not accepted"},
		{"long", "pof_" + strings.Repeat("a", 5000), http.StatusUnauthorized, "not accepted"},
	} {
		r := e.do("POST", "/login", "", url.Values{"token": {tc.token}})
		if r.StatusCode != tc.status || !strings.Contains(r.body, `id="login-error"`) ||
			!strings.Contains(r.body, tc.message) || tokenCookieOf(r) != nil {
			t.Errorf("login with %s token: %d, cookie %v; want %d with %q\n%s", tc.name, r.StatusCode,
				tokenCookieOf(r), tc.status, tc.message, r.body)
		}
	}
	big := url.Values{"token": {strings.Repeat("x", maxLoginForm)}}
	if r := e.do("POST", "/login", "", big); r.StatusCode != http.StatusBadRequest {
		t.Errorf("a login form over %d bytes: %d, want 400", maxLoginForm, r.StatusCode)
	}

	r = e.do("POST", "/login", "", url.Values{"token": {" " + e.admin + "\n"}, "next": {"/offers"}})
	c := tokenCookieOf(r)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/offers" || c == nil {
		t.Fatalf("login with the admin token: %d to %q, cookie %v", r.StatusCode, r.Header.Get("Location"), c)
	}
	if c.Value != e.admin || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" {
		t.Errorf("token cookie %+v: want the token, HttpOnly, SameSite=Strict, not Secure over HTTP, Path /", c)
	}
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "/api/v1/me", "offers"} {
		r := e.do("POST", "/login", "", url.Values{"token": {e.admin}, "next": {next}})
		if r.Header.Get("Location") != "/" {
			t.Errorf("login with next=%q goes to %q, want /", next, r.Header.Get("Location"))
		}
	}

	// Over TLS the cookie is Secure.
	w := httptest.NewRecorder()
	form := strings.NewReader(url.Values{"token": {e.admin}}.Encode())
	req := httptest.NewRequest("POST", "https://hq.example/login", form)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.TLS = &tls.ConnectionState{}
	e.handler.ServeHTTP(w, req)
	if c := tokenCookieOf(reply{Response: w.Result()}); c == nil || !c.Secure {
		t.Errorf("login over TLS: cookie %+v, want Secure", c)
	}

	// Another site cannot post the form from a browser.
	r = e.do("POST", "/login", "", url.Values{"token": {e.admin}}, "Sec-Fetch-Site", "cross-site")
	if r.StatusCode != http.StatusForbidden || tokenCookieOf(r) != nil {
		t.Errorf("cross-site login: %d, want 403 and no cookie", r.StatusCode)
	}

	for _, method := range []string{"GET", "POST"} {
		r := e.do(method, "/logout", e.admin, nil)
		c := tokenCookieOf(r)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" || c == nil || c.MaxAge >= 0 {
			t.Errorf("%s /logout: %d to %q, cookie %+v; want 303 to /login removing the cookie", method, r.StatusCode,
				r.Header.Get("Location"), c)
		}
	}
}

func TestRevokedToken(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/", e.analyst, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("GET / with the analyst's token: %d", r.StatusCode)
	}
	tokens, err := e.db.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if err := e.db.RevokeToken(context.Background(), tok.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	r := e.do("GET", "/offers", e.analyst, nil)
	if c := tokenCookieOf(r); r.StatusCode != http.StatusSeeOther || c == nil || c.MaxAge >= 0 {
		t.Errorf("GET /offers with a revoked token: %d, cookie %+v; want 303 to login, removing the cookie", r.StatusCode, c)
	}
	for _, junk := range []string{"x", "pof_", "pof_%%%", strings.Repeat("pof_", 100)} {
		if r := e.do("GET", "/", junk, nil); r.StatusCode != http.StatusSeeOther {
			t.Errorf("GET / with cookie %q: %d, want 303 to login", junk, r.StatusCode)
		}
	}
}

func TestPagesByRole(t *testing.T) {
	e := newEnv(t)
	type page struct {
		path   string
		status int
		want   []string // in the body
		absent []string
	}
	admin := []page{
		{"/", http.StatusOK, []string{`id="today-redemptions"`, `id="chart-redemptions"`, `id="feed-list"`,
			"/static/js/overview.js"}, nil},
		{"/offers", http.StatusOK, []string{`id="offers-table"`, `id="new-offer"`, "Actions", "/static/js/offers.js"}, nil},
		{"/offers/new", http.StatusOK, []string{`id="editor"`, `data-offer-id=""`, `id="template"`, `id="preview"`,
			"/static/js/editor.js"}, nil},
		{"/offers/spend-3000-300/edit", http.StatusOK, []string{`data-offer-id="spend-3000-300"`, `id="doc"`,
			`id="template"`}, nil},
		{"/offers/Not%20An%20Id/edit", http.StatusNotFound, []string{`id="error"`}, nil},
		{"/offers/spend-3000-300", http.StatusOK, []string{`data-offer-id="spend-3000-300"`, `id="offer-rules"`,
			`id="offer-edit"`, "/static/js/offer.js"}, nil},
		{"/offers/Not%20An%20Id", http.StatusNotFound, []string{`id="error"`}, nil},
		{"/reports", http.StatusOK, []string{`id="report-stores"`, `id="nav-reports" aria-current="page"`,
			"/static/js/reports.js"}, nil},
		{"/calendar", http.StatusOK, []string{`id="calendar"`, "/static/js/calendar.js"}, nil},
		{"/stores", http.StatusOK, []string{`id="stores-table"`, "/static/js/stores.js"}, nil},
		{"/feed", http.StatusOK, []string{`id="feed-list"`, "/static/js/feed-page.js"}, nil},
		{"/suggestions", http.StatusOK, []string{`id="suggestions-table"`, `id="overall-verdict"`, `id="chart-exposures"`,
			`id="nav-suggestions" aria-current="page"`, "/static/js/suggestions.js"}, nil},
		{"/nowhere", http.StatusNotFound, []string{`id="error"`, "There is no page here"}, nil},
		{"/offers/new/extra", http.StatusNotFound, nil, nil},
	}
	analyst := []page{
		{"/", http.StatusOK, []string{`data-role="analyst"`, `id="feed-list"`}, nil},
		{"/offers", http.StatusOK, []string{`id="offers-table"`}, []string{`id="new-offer"`, "Actions"}},
		{"/offers/new", http.StatusForbidden, []string{`id="forbidden"`, "analyst token"},
			[]string{`id="editor"`, "editor.js"}},
		{"/offers/spend-3000-300/edit", http.StatusForbidden, []string{`id="forbidden"`}, []string{`id="editor"`}},
		{"/offers/spend-3000-300", http.StatusOK, []string{`id="offer-rules"`}, []string{`id="offer-edit"`}},
		{"/reports", http.StatusOK, []string{`id="report-stores"`}, nil},
		{"/calendar", http.StatusOK, []string{`id="calendar"`}, nil},
		{"/stores", http.StatusOK, []string{`id="stores-table"`}, nil},
		{"/feed", http.StatusOK, []string{`id="feed-list"`}, nil},
		{"/suggestions", http.StatusOK, []string{`id="suggestions-table"`}, nil},
	}
	for _, tc := range []struct {
		role, token string
		pages       []page
	}{{"admin", e.admin, admin}, {"analyst", e.analyst, analyst}} {
		for _, p := range tc.pages {
			r := e.do("GET", p.path, tc.token, nil)
			if r.StatusCode != p.status {
				t.Errorf("%s: GET %s: %d, want %d", tc.role, p.path, r.StatusCode, p.status)
				continue
			}
			if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("%s: GET %s: Content-Type %q", tc.role, p.path, ct)
			}
			if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("%s: GET %s: Content-Security-Policy %q", tc.role, p.path, csp)
			}
			if p.status == http.StatusOK && !strings.Contains(r.body, `id="role">`+tc.role+`<`) {
				t.Errorf("%s: GET %s does not show the role", tc.role, p.path)
			}
			for _, s := range p.want {
				if !strings.Contains(r.body, s) {
					t.Errorf("%s: GET %s lacks %q", tc.role, p.path, s)
				}
			}
			for _, s := range p.absent {
				if strings.Contains(r.body, s) {
					t.Errorf("%s: GET %s has %q", tc.role, p.path, s)
				}
			}
		}
	}
	if r := e.do("HEAD", "/offers", e.admin, nil); r.StatusCode != http.StatusOK || r.body != "" {
		t.Errorf("HEAD /offers: %d, %d bytes", r.StatusCode, len(r.body))
	}
	// Names on the page are text, never markup.
	marked := e.token(api.RoleAdmin, `<script>alert(1)</script>`)
	if r := e.do("GET", "/", marked, nil); strings.Contains(r.body, "<script>alert") {
		t.Errorf("a token's name is rendered as markup")
	}
}

func TestStatic(t *testing.T) {
	e := newEnv(t)
	for path, ct := range map[string]string{
		"/static/app.css":           "text/css; charset=utf-8",
		"/static/favicon.svg":       "image/svg+xml",
		"/static/js/lib.js":         "text/javascript; charset=utf-8",
		"/static/js/editor.js":      "text/javascript; charset=utf-8",
		"/static/js/overview.js":    "text/javascript; charset=utf-8",
		"/static/js/feed.js":        "text/javascript; charset=utf-8",
		"/static/js/chart.js":       "text/javascript; charset=utf-8",
		"/static/js/offers.js":      "text/javascript; charset=utf-8",
		"/static/js/stores.js":      "text/javascript; charset=utf-8",
		"/static/js/feed-page.js":   "text/javascript; charset=utf-8",
		"/static/js/offer.js":       "text/javascript; charset=utf-8",
		"/static/js/describe.js":    "text/javascript; charset=utf-8",
		"/static/js/reports.js":     "text/javascript; charset=utf-8",
		"/static/js/calendar.js":    "text/javascript; charset=utf-8",
		"/static/../web.go":         "",
		"/static/js/missing.js":     "",
		"/static/js/../../pages.go": "",
	} {
		r := e.do("GET", path, "", nil) // assets need no token: the login page uses them
		if ct == "" {
			if r.StatusCode == http.StatusOK {
				t.Errorf("GET %s: 200, want nothing served", path)
			}
			continue
		}
		if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != ct ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d %q, want 200 %q with nosniff", path, r.StatusCode, r.Header.Get("Content-Type"), ct)
			continue
		}
		etag := r.Header.Get("ETag")
		if r := e.do("GET", path, "", nil, "If-None-Match", etag); etag == "" || r.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s again with its ETag %s: %d, want 304", path, etag, r.StatusCode)
		}
	}

	// Every asset a page or a module names is served.
	ref := regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"|from "\./([^"]+)"`)
	pages := []string{"/", "/offers", "/offers/new", "/stores", "/feed", "/login"}
	for _, p := range pages {
		r := e.do("GET", p, e.admin, nil)
		for _, m := range ref.FindAllStringSubmatch(r.body, -1) {
			if got := e.do("GET", m[1], "", nil); got.StatusCode != http.StatusOK {
				t.Errorf("%s names %s: %d", p, m[1], got.StatusCode)
			}
		}
	}
	fs.WalkDir(assetFiles, "static/js", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := assetFiles.ReadFile(path)
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			if m[2] == "" {
				continue
			}
			if got := e.do("GET", "/static/js/"+m[2], "", nil); got.StatusCode != http.StatusOK {
				t.Errorf("%s imports %s: %d", path, m[2], got.StatusCode)
			}
		}
		return nil
	})
}

// TestNoExternalURLs: nothing the dashboard serves points elsewhere, so
// that it works on a network without internet and its policy holds.
func TestNoExternalURLs(t *testing.T) {
	// The SVG namespace is a name that nothing fetches.
	allowed := map[string]bool{"http://www.w3.org/2000/svg": true}
	external := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)]*`)
	n := 0
	for _, files := range []fs.FS{assetFiles, templateFiles} {
		err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			n++
			b, err := fs.ReadFile(files, path)
			if err != nil {
				return err
			}
			for _, u := range external.FindAllString(string(b), -1) {
				if !allowed[u] {
					t.Errorf("%s: external address %s", path, u)
				}
			}
			if strings.Contains(string(b), "@import") {
				t.Errorf("%s: @import", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 10 {
		t.Fatalf("only %d embedded files checked", n)
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"":                     "",
		"/":                    "/",
		"/offers":              "/offers",
		"/offers/abc/edit":     "/offers/abc/edit",
		"//evil.example":       "",
		"/\\evil.example":      "",
		"https://evil.example": "",
		"offers":               "",
		"/api/v1/offers":       "",
		"/offers?x=1":          "",
		"/%2F%2Fevil.example":  "",
		"/\r\nSet-Cookie: a=b": "",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// FuzzSafeNext: whatever a login form names, the browser goes to a path
// of this origin, or to the overview.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/offers", "//x.example", "/\\x", "https://x.example/", "/a/../..//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") ||
			strings.ContainsAny(got, "\\\r\n") {
			t.Errorf("safeNext(%q) = %q: not a path of this origin", next, got)
		}
	})
}
