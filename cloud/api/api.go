package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

// Prefix is where the API lives: mount the handler New returns on it.
const Prefix = "/api/v1/"

// Options configure the API.
type Options struct {
	// DB is HQ's database: the source of truth for offers and segments.
	// Required.
	DB *store.DB
	// Catalog is the catalog bucket (protocol.CatalogBucket), where
	// changes are published to the stores. Required.
	Catalog jetstream.KeyValue
	// Signer signs what is published to Catalog (HQ's catalog signing
	// key); agents refuse what it did not sign. Required with Catalog.
	Signer *catalogsig.Signer
	// Logger receives what goes wrong inside; nil discards it.
	Logger *slog.Logger
	// Clock is the time; nil is time.Now.
	Clock func() time.Time
	// Context ends the background work: retries of failed publishes. Nil
	// is context.Background().
	Context context.Context
	// Registry receives the API's metrics; nil: none.
	Registry prometheus.Registerer
	// StoreGroups is each store's group (HQ's decide.groups), which
	// reports filter by.
	StoreGroups map[string]string
	// Currency is the tenant's ISO 4217 currency, which every amount is
	// in, in its minor unit; "" when not configured.
	Currency string
	// Zone is HQ's time zone: its today, and the default span of reports.
	// Nil is UTC.
	Zone *time.Location
}

// New returns the API's handler, which serves every route under Prefix.
func New(opts Options) http.Handler {
	return newServer(opts)
}

// server is the API: its dependencies and its routes.
type server struct {
	db   *store.DB
	log  *slog.Logger
	now  func() time.Time
	pub  *publisher
	csrf *http.CrossOriginProtection
	mux  *http.ServeMux
	feed feedConfig

	feeds   atomic.Int64 // live feeds being served
	metrics metrics

	storeGroups map[string]string // Options.StoreGroups
	tenant      Tenant
	zone        *time.Location
}

// Tenant is how the tenant counts money and time, as GET /api/v1/me says.
type Tenant struct {
	// Currency is the ISO 4217 code of every amount, "" when HQ was not
	// told; MinorUnit the digits of its minor unit, which amounts are in
	// (JPY 0: 1100 is ¥1,100; EUR 2: 1100 is €11.00).
	Currency  string `json:"currency"`
	MinorUnit int    `json:"minor_unit"`
	// Timezone is HQ's IANA zone, Today the date there.
	Timezone string `json:"timezone"`
	Today    string `json:"today"`
}

// today is the date in HQ's zone.
func (s *server) today() string { return s.now().In(s.zone).Format(time.DateOnly) }

// handler serves one route. An error it returns becomes the reply: an
// *Error as it says, anything else a 500 with a fixed message, logged.
type handler func(w http.ResponseWriter, r *http.Request) error

// route is one method and path of the API, and the role it needs.
type route struct {
	method, path string
	role         string // "" for no token at all
	serve        handler
}

