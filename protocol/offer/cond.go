package offer

import (
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/posoffer/posoffer/protocol"
)

type condKind uint8

const (
	condTrue condKind = iota
	condAll
	condAny
	condNot
	condItems
	condSpend
	condCustomer
	condCoupon
	condHistory
)

// noThreshold marks a predicate bound that a nudge cannot ask for.
const noThreshold = -1

// cond is a compiled condition tree.
type cond struct {
	kind condKind
	kids []*cond

	// items and history
	sel        selector
	minQty     int64 // 0: not set
	minSpend   int64 // 0: not set
	withinDays int64 // history; 0: all kept history

	// spend
	min, max       int64
	hasMin, hasMax bool

	// customer
	firstVisit         bool
	visitsMin          int64
	sinceMin, sinceMax int64
	hasSince           [2]bool // min, max set
	lifetimeMin        int64

	// coupon, upper-cased
	code string

	// Threshold ids for nudges, numbered depth first within one offer,
	// and what the items predicate counts, for the nudge's text.
	tQty, tSpend int
	what         string
}

// condParser compiles one offer's or segment's condition.
type condParser struct {
	p       *problems
	where   string
	segment bool
	next    int // next threshold id
}

func parseCond(p *problems, where, path string, v any, segment bool) *cond {
	cp := &condParser{p: p, where: where, segment: segment}
	return cp.parse(path, v)
}

func (cp *condParser) fail(path, format string, args ...any) *cond {
	cp.p.add(cp.where, path, format, args...)
	return nil
}

func (cp *condParser) threshold() int {
	cp.next++
	return cp.next - 1
}

const condKeys = "all, any, not, items, spend, customer, coupon or history"

func (cp *condParser) parse(path string, v any) *cond {
	m, ok := v.(map[string]any)
	if !ok {
		return cp.fail(path, "a condition must be an object, got %s", kindOf(v))
	}
	if len(m) == 0 {
		return &cond{kind: condTrue, tQty: noThreshold, tSpend: noThreshold}
	}
	if len(m) > 1 {
		keys := slices.Sorted(maps.Keys(m))
		return cp.fail(path, "a condition has exactly one key (%s), got %d: %s", condKeys, len(m), strings.Join(keys, ", "))
	}
	var key string
	var body any
	for key, body = range m {
	}
	at := path + "." + key
	c := &cond{tQty: noThreshold, tSpend: noThreshold}
	switch key {
	case "all", "any":
		c.kind = condAll
		if key == "any" {
			c.kind = condAny
		}
		l, ok := body.([]any)
		if !ok {
			return cp.fail(at, "must be a list of conditions, got %s", kindOf(body))
		}
		if len(l) == 0 && key == "any" {
			return cp.fail(at, "must hold at least one condition (an empty any is never true)")
		}
		for i, e := range l {
			k := cp.parse(at+"["+strconv.Itoa(i)+"]", e)
			if k != nil {
				c.kids = append(c.kids, k)
			}
		}
		if len(c.kids) != len(l) {
			return nil
		}
	case "not":
		c.kind = condNot
		k := cp.parse(at, body)
		if k == nil {
			return nil
		}
		c.kids = []*cond{k}
	case "items", "history":
		if key == "items" && cp.segment {
			return cp.fail(at, "not allowed in a segment: segments are about the customer, not the basket")
		}
		if key == "history" && !cp.segment {
			return cp.fail(at, "only allowed in segments; target an offer at a segment with audience.segments_any")
		}
		r := newReader(cp.p, cp.where, at, body)
		if r == nil {
			return nil
		}
		before := len(cp.p.list)
		c.kind = condItems
		c.sel = parseSelector(r)
		c.what = c.sel.String()
		c.minQty = r.integer("min_qty", 0, MaxQty, 0)
		c.minSpend = r.amount("min_spend")
		if key == "history" {
			c.kind = condHistory
			c.withinDays = r.integer("within_days", 0, 3650, 0)
		} else {
			if c.minQty > 0 || c.minSpend == 0 {
				c.tQty = cp.threshold()
			}
			if c.minSpend > 0 {
				c.tSpend = cp.threshold()
			}
		}
		r.done()
		if len(cp.p.list) > before {
			return nil
		}
	case "spend":
		if cp.segment {
			return cp.fail(at, "not allowed in a segment: segments are about the customer, not the basket")
		}
		r := newReader(cp.p, cp.where, at, body)
		if r == nil {
			return nil
		}
		before := len(cp.p.list)
		c.kind = condSpend
		c.hasMin, c.hasMax = r.has("min"), r.has("max")
		c.min, c.max = r.amount("min"), r.amount("max")
		if c.hasMin && c.hasMax && c.min > c.max {
			r.fail("max", "must not be below min (%d), got %d", c.min, c.max)
		}
		if c.hasMin && c.min > 0 {
			c.tSpend = cp.threshold()
		}
		r.done()
		if len(cp.p.list) > before {
			return nil
		}
	case "customer":
		r := newReader(cp.p, cp.where, at, body)
		if r == nil {
			return nil
		}
		before := len(cp.p.list)
		c.kind = condCustomer
		c.firstVisit = r.boolean("first_visit")
		c.visitsMin = r.integer("visits_min", 0, 1<<40, 0)
		c.hasSince = [2]bool{r.has("days_since_last_visit_min"), r.has("days_since_last_visit_max")}
		c.sinceMin = r.integer("days_since_last_visit_min", 0, 36500, 0)
		c.sinceMax = r.integer("days_since_last_visit_max", 0, 36500, 0)
		c.lifetimeMin = r.amount("lifetime_spend_min")
		if c.hasSince[0] && c.hasSince[1] && c.sinceMin > c.sinceMax {
			r.fail("days_since_last_visit_max", "must not be below days_since_last_visit_min")
		}
		r.done()
		if len(cp.p.list) > before {
			return nil
		}
	case "coupon":
		if cp.segment {
			return cp.fail(at, "not allowed in a segment: segments are about the customer, not the basket")
		}
		r := newReader(cp.p, cp.where, at, body)
		if r == nil {
			return nil
		}
		c.kind = condCoupon
		code := r.str("code", true)
		if r.has("code") && code == "" {
			r.fail("code", "must not be empty")
		}
		c.code = foldCode(code)
		r.done()
		if c.code == "" {
			return nil
		}
	default:
		return cp.fail(at, "unknown condition (want %s)", condKeys)
	}
	return c
}

