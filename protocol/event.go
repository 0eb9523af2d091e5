package protocol

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is one thing that happened at a store, as the agent keeps it in its
// outbox and publishes it on posoffer.v1.events.{store}.{kind}. ID is a
// UUIDv7, sent as the Nats-Msg-Id header too; HQ stores an ID once, however
// often it arrives. Customer is always the customer_key, never a loyalty id.
// Which of the optional parts is set depends on Kind.
type Event struct {
	ID       string    `json:"id"`
	Kind     EventKind `json:"kind"`
	Store    string    `json:"store"`
	At       time.Time `json:"at"` // UTC
	Terminal string    `json:"terminal,omitempty"`
	Txn      string    `json:"txn,omitempty"`
	Customer string    `json:"customer,omitempty"` // customer_key
	// Day is the store-local date of At, YYYY-MM-DD: the day HQ counts the
	// event on in its reports. Absent from agents older than it; HQ then
	// counts the event on At's date in the store's last known zone.
	Day string `json:"day,omitempty"`

	Checkout   *CheckoutEvent   `json:"checkout,omitempty"`
	Redemption *RedemptionEvent `json:"redemption,omitempty"`
	Impression *ImpressionEvent `json:"impression,omitempty"`
	Profile    *ProfileDelta    `json:"profile,omitempty"`
	Heartbeat  *Heartbeat       `json:"heartbeat,omitempty"`

	Discrepancy *DiscrepancyEvent `json:"discrepancy,omitempty"`
}

// CheckoutEvent is a completed transaction.
type CheckoutEvent struct {
	Lines    []EventLine `json:"lines"`
	Subtotal int64       `json:"subtotal"`
	Discount int64       `json:"discount"` // the sum of the applied offers' honoured discounts
	Points   int64       `json:"points"`   // the sum of their honoured points
	Paid     int64       `json:"paid"`
	Currency string      `json:"currency,omitempty"`
	// Decision is what the till suggested during the transaction, absent
	// from agents older than it and when nothing could be suggested.
	Decision *Decision `json:"decision,omitempty"`
	// Shown is each offer shown during the transaction, once as an offer
	// that applied and once as a suggestion (a nudge or a cross-sell), and
	// whether this checkout redeemed it. HQ's uptake is the share of the
	// checkouts shown an offer that redeemed it. Absent from agents older
	// than it.
	Shown []Shown `json:"shown,omitempty"`
}

// Shown is one offer shown during a transaction.
type Shown struct {
	Offer string `json:"offer"`
	// Suggested: shown as a nudge or cross-sell, not as an offer that
	// applied.
	Suggested bool `json:"suggested,omitempty"`
	// Redeemed: among the checkout's redemptions.
	Redeemed bool `json:"redeemed,omitempty"`
}

// MaxShown bounds a checkout's Shown.
const MaxShown = 1024

// Decision is the choice of suggestions made for one transaction, which
// HQ learns from and measures uplift with. A suggested offer converted
// when it is among the transaction's redemptions.
type Decision struct {
	// Context is where the choice was made: decide.Context's key,
	// "{segment}|{daypart}|{group}".
	Context string `json:"context"`
	// Policy is "learned" (Thompson sampling) or "fixed" (the rule used
	// before learning: nudges by priority, then cross-sells by lift).
	Policy string `json:"policy"`
	// Model is the revision of HQ's model the choice used; 0: none yet.
	Model int64 `json:"model,omitempty"`
	// Holdout: the customer (or, anonymous, the transaction) is in the
	// holdout, so nothing was shown; Suggested is then what would have
	// been.
	Holdout bool `json:"holdout,omitempty"`
	// Suggested is every suggestion chosen during the transaction, each
	// offer once, in the order first chosen.
	Suggested []Suggested `json:"suggested,omitempty"`
}

// Suggested is one offer the till suggested (or, held out, would have).
type Suggested struct {
	Offer string `json:"offer"`
	Kind  string `json:"kind"` // SuggestNudge or SuggestCrossSell
}

// Decision policies.
const (
	PolicyLearned = "learned"
	PolicyFixed   = "fixed"
)

// MaxSuggested bounds a Decision's Suggested.
const MaxSuggested = 32

// EventLine is a basket line without its display name.
type EventLine struct {
	SKU      string `json:"sku"`
	Qty      int64  `json:"qty"`
	Price    int64  `json:"price"`
	Category string `json:"category,omitempty"`
	Brand    string `json:"brand,omitempty"`
}

// RedemptionEvent is one offer applied at a checkout. Discount and Points
// are what the agent honoured, which is what counts toward limits, budgets
// and reports; Claimed and ClaimedPoints are what the terminal claimed,
// absent when the same (and from agents older than these fields). A claim
// honoured in part also has a discrepancy event.
type RedemptionEvent struct {
	Offer         string   `json:"offer"`
	Discount      int64    `json:"discount"`
	Points        int64    `json:"points"`
	Claimed       int64    `json:"claimed,omitempty"`
	ClaimedPoints int64    `json:"claimed_points,omitempty"`
	Segments      []string `json:"segments,omitempty"` // the customer's segments when the transaction began
}

// ImpressionEvent is an offer or nudge shown to a customer.
type ImpressionEvent struct {
	Offer string `json:"offer"`
	Nudge bool   `json:"nudge,omitempty"`
}

// ProfileDelta is what one checkout adds to a customer's counters at one
// store. HQ keeps per-store counters and sums them, so applying a delta
// twice is prevented by its event ID, and deltas merge in any order.
type ProfileDelta struct {
	Visits int64       `json:"visits"`
	Spend  int64       `json:"spend"`
	Points int64       `json:"points"`
	Day    string      `json:"day"` // store-local date of the visit, YYYY-MM-DD
	Items  []EventLine `json:"items,omitempty"`
}

// Heartbeat is the agent's periodic status.
type Heartbeat struct {
	Agent          string   `json:"agent"` // the agent's version
	Catalog        int64    `json:"catalog"`
	OutboxDepth    int64    `json:"outbox_depth"`
	OutboxOldestMS int64    `json:"outbox_oldest_ms"`
	Dropped        int64    `json:"dropped_impressions"`
	Alarms         []string `json:"alarms,omitempty"`
	// StoreDamaged is where the agent moved its damaged store file when it
	// started (it runs on a fresh one); empty: the file was sound. The
	// same is said in Alarms, which older HQs show.
	StoreDamaged string `json:"store_damaged,omitempty"`
	// Zone is the store's IANA time zone (its agent's timezone), which HQ
	// counts and shows the store's days in. Absent from older agents.
	Zone string `json:"zone,omitempty"`
}

// DecodeEvent parses an event and checks it with Validate, and that it
// carries no payment card number (ContainsCardData), which the agent
// refuses before it records anything: an event with one comes from
// something else, and is not to be stored. The error wraps
// ErrInvalidEvent when the event breaks a rule; it never quotes the event.
func DecodeEvent(b []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if ContainsCardData(b) {
		return nil, fmt.Errorf("decode event: %w %s: it carries a payment card number", ErrInvalidEvent, e.ID)
	}
	return &e, nil
}
