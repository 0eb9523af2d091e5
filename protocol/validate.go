package protocol

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The rules in this file are the one set that both sides apply: Decode
// runs them on what a terminal sends, before the agent records or
// acknowledges anything, and (*Event).Validate runs them on what HQ
// receives, before it stores anything. Whatever the first accepts becomes
// events that the second accepts; internal/conformance tests that
// property against the real agent and HQ store.
//
// The rules:
//   - Ids and codes (id, re, txn, customer, sku, coupons, error code) are
//     1 to MaxFieldLen bytes; free text (category, brand, name, model,
//     firmware, a heartbeat's agent and alarms) at most MaxTextLen bytes.
//     Both are UTF-8 without control characters (C0, DEL and C1, NUL among
//     them): PostgreSQL cannot store a NUL, and a newline in a logged
//     field would forge a log line.
//   - Store, terminal, offer and segment ids and customer_keys have their
//     contract form (names.go).
//   - Quantities are 1 to MaxQty; prices, amounts and points 0 to
//     MaxAmount, and so are their sums: a line's qty × price, a basket's
//     subtotal, a checkout's applied discounts and applied points. Sums are
//     computed without overflow.
//   - A basket or checkout has at most MaxLines lines.
//   - HQ's columns are TEXT and BIGINT, on SQLite and PostgreSQL alike:
//     no length limit beyond these, but PostgreSQL refuses a NUL and
//     invalid UTF-8, and BIGINT sums overflow at 9.2 × 10^18, which
//     10^12 per event keeps out of reach (9 million checkouts of one
//     customer at one store).
//
// Error messages name the field by its path (lines[2].category,
// checkout.lines[2].category) and give lengths and byte offsets, never
// the text: the field may hold the customer's loyalty id.

// ErrInvalidEvent is wrapped by the errors of (*Event).Validate and
// DecodeEvent, and is cloud/store's ErrInvalidEvent: the event breaks a
// rule, and storing it would fail or store something the contract does
// not allow. It is refused for good.
var ErrInvalidEvent = errors.New("invalid event")

// text checks a text field: UTF-8, at most max bytes, and no control
// characters.
func text(name, s string, max int) *Error {
	if len(s) > max {
		return newError(CodeBadMessage, "%s: at most %d bytes, got %d", name, max, len(s))
	}
	for i := 0; i < len(s); {
		r, n := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRuneInString(s[i:])
		}
		switch {
		case r == utf8.RuneError && n == 1:
			return newError(CodeBadMessage, "%s: not valid UTF-8 at byte %d", name, i)
		case unicode.IsControl(r):
			return newError(CodeBadMessage, "%s: must not contain control characters, found %U at byte %d", name, r, i)
		}
		i += n
	}
	return nil
}

// checkLine checks the fields of a basket line or an event line, including
// its total, qty × price.
func checkLine(sku string, qty, price int64, category, brand string) *Error {
	if sku == "" {
		return newError(CodeBadMessage, "sku: required")
	}
	if e := firstError(
		maxLen("sku", sku),
		inRange("qty", qty, 1, MaxQty),
		amount("price", price),
		text("category", category, MaxTextLen),
		text("brand", brand, MaxTextLen),
	); e != nil {
		return e
	}
	if hi, lo := bits.Mul64(uint64(qty), uint64(price)); hi != 0 || lo > MaxAmount {
		return newError(CodeBadMessage, "price: qty × price must be at most %d, got %d × %d", int64(MaxAmount), qty, price)
	}
	return nil
}

// addAmount adds n, an amount already checked to be 0 to MaxAmount, to
// *sum, and reports an error when the sum passes MaxAmount. Both are at
// most MaxAmount, so the addition cannot overflow.
func addAmount(sum *int64, n int64, name, what string) *Error {
	if n < 0 || n > MaxAmount {
		return nil // reported by the check of n itself
	}
	*sum += n
	if *sum > MaxAmount {
		return newError(CodeBadMessage, "%s: %s passes %d here", name, what, int64(MaxAmount))
	}
	return nil
}

// checkLines checks event lines and their sum.
func checkLines(lines []EventLine) *Error {
	if len(lines) > MaxLines {
		return newError(CodeBadMessage, ": at most %d lines, got %d", MaxLines, len(lines))
	}
	var sum int64
	for i, l := range lines {
		e := checkLine(l.SKU, l.Qty, l.Price, l.Category, l.Brand)
		if e == nil {
			e = addAmount(&sum, l.Qty*l.Price, "price", "the sum of qty × price")
		}
		if e != nil {
			return e.in("[%d]", i)
		}
	}
	return nil
}

