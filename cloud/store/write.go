package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/posoffer/posoffer/protocol"
)

// Result is what a WriteEvents call stored.
type Result struct {
	// Added is how many events were new; the others were already stored
	// (or repeated in the batch) and changed nothing.
	Added int
	// Customers are the customer_keys, sorted, whose merged profile the
	// batch changed: those of its new profile events. The ingest publishes
	// their MergedProfile again.
	Customers []string
}

// WriteEvents stores a batch of events in one transaction. An event whose
// id is already stored, or that repeats an id earlier in the batch, is
// skipped entirely; a new one is recorded with its effects: a checkouts,
// redemptions or discrepancies row, its day's counts in the rollups, profile counters and history, or
// a store's status. If any event fails Validate, nothing is written and the
// error, wrapping ErrInvalidEvent, names it.
func (db *DB) WriteEvents(ctx context.Context, events []*protocol.Event) (Result, error) {
	for i, e := range events {
		if err := Validate(e); err != nil {
			return Result{}, fmt.Errorf("write events: event %d: %w", i, err)
		}
	}
	// The first of each id, in id order: concurrent writers lock the ids
	// they share in the same order, so one waits for the other.
	seen := make(map[string]bool, len(events))
	batch := make([]*protocol.Event, 0, len(events))
	for _, e := range events {
		if !seen[e.ID] {
			seen[e.ID] = true
			batch = append(batch, e)
		}
	}
	if len(batch) == 0 {
		return Result{}, nil
	}
	slices.SortFunc(batch, func(a, b *protocol.Event) int { return strings.Compare(a.ID, b.ID) })

	ledger := make([][]any, len(batch))
	for i, e := range batch {
		ledger[i] = []any{e.ID, string(e.Kind), e.Store, e.At.UnixMicro()}
	}
	var res Result
	err := db.be.write(ctx, func(t tx) error {
		inserted, err := t.insertNew(ctx, insertEvent, ledger)
		if err != nil {
			return err
		}
		var fresh []*protocol.Event
		for _, e := range batch {
			if inserted[e.ID] {
				fresh = append(fresh, e)
			}
		}
		z, err := storeZones(ctx, t, fresh)
		if err != nil {
			return err
		}
		ef := effectsOf(fresh, z)
		if err := t.insert(ctx, ef.writes); err != nil {
			return err
		}
		res = Result{Added: len(fresh), Customers: ef.customers}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("write events: %w", err)
	}
	return res, nil
}

// The statements of WriteEvents, in the order it runs them. Every
// transaction touches the tables in this order and the rows of each in key
// order, so two writers never wait for each other in a cycle.
var (
	insertEvent = &insert{
		table:      "events",
		cols:       []column{{"id", text}, {"kind", text}, {"store", text}, {"at_us", bigint}},
		onConflict: "ON CONFLICT (id) DO NOTHING",
	}
	insertCheckout = &insert{
		table: "checkouts",
		cols: []column{{"id", text}, {"store", text}, {"terminal", text}, {"txn", text}, {"customer", text},
			{"at_us", bigint}, {"subtotal", bigint}, {"discount", bigint}, {"points", bigint}, {"paid", bigint},
			{"currency", text}, {"items", text}, {"decision_context", text}, {"decision_policy", text},
			{"decision_model", bigint}, {"decision_holdout", bigint}},
	}
	insertSuggestion = &insert{
		table: "suggestions",
		cols:  []column{{"checkout", text}, {"offer", text}, {"kind", text}, {"ord", bigint}},
	}
	insertRedemption = &insert{
		table: "redemptions",
		cols: []column{{"id", text}, {"store", text}, {"offer", text}, {"txn", text}, {"customer", text},
			{"discount", bigint}, {"points", bigint}, {"at_us", bigint}, {"segments", text}, {"terminal", text}},
	}
	insertDiscrepancy = &insert{
		table: "discrepancies",
		cols: []column{{"id", text}, {"store", text}, {"terminal", text}, {"txn", text}, {"offer", text},
			{"claimed", bigint}, {"honoured", bigint}, {"claimed_points", bigint}, {"honoured_points", bigint},
			{"at_us", bigint}},
	}
	addProfileCounters = &insert{
		table: "profile_counters",
		cols: []column{{"customer", text}, {"store", text}, {"visits", bigint}, {"spend", bigint}, {"points", bigint},
			{"first_day", text}, {"last_day", text}},
		onConflict: `ON CONFLICT (customer, store) DO UPDATE SET
			visits = profile_counters.visits + excluded.visits,
			spend = profile_counters.spend + excluded.spend,
			points = profile_counters.points + excluded.points,
			first_day = CASE WHEN excluded.first_day < profile_counters.first_day
				THEN excluded.first_day ELSE profile_counters.first_day END,
			last_day = CASE WHEN excluded.last_day > profile_counters.last_day
				THEN excluded.last_day ELSE profile_counters.last_day END`,
	}
	// A SKU's category and brand are the greatest seen, so that they too do
	// not depend on the order deltas arrive in.
	addProfileHistory = &insert{
		table: "profile_history",
		cols: []column{{"customer", text}, {"day", text}, {"sku", text}, {"category", text}, {"brand", text},
			{"qty", bigint}, {"spend", bigint}},
		onConflict: `ON CONFLICT (customer, day, sku) DO UPDATE SET
			qty = profile_history.qty + excluded.qty,
			spend = profile_history.spend + excluded.spend,
			category = CASE WHEN excluded.category > profile_history.category
				THEN excluded.category ELSE profile_history.category END,
			brand = CASE WHEN excluded.brand > profile_history.brand
				THEN excluded.brand ELSE profile_history.brand END`,
	}
	spanStore = &insert{
		table: "stores",
		cols:  []column{{"store", text}, {"first_event_us", bigint}, {"last_event_us", bigint}},
		onConflict: `ON CONFLICT (store) DO UPDATE SET
			first_event_us = CASE WHEN excluded.first_event_us < stores.first_event_us
				THEN excluded.first_event_us ELSE stores.first_event_us END,
			last_event_us = CASE WHEN excluded.last_event_us > stores.last_event_us
				THEN excluded.last_event_us ELSE stores.last_event_us END`,
	}
	// Runs after spanStore, so the store's row is there.
	heartbeatStore = &insert{
		table: "stores",
		cols: []column{{"store", text}, {"last_seen_us", bigint}, {"agent", text}, {"catalog", bigint},
			{"outbox_depth", bigint}, {"outbox_oldest_ms", bigint}, {"dropped_impressions", bigint}, {"alarms", text},
			{"zone", text}, {"alarms_since_us", bigint}},
		onConflict: `ON CONFLICT (store) DO UPDATE SET
			last_seen_us = excluded.last_seen_us,
			agent = excluded.agent,
			catalog = excluded.catalog,
			outbox_depth = excluded.outbox_depth,
			outbox_oldest_ms = excluded.outbox_oldest_ms,
			dropped_impressions = excluded.dropped_impressions,
			alarms = excluded.alarms,
			alarms_since_us = CASE WHEN excluded.alarms = stores.alarms AND stores.alarms_since_us <> 0
				THEN stores.alarms_since_us ELSE excluded.last_seen_us END,
			zone = CASE WHEN excluded.zone <> '' THEN excluded.zone ELSE stores.zone END
			WHERE excluded.last_seen_us > stores.last_seen_us`,
	}
)

// effects is what new events change besides the events table.
type effects struct {
	writes    []write
	customers []string
}

// effectsOf works out the effects of new events, sorted by id, zones
// being the stores' for events without a day. Counts are summed here
// first, so that each aggregate row is written once per batch.
func effectsOf(fresh []*protocol.Event, z zones) effects {
	type counterKey struct{ customer, store string }
	type counter struct {
		visits, spend, points int64
		first, last           string
	}
	type historyKey struct{ customer, day, sku string }
	type history struct {
		category, brand string
		qty, spend      int64
	}
	type span struct{ first, last int64 }
	var (
		checkouts, redemptions [][]any
		suggestions            [][]any
		discrepancies          [][]any
		days                   = newRollups()
		counters               = map[counterKey]*counter{}
		histories              = map[historyKey]*history{}
		spans                  = map[string]*span{}
		heartbeats             = map[string]*protocol.Event{}
	)
	for _, e := range fresh {
		at := e.At.UnixMicro()
		if s := spans[e.Store]; s == nil {
			spans[e.Store] = &span{at, at}
		} else {
			s.first, s.last = min(s.first, at), max(s.last, at)
		}
		if rollsUp(e.Kind) {
			days.add(e, z.dayOf(e))
		}
		switch e.Kind {
		case protocol.EventCheckout:
			c := e.Checkout
			var dctx, policy string
			var model, holdout int64
			if d := c.Decision; d != nil {
				dctx, policy, model = d.Context, d.Policy, d.Model
				if d.Holdout {
					holdout = 1
				}
				for i, s := range d.Suggested {
					suggestions = append(suggestions, []any{e.ID, s.Offer, s.Kind, int64(i)})
				}
			}
			checkouts = append(checkouts, []any{e.ID, e.Store, e.Terminal, e.Txn, e.Customer, at,
				c.Subtotal, c.Discount, c.Points, c.Paid, c.Currency, ItemsOf(c.Lines), dctx, policy, model, holdout})
		case protocol.EventRedemption:
			r := e.Redemption
			redemptions = append(redemptions, []any{e.ID, e.Store, r.Offer, e.Txn, e.Customer,
				r.Discount, r.Points, at, strings.Join(r.Segments, ","), e.Terminal})
		case protocol.EventDiscrepancy:
			d := e.Discrepancy
			discrepancies = append(discrepancies, []any{e.ID, e.Store, e.Terminal, e.Txn, d.Offer,
				d.Claimed, d.Honoured, d.ClaimedPoints, d.HonouredPoints, at})
		case protocol.EventProfile:
			p := e.Profile
			k := counterKey{e.Customer, e.Store}
			c := counters[k]
			if c == nil {
				c = &counter{first: p.Day, last: p.Day}
				counters[k] = c
			}
			c.visits += p.Visits
			c.spend += p.Spend
			c.points += p.Points
			c.first, c.last = min(c.first, p.Day), max(c.last, p.Day)
			for _, it := range p.Items {
				hk := historyKey{e.Customer, p.Day, it.SKU}
				h := histories[hk]
				if h == nil {
					h = &history{}
					histories[hk] = h
				}
				h.category, h.brand = max(h.category, it.Category), max(h.brand, it.Brand)
				h.qty += it.Qty
				h.spend += it.Qty * it.Price
			}
		case protocol.EventHeartbeat:
			if prev := heartbeats[e.Store]; prev == nil || e.At.After(prev.At) {
				heartbeats[e.Store] = e
			}
		}
	}

	var ef effects
	add := func(ins *insert, rows [][]any) {
		if len(rows) > 0 {
			ef.writes = append(ef.writes, write{ins, rows})
		}
	}
	add(insertCheckout, checkouts)
	add(insertSuggestion, suggestions)
	add(insertRedemption, redemptions)
	add(insertDiscrepancy, discrepancies)
	add(addProfileCounters, rowsOf(counters, func(a, b counterKey) int {
		return cmp.Or(cmp.Compare(a.customer, b.customer), cmp.Compare(a.store, b.store))
	}, func(k counterKey, c *counter) []any {
		return []any{k.customer, k.store, c.visits, c.spend, c.points, c.first, c.last}
	}))
	add(addProfileHistory, rowsOf(histories, func(a, b historyKey) int {
		return cmp.Or(cmp.Compare(a.customer, b.customer), cmp.Compare(a.day, b.day), cmp.Compare(a.sku, b.sku))
	}, func(k historyKey, h *history) []any {
		return []any{k.customer, k.day, k.sku, h.category, h.brand, h.qty, h.spend}
	}))
	add(spanStore, rowsOf(spans, strings.Compare, func(store string, s *span) []any {
		return []any{store, s.first, s.last}
	}))
	add(heartbeatStore, rowsOf(heartbeats, strings.Compare, func(store string, e *protocol.Event) []any {
		h := e.Heartbeat
		return []any{store, e.At.UnixMicro(), h.Agent, h.Catalog, h.OutboxDepth, h.OutboxOldestMS, h.Dropped,
			alarmsJSON(h.Alarms), h.Zone, e.At.UnixMicro()}
	}))
	ef.writes = append(ef.writes, days.writes()...)

	customers := map[string]bool{}
	for k := range counters {
		customers[k.customer] = true
	}
	ef.customers = slices.Sorted(maps.Keys(customers))
	return ef
}

// rowsOf turns a map into rows in key order.
func rowsOf[K comparable, V any](m map[K]V, compare func(a, b K) int, row func(K, V) []any) [][]any {
	keys := slices.SortedFunc(maps.Keys(m), compare)
	rows := make([][]any, len(keys))
	for i, k := range keys {
		rows[i] = row(k, m[k])
	}
	return rows
}

func alarmsJSON(alarms []string) string {
	if alarms == nil {
		alarms = []string{}
	}
	b, _ := json.Marshal(alarms) // a []string always marshals
	return string(b)
}

// Validate reports whether WriteEvents can store e, by the rules the
// agent applied before it recorded the event: (*protocol.Event).Validate.
// The error wraps ErrInvalidEvent, names the event's id when it has one,
// and the field by its path; it never quotes the customer. ErrInvalidEvent
// is protocol.ErrInvalidEvent.
func Validate(e *protocol.Event) error { return e.Validate() }

// maxText bounds free text: a token's name.
const maxText = protocol.MaxTextLen

// isText reports whether s is UTF-8 without NUL bytes (which PostgreSQL
// cannot store in text), from lo to hi bytes long.
func isText(s string, lo, hi int) bool {
	return len(s) >= lo && len(s) <= hi && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// isDay reports whether s is a valid date YYYY-MM-DD.
func isDay(s string) bool {
	t, err := time.Parse(time.DateOnly, s)
	return err == nil && t.Format(time.DateOnly) == s
}
