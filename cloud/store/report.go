package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Days are the store-local days [From, To) that a report covers, each
// YYYY-MM-DD. Each store's figures are counted on its own days: a chain's
// 2026-12-03 is each store's 2026-12-03, in whatever zone it is.
type Days struct{ From, To string }

// MaxReportDays is the most days a DayReport covers.
const MaxReportDays = 3660

// check reports whether d are two dates, From before To.
func (d Days) check() error {
	from, err1 := time.Parse(time.DateOnly, d.From)
	to, err2 := time.Parse(time.DateOnly, d.To)
	switch {
	case err1 != nil || from.Format(time.DateOnly) != d.From:
		return fmt.Errorf("%w: from: want a date YYYY-MM-DD, got %q", ErrBadQuery, d.From)
	case err2 != nil || to.Format(time.DateOnly) != d.To:
		return fmt.Errorf("%w: to: want a date YYYY-MM-DD, got %q", ErrBadQuery, d.To)
	case !from.Before(to):
		return fmt.Errorf("%w: from (%s) must be before to (%s)", ErrBadQuery, d.From, d.To)
	}
	return nil
}

// Shown is how often an offer was shown, and how often that led to its
// redemption.
type Shown struct {
	// Impressions counts the transactions shown the offer as one that
	// applied; NudgeImpressions those shown it as a nudge or cross-sell.
	// Both count abandoned transactions too.
	Impressions      int64 `json:"impressions"`
	NudgeImpressions int64 `json:"nudge_impressions"`
	// ShownCheckouts counts the checkouts whose transaction showed the
	// offer as one that applied, ShownRedeemed those of them that redeemed
	// it; NudgedCheckouts and NudgedRedeemed the same for nudges and
	// cross-sells.
	ShownCheckouts  int64 `json:"shown_checkouts"`
	ShownRedeemed   int64 `json:"shown_redeemed"`
	NudgedCheckouts int64 `json:"nudged_checkouts"`
	NudgedRedeemed  int64 `json:"nudged_redeemed"`
	// Uptake is ShownRedeemed / ShownCheckouts: of the checkouts shown the
	// offer, the share that redeemed it, from 0 to 1 by construction; null
	// when none was shown it. NudgeUptake is NudgedRedeemed /
	// NudgedCheckouts.
	Uptake      *float64 `json:"uptake"`
	NudgeUptake *float64 `json:"nudge_uptake"`
}

// ratios works out Uptake and NudgeUptake.
func (s *Shown) ratios() {
	s.Uptake, s.NudgeUptake = ratio(s.ShownRedeemed, s.ShownCheckouts), ratio(s.NudgedRedeemed, s.NudgedCheckouts)
}

func ratio(n, of int64) *float64 {
	if of == 0 {
		return nil
	}
	r := float64(n) / float64(of)
	return &r
}

// The sums of what offers did, from offer_days or the rollups above it,
// in the order redemptions, discount, points, then Shown's dest: with no
// prefix (offer_days, offer_chain_days), and with offer_ (store_days).
var (
	offerSumsSQL      = sumsOf("", offerSums)
	storeOfferSumsSQL = sumsOf("offer_", offerSums)
)

func (s *Shown) dest() []any {
	return []any{&s.Impressions, &s.NudgeImpressions, &s.ShownCheckouts, &s.ShownRedeemed, &s.NudgedCheckouts,
		&s.NudgedRedeemed}
}

// OfferRow is how one offer did over a period.
type OfferRow struct {
	Offer       string `json:"offer"`
	Redemptions int64  `json:"redemptions"`
	Discount    int64  `json:"discount"`
	Points      int64  `json:"points"`
	Shown
}

// OfferReport returns, for each offer redeemed or shown on days (at one
// store, when store is not empty), its redemptions, discount, points and
// how often it was shown, sorted by offer.
func (db *DB) OfferReport(ctx context.Context, days Days, store string) ([]OfferRow, error) {
	if err := days.check(); err != nil {
		return nil, fmt.Errorf("offer report: %w", err)
	}
	table, where, args := "offer_chain_days", "day >= $1 AND day < $2", []any{days.From, days.To}
	if store != "" {
		table, where, args = "offer_days", where+" AND store = $3", append(args, store)
	}
	var out []OfferRow
	err := db.each(ctx, func(r rows) error {
		var o OfferRow
		if err := r.Scan(append([]any{&o.Offer, &o.Redemptions, &o.Discount, &o.Points}, o.Shown.dest()...)...); err != nil {
			return err
		}
		o.ratios()
		out = append(out, o)
		return nil
	}, `SELECT offer, `+offerSumsSQL+` FROM `+table+` WHERE `+where+` GROUP BY offer ORDER BY offer`, args...)
	if err != nil {
		return nil, fmt.Errorf("offer report: %w", err)
	}
	return out, nil
}

