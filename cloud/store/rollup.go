package store

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// Reports read daily rollups that WriteEvents keeps in the same
// transaction as the events they count, so a report never scans the
// redemptions and an event is counted exactly once: offer_days per offer,
// store and day, store_days per store and day, segment_days per segment
// and day. A day is the store's own: the event's Day, or for an agent too
// old to send it, the date of its time in the store's last known zone
// (UTC before any).

type offerDayKey struct{ offer, store, day string }

// offerDay is one offer_days row's increments.
type offerDay struct {
	redemptions, discount, points         int64
	impressions, suggested                int64
	shownCheckouts, shownRedeemed         int64
	suggestedCheckouts, suggestedRedeemed int64
}

// plus adds o's counts to d's.
func (d *offerDay) plus(o *offerDay) {
	d.redemptions += o.redemptions
	d.discount += o.discount
	d.points += o.points
	d.impressions += o.impressions
	d.suggested += o.suggested
	d.shownCheckouts += o.shownCheckouts
	d.shownRedeemed += o.shownRedeemed
	d.suggestedCheckouts += o.suggestedCheckouts
	d.suggestedRedeemed += o.suggestedRedeemed
}

func (d *offerDay) sums() []any {
	return []any{d.redemptions, d.discount, d.points, d.impressions, d.suggested, d.shownCheckouts, d.shownRedeemed,
		d.suggestedCheckouts, d.suggestedRedeemed}
}

type storeDayKey struct{ store, day string }

// storeDay is a store's checkouts on a day, and what its offers did.
type storeDay struct {
	checkouts, sales, discount, points int64
	offers                             offerDay
}

type offerStoreKey struct{ offer, store string }

type segmentDayKey struct{ segment, day string }

type segmentDay struct{ redemptions, discount, points int64 }

// rollups are a batch's increments of the three tables.
type rollups struct {
	offers   map[offerDayKey]*offerDay
	stores   map[storeDayKey]*storeDay
	segments map[segmentDayKey]*segmentDay
}

func newRollups() *rollups {
	return &rollups{map[offerDayKey]*offerDay{}, map[storeDayKey]*storeDay{}, map[segmentDayKey]*segmentDay{}}
}

func (r *rollups) offer(offer, store, day string) *offerDay {
	return entry(r.offers, offerDayKey{offer, store, day})
}

func (r *rollups) store(store, day string) *storeDay { return entry(r.stores, storeDayKey{store, day}) }

func (r *rollups) segment(segment, day string) *segmentDay {
	return entry(r.segments, segmentDayKey{segment, day})
}

// entry returns m's value at k, a new zero one when it has none.
func entry[K comparable, V any](m map[K]*V, k K) *V {
	v := m[k]
	if v == nil {
		v = new(V)
		m[k] = v
	}
	return v
}

// add counts one new event on its day.
func (r *rollups) add(e *protocol.Event, day string) {
	switch e.Kind {
	case protocol.EventCheckout:
		c := e.Checkout
		s := r.store(e.Store, day)
		s.checkouts++
		s.sales += c.Subtotal
		s.discount += c.Discount
		s.points += c.Points
		for _, sh := range c.Shown {
			o := r.offer(sh.Offer, e.Store, day)
			redeemed := int64(0)
			if sh.Redeemed {
				redeemed = 1
			}
			if sh.Suggested {
				o.suggestedCheckouts++
				o.suggestedRedeemed += redeemed
			} else {
				o.shownCheckouts++
				o.shownRedeemed += redeemed
			}
		}
	case protocol.EventRedemption:
		x := e.Redemption
		o := r.offer(x.Offer, e.Store, day)
		o.redemptions++
		o.discount += x.Discount
		o.points += x.Points
		segments := x.Segments
		if len(segments) == 0 {
			segments = []string{""}
		}
		for _, id := range segments {
			s := r.segment(id, day)
			s.redemptions++
			s.discount += x.Discount
			s.points += x.Points
		}
	case protocol.EventImpression:
		o := r.offer(e.Impression.Offer, e.Store, day)
		if e.Impression.Nudge {
			o.suggested++
		} else {
			o.impressions++
		}
	}
}

