package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
)

// alertView is a budget alert with its offer's name.
type alertView struct {
	store.BudgetAlert
	Name string `json:"name,omitempty"`
}

// alerts lists the budget alerts raised in the last days (default 7).
func (s *server) alerts(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r, "days")
	if err != nil {
		return err
	}
	days := p.number("days", 1, 366, 7)
	if p.err != nil {
		return p.err
	}
	items, err := s.db.BudgetAlerts(r.Context(), s.now().Add(-time.Duration(days)*24*time.Hour), store.MaxLimit)
	if err != nil {
		return err
	}
	offers, err := s.db.Offers(r.Context(), "")
	if err != nil {
		return err
	}
	names := make(map[string]string, len(offers))
	for _, o := range offers {
		var doc struct {
			Name string `json:"name"`
		}
		json.Unmarshal(o.Doc, &doc) // checked when it was stored
		names[o.ID] = doc.Name
	}
	out := list[alertView]{Items: make([]alertView, len(items))}
	for i, a := range items {
		out.Items[i] = alertView{a, names[a.Offer]}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// offerStores lists what an offer gave at each store, all time: what its
// budget there has given.
func (s *server) offerStores(w http.ResponseWriter, r *http.Request) error {
	if _, err := readParams(r); err != nil {
		return err
	}
	id, err := pathID(r, store.KindOffer)
	if err != nil {
		return err
	}
	rows, err := s.db.OfferStores(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[store.OfferStoreRow]{orEmpty(rows)})
	return nil
}
