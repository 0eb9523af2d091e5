package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message types: the "type" of a message.
const (
	// Terminal to agent.
	TypeBasket   = "basket"   // the whole current basket; answered with offers
	TypeCheckout = "checkout" // the final basket, paid, and the offers applied; answered with ack
	TypeVoid     = "void"     // cancels txn; answered with ack
	TypeHello    = "hello"    // the terminal's model and firmware; answered with ack

	// Agent to terminal.
	TypeOffers = "offers" // the offers that apply to a basket and the nudges that nearly do
	TypeAck    = "ack"    // a checkout, void or hello was handled
	TypeError  = "error"  // a message could not be handled: code and message say why
)

// Limits of a message. Decode refuses anything beyond them.
const (
	// MaxMessageSize is the longest payload, in bytes, that Decode reads.
	MaxMessageSize = 64 << 10
	// MaxLines is the most lines a basket or checkout may have.
	MaxLines = 500
	// MaxFieldLen is the longest id, re, txn, customer, line sku, coupon
	// and error code, in bytes.
	MaxFieldLen = 64
	// MaxTextLen is the longest line category, brand and name, and hello
	// model and firmware, in bytes. HQ keeps category and brand, and the
	// heartbeat's agent version and alarms, to the same length.
	MaxTextLen = 1024
	// MaxQty is the largest quantity on a line.
	MaxQty = 1_000_000
	// MaxAmount is the largest price or amount of money, in minor units,
	// and the largest sum of them: a line's qty × price, a basket's
	// subtotal, and a checkout's applied discounts and points each stay
	// within it. 10^12 is far beyond any basket in any currency, and far
	// from int64's limit, so HQ's sums over many events do not overflow.
	MaxAmount = 1_000_000_000_000
)

// Decode parses one message and checks it against the v1 contract: the
// version, a known type, the fields the type requires and their ranges.
//
// On success the Message holds only the fields its type defines (see the
// field comments of Message); any other field was ignored like an unknown
// one. Empty coupons, applied and offer lines decode as nil; a basket's or
// checkout's Lines and an offers reply's Offers and Nudges are never nil.
//
// Any failure is an *Error, with Code CodeTooLarge, CodeBadJSON,
// CodeBadMessage, CodeUnsupportedVersion or CodeUnknownType, a Message that
// names the field (lines[2].qty: must be at least 1, got 0), and Re set to
// the message's id when it could be read.
func Decode(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, newError(CodeTooLarge, "message is %d bytes, at most %d", len(b), MaxMessageSize)
	}
	if e := checkObject(b); e != nil {
		return nil, e
	}
	m := new(Message)
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(b, m); err != nil && !errors.As(err, &typeErr) {
		return nil, jsonError(err)
	}
	customer, id := m.Customer, m.ID // before keepTypeFields clears them
	// json.Unmarshal goes on past a wrong-typed field, so the version and
	// type are known even then, and come first: a message of another
	// version may type its fields differently.
	e := checkHead(m, typeErr != nil)
	if e == nil && typeErr != nil {
		e = typeError(b, typeErr)
	}
	if e == nil {
		keepTypeFields(m)
		e = checkBody(m)
	}
	if e != nil {
		if id != "" && maxLen("id", id) == nil {
			e.Re = id
		}
		// A terminal may put the loyalty id in another field by mistake
		// too: whatever the error echoes, it never repeats the customer.
		if len(customer) >= minRedacted && strings.Contains(e.Message, customer) {
			e.Message = strings.ReplaceAll(e.Message, customer, "<customer>")
		}
		return nil, e
	}
	return m, nil
}

// minRedacted is the shortest customer value that error messages redact;
// anything shorter identifies no one, and would garble the message.
const minRedacted = 6

// checkObject checks that b is UTF-8 and starts a JSON object.
func checkObject(b []byte) *Error {
	if !utf8.Valid(b) {
		return newError(CodeBadJSON, "not valid UTF-8 at byte %d", invalidUTF8At(b))
	}
	b = bytes.TrimLeft(b, " \t\r\n")
	switch {
	case len(b) == 0:
		return newError(CodeBadJSON, "empty message: want a JSON object")
	case b[0] != '{':
		return newError(CodeBadJSON, "want a JSON object, got %s", jsonKind(b[0]))
	}
	return nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// jsonKind names the kind of JSON value that starts with c.
func jsonKind(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	}
	return "something else"
}