// Validate checks that e is an event the contract allows, by the rules
// Decode applies to the messages the event comes from: HQ stores exactly
// the events that pass. The error wraps ErrInvalidEvent, names the event
// by its id (when that is valid) and the field by its path
// (invalid event 0190…: checkout.lines[0].category: at most 1024 bytes,
// got 1025); it never quotes the customer.
func (e *Event) Validate() error {
	if e == nil {
		return fmt.Errorf("%w: nil", ErrInvalidEvent)
	}
	p := e.problem()
	switch {
	case p == nil:
		return nil
	case e.ID != "" && maxLen("id", e.ID) == nil:
		return fmt.Errorf("%w %s: %s", ErrInvalidEvent, e.ID, p.Message)
	}
	return fmt.Errorf("%w: %s", ErrInvalidEvent, p.Message)
}

func (e *Event) problem() *Error {
	if e.ID == "" {
		return newError(CodeBadMessage, "id: required")
	}
	if p := firstError(
		maxLen("id", e.ID),
		maxLen("txn", e.Txn),
	); p != nil {
		return p
	}
	switch {
	case !ValidStoreID(e.Store):
		return newError(CodeBadMessage, "store: must be a store id, 1 to %d characters of a-z, 0-9 and -", MaxStoreIDLen)
	case e.At.IsZero() || e.At.Year() < 1 || e.At.Year() > 9999:
		return newError(CodeBadMessage, "at: must be a time in the years 1 to 9999")
	case e.Terminal != "" && !ValidTerminalID(e.Terminal):
		return newError(CodeBadMessage, "terminal: must be empty or a terminal id, 1 to %d characters of a-z, 0-9 and -", MaxTerminalIDLen)
	case e.Customer != "" && !ValidCustomerKey(e.Customer):
		return newError(CodeBadMessage, "customer: must be empty or a customer_key")
	case e.Day != "" && !localDayOf(e.Day, e.At):
		return newError(CodeBadMessage, "day: must be the date YYYY-MM-DD of at in some time zone (its UTC date, the day before or the day after)")
	}
	switch e.Kind {
	case EventCheckout:
		c := e.Checkout
		switch {
		case c == nil:
			return newError(CodeBadMessage, "checkout: required in a checkout event")
		case e.Txn == "":
			return newError(CodeBadMessage, "txn: required in a checkout event")
		case c.Currency != "" && !validCurrency(c.Currency):
			return newError(CodeBadMessage, "checkout.currency: must be 3 uppercase letters")
		}
		if p := firstError(
			amount("subtotal", c.Subtotal),
			amount("discount", c.Discount),
			amount("points", c.Points),
			amount("paid", c.Paid),
		); p != nil {
			return p.in("checkout")
		}
		if p := checkLines(c.Lines); p != nil {
			return p.in("checkout.lines")
		}
		if d := c.Decision; d != nil {
			if p := checkDecision(d); p != nil {
				return p.in("checkout.decision")
			}
		}
		if p := checkShown(c.Shown); p != nil {
			return p.in("checkout.shown")
		}
	case EventRedemption:
		r := e.Redemption
		switch {
		case r == nil:
			return newError(CodeBadMessage, "redemption: required in a redemption event")
		case e.Txn == "":
			return newError(CodeBadMessage, "txn: required in a redemption event")
		}
		if p := firstError(
			offerID("offer", r.Offer),
			amount("discount", r.Discount),
			amount("points", r.Points),
			amount("claimed", r.Claimed),
			amount("claimed_points", r.ClaimedPoints),
		); p != nil {
			return p.in("redemption")
		}
		for i, s := range r.Segments {
			if !ValidSegmentID(s) {
				return newError(CodeBadMessage, "redemption.segments[%d]: must be a segment id", i)
			}
		}
	case EventImpression:
		if e.Impression == nil {
			return newError(CodeBadMessage, "impression: required in an impression event")
		}
		if p := offerID("offer", e.Impression.Offer); p != nil {
			return p.in("impression")
		}
	case EventProfile:
		p := e.Profile
		switch {
		case p == nil:
			return newError(CodeBadMessage, "profile: required in a profile event")
		case e.Customer == "":
			return newError(CodeBadMessage, "customer: required in a profile event")
		case !isDay(p.Day):
			return newError(CodeBadMessage, "profile.day: must be a date YYYY-MM-DD")
		}
		if pe := firstError(
			amount("visits", p.Visits),
			amount("spend", p.Spend),
			amount("points", p.Points),
		); pe != nil {
			return pe.in("profile")
		}
		if pe := checkLines(p.Items); pe != nil {
			return pe.in("profile.items")
		}
	case EventDiscrepancy:
		d := e.Discrepancy
		switch {
		case d == nil:
			return newError(CodeBadMessage, "discrepancy: required in a discrepancy event")
		case e.Txn == "":
			return newError(CodeBadMessage, "txn: required in a discrepancy event")
		}
		if p := d.Problem(); p != "" {
			return newError(CodeBadMessage, "%s", p)
		}
	case EventHeartbeat:
		h := e.Heartbeat
		if h == nil {
			return newError(CodeBadMessage, "heartbeat: required in a heartbeat event")
		}
		if p := text("agent", h.Agent, MaxTextLen); p != nil {
			return p.in("heartbeat")
		}
		for i, a := range h.Alarms {
			if p := text("", a, MaxTextLen); p != nil {
				return p.in("heartbeat.alarms[%d]", i)
			}
		}
		if h.Zone != "" && !ValidZoneName(h.Zone) {
			return newError(CodeBadMessage, "heartbeat.zone: must be an IANA time zone name such as Asia/Tokyo")
		}
	default:
		return newError(CodeBadMessage, "kind: must be redemption, impression, checkout, profile, heartbeat or discrepancy")
	}
	return nil
}

