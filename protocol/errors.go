package protocol

import (
	"errors"
	"fmt"
)

// Codes of an error reply: the Code of an *Error and the "code" of an error
// message. They are part of the contract: a terminal may act on them, so an
// existing code never changes meaning.
const (
	// CodeBadJSON: the payload is not a UTF-8 JSON object.
	CodeBadJSON = "bad_json"
	// CodeBadMessage: a JSON object, but a field is missing, of the wrong
	// type or out of range. The message names the field.
	CodeBadMessage = "bad_message"
	// CodeUnsupportedVersion: "v" is a protocol version this side does not
	// speak.
	CodeUnsupportedVersion = "unsupported_version"
	// CodeUnknownType: "type" is not one of the message types.
	CodeUnknownType = "unknown_type"
	// CodeTooLarge: the payload is longer than MaxMessageSize, or has more
	// than MaxLines lines.
	CodeTooLarge = "too_large"
	// CodeCardData: the payload carries a payment card number, as track
	// data or bare; it was refused and not kept (see ContainsCardData).
	CodeCardData = "card_data"
	// CodeInternal: the agent failed; the terminal may retry.
	CodeInternal = "internal"
	// CodeBusy: the agent is overloaded; the terminal may retry later.
	CodeBusy = "busy"
)

// Error is a message that could not be handled. It carries what the error
// reply tells the terminal; ErrorReply turns it into that reply.
type Error struct {
	Code    string // one of the Code constants
	Message string // for the terminal's developer: the field and the rule
	// Re is the id of the refused message when it could be read, so the
	// reply can name it; empty otherwise.
	Re string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// CodeOf returns the Code of the *Error in err's chain, or CodeInternal when
// there is none.
func CodeOf(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeInternal
}

// newError returns an *Error with a formatted message.
func newError(code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// Errors of the name builders and parsers, wrapped with the name and the
// rule it broke.
var (
	// ErrInvalidID: a store, terminal, offer or segment id, or a
	// customer_key, does not have the form the contract gives it.
	ErrInvalidID = errors.New("invalid id")
	// ErrInvalidName: a topic, subject or event kind is not one of
	// posoffer's.
	ErrInvalidName = errors.New("not a posoffer name")
)
