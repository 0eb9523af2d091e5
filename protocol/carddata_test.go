package protocol

import (
	"strings"
	"testing"
)

func TestContainsCardData(t *testing.T) {
	const (
		track1 = "%B4111111111111111^DOE/JOHN^2512101000000000000000000?"
		track2 = ";4111111111111111=25121010000000000000?"
	)
	for _, tc := range []struct {
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

		{"ordinary basket", basketJSON, false},
		{"prices", `{"lines":[{"sku":"A","qty":2,"price":350},{"sku":"B","qty":1,"price":4111111111111}]}`, false},
		{"empty", "", false},
		{"percent in text", `{"name":"100% juice; 1L","text":"10% off; 2=1?"}`, false},
		{"track 1, 11 digits", "%B41111111111^DOE/JOHN^2512?", false},
		{"track 1, 20 digits", "%B41111111111111111111^DOE/JOHN^2512?", false},
		{"track 1, lowercase b", "%b4111111111111111^DOE/JOHN^2512?", false},
		{"track 1, no end sentinel", "%B4111111111111111^DOE/JOHN^2512101000", false},
		{"track 1, one caret", "%B4111111111111111^DOE/JOHN 2512?", false},
		{"track 1, name too long", "%B4111111111111111^" + strings.Repeat("A", 27) + "^2512?", false},
		{"track 1, lowercase name", "%B4111111111111111^doe/john^2512?", false},
		{"track 1, longer than 79", "%B4111111111111111^DOE/JOHN^" + strings.Repeat("0", 60) + "?", false},
		{"track 2, 11 digits", ";41111111111=2512?", false},
		{"track 2, 20 digits", ";41111111111111111111=2512?", false},
		{"track 2, no end sentinel", ";4111111111111111=2512101", false},
		{"track 2, letters", ";4111111111111111=25AB?", false},
		{"track 2, longer than 40", ";" + strings.Repeat("4", 19) + "=" + strings.Repeat("1", 19) + "?", false},
		{"track 2, no start sentinel", "4111111111111111=25121010000000000000?", false},
		{"key=value payload", "type=basket;sku=4901234567894;qty=2;price=350", false},
	} {
		if got := ContainsCardData([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: ContainsCardData(%q) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
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
