package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DiscrepancyFilter selects discrepancies. Empty fields match everything.
type DiscrepancyFilter struct {
	Store    string
	Terminal string
	Offer    string
	From     time.Time
	To       time.Time // From <= at < To; a zero time is no bound
	After    string    // the cursor Discrepancies returned with the previous page
	Limit    int       // page size: 0 is DefaultLimit; more than MaxLimit is MaxLimit
}

// Discrepancy is a terminal's claim for an offer that its agent honoured
// less of than claimed. Only Honoured counted; Excess is what was not.
type Discrepancy struct {
	ID             string    `json:"id"` // the event id
	Store          string    `json:"store"`
	Terminal       string    `json:"terminal"`
	Txn            string    `json:"txn"`
	Offer          string    `json:"offer"`
	Claimed        int64     `json:"claimed"`
	Honoured       int64     `json:"honoured"`
	Excess         int64     `json:"excess"` // Claimed - Honoured
	ClaimedPoints  int64     `json:"claimed_points"`
	HonouredPoints int64     `json:"honoured_points"`
	At             time.Time `json:"at"` // UTC
}

// where turns a filter into SQL conditions and their arguments; the
// cursor is left to the caller.
func (f DiscrepancyFilter) where() ([]string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	from, to := span(f.From, f.To)
	where = append(where, "at_us >= "+arg(from), "at_us < "+arg(to))
	if f.Store != "" {
		where = append(where, "store = "+arg(f.Store))
	}
	if f.Terminal != "" {
		where = append(where, "terminal = "+arg(f.Terminal))
	}
	if f.Offer != "" {
		where = append(where, "offer = "+arg(f.Offer))
	}
	return where, args
}

// Discrepancies returns a page of the discrepancies that f matches, newest
// first (by time, then id), and the cursor of the next page: "" on the
// last. Paging works as for Redemptions.
func (db *DB) Discrepancies(ctx context.Context, f DiscrepancyFilter) ([]Discrepancy, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	where, args := f.where()
	if f.After != "" {
		at, id, ok := parseCursor(f.After)
		if !ok {
			return nil, "", fmt.Errorf("discrepancies: %w: after: not a cursor from a previous page", ErrBadQuery)
		}
		args = append(args, at, id)
		where = append(where, fmt.Sprintf("(at_us, id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, int64(limit+1))
	q := fmt.Sprintf(`SELECT id, store, terminal, txn, offer, claimed, honoured, claimed_points, honoured_points, at_us
		FROM discrepancies WHERE %s ORDER BY at_us DESC, id DESC LIMIT $%d`, strings.Join(where, " AND "), len(args))
	var out []Discrepancy
	err := db.each(ctx, func(r rows) error {
		var d Discrepancy
		var at int64
		if err := r.Scan(&d.ID, &d.Store, &d.Terminal, &d.Txn, &d.Offer, &d.Claimed, &d.Honoured, &d.ClaimedPoints,
			&d.HonouredPoints, &at); err != nil {
			return err
		}
		d.At = time.UnixMicro(at).UTC()
		d.Excess = d.Claimed - d.Honoured
		out = append(out, d)
		return nil
	}, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("discrepancies: %w", err)
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	end := out[limit-1]
	return out, makeCursor(end.At.UnixMicro(), end.ID), nil
}

// DiscrepancySummaryRow is the discrepancies of one terminal of one store
// over a period.
type DiscrepancySummaryRow struct {
	Store          string    `json:"store"`
	Terminal       string    `json:"terminal"`
	Discrepancies  int64     `json:"discrepancies"`
	Claimed        int64     `json:"claimed"`
	Honoured       int64     `json:"honoured"`
	Excess         int64     `json:"excess"` // Claimed - Honoured
	ClaimedPoints  int64     `json:"claimed_points"`
	HonouredPoints int64     `json:"honoured_points"`
	First          time.Time `json:"first"`
	Last           time.Time `json:"last"`
}

// DiscrepancySummary totals the discrepancies that f matches (its cursor
// and limit aside) per store and terminal, the largest excess first, then
// by store and terminal.
func (db *DB) DiscrepancySummary(ctx context.Context, f DiscrepancyFilter) ([]DiscrepancySummaryRow, error) {
	where, args := f.where()
	var out []DiscrepancySummaryRow
	err := db.each(ctx, func(r rows) error {
		var s DiscrepancySummaryRow
		var first, last int64
		if err := r.Scan(&s.Store, &s.Terminal, &s.Discrepancies, &s.Claimed, &s.Honoured, &s.ClaimedPoints,
			&s.HonouredPoints, &first, &last); err != nil {
			return err
		}
		s.Excess = s.Claimed - s.Honoured
		s.First, s.Last = time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC()
		out = append(out, s)
		return nil
	}, `SELECT store, terminal, count(*), CAST(sum(claimed) AS BIGINT), CAST(sum(honoured) AS BIGINT),
			CAST(sum(claimed_points) AS BIGINT), CAST(sum(honoured_points) AS BIGINT), min(at_us), max(at_us)
		FROM discrepancies WHERE `+strings.Join(where, " AND ")+`
		GROUP BY store, terminal`, args...)
	if err != nil {
		return nil, fmt.Errorf("discrepancy summary: %w", err)
	}
	slices.SortFunc(out, func(a, b DiscrepancySummaryRow) int {
		return cmp.Or(cmp.Compare(b.Excess, a.Excess), strings.Compare(a.Store, b.Store), strings.Compare(a.Terminal, b.Terminal))
	})
	return out, nil
}