// rollsUp reports whether an event of kind counts in the rollups.
func rollsUp(kind protocol.EventKind) bool {
	return kind == protocol.EventCheckout || kind == protocol.EventRedemption || kind == protocol.EventImpression
}

// offerSums are the columns of what an offer did, in offerDay.sums order.
var offerSums = []string{"redemptions", "discount", "points", "impressions", "suggested", "shown_checkouts",
	"shown_redeemed", "suggested_checkouts", "suggested_redeemed"}

// sumColumns are the columns named prefix+name for each of names.
func sumColumns(prefix string, names []string) []column {
	cols := make([]column, len(names))
	for i, n := range names {
		cols[i] = column{prefix + n, bigint}
	}
	return cols
}

// addUp is an ON CONFLICT clause that adds the new row's columns to the
// table's (set, with add false).
func addUp(table, key string, cols []column, add bool) string {
	sets := make([]string, len(cols))
	for i, c := range cols {
		if add {
			sets[i] = fmt.Sprintf("%s = %s.%s + excluded.%s", c.name, table, c.name, c.name)
		} else {
			sets[i] = fmt.Sprintf("%s = excluded.%s", c.name, c.name)
		}
	}
	return fmt.Sprintf("ON CONFLICT (%s) DO UPDATE SET %s", key, strings.Join(sets, ", "))
}

var (
	offerDayCols  = sumColumns("", offerSums)
	storeDayCols  = append([]column{{"checkouts", bigint}, {"sales", bigint}, {"discount", bigint}, {"points", bigint}}, sumColumns("offer_", offerSums)...)
	offerStoreCol = []column{{"redemptions", bigint}, {"discount", bigint}, {"points", bigint}}
	segmentCols   = []column{{"redemptions", bigint}, {"discount", bigint}, {"points", bigint}}

	addOfferDays = &insert{table: "offer_days",
		cols:       append([]column{{"offer", text}, {"store", text}, {"day", text}}, offerDayCols...),
		onConflict: addUp("offer_days", "offer, store, day", offerDayCols, true)}
	addOfferChainDays = &insert{table: "offer_chain_days",
		cols:       append([]column{{"offer", text}, {"day", text}}, offerDayCols...),
		onConflict: addUp("offer_chain_days", "offer, day", offerDayCols, true)}
	addStoreDays = &insert{table: "store_days",
		cols:       append([]column{{"store", text}, {"day", text}}, storeDayCols...),
		onConflict: addUp("store_days", "store, day", storeDayCols, true)}
	addOfferStores = &insert{table: "offer_stores",
		cols:       append([]column{{"offer", text}, {"store", text}}, offerStoreCol...),
		onConflict: addUp("offer_stores", "offer, store", offerStoreCol, true)}
	addSegmentDays = &insert{table: "segment_days",
		cols:       append([]column{{"segment", text}, {"day", text}}, segmentCols...),
		onConflict: addUp("segment_days", "segment, day", segmentCols, true)}
)

// writes returns the upserts of the rollups, each table's rows in key
// order: offer_days, and what it sums to per offer and day, per store and
// day, and per offer and store.
func (r *rollups) writes() []write {
	chain := map[offerDayKey]*offerDay{}
	offerStores := map[offerStoreKey]*offerDay{}
	for k, o := range r.offers {
		entry(chain, offerDayKey{offer: k.offer, day: k.day}).plus(o)
		entry(offerStores, offerStoreKey{k.offer, k.store}).plus(o)
		entry(r.stores, storeDayKey{k.store, k.day}).offers.plus(o)
	}
	var out []write
	add := func(ins *insert, rows [][]any) {
		if len(rows) > 0 {
			out = append(out, write{ins, rows})
		}
	}
	byOfferStoreDay := func(a, b offerDayKey) int {
		return cmp.Or(strings.Compare(a.offer, b.offer), strings.Compare(a.store, b.store), strings.Compare(a.day, b.day))
	}
	add(addOfferDays, rowsOf(r.offers, byOfferStoreDay, func(k offerDayKey, o *offerDay) []any {
		return append([]any{k.offer, k.store, k.day}, o.sums()...)
	}))
	add(addOfferChainDays, rowsOf(chain, byOfferStoreDay, func(k offerDayKey, o *offerDay) []any {
		return append([]any{k.offer, k.day}, o.sums()...)
	}))
	add(addStoreDays, rowsOf(r.stores, func(a, b storeDayKey) int {
		return cmp.Or(strings.Compare(a.store, b.store), strings.Compare(a.day, b.day))
	}, func(k storeDayKey, s *storeDay) []any {
		return append([]any{k.store, k.day, s.checkouts, s.sales, s.discount, s.points}, s.offers.sums()...)
	}))
	add(addOfferStores, rowsOf(offerStores, func(a, b offerStoreKey) int {
		return cmp.Or(strings.Compare(a.offer, b.offer), strings.Compare(a.store, b.store))
	}, func(k offerStoreKey, o *offerDay) []any {
		return []any{k.offer, k.store, o.redemptions, o.discount, o.points}
	}))
	add(addSegmentDays, rowsOf(r.segments, func(a, b segmentDayKey) int {
		return cmp.Or(strings.Compare(a.segment, b.segment), strings.Compare(a.day, b.day))
	}, func(k segmentDayKey, s *segmentDay) []any {
		return []any{k.segment, k.day, s.redemptions, s.discount, s.points}
	}))
	return out
}