// localDayOf reports whether day is a date YYYY-MM-DD that at falls on in
// some time zone: zones run from 12 hours behind UTC to 14 ahead, so the
// day before at's UTC date, that date or the day after.
func localDayOf(day string, at time.Time) bool {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil || d.Format(time.DateOnly) != day {
		return false
	}
	u := at.UTC()
	utc := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	diff := d.Sub(utc)
	return diff >= -24*time.Hour && diff <= 24*time.Hour
}

// ValidZoneName reports whether s has the form of an IANA time zone name
// (Area/Location, or UTC): letters, digits and _+-/, at most 64 bytes,
// no empty or dot part, and not Local (the reader's own zone). Whether the zone exists is for the reader's time
// zone database to say.
func ValidZoneName(s string) bool {
	if s == "" || s == "Local" || len(s) > 64 || s[0] == '/' || s[len(s)-1] == '/' || strings.Contains(s, "//") {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '+', r == '-', r == '/':
		default:
			return false
		}
	}
	return true
}

// checkShown checks a checkout's shown offers: each (offer, suggested)
// once.
func checkShown(shown []Shown) *Error {
	if len(shown) > MaxShown {
		return newError(CodeBadMessage, ": at most %d offers", MaxShown)
	}
	seen := make(map[Shown]bool, len(shown))
	for i, s := range shown {
		if p := offerID("offer", s.Offer); p != nil {
			return p.in("[%d]", i)
		}
		k := Shown{Offer: s.Offer, Suggested: s.Suggested}
		if seen[k] {
			return newError(CodeBadMessage, "[%d]: offer %s is listed twice", i, s.Offer)
		}
		seen[k] = true
	}
	return nil
}

// isDay reports whether s is a valid date YYYY-MM-DD.
func isDay(s string) bool {
	t, err := time.Parse(time.DateOnly, s)
	return err == nil && t.Format(time.DateOnly) == s
}

// CleanText returns s as text that the rules accept in a field of at most
// max bytes: control characters (a newline too) become spaces, invalid
// UTF-8 becomes U+FFFD, and it is cut to max bytes at a character
// boundary. It is for text the agent writes itself, such as a heartbeat's
// alarms, which quote error messages of several lines.
func CleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// checkDecision checks a checkout's decision record.
func checkDecision(d *Decision) *Error {
	switch {
	case !ValidContextKey(d.Context):
		return newError(CodeBadMessage, "context: must be {segment}|{daypart}|{group}, each 1 to %d characters of a-z, 0-9, -, : and +", MaxContextPartLen)
	case d.Policy != PolicyLearned && d.Policy != PolicyFixed:
		return newError(CodeBadMessage, "policy: must be %q or %q", PolicyLearned, PolicyFixed)
	case d.Model < 0:
		return newError(CodeBadMessage, "model: must not be negative")
	case len(d.Suggested) > MaxSuggested:
		return newError(CodeBadMessage, "suggested: at most %d, got %d", MaxSuggested, len(d.Suggested))
	}
	seen := make(map[string]bool, len(d.Suggested))
	for i, s := range d.Suggested {
		name := fmt.Sprintf("suggested[%d]", i)
		if p := offerID(name+".offer", s.Offer); p != nil {
			return p
		}
		if s.Kind != SuggestNudge && s.Kind != SuggestCrossSell {
			return newError(CodeBadMessage, "%s.kind: must be %q or %q", name, SuggestNudge, SuggestCrossSell)
		}
		if seen[s.Offer] {
			return newError(CodeBadMessage, "%s.offer: suggested twice", name)
		}
		seen[s.Offer] = true
	}
	return nil
}

// MaxContextPartLen bounds each part of a decision context key.
const MaxContextPartLen = 64

// ValidContextKey reports whether s is a decision context key:
// "{segment}|{daypart}|{group}", each part 1 to MaxContextPartLen
// characters of a-z, 0-9, "-", ":" and "+".
func ValidContextKey(s string) bool {
	parts := strings.Split(s, "|")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > MaxContextPartLen {
			return false
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == ':' || c == '+') {
				return false
			}
		}
	}
	return true
}
