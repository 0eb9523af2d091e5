package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
)

// report is a report over the days [From, To), YYYY-MM-DD, each store's
// figures counted on its own local days.
type report[T any] struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Items []T    `json:"items"`
}

// spanReport is a report over the times [From, To).
type spanReport[T any] struct {
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Items []T       `json:"items"`
}

func newReport[T any](d store.Days, items []T) report[T] {
	return report[T]{d.From, d.To, orEmpty(items)}
}

// offerReportRow is how one offer did over a period, and its budget.
type offerReportRow struct {
	store.OfferRow
	Name   string `json:"name,omitempty"`   // the offer's name, when HQ holds the offer
	Status string `json:"status,omitempty"` // the offer's status, when HQ holds the offer
	// Budget is the offer's limits.budget, 0 for none: the discount it may
	// give at each store.
	Budget int64 `json:"budget"`
	// BudgetBurn is Discount / Budget; null without a budget. Budgets are
	// per store, so over several stores it may pass 1 while no store has
	// reached its budget.
	BudgetBurn *float64 `json:"budget_burn"`
}

// spanParams reads from and to as times, and the other known parameters.
func spanParams(r *http.Request, now time.Time, known ...string) (*params, time.Time, time.Time, error) {
	p, err := readParams(r, append([]string{"from", "to"}, known...)...)
	if err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	from, to := p.span(now)
	return p, from, to, p.err
}

// daysParams reads from and to as days, and the other known parameters:
// store and offer are ids.
func (s *server) daysParams(r *http.Request, known ...string) (p *params, days store.Days, storeID, offer string, err error) {
	p, err = readParams(r, append([]string{"from", "to"}, known...)...)
	if err != nil {
		return nil, days, "", "", err
	}
	days = p.days(s.today())
	if slices.Contains(known, "store") {
		storeID = p.id("store", protocol.ValidStoreID, "a store id")
	}
	if slices.Contains(known, "offer") {
		offer = p.id("offer", protocol.ValidOfferID, "an offer id")
	}
	return p, days, storeID, offer, p.err
}

func (s *server) offerReport(w http.ResponseWriter, r *http.Request) error {
	_, days, storeID, _, err := s.daysParams(r, "store")
	if err != nil {
		return err
	}
	rows, err := s.db.OfferReport(r.Context(), days, storeID)
	if err != nil {
		return err
	}
	offers, err := s.db.Offers(r.Context(), "")
	if err != nil {
		return err
	}
	out := make([]offerReportRow, 0, len(rows)+len(offers))
	for _, row := range rows {
		out = append(out, offerReportRow{OfferRow: row})
	}
	// Every offer HQ holds has a row, with zeros when it did nothing.
	for _, o := range offers {
		i, found := slices.BinarySearchFunc(out, o.ID, func(x offerReportRow, id string) int {
			return strings.Compare(x.Offer, id)
		})
		if !found {
			out = slices.Insert(out, i, offerReportRow{OfferRow: store.OfferRow{Offer: o.ID}})
		}
		row := &out[i]
		var doc struct {
			Name   string `json:"name"`
			Limits struct {
				Budget int64 `json:"budget"`
			} `json:"limits"`
		}
		json.Unmarshal(o.Doc, &doc) // checked when it was stored
		row.Name, row.Status, row.Budget = doc.Name, o.Status, doc.Limits.Budget
		if row.Budget > 0 {
			burn := float64(row.Discount) / float64(row.Budget)
			row.BudgetBurn = &burn
		}
	}
	writeJSON(w, http.StatusOK, newReport(days, out))
	return nil
}

func (s *server) storeReport(w http.ResponseWriter, r *http.Request) error {
	_, days, _, offer, err := s.daysParams(r, "offer")
	if err != nil {
		return err
	}
	rows, err := s.db.StoreReport(r.Context(), days, offer)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newReport(days, rows))
	return nil
}

func (s *server) segmentReport(w http.ResponseWriter, r *http.Request) error {
	_, days, _, _, err := s.daysParams(r)
	if err != nil {
		return err
	}
	rows, err := s.db.SegmentReport(r.Context(), days)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newReport(days, rows))
	return nil
}

func (s *server) dayReport(w http.ResponseWriter, r *http.Request) error {
	_, days, storeID, offer, err := s.daysParams(r, "offer", "store")
	if err != nil {
		return err
	}
	rows, err := s.db.DayReport(r.Context(), days, offer, storeID)
	if errors.Is(err, store.ErrBadQuery) {
		return badRequest("%v", err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newReport(days, rows))
	return nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