// StoreReportRow is how one store did over a period.
type StoreReportRow struct {
	Store     string `json:"store"`
	Checkouts int64  `json:"checkouts"`
	Sales     int64  `json:"sales"` // the checkouts' subtotals, before discounts
	// Redemptions, Discount, Points and Shown are those of the offers
	// redeemed and shown at the store (of one offer, when the report is
	// for one).
	Redemptions int64 `json:"redemptions"`
	Discount    int64 `json:"discount"`
	Points      int64 `json:"points"`
	Shown
}

// StoreReport returns, for each store with a checkout, a redemption or an
// impression on days, its checkouts and sales, the offers redeemed there
// and how often they were shown, sorted by store. A non-empty offer limits
// the offers' figures to that offer, and the stores to those that redeemed
// or showed it.
func (db *DB) StoreReport(ctx context.Context, days Days, offer string) ([]StoreReportRow, error) {
	if err := days.check(); err != nil {
		return nil, fmt.Errorf("store report: %w", err)
	}
	if offer == "" {
		return db.storeTotals(ctx, days)
	}
	byStore := map[string]*StoreReportRow{}
	row := func(store string) *StoreReportRow {
		s := byStore[store]
		if s == nil {
			s = &StoreReportRow{Store: store}
			byStore[store] = s
		}
		return s
	}
	err := db.each(ctx, func(r rows) error {
		var s StoreReportRow
		if err := r.Scan(append([]any{&s.Store, &s.Redemptions, &s.Discount, &s.Points}, s.Shown.dest()...)...); err != nil {
			return err
		}
		s.ratios()
		*row(s.Store) = s
		return nil
	}, `SELECT store, `+offerSumsSQL+` FROM offer_days WHERE offer = $3 AND day >= $1 AND day < $2 GROUP BY store`,
		days.From, days.To, offer)
	if err != nil {
		return nil, fmt.Errorf("store report: %w", err)
	}
	err = db.each(ctx, func(r rows) error {
		var store string
		var checkouts, sales int64
		if err := r.Scan(&store, &checkouts, &sales); err != nil {
			return err
		}
		if s := byStore[store]; s != nil {
			s.Checkouts, s.Sales = checkouts, sales
		}
		return nil
	}, `SELECT store, CAST(sum(checkouts) AS BIGINT), CAST(sum(sales) AS BIGINT)
		FROM store_days WHERE day >= $1 AND day < $2 GROUP BY store`, days.From, days.To)
	if err != nil {
		return nil, fmt.Errorf("store report: %w", err)
	}
	out := make([]StoreReportRow, 0, len(byStore))
	for _, s := range byStore {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b StoreReportRow) int { return strings.Compare(a.Store, b.Store) })
	return out, nil
}

// storeTotals is StoreReport for every offer: each store's own totals.
func (db *DB) storeTotals(ctx context.Context, days Days) ([]StoreReportRow, error) {
	var out []StoreReportRow
	err := db.each(ctx, func(r rows) error {
		var s StoreReportRow
		if err := r.Scan(append([]any{&s.Store, &s.Checkouts, &s.Sales, &s.Redemptions, &s.Discount, &s.Points},
			s.Shown.dest()...)...); err != nil {
			return err
		}
		s.ratios()
		out = append(out, s)
		return nil
	}, `SELECT store, CAST(sum(checkouts) AS BIGINT), CAST(sum(sales) AS BIGINT), `+storeOfferSumsSQL+`
		FROM store_days WHERE day >= $1 AND day < $2 GROUP BY store ORDER BY store`, days.From, days.To)
	if err != nil {
		return nil, fmt.Errorf("store report: %w", err)
	}
	return out, nil
}

// SegmentRow is what the redemptions of customers in one segment came to
// over a period.
type SegmentRow struct {
	// Segment is the segment id; "" stands for the redemptions whose
	// customer was in no segment (or not identified).
	Segment     string `json:"segment"`
	Redemptions int64  `json:"redemptions"`
	Discount    int64  `json:"discount"`
	Points      int64  `json:"points"`
}

// SegmentReport returns, for each segment recorded on a redemption on
// days, the redemptions whose customer was in it when the transaction
// began, sorted by segment with "" first. A redemption of a customer in
// two segments counts in both rows.
func (db *DB) SegmentReport(ctx context.Context, days Days) ([]SegmentRow, error) {
	if err := days.check(); err != nil {
		return nil, fmt.Errorf("segment report: %w", err)
	}
	var out []SegmentRow
	err := db.each(ctx, func(r rows) error {
		var s SegmentRow
		if err := r.Scan(&s.Segment, &s.Redemptions, &s.Discount, &s.Points); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	}, `SELECT segment, CAST(sum(redemptions) AS BIGINT), CAST(sum(discount) AS BIGINT), CAST(sum(points) AS BIGINT)
		FROM segment_days WHERE day >= $1 AND day < $2 GROUP BY segment ORDER BY segment`, days.From, days.To)
	if err != nil {
		return nil, fmt.Errorf("segment report: %w", err)
	}
	return out, nil
}

