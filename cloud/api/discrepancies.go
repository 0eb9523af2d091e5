package api

import (
	"errors"
	"net/http"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
)

// discrepancies lists the checkout claims that agents honoured in part,
// newest first, a page at a time. Without from or to the list is unbounded
// on that side, as for redemptions.
func (s *server) discrepancies(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r, "store", "terminal", "offer", "from", "to", "after", "limit")
	if err != nil {
		return err
	}
	f := discrepancyFilter(p)
	f.After = p.v.Get("after")
	f.Limit = p.number("limit", 1, store.MaxLimit, store.DefaultLimit)
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		p.fail("from", "must be before to")
	}
	if p.err != nil {
		return p.err
	}
	items, next, err := s.db.Discrepancies(r.Context(), f)
	if errors.Is(err, store.ErrBadQuery) {
		return badRequest("after: not a cursor from a previous page")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page[store.Discrepancy]{orEmpty(items), next})
	return nil
}

// discrepancyReport totals the discrepancies of a period per store and
// terminal, the largest excess first.
func (s *server) discrepancyReport(w http.ResponseWriter, r *http.Request) error {
	p, from, to, err := spanParams(r, s.now(), "store", "terminal", "offer")
	if err != nil {
		return err
	}
	f := discrepancyFilter(p)
	f.From, f.To = from, to
	if p.err != nil {
		return p.err
	}
	rows, err := s.db.DiscrepancySummary(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, spanReport[store.DiscrepancySummaryRow]{from, to, orEmpty(rows)})
	return nil
}

func discrepancyFilter(p *params) store.DiscrepancyFilter {
	return store.DiscrepancyFilter{
		Store:    p.id("store", protocol.ValidStoreID, "a store id"),
		Terminal: p.id("terminal", protocol.ValidTerminalID, "a terminal id"),
		Offer:    p.id("offer", protocol.ValidOfferID, "an offer id"),
		From:     p.time("from"),
		To:       p.time("to"),
	}
}
