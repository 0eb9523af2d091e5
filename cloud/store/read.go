package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

// MergedProfile returns a customer's profile over every store: visits,
// spend and points summed, the first and last visit, and the purchase
// history of the historyDays days up to today (a YYYY-MM-DD date; a day
// after today, from a store in a time zone ahead, is kept too), by day and
// then SKU. It returns nil, nil for a customer with no profile delta.
func (db *DB) MergedProfile(ctx context.Context, customerKey string, historyDays int, today string) (*offer.Profile, error) {
	if !protocol.ValidCustomerKey(customerKey) {
		// Not quoted: a caller that passed a loyalty id must not log it.
		return nil, fmt.Errorf("merged profile: %w: the customer (%d bytes) is not a customer_key", ErrBadQuery, len(customerKey))
	}
	if !isDay(today) || historyDays < 0 {
		return nil, fmt.Errorf("merged profile: %w: today %q, history days %d: want a date YYYY-MM-DD and days >= 0",
			ErrBadQuery, today, historyDays)
	}
	var p offer.Profile
	var stores int64
	err := db.each(ctx, func(r rows) error {
		return r.Scan(&stores, &p.Visits, &p.LifetimeSpend, &p.Points, &p.FirstVisit, &p.LastVisit)
	}, `SELECT count(*), COALESCE(CAST(sum(visits) AS BIGINT), 0), COALESCE(CAST(sum(spend) AS BIGINT), 0),
			COALESCE(CAST(sum(points) AS BIGINT), 0), COALESCE(min(first_day), ''), COALESCE(max(last_day), '')
		FROM profile_counters WHERE customer = $1`, customerKey)
	if err != nil {
		return nil, fmt.Errorf("merged profile: %w", err)
	}
	if stores == 0 {
		return nil, nil
	}
	if historyDays == 0 {
		return &p, nil
	}
	t, _ := time.Parse(time.DateOnly, today) // checked above
	from := t.AddDate(0, 0, 1-historyDays).Format(time.DateOnly)
	err = db.each(ctx, func(r rows) error {
		var day string
		var it offer.HistoryItem
		if err := r.Scan(&day, &it.SKU, &it.Category, &it.Brand, &it.Qty, &it.Spend); err != nil {
			return err
		}
		if n := len(p.History); n == 0 || p.History[n-1].Day != day {
			p.History = append(p.History, offer.HistoryDay{Day: day})
		}
		h := &p.History[len(p.History)-1]
		h.Items = append(h.Items, it)
		return nil
	}, `SELECT day, sku, category, brand, qty, spend FROM profile_history
		WHERE customer = $1 AND day >= $2 ORDER BY day`, customerKey, from)
	if err != nil {
		return nil, fmt.Errorf("merged profile: %w", err)
	}
	for _, h := range p.History {
		// In Go rather than SQL: byte order, whatever the database's collation.
		slices.SortFunc(h.Items, func(a, b offer.HistoryItem) int { return strings.Compare(a.SKU, b.SKU) })
	}
	return &p, nil
}

// Page sizes of Redemptions.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter selects redemptions. Empty fields match everything.
type Filter struct {
	Store   string // the store id
	Offer   string // the offer id
	Segment string // a segment id the customer was in at the time
	From    time.Time
	To      time.Time // From <= at < To; a zero time is no bound
	After   string    // the cursor Redemptions returned with the previous page
	Limit   int       // page size: 0 is DefaultLimit; more than MaxLimit is MaxLimit
}

// Redemption is an offer redeemed at a checkout.
type Redemption struct {
	ID       string    `json:"id"` // the event id
	Store    string    `json:"store"`
	Offer    string    `json:"offer"`
	Txn      string    `json:"txn"`
	Discount int64     `json:"discount"`
	Points   int64     `json:"points"`
	At       time.Time `json:"at"` // UTC
	Segments []string  `json:"segments,omitempty"`
}

// Redemptions returns a page of the redemptions that match f, newest first
// (by time, then by id), and the cursor of the next page: "" when this is
// the last. Paging with the cursor visits each matching redemption once,
// however many share a time; one stored after the walk began with a time
// before the cursor's (a store that was offline) is not seen by that walk.
func (db *DB) Redemptions(ctx context.Context, f Filter) ([]Redemption, string, error) {
	if f.Segment != "" && !protocol.ValidSegmentID(f.Segment) {
		return nil, "", fmt.Errorf("redemptions: %w: segment: want a segment id", ErrBadQuery)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	from, to := span(f.From, f.To)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where = append(where, "at_us >= "+arg(from), "at_us < "+arg(to))
	if f.Store != "" {
		where = append(where, "store = "+arg(f.Store))
	}
	if f.Offer != "" {
		where = append(where, "offer = "+arg(f.Offer))
	}
	if f.Segment != "" {
		// A segment id has no comma, % or _, so this matches it exactly.
		where = append(where, "',' || segments || ',' LIKE "+arg("%,"+f.Segment+",%"))
	}
	if f.After != "" {
		at, id, ok := parseCursor(f.After)
		if !ok {
			return nil, "", fmt.Errorf("redemptions: %w: after: not a cursor from a previous page", ErrBadQuery)
		}
		where = append(where, fmt.Sprintf("(at_us, id) < (%s, %s)", arg(at), arg(id)))
	}
	q := "SELECT id, store, offer, txn, discount, points, at_us, segments FROM redemptions WHERE " +
		strings.Join(where, " AND ") + " ORDER BY at_us DESC, id DESC LIMIT " + arg(int64(limit+1))

	var out []Redemption
	var last int64
	err := db.each(ctx, func(r rows) error {
		var x Redemption
		var segments string
		if err := r.Scan(&x.ID, &x.Store, &x.Offer, &x.Txn, &x.Discount, &x.Points, &last, &segments); err != nil {
			return err
		}
		x.At = time.UnixMicro(last).UTC()
		if segments != "" {
			x.Segments = strings.Split(segments, ",")
		}
		out = append(out, x)
		return nil
	}, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("redemptions: %w", err)
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	end := out[limit-1]
	return out, makeCursor(end.At.UnixMicro(), end.ID), nil
}

// A cursor is the time and id of the last redemption of a page, opaque to
// callers.
func makeCursor(atUS int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(atUS, 10) + "/" + id))
}