// jsonError turns a json.Unmarshal failure other than a type error, in
// practice a *json.SyntaxError, into a bad_json *Error.
func jsonError(err error) *Error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		// The text names at most one character of the input.
		return newError(CodeBadJSON, "%s at byte %d", se.Error(), se.Offset)
	}
	return newError(CodeBadJSON, "%v", err)
}

// checkHead checks the version and the type. With incomplete set, the rest
// of m failed to decode, and a missing version or type may be the wrong
// typed field, so only a present and wrong one is reported.
func checkHead(m *Message, incomplete bool) *Error {
	switch {
	case m.V == 0 && incomplete:
	case m.V == 0:
		return newError(CodeBadMessage, "v: required: the protocol version, %d", Version)
	case m.V != Version:
		return newError(CodeUnsupportedVersion, "v: version %d is not supported, this side speaks version %d", m.V, Version)
	}
	switch m.Type {
	case TypeBasket, TypeCheckout, TypeVoid, TypeHello, TypeOffers, TypeAck, TypeError:
		return nil
	case "":
		if incomplete {
			return nil
		}
		return newError(CodeBadMessage, "type: required: one of basket, checkout, void, hello, offers, ack, error")
	}
	return newError(CodeUnknownType, "type: %s is not a message type: want basket, checkout, void or hello from a terminal, offers, ack or error from the agent", quoteShort(m.Type))
}

// keepTypeFields clears the fields that m's type does not define, so what
// Decode returns is only what it checked.
func keepTypeFields(m *Message) {
	k := Message{V: m.V, Type: m.Type, TS: m.TS}
	switch m.Type {
	case TypeBasket, TypeCheckout:
		k.ID, k.Txn = m.ID, m.Txn
		k.Customer, k.Coupons, k.Currency, k.Lines = m.Customer, m.Coupons, m.Currency, m.Lines
		if m.Type == TypeCheckout {
			k.Paid, k.Applied = m.Paid, m.Applied
		}
	case TypeVoid:
		k.ID, k.Txn = m.ID, m.Txn
	case TypeHello:
		k.ID, k.Model, k.Firmware = m.ID, m.Model, m.Firmware
	case TypeOffers:
		k.Re, k.Txn = m.Re, m.Txn
		k.Catalog, k.EvalUS, k.Offers, k.Nudges = m.Catalog, m.EvalUS, m.Offers, m.Nudges
		k.Suggestions, k.Candidates, k.Holdout = m.Suggestions, m.Candidates, m.Holdout
	case TypeAck:
		k.Re, k.Txn = m.Re, m.Txn
	case TypeError:
		k.Re, k.Txn, k.Code, k.Message = m.Re, m.Txn, m.Code, m.Message
	}
	*m = k
}

// checkBody checks the fields of m's type, and makes empty lists nil or
// non-nil as Decode documents.
func checkBody(m *Message) *Error {
	if e := checkTS(m.TS); e != nil {
		return e
	}
	switch m.Type {
	case TypeBasket, TypeCheckout:
		return checkBasket(m)
	case TypeVoid:
		return firstError(
			required(m.Type, "id", m.ID),
			required(m.Type, "txn", m.Txn))
	case TypeHello:
		return firstError(
			required(m.Type, "id", m.ID),
			text("model", m.Model, MaxTextLen),
			text("firmware", m.Firmware, MaxTextLen))
	case TypeOffers:
		return checkOffers(m)
	case TypeAck:
		return firstError(
			required(m.Type, "re", m.Re),
			maxLen("txn", m.Txn))
	case TypeError:
		return firstError(
			maxLen("re", m.Re),
			maxLen("txn", m.Txn),
			required(m.Type, "code", m.Code))
	}
	return nil
}

