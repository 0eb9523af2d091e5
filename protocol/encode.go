package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Encode returns the JSON of m, compact and without a trailing newline,
// ready for an MQTT payload or a serial frame. It does not validate m.
//
// A basket or checkout always carries "lines", and an offers reply always
// carries "catalog", "eval_us", "offers" and "nudges", even when empty or
// zero, so a terminal never has to treat a missing list as an empty one.
// Characters such as < and & are not escaped.
func Encode(m *Message) ([]byte, error) {
	if m == nil {
		return nil, errors.New("encode message: nil message")
	}
	var v any = m
	switch m.Type {
	case TypeBasket, TypeCheckout:
		v = basketWire{m, orEmpty(m.Lines)}
	case TypeOffers:
		v = offersWire{m, m.Catalog, m.EvalUS, orEmpty(m.Offers), orEmpty(m.Nudges)}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %s message: %w", m.Type, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// basketWire and offersWire are Message with the lists that the wire always
// carries: their fields shadow the omitempty ones of the embedded Message.
type basketWire struct {
	*Message
	Lines []Line `json:"lines"`
}

type offersWire struct {
	*Message
	Catalog int64   `json:"catalog"`
	EvalUS  int64   `json:"eval_us"`
	Offers  []Offer `json:"offers"`
	Nudges  []Nudge `json:"nudges"`
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// NewOffersReply returns the offers reply to the basket with id re in
// transaction txn. The caller sets Catalog (the catalog revision) and
// EvalUS (the evaluation time in microseconds).
func NewOffersReply(re, txn string, offers []Offer, nudges []Nudge) *Message {
	return &Message{V: Version, Type: TypeOffers, Re: re, Txn: txn, Offers: orEmpty(offers), Nudges: orEmpty(nudges)}
}

// NewAck returns the ack of the message with id re, in transaction txn
// (empty for a hello).
func NewAck(re, txn string) *Message {
	return &Message{V: Version, Type: TypeAck, Re: re, Txn: txn}
}

// NewError returns an error reply to the message with id re (empty when it
// could not be read), with code, one of the Code constants, and a message
// for the terminal's developer.
func NewError(re, code, message string) *Message {
	return &Message{V: Version, Type: TypeError, Re: re, Code: code, Message: message}
}

// ErrorReply returns the error reply for err: the code, message and re of
// the *Error in its chain, as Decode returns them. Any other error becomes
// CodeInternal with a fixed message, so an internal detail never reaches a
// terminal; log it on the agent instead.
func ErrorReply(err error) *Message {
	if e, ok := errors.AsType[*Error](err); ok {
		return NewError(e.Re, e.Code, e.Message)
	}
	return NewError("", CodeInternal, "internal error in the agent; the message may be sent again")
}
