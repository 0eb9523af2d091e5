package shopsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

// Solve returns the basket with what a shopper who takes the suggestion
// of offer id adds: the items and spend the offer's condition asks for,
// then the units its reward works on, each from the world's products
// (the cheapest that fit). ok reports that the offer then applies to the
// basket by the offer language's own evaluator, judged on its condition
// and reward alone (the agent still judges schedule, audience and
// limits). A condition on the customer or a coupon cannot be bought: such
// an offer is left as it is and ok is false.
func (w *World) Solve(id string, lines []protocol.Line) (out []protocol.Line, ok bool) {
	raw := w.Offers[id]
	if raw == nil {
		return lines, false
	}
	b := &basket{w: w, lines: slices.Clone(lines)}
	if !b.cond(raw["condition"]) {
		return lines, false
	}
	rw, _ := raw["reward"].(map[string]any)
	b.reward(rw)
	for range 3 {
		if w.applies(id, b.lines) {
			return b.lines, true
		}
		// Units a greedy reward could not reach: one more of what it
		// works on.
		if !b.more(rw) {
			break
		}
	}
	return b.lines, w.applies(id, b.lines)
}

// basket is a basket being filled by the solver.
type basket struct {
	w     *World
	lines []protocol.Line
}

func (b *basket) add(p Product, qty int64) {
	for i := range b.lines {
		if b.lines[i].SKU == p.SKU {
			b.lines[i].Qty += qty
			return
		}
	}
	b.lines = append(b.lines, p.Line(qty))
}

func (b *basket) count(s selector) (qty, spend int64) {
	for _, l := range b.lines {
		if s.match(l.SKU, l.Category, l.Brand) {
			qty += l.Qty
			spend += l.Qty * l.Price
		}
	}
	return qty, spend
}

func (b *basket) subtotal() int64 {
	t := int64(0)
	for _, l := range b.lines {
		t += l.Qty * l.Price
	}
	return t
}

// cheapest is the cheapest product s matches (ties: the first named).
func (b *basket) cheapest(s selector) (Product, bool) {
	var best Product
	found := false
	for _, p := range b.w.Products {
		if s.match(p.SKU, p.Category, p.Brand) && (!found || p.Price < best.Price) {
			best, found = p, true
		}
	}
	return best, found
}

// maxUnits bounds what one condition may add, so that an offer asking
// for more than any shopper would buy is given up.
const maxUnits = 20

// cond adds what c needs; false when it cannot be met by buying.
func (b *basket) cond(v any) bool {
	c, _ := v.(map[string]any)
	for k, arg := range c { // exactly one key, by the offer language
		switch k {
		case "all":
			list, _ := arg.([]any)
			for _, sub := range list {
				if !b.cond(sub) {
					return false
				}
			}
		case "any":
			// The branch that costs least.
			list, _ := arg.([]any)
			var best []protocol.Line
			bestCost := int64(-1)
			for _, sub := range list {
				try := &basket{w: b.w, lines: slices.Clone(b.lines)}
				if !try.cond(sub) {
					continue
				}
				if cost := try.subtotal(); bestCost < 0 || cost < bestCost {
					best, bestCost = try.lines, cost
				}
			}
			if best == nil {
				return false
			}
			b.lines = best
		case "items":
			m, _ := arg.(map[string]any)
			s := selectorOf(m)
			minQty, minSpend := integer(m["min_qty"]), integer(m["min_spend"])
			if minQty == 0 && minSpend == 0 {
				minQty = 1
			}
			p, found := b.cheapest(s)
			for range maxUnits {
				if q, sp := b.count(s); q >= minQty && sp >= minSpend {
					return true
				}
				if !found {
					return false
				}
				b.add(p, 1)
			}
			q, sp := b.count(s)
			return q >= minQty && sp >= minSpend
		case "spend":
			m, _ := arg.(map[string]any)
			return b.spend(integer(m["min"]), m["max"])
		case "customer", "coupon", "history":
			return false
		case "not":
			// Nothing to buy; the evaluator has the last word.
		}
	}
	return true
}

// spend adds products until the subtotal reaches lo: each time the
// cheapest product that closes the gap, else the dearest.
func (b *basket) spend(lo int64, hi any) bool {
	for range maxUnits {
		gap := lo - b.subtotal()
		if gap <= 0 {
			break
		}
		var pick Product
		found := false
		for _, p := range b.w.Products {
			switch {
			case !found:
				pick, found = p, true
			case p.Price >= gap && (pick.Price < gap || p.Price < pick.Price):
				pick = p
			case pick.Price < gap && p.Price > pick.Price:
				pick = p
			}
		}
		if !found {
			return false
		}
		b.add(pick, 1)
	}
	if b.subtotal() < lo {
		return false
	}
	return hi == nil || b.subtotal() <= integer(hi)
}

