package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// dayRange returns the first and last UTC days, YYYY-MM-DD, that [from,
// to) touches, a zero time being no bound: the days of the impressions
// table that a report over [from, to) counts.
func dayRange(from, to time.Time) (first, last string) {
	first, last = "0000-01-01", "9999-12-31"
	if !from.IsZero() {
		first = from.UTC().Format(time.DateOnly)
	}
	if !to.IsZero() {
		last = to.Add(-time.Nanosecond).UTC().Format(time.DateOnly)
	}
	return first, last
}

// StoreReportRow is how one store did over a period.
type StoreReportRow struct {
	Store     string `json:"store"`
	Checkouts int64  `json:"checkouts"`
	Sales     int64  `json:"sales"` // the checkouts' subtotals, before discounts
	// Redemptions, Discount and Points are those of the offers redeemed at
	// the store.
	Redemptions      int64   `json:"redemptions"`
	Discount         int64   `json:"discount"`
	Points           int64   `json:"points"`
	Impressions      int64   `json:"impressions"`
	NudgeImpressions int64   `json:"nudge_impressions"`
	Uptake           float64 `json:"uptake"` // Redemptions / Impressions, 0 without impressions
}

// StoreReport returns, for each store with a checkout, a redemption or an
// impression in [from, to) (a zero time is no bound), its checkouts and
// sales, the offers redeemed there and the impressions shown, sorted by
// store. Impressions are counted per UTC day, so they cover every whole UTC
// day that [from, to) touches.
func (db *DB) StoreReport(ctx context.Context, from, to time.Time) ([]StoreReportRow, error) {
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return nil, nil
	}
	lo, hi := span(from, to)
	firstDay, lastDay := dayRange(from, to)
	var out []StoreReportRow
	err := db.each(ctx, func(r rows) error {
		var s StoreReportRow
		if err := r.Scan(&s.Store, &s.Checkouts, &s.Sales, &s.Redemptions, &s.Discount, &s.Points, &s.Impressions,
			&s.NudgeImpressions); err != nil {
			return err
		}
		if s.Impressions > 0 {
			s.Uptake = float64(s.Redemptions) / float64(s.Impressions)
		}
		out = append(out, s)
		return nil
	}, `SELECT store, CAST(sum(checkouts) AS BIGINT), CAST(sum(sales) AS BIGINT), CAST(sum(redemptions) AS BIGINT),
			CAST(sum(discount) AS BIGINT), CAST(sum(points) AS BIGINT), CAST(sum(shown) AS BIGINT),
			CAST(sum(nudged) AS BIGINT)
		FROM (
			SELECT store, count(*) AS checkouts, sum(subtotal) AS sales, 0 AS redemptions, 0 AS discount,
				0 AS points, 0 AS shown, 0 AS nudged
			FROM checkouts WHERE at_us >= $1 AND at_us < $2 GROUP BY store
			UNION ALL
			SELECT store, 0, 0, count(*), sum(discount), sum(points), 0, 0
			FROM redemptions WHERE at_us >= $1 AND at_us < $2 GROUP BY store
			UNION ALL
			SELECT store, 0, 0, 0, 0, 0, sum(n * (1 - nudge)), sum(n * nudge)
			FROM impressions WHERE day >= $3 AND day <= $4 GROUP BY store
		) AS t
		GROUP BY store`, lo, hi, firstDay, lastDay)
	if err != nil {
		return nil, fmt.Errorf("store report: %w", err)
	}
	slices.SortFunc(out, func(a, b StoreReportRow) int { return strings.Compare(a.Store, b.Store) })
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

