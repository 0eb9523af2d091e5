package protocol

// Message is one protocol v1 message between a terminal and the agent, in
// either direction. The same JSON object travels over MQTT and inside serial
// frames. Which fields are meaningful depends on Type; Decode checks that the
// ones a type requires are present and well formed.
//
// Unknown fields are ignored, so a terminal may send more than v1 defines.
type Message struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	ID   string `json:"id,omitempty"` // unique per terminal; echoed back as Re
	Re   string `json:"re,omitempty"` // the ID of the message this one answers
	Txn  string `json:"txn,omitempty"`
	TS   string `json:"ts,omitempty"` // RFC 3339

	// basket and checkout
	Customer string   `json:"customer,omitempty"` // raw loyalty id: never stored, logged or sent on
	Coupons  []string `json:"coupons,omitempty"`
	Currency string   `json:"currency,omitempty"`
	Lines    []Line   `json:"lines,omitempty"`

	// checkout
	Paid    *int64    `json:"paid,omitempty"`
	Applied []Applied `json:"applied,omitempty"`

	// hello
	Model    string `json:"model,omitempty"`
	Firmware string `json:"firmware,omitempty"`

	// offers (agent to terminal)
	Catalog int64   `json:"catalog,omitempty"`
	EvalUS  int64   `json:"eval_us,omitempty"`
	Offers  []Offer `json:"offers,omitempty"`
	Nudges  []Nudge `json:"nudges,omitempty"`
	// Suggestions are what the cashier may say, chosen for this customer
	// (at most the agent's decide.max_suggestions): nudges and
	// cross-sells. Nudges holds the chosen nudges again, for terminals
	// that read only nudges.
	Suggestions []Suggestion `json:"suggestions,omitempty"`
	// Candidates and Holdout are sent only by an agent with
	// decide.report_candidates on (simulators, audits): every suggestion
	// it could have made, in the fixed rule's order, and whether the
	// customer is in the holdout, which gets no suggestions.
	Candidates []Suggestion `json:"candidates,omitempty"`
	Holdout    bool         `json:"holdout,omitempty"`

	// error (agent to terminal)
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Line is one basket line: Qty units of one SKU at Price each, in the
// currency's minor unit.
type Line struct {
	SKU      string `json:"sku"`
	Qty      int64  `json:"qty"`
	Price    int64  `json:"price"`
	Category string `json:"category,omitempty"`
	Brand    string `json:"brand,omitempty"`
	Name     string `json:"name,omitempty"`
}

// Applied is an offer the terminal applied at checkout.
type Applied struct {
	Offer    string `json:"offer"`
	Discount int64  `json:"discount"`
	Points   int64  `json:"points"`
}

// Offer is an offer that applies to a basket, as the agent reports it.
type Offer struct {
	ID       string       `json:"id"`
	Name     string       `json:"name,omitempty"`
	Text     string       `json:"text,omitempty"`
	Discount int64        `json:"discount"`
	Points   int64        `json:"points"`
	Lines    []LineReward `json:"lines,omitempty"`
	Why      string       `json:"why,omitempty"`
}

// LineReward is the part of an offer's discount that falls on one basket
// line. Line is the 0-based index into the basket's lines.
type LineReward struct {
	Line     int   `json:"line"`
	Qty      int64 `json:"qty"`
	Discount int64 `json:"discount"`
}

// Nudge is an offer the basket nearly qualifies for.
type Nudge struct {
	Offer   string  `json:"offer"`
	Text    string  `json:"text,omitempty"`
	Missing Missing `json:"missing"`
}

// Suggestion kinds.
const (
	SuggestNudge     = "nudge"      // an offer the basket nearly qualifies for
	SuggestCrossSell = "cross_sell" // an offer on items that customers who buy the basket's items tend to add
)

// Suggestion is an offer the cashier may suggest: a nudge or a cross-sell.
// Missing is set when the basket lacks one thing for the offer (as a
// nudge's). Why explains the choice ("taken by 34% of similar customers,
// n=1,204").
type Suggestion struct {
	Offer   string   `json:"offer"`
	Kind    string   `json:"kind"`
	Text    string   `json:"text,omitempty"`
	Missing *Missing `json:"missing,omitempty"`
	Why     string   `json:"why,omitempty"`
}

// Missing is what a basket lacks for a nudge: more units, or more spend.
// Exactly one of the two is set.
type Missing struct {
	Qty   int64 `json:"qty,omitempty"`
	Spend int64 `json:"spend,omitempty"`
}