// reward adds the units a reward works on.
func (b *basket) reward(rw map[string]any) {
	need := func(s selector, n int64) {
		p, found := b.cheapest(s)
		if !found {
			return
		}
		if q, _ := b.count(s); q < n {
			b.add(p, n-q)
		}
	}
	switch rw["type"] {
	case "percent_off", "amount_off", "free_item":
		if t, ok := rw["target"].(map[string]any); ok {
			need(selectorOf(t), 1)
		}
	case "buy_x_get_y":
		buy, _ := rw["buy"].(map[string]any)
		get, _ := rw["get"].(map[string]any)
		bs, gs := selectorOf(buy), selectorOf(get)
		x, y := max(integer(buy["qty"]), 1), max(integer(get["qty"]), 1)
		need(gs, y)
		if bs.overlaps(gs) {
			need(bs, x+y)
		} else {
			need(bs, x)
		}
	case "bundle_price":
		items, _ := rw["items"].([]any)
		var prev []selector
		for _, it := range items {
			m, _ := it.(map[string]any)
			s, q := selectorOf(m), max(integer(m["qty"]), 1)
			n := q
			for i, ps := range prev {
				if ps.overlaps(s) {
					n += integer(items[i].(map[string]any)["qty"])
				}
			}
			need(s, n)
			prev = append(prev, s)
		}
	}
}

// more adds one unit of what the reward works on; false when it has
// nothing to add.
func (b *basket) more(rw map[string]any) bool {
	var m map[string]any
	switch rw["type"] {
	case "percent_off", "amount_off", "free_item":
		m, _ = rw["target"].(map[string]any)
	case "buy_x_get_y":
		m, _ = rw["buy"].(map[string]any)
	case "bundle_price":
		if items, _ := rw["items"].([]any); len(items) > 0 {
			m, _ = items[len(items)-1].(map[string]any)
		}
	}
	if m == nil {
		return false
	}
	p, found := b.cheapest(selectorOf(m))
	if found {
		b.add(p, 1)
	}
	return found
}

// applies reports whether offer id applies to lines, judged on its
// condition and reward alone.
func (w *World) applies(id string, lines []protocol.Line) bool {
	return w.evaluate(w.bare(id), lines)[id]
}

// evaluate is the offers of c that apply to lines (none when c is nil).
func (w *World) evaluate(c *offer.Catalog, lines []protocol.Line) map[string]bool {
	out := map[string]bool{}
	if c == nil {
		return out
	}
	r, err := c.Evaluate(&offer.Input{
		Basket: &protocol.Message{V: protocol.Version, Type: protocol.TypeBasket, Lines: lines},
		Now:    time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC),
	})
	if err != nil {
		return out
	}
	for _, o := range r.Offers {
		out[o.ID] = true
	}
	return out
}

// bare is a catalog of offer id alone (id "": of every offer), active
// always, everywhere, for everyone, without limits but per_transaction.
func (w *World) bare(id string) *offer.Catalog {
	w.bareMu.Lock()
	defer w.bareMu.Unlock()
	if c, ok := w.bareCat[id]; ok {
		return c
	}
	var offers []any
	for _, o := range w.Catalog.Offers() {
		if id == "" || o.ID == id {
			offers = append(offers, bareOffer(w.Offers[o.ID]))
		}
	}
	var c *offer.Catalog
	if doc, err := json.Marshal(map[string]any{"version": 1, "offers": offers}); err == nil {
		c, _ = offer.Parse(doc)
	}
	if w.bareCat == nil {
		w.bareCat = map[string]*offer.Catalog{}
	}
	w.bareCat[id] = c
	return c
}

func bareOffer(raw map[string]any) map[string]any {
	o := map[string]any{}
	for k, v := range raw {
		switch k {
		case "valid_from", "valid_until", "schedule", "stores", "audience", "limits":
		default:
			o[k] = v
		}
	}
	o["status"] = "active"
	if l, ok := raw["limits"].(map[string]any); ok && l["per_transaction"] != nil {
		o["limits"] = map[string]any{"per_transaction": l["per_transaction"]}
	}
	return o
}

// applied is the offers that apply to lines by the whole catalog, each
// offer judged on its condition and reward, with stacking.
func (w *World) applied(lines []protocol.Line) map[string]bool {
	return w.evaluate(w.bare(""), lines)
}

// selector is the offer language's item selector.
type selector struct{ skus, categories, brands []string }

func selectorOf(m map[string]any) selector {
	return selector{strs(m["skus"]), strs(m["categories"]), strs(m["brands"])}
}

func (s selector) empty() bool { return len(s.skus)+len(s.categories)+len(s.brands) == 0 }

// match is the offer language's rule: any non-empty list matches; an
// empty selector matches everything.
func (s selector) match(sku, category, brand string) bool {
	return s.empty() || slices.Contains(s.skus, sku) || slices.Contains(s.categories, category) ||
		brand != "" && slices.Contains(s.brands, brand)
}

func (s selector) overlaps(o selector) bool {
	if s.empty() || o.empty() {
		return true
	}
	for _, x := range s.skus {
		if slices.Contains(o.skus, x) {
			return true
		}
	}
	for _, x := range s.categories {
		if slices.Contains(o.categories, x) {
			return true
		}
	}
	for _, x := range s.brands {
		if slices.Contains(o.brands, x) {
			return true
		}
	}
	return false
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// integer reads a whole number as YAML or JSON decoded it.
func integer(v any) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	case uint64:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}
