package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// checkoutWith returns a checkout message, with edit applied to its JSON
// object first.
func checkoutWith(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"v": 1, "type": "checkout", "id": "m-1", "txn": "t1-000123", "customer": "4900123456789",
		"currency": "JPY", "paid": 700,
		"lines":   []map[string]any{{"sku": "COF-001", "qty": 2, "price": 350, "category": "coffee", "brand": "acme", "name": "Blend M"}},
		"applied": []map[string]any{{"offer": "coffee-2-pastry", "discount": 280, "points": 0}},
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The rules Decode applies to what the agent records, each refused with
// the field named. The first three are the checkouts that agents used to
// acknowledge and HQ then refused for good.
func TestDecodeRefusesWhatHQCannotStore(t *testing.T) {
	line := func(l map[string]any) func(m map[string]any) {
		return func(m map[string]any) {
			base := map[string]any{"sku": "A", "qty": 1, "price": 100}
			for k, v := range l {
				base[k] = v
			}
			m["lines"] = []map[string]any{{"sku": "COF-001", "qty": 1, "price": 350}, base}
		}
	}
	applied := func(a ...[2]int64) func(m map[string]any) {
		return func(m map[string]any) {
			var list []map[string]any
			for i, x := range a {
				list = append(list, map[string]any{"offer": []string{"a", "b", "c"}[i], "discount": x[0], "points": x[1]})
			}
			m["applied"] = list
		}
	}
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		msg  string
	}{
		{"NUL in txn", func(m map[string]any) { m["txn"] = "t1\x00" }, "txn: must not contain control characters, found U+0000 at byte 2"},
		{"category over 1024 bytes", line(map[string]any{"category": strings.Repeat("c", 1025)}), "lines[1].category: at most 1024 bytes, got 1025"},
		{"discounts summing over 10^12", applied([2]int64{6e11, 0}, [2]int64{5e11, 0}),
			"applied[1].discount: the sum of the applied discounts passes 1000000000000 here"},

		{"points summing over 10^12", applied([2]int64{0, 1e12}, [2]int64{0, 0}, [2]int64{0, 1}),
			"applied[2].points: the sum of the applied points passes 1000000000000 here"},
		{"line total over 10^12", line(map[string]any{"qty": 1000, "price": 1e10}),
			"lines[1].price: qty × price must be at most 1000000000000, got 1000 × 10000000000"},
		{"subtotal over 10^12", func(m map[string]any) {
			m["lines"] = []map[string]any{{"sku": "A", "qty": 1, "price": 1e12}, {"sku": "B", "qty": 1, "price": 1}}
		}, "lines[1].price: the subtotal (the sum of qty × price) passes 1000000000000 here"},
		{"newline in id", func(m map[string]any) { m["id"] = "m\n1" }, "id: must not contain control characters, found U+000A at byte 1"},
		{"tab in sku", line(map[string]any{"sku": "A\tB"}), "lines[1].sku: must not contain control characters, found U+0009 at byte 1"},
		{"DEL in brand", line(map[string]any{"brand": "x\x7f"}), "lines[1].brand: must not contain control characters, found U+007F at byte 1"},
		{"C1 control in name", line(map[string]any{"name": "Caf\u0085"}), "lines[1].name: must not contain control characters, found U+0085 at byte 3"},
		{"name over 1024 bytes", line(map[string]any{"name": strings.Repeat("名", 342)}), "lines[1].name: at most 1024 bytes, got 1026"},
		{"brand over 1024 bytes", line(map[string]any{"brand": strings.Repeat("b", 1025)}), "lines[1].brand: at most 1024 bytes, got 1025"},
		{"NUL in coupon", func(m map[string]any) { m["coupons"] = []string{"A\x00"} }, "coupons[0]: must not contain control characters, found U+0000 at byte 1"},
		{"NUL in customer", func(m map[string]any) { m["customer"] = "4900123\x00456789" }, "customer: must not contain control characters, found U+0000 at byte 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(checkoutWith(t, tc.edit))
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeBadMessage || pe.Message != tc.msg {
				t.Fatalf("Decode: %v\nwant bad_message: %s", err, tc.msg)
			}
			if strings.Contains(pe.Message, "4900123") {
				t.Errorf("the error quotes the customer: %s", pe.Message)
			}
		})
	}
	for name, edit := range map[string]func(m map[string]any){
		"category of 1024 bytes":  line(map[string]any{"category": strings.Repeat("c", 1024)}),
		"discounts of 10^12":      applied([2]int64{6e11, 0}, [2]int64{4e11, 0}),
		"subtotal of 10^12":       line(map[string]any{"qty": 1, "price": 1e12 - 350}),
		"unicode text":            line(map[string]any{"name": "ブレンド M 100% ☕", "category": "コーヒー", "brand": "Ä"}),
		"replacement character":   line(map[string]any{"name": "\ufffd"}),
		"line total near 10^12":   line(map[string]any{"qty": 1000, "price": 1e9 - 1}),
		"points of 10^12 at once": applied([2]int64{0, 1e12}),
	} {
		if _, err := Decode(checkoutWith(t, edit)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestHelloRefusesControlCharacters(t *testing.T) {
	_, err := Decode([]byte(`{"v":1,"type":"hello","id":"h","model":"acme\nlevel=ERROR msg=forged","firmware":"1"}`))
	if err == nil || !strings.Contains(err.Error(), "model: must not contain control characters") {
		t.Fatalf("Decode: %v", err)
	}
}

func validEvents() []*Event {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	const key = "abcdefghijklmnopqrstuvwxyz"
	lines := []EventLine{{SKU: "COF-001", Qty: 2, Price: 350, Category: "coffee", Brand: "acme"}}
	return []*Event{
		{ID: "e1", Kind: EventCheckout, Store: "s001", At: at, Day: "2026-11-22", Terminal: "t01", Txn: "t1", Customer: key,
			Checkout: &CheckoutEvent{Lines: lines, Subtotal: 700, Discount: 280, Paid: 420, Currency: "JPY",
				Shown: []Shown{{Offer: "coffee-2-pastry", Redeemed: true}, {Offer: "coffee-2-pastry", Suggested: true}}}},
		{ID: "e2", Kind: EventRedemption, Store: "s001", At: at, Txn: "t1",
			Redemption: &RedemptionEvent{Offer: "coffee-2-pastry", Discount: 280, Segments: []string{"lapsed"}}},
		{ID: "e3", Kind: EventImpression, Store: "s001", At: at, Impression: &ImpressionEvent{Offer: "coffee-2-pastry"}},
		{ID: "e4", Kind: EventProfile, Store: "s001", At: at, Customer: key,
			Profile: &ProfileDelta{Visits: 1, Spend: 420, Day: "2026-11-22", Items: lines}},
		{ID: "e5", Kind: EventHeartbeat, Store: "s001", At: at, Day: "2026-11-23",
			Heartbeat: &Heartbeat{Agent: "1.0", Alarms: []string{"outbox_full"}, Zone: "Pacific/Kiritimati"}},
	}
}

func TestEventValidate(t *testing.T) {
	for _, e := range validEvents() {
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", e.Kind, err)
		}
	}
	for _, tc := range []struct {
		name string
		i    int
		edit func(e *Event)
		msg  string
	}{
		{"NUL in txn", 0, func(e *Event) { e.Txn = "t\x00" }, "invalid event e1: txn: must not contain control characters, found U+0000 at byte 1"},
		{"long category", 0, func(e *Event) { e.Checkout.Lines[0].Category = strings.Repeat("c", 1025) },
			"invalid event e1: checkout.lines[0].category: at most 1024 bytes, got 1025"},
		{"discount over 10^12", 0, func(e *Event) { e.Checkout.Discount = 1e12 + 1 },
			"invalid event e1: checkout.discount: must be at most 1000000000000, got 1000000000001"},
		{"lines over 10^12", 0, func(e *Event) {
			e.Checkout.Lines = append(e.Checkout.Lines, EventLine{SKU: "B", Qty: 1, Price: 1e12})
		}, "invalid event e1: checkout.lines[1].price: the sum of qty × price passes 1000000000000 here"},
		{"bad currency", 0, func(e *Event) { e.Checkout.Currency = "yen" }, "invalid event e1: checkout.currency: must be 3 uppercase letters"},
		{"bad terminal", 0, func(e *Event) { e.Terminal = "T 1" }, "invalid event e1: terminal: must be empty or a terminal id, 1 to 32 characters of a-z, 0-9 and -"},
		{"loyalty id", 0, func(e *Event) { e.Customer = "4900123456789" }, "invalid event e1: customer: must be empty or a customer_key"},
		{"bad id", 0, func(e *Event) { e.ID = "e\x001" }, "invalid event: id: must not contain control characters, found U+0000 at byte 1"},
		{"bad segment", 1, func(e *Event) { e.Redemption.Segments = []string{"a,b"} }, "invalid event e2: redemption.segments[0]: must be a segment id"},
		{"redemption points", 1, func(e *Event) { e.Redemption.Points = -1 }, "invalid event e2: redemption.points: must not be negative, got -1"},
		{"bad offer", 2, func(e *Event) { e.Impression.Offer = "Coffee!" },
			`invalid event e3: impression.offer: must be an offer id, 1 to 64 characters of a-z, 0-9 and -, got "Coffee!"`},
		{"item qty", 3, func(e *Event) { e.Profile.Items[0].Qty = 0 }, "invalid event e4: profile.items[0].qty: must be at least 1, got 0"},
		{"item brand", 3, func(e *Event) { e.Profile.Items[0].Brand = "\xff" }, "invalid event e4: profile.items[0].brand: not valid UTF-8 at byte 0"},
		{"bad day", 3, func(e *Event) { e.Profile.Day = "2026-02-30" }, "invalid event e4: profile.day: must be a date YYYY-MM-DD"},
		{"alarm", 4, func(e *Event) { e.Heartbeat.Alarms = []string{"a\nb"} },
			"invalid event e5: heartbeat.alarms[0]: must not contain control characters, found U+000A at byte 1"},
		{"kind", 4, func(e *Event) { e.Kind = "other" }, "invalid event e5: kind: must be redemption, impression, checkout, profile, heartbeat or discrepancy"},
		{"day two days off", 0, func(e *Event) { e.Day = "2026-11-24" },
			"invalid event e1: day: must be the date YYYY-MM-DD of at in some time zone (its UTC date, the day before or the day after)"},
		{"day not a date", 1, func(e *Event) { e.Day = "2026-11-31" },
			"invalid event e2: day: must be the date YYYY-MM-DD of at in some time zone (its UTC date, the day before or the day after)"},
		{"shown twice", 0, func(e *Event) { e.Checkout.Shown = append(e.Checkout.Shown, Shown{Offer: "coffee-2-pastry"}) },
			"invalid event e1: checkout.shown[2]: offer coffee-2-pastry is listed twice"},
		{"shown bad offer", 0, func(e *Event) { e.Checkout.Shown[1].Offer = "Coffee" },
			`invalid event e1: checkout.shown[1].offer: must be an offer id, 1 to 64 characters of a-z, 0-9 and -, got "Coffee"`},
		{"shown too many", 0, func(e *Event) {
			e.Checkout.Shown = nil
			for i := range MaxShown + 1 {
				e.Checkout.Shown = append(e.Checkout.Shown, Shown{Offer: fmt.Sprint("o", i)})
			}
		}, "invalid event e1: checkout.shown: at most 1024 offers"},
		{"zone Local", 4, func(e *Event) { e.Heartbeat.Zone = "Local" },
			"invalid event e5: heartbeat.zone: must be an IANA time zone name such as Asia/Tokyo"},
		{"zone path", 4, func(e *Event) { e.Heartbeat.Zone = "../etc/passwd" },
			"invalid event e5: heartbeat.zone: must be an IANA time zone name such as Asia/Tokyo"},
	} {
		e := validEvents()[tc.i]
		tc.edit(e)
		err := e.Validate()
		if err == nil || err.Error() != tc.msg || !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: %v\nwant %s", tc.name, err, tc.msg)
		}
	}
}

