package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// basketJSON is a good basket with the fields the contract shows.
const basketJSON = `{"v":1,"type":"basket","id":"m-17","txn":"t1-000123","ts":"2026-11-22T10:00:00Z",
 "customer":"4900123456789","coupons":["WELCOME5"],"currency":"JPY",
 "lines":[{"sku":"COF-001","qty":2,"price":350,"category":"coffee","brand":"acme","name":"Blend M"}]}`

// loyaltyID is the customer of every test message; no error may name it.
const loyaltyID = "4900123456789"

// withField returns basketJSON with one top-level field set to raw JSON, or
// removed when raw is "".
func withField(t testing.TB, typ, key, raw string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(basketJSON), &m); err != nil {
		t.Fatal(err)
	}
	m["type"] = json.RawMessage(`"` + typ + `"`)
	if typ == TypeCheckout {
		m["paid"] = json.RawMessage(`700`)
	}
	if raw == "" {
		delete(m, key)
	} else {
		m[key] = json.RawMessage(raw)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want *Message
	}{
		{
			name: "basket",
			in:   basketJSON,
			want: &Message{V: 1, Type: TypeBasket, ID: "m-17", Txn: "t1-000123", TS: "2026-11-22T10:00:00Z",
				Customer: loyaltyID, Coupons: []string{"WELCOME5"}, Currency: "JPY",
				Lines: []Line{{SKU: "COF-001", Qty: 2, Price: 350, Category: "coffee", Brand: "acme", Name: "Blend M"}}},
		},
		{
			name: "empty basket, unknown fields ignored",
			in:   `{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":[],"extra":{"a":[1,2]},"store":"s001"}`,
			want: &Message{V: 1, Type: TypeBasket, ID: "m-1", Txn: "t-1", Lines: []Line{}},
		},
		{
			name: "basket with empty coupons and a free line",
			in:   `{"v":1,"type":"basket","id":"m-1","txn":"t-1","coupons":[],"lines":[{"sku":"X","qty":1000000,"price":0}]}`,
			want: &Message{V: 1, Type: TypeBasket, ID: "m-1", Txn: "t-1", Lines: []Line{{SKU: "X", Qty: 1000000}}},
		},
		{
			name: "basket at the price limit, ts with an offset",
			in:   `{"v":1,"type":"basket","id":"m-1","txn":"t-1","ts":"2026-11-22T19:00:00.5+09:00","lines":[{"sku":"X","qty":1,"price":1000000000000}]}`,
			want: &Message{V: 1, Type: TypeBasket, ID: "m-1", Txn: "t-1", TS: "2026-11-22T19:00:00.5+09:00",
				Lines: []Line{{SKU: "X", Qty: 1, Price: 1000000000000}}},
		},
		{
			name: "checkout",
			in: `{"v":1,"type":"checkout","id":"m-18","txn":"t1-000123","customer":"4900123456789","paid":420,
				"applied":[{"offer":"coffee-2-pastry","discount":280,"points":0},{"offer":"pts","discount":0,"points":7}],
				"lines":[{"sku":"COF-001","qty":2,"price":350}]}`,
			want: &Message{V: 1, Type: TypeCheckout, ID: "m-18", Txn: "t1-000123", Customer: loyaltyID, Paid: ptr[int64](420),
				Applied: []Applied{{Offer: "coffee-2-pastry", Discount: 280}, {Offer: "pts", Points: 7}},
				Lines:   []Line{{SKU: "COF-001", Qty: 2, Price: 350}}},
		},
		{
			name: "checkout paid 0, applied empty",
			in:   `{"v":1,"type":"checkout","id":"m","txn":"t","paid":0,"applied":[],"lines":[{"sku":"A","qty":1,"price":0}]}`,
			want: &Message{V: 1, Type: TypeCheckout, ID: "m", Txn: "t", Paid: ptr[int64](0), Lines: []Line{{SKU: "A", Qty: 1}}},
		},
		{
			name: "void drops the fields a void does not have",
			in:   `{"v":1,"type":"void","id":"m-19","txn":"t1-000123","customer":"4900123456789","lines":[{"qty":0}],"paid":-1}`,
			want: &Message{V: 1, Type: TypeVoid, ID: "m-19", Txn: "t1-000123"},
		},
		{
			name: "hello",
			in:   `{"v":1,"type":"hello","id":"h-1","model":"acme-tp100","firmware":"2.3.1","txn":"ignored"}`,
			want: &Message{V: 1, Type: TypeHello, ID: "h-1", Model: "acme-tp100", Firmware: "2.3.1"},
		},
		{
			name: "offers",
			in: `{"v":1,"type":"offers","re":"m-17","txn":"t1-000123","catalog":42,"eval_us":38,
				"offers":[{"id":"coffee-2-pastry","name":"...","text":"Free pastry with 2 coffees","discount":280,"points":0,
				"lines":[{"line":1,"qty":1,"discount":280}],"why":"2 coffee items; pastry is cheapest qualifying"}],
				"nudges":[{"offer":"spend-3000-300","text":"Spend 420 more for 300 off","missing":{"spend":420}}]}`,
			want: &Message{V: 1, Type: TypeOffers, Re: "m-17", Txn: "t1-000123", Catalog: 42, EvalUS: 38,
				Offers: []Offer{{ID: "coffee-2-pastry", Name: "...", Text: "Free pastry with 2 coffees", Discount: 280,
					Lines: []LineReward{{Line: 1, Qty: 1, Discount: 280}}, Why: "2 coffee items; pastry is cheapest qualifying"}},
				Nudges: []Nudge{{Offer: "spend-3000-300", Text: "Spend 420 more for 300 off", Missing: Missing{Spend: 420}}}},
		},
		{
			name: "offers with suggestions",
			in: `{"v":1,"type":"offers","re":"m-1","txn":"t-1","nudges":[{"offer":"coffee-2","missing":{"qty":1}}],
				"suggestions":[{"offer":"coffee-2","kind":"nudge","missing":{"qty":1},"why":"new suggestion, still learning"},
				{"offer":"pastry-20","kind":"cross_sell","text":"20% off pastries"}],
				"candidates":[{"offer":"coffee-2","kind":"nudge","missing":{"qty":1}}],"holdout":true}`,
			want: &Message{V: 1, Type: TypeOffers, Re: "m-1", Txn: "t-1", Offers: []Offer{},
				Nudges: []Nudge{{Offer: "coffee-2", Missing: Missing{Qty: 1}}},
				Suggestions: []Suggestion{{Offer: "coffee-2", Kind: SuggestNudge, Missing: &Missing{Qty: 1}, Why: "new suggestion, still learning"},
					{Offer: "pastry-20", Kind: SuggestCrossSell, Text: "20% off pastries"}},
				Candidates: []Suggestion{{Offer: "coffee-2", Kind: SuggestNudge, Missing: &Missing{Qty: 1}}}, Holdout: true},
		},
		{
			name: "offers, none",
			in:   `{"v":1,"type":"offers","re":"m-1","txn":"t-1"}`,
			want: &Message{V: 1, Type: TypeOffers, Re: "m-1", Txn: "t-1", Offers: []Offer{}, Nudges: []Nudge{}},
		},
		{
			name: "ack",
			in:   `{"v":1,"type":"ack","re":"m-18","txn":"t1-000123"}`,
			want: &Message{V: 1, Type: TypeAck, Re: "m-18", Txn: "t1-000123"},
		},
		{
			name: "error without re",
			in:   `{"v":1,"type":"error","code":"bad_json","message":"want a JSON object"}`,
			want: &Message{V: 1, Type: TypeError, Code: CodeBadJSON, Message: "want a JSON object"},
		},
		{
			name: "whitespace and escapes",
			in:   " \r\n\t{\"v\" : 1 , \"type\":\"b\\u0061sket\",\"id\":\"m\\u002d1\",\"txn\":\"t\",\"lines\":[ ]}\n",
			want: &Message{V: 1, Type: TypeBasket, ID: "m-1", Txn: "t", Lines: []Line{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode:\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	line := func(fields string) string {
		return `{"v":1,"type":"basket","id":"m-1","txn":"t-1","customer":"4900123456789","lines":[{"sku":"A","qty":1,"price":1},` + fields + `]}`
	}
	checkout := func(fields string) string {
		return `{"v":1,"type":"checkout","id":"m-1","txn":"t-1","customer":"4900123456789","lines":[{"sku":"A","qty":1,"price":1}],` + fields + `}`
	}
	lines := func(n int) string {
		return `{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":[` +
			strings.TrimSuffix(strings.Repeat(`{"sku":"A","qty":1,"price":1},`, n), ",") + `]}`
	}
	for _, tc := range []struct {
		name, in   string
		code, msg  string
		re         string
		skipNoEcho bool
	}{
		// The payload as a whole.
		{name: "too large", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":[],"pad":"` + strings.Repeat("x", MaxMessageSize) + `"}`,
			code: CodeTooLarge, msg: "message is 65602 bytes, at most 65536"},
		{name: "empty", in: ``, code: CodeBadJSON, msg: "empty message: want a JSON object"},
		{name: "array", in: `[{"v":1}]`, code: CodeBadJSON, msg: "want a JSON object, got an array"},
		{name: "string", in: `"basket"`, code: CodeBadJSON, msg: "want a JSON object, got a string"},
		{name: "null", in: `null`, code: CodeBadJSON, msg: "want a JSON object, got null"},
		{name: "not JSON", in: `v=1;type=basket`, code: CodeBadJSON, msg: "want a JSON object, got something else"},
		{name: "truncated", in: `{"v":1,"type":"basket"`, code: CodeBadJSON, msg: "unexpected end of JSON input at byte 22"},
		{name: "trailing", in: `{"v":1}{"v":1}`, code: CodeBadJSON, msg: "invalid character '{' after top-level value at byte 8"},
		{name: "bad UTF-8", in: "{\"v\":1,\"type\":\"basket\",\"id\":\"m\xff\"}", code: CodeBadJSON, msg: "not valid UTF-8 at byte 30"},

		// Version and type.
		{name: "no v", in: `{"type":"basket","id":"m-1"}`, code: CodeBadMessage, msg: "v: required: the protocol version, 1", re: "m-1"},
		{name: "v 2", in: `{"v":2,"type":"basket","id":"m-1","lines":"v2 may differ"}`, code: CodeUnsupportedVersion,
			msg: "v: version 2 is not supported, this side speaks version 1", re: "m-1"},
		{name: "v string", in: `{"v":"1","type":"basket","id":"m-1"}`, code: CodeBadMessage, msg: "v: expected an integer, got a string", re: "m-1"},
		{name: "v fraction", in: `{"v":1.0,"type":"basket","id":"m-1"}`, code: CodeBadMessage, msg: "v: expected an integer, got 1.0", re: "m-1"},
		{name: "no type", in: `{"v":1,"id":"m-1"}`, code: CodeBadMessage,
			msg: "type: required: one of basket, checkout, void, hello, offers, ack, error", re: "m-1"},
		{name: "unknown type", in: `{"v":1,"type":"Basket","id":"m-1","lines":5}`, code: CodeUnknownType,
			msg: `type: "Basket" is not a message type: want basket, checkout, void or hello from a terminal, offers, ack or error from the agent`, re: "m-1"},
		{name: "long unknown type", in: `{"v":1,"type":"` + strings.Repeat("x", 100) + `","id":"m-1"}`, code: CodeUnknownType,
			msg: `type: 100 bytes is not a message type: want basket, checkout, void or hello from a terminal, offers, ack or error from the agent`, re: "m-1"},
		{name: "type number", in: `{"v":1,"type":3,"id":"m-1"}`, code: CodeBadMessage, msg: "type: expected a string, got a number", re: "m-1"},

		// Top-level fields of a basket.
		{name: "no id", in: `{"v":1,"type":"basket","txn":"t-1","lines":[]}`, code: CodeBadMessage, msg: "id: required in a basket message"},
		{name: "long id", in: `{"v":1,"type":"basket","id":"` + strings.Repeat("m", 65) + `","txn":"t-1","lines":[]}`,
			code: CodeBadMessage, msg: "id: at most 64 bytes, got 65"},
		{name: "id number", in: `{"v":1,"type":"basket","id":17,"txn":"t-1","lines":[]}`, code: CodeBadMessage, msg: "id: expected a string, got a number"},
		{name: "no txn", in: `{"v":1,"type":"basket","id":"m-1","lines":[]}`, code: CodeBadMessage, msg: "txn: required in a basket message", re: "m-1"},
		{name: "long txn", in: `{"v":1,"type":"basket","id":"m-1","txn":"` + strings.Repeat("t", 65) + `","lines":[]}`,
			code: CodeBadMessage, msg: "txn: at most 64 bytes, got 65", re: "m-1"},
		{name: "no lines", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1"}`, code: CodeBadMessage,
			msg: "lines: required in a basket message: [] for an empty basket", re: "m-1"},
		{name: "null lines", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":null}`, code: CodeBadMessage,
			msg: "lines: required in a basket message: [] for an empty basket", re: "m-1"},
		{name: "lines object", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":{"sku":"A"}}`, code: CodeBadMessage,
			msg: "lines: expected an array, got an object", re: "m-1"},
		{name: "too many lines", in: lines(501), code: CodeTooLarge, msg: "lines: at most 500 lines, got 501", re: "m-1"},
		{name: "ts", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","ts":"2026-11-22 10:00:00","lines":[]}`, code: CodeBadMessage,
			msg: `ts: must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got "2026-11-22 10:00:00"`, re: "m-1"},
		{name: "ts without zone", in: `{"v":1,"type":"hello","id":"h-1","ts":"2026-11-22T10:00:00"}`, code: CodeBadMessage,
			msg: `ts: must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got "2026-11-22T10:00:00"`, re: "h-1"},
		{name: "ts number", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","ts":1732269600,"lines":[]}`, code: CodeBadMessage,
			msg: "ts: expected a string, got a number", re: "m-1"},
		{name: "currency", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","currency":"jpy","lines":[]}`, code: CodeBadMessage,
			msg: `currency: must be 3 uppercase letters, an ISO 4217 code such as JPY, got "jpy"`, re: "m-1"},
		{name: "currency long", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","currency":"YEN!","lines":[]}`, code: CodeBadMessage,
			msg: `currency: must be 3 uppercase letters, an ISO 4217 code such as JPY, got "YEN!"`, re: "m-1"},
		{name: "empty coupon", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","coupons":["A",""],"lines":[]}`, code: CodeBadMessage,
			msg: "coupons[1]: must not be empty", re: "m-1"},
		{name: "long coupon", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","coupons":["` + strings.Repeat("C", 65) + `"],"lines":[]}`,
			code: CodeBadMessage, msg: "coupons[0]: at most 64 bytes, got 65", re: "m-1"},
		{name: "coupon number", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","coupons":["A",5],"lines":[]}`, code: CodeBadMessage,
			msg: "coupons[1]: expected a string, got a number", re: "m-1"},
		{name: "coupons string", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","coupons":"A","lines":[]}`, code: CodeBadMessage,
			msg: "coupons: expected an array, got a string", re: "m-1"},

		// Lines.
		{name: "qty 0", in: line(`{"sku":"B","qty":0,"price":1}`), code: CodeBadMessage, msg: "lines[1].qty: must be at least 1, got 0", re: "m-1"},
		{name: "qty missing", in: line(`{"sku":"B","price":1}`), code: CodeBadMessage, msg: "lines[1].qty: must be at least 1, got 0", re: "m-1"},
		{name: "qty negative", in: line(`{"sku":"B","qty":-2,"price":1}`), code: CodeBadMessage, msg: "lines[1].qty: must be at least 1, got -2", re: "m-1"},
		{name: "qty large", in: line(`{"sku":"B","qty":1000001,"price":1}`), code: CodeBadMessage,
			msg: "lines[1].qty: must be at most 1000000, got 1000001", re: "m-1"},
		{name: "qty string", in: line(`{"sku":"B","qty":"2","price":1}`), code: CodeBadMessage, msg: "lines[1].qty: expected an integer, got a string", re: "m-1"},
		{name: "qty fraction", in: line(`{"sku":"B","qty":1.5,"price":1}`), code: CodeBadMessage, msg: "lines[1].qty: expected an integer, got 1.5", re: "m-1"},
		{name: "qty exponent", in: line(`{"sku":"B","qty":1e2,"price":1}`), code: CodeBadMessage, msg: "lines[1].qty: expected an integer, got 1e2", re: "m-1"},
		{name: "qty bool", in: line(`{"sku":"B","qty":true,"price":1}`), code: CodeBadMessage, msg: "lines[1].qty: expected an integer, got a boolean", re: "m-1"},
		{name: "qty overflow", in: line(`{"sku":"B","qty":99999999999999999999,"price":1}`), code: CodeBadMessage,
			msg: "lines[1].qty: integer out of range, got 99999999999999999999", re: "m-1"},
		{name: "qty long", in: line(`{"sku":"B","qty":` + strings.Repeat("9", 30) + `,"price":1}`), code: CodeBadMessage,
			msg: "lines[1].qty: integer out of range, got a number of 30 characters", re: "m-1"},
		{name: "customer elsewhere", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","customer":"4900123456789","ts":"4900123456789","lines":[]}`,
			code: CodeBadMessage, msg: `ts: must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got "<customer>"`, re: "m-1"},
		{name: "customer elsewhere in a void", in: `{"v":1,"type":"void","id":"m-1","txn":"t-1","customer":"4900123456789","ts":"4900123456789"}`,
			code: CodeBadMessage, msg: `ts: must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got "<customer>"`, re: "m-1"},
		{name: "id echoed from a reply type too", in: `{"v":1,"type":"error","id":"x","re":"m-1"}`,
			code: CodeBadMessage, msg: "code: required in an error message", re: "x"},
		{name: "short customer not redacted", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","customer":"c","lines":[{"sku":"c","qty":0}]}`,
			code: CodeBadMessage, msg: `lines[0].qty: must be at least 1, got 0`, re: "m-1"},
		{name: "qty array", in: line(`{"sku":"B","qty":[1],"price":1}`), code: CodeBadMessage, msg: "lines[1].qty: expected an integer, got an array", re: "m-1"},
		{name: "price negative", in: line(`{"sku":"B","qty":1,"price":-1}`), code: CodeBadMessage, msg: "lines[1].price: must not be negative, got -1", re: "m-1"},
		{name: "price large", in: line(`{"sku":"B","qty":1,"price":1000000000001}`), code: CodeBadMessage,
			msg: "lines[1].price: must be at most 1000000000000, got 1000000000001", re: "m-1"},
		{name: "price float", in: line(`{"sku":"B","qty":1,"price":3.50}`), code: CodeBadMessage, msg: "lines[1].price: expected an integer, got 3.50", re: "m-1"},
		{name: "sku missing", in: line(`{"qty":1,"price":1}`), code: CodeBadMessage, msg: "lines[1].sku: required", re: "m-1"},
		{name: "sku long", in: line(`{"sku":"` + strings.Repeat("S", 65) + `","qty":1,"price":1}`), code: CodeBadMessage,
			msg: "lines[1].sku: at most 64 bytes, got 65", re: "m-1"},
		{name: "sku number", in: line(`{"sku":4901234,"qty":1,"price":1}`), code: CodeBadMessage, msg: "lines[1].sku: expected a string, got a number", re: "m-1"},
		{name: "line number", in: line(`7`), code: CodeBadMessage, msg: "lines[1]: expected an object, got a number", re: "m-1"},
		{name: "line key case", in: line(`{"SKU":"B","Qty":"x","price":1}`), code: CodeBadMessage, msg: "lines[1].Qty: expected an integer, got a string", re: "m-1"},
		{name: "name number", in: line(`{"sku":"B","qty":1,"price":1,"name":5}`), code: CodeBadMessage, msg: "lines[1].name: expected a string, got a number", re: "m-1"},
		{name: "first of two", in: line(`{"sku":"B","qty":"x","price":"y"}`), code: CodeBadMessage, msg: "lines[1].qty: expected an integer, got a string", re: "m-1"},

		// Customer: named, never echoed.
		{name: "customer number", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","customer":4900123456789,"lines":[]}`, code: CodeBadMessage,
			msg: "customer: expected a string, got a number", re: "m-1"},
		{name: "customer long", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","customer":"` + strings.Repeat(loyaltyID, 5) + `","lines":[]}`,
			code: CodeBadMessage, msg: "customer: at most 64 bytes, got 65", re: "m-1"},
		{name: "customer object", in: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","customer":{"id":"4900123456789"},"lines":[]}`,
			code: CodeBadMessage, msg: "customer: expected a string, got an object", re: "m-1"},

		// Checkout.
		{name: "checkout no lines", in: `{"v":1,"type":"checkout","id":"m-1","txn":"t-1","paid":0,"lines":[]}`, code: CodeBadMessage,
			msg: "lines: a checkout message needs at least one line", re: "m-1"},
		{name: "checkout no paid", in: checkout(`"applied":[]`), code: CodeBadMessage,
			msg: "paid: required in a checkout message: the amount paid, in minor units", re: "m-1"},
		{name: "checkout paid negative", in: checkout(`"paid":-5`), code: CodeBadMessage, msg: "paid: must not be negative, got -5", re: "m-1"},
		{name: "checkout paid string", in: checkout(`"paid":"700"`), code: CodeBadMessage, msg: "paid: expected an integer, got a string", re: "m-1"},
		{name: "applied bad offer", in: checkout(`"paid":5,"applied":[{"offer":"a","discount":1},{"offer":"Coffee 2","discount":1}]`),
			code: CodeBadMessage, msg: `applied[1].offer: must be an offer id, 1 to 64 characters of a-z, 0-9 and -, got "Coffee 2"`, re: "m-1"},
		{name: "applied no offer", in: checkout(`"paid":5,"applied":[{"discount":1}]`),
			code: CodeBadMessage, msg: `applied[0].offer: must be an offer id, 1 to 64 characters of a-z, 0-9 and -, got ""`, re: "m-1"},
		{name: "applied negative discount", in: checkout(`"paid":5,"applied":[{"offer":"a","discount":-1}]`),
			code: CodeBadMessage, msg: "applied[0].discount: must not be negative, got -1", re: "m-1"},
		{name: "applied negative points", in: checkout(`"paid":5,"applied":[{"offer":"a","points":-3}]`),
			code: CodeBadMessage, msg: "applied[0].points: must not be negative, got -3", re: "m-1"},
		{name: "applied points string", in: checkout(`"paid":5,"applied":[{"offer":"a"},{"offer":"b","points":"3"}]`),
			code: CodeBadMessage, msg: "applied[1].points: expected an integer, got a string", re: "m-1"},

		// Void and hello.
		{name: "void no txn", in: `{"v":1,"type":"void","id":"m-1"}`, code: CodeBadMessage, msg: "txn: required in a void message", re: "m-1"},
		{name: "void no id", in: `{"v":1,"type":"void","txn":"t-1"}`, code: CodeBadMessage, msg: "id: required in a void message"},
		{name: "hello no id", in: `{"v":1,"type":"hello","model":"x"}`, code: CodeBadMessage, msg: "id: required in a hello message"},
		{name: "void lines wrong type", in: `{"v":1,"type":"void","id":"m-1","txn":"t-1","lines":[{"qty":"x"}]}`, code: CodeBadMessage,
			msg: "lines[0].qty: expected an integer, got a string", re: "m-1"},
		{name: "hello model number", in: `{"v":1,"type":"hello","id":"h","model":100}`, code: CodeBadMessage,
			msg: "model: expected a string, got a number", re: "h"},

		// From the agent.
		{name: "offers no re", in: `{"v":1,"type":"offers","offers":[]}`, code: CodeBadMessage, msg: "re: required in an offers message"},
		{name: "offers bad id", in: `{"v":1,"type":"offers","re":"m","offers":[{"id":"ok"},{"id":"NO"}]}`, code: CodeBadMessage,
			msg: `offers[1].id: must be an offer id, 1 to 64 characters of a-z, 0-9 and -, got "NO"`},
		{name: "offers line", in: `{"v":1,"type":"offers","re":"m","offers":[{"id":"a","lines":[{"line":0},{"line":500}]}]}`, code: CodeBadMessage,
			msg: "offers[0].lines[1].line: must be at most 499, got 500"},
		{name: "offers line type", in: `{"v":1,"type":"offers","re":"m","offers":[{"id":"a","lines":[{"line":0},{"line":"1"}]}]}`, code: CodeBadMessage,
			msg: "offers[0].lines[1].line: expected an integer, got a string"},
		{name: "suggestion kind", in: `{"v":1,"type":"offers","re":"m","suggestions":[{"offer":"a","kind":"upsell"}]}`, code: CodeBadMessage,
			msg: "suggestions[0].kind: must be nudge or cross_sell"},
		{name: "candidate missing", in: `{"v":1,"type":"offers","re":"m","candidates":[{"offer":"a","kind":"nudge","missing":{"qty":-1}}]}`,
			code: CodeBadMessage, msg: "candidates[0].missing.qty: must not be negative, got -1"},
		{name: "nudge missing", in: `{"v":1,"type":"offers","re":"m","nudges":[{"offer":"a","missing":{"spend":-1}}]}`, code: CodeBadMessage,
			msg: "nudges[0].missing.spend: must not be negative, got -1"},
		{name: "nudge missing type", in: `{"v":1,"type":"offers","re":"m","nudges":[{"offer":"a","missing":{"qty":"2"}}]}`, code: CodeBadMessage,
			msg: "nudges[0].missing.qty: expected an integer, got a string"},
		{name: "ack no re", in: `{"v":1,"type":"ack"}`, code: CodeBadMessage, msg: "re: required in an ack message"},
		{name: "error no code", in: `{"v":1,"type":"error","re":"m","message":"x"}`, code: CodeBadMessage, msg: "code: required in an error message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode([]byte(tc.in))
			if m != nil {
				t.Errorf("Decode returned a message with its error: %#v", m)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode: got %v, want an *Error", err)
			}
			if e.Code != tc.code || e.Message != tc.msg || e.Re != tc.re {
				t.Errorf("Decode:\n got %s: %s (re %q)\nwant %s: %s (re %q)", e.Code, e.Message, e.Re, tc.code, tc.msg, tc.re)
			}
			if strings.Contains(e.Error(), loyaltyID) {
				t.Errorf("the error names the customer: %v", e)
			}
		})
	}
}

// TestDecodeNeverNamesCustomer breaks each field of a basket and a checkout
// in turn and checks that no error quotes the customer's loyalty id.
func TestDecodeNeverNamesCustomer(t *testing.T) {
	bad := []string{`""`, `"x"`, `-1`, `0`, `1.5`, `"4900123456789"`, `4900123456789`, `[]`, `[4900123456789]`, `["4900123456789"]`,
		`{}`, `{"sku":"4900123456789"}`, `[{"sku":"4900123456789","qty":4900123456789}]`, `null`, `true`, `"` + strings.Repeat("9", 70) + `"`}
	keys := []string{"v", "type", "id", "txn", "ts", "customer", "coupons", "currency", "lines", "paid", "applied"}
	n := 0
	for _, typ := range []string{TypeBasket, TypeCheckout} {
		for _, key := range keys {
			for _, raw := range append(bad, "") {
				b := withField(t, typ, key, raw)
				if key != "customer" {
					// The customer is there, in the clear, beside the fault.
					if !strings.Contains(string(b), loyaltyID) {
						t.Fatalf("%s has no customer", b)
					}
				}
				_, err := Decode(b)
				if err == nil {
					continue
				}
				n++
				msg := err.Error()
				if strings.Contains(msg, loyaltyID) || strings.Contains(msg, "49001234") {
					t.Errorf("Decode(%s)\nnames the customer: %s", b, msg)
				}
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d of the broken messages were refused", n)
	}
}

// TestPathAt checks the paths that name a wrong-typed field against
// encoding/json's own (which has no indices).
func TestPathAt(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		at   string // the first byte of the value
		want string
	}{
		{`{"a":1}`, `1`, "a"},
		{`{"a" : [ 1 , 2 ]}`, `2`, "a[1]"},
		{`{"a":[{"b":[0,{"c":"x"}]}]}`, `"x"`, "a[0].b[1].c"},
		{`{"a":{"b":"}","c":[{"d":"]"},{"e":true}]}}`, `true`, "a.c[1].e"},
		{`{"a\"b":{"q\u0074y":5}}`, `5`, `a"b.qty`},
		{`{"a":[[],[[1,2],[3]]]}`, `3`, "a[1][1][0]"},
	} {
		i := strings.LastIndex(tc.doc, tc.at)
		if got := pathAt([]byte(tc.doc), i); got != tc.want {
			t.Errorf("pathAt(%s, %d) = %q, want %q", tc.doc, i, got, tc.want)
		}
		if got := pathAt([]byte(tc.doc), i+len(tc.at)-1); got != tc.want {
			t.Errorf("pathAt(%s, %d) = %q, want %q (last byte)", tc.doc, i+len(tc.at)-1, got, tc.want)
		}
	}
	for _, tc := range []struct{ field, path string }{
		{"lines.2.qty", "lines[2].qty"},
		{"offers.0.lines.11.line", "offers[0].lines[11].line"},
		{"coupons.1", "coupons[1]"},
	} {
		if got, ok := indexedField(tc.field); !ok || got != tc.path {
			t.Errorf("indexedField(%q) = %q, %v; want %q", tc.field, got, ok, tc.path)
		}
	}
	if got, ok := indexedField("lines.qty"); ok {
		t.Errorf("indexedField(lines.qty) = %q, true", got)
	}
	if got := withoutIndices("offers[0].lines[11].line"); got != "offers.lines.line" {
		t.Errorf("withoutIndices = %q", got)
	}
	for _, at := range []int{-1, 0, 100} {
		if got := pathAt([]byte(`{"a":1}`), at); got != "" {
			t.Errorf("pathAt at %d = %q, want the whole document", at, got)
		}
	}
}

// basket50 is a basket of 50 lines, as a busy till sends it.
func basket50() []byte {
	m := &Message{V: Version, Type: TypeBasket, ID: "m-1234", Txn: "t01-000123", TS: "2026-11-22T10:00:00Z",
		Customer: loyaltyID, Coupons: []string{"WELCOME5"}, Currency: "JPY"}
	for i := range 50 {
		m.Lines = append(m.Lines, Line{SKU: fmt.Sprintf("SKU-%05d", i*37), Qty: int64(1 + i%3), Price: int64(100 + 10*i),
			Category: []string{"coffee", "pastry", "onigiri", "tea", "bento"}[i%5], Brand: "acme", Name: fmt.Sprintf("Product %d", i)})
	}
	b, err := Encode(m)
	if err != nil {
		panic(err)
	}
	return b
}

func BenchmarkDecode(b *testing.B) {
	in := basket50()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	m, err := Decode(basket50())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}
