package shopsim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/posoffer/posoffer/protocol"
)

func TestSolve(t *testing.T) {
	w := Builtin()
	line := func(sku string, qty int64) protocol.Line {
		p, ok := w.Product(sku)
		if !ok {
			t.Fatalf("no product %s", sku)
		}
		return p.Line(qty)
	}
	for _, tc := range []struct {
		offer  string
		basket []protocol.Line
		want   string // the basket after, as sku*qty
	}{
		{"second-coffee", []protocol.Line{line("COF-001", 1)}, "COF-001*2"},
		{"coffee-pastry", []protocol.Line{line("COF-001", 1)}, "COF-001*1 PAS-021*1"},
		// The cheapest onigiri twice.
		{"onigiri-trio", []protocol.Line{line("ONI-002", 1)}, "ONI-002*1 ONI-011*2"},
		{"onigiri-trio", []protocol.Line{line("ONI-002", 2), line("BEN-031", 1)}, "ONI-002*2 BEN-031*1 ONI-011*1"},
		{"bento-tea", []protocol.Line{line("BEN-031", 1)}, "BEN-031*1 TEA-500*1"},
		// A condition the basket lacks entirely: a bento first.
		{"bento-tea", []protocol.Line{line("COF-001", 1)}, "COF-001*1 BEN-031*1 TEA-500*1"},
		{"snack-pair", []protocol.Line{line("SNK-101", 1)}, "SNK-101*1 SNK-102*1"},
		// 350 to 500: the cheapest product that closes the gap of 150,
		// then the dessert.
		{"dessert-deal", []protocol.Line{line("COF-001", 1)}, "COF-001*1 JUI-001*1 DES-010*1"},
		{"spend-1000", []protocol.Line{line("BEN-031", 1)}, "BEN-031*1 MAG-007*1"},
		{"juice-with-snack", []protocol.Line{line("SNK-102", 1)}, "SNK-102*1 JUI-001*1"},
	} {
		t.Run(tc.offer, func(t *testing.T) {
			got, ok := w.Solve(tc.offer, tc.basket)
			if !ok {
				t.Errorf("%s does not apply to %s", tc.offer, show(got))
			}
			if show(got) != tc.want {
				t.Errorf("basket %s, want %s", show(got), tc.want)
			}
			if !w.applies(tc.offer, got) {
				t.Errorf("%s does not apply", tc.offer)
			}
			if w.applies(tc.offer, tc.basket) {
				t.Errorf("%s applied before", tc.offer)
			}
		})
	}
}

func TestSolveRewards(t *testing.T) {
	cat := `{"version": 1, "offers": [
	  {"id": "b2g1", "status": "active", "reward": {"type": "buy_x_get_y", "buy": {"categories": ["tea"], "qty": 2}, "get": {"categories": ["tea"], "qty": 1}}},
	  {"id": "bundle", "status": "active", "reward": {"type": "bundle_price", "items": [{"skus": ["A"], "qty": 1}, {"categories": ["tea"], "qty": 2}], "price": 300}},
	  {"id": "any", "status": "active", "condition": {"any": [{"items": {"skus": ["A"], "min_qty": 3}}, {"items": {"categories": ["tea"], "min_spend": 300}}]},
	   "reward": {"type": "percent_off", "percent": 10}},
	  {"id": "regulars", "status": "active", "condition": {"customer": {"visits_min": 3}}, "reward": {"type": "amount_off", "amount": 10}},
	  {"id": "coupon", "status": "active", "condition": {"coupon": {"code": "X"}}, "reward": {"type": "amount_off", "amount": 10}}
	]}`
	pop := `version: 1
segments:
  - id: all
    share: 1
    buys:
      - {sku: A, category: a, price: 500, often: 1}
      - {sku: T, category: tea, price: 120, often: 0.5}
`
	w, err := Parse("c.json", []byte(cat), "p.yaml", []byte(pop))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := w.Product("A")
	for _, tc := range []struct {
		offer, want string
		ok          bool
	}{
		{"b2g1", "A*1 T*3", true},
		{"bundle", "A*1 T*2", true},
		{"any", "A*1 T*3", true}, // 3 teas (360) cost less than 2 more A
		{"regulars", "A*1", false},
		{"coupon", "A*1", false},
	} {
		got, ok := w.Solve(tc.offer, []protocol.Line{a.Line(1)})
		if ok != tc.ok || show(got) != tc.want {
			t.Errorf("%s: %s, %v; want %s, %v", tc.offer, show(got), ok, tc.want, tc.ok)
		}
	}
}

func show(lines []protocol.Line) string {
	var s []string
	for _, l := range lines {
		s = append(s, fmt.Sprintf("%s*%d", l.SKU, l.Qty))
	}
	return strings.Join(s, " ")
}
