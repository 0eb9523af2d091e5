// Package service is the agent's core, independent of transport: it takes
// one terminal message and returns the reply. Transports (MQTT, serial)
// only move bytes and keep each terminal's messages in order.
//
// Invariants:
//   - The raw loyalty id is turned into customer_key here, first thing, and
//     goes no further: not to the store, the logs, the metrics or the cloud.
//   - A checkout is acknowledged only after the store has synced it.
//   - Bad input of any kind gets an error reply with a stable code and
//     counts in posoffer_errors_total; Handle never panics on input.
package service

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

// Options configure a Service.
type Options struct {
	Store     string         // this store's id
	Location  *time.Location // the store's zone
	TenantKey []byte         // the tenant's HMAC key
	MaxNudges int
	PointsPer int64
	Now       func() time.Time // nil: time.Now
	Logger    *slog.Logger     // nil: discard
	Registry  prometheus.Registerer

	// Remote, when set, returns a customer's profile as HQ merged it across
	// stores (an offer.Merged document), nil for none. It is asked for a
	// customer not asked about for RemoteTTL, and given RemoteBudget.
	Remote       func(ctx context.Context, customerKey string) ([]byte, error)
	RemoteBudget time.Duration // 0: 50ms
	RemoteTTL    time.Duration // 0: 10 minutes
	// Recorded, when set, is called after each checkout is recorded.
	Recorded func()

	// Decide configures what the till suggests (decide.go).
	Decide Decide
	// TerminalClock takes the time of a basket or checkout from its ts
	// (clock.source terminal: simulators and replays, never a store); a
	// message without one is refused.
	TerminalClock bool
}