// What HQ's ingest logs when it refuses an event names the event and the
// field at fault.
func TestDecodeEventNamesTheField(t *testing.T) {
	for in, want := range map[string]string{
		`{"id":"e1","kind":"checkout","store":"s001","at":"2026-11-22T10:00:00Z","txn":"t\u0000","checkout":{"lines":[]}}`:                                                                                                                      "decode event: invalid event e1: txn: must not contain control characters, found U+0000 at byte 1",
		`{"id":"e2","kind":"checkout","store":"s001","at":"2026-11-22T10:00:00Z","txn":"t","checkout":{"discount":1000000000001}}`:                                                                                                              "decode event: invalid event e2: checkout.discount: must be at most 1000000000000, got 1000000000001",
		`{"id":"e3","kind":"profile","store":"s001","at":"2026-11-22T10:00:00Z","customer":"abcdefghijklmnopqrstuvwxyz","profile":{"day":"2026-11-22","items":[{"sku":"A","qty":1,"price":1,"category":"` + strings.Repeat("c", 1025) + `"}]}}`: "decode event: invalid event e3: profile.items[0].category: at most 1024 bytes, got 1025",
		`{"id":"e4","kind":"checkout","store":"s001","at":"2026-11-22T10:00:00Z","txn":"t","checkout":{"lines":[{"sku":"4111111111111111","qty":1,"price":1}]}}`:                                                                                "decode event: invalid event e4: it carries a payment card number",
	} {
		_, err := DecodeEvent([]byte(in))
		if err == nil || err.Error() != want || !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("DecodeEvent: %v\nwant %s", err, want)
		}
	}
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"catalog refused: 2 problems:\noffer a: x\noffer b: y": "catalog refused: 2 problems: offer a: x offer b: y",
		"bad \xff byte, NUL \x00, C1 \u0085":                   "bad \ufffd byte, NUL  , C1  ",
		"ok ☕":                                                 "ok ☕",
	} {
		if got := CleanText(in, MaxTextLen); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
		if text("alarm", CleanText(in, MaxTextLen), MaxTextLen) != nil {
			t.Errorf("CleanText(%q) is not text", in)
		}
	}
	long := strings.Repeat("名", 400) // 1,200 bytes
	got := CleanText(long, MaxTextLen)
	if len(got) != 1023 || text("alarm", got, MaxTextLen) != nil {
		t.Errorf("CleanText of 1,200 bytes: %d bytes, %v", len(got), text("alarm", got, MaxTextLen))
	}
}

func TestMinorUnit(t *testing.T) {
	for code, want := range map[string]int{"JPY": 0, "EUR": 2, "USD": 2, "KWD": 3, "GBP": 2, "KRW": 0} {
		if got, err := MinorUnit(code); got != want || err != nil {
			t.Errorf("MinorUnit(%s) = %d, %v; want %d", code, got, err, want)
		}
	}
	for _, code := range []string{"", "jpy", "YEN", "ZZZ", "EURO"} {
		if _, err := MinorUnit(code); err == nil {
			t.Errorf("MinorUnit(%q): no error", code)
		}
	}
}
