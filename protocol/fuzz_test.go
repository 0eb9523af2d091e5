package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var codes = map[string]bool{
	CodeBadJSON: true, CodeBadMessage: true, CodeUnsupportedVersion: true, CodeUnknownType: true, CodeTooLarge: true,
}

// FuzzDecode checks that Decode never panics, refuses only with an *Error of
// a documented code, and that any message it accepts encodes to bytes that
// decode to the same message.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		basketJSON,
		`{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":[]}`,
		`{"v":1,"type":"checkout","id":"m","txn":"t","paid":0,"applied":[{"offer":"a","discount":1,"points":2}],"lines":[{"sku":"A","qty":1,"price":0}]}`,
		`{"v":1,"type":"void","id":"m-19","txn":"t1-000123"}`,
		`{"v":1,"type":"hello","id":"h-1","model":"acme-tp100","firmware":"2.3.1"}`,
		`{"v":1,"type":"offers","re":"m-17","txn":"t","catalog":42,"eval_us":38,"offers":[{"id":"a","discount":280,"points":0,` +
			`"lines":[{"line":1,"qty":1,"discount":280}]}],"nudges":[{"offer":"b","missing":{"spend":420}}]}`,
		`{"v":1,"type":"offers","re":"m","nudges":[{"offer":"b","missing":{"qty":1}}],"suggestions":[{"offer":"b","kind":"nudge",` +
			`"missing":{"qty":1},"why":"w"},{"offer":"c","kind":"cross_sell","missing":{}}],"candidates":[{"offer":"d","kind":"x"}],"holdout":true}`,
		`{"v":1,"type":"ack","re":"m-18","txn":"t"}`,
		`{"v":1,"type":"error","code":"bad_json","message":"x"}`,
		`{"v":1,"type":"basket","id":"m","txn":"t","lines":[{"sku":"A","qty":1.5,"price":"x"}]}`,
		`{"V":1,"TYPE":"basket","Id":"m","txn":"t","lines":[{"SKU":"a","qty":1,"price":1}],"coupons":["","x"]}`,
		`[{"v":1}]`, `{"v":2}`, `{"v":1,"type":"x"}`, "{\"v\":1,\"type\":\"basket\",\"id\":\"\xff\"}", `{"lines":[[[[[]]]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !codes[e.Code] || e.Message == "" {
				t.Fatalf("Decode(%q): error %#v is not an *Error of a documented code", b, err)
			}
			if m != nil {
				t.Fatalf("Decode(%q) returned a message and an error", b)
			}
			checkPath(t, b)
			return
		}
		if m == nil {
			t.Fatalf("Decode(%q) returned neither a message nor an error", b)
		}
		enc, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode(Decode(%q)): %v", b, err)
		}
		if len(enc) > MaxMessageSize {
			return // escaping (U+2028 becomes \u2028) grew it past the limit
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))) = %s: %v", b, enc, err)
		}
		if !reflect.DeepEqual(m, back) {
			t.Fatalf("round trip of %q through %s:\n got %#v\nwant %#v", b, enc, back, m)
		}
	})
}

// checkPath checks that the path an error gives a wrong-typed field is the
// field encoding/json names, with indices.
func checkPath(t *testing.T, b []byte) {
	var m Message
	te, ok := errors.AsType[*json.UnmarshalTypeError](json.Unmarshal(b, &m))
	if !ok || te.Field == "" {
		return
	}
	if _, ok := indexedField(te.Field); ok {
		return // encoding/json gave the indices itself (GOEXPERIMENT=jsonv2)
	}
	// The first place fieldPath looks is the right one.
	path := pathAt(b, int(te.Offset)-1)
	if !strings.EqualFold(withoutIndices(path), te.Field) {
		t.Fatalf("Decode(%q): path %q for field %q", b, path, te.Field)
	}
}