// zones are the stores' time zones, for events that do not say their day.
type zones map[string]*time.Location

// dayOf returns the store-local date an event counts on.
func (z zones) dayOf(e *protocol.Event) string {
	if e.Day != "" {
		return e.Day
	}
	loc := z[e.Store]
	if loc == nil {
		loc = time.UTC
	}
	return e.At.In(loc).Format(time.DateOnly)
}

// LoadZone returns the zone a store's heartbeat named, or nil when it
// named none, Local, or one this program does not know.
func LoadZone(name string) *time.Location {
	if name == "" || name == "Local" {
		return nil
	}
	if loc, ok := zoneCache.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	zoneCache.Store(name, loc)
	return loc
}

// zoneCache holds the zones loaded, by name: loading one reads and parses
// the time zone database.
var zoneCache sync.Map

// storeZones reads the zones of the stores that sent events without a
// day: only old agents do, so a batch from current ones reads nothing.
func storeZones(ctx context.Context, t tx, fresh []*protocol.Event) (zones, error) {
	var stores []any
	seen := map[string]bool{}
	for _, e := range fresh {
		if e.Day == "" && rollsUp(e.Kind) && !seen[e.Store] {
			seen[e.Store] = true
			stores = append(stores, e.Store)
		}
	}
	z := zones{}
	if len(stores) == 0 {
		return z, nil
	}
	err := eachRow(ctx, t.query, func(r rows) error {
		var store, name string
		if err := r.Scan(&store, &name); err != nil {
			return err
		}
		z[store] = LoadZone(name)
		return nil
	}, "SELECT store, zone FROM stores WHERE zone <> '' AND store IN ("+placeholders(len(stores))+")", stores...)
	if err != nil {
		return nil, err
	}
	return z, nil
}