func checkTS(ts string) *Error {
	if ts == "" {
		return nil
	}
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		// err quotes the input in full: say it ourselves.
		return newError(CodeBadMessage, "ts: must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got %s", quoteShort(ts))
	}
	return nil
}

func checkBasket(m *Message) *Error {
	if e := firstError(
		required(m.Type, "id", m.ID),
		required(m.Type, "txn", m.Txn),
		maxLen("customer", m.Customer),
	); e != nil {
		return e
	}
	if m.Currency != "" && !validCurrency(m.Currency) {
		return newError(CodeBadMessage, "currency: must be 3 uppercase letters, an ISO 4217 code such as JPY, got %s", quoteShort(m.Currency))
	}
	for i, c := range m.Coupons {
		if c == "" {
			return newError(CodeBadMessage, "coupons[%d]: must not be empty", i)
		}
		if e := maxLen("", c); e != nil {
			return e.in("coupons[%d]", i)
		}
	}
	switch {
	case m.Lines == nil && m.Type == TypeBasket:
		return newError(CodeBadMessage, "lines: required in a basket message: [] for an empty basket")
	case len(m.Lines) == 0 && m.Type == TypeCheckout:
		return newError(CodeBadMessage, "lines: a checkout message needs at least one line")
	case len(m.Lines) > MaxLines:
		return newError(CodeTooLarge, "lines: at most %d lines, got %d", MaxLines, len(m.Lines))
	}
	var subtotal int64
	for i := range m.Lines {
		l := &m.Lines[i]
		e := checkLine(l.SKU, l.Qty, l.Price, l.Category, l.Brand)
		if e == nil {
			e = text("name", l.Name, MaxTextLen)
		}
		if e == nil {
			e = addAmount(&subtotal, l.Qty*l.Price, "price", "the subtotal (the sum of qty × price)")
		}
		if e != nil {
			return e.in("lines[%d]", i)
		}
	}
	if len(m.Coupons) == 0 {
		m.Coupons = nil
	}
	if m.Type == TypeBasket {
		return nil
	}

	if m.Paid == nil {
		return newError(CodeBadMessage, "paid: required in a checkout message: the amount paid, in minor units")
	}
	if e := amount("paid", *m.Paid); e != nil {
		return e
	}
	var discount, points int64
	for i := range m.Applied {
		a := &m.Applied[i]
		if e := firstError(
			offerID("offer", a.Offer),
			amount("discount", a.Discount),
			amount("points", a.Points),
			addAmount(&discount, a.Discount, "discount", "the sum of the applied discounts"),
			addAmount(&points, a.Points, "points", "the sum of the applied points"),
		); e != nil {
			return e.in("applied[%d]", i)
		}
	}
	if len(m.Applied) == 0 {
		m.Applied = nil
	}
	return nil
}

func checkOffers(m *Message) *Error {
	if e := firstError(
		required(m.Type, "re", m.Re),
		maxLen("txn", m.Txn),
		inRange("catalog", m.Catalog, 0, math.MaxInt64),
		inRange("eval_us", m.EvalUS, 0, math.MaxInt64),
	); e != nil {
		return e
	}
	for i := range m.Offers {
		if e := checkOffer(&m.Offers[i]); e != nil {
			return e.in("offers[%d]", i)
		}
	}
	for i := range m.Nudges {
		n := &m.Nudges[i]
		if e := firstError(
			offerID("offer", n.Offer),
			inRange("missing.qty", n.Missing.Qty, 0, MaxQty),
			amount("missing.spend", n.Missing.Spend),
		); e != nil {
			return e.in("nudges[%d]", i)
		}
	}
	for i := range m.Suggestions {
		if e := checkSuggestion(&m.Suggestions[i]); e != nil {
			return e.in("suggestions[%d]", i)
		}
	}
	for i := range m.Candidates {
		if e := checkSuggestion(&m.Candidates[i]); e != nil {
			return e.in("candidates[%d]", i)
		}
	}
	if m.Offers == nil {
		m.Offers = []Offer{}
	}
	if len(m.Suggestions) == 0 {
		m.Suggestions = nil // omitted when empty, as sent
	}
	if len(m.Candidates) == 0 {
		m.Candidates = nil
	}
	if m.Nudges == nil {
		m.Nudges = []Nudge{}
	}
	return nil
}