// DayRow is one store-local day of a DayReport.
type DayRow struct {
	Day         string `json:"day"` // YYYY-MM-DD
	Checkouts   int64  `json:"checkouts"`
	Sales       int64  `json:"sales"`
	Redemptions int64  `json:"redemptions"`
	Discount    int64  `json:"discount"`
	Points      int64  `json:"points"`
	Shown
}

// DayReport returns one row for each day of days, in order, days without
// activity included: the checkouts and sales, the redemptions and how
// often offers were shown. A non-empty offer limits the offers' figures to
// that offer, a non-empty store all figures to that store. days covers at
// most MaxReportDays.
func (db *DB) DayReport(ctx context.Context, days Days, offer, store string) ([]DayRow, error) {
	if err := days.check(); err != nil {
		return nil, fmt.Errorf("day report: %w", err)
	}
	first, _ := time.Parse(time.DateOnly, days.From)
	last, _ := time.Parse(time.DateOnly, days.To)
	if last.Sub(first) > MaxReportDays*24*time.Hour {
		return nil, fmt.Errorf("day report: %w: at most %d days", ErrBadQuery, MaxReportDays)
	}
	var out []DayRow
	index := map[string]int{}
	for d := first; d.Before(last); d = d.AddDate(0, 0, 1) {
		index[d.Format(time.DateOnly)] = len(out)
		out = append(out, DayRow{Day: d.Format(time.DateOnly)})
	}

	// The offers' sums from the narrowest rollup that holds them.
	table, sums := "offer_chain_days", offerSumsSQL
	where, args := "day >= $1 AND day < $2", []any{days.From, days.To}
	switch {
	case store != "" && offer == "":
		table, sums = "store_days", storeOfferSumsSQL
	case store != "":
		table = "offer_days"
	}
	if offer != "" {
		args = append(args, offer)
		where += fmt.Sprintf(" AND offer = $%d", len(args))
	}
	if store != "" {
		args = append(args, store)
		where += fmt.Sprintf(" AND store = $%d", len(args))
	}
	err := db.each(ctx, func(r rows) error {
		var day string
		var d DayRow
		if err := r.Scan(append([]any{&day, &d.Redemptions, &d.Discount, &d.Points}, d.Shown.dest()...)...); err != nil {
			return err
		}
		if i, ok := index[day]; ok {
			d.Day = day
			d.ratios()
			out[i] = d
		}
		return nil
	}, `SELECT day, `+sums+` FROM `+table+` WHERE `+where+` GROUP BY day`, args...)
	if err != nil {
		return nil, fmt.Errorf("day report: %w", err)
	}

	where, args = "day >= $1 AND day < $2", []any{days.From, days.To}
	if store != "" {
		where, args = where+" AND store = $3", append(args, store)
	}
	err = db.each(ctx, func(r rows) error {
		var day string
		var checkouts, sales int64
		if err := r.Scan(&day, &checkouts, &sales); err != nil {
			return err
		}
		if i, ok := index[day]; ok {
			out[i].Checkouts, out[i].Sales = checkouts, sales
		}
		return nil
	}, `SELECT day, CAST(sum(checkouts) AS BIGINT), CAST(sum(sales) AS BIGINT)
		FROM store_days WHERE `+where+` GROUP BY day`, args...)
	if err != nil {
		return nil, fmt.Errorf("day report: %w", err)
	}
	return out, nil
}

// RedemptionsAfter returns up to limit redemptions that come after the
// position (at, id) in the order of time then id, oldest first: the ones
// with a later time, and those of the same microsecond with a greater id.
// An id of "" starts at the first redemption of that microsecond. limit is
// bounded like Filter.Limit.
func (db *DB) RedemptionsAfter(ctx context.Context, at time.Time, id string, limit int) ([]Redemption, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var out []Redemption
	err := db.each(ctx, func(r rows) error {
		var x Redemption
		var atUS int64
		var segments string
		if err := r.Scan(&x.ID, &x.Store, &x.Offer, &x.Txn, &x.Discount, &x.Points, &atUS, &segments); err != nil {
			return err
		}
		x.At = time.UnixMicro(atUS).UTC()
		if segments != "" {
			x.Segments = strings.Split(segments, ",")
		}
		out = append(out, x)
		return nil
	}, `SELECT id, store, offer, txn, discount, points, at_us, segments FROM redemptions
		WHERE (at_us, id) > ($1, $2) ORDER BY at_us, id LIMIT $3`, at.UnixMicro(), id, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("redemptions after: %w", err)
	}
	return out, nil
}
