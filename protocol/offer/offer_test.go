package offer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

var noon = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// TestIndexMatchesScan checks the index against its reference: for random
// catalogs and baskets, evaluating the offers the index names gives exactly
// what evaluating every offer gives.
func TestIndexMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := world{skus: 30, categories: 6, brands: 8}
	applied, nudged := 0, 0
	for round := range 40 {
		offers := make([]any, 60)
		for i := range offers {
			offers[i] = w.offer(r, i)
		}
		c := mustCatalog(t, offers)
		for range 50 {
			b := w.basket(r, 1+r.IntN(12))
			in := &Input{Basket: b, Now: noon, Customer: &Customer{}, MaxNudges: 100}
			got, err := c.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			in.scan = true
			want, err := c.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: index and scan differ for basket %+v\nindex: %+v\nscan:  %+v", round, b.Lines, got, want)
			}
			checkInvariants(t, b, got)
			in.scan = false
			checkReach(t, c, in, got)
			applied += len(got.Offers)
			nudged += len(got.Nudges)
		}
	}
	if applied < 1000 || nudged < 200 {
		t.Fatalf("only %d offers and %d nudges in 2000 baskets: the generator no longer exercises the engine", applied, nudged)
	}
	t.Logf("%d offers applied, %d nudges", applied, nudged)
}

