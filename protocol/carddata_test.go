package protocol

import (
	"fmt"
	"strings"
	"testing"
)

// Test card numbers the card schemes and processors publish for testing.
var testPANs = []string{
	"4111111111111111", "4012888888881881", "4242424242424242", "4000056655665556", // Visa
	"5555555555554444", "5105105105105100", "5200828282828210", "2223003122003222", // Mastercard
	"378282246310005", "371449635398431", "378734493671000", // American Express
	"6011111111111117", "6011000990139424", "6011981111111113", // Discover
	"3530111333300000", "3566002020360505", // JCB
	"3056930009020004",                     // Diners Club, 16 digits
	"6200000000000005", "6200000000000047", // UnionPay
	"6759649826438453", // Maestro
}

// withCheckDigit completes a card number with its Luhn check digit.
func withCheckDigit(body string) string {
	for d := '0'; d <= '9'; d++ {
		if s := body + string(d); luhn([]byte(s)) {
			return s
		}
	}
	panic("unreachable")
}

// grouped writes a 19-digit number as 4-4-4-4-3.
func grouped(pan string) string {
	return pan[:4] + " " + pan[4:8] + " " + pan[8:12] + " " + pan[12:16] + " " + pan[16:]
}

func TestContainsCardData(t *testing.T) {
	const (
		track1 = "%B4111111111111111^DOE/JOHN^2512101000000000000000000?"
		track2 = ";4111111111111111=25121010000000000000?"
		// A card number that fails the Luhn check: only the track's
		// structure gives it away.
		notLuhn = "4111111111111112"
	)
	cases := []struct {
		name string
		in   string
		want bool
	}{
		{"track 1", track1, true},
		{"track 2", track2, true},
		{"both tracks, as a reader sends them", track1 + track2, true},
		{"track 1 in a basket", `{"v":1,"type":"basket","customer":"` + track1 + `","lines":[]}`, true},
		{"track 2 in a sku", `{"lines":[{"sku":"` + track2 + `","qty":1}]}`, true},
		{"track 1, 12 digits, empty name", "%B411111111111^^2512?", true},
		{"track 1, 19 digits", "%B4111111111111111111^A B^25?", true},
		{"track 2, 13 digits", ";4111111111111=2512?", true},
		{"track 2 at 40 characters", ";" + strings.Repeat("4", 19) + "=" + strings.Repeat("1", 18) + "?", true},
		{"after a false start", "%B12^;%B4111111111111111^DOE/JOHN^2512?", true},

		// The reported bypass, and the other sentinel-less forms.
		{"track 1, no end sentinel", "%B4111111111111111^DOE/JOHN^2512101000", true},
		{"track 1, no end sentinel, not Luhn", "%B" + notLuhn + "^DOE/JOHN^2512101000", true},
		{"track 1, no sentinels", "B" + notLuhn + "^DOE/JOHN^2512101000000", true},
		{"track 1, no start sentinel", "B" + notLuhn + "^DOE/JOHN^2512101000000?", true},
		{"track 1, 13 digits, no sentinels", "B4222222222222^DOE/JOHN^2512101", true},
		{"track 1, lowercase b", "%b4111111111111111^DOE/JOHN^2512?", true}, // the bare number
		{"track 1 in an item name", `{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":[{"sku":"A","qty":1,"price":1,"name":"B` +
			notLuhn + `^DOE/JOHN^2512101"}]}`, true},
		{"track 2, no end sentinel", ";4111111111111111=2512101", true},
		{"track 2, no sentinels", "4111111111111111=25121010000000000000", true},
		{"track 2, no sentinels, 13 digits", "x4222222222222=2512101000", true},
		{"track 2 in an item name", `{"lines":[{"sku":"A","qty":1,"price":1,"name":"4111111111111111=2512101000"}]}`, true},

		// Bare card numbers.
		{"in a customer field", `{"v":1,"type":"checkout","customer":"4111111111111111"}`, true},
		{"as a JSON number", `{"lines":[{"sku":"A","qty":1,"price":5555555555554444}]}`, true},
		{"after letters", "SKU4111111111111111", true},
		{"in key=value", "TYP=CHK\x1cMBR=4111111111111111\x1cPAID=1", true},
		{"grouped by spaces", "card 4111 1111 1111 1111 ok", true},
		{"grouped by dashes", "5555-5555-5555-4444", true},
		{"Amex grouped 4-6-5", "3782 822463 10005", true},
		{"19 digits grouped 4-4-4-4-3", grouped(withCheckDigit("620000000000000000")), true},
		{"Visa, 19 digits", withCheckDigit("411111111111111111"), true},
		{"UnionPay, 19 digits", withCheckDigit("620000000000000000"), true},
		{"Mir", withCheckDigit("220000000000000"), true},
		{"Troy", withCheckDigit("979200000000000"), true},

		{"full-width digits", `{"name":"カード ４１１１１１１１１１１１１１１１"}`, true},
		{"full-width, grouped", "５５５５ ５５５５ ５５５５ ４４４４", true},
		{"full-width and ASCII mixed", "４１１１111111111111", true},
		{"full-width JAN", `{"name":"ＪＡＮ ４９０１２３４５６７８９４"}`, false},

		{"ordinary basket", basketJSON, false},
		{"prices", `{"lines":[{"sku":"A","qty":2,"price":350},{"sku":"B","qty":1,"price":4111111111111}]}`, false},
		{"empty", "", false},
		{"percent in text", `{"name":"100% juice; 1L","text":"10% off; 2=1?"}`, false},
		{"track 1, 11 digits", "%B41111111111^DOE/JOHN^2512?", false},
		{"track 1, 20 digits", "%B41111111111111111111^DOE/JOHN^2512?", false},
		{"track 1, no expiry", "B" + notLuhn + "^DOE/JOHN^", false},
		{"track 1, one caret", "%B" + notLuhn + "^DOE/JOHN 2512?", false},
		{"track 1, name too long", "%B" + notLuhn + "^" + strings.Repeat("A", 27) + "^2512?", false},
		{"track 1, lowercase name", "%B" + notLuhn + "^doe/john^2512?", false},
		{"track 2, 11 digits", ";41111111111=2512?", false},
		{"track 2, 20 digits", ";41111111111111111111=2512?", false},
		{"track 2, letters", ";" + notLuhn + "=25AB?", false},
		{"track 2, no sentinels, not Luhn", notLuhn + "=25121010000000000000", false},
		{"track 2, no sentinels, short", "4111111111111111=25?"[1:], false},
		{"track 2, longer than 40", ";" + strings.Repeat("4", 19) + "=" + strings.Repeat("1", 19) + "?", false},
		{"key=value payload", "type=basket;sku=4901234567894;qty=2;price=350", false},
		{"not Luhn", notLuhn, false},
		{"Luhn, but no scheme starts with 1", withCheckDigit("100000000000000"), false},
		{"Luhn, but no scheme starts with 7", withCheckDigit("700000000000000"), false},
		{"Luhn, 15 digits, but not Amex", withCheckDigit("41111111111111"), false},
		{"Amex prefix, 16 digits", withCheckDigit("378282246310005"), false},
		{"inside a 20-digit run", "4111111111111111" + "0000", false},
		{"grouped 8-8", "49123456 49876543", false},
		{"grouped 4-4-4-4, not Luhn", "4111 1111 1111 1112", false},
		{"mixed separators", "4111 1111-1111 1111", false},
		{"unix microseconds", `{"at_us":1764756000000000}`, false},
		{"UUID with decimal groups", `{"id":"0190abcd-4111-1111-1111-1111abcdef01"}`, false},
		{"UUID ending in decimal groups", `{"id":"0190abcd-ef01-4111-1111-111111111111"}`, false},
		{"grouped after a dash and a word", "ref-4111 1111 1111 1111", false},
		{"grouped, then letters", "4111 1111 1111 1111abc", false},
		{"grouped in JSON", `{"name":"4111-1111-1111-1111"}`, true},
		{"RFC 3339 time", `{"ts":"2026-11-22T10:00:00.123456789Z"}`, false},
	}
	for _, tc := range cases {
		if got := ContainsCardData([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: ContainsCardData(%q) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
	for _, pan := range testPANs {
		if !luhn([]byte(pan)) {
			t.Fatalf("test PAN %s fails the Luhn check: the list is wrong", pan)
		}
		for _, in := range []string{pan, `{"customer":"` + pan + `"}`, "x" + pan + "y", `{"price":` + pan + `}`} {
			if !ContainsCardData([]byte(in)) {
				t.Errorf("ContainsCardData(%q) = false", in)
			}
		}
	}
}

// gtinValid reports whether s has a valid GS1 check digit (GTIN-8, -12,
// -13 or -14).
func gtinValid(s string) bool {
	sum := 0
	for i := range len(s) - 1 {
		w := 1
		if (len(s)-1-i)%2 == 1 {
			w = 3
		}
		sum += int(s[i]-'0') * w
	}
	return int(s[len(s)-1]-'0') == (10-sum%10)%10
}

// gtinWithCheckDigit completes a GTIN body with its check digit.
func gtinWithCheckDigit(body string) string {
	for d := '0'; d <= '9'; d++ {
		if s := body + string(d); gtinValid(s) {
			return s
		}
	}
	panic("unreachable")
}

// Product codes of every GTIN length, in every place a terminal puts
// them, are never taken for card numbers.
func TestProductCodesAreNotCards(t *testing.T) {
	codes := []string{
		// GTIN-8 (EAN-8).
		"96385074", "40170725", "49123456",
		// GTIN-12 (UPC-A).
		"036000291452", "012345678905", "042100005264", "885909950805", "190198457325",
		// GTIN-13: JAN codes (45, 49) and EAN-13 from elsewhere.
		"4901234567894", "4987035082217", "4901777018686", "4902102072618", "4549995044195",
		"4511413302286", "4580001630018", "5901234123457", "9780306406157", "2012345003989",
		// GTIN-14.
		"04901234567894", "14901234567891", "10012345678902", "24987035082211",
	}
	// Every JAN with a 45 or 49 prefix over a range of item references:
	// about one in ten passes the Luhn check too.
	luhnJANs := 0
	for _, prefix := range []string{"45", "49"} {
		for i := range 2000 {
			jan := gtinWithCheckDigit(fmt.Sprintf("%s%010d", prefix, 123456789+i*7919))
			codes = append(codes, jan, "0"+jan)
			if luhn([]byte(jan)) {
				luhnJANs++
			}
		}
	}
	if luhnJANs < 200 {
		t.Fatalf("only %d generated JANs pass the Luhn check: the test does not cover them", luhnJANs)
	}
	for _, code := range codes {
		if !gtinValid(code) {
			t.Fatalf("%s is not a valid GTIN: the list is wrong", code)
		}
		for _, in := range []string{
			code,
			`{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":[{"sku":"` + code + `","qty":2,"price":350}]}`,
			`{"lines":[{"sku":"` + code + `","qty":1,"price":1},{"sku":"` + code + `","qty":1,"price":1}]}`,
			"L1.JAN=" + code + "\x1cL1.QTY=3\x1cL2.JAN=" + code,
			"(01)" + code + "(17)251231",
			code + " " + code,
			code + "-" + code,
		} {
			if ContainsCardData([]byte(in)) {
				t.Errorf("product code %s taken for card data in %q", code, in)
			}
		}
	}
}

func FuzzContainsCardData(f *testing.F) {
	f.Add([]byte("%B4111111111111111^DOE/JOHN^2512101000"))
	f.Add([]byte("4111 1111 1111 1111"))
	f.Add([]byte(basketJSON))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := ContainsCardData(b)
		// A card number stays card data whatever surrounds it.
		if got && !ContainsCardData(append(append([]byte(`{"name":"`), b...), `"}`...)) {
			t.Errorf("found in %q, not once quoted", b)
		}
	})
}

func BenchmarkContainsCardData(b *testing.B) {
	in := basket50()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if ContainsCardData(in) {
			b.Fatal("card data in a basket")
		}
	}
}
