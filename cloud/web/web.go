// Package web is HQ's dashboard, served at /: the marketers' and analysts'
// window on the offers, the stores and the redemptions. Pages are plain
// HTML rendered here; small ES modules fill them in from HQ's API
// (/api/v1) in the browser, with the token the login page put in the
// posoffer_token cookie, and follow the live feed of redemptions over
// server-sent events.
//
// Invariants:
//   - Everything the browser loads is embedded here and served by HQ: no
//     CDN, no font or script from elsewhere, so the dashboard works on a
//     network without internet. The Content-Security-Policy allows only
//     this origin.
//   - The dashboard holds no power of its own: every page asks the API who
//     the cookie's token belongs to (GET /api/v1/me), and the browser's
//     calls go to the API, which checks the token and the role again. An
//     analyst's pages leave out the editor and the actions; the API refuses
//     an analyst's changes whatever the page shows.
//   - The token cookie is HttpOnly and SameSite=Strict (and Secure when the
//     request came over TLS); changes the pages send carry
//     X-Requested-With: posoffer, as the API requires of cookie-authenticated
//     changes.
package web

import (
	"log/slog"
	"net/http"
)

// Options configure the dashboard.
type Options struct {
	// API is HQ's API, the handler api.New returns, serving /api/v1/. The
	// dashboard asks it who a token belongs to. Required.
	API http.Handler
	// Logger receives what goes wrong inside; nil discards it.
	Logger *slog.Logger
}

// New returns the dashboard's handler, which serves every path it is
// given: mount it on / beside the API on /api/v1/.
func New(opts Options) http.Handler {
	d := &dashboard{api: opts.API, log: opts.Logger, pages: parsePages(), static: loadStatic()}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", d.loginForm)
	mux.HandleFunc("POST /login", d.login)
	mux.HandleFunc("GET /logout", d.logout)
	mux.HandleFunc("POST /logout", d.logout)
	mux.Handle("GET /static/", d.static)

	mux.Handle("GET /{$}", d.page(pageOverview, false))
	mux.Handle("GET /offers", d.page(pageOffers, false))
	mux.Handle("GET /offers/new", d.page(pageEditor, true))
	mux.Handle("GET /offers/{id}/edit", d.page(pageEditor, true))
	mux.Handle("GET /offers/{id}", d.page(pageOffer, false))
	mux.Handle("GET /reports", d.page(pageReports, false))
	mux.Handle("GET /calendar", d.page(pageCalendar, false))
	mux.Handle("GET /stores", d.page(pageStores, false))
	mux.Handle("GET /feed", d.page(pageFeed, false))
	mux.Handle("GET /suggestions", d.page(pageSuggest, false))
	mux.HandleFunc("/", d.notFound)

	// Login and logout are the only forms; the browser's Sec-Fetch-Site
	// and Origin keep another site from posting them.
	return secure(http.NewCrossOriginProtection().Handler(mux))
}

// dashboard serves the pages and their assets.
type dashboard struct {
	api    http.Handler
	log    *slog.Logger
	pages  map[string]*page
	static *staticFiles
}

// csp allows the pages nothing from another origin: scripts, styles,
// images and the API's feed come from HQ.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// secure sets the headers every response of the dashboard carries.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
