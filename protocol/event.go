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

	Checkout   *CheckoutEvent   `json:"checkout,omitempty"`
	Redemption *RedemptionEvent `json:"redemption,omitempty"`
	Impression *ImpressionEvent `json:"impression,omitempty"`
	Profile    *ProfileDelta    `json:"profile,omitempty"`
	Heartbeat  *Heartbeat       `json:"heartbeat,omitempty"`
}

// CheckoutEvent is a completed transaction.
type CheckoutEvent struct {
	Lines    []EventLine `json:"lines"`
	Subtotal int64       `json:"subtotal"`
	Discount int64       `json:"discount"` // the sum of the applied offers' discounts
	Points   int64       `json:"points"`
	Paid     int64       `json:"paid"`
	Currency string      `json:"currency,omitempty"`
}

// EventLine is a basket line without its display name.
type EventLine struct {
	SKU      string `json:"sku"`
	Qty      int64  `json:"qty"`
	Price    int64  `json:"price"`
	Category string `json:"category,omitempty"`
	Brand    string `json:"brand,omitempty"`
}

// RedemptionEvent is one offer applied at a checkout.
type RedemptionEvent struct {
	Offer    string   `json:"offer"`
	Discount int64    `json:"discount"`
	Points   int64    `json:"points"`
	Segments []string `json:"segments,omitempty"` // the customer's segments when the transaction began
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
}

// DecodeEvent parses an event and checks that it has what its kind needs.
func DecodeEvent(b []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if e.ID == "" || !ValidStoreID(e.Store) || e.At.IsZero() {
		return nil, fmt.Errorf("decode event: id, store and at are required")
	}
	var ok bool
	switch e.Kind {
	case EventCheckout:
		ok = e.Checkout != nil && e.Txn != ""
	case EventRedemption:
		ok = e.Redemption != nil && e.Txn != "" && ValidOfferID(e.Redemption.Offer)
	case EventImpression:
		ok = e.Impression != nil && ValidOfferID(e.Impression.Offer)
	case EventProfile:
		ok = e.Profile != nil && ValidCustomerKey(e.Customer)
	case EventHeartbeat:
		ok = e.Heartbeat != nil
	default:
		return nil, fmt.Errorf("decode event %s: unknown kind %q", e.ID, e.Kind)
	}
	if !ok {
		return nil, fmt.Errorf("decode event %s: a %s event lacks its %s part", e.ID, e.Kind, e.Kind)
	}
	return &e, nil
}