// SegmentReport returns, for each segment recorded on a redemption in
// [from, to) (a zero time is no bound), the redemptions whose customer was
// in it when the transaction began, sorted by segment with "" first. A
// redemption of a customer in two segments counts in both rows.
func (db *DB) SegmentReport(ctx context.Context, from, to time.Time) ([]SegmentRow, error) {
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return nil, nil
	}
	lo, hi := span(from, to)
	sums := map[string]*SegmentRow{}
	err := db.each(ctx, func(r rows) error {
		var segments string
		var n, discount, points int64
		if err := r.Scan(&segments, &n, &discount, &points); err != nil {
			return err
		}
		ids := []string{""}
		if segments != "" {
			ids = strings.Split(segments, ",")
		}
		for _, id := range ids {
			s := sums[id]
			if s == nil {
				s = &SegmentRow{Segment: id}
				sums[id] = s
			}
			s.Redemptions += n
			s.Discount += discount
			s.Points += points
		}
		return nil
	}, `SELECT segments, count(*), CAST(sum(discount) AS BIGINT), CAST(sum(points) AS BIGINT)
		FROM redemptions WHERE at_us >= $1 AND at_us < $2 GROUP BY segments`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("segment report: %w", err)
	}
	out := make([]SegmentRow, 0, len(sums))
	for _, s := range sums {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b SegmentRow) int { return strings.Compare(a.Segment, b.Segment) })
	return out, nil
}

// DayRow is one UTC day of a DayReport.
type DayRow struct {
	Day              string `json:"day"` // YYYY-MM-DD, UTC
	Redemptions      int64  `json:"redemptions"`
	Discount         int64  `json:"discount"`
	Points           int64  `json:"points"`
	Impressions      int64  `json:"impressions"`
	NudgeImpressions int64  `json:"nudge_impressions"`
}

// MaxReportDays is the most days a DayReport covers.
const MaxReportDays = 3660

// DayReport returns one row for each UTC day that [from, to) touches, in
// order, days without activity included: the redemptions in [from, to) on
// that day, and the impressions counted that day. A non-empty offer limits
// it to that offer. Both bounds are required, and at most MaxReportDays
// days apart.
func (db *DB) DayReport(ctx context.Context, from, to time.Time, offer string) ([]DayRow, error) {
	if from.IsZero() || to.IsZero() {
		return nil, fmt.Errorf("day report: %w: from and to are required", ErrBadQuery)
	}
	if !to.After(from) {
		return nil, nil
	}
	if to.Sub(from) > MaxReportDays*24*time.Hour {
		return nil, fmt.Errorf("day report: %w: at most %d days", ErrBadQuery, MaxReportDays)
	}
	firstDay, lastDay := dayRange(from, to)
	first, _ := time.Parse(time.DateOnly, firstDay)
	last, _ := time.Parse(time.DateOnly, lastDay)
	var out []DayRow
	index := map[string]int{}
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		index[d.Format(time.DateOnly)] = len(out)
		out = append(out, DayRow{Day: d.Format(time.DateOnly)})
	}

	const dayUS = int64(24 * time.Hour / time.Microsecond)
	filter, args := "", []any{from.UnixMicro(), to.UnixMicro()}
	if offer != "" {
		filter, args = " AND offer = $3", append(args, offer)
	}
	err := db.each(ctx, func(r rows) error {
		var day, n, discount, points int64
		if err := r.Scan(&day, &n, &discount, &points); err != nil {
			return err
		}
		if i, ok := index[time.UnixMicro(day*dayUS).UTC().Format(time.DateOnly)]; ok {
			out[i].Redemptions, out[i].Discount, out[i].Points = n, discount, points
		}
		return nil
	}, fmt.Sprintf(`SELECT at_us / %d AS d, count(*), CAST(sum(discount) AS BIGINT), CAST(sum(points) AS BIGINT)
		FROM redemptions WHERE at_us >= $1 AND at_us < $2%s GROUP BY at_us / %d`, dayUS, filter, dayUS), args...)
	if err != nil {
		return nil, fmt.Errorf("day report: %w", err)
	}

	args = []any{firstDay, lastDay}
	if offer != "" {
		args = append(args, offer)
	}
	err = db.each(ctx, func(r rows) error {
		var day string
		var shown, nudged int64
		if err := r.Scan(&day, &shown, &nudged); err != nil {
			return err
		}
		if i, ok := index[day]; ok {
			out[i].Impressions, out[i].NudgeImpressions = shown, nudged
		}
		return nil
	}, `SELECT day, CAST(sum(n * (1 - nudge)) AS BIGINT), CAST(sum(n * nudge) AS BIGINT)
		FROM impressions WHERE day >= $1 AND day <= $2`+filter+` GROUP BY day`, args...)
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
