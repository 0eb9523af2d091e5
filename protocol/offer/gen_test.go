package offer

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/posoffer/posoffer/protocol"
)

// world is a synthetic assortment: products with a category and a brand,
// from which random catalogs and baskets are drawn.
type world struct {
	skus, categories, brands int
}

func (w world) product(r *rand.Rand) protocol.Line {
	n := r.IntN(w.skus)
	return protocol.Line{
		SKU:      fmt.Sprintf("S%d", n),
		Category: fmt.Sprintf("C%d", n%w.categories),
		Brand:    fmt.Sprintf("B%d", (n/7)%w.brands),
		Qty:      1 + int64(r.IntN(3)),
		Price:    int64(50 + r.IntN(40)*25),
	}
}

func (w world) basket(r *rand.Rand, lines int) *protocol.Message {
	b := &protocol.Message{V: 1, Type: "basket", ID: "m-1", Txn: "t-1", Customer: "c"}
	for range lines {
		b.Lines = append(b.Lines, w.product(r))
	}
	if r.IntN(4) == 0 {
		b.Coupons = []string{fmt.Sprintf("code%d", r.IntN(5))}
	}
	return b
}

func (w world) selector(r *rand.Rand) map[string]any {
	switch r.IntN(3) {
	case 0:
		return map[string]any{"skus": []string{fmt.Sprintf("S%d", r.IntN(w.skus))}}
	case 1:
		return map[string]any{"brands": []string{fmt.Sprintf("B%d", r.IntN(w.brands))}}
	}
	return map[string]any{"categories": []string{fmt.Sprintf("C%d", r.IntN(w.categories))}}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// condition draws a random condition, nested up to depth.
func (w world) condition(r *rand.Rand, depth int) map[string]any {
	k := r.IntN(9)
	if depth == 0 && k < 3 {
		k += 3
	}
	switch k {
	case 0:
		return map[string]any{"all": []any{w.condition(r, depth-1), w.condition(r, depth-1)}}
	case 1:
		return map[string]any{"any": []any{w.condition(r, depth-1), w.condition(r, depth-1)}}
	case 2:
		return map[string]any{"not": w.condition(r, depth-1)}
	case 3, 4:
		return map[string]any{"items": with(w.selector(r), "min_qty", 1+r.IntN(4))}
	case 5:
		return map[string]any{"items": with(w.selector(r), "min_spend", 100+r.IntN(10)*100)}
	case 6:
		return map[string]any{"spend": map[string]any{"min": 500 + r.IntN(20)*100}}
	case 7:
		return map[string]any{"coupon": map[string]any{"code": fmt.Sprintf("CODE%d", r.IntN(5))}}
	}
	return map[string]any{}
}

func (w world) reward(r *rand.Rand) map[string]any {
	switch r.IntN(9) {
	case 0:
		return map[string]any{"type": "percent_off", "target": w.selector(r), "percent": 5 + r.IntN(30)}
	case 1:
		return map[string]any{"type": "amount_off", "target": w.selector(r), "amount": 10 + r.IntN(100)}
	case 2:
		return map[string]any{"type": "buy_x_get_y", "buy": with(w.selector(r), "qty", 1+r.IntN(2)),
			"get": with(w.selector(r), "qty", 1), "percent": []int{50, 100}[r.IntN(2)]}
	case 3:
		return map[string]any{"type": "free_item", "target": w.selector(r), "qty": 1 + r.IntN(2)}
	case 4:
		return map[string]any{"type": "bundle_price", "price": 100 + r.IntN(10)*50,
			"items": []any{with(w.selector(r), "qty", 1), with(w.selector(r), "qty", 1)}}
	case 5:
		return map[string]any{"type": "percent_off", "percent": 5}
	case 6:
		return map[string]any{"type": "tiered_spend", "tiers": []any{
			map[string]any{"min_spend": 1000, "amount": 50}, map[string]any{"min_spend": 3000, "percent": 5}}}
	case 7:
		return map[string]any{"type": "points", "multiplier": 2}
	}
	return map[string]any{"type": "points", "points": 10}
}

func (w world) offer(r *rand.Rand, i int) map[string]any {
	return map[string]any{
		"id": fmt.Sprintf("o%d", i), "status": "active",
		"condition": w.condition(r, 2),
		"reward":    w.reward(r),
		"stacking": map[string]any{"priority": r.IntN(3), "group": []string{"", "", "g1", "g2"}[r.IntN(4)],
			"exclusive": r.IntN(10) == 0},
		"limits": map[string]any{"per_transaction": r.IntN(3)},
	}
}

func mustCatalog(t testing.TB, offers []any) *Catalog {
	t.Helper()
	b, err := json.Marshal(map[string]any{"version": 1, "offers": offers})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// benchCatalog builds a catalog shaped like a retailer's. Twenty offers
// are basket-wide (spend thresholds with basket discounts, tiers or
// points). Every other offer targets one SKU (80%), brand (15%) or
// category (5%), with an items condition on the same, and a percent_off,
// amount_off or buy-2-get-1 reward. The assortment grows with the catalog:
// n offers over 3n SKUs, n/2 brands and n/10 categories, so a quarter of
// the SKUs carry an offer whatever the size.
func benchCatalog(t testing.TB, n int, seed uint64) (*Catalog, world) {
	t.Helper()
	w := world{skus: max(3*n, 1000), categories: max(n/10, 50), brands: max(n/2, 100)}
	r := rand.New(rand.NewPCG(seed, 1))
	offers := make([]any, 0, n)
	for i := range n {
		var o map[string]any
		if i < 20 {
			o = map[string]any{"id": fmt.Sprintf("wide%d", i), "status": "active",
				"condition": map[string]any{"spend": map[string]any{"min": 1000 + i*500}},
				"reward":    w.reward(r), "stacking": map[string]any{"group": "basket"}}
			if rw := o["reward"].(map[string]any); rw["target"] != nil || rw["buy"] != nil || rw["items"] != nil {
				o["reward"] = map[string]any{"type": "amount_off", "amount": 100 + i*10}
			}
		} else {
			var sel map[string]any
			switch k := r.IntN(20); {
			case k < 16:
				sel = map[string]any{"skus": []string{fmt.Sprintf("S%d", r.IntN(w.skus))}}
			case k < 19:
				sel = map[string]any{"brands": []string{fmt.Sprintf("B%d", r.IntN(w.brands))}}
			default:
				sel = map[string]any{"categories": []string{fmt.Sprintf("C%d", r.IntN(w.categories))}}
			}
			o = map[string]any{"id": fmt.Sprintf("o%d", i), "status": "active",
				"condition": map[string]any{"items": with(sel, "min_qty", 1+r.IntN(3))},
				"reward":    map[string]any{"type": "percent_off", "target": sel, "percent": 5 + r.IntN(30)},
				"stacking":  map[string]any{"priority": r.IntN(5)}}
			switch r.IntN(4) {
			case 0:
				o["reward"] = map[string]any{"type": "buy_x_get_y", "buy": with(sel, "qty", 2), "get": with(sel, "qty", 1)}
			case 1:
				o["reward"] = map[string]any{"type": "amount_off", "target": sel, "amount": 30 + r.IntN(100)}
			}
		}
		offers = append(offers, o)
	}
	return mustCatalog(t, offers), w
}