func checkSuggestion(s *Suggestion) *Error {
	if e := offerID("offer", s.Offer); e != nil {
		return e
	}
	if s.Kind != SuggestNudge && s.Kind != SuggestCrossSell {
		return newError(CodeBadMessage, "kind: must be %s or %s", SuggestNudge, SuggestCrossSell)
	}
	if s.Missing != nil {
		return firstError(
			inRange("missing.qty", s.Missing.Qty, 0, MaxQty),
			amount("missing.spend", s.Missing.Spend))
	}
	return nil
}

func checkOffer(o *Offer) *Error {
	if e := firstError(
		offerID("id", o.ID),
		amount("discount", o.Discount),
		amount("points", o.Points),
	); e != nil {
		return e
	}
	for j, lr := range o.Lines {
		if e := firstError(
			inRange("line", int64(lr.Line), 0, MaxLines-1),
			inRange("qty", lr.Qty, 0, MaxQty),
			amount("discount", lr.Discount),
		); e != nil {
			return e.in("lines[%d]", j)
		}
	}
	if len(o.Lines) == 0 {
		o.Lines = nil
	}
	return nil
}

// The checks below name the field relative to the object that holds it,
// and the caller puts the path in front with in. The path is formatted only
// when there is an error to report, so a good message costs no allocation.

// in puts the path of the object that holds the field in front of e's
// message: "qty: ..." in lines[2] becomes "lines[2].qty: ...".
func (e *Error) in(format string, a ...any) *Error {
	sep := "."
	if strings.HasPrefix(e.Message, "[") || strings.HasPrefix(e.Message, ":") {
		sep = "" // an index, or the holder itself: lines[2], lines: ...
	}
	e.Message = fmt.Sprintf(format, a...) + sep + e.Message
	return e
}

// required checks a top-level text field that the message type needs.
func required(typ, name, s string) *Error {
	if s == "" {
		article := "a"
		if strings.ContainsRune("aeiou", rune(typ[0])) {
			article = "an"
		}
		return newError(CodeBadMessage, "%s: required in %s %s message", name, article, typ)
	}
	return maxLen(name, s)
}

// maxLen checks an id-like text field: at most MaxFieldLen bytes, and
// text (see text).
func maxLen(name, s string) *Error { return text(name, s, MaxFieldLen) }

func offerID(name, s string) *Error {
	if !ValidOfferID(s) {
		return newError(CodeBadMessage, "%s: must be an offer id, 1 to %d characters of a-z, 0-9 and -, got %s", name, MaxOfferIDLen, quoteShort(s))
	}
	return nil
}

// amount checks an amount of money or points: 0 to MaxAmount.
func amount(name string, n int64) *Error { return inRange(name, n, 0, MaxAmount) }

func inRange(name string, n, lo, hi int64) *Error {
	switch {
	case n < lo && lo == 0:
		return newError(CodeBadMessage, "%s: must not be negative, got %d", name, n)
	case n < lo:
		return newError(CodeBadMessage, "%s: must be at least %d, got %d", name, lo, n)
	case n > hi:
		return newError(CodeBadMessage, "%s: must be at most %d, got %d", name, hi, n)
	}
	return nil
}

// firstError returns the first non-nil error. The checks it is given are
// all evaluated: they are cheap, and allocate only when they fail.
func firstError(errs ...*Error) *Error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func validCurrency(s string) bool {
	return len(s) == 3 && isUpper(s[0]) && isUpper(s[1]) && isUpper(s[2])
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

// quoteShort quotes s for an error message when it is short, printable
// ASCII; otherwise it gives only its length. Error messages echo only
// fields with a fixed form (type, ts, currency, offer ids), and even those
// only when they look like what they should be.
func quoteShort(s string) string {
	const max = 40
	if len(s) > max {
		return fmt.Sprintf("%d bytes", len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Sprintf("%d bytes", len(s))
		}
	}
	return strconv.Quote(s)
}