// env is what conditions are evaluated against: one basket and customer.
type env struct {
	lines    []protocol.Line
	index    *lineIndex // of lines
	subtotal int64
	coupons  []string  // the basket's, folded by foldCode
	cust     *Customer // nil when the customer is not identified
	today    int64     // store-local day number

	// force treats the threshold with this id as met (noThreshold: none).
	force int
	// near, when collecting, gathers the thresholds that are narrowly
	// missed, in depth-first order; evaluation then visits every branch.
	near       []nearMiss
	collecting bool
	// lax collects every missed threshold, however far from met, and an
	// items threshold with no matching unit yet: what a cross-sell lacks.
	lax bool
}

// nearMiss is a threshold that a nudge could ask for.
type nearMiss struct {
	threshold int
	missing   protocol.Missing
	what      string // the items counted, for a qty nudge
}

func (e *env) eval(c *cond) bool {
	switch c.kind {
	case condTrue:
		return true
	case condAll:
		ok := true
		for _, k := range c.kids {
			if !e.eval(k) {
				ok = false
				if !e.collecting {
					return false
				}
			}
		}
		return ok
	case condAny:
		ok := false
		for _, k := range c.kids {
			if e.eval(k) {
				ok = true
				if !e.collecting {
					return true
				}
			}
		}
		return ok
	case condNot:
		return !e.eval(c.kids[0])
	case condItems:
		var qty, spend int64
		set := e.index.match(&c.sel)
		for w := range set.words(len(e.lines)) {
			for word := set[w]; word != 0; word &= word - 1 {
				l := &e.lines[w<<6+bits.TrailingZeros64(word)]
				qty += l.Qty
				spend += l.Qty * l.Price
			}
		}
		return e.check(c, qty, spend)
	case condSpend:
		okMin := !c.hasMin || e.subtotal >= c.min || e.force == c.tSpend && c.tSpend != noThreshold
		if !okMin && e.collecting && (nearSpend(c.min, e.subtotal) || e.lax) {
			e.near = append(e.near, nearMiss{c.tSpend, protocol.Missing{Spend: c.min - e.subtotal}, ""})
		}
		return okMin && (!c.hasMax || e.subtotal <= c.max)
	case condCustomer:
		return e.customer(c)
	case condCoupon:
		return contains(e.coupons, c.code)
	case condHistory:
		return e.history(c)
	}
	return false
}

