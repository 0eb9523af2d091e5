package api

import (
	"net/http"
	"sort"
	"time"

	"github.com/posoffer/posoffer/cloud/decide"
	"github.com/posoffer/posoffer/protocol"
	pdecide "github.com/posoffer/posoffer/protocol/decide"
)

// upliftReport is GET /api/v1/reports/uplift.
type upliftReport struct {
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Offer string    `json:"offer,omitempty"`
	Group string    `json:"group,omitempty"`
	*decide.Uplift
}

func (s *server) upliftReport(w http.ResponseWriter, r *http.Request) error {
	p, from, to, err := spanParams(r, s.now(), "offer", "group")
	if err != nil {
		return err
	}
	offer := p.id("offer", protocol.ValidOfferID, "an offer id")
	group := p.id("group", pdecide.ValidGroup, "a store group")
	if p.err != nil {
		return p.err
	}
	u, err := decide.ComputeUplift(r.Context(), s.db, from, to, offer, group)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, upliftReport{from, to, offer, group, u})
	return nil
}

// suggestionReport is GET /api/v1/reports/suggestions.
type suggestionReport struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	*decide.Suggestions
}

func (s *server) suggestionReport(w http.ResponseWriter, r *http.Request) error {
	p, from, to, err := spanParams(r, s.now(), "offer")
	if err != nil {
		return err
	}
	offer := p.id("offer", protocol.ValidOfferID, "an offer id")
	if to.Sub(from) > maxSuggestionDays*24*time.Hour {
		p.fail("from", "the suggestions report covers at most %d days", maxSuggestionDays)
	}
	if p.err != nil {
		return p.err
	}
	sg, err := decide.ComputeSuggestions(r.Context(), s.db, from, to, offer)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, suggestionReport{from, to, sg})
	return nil
}

// maxSuggestionDays bounds the suggestions report, which has a row per day.
const maxSuggestionDays = 366

// modelReply is GET /api/v1/decide/model: the published model, its rules
// of highest lift and arms of most exposures, limit of each.
type modelReply struct {
	Revision  int64     `json:"revision"`
	Computed  time.Time `json:"computed"`
	DataUntil time.Time `json:"data_until"`
	Holdout   float64   `json:"holdout"`
	Counts    struct {
		Rules int `json:"rules"`
		Arms  int `json:"arms"`
	} `json:"counts"`
	Rules []pdecide.Rule `json:"rules"`
	Arms  []pdecide.Arm  `json:"arms"`
}

func (s *server) decideModel(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r, "limit")
	if err != nil {
		return err
	}
	limit := p.number("limit", 1, pdecide.MaxArms, 200)
	if p.err != nil {
		return p.err
	}
	m, err := decide.LastModel(r.Context(), s.db)
	if err != nil {
		return err
	}
	if m == nil {
		return notFound("no model published yet: HQ publishes one every decide.interval")
	}
	out := modelReply{Revision: m.Revision, Computed: m.Computed, DataUntil: m.DataUntil, Holdout: m.Holdout,
		Rules: orEmpty(m.Rules), Arms: orEmpty(m.Arms)}
	out.Counts.Rules, out.Counts.Arms = len(m.Rules), len(m.Arms)
	sort.SliceStable(out.Rules, func(i, j int) bool { return out.Rules[i].Lift > out.Rules[j].Lift })
	sort.SliceStable(out.Arms, func(i, j int) bool { return out.Arms[i].Exposures > out.Arms[j].Exposures })
	out.Rules = out.Rules[:min(limit, len(out.Rules))]
	out.Arms = out.Arms[:min(limit, len(out.Arms))]
	writeJSON(w, http.StatusOK, out)
	return nil
}