// checkInvariants asserts what holds of every result: discounts are
// positive and within the basket, a phase-1 offer's lines add up to its
// discount and never discount more units than a line has, and no unit
// takes two phase-1 rewards.
func checkInvariants(t *testing.T, b *protocol.Message, res *Result) {
	t.Helper()
	subtotal := int64(0)
	for _, l := range b.Lines {
		subtotal += l.Qty * l.Price
	}
	total := int64(0)
	used := make([]int64, len(b.Lines))
	seen := map[string]bool{}
	for _, o := range res.Offers {
		if seen[o.ID] {
			t.Fatalf("offer %s returned twice", o.ID)
		}
		seen[o.ID] = true
		if o.Discount < 0 || o.Points < 0 || o.Discount == 0 && o.Points == 0 {
			t.Fatalf("offer %s: discount %d points %d", o.ID, o.Discount, o.Points)
		}
		total += o.Discount
		if len(o.Lines) == 0 {
			continue
		}
		sum := int64(0)
		for _, l := range o.Lines {
			sum += l.Discount
			used[l.Line] += l.Qty
			if l.Discount > l.Qty*b.Lines[l.Line].Price {
				t.Fatalf("offer %s: line %d discount %d above its %d units' price", o.ID, l.Line, l.Discount, l.Qty)
			}
		}
		if sum != o.Discount {
			t.Fatalf("offer %s: lines add up to %d, discount is %d", o.ID, sum, o.Discount)
		}
	}
	if total > subtotal {
		t.Fatalf("discounts %d above subtotal %d", total, subtotal)
	}
	for i, u := range used {
		if u > b.Lines[i].Qty {
			t.Fatalf("line %d: %d units discounted of %d", i, u, b.Lines[i].Qty)
		}
	}
	for _, n := range res.Nudges {
		if seen[n.Offer] {
			t.Fatalf("offer %s both applies and nudges", n.Offer)
		}
		if (n.Missing.Qty > 0) == (n.Missing.Spend > 0) || n.Missing.Qty > 2 {
			t.Fatalf("nudge %s: missing %+v", n.Offer, n.Missing)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, offer string
		want        []string
	}{
		{"unknown field", `{"id":"a","status":"active","reward":{"type":"points","points":1},"colour":"red"}`, []string{`offer "a"`, "colour: unknown field"}},
		{"nested unknown field", `{"id":"a","status":"active","reward":{"type":"percent_off","percent":5,"target":{"skus":["X"],"skuz":["Y"]}}}`, []string{"reward.target.skuz: unknown field"}},
		{"bad id", `{"id":"Coffee","status":"active","reward":{"type":"points","points":1}}`, []string{"offers[0]", "id: must be 1 to 64"}},
		{"empty id", `{"id":"","status":"active","reward":{"type":"points","points":1}}`, []string{"offers[0]", "id: must be 1 to 64"}},
		{"negative amount", `{"id":"a","status":"active","reward":{"type":"amount_off","amount":-5}}`, []string{`offer "a"`, "reward.amount: must not be negative"}},
		{"fractional amount", `{"id":"a","status":"active","reward":{"type":"amount_off","amount":1.5}}`, []string{"reward.amount: must be a whole number, got 1.5"}},
		{"unknown reward", `{"id":"a","status":"active","reward":{"type":"bogo"}}`, []string{`reward.type: unknown reward type "bogo"`}},
		{"no reward", `{"id":"a","status":"active"}`, []string{"reward: required"}},
		{"percent over 100", `{"id":"a","status":"active","reward":{"type":"percent_off","percent":120}}`, []string{"reward.percent: must be above 0 and at most 100"}},
		{"two keys", `{"id":"a","status":"active","condition":{"spend":{"min":1},"coupon":{"code":"X"}},"reward":{"type":"points","points":1}}`, []string{"condition: a condition has exactly one key", "coupon, spend"}},
		{"unknown condition", `{"id":"a","status":"active","condition":{"weather":{}},"reward":{"type":"points","points":1}}`, []string{"condition.weather: unknown condition"}},
		{"history in offer", `{"id":"a","status":"active","condition":{"all":[{"history":{"min_qty":1}}]},"reward":{"type":"points","points":1}}`, []string{"condition.all[0].history: only allowed in segments"}},
		{"empty any", `{"id":"a","status":"active","condition":{"any":[]},"reward":{"type":"points","points":1}}`, []string{"condition.any: must hold at least one"}},
		{"empty target", `{"id":"a","status":"active","reward":{"type":"percent_off","percent":5,"target":{}}}`, []string{"reward.target: a target must name"}},
		{"bad day", `{"id":"a","status":"active","schedule":{"days":["funday"]},"reward":{"type":"points","points":1}}`, []string{"schedule.days[0]: must be one of mon"}},
		{"empty window", `{"id":"a","status":"active","schedule":{"from":"10:00","until":"10:00"},"reward":{"type":"points","points":1}}`, []string{"schedule.until: must differ from from"}},
		{"bad status", `{"id":"a","status":"live","reward":{"type":"points","points":1}}`, []string{`status: must be draft, active, paused or ended, got "live"`}},
		{"string qty", `{"id":"a","status":"active","reward":{"type":"free_item","target":{"skus":["X"]},"qty":"2"}}`, []string{`reward.qty: must be a whole number, got "2"`}},
		{"tier with both", `{"id":"a","status":"active","reward":{"type":"tiered_spend","tiers":[{"min_spend":1,"amount":1,"percent":5}]}}`, []string{"reward.tiers[0]: give exactly one of amount and percent"}},
		{"null parts", `{"id":"a","status":"active","reward":{"type":"buy_x_get_y","buy":null,"get":null}}`, []string{"reward.buy: required", "reward.get: required"}},
		{"null price", `{"id":"a","status":"active","reward":{"type":"bundle_price","items":[{"skus":["A"],"qty":2}],"price":null}}`, []string{"reward.price: required"}},
		{"null target", `{"id":"a","status":"active","reward":{"type":"free_item","target":null}}`, []string{"reward.target: required"}},
		{"null reward", `{"id":"a","status":"active","reward":null}`, []string{"reward: required"}},
		{"valid_until before valid_from", `{"id":"a","status":"active","valid_from":"2026-12-01T00:00:00Z","valid_until":"2026-11-01T00:00:00Z","reward":{"type":"points","points":1}}`, []string{"valid_until: must be after valid_from"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(`{"version":1,"offers":[` + tc.offer + `]}`))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseListsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`{"version":1,"offers":[
		{"id":"a","status":"active","reward":{"type":"bogo"}},
		{"id":"b","status":"active","reward":{"type":"points","points":1},"colour":1},
		{"id":"a","status":"active","reward":{"type":"points","points":1}}]}`))
	for _, w := range []string{"3 problems", `offer "a": reward.type`, `offer "b": colour`, `offer "a": id: duplicate offer id`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}

func TestParseYAMLMatchesJSON(t *testing.T) {
	y := `
version: 1
revision: 7
offers:
  - id: coffee-10
    status: active
    valid_from: 2026-11-01T00:00:00Z
    condition: {items: {categories: [coffee], min_qty: 2}}
    reward: {type: percent_off, percent: 12.5, target: {categories: [coffee]}}
`
	j := `{"version":1,"revision":7,"offers":[{"id":"coffee-10","status":"active","valid_from":"2026-11-01T00:00:00Z",
		"condition":{"items":{"categories":["coffee"],"min_qty":2}},
		"reward":{"type":"percent_off","percent":12.5,"target":{"categories":["coffee"]}}}]}`
	cy, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	cj, err := Parse([]byte(j))
	if err != nil {
		t.Fatal(err)
	}
	b := &protocol.Message{Lines: []protocol.Line{{SKU: "A", Qty: 2, Price: 333, Category: "coffee"}}}
	ry, _ := cy.Evaluate(&Input{Basket: b, Now: noon})
	rj, _ := cj.Evaluate(&Input{Basket: b, Now: noon})
	if !reflect.DeepEqual(ry, rj) || cy.Revision != 7 || len(ry.Offers) != 1 || ry.Offers[0].Discount != 83 {
		t.Fatalf("yaml %+v, json %+v; want one offer of 83 (12.5%% of 666, rounded down)", ry, rj)
	}
}

func TestScheduleOpen(t *testing.T) {
	fri := uint8(1 << time.Friday)
	for _, tc := range []struct {
		s    schedule
		wd   time.Weekday
		at   string
		want bool
	}{
		{schedule{days: 0x7f, from: 6 * 60, until: 11 * 60}, time.Monday, "06:00", true},
		{schedule{days: 0x7f, from: 6 * 60, until: 11 * 60}, time.Monday, "11:00", false},
		{schedule{days: 0x7f, from: 6 * 60, until: 11 * 60}, time.Monday, "05:59", false},
		{schedule{days: fri, from: 22 * 60, until: 2 * 60}, time.Friday, "22:00", true},
		{schedule{days: fri, from: 22 * 60, until: 2 * 60}, time.Saturday, "01:30", true},
		{schedule{days: fri, from: 22 * 60, until: 2 * 60}, time.Saturday, "02:00", false},
		{schedule{days: fri, from: 22 * 60, until: 2 * 60}, time.Friday, "01:30", false},
		{schedule{days: fri, from: 22 * 60, until: 2 * 60}, time.Saturday, "22:30", false},
		{schedule{days: fri, from: 0, until: 24 * 60}, time.Friday, "23:59", true},
	} {
		m, _ := clock(tc.at)
		if got := tc.s.open(tc.wd, m); got != tc.want {
			t.Errorf("%+v open(%v %s) = %v, want %v", tc.s, tc.wd, tc.at, got, tc.want)
		}
	}
}

func TestDayNumber(t *testing.T) {
	for _, s := range []string{"1970-01-01", "2000-02-29", "2026-11-22", "2400-12-31", "1969-12-31"} {
		n, ok := dayNumber(s)
		want, _ := time.Parse("2006-01-02", s)
		if !ok || n != want.Unix()/86400 {
			t.Errorf("dayNumber(%s) = %d, %v; want %d", s, n, ok, want.Unix()/86400)
		}
	}
	for _, s := range []string{"2026-02-29", "2026-13-01", "2026-1-01", "", "abcd-ef-gh"} {
		if _, ok := dayNumber(s); ok {
			t.Errorf("dayNumber(%q) accepted", s)
		}
	}
}

func TestAllocateShares(t *testing.T) {
	// 100 off three lines of 1, 1 and 1: 33 each, the minor unit left goes
	// to the lowest line among equal remainders.
	u := &units{}
	u.reset(3)
	for i := range 3 {
		u.price[i], u.rem[i] = 100, 1
		u.taken[i] = 1
		u.touched = append(u.touched, int32(i))
	}
	u.allocate(100, u.taken, 1)
	if got := u.lineDisc; !reflect.DeepEqual(got, []int64{34, 33, 33}) {
		t.Fatalf("shares %v, want [34 33 33]", got)
	}
}

func TestMulDivOverflow(t *testing.T) {
	q, r := mulDiv(MaxSubtotal, 9999, 10000)
	if q != 999_900_000_000_000 || r != 0 {
		t.Fatalf("mulDiv = %d, %d", q, r)
	}
	if q, _ := mulDiv(1<<62, 1<<10, 1<<20); q != 1<<52 {
		t.Fatalf("mulDiv past 64 bits = %d, want %d", q, int64(1<<52))
	}
}

func TestHugeQuantity(t *testing.T) {
	c := mustCatalog(t, []any{map[string]any{"id": "b1g1", "status": "active",
		"reward": map[string]any{"type": "buy_x_get_y", "buy": map[string]any{"skus": []string{"A"}, "qty": 1},
			"get": map[string]any{"skus": []string{"A"}, "qty": 1}}}})
	b := &protocol.Message{Lines: []protocol.Line{{SKU: "A", Qty: MaxQty, Price: 10}, {SKU: "A", Qty: 3, Price: 10}}}
	res, err := c.Evaluate(&Input{Basket: b, Now: noon})
	if err != nil {
		t.Fatal(err)
	}
	// 1,000,003 units at 10: 500,001 applications each free one unit.
	if len(res.Offers) != 1 || res.Offers[0].Discount != 5_000_010 {
		t.Fatalf("got %+v, want one offer of 5000010", res.Offers)
	}
}

func TestEvaluateRefusesOverflow(t *testing.T) {
	c := mustCatalog(t, []any{map[string]any{"id": "p", "status": "active", "reward": map[string]any{"type": "percent_off", "percent": 5}}})
	var lines []protocol.Line
	for range 2000 {
		lines = append(lines, protocol.Line{SKU: "A", Qty: MaxQty, Price: MaxAmount})
	}
	if _, err := c.Evaluate(&Input{Basket: &protocol.Message{Lines: lines}, Now: noon}); !errors.Is(err, ErrBasket) {
		t.Fatalf("err = %v, want ErrBasket", err)
	}
}

func TestSegmentsOf(t *testing.T) {
	c, err := Parse([]byte(`{"version":1,"segments":[
		{"id":"lapsed","when":{"customer":{"days_since_last_visit_min":30}}},
		{"id":"coffee-fan","when":{"history":{"categories":["coffee"],"min_qty":3,"within_days":7}}},
		{"id":"new","when":{"customer":{"first_visit":true}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p := &Profile{Visits: 3, LastVisit: "2026-10-20", History: []HistoryDay{
		{Day: "2026-11-17", Items: []HistoryItem{{SKU: "C1", Category: "coffee", Qty: 2}}},
		{Day: "2026-11-16", Items: []HistoryItem{{SKU: "C1", Category: "coffee", Qty: 5}}},
		{Day: "2026-11-23", Items: []HistoryItem{{SKU: "C2", Category: "coffee", Qty: 1}}},
	}}
	// 2026-11-23 in Tokyo: the 17th is inside the last 7 days, the 16th
	// is not: 2 + 1 coffees.
	got := c.SegmentsOf(p, noon, time.FixedZone("JST", 9*3600))
	if want := []string{"lapsed", "coffee-fan"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	if got := c.SegmentsOf(nil, noon, time.UTC); !reflect.DeepEqual(got, []string{"new"}) {
		t.Fatalf("segments of a new customer %v, want [new]", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"offers":[{"id":"a","status":"active","condition":{"all":[{"items":{"skus":["X"],"min_qty":2}},{"not":{"coupon":{"code":"Q"}}}]},"reward":{"type":"buy_x_get_y","buy":{"skus":["X"],"qty":1},"get":{"skus":["X"],"qty":1}}}]}`))
	f.Add([]byte("version: 1\noffers:\n  - {id: b, status: active, reward: {type: tiered_spend, tiers: [{min_spend: 10, amount: 1}]}}\n"))
	f.Add([]byte(`{"version":1,"segments":[{"id":"s","when":{"history":{"brands":["b"],"within_days":3}}}]}`))
	f.Add([]byte(`{"version":1,"offers":[{"id":"n","status":"active","condition":{"spend":{"min":1,"max":null}},"reward":{"type":"buy_x_get_y","buy":{"skus":["X"],"qty":1},"get":null}}]}`))
	b := &protocol.Message{Coupons: []string{"q"}, Lines: []protocol.Line{
		{SKU: "X", Qty: 3, Price: 100, Category: "c", Brand: "b"}, {SKU: "Y", Qty: 1, Price: 0}}}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		in := &Input{Basket: b, Now: noon, Customer: &Customer{Profile: &Profile{}}}
		res, err := c.Evaluate(in)
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, b, res)
		checkReach(t, c, in, res)
		in.scan = true
		if scan, _ := c.Evaluate(in); !reflect.DeepEqual(res, scan) {
			t.Fatalf("index %+v, scan %+v", res, scan)
		}
	})
}

