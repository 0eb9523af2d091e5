package decide

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol/decide"
)

// Uplift is exposed against held-out transactions over a period, per
// offer and overall.
type Uplift struct {
	Overall UpliftRow   `json:"overall"`
	Offers  []UpliftRow `json:"offers"`
}

// UpliftRow compares the transactions in which suggestions were shown
// (exposed) with those of held-out customers (whose suggestions were
// chosen but not shown). Per offer, a transaction counts when the offer
// was suggested in it, and it converted when the offer was redeemed;
// overall, every transaction with a decision counts, and its conversion is
// the number of its suggested offers redeemed, so that it is in the unit
// of the per-offer figures summed.
type UpliftRow struct {
	Offer string `json:"offer,omitempty"`
	// Transactions on each side.
	Exposed int64 `json:"exposed_transactions"`
	HeldOut int64 `json:"held_out_transactions"`
	// Conversion: conversions per transaction.
	Conversion Comparison `json:"conversion"`
	// BasketValue: the mean subtotal, minor units.
	BasketValue Comparison `json:"basket_value"`
}

type sides struct{ conv, value [2]Sample } // [0] exposed, [1] held out

func (s *sides) add(holdout bool, conv float64, subtotal int64) {
	i := 0
	if holdout {
		i = 1
	}
	s.conv[i].Add(conv)
	s.value[i].Add(float64(subtotal))
}

func (s *sides) row(offer string) UpliftRow {
	return UpliftRow{Offer: offer, Exposed: s.conv[0].N, HeldOut: s.conv[1].N,
		Conversion: Compare(s.conv[0], s.conv[1]), BasketValue: Compare(s.value[0], s.value[1])}
}

