package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"unicode/utf8"
)

// Codes of an error reply. They are part of the API's contract: a client
// may act on them, so an existing code never changes meaning.
const (
	// CodeBadRequest: a parameter or a field of the body is missing,
	// malformed or out of range; the message names it.
	CodeBadRequest = "bad_request"
	// CodeInvalidOffer: the offer, or the catalog it would leave, is one
	// the offer language refuses; the message is the language's.
	CodeInvalidOffer = "invalid_offer"
	// CodeInvalidSegment: the segment, or the catalog it would leave, is
	// one the offer language refuses.
	CodeInvalidSegment = "invalid_segment"
	// CodeNotFound: no such offer, segment, template or route.
	CodeNotFound = "not_found"
	// CodeConflict: the change does not fit the object's state: its id is
	// taken, the offer has ended, or offers use the segment.
	CodeConflict = "conflict"
	// CodeUnauthorized: no valid token.
	CodeUnauthorized = "unauthorized"
	// CodeForbidden: the token's role may not do this, or a change sent
	// with the cookie did not show it comes from the same origin.
	CodeForbidden = "forbidden"
	// CodeMethodNotAllowed: the path exists, with other methods (the Allow
	// header lists them).
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeTooLarge: the body is larger than the API reads.
	CodeTooLarge = "too_large"
	// CodeUnavailable: a service HQ needs (the catalog bucket) could not
	// be reached; the request may be sent again later.
	CodeUnavailable = "unavailable"
	// CodeInternal: HQ failed; the request may be sent again.
	CodeInternal = "internal"
)

// Error is an error reply: its HTTP status, code and message.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

type errorReply struct {
	Error *Error `json:"error"`
}

func errorf(status int, code, format string, a ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) *Error {
	return errorf(http.StatusBadRequest, CodeBadRequest, format, a...)
}

func notFound(format string, a ...any) *Error {
	return errorf(http.StatusNotFound, CodeNotFound, format, a...)
}

func conflict(format string, a ...any) *Error {
	return errorf(http.StatusConflict, CodeConflict, format, a...)
}

// maxBody is the largest request body the API reads.
const maxBody = 1 << 20

// readBody reads a request's body, at most maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "body: more than %d bytes", maxBody)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The server's read deadline (http.read_timeout) passed: a client
		// that sends its body too slowly holds no connection for long.
		return nil, errorf(http.StatusRequestTimeout, CodeBadRequest, "body: not received in time")
	}
	if err != nil {
		return nil, badRequest("body: %v", err)
	}
	return b, nil
}

// decodeBody reads a JSON body into v strictly: an unknown field, a wrong
// type or trailing data is a bad request that names the field.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return badRequest("body: %s", jsonProblem(err))
	}
	if d.More() {
		return badRequest("body: unexpected data after the JSON value")
	}
	return nil
}

// jsonProblem says what is wrong with a JSON document, naming the field
// when it can.
func jsonProblem(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		return fmt.Sprintf("%s: want %s, got a JSON %s", te.Field, te.Type, te.Value)
	}
	if err == io.EOF {
		return "empty; want a JSON object"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return "not valid JSON: " + msg
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // the client may be gone; nothing else to do
}

// quote quotes a value a client sent for an error message, cut short.
func quote(s string) string {
	const most = 64
	if len(s) > most {
		cut := most
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return fmt.Sprintf("%q", s)
}