// rollUpHistory fills the rollups from the redemptions and checkouts
// stored before them, on their UTC dates (no store had said its zone).
// The impressions were already counted per UTC day; the migration moved
// them.
func rollUpHistory(ctx context.Context, t tx) error {
	const dayUS = int64(24 * time.Hour / time.Microsecond)
	date := func(n int64) string { return time.UnixMicro(n * dayUS).UTC().Format(time.DateOnly) }
	r := newRollups()
	scan := func(q string, fn func(r rows) error) error { return eachRow(ctx, t.query, fn, q) }
	err := scan(`SELECT offer, store, at_us / 86400000000, count(*), CAST(sum(discount) AS BIGINT),
			CAST(sum(points) AS BIGINT)
		FROM redemptions GROUP BY offer, store, at_us / 86400000000`, func(rs rows) error {
		var offer, store string
		var day, n, discount, points int64
		if err := rs.Scan(&offer, &store, &day, &n, &discount, &points); err != nil {
			return err
		}
		o := r.offer(offer, store, date(day))
		o.redemptions, o.discount, o.points = n, discount, points
		return nil
	})
	if err != nil {
		return err
	}
	err = scan(`SELECT segments, at_us / 86400000000, count(*), CAST(sum(discount) AS BIGINT), CAST(sum(points) AS BIGINT)
		FROM redemptions GROUP BY segments, at_us / 86400000000`, func(rs rows) error {
		var segments string
		var day, n, discount, points int64
		if err := rs.Scan(&segments, &day, &n, &discount, &points); err != nil {
			return err
		}
		ids := []string{""}
		if segments != "" {
			ids = strings.Split(segments, ",")
		}
		for _, id := range ids {
			s := r.segment(id, date(day))
			s.redemptions += n
			s.discount += discount
			s.points += points
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = scan(`SELECT store, at_us / 86400000000, count(*), CAST(sum(subtotal) AS BIGINT), CAST(sum(discount) AS BIGINT),
			CAST(sum(points) AS BIGINT)
		FROM checkouts GROUP BY store, at_us / 86400000000`, func(rs rows) error {
		var store string
		var day, n, sales, discount, points int64
		if err := rs.Scan(&store, &day, &n, &sales, &discount, &points); err != nil {
			return err
		}
		s := r.store(store, date(day))
		s.checkouts, s.sales, s.discount, s.points = n, sales, discount, points
		return nil
	})
	if err != nil {
		return err
	}
	// The tables of this version of the schema only: the coarser rollups
	// come after it (rollUpCoarser).
	v7Stores := &insert{table: "store_days", cols: append([]column{{"store", text}, {"day", text}}, storeDayCols[:4]...),
		onConflict: addUp("store_days", "store, day", storeDayCols[:4], true)}
	var writes []write
	for _, w := range r.writes() {
		switch w.ins {
		case addOfferDays, addSegmentDays:
			writes = append(writes, w)
		case addStoreDays:
			for i, row := range w.rows {
				w.rows[i] = row[:6]
			}
			writes = append(writes, write{v7Stores, w.rows})
		}
	}
	return t.insert(ctx, writes)
}

// rollUpCoarser fills offer_chain_days, offer_stores and the offer sums of
// store_days from offer_days: what they hold of the events stored before
// them.
func rollUpCoarser(ctx context.Context, t tx) error {
	sums := sumsOf("", offerSums)
	names := strings.Join(offerSums, ", ")
	err := t.exec(ctx, `INSERT INTO offer_chain_days (offer, day, `+names+`)
		SELECT offer, day, `+sums+` FROM offer_days GROUP BY offer, day`)
	if err != nil {
		return err
	}
	err = t.exec(ctx, `INSERT INTO offer_stores (offer, store, redemptions, discount, points)
		SELECT offer, store, CAST(sum(redemptions) AS BIGINT), CAST(sum(discount) AS BIGINT), CAST(sum(points) AS BIGINT)
		FROM offer_days GROUP BY offer, store`)
	if err != nil {
		return err
	}
	days := map[storeDayKey]*offerDay{}
	err = eachRow(ctx, t.query, func(rs rows) error {
		var k storeDayKey
		var o offerDay
		if err := rs.Scan(&k.store, &k.day, &o.redemptions, &o.discount, &o.points, &o.impressions, &o.suggested,
			&o.shownCheckouts, &o.shownRedeemed, &o.suggestedCheckouts, &o.suggestedRedeemed); err != nil {
			return err
		}
		days[k] = &o
		return nil
	}, `SELECT store, day, `+sums+` FROM offer_days GROUP BY store, day`)
	if err != nil {
		return err
	}
	cols := sumColumns("offer_", offerSums)
	set := &insert{table: "store_days", cols: append([]column{{"store", text}, {"day", text}}, cols...),
		onConflict: addUp("store_days", "store, day", cols, false)}
	rows := rowsOf(days, func(a, b storeDayKey) int {
		return cmp.Or(strings.Compare(a.store, b.store), strings.Compare(a.day, b.day))
	}, func(k storeDayKey, o *offerDay) []any { return append([]any{k.store, k.day}, o.sums()...) })
	if len(rows) == 0 {
		return nil
	}
	return t.insert(ctx, []write{{set, rows}})
}

// sumsOf is "CAST(sum(prefix+c) AS BIGINT), ..." for each column.
func sumsOf(prefix string, names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("CAST(sum(%s%s) AS BIGINT)", prefix, n)
	}
	return strings.Join(parts, ", ")
}