// ComputeUplift compares the transactions of [from, to) with a decision,
// of the group (a store group; "" for all) and about the offer ("" for
// all: with an offer, overall is that offer's row).
func ComputeUplift(ctx context.Context, db *store.DB, from, to time.Time, offer, group string) (*Uplift, error) {
	var overall sides
	per := map[string]*sides{}
	err := db.EachDecision(ctx, from.UnixMicro(), to.UnixMicro(), func(d *store.Decision) error {
		if group != "" && d.Group() != group {
			return nil
		}
		var conv float64
		counted := offer == ""
		for _, s := range d.Suggested {
			if offer != "" && s.Offer != offer {
				continue
			}
			counted = true
			x := 0.0
			if s.Converted {
				x = 1
			}
			conv += x
			p := per[s.Offer]
			if p == nil {
				p = &sides{}
				per[s.Offer] = p
			}
			p.add(d.Holdout, x, d.Subtotal)
		}
		if counted {
			overall.add(d.Holdout, conv, d.Subtotal)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &Uplift{Overall: overall.row(""), Offers: []UpliftRow{}}
	for o, s := range per {
		out.Offers = append(out.Offers, s.row(o))
	}
	sort.Slice(out.Offers, func(i, j int) bool { return out.Offers[i].Offer < out.Offers[j].Offer })
	return out, nil
}

// SuggestionRow is how one offer did as a suggestion of one kind in one
// context, with what the last model believes of it.
type SuggestionRow struct {
	Offer   string `json:"offer"`
	Kind    string `json:"kind"`
	Context string `json:"context"`
	Counts
	// Posterior is the last model's arm of the offer in the context; nil
	// when it has none.
	Posterior *Posterior `json:"posterior"`
}

// Counts are suggestions shown and taken, and those held out.
type Counts struct {
	Exposures          int64 `json:"exposures"`
	Conversions        int64 `json:"conversions"`
	HeldOut            int64 `json:"held_out"`
	HeldOutConversions int64 `json:"held_out_conversions"`
}

func (c *Counts) add(holdout, converted bool) {
	switch {
	case holdout:
		c.HeldOut++
		if converted {
			c.HeldOutConversions++
		}
	default:
		c.Exposures++
		if converted {
			c.Conversions++
		}
	}
}

// Posterior is an arm's Beta(Alpha, Beta), its mean and 95% credible
// interval.
type Posterior struct {
	Alpha float64    `json:"alpha"`
	Beta  float64    `json:"beta"`
	Mean  float64    `json:"mean"`
	CI    [2]float64 `json:"ci"`
}

// PosteriorOf is the posterior of an arm.
func PosteriorOf(a decide.Arm) *Posterior {
	lo, hi := BetaInterval(a.Alpha, a.Beta, 0.95)
	return &Posterior{Alpha: a.Alpha, Beta: a.Beta, Mean: a.Mean(), CI: [2]float64{lo, hi}}
}

// DayRow is one offer's suggestions on one UTC day.
type DayRow struct {
	Day   string `json:"day"`
	Offer string `json:"offer"`
	Counts
}

// Suggestions is how suggestions did over a period.
type Suggestions struct {
	// Model is the revision of the model the posteriors are of; 0: none
	// published yet.
	Model int64           `json:"model"`
	Items []SuggestionRow `json:"items"`
	Days  []DayRow        `json:"days"`
	// Offers are the posteriors of each offer over all contexts.
	Offers []OfferPosterior `json:"offers"`
}

// OfferPosterior is the last model's arm of an offer over all contexts.
type OfferPosterior struct {
	Offer string `json:"offer"`
	Posterior
	Exposures   float64 `json:"exposures"` // decayed, as the model has them
	Conversions float64 `json:"conversions"`
}

// LastModel returns the model published last; nil when none was.
func LastModel(ctx context.Context, db *store.DB) (*decide.Model, error) {
	p, err := db.LastModel(ctx)
	if errors.Is(err, store.ErrNoModel) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m decide.Model
	if err := json.Unmarshal(p.Doc, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// ComputeSuggestions counts the suggestions of [from, to), of the offer
// ("" for all), per offer, kind and context and per UTC day and offer.
func ComputeSuggestions(ctx context.Context, db *store.DB, from, to time.Time, offer string) (*Suggestions, error) {
	type key struct{ offer, kind, context string }
	type dayKey struct{ day, offer string }
	rows := map[key]*Counts{}
	days := map[dayKey]*Counts{}
	err := db.EachDecision(ctx, from.UnixMicro(), to.UnixMicro(), func(d *store.Decision) error {
		day := time.UnixMicro(d.AtUS).UTC().Format(time.DateOnly)
		for _, s := range d.Suggested {
			if offer != "" && s.Offer != offer {
				continue
			}
			k := key{s.Offer, s.Kind, d.Context}
			if rows[k] == nil {
				rows[k] = &Counts{}
			}
			rows[k].add(d.Holdout, s.Converted)
			dk := dayKey{day, s.Offer}
			if days[dk] == nil {
				days[dk] = &Counts{}
			}
			days[dk].add(d.Holdout, s.Converted)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m, err := LastModel(ctx, db)
	if err != nil {
		return nil, err
	}
	arms := map[[2]string]decide.Arm{}
	out := &Suggestions{Items: []SuggestionRow{}, Days: []DayRow{}, Offers: []OfferPosterior{}}
	if m != nil {
		out.Model = m.Revision
		for _, a := range m.Arms {
			arms[[2]string{a.Offer, a.Context}] = a
			if a.Context == decide.AllContexts && (offer == "" || a.Offer == offer) {
				out.Offers = append(out.Offers, OfferPosterior{Offer: a.Offer, Posterior: *PosteriorOf(a),
					Exposures: a.Exposures, Conversions: a.Conversions})
			}
		}
	}
	for k, c := range rows {
		r := SuggestionRow{Offer: k.offer, Kind: k.kind, Context: k.context, Counts: *c}
		if a, ok := arms[[2]string{k.offer, k.context}]; ok {
			r.Posterior = PosteriorOf(a)
		}
		out.Items = append(out.Items, r)
	}
	sort.Slice(out.Items, func(i, j int) bool {
		a, b := out.Items[i], out.Items[j]
		if a.Offer != b.Offer {
			return a.Offer < b.Offer
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Context < b.Context
	})
	for k, c := range days {
		out.Days = append(out.Days, DayRow{Day: k.day, Offer: k.offer, Counts: *c})
	}
	sort.Slice(out.Days, func(i, j int) bool {
		if out.Days[i].Day != out.Days[j].Day {
			return out.Days[i].Day < out.Days[j].Day
		}
		return out.Days[i].Offer < out.Days[j].Offer
	})
	sort.Slice(out.Offers, func(i, j int) bool { return out.Offers[i].Offer < out.Offers[j].Offer })
	return out, nil
}
