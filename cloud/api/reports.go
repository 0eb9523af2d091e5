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

// report is a report over [From, To).
type report[T any] struct {
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Items []T       `json:"items"`
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

// spanParams reads from and to, and the other known parameters.
func spanParams(r *http.Request, now time.Time, known ...string) (*params, time.Time, time.Time, error) {
	p, err := readParams(r, append([]string{"from", "to"}, known...)...)
	if err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	from, to := p.span(now)
	return p, from, to, p.err
}

func (s *server) offerReport(w http.ResponseWriter, r *http.Request) error {
	_, from, to, err := spanParams(r, s.now())
	if err != nil {
		return err
	}
	rows, err := s.db.OfferReport(r.Context(), from, to)
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
	writeJSON(w, http.StatusOK, report[offerReportRow]{from, to, out})
	return nil
}

func (s *server) storeReport(w http.ResponseWriter, r *http.Request) error {
	_, from, to, err := spanParams(r, s.now())
	if err != nil {
		return err
	}
	rows, err := s.db.StoreReport(r.Context(), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, report[store.StoreReportRow]{from, to, orEmpty(rows)})
	return nil
}

func (s *server) segmentReport(w http.ResponseWriter, r *http.Request) error {
	_, from, to, err := spanParams(r, s.now())
	if err != nil {
		return err
	}
	rows, err := s.db.SegmentReport(r.Context(), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, report[store.SegmentRow]{from, to, orEmpty(rows)})
	return nil
}

func (s *server) dayReport(w http.ResponseWriter, r *http.Request) error {
	p, from, to, err := spanParams(r, s.now(), "offer")
	if err != nil {
		return err
	}
	id := p.id("offer", protocol.ValidOfferID, "an offer id")
	if to.Sub(from) > store.MaxReportDays*24*time.Hour {
		p.fail("from", "a report by day covers at most %d days", store.MaxReportDays)
	}
	if p.err != nil {
		return p.err
	}
	rows, err := s.db.DayReport(r.Context(), from, to, id)
	if errors.Is(err, store.ErrBadQuery) {
		return badRequest("%v", err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, report[store.DayRow]{from, to, orEmpty(rows)})
	return nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