// Service answers terminal messages.
type Service struct {
	opts    Options
	db      *store.Store
	catalog atomic.Pointer[offer.Catalog]
	m       *metrics
	log     *slog.Logger

	// shown remembers, per open transaction, which offers were already
	// shown, so a basket re-sent after every scan counts each offer once.
	// pending holds impressions not yet written, and pendingCounts their
	// counts, which limits read on top of the store's.
	mu            sync.Mutex
	shown         map[string]map[protocol.Shown]bool // by txnKey
	pending       []store.Impression
	pendingCounts map[impressionKey]int64

	remote map[string]remoteProfile // by customer_key; guarded by mu

	// offered is, per open transaction (txnKey), the most each offer was
	// offered, which its checkout honours (see honour.go); guarded by mu.
	offered map[string]map[string]grant

	// decisions is, per open transaction (txnKey), what was suggested
	// (decide.go); guarded by mu.
	decisions map[string]*txnDecision
	model     atomic.Pointer[model]

	flush     chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type impressionKey struct {
	customer, offer string
	day             int64
}

// Impressions are kept in memory and written with the next checkout's
// transaction, which is synced anyway; a sync of their own would stall
// replies. Without checkouts they are written every impressionFlush, or
// when impressionBatch are waiting. A crash loses at most those: the
// contract lets impressions be dropped, never checkouts.
const (
	impressionBatch = 10_000
	impressionFlush = 10 * time.Second
)

// New starts a service over an open store. Close stops it.
func New(db *store.Store, opts Options) (*Service, error) {
	if len(opts.TenantKey) < 16 {
		return nil, errors.New("tenant key: at least 16 bytes are required")
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.RemoteBudget <= 0 {
		opts.RemoteBudget = 50 * time.Millisecond
	}
	if opts.RemoteTTL <= 0 {
		opts.RemoteTTL = 10 * time.Minute
	}
	opts.Decide.defaults()
	switch opts.Decide.Policy {
	case protocol.PolicyLearned, protocol.PolicyFixed:
	default:
		return nil, fmt.Errorf("decide policy: %q, want %s or %s", opts.Decide.Policy, protocol.PolicyLearned, protocol.PolicyFixed)
	}
	s := &Service{
		opts: opts, db: db, log: opts.Logger,
		shown:         map[string]map[protocol.Shown]bool{},
		pendingCounts: map[impressionKey]int64{},
		remote:        map[string]remoteProfile{},
		offered:       map[string]map[string]grant{},
		decisions:     map[string]*txnDecision{},
		flush:         make(chan struct{}, 1),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	var err error
	if s.m, err = newMetrics(opts.Registry, s); err != nil {
		return nil, err
	}
	go s.flushImpressions()
	return s, nil
}

// Close stops the service after writing the impressions kept so far.
// Handle must not be called after Close.
func (s *Service) Close() {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
}

// SetCatalog makes c the catalog that answers from now on.
func (s *Service) SetCatalog(c *offer.Catalog) {
	s.catalog.Store(c)
	s.m.catalog.Set(float64(c.Revision))
}

// Catalog returns the catalog in use, or nil before the first.
func (s *Service) Catalog() *offer.Catalog { return s.catalog.Load() }

// CustomerKey derives the customer_key of a loyalty id: the lowercase
// base32 (no padding) of HMAC-SHA256(tenant key, id), first 26 characters.
func CustomerKey(tenantKey []byte, loyaltyID string) string {
	mac := hmac.New(sha256.New, tenantKey)
	mac.Write([]byte(loyaltyID))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(mac.Sum(nil))
	return strings.ToLower(enc[:26])
}

// Handle answers one message from a terminal. It always returns a reply.
func (s *Service) Handle(ctx context.Context, terminal string, payload []byte) *protocol.Message {
	m, err := protocol.Decode(payload)
	if protocol.ContainsCardData(payload) || escapedCardData(payload) {
		// Refused whatever else it holds; the id is read only to answer it.
		re := ""
		var pe *protocol.Error
		if m != nil {
			re = m.ID
		} else if errors.As(err, &pe) {
			re = pe.Re
		}
		if protocol.ContainsCardData([]byte(re)) {
			re = "" // the reply must not carry the number back
		}
		return s.fail(re, &protocol.Error{Code: protocol.CodeCardData,
			Message: "the message carries payment-card data; it was refused and not kept"})
	}
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return s.fail(pe.Re, pe)
		}
		return s.fail("", err)
	}
	switch m.Type {
	case protocol.TypeBasket:
		return s.basket(ctx, terminal, m)
	case protocol.TypeCheckout:
		return s.checkout(ctx, terminal, m)
	case protocol.TypeVoid:
		s.forget(terminal, m.Txn)
		s.m.replies.WithLabelValues(protocol.TypeAck).Inc()
		return protocol.NewAck(m.ID, m.Txn)
	case protocol.TypeHello:
		s.log.Info("terminal hello", "terminal", terminal, "model", m.Model, "firmware", m.Firmware)
		s.m.replies.WithLabelValues(protocol.TypeAck).Inc()
		return protocol.NewAck(m.ID, "")
	}
	return s.fail(m.ID, &protocol.Error{Code: protocol.CodeUnknownType,
		Message: "type: " + m.Type + " is not something a terminal sends"})
}

func (s *Service) fail(re string, err error) *protocol.Message {
	reply := protocol.ErrorReply(err)
	reply.Re = re
	s.m.errors.WithLabelValues(reply.Code).Inc()
	s.m.replies.WithLabelValues(protocol.TypeError).Inc()
	if reply.Code == protocol.CodeInternal {
		s.log.Error("internal error", "err", err)
	}
	return reply
}

// moment returns the time a message is answered at, and its store-local
// day number: now, or with TerminalClock the message's ts.
func (s *Service) moment(m *protocol.Message) (time.Time, int64, error) {
	now := s.opts.Now()
	if s.opts.TerminalClock {
		var err error
		if now, err = terminalTime(m); err != nil {
			return time.Time{}, 0, err
		}
	}
	return now, offer.Day(now, s.opts.Location), nil
}

func (s *Service) basket(ctx context.Context, terminal string, m *protocol.Message) *protocol.Message {
	cat := s.catalog.Load()
	if cat == nil {
		return s.fail(m.ID, &protocol.Error{Code: protocol.CodeBusy, Message: "no catalog loaded yet"})
	}
	now, day, err := s.moment(m)
	if err != nil {
		return s.fail(m.ID, err)
	}
	key := ""
	in := &offer.Input{Basket: m, Now: now, Location: s.opts.Location, Store: s.opts.Store,
		PointsPer: s.opts.PointsPer, MaxNudges: s.opts.MaxNudges}
	if s.opts.MaxNudges == 0 {
		in.MaxNudges = -1
	}
	if m.Customer != "" {
		key = CustomerKey(s.opts.TenantKey, m.Customer)
		m.Customer = key // the raw id goes no further
		p, err := s.profile(ctx, key)
		if err != nil {
			return s.fail(m.ID, err)
		}
		in.Customer = &offer.Customer{Profile: p, Segments: cat.SegmentsOf(p, now, s.opts.Location)}
	}
	in.Usage = usage{s.db.Usage(key, day), s, key, day}
	start := time.Now()
	res, err := cat.Evaluate(in)
	took := time.Since(start)
	if err != nil {
		return s.fail(m.ID, &protocol.Error{Code: protocol.CodeBadMessage, Message: err.Error()})
	}
	s.m.baskets.Inc()
	s.m.eval.Observe(took.Seconds())
	var shown []string // nudges and cross-sells shown
	var nudges []protocol.Nudge
	ch := s.suggest(cat, in, res, terminal, key)
	if ch != nil && !ch.holdout {
		for _, c := range ch.chosen {
			shown = append(shown, c.Offer)
			if c.Kind == protocol.SuggestNudge {
				nudges = append(nudges, protocol.Nudge{Offer: c.Offer, Text: c.Text, Missing: *c.Missing})
			}
		}
	}
	took = time.Since(start)
	s.m.decide.Observe(took.Seconds())
	reply := protocol.NewOffersReply(m.ID, m.Txn, res.Offers, nudges)
	reply.Catalog = cat.Revision
	reply.EvalUS = took.Microseconds()
	if ch != nil {
		if !ch.holdout {
			reply.Suggestions = ch.chosen
		}
		if s.opts.Decide.ReportCandidates {
			reply.Candidates, reply.Holdout = ch.candidates, ch.holdout
		}
	}
	s.m.replies.WithLabelValues(protocol.TypeOffers).Inc()
	s.impressions(terminal, m.Txn, key, now, day, res.Offers, shown)
	s.remember(terminal, m.Txn, res.Offers)
	return reply
}

// impressions keeps the offers and nudges shown for the first time in
// this transaction, to be written later.
func (s *Service) impressions(terminal, txn, key string, now time.Time, day int64, offers []protocol.Offer, suggested []string) {
	if len(offers)+len(suggested) == 0 {
		return
	}
	imp := store.Impression{CustomerKey: key, At: now, Day: day}
	s.mu.Lock()
	defer s.mu.Unlock()
	tk := txnKey(terminal, txn)
	seen := s.shown[tk]
	if seen == nil {
		if len(s.shown) > maxOpenTxns { // abandoned transactions: start over
			clear(s.shown)
		}
		seen = map[protocol.Shown]bool{}
		s.shown[tk] = seen
	}
	// An offer suggested first and then earned is shown twice: once as
	// a suggestion, once as an offer, and counts as both.
	for _, o := range offers {
		if k := (protocol.Shown{Offer: o.ID}); !seen[k] {
			seen[k] = true
			imp.Offers = append(imp.Offers, o.ID)
		}
	}
	for _, id := range suggested {
		if k := (protocol.Shown{Offer: id, Suggested: true}); !seen[k] {
			seen[k] = true
			imp.Nudges = append(imp.Nudges, id)
		}
	}
	if len(imp.Offers)+len(imp.Nudges) == 0 {
		return
	}
	s.pending = append(s.pending, imp)
	if key != "" {
		for _, id := range append(imp.Offers[:len(imp.Offers):len(imp.Offers)], imp.Nudges...) {
			s.pendingCounts[impressionKey{key, id, day}]++
		}
	}
	if len(s.pending) >= impressionBatch {
		select {
		case s.flush <- struct{}{}:
		default:
		}
	}
}

// takeImpressions hands over the impressions kept so far; their counts
// stay until they are written (settle).
func (s *Service) takeImpressions() []store.Impression {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// settle forgets the counts of written impressions, now in the store, or
// gives back impressions that could not be written.
func (s *Service) settle(batch []store.Impression, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.pending = append(batch, s.pending...)
		return
	}
	for _, imp := range batch {
		if imp.CustomerKey == "" {
			continue
		}
		for _, id := range append(imp.Offers[:len(imp.Offers):len(imp.Offers)], imp.Nudges...) {
			k := impressionKey{imp.CustomerKey, id, imp.Day}
			if s.pendingCounts[k]--; s.pendingCounts[k] <= 0 {
				delete(s.pendingCounts, k)
			}
		}
	}
}

// flushImpressions writes the impressions kept, on a timer, when many are
// waiting, and at Close.
func (s *Service) flushImpressions() {
	defer close(s.done)
	tick := time.NewTicker(impressionFlush)
	defer tick.Stop()
	for {
		stopping := false
		select {
		case <-tick.C:
		case <-s.flush:
		case <-s.stop:
			stopping = true
		}
		if batch := s.takeImpressions(); len(batch) > 0 {
			err := s.db.RecordImpressions(s.opts.Store, batch)
			if err != nil {
				s.log.Error("record impressions", "err", err, "impressions", len(batch))
			}
			s.settle(batch, err)
		}
		if stopping {
			return
		}
	}
}

// usage adds the impressions not yet written to the store's counts.
type usage struct {
	offer.Usage
	s        *Service
	customer string
	day      int64
}

func (u usage) Counts(id string) offer.Counts {
	c := u.Usage.Counts(id)
	if u.customer != "" {
		u.s.mu.Lock()
		c.ImpressionsToday += u.s.pendingCounts[impressionKey{u.customer, id, u.day}]
		u.s.mu.Unlock()
	}
	return c
}

// shownIn returns what a transaction showed, in order of offer, offers
// that applied before suggestions, at most protocol.MaxShown.
func (s *Service) shownIn(terminal, txn string) []protocol.Shown {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.shown[txnKey(terminal, txn)]
	if len(seen) == 0 {
		return nil
	}
	out := slices.Collect(maps.Keys(seen))
	slices.SortFunc(out, func(a, b protocol.Shown) int {
		if c := strings.Compare(a.Offer, b.Offer); c != 0 {
			return c
		}
		if a.Suggested == b.Suggested {
			return 0
		}
		if b.Suggested {
			return -1
		}
		return 1
	})
	// The checkout event carries at most MaxShown: a transaction shown
	// more offers than that is counted in uptake for the first ones.
	return out[:min(len(out), protocol.MaxShown)]
}

func (s *Service) forget(terminal, txn string) {
	s.mu.Lock()
	delete(s.shown, txnKey(terminal, txn))
	delete(s.offered, txnKey(terminal, txn))
	delete(s.decisions, txnKey(terminal, txn))
	s.mu.Unlock()
}

func (s *Service) checkout(ctx context.Context, terminal string, m *protocol.Message) *protocol.Message {
	cat := s.catalog.Load()
	now, day, err := s.moment(m)
	if err != nil {
		return s.fail(m.ID, err)
	}
	ck := &store.Checkout{Txn: m.Txn, Terminal: terminal, At: now, Day: day, Lines: m.Lines,
		Paid: *m.Paid, Currency: m.Currency, Decision: s.decision(terminal, m.Txn), Shown: s.shownIn(terminal, m.Txn)}
	var cust *offer.Customer
	if m.Customer != "" {
		ck.CustomerKey = CustomerKey(s.opts.TenantKey, m.Customer)
		m.Customer = ""
		if cat != nil {
			p, err := s.profile(ctx, ck.CustomerKey)
			if err != nil {
				return s.fail(m.ID, err)
			}
			ck.Segments = cat.SegmentsOf(p, now, s.opts.Location)
			cust = &offer.Customer{Profile: p, Segments: ck.Segments}
		}
	}
	if len(m.Applied) > 0 {
		ck.Claims = Honour(m.Applied, s.offeredIn(terminal, m.Txn), s.applyNow(cat, m, cust, now, day, ck.CustomerKey))
	}
	batch := s.takeImpressions()
	dup, err := s.db.RecordCheckout(s.opts.Store, ck, batch)
	s.settle(batch, err)
	if err != nil {
		return s.fail(m.ID, err)
	}
	if dup {
		s.m.dupCheckouts.Inc()
	} else {
		s.discrepancies(ck)
		s.m.checkouts.Inc()
		if s.opts.Recorded != nil {
			s.opts.Recorded()
		}
	}
	s.forget(terminal, m.Txn)
	s.m.replies.WithLabelValues(protocol.TypeAck).Inc()
	return protocol.NewAck(m.ID, m.Txn)
}

// remoteProfile is HQ's merged profile of a customer, as last asked.
type remoteProfile struct {
	merged *offer.Merged // nil: HQ had none, or did not answer
	at     time.Time
}

// maxRemote bounds the remote profiles kept in memory.
const maxRemote = 20_000

// profile returns the profile to evaluate a customer with: the store's
// own, merged with HQ's view across stores when there is one. HQ is asked
// at most once per RemoteTTL per customer, and never for longer than
// RemoteBudget; without an answer the store's own profile is used.
func (s *Service) profile(ctx context.Context, key string) (*offer.Profile, error) {
	local, err := s.db.Profile(key)
	if err != nil || s.opts.Remote == nil {
		return local, err
	}
	now := time.Now()
	s.mu.Lock()
	r, ok := s.remote[key]
	s.mu.Unlock()
	if !ok || now.Sub(r.at) > s.opts.RemoteTTL {
		r = remoteProfile{at: now}
		rctx, cancel := context.WithTimeout(ctx, s.opts.RemoteBudget)
		b, err := s.opts.Remote(rctx, key)
		cancel()
		switch {
		case err != nil:
			s.m.remote.WithLabelValues("unanswered").Inc()
			r.at = now.Add(-s.opts.RemoteTTL + 30*time.Second) // ask again in 30 s
		case b == nil:
			s.m.remote.WithLabelValues("none").Inc()
		default:
			if r.merged, err = offer.ParseMerged(b); err != nil {
				s.log.Warn("merged profile from hq unreadable", "err", err)
			}
			s.m.remote.WithLabelValues("merged").Inc()
		}
		s.mu.Lock()
		if len(s.remote) >= maxRemote {
			clear(s.remote)
		}
		s.remote[key] = r
		s.mu.Unlock()
	}
	if r.merged == nil {
		return local, nil
	}
	return r.merged.WithLocal(s.opts.Store, local), nil
}

// escapedCardData reports whether card data hides in a message's strings
// behind JSON escapes (\u0034111...), which the check of the raw bytes
// cannot see, in any field, defined or not. Only messages with escapes pay
// for the second look.
func escapedCardData(payload []byte) bool {
	if len(payload) > protocol.MaxMessageSize || !bytes.Contains(payload, []byte(`\u`)) {
		return false
	}
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return false
	}
	b, err := json.Marshal(v) // strings as they decoded, unescaped
	return err == nil && protocol.ContainsCardData(b)
}