// check applies an items predicate's thresholds to the matching qty and
// spend, noting near misses.
func (e *env) check(c *cond, qty, spend int64) bool {
	minQty := c.minQty
	if minQty == 0 && c.minSpend == 0 {
		minQty = 1
	}
	okQty := qty >= minQty || c.tQty != noThreshold && e.force == c.tQty
	okSpend := spend >= c.minSpend || c.tSpend != noThreshold && e.force == c.tSpend
	if e.collecting && (qty > 0 || e.lax) {
		if !okQty && (minQty-qty <= 2 || e.lax) {
			e.near = append(e.near, nearMiss{c.tQty, protocol.Missing{Qty: minQty - qty}, c.what})
		}
		if !okSpend && (nearSpend(c.minSpend, spend) || e.lax && c.minSpend > spend) {
			e.near = append(e.near, nearMiss{c.tSpend, protocol.Missing{Spend: c.minSpend - spend}, c.what})
		}
	}
	return okQty && okSpend
}

// foldCode is a coupon code's case-free form: each rune becomes the
// smallest rune that Unicode case folding makes equal to it, so two codes
// that strings.EqualFold calls equal have the same form (ToUpper alone
// does not: the Kelvin sign, ß and ẞ). Codes are compared and indexed in
// this form.
func foldCode(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'a' <= c && c <= 'z' {
			ascii = false
			break
		}
	}
	if ascii {
		return s // the common case: already upper-case ASCII
	}
	var b strings.Builder
	for _, r := range s {
		low := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			low = min(low, f)
		}
		b.WriteRune(low)
	}
	return b.String()
}

// nearSpend reports whether have falls short of want by at most 20%.
func nearSpend(want, have int64) bool {
	return want > have && (want-have)*5 <= want
}

func (e *env) customer(c *cond) bool {
	if e.cust == nil {
		return false
	}
	p := e.cust.profile()
	if c.firstVisit && p.Visits > 0 {
		return false
	}
	if p.Visits < c.visitsMin || p.LifetimeSpend < c.lifetimeMin {
		return false
	}
	if c.hasSince[0] || c.hasSince[1] {
		last, ok := dayNumber(p.LastVisit)
		if !ok {
			return false
		}
		since := e.today - last
		if c.hasSince[0] && since < c.sinceMin || c.hasSince[1] && since > c.sinceMax {
			return false
		}
	}
	return true
}

func (e *env) history(c *cond) bool {
	if e.cust == nil {
		return false
	}
	var qty, spend int64
	for _, d := range e.cust.profile().History {
		day, ok := dayNumber(d.Day)
		if !ok || day > e.today || c.withinDays > 0 && e.today-day >= c.withinDays {
			continue
		}
		for _, it := range d.Items {
			if c.sel.match(it.SKU, it.Category, it.Brand) {
				qty += it.Qty
				spend += it.Spend
			}
		}
	}
	minQty := c.minQty
	if minQty == 0 && c.minSpend == 0 {
		minQty = 1
	}
	return qty >= minQty && spend >= c.minSpend
}

// nudge returns what the basket misses for c to hold, when exactly one
// threshold stands in the way.
func (e *env) nudge(c *cond) (nearMiss, bool) {
	e.near, e.collecting = e.near[:0], true
	e.eval(c)
	e.collecting = false
	defer func() { e.force = noThreshold }()
	for _, n := range e.near {
		e.force = n.threshold
		if e.eval(c) {
			return n, true
		}
	}
	return nearMiss{}, false
}
