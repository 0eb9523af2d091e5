package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// BudgetLevels are the shares of a budget, in percent, that raise an
// alert when an offer's discount at a store reaches them.
var BudgetLevels = []int64{80, 100}

// OfferStoreRow is what an offer gave at a store, all time.
type OfferStoreRow struct {
	Store       string `json:"store"`
	Redemptions int64  `json:"redemptions"`
	Discount    int64  `json:"discount"`
	Points      int64  `json:"points"`
}

// OfferStores returns what an offer gave at each store that redeemed it,
// all time, the largest discount first: what its budget there has given.
func (db *DB) OfferStores(ctx context.Context, offer string) ([]OfferStoreRow, error) {
	var out []OfferStoreRow
	err := db.each(ctx, func(r rows) error {
		var o OfferStoreRow
		err := r.Scan(&o.Store, &o.Redemptions, &o.Discount, &o.Points)
		out = append(out, o)
		return err
	}, `SELECT store, redemptions, discount, points FROM offer_stores WHERE offer = $1 ORDER BY discount DESC, store`, offer)
	if err != nil {
		return nil, fmt.Errorf("offer stores: %w", err)
	}
	return out, nil
}

// BudgetAlert is an offer whose discount at a store reached a level of
// its budget there.
type BudgetAlert struct {
	Offer    string    `json:"offer"`
	Store    string    `json:"store"`
	Level    int64     `json:"level"` // percent of the budget
	Budget   int64     `json:"budget"`
	Discount int64     `json:"discount"` // when it was found
	At       time.Time `json:"at"`
	// Delivered is when the webhook took it; zero when not (yet), or
	// when there is no webhook.
	Delivered time.Time `json:"delivered,omitzero"`
	Attempts  int64     `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
}

func (a *BudgetAlert) key() string {
	return fmt.Sprintf("%s/%s/%d/%d", a.Offer, a.Store, a.Level, a.Budget)
}

// BudgetUse returns the discount each of the offers gave at each store, all
// time: offer to store to discount.
func (db *DB) BudgetUse(ctx context.Context, offers []string) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	if len(offers) == 0 {
		return out, nil
	}
	args := make([]any, len(offers))
	for i, o := range offers {
		args[i] = o
	}
	err := db.each(ctx, func(r rows) error {
		var offer, store string
		var discount int64
		if err := r.Scan(&offer, &store, &discount); err != nil {
			return err
		}
		if out[offer] == nil {
			out[offer] = map[string]int64{}
		}
		out[offer][store] = discount
		return nil
	}, `SELECT offer, store, discount FROM offer_stores WHERE offer IN (`+placeholders(len(offers))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("budget use: %w", err)
	}
	return out, nil
}

var insertBudgetAlert = &insert{
	table: "budget_alerts",
	cols: []column{{"id", text}, {"offer", text}, {"store", text}, {"level", bigint}, {"budget", bigint},
		{"discount", bigint}, {"at_us", bigint}},
	onConflict: "ON CONFLICT (id) DO NOTHING",
}

// AddBudgetAlerts stores the alerts not stored before, and returns those.
// An alert is one (offer, store, level, budget): a budget raised later
// alerts again at its levels.
func (db *DB) AddBudgetAlerts(ctx context.Context, alerts []BudgetAlert) ([]BudgetAlert, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	rows := make([][]any, len(alerts))
	for i, a := range alerts {
		rows[i] = []any{a.key(), a.Offer, a.Store, a.Level, a.Budget, a.Discount, a.At.UnixMicro()}
	}
	var added []BudgetAlert
	err := db.be.write(ctx, func(t tx) error {
		inserted, err := t.insertNew(ctx, insertBudgetAlert, rows)
		if err != nil {
			return err
		}
		added = added[:0]
		for _, a := range alerts {
			if inserted[a.key()] {
				added = append(added, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("add budget alerts: %w", err)
	}
	return added, nil
}

const alertCols = "offer, store, level, budget, discount, at_us, delivered_us, attempts, last_error"

func scanAlert(r rows) (BudgetAlert, error) {
	var a BudgetAlert
	var at, delivered int64
	if err := r.Scan(&a.Offer, &a.Store, &a.Level, &a.Budget, &a.Discount, &at, &delivered, &a.Attempts,
		&a.LastError); err != nil {
		return a, err
	}
	a.At = time.UnixMicro(at).UTC()
	if delivered != 0 {
		a.Delivered = time.UnixMicro(delivered).UTC()
	}
	return a, nil
}

// BudgetAlerts returns the alerts raised since a time, newest first, at
// most limit.
func (db *DB) BudgetAlerts(ctx context.Context, since time.Time, limit int) ([]BudgetAlert, error) {
	var out []BudgetAlert
	err := db.each(ctx, func(r rows) error {
		a, err := scanAlert(r)
		out = append(out, a)
		return err
	}, `SELECT `+alertCols+` FROM budget_alerts WHERE at_us >= $1 ORDER BY at_us DESC, id LIMIT $2`,
		since.UnixMicro(), int64(limit))
	if err != nil {
		return nil, fmt.Errorf("budget alerts: %w", err)
	}
	return out, nil
}

// ClaimBudgetAlerts claims up to limit alerts not delivered, and not
// claimed since lease before now, for this replica to send: each claim
// counts an attempt. A replica that dies holding a claim loses it after
// lease.
func (db *DB) ClaimBudgetAlerts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]BudgetAlert, error) {
	var out []BudgetAlert
	err := db.be.write(ctx, func(t tx) error {
		out = out[:0]
		return eachRow(ctx, t.query, func(r rows) error {
			a, err := scanAlert(r)
			out = append(out, a)
			return err
		}, `UPDATE budget_alerts SET claimed_us = $1, attempts = attempts + 1
			WHERE delivered_us = 0 AND claimed_us < $2 AND id IN (SELECT id FROM budget_alerts
				WHERE delivered_us = 0 AND claimed_us < $2 ORDER BY at_us, id LIMIT $3)
			RETURNING `+alertCols, now.UnixMicro(), now.Add(-lease).UnixMicro(), int64(limit))
	})
	if err != nil {
		return nil, fmt.Errorf("claim budget alerts: %w", err)
	}
	return out, nil
}

// SettleBudgetAlert records how sending an alert went: delivered at now,
// or, with an error, to be claimed again once its lease is over.
func (db *DB) SettleBudgetAlert(ctx context.Context, a BudgetAlert, now time.Time, sendErr error) error {
	err := db.be.write(ctx, func(t tx) error {
		if sendErr == nil {
			return t.exec(ctx, "UPDATE budget_alerts SET delivered_us = $1, last_error = '' WHERE id = $2",
				now.UnixMicro(), a.key())
		}
		return t.exec(ctx, "UPDATE budget_alerts SET last_error = $1 WHERE id = $2",
			CleanError(sendErr), a.key())
	})
	if err != nil {
		return fmt.Errorf("settle budget alert: %w", err)
	}
	return nil
}

// CleanError is an error's message as one line of at most 300 bytes.
func CleanError(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300]
	}
	return strings.ToValidUTF8(s, "?")
}