func newServer(opts Options) *server {
	s := &server{db: opts.DB, log: opts.Logger, now: opts.Clock, csrf: http.NewCrossOriginProtection(),
		mux: http.NewServeMux(), feed: defaultFeed, storeGroups: opts.StoreGroups, zone: opts.Zone}
	if s.zone == nil {
		s.zone = time.UTC
	}
	s.tenant = Tenant{Currency: opts.Currency, Timezone: s.zone.String()}
	if opts.Currency != "" {
		digits, err := protocol.MinorUnit(opts.Currency)
		if err != nil {
			panic("api.New: " + err.Error()) // the configuration was checked
		}
		s.tenant.MinorUnit = digits
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.metrics = newMetrics(opts.Registry)
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	s.pub = newPublisher(ctx, opts.DB, opts.Catalog, opts.Signer, s.log)
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	s.mux.Handle(Prefix, s.wrap(route{serve: s.noRoute}))
	return s
}

// routes lists every route of the API; openapi.yaml describes each.
func (s *server) routes() []route {
	return []route{
		{"GET", "/api/v1/openapi.yaml", "", s.openAPI},
		{"GET", "/api/v1/me", RoleAnalyst, s.me},

		{"GET", "/api/v1/offers", RoleAnalyst, s.listOffers},
		{"POST", "/api/v1/offers", RoleAdmin, s.createOffer},
		{"GET", "/api/v1/offers/{id}", RoleAnalyst, s.getObject(store.KindOffer)},
		{"GET", "/api/v1/offers/{id}/form", RoleAnalyst, s.offerForm},
		{"GET", "/api/v1/offers/{id}/stores", RoleAnalyst, s.offerStores},
		{"PUT", "/api/v1/offers/{id}", RoleAdmin, s.updateOffer},
		{"POST", "/api/v1/offers/{id}/pause", RoleAdmin, s.setStatus(actionPause)},
		{"POST", "/api/v1/offers/{id}/resume", RoleAdmin, s.setStatus(actionResume)},
		{"POST", "/api/v1/offers/{id}/end", RoleAdmin, s.setStatus(actionEnd)},

		{"GET", "/api/v1/segments", RoleAnalyst, s.listSegments},
		{"POST", "/api/v1/segments", RoleAdmin, s.createSegment},
		{"GET", "/api/v1/segments/{id}", RoleAnalyst, s.getObject(store.KindSegment)},
		{"PUT", "/api/v1/segments/{id}", RoleAdmin, s.updateSegment},
		{"DELETE", "/api/v1/segments/{id}", RoleAdmin, s.deleteSegment},

		{"POST", "/api/v1/publish", RoleAdmin, s.publishAll},
		{"GET", "/api/v1/audit", RoleAnalyst, s.audit},

		{"GET", "/api/v1/templates", RoleAnalyst, s.listTemplates},
		{"POST", "/api/v1/templates/{name}", RoleAnalyst, s.fillTemplate},
		{"POST", "/api/v1/preview", RoleAnalyst, s.preview},

		{"GET", "/api/v1/stores", RoleAnalyst, s.stores},
		{"GET", "/api/v1/alerts", RoleAnalyst, s.alerts},
		{"GET", "/api/v1/redemptions", RoleAnalyst, s.redemptions},
		{"GET", "/api/v1/reports/offers", RoleAnalyst, s.offerReport},
		{"GET", "/api/v1/reports/stores", RoleAnalyst, s.storeReport},
		{"GET", "/api/v1/reports/segments", RoleAnalyst, s.segmentReport},
		{"GET", "/api/v1/reports/days", RoleAnalyst, s.dayReport},
		{"GET", "/api/v1/discrepancies", RoleAnalyst, s.discrepancies},
		{"GET", "/api/v1/reports/discrepancies", RoleAnalyst, s.discrepancyReport},
		{"GET", "/api/v1/reports/uplift", RoleAnalyst, s.upliftReport},
		{"GET", "/api/v1/reports/suggestions", RoleAnalyst, s.suggestionReport},
		{"GET", "/api/v1/decide/model", RoleAnalyst, s.decideModel},
		{"GET", "/api/v1/feed", RoleAnalyst, s.liveFeed},
	}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// wrap checks the route's token, runs it, and turns its error into the
// reply.
func (s *server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		authed, err := s.authorize(r, rt.role)
		if err == nil {
			err = rt.serve(w, authed)
		}
		if err != nil {
			s.fail(w, r, err)
		}
	})
}

// fail answers with err: an *Error as it is, anything else as internal.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := errors.AsType[*Error](err)
	if !ok {
		s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
			Message: "HQ could not complete the request; it may be sent again"}
	}
	s.metrics.errors.WithLabelValues(e.Code).Inc()
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="posoffer"`)
	}
	writeJSON(w, e.Status, errorReply{e})
}

// noRoute answers a path the API does not serve, or a method it does not
// serve on that path.
func (s *server) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != Prefix {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		return errorf(http.StatusNotFound, CodeNotFound, "no route %s", r.URL.Path)
	}
	sort.Strings(allowed)
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s %s: allowed: %s", r.Method, r.URL.Path,
		strings.Join(allowed, ", "))
}