func FuzzEvaluate(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	w := world{skus: 12, categories: 3, brands: 4}
	offers := make([]any, 40)
	for i := range offers {
		offers[i] = w.offer(r, i)
	}
	c := mustCatalog(f, offers)
	f.Add([]byte{1, 2, 3, 4, 5, 6})
	f.Add([]byte{0, 0, 0, 9, 9, 9, 200, 100, 3})
	f.Fuzz(func(t *testing.T, seed []byte) {
		// Each three bytes make a line: product, qty, price.
		b := &protocol.Message{}
		for i := 0; i+2 < len(seed) && len(b.Lines) < 50; i += 3 {
			n := int(seed[i]) % w.skus
			b.Lines = append(b.Lines, protocol.Line{SKU: fmt.Sprintf("S%d", n), Category: fmt.Sprintf("C%d", n%w.categories),
				Brand: fmt.Sprintf("B%d", (n/7)%w.brands), Qty: 1 + int64(seed[i+1]%8), Price: int64(seed[i+2]) * 7})
		}
		in := &Input{Basket: b, Now: noon, Customer: &Customer{}, MaxNudges: 100}
		res, err := c.Evaluate(in)
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, b, res)
		checkReach(t, c, in, res)
		in.scan = true
		if scan, _ := c.Evaluate(in); !reflect.DeepEqual(res, scan) {
			t.Fatalf("index %+v, scan %+v", res, scan)
		}
	})
}