func parseCursor(c string) (atUS int64, id string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", false
	}
	at, id, ok := strings.Cut(string(b), "/")
	if !ok || id == "" {
		return 0, "", false
	}
	atUS, err = strconv.ParseInt(at, 10, 64)
	return atUS, id, err == nil
}

// span turns [from, to) into unix microseconds, a zero time being no bound.
func span(from, to time.Time) (int64, int64) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !from.IsZero() {
		lo = from.UnixMicro()
	}
	if !to.IsZero() {
		hi = to.UnixMicro()
	}
	return lo, hi
}

// StoreRow is a store as HQ last heard of it.
type StoreRow struct {
	Store string `json:"store"`
	// FirstEvent and LastEvent are the times of its earliest and latest
	// events stored (the times they happened, not when they arrived).
	FirstEvent time.Time `json:"first_event"`
	LastEvent  time.Time `json:"last_event"`
	// LastSeen is the time of its latest heartbeat, and the fields after it
	// are what that heartbeat said; zero without a heartbeat.
	LastSeen           time.Time `json:"last_seen,omitzero"`
	Agent              string    `json:"agent,omitempty"`
	Catalog            int64     `json:"catalog"`
	OutboxDepth        int64     `json:"outbox_depth"`
	OutboxOldestMS     int64     `json:"outbox_oldest_ms"`
	DroppedImpressions int64     `json:"dropped_impressions"`
	Alarms             []string  `json:"alarms,omitempty"`
	// AlarmsSince is the time of the first heartbeat that reported the
	// alarms the latest reports; zero without a heartbeat.
	AlarmsSince time.Time `json:"alarms_since,omitzero"`
	// Zone is the store's IANA time zone, as its heartbeats say; empty
	// until one does.
	Zone string `json:"zone,omitempty"`
}

// Stores returns every store that sent an event, sorted by store id.
func (db *DB) Stores(ctx context.Context) ([]StoreRow, error) {
	var out []StoreRow
	err := db.each(ctx, func(r rows) error {
		var s StoreRow
		var first, last, seen int64
		var alarms string
		var since int64
		if err := r.Scan(&s.Store, &first, &last, &seen, &s.Agent, &s.Catalog, &s.OutboxDepth, &s.OutboxOldestMS,
			&s.DroppedImpressions, &alarms, &s.Zone, &since); err != nil {
			return err
		}
		if since != 0 {
			s.AlarmsSince = time.UnixMicro(since).UTC()
		}
		s.FirstEvent, s.LastEvent = time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC()
		if seen != 0 {
			s.LastSeen = time.UnixMicro(seen).UTC()
		}
		if err := json.Unmarshal([]byte(alarms), &s.Alarms); err != nil {
			return fmt.Errorf("store %s: alarms: %w", s.Store, err)
		}
		if len(s.Alarms) == 0 {
			s.Alarms = nil
		}
		out = append(out, s)
		return nil
	}, `SELECT store, first_event_us, last_event_us, last_seen_us, agent, catalog, outbox_depth, outbox_oldest_ms,
			dropped_impressions, alarms, zone, alarms_since_us
		FROM stores`)
	if err != nil {
		return nil, fmt.Errorf("stores: %w", err)
	}
	slices.SortFunc(out, func(a, b StoreRow) int { return strings.Compare(a.Store, b.Store) })
	return out, nil
}

// Counts returns how many events are stored, by kind.
func (db *DB) Counts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	err := db.each(ctx, func(r rows) error {
		var kind string
		var n int64
		if err := r.Scan(&kind, &n); err != nil {
			return err
		}
		out[kind] = n
		return nil
	}, "SELECT kind, count(*) FROM events GROUP BY kind")
	if err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	return out, nil
}

// Merged returns what HQ publishes for a customer in the profiles bucket:
// MergedProfile, with each store's own counters, so that a store can
// replace its part with its own newer figures. It returns nil, nil for a
// customer with no profile delta.
func (db *DB) Merged(ctx context.Context, customerKey string, historyDays int, today string) (*offer.Merged, error) {
	p, err := db.MergedProfile(ctx, customerKey, historyDays, today)
	if err != nil || p == nil {
		return nil, err
	}
	m := &offer.Merged{Profile: *p, Stores: map[string]offer.StoreTotals{}}
	err = db.each(ctx, func(r rows) error {
		var store string
		var t offer.StoreTotals
		if err := r.Scan(&store, &t.Visits, &t.Spend, &t.Points, &t.FirstVisit, &t.LastVisit); err != nil {
			return err
		}
		m.Stores[store] = t
		return nil
	}, `SELECT store, visits, spend, points, COALESCE(first_day, ''), COALESCE(last_day, '')
		FROM profile_counters WHERE customer = $1`, customerKey)
	if err != nil {
		return nil, fmt.Errorf("merged profile: %w", err)
	}
	return m, nil
}
