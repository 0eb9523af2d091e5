// Package decide is what the agent and HQ share about choosing what the
// till suggests: the model HQ learns and publishes (cross-sell rules and
// the posteriors of each suggestion in each context), the context of a
// choice, the holdout, and the Beta sampling that makes the choice.
//
// HQ computes a Model from the checkouts it stores and publishes it, signed
// like the catalog, as the key ModelKey of the KV bucket Bucket. The agent
// keeps the last one it verified and chooses with it offline too.
package decide

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// Where HQ publishes the model.
const (
	Bucket   = "POSOFFER_DECIDE"
	ModelKey = "decide.model"
)

// Defaults of what the agent and HQ configure.
const (
	ModelVersion          = 1
	DefaultHoldout        = 0.05 // share of customers who get no suggestions
	DefaultMaxSuggestions = 2    // what a cashier can say
	MaxHoldout            = 0.5
)

// Bounds of a model, which keep it within one KV value.
const (
	MaxRules = 20_000
	MaxArms  = 50_000
)

// AllContexts is the Context of an Arm that pools every context of its
// offer: what the agent uses for a context HQ has not seen yet.
const AllContexts = "*"

// Model is what HQ learned, as of DataUntil.
type Model struct {
	Version  int       `json:"version"`  // ModelVersion
	Revision int64     `json:"revision"` // increases with each model HQ publishes
	Computed time.Time `json:"computed"`
	// DataUntil is the time of the newest checkout learned from.
	DataUntil time.Time `json:"data_until"`
	// Holdout is the share of customers in the holdout, chain-wide.
	Holdout float64 `json:"holdout"`
	Rules   []Rule  `json:"rules,omitempty"`
	Arms    []Arm   `json:"arms,omitempty"`
}

// Rule says that customers whose basket holds the item If tend to add the
// items of Offer (an offer whose conditions name those items).
type Rule struct {
	// Group is the store group the rule was mined in; empty: all stores.
	Group string `json:"group,omitempty"`
	// If is an item key: "sku:{sku}" or "category:{category}" (ItemKey).
	If         string  `json:"if"`
	Offer      string  `json:"offer"`
	Support    float64 `json:"support"`    // share of baskets holding both
	Confidence float64 `json:"confidence"` // share of baskets with If that hold the offer's items
	Lift       float64 `json:"lift"`       // Confidence over the share of all baskets that hold them
	N          int64   `json:"n"`          // baskets with If
}

// Arm is what HQ believes of showing Offer in Context: the chance it is
// taken is Beta(Alpha, Beta). Exposures and Conversions are the (decayed)
// counts behind it.
type Arm struct {
	Offer       string  `json:"offer"`
	Context     string  `json:"context"` // a context key, or AllContexts
	Alpha       float64 `json:"alpha"`
	Beta        float64 `json:"beta"`
	Exposures   float64 `json:"exposures"`
	Conversions float64 `json:"conversions"`
}

// Mean is the arm's expected chance of being taken.
func (a Arm) Mean() float64 { return a.Alpha / (a.Alpha + a.Beta) }

// ItemKey is the key of an item in rules: "sku:{sku}" or
// "category:{category}" (lowercased).
func ItemKey(kind, value string) string { return kind + ":" + value }

// Item key kinds.
const (
	ItemSKU      = "sku"
	ItemCategory = "category"
)

// ParseModel decodes a model strictly and checks it: the agent takes what
// it is given only after this.
func ParseModel(b []byte) (*Model, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var m Model
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decide model: %w", err)
	}
	if d.More() {
		return nil, errors.New("decide model: trailing data")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks a model's fields.
func (m *Model) Validate() error {
	switch {
	case m.Version != ModelVersion:
		return fmt.Errorf("decide model: version %d, want %d", m.Version, ModelVersion)
	case m.Revision < 1:
		return errors.New("decide model: revision must be at least 1")
	case !finite(m.Holdout) || m.Holdout < 0 || m.Holdout > MaxHoldout:
		return fmt.Errorf("decide model: holdout must be 0 to %g", MaxHoldout)
	case len(m.Rules) > MaxRules:
		return fmt.Errorf("decide model: at most %d rules, got %d", MaxRules, len(m.Rules))
	case len(m.Arms) > MaxArms:
		return fmt.Errorf("decide model: at most %d arms, got %d", MaxArms, len(m.Arms))
	}
	for i, r := range m.Rules {
		if err := r.validate(); err != nil {
			return fmt.Errorf("decide model: rules[%d]: %w", i, err)
		}
	}
	for i, a := range m.Arms {
		if err := a.validate(); err != nil {
			return fmt.Errorf("decide model: arms[%d]: %w", i, err)
		}
	}
	return nil
}

func (r Rule) validate() error {
	kind, value, ok := strings.Cut(r.If, ":")
	switch {
	case r.Group != "" && !ValidGroup(r.Group):
		return errors.New("group: must be a store group id")
	case !ok || (kind != ItemSKU && kind != ItemCategory) || value == "" || len(value) > protocol.MaxTextLen:
		return errors.New(`if: must be "sku:{sku}" or "category:{category}"`)
	case !protocol.ValidOfferID(r.Offer):
		return errors.New("offer: must be an offer id")
	case !unit(r.Support) || !unit(r.Confidence):
		return errors.New("support and confidence must be 0 to 1")
	case !finite(r.Lift) || r.Lift < 0:
		return errors.New("lift must not be negative")
	case r.N < 0:
		return errors.New("n must not be negative")
	}
	return nil
}

func (a Arm) validate() error {
	switch {
	case !protocol.ValidOfferID(a.Offer):
		return errors.New("offer: must be an offer id")
	case a.Context != AllContexts && !protocol.ValidContextKey(a.Context):
		return fmt.Errorf("context: must be %q or a context key", AllContexts)
	case !finite(a.Alpha) || !finite(a.Beta) || a.Alpha <= 0 || a.Beta <= 0:
		return errors.New("alpha and beta must be positive")
	case !finite(a.Exposures) || !finite(a.Conversions) || a.Exposures < 0 || a.Conversions < 0 || a.Conversions > a.Exposures:
		return errors.New("exposures and conversions must be 0 or more, conversions at most exposures")
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
func unit(f float64) bool   { return finite(f) && f >= 0 && f <= 1 }

// ValidGroup reports whether s is a store group id: like a store id.
func ValidGroup(s string) bool { return protocol.ValidStoreID(s) }