func ExampleCatalog_Evaluate() {
	c, err := Parse([]byte(`{"version": 1, "revision": 3, "offers": [
	  {"id": "coffee-2-pastry", "status": "active", "text": "Free pastry with 2 coffees",
	   "condition": {"items": {"categories": ["coffee"], "min_qty": 2}},
	   "reward": {"type": "free_item", "target": {"categories": ["pastry"]}, "qty": 1}}]}`))
	if err != nil {
		panic(err)
	}
	basket := &protocol.Message{Lines: []protocol.Line{
		{SKU: "COF-001", Qty: 1, Price: 350, Category: "coffee"},
		{SKU: "PAS-001", Qty: 1, Price: 280, Category: "pastry"},
	}}
	res, err := c.Evaluate(&Input{Basket: basket, Now: time.Now()})
	if err != nil {
		panic(err)
	}
	out, _ := json.Marshal(res.Nudges)
	fmt.Println(string(out))

	basket.Lines[0].Qty = 2
	res, _ = c.Evaluate(&Input{Basket: basket, Now: time.Now()})
	out, _ = json.Marshal(res.Offers)
	fmt.Println(string(out))
	// Output:
	// [{"offer":"coffee-2-pastry","text":"Add 1 more category coffee for: Free pastry with 2 coffees","missing":{"qty":1}}]
	// [{"id":"coffee-2-pastry","text":"Free pastry with 2 coffees","discount":280,"points":0,"lines":[{"line":1,"qty":1,"discount":280}],"why":"2+ of category coffee; 1 cheapest of category pastry free"}]
}

// Null is the same as a missing key everywhere: a null bound is no bound.
func TestNullIsMissing(t *testing.T) {
	c := mustCatalog(t, []any{map[string]any{"id": "a", "status": "active",
		"condition": map[string]any{"spend": map[string]any{"min": 100, "max": nil}},
		"reward":    map[string]any{"type": "amount_off", "amount": 10, "target": nil}}})
	res, err := c.Evaluate(&Input{Basket: &protocol.Message{Lines: []protocol.Line{{SKU: "A", Qty: 1, Price: 500}}}, Now: noon})
	if err != nil || len(res.Offers) != 1 || res.Offers[0].Discount != 10 || len(res.Offers[0].Lines) != 0 {
		t.Fatalf("got %+v, %v; want a basket-wide 10 off, with no upper spend bound", res, err)
	}
}

// Coupon codes that case folding calls equal are equal to the index too.
func TestCouponFolding(t *testing.T) {
	for _, tc := range []struct{ code, given string }{
		{"WEEK", "wee\u212a"},           // Kelvin sign
		{"strasse-ß", "STRASSE-\u1e9e"}, // capital sharp s
		{"welcome5", "WELCOME5"},
	} {
		c := mustCatalog(t, []any{map[string]any{"id": "a", "status": "active",
			"condition": map[string]any{"coupon": map[string]any{"code": tc.code}},
			"reward":    map[string]any{"type": "amount_off", "amount": 100}}})
		for _, scan := range []bool{false, true} {
			in := &Input{Basket: &protocol.Message{Coupons: []string{tc.given}, Lines: []protocol.Line{{SKU: "A", Qty: 1, Price: 1000}}},
				Now: noon, scan: scan}
			if res, _ := c.Evaluate(in); len(res.Offers) != 1 {
				t.Errorf("code %q, basket %q, scan %v: %+v, want the offer", tc.code, tc.given, scan, res)
			}
		}
	}
}
