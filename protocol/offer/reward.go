package offer

import (
	"math/bits"
	"slices"
	"strconv"

	"github.com/posoffer/posoffer/protocol"
)

// reward is a compiled reward.
type reward struct {
	typ   string
	phase int // 1: on units; 2: on the subtotal; 0: points

	target      selector // percent_off, amount_off (phase 1), free_item
	percent     int64    // hundredths of a percent
	amount      int64
	maxDiscount int64
	qty         int64 // free_item

	buy, get      component
	mostExpensive bool

	items []component // bundle_price
	price int64

	tiers []tier // ascending min_spend

	points     int64
	multiplier int64 // hundredths
}

type component struct {
	sel selector
	qty int64
}

type tier struct {
	minSpend, amount, percent int64
}

const rewardTypes = "percent_off, amount_off, buy_x_get_y, free_item, bundle_price, tiered_spend or points"

func parseReward(r *reader) reward {
	rw := reward{typ: r.str("type", true)}
	target := func(required bool) {
		t := r.object("target")
		if t == nil {
			if required && !r.has("target") {
				r.fail("target", "required")
			}
			return
		}
		rw.target = parseSelector(t)
		if rw.target.empty() {
			t.fail("", "a target must name skus, categories or brands (omit target for a discount on the whole basket)")
		}
		t.done()
	}
	switch rw.typ {
	case RewardPercentOff, RewardAmountOff:
		rw.phase = 2
		if r.has("target") {
			rw.phase = 1
			target(true)
		} else {
			r.get("target") // "target": null is no target: a basket-wide discount
		}
		if rw.typ == RewardPercentOff {
			rw.percent = r.percent("percent", true, 0)
		} else {
			rw.amount = r.amount("amount")
			if !r.has("amount") {
				r.fail("amount", "required")
			}
		}
		rw.maxDiscount = r.amount("max_discount")
	case RewardBuyXGetY:
		rw.phase = 1
		rw.buy = parseComponent(r, "buy")
		rw.get = parseComponent(r, "get")
		rw.percent = r.percent("percent", false, 10000)
		switch s := r.str("select", false); s {
		case "", "cheapest":
		case "most_expensive":
			rw.mostExpensive = true
		default:
			r.fail("select", "must be cheapest or most_expensive, got %q", s)
		}
	case RewardFreeItem:
		rw.phase = 1
		target(true)
		rw.qty = r.integer("qty", 1, MaxQty, 1)
	case RewardBundlePrice:
		rw.phase = 1
		l := r.list("items")
		if len(l) == 0 {
			r.fail("items", "required: the bundle's components, each a selector with qty")
		}
		for i, v := range l {
			if c := newReader(r.p, r.where, r.at("items["+strconv.Itoa(i)+"]"), v); c != nil {
				rw.items = append(rw.items, component{sel: parseSelector(c), qty: c.integer("qty", 1, MaxQty, 1)})
				c.done()
			}
		}
		rw.price = r.amount("price")
		if !r.has("price") {
			r.fail("price", "required")
		}
	case RewardTieredSpend:
		rw.phase = 2
		l := r.list("tiers")
		if len(l) == 0 {
			r.fail("tiers", "required: at least one {min_spend, amount or percent}")
		}
		for i, v := range l {
			t := newReader(r.p, r.where, r.at("tiers["+strconv.Itoa(i)+"]"), v)
			if t == nil {
				continue
			}
			tr := tier{minSpend: t.amount("min_spend"), amount: t.amount("amount")}
			if t.has("percent") {
				tr.percent = t.percent("percent", true, 0)
			}
			if t.has("amount") == t.has("percent") {
				t.fail("", "give exactly one of amount and percent")
			}
			t.done()
			for _, o := range rw.tiers {
				if o.minSpend == tr.minSpend {
					t.fail("min_spend", "another tier has the same min_spend %d", tr.minSpend)
				}
			}
			rw.tiers = append(rw.tiers, tr)
		}
		slices.SortFunc(rw.tiers, func(a, b tier) int { return int(a.minSpend - b.minSpend) })
	case RewardPoints:
		rw.phase = 0
		if r.has("points") == r.has("multiplier") {
			r.fail("points", "give exactly one of points and multiplier")
		}
		rw.points = r.integer("points", 0, MaxAmount, 0)
		rw.multiplier = r.multiplier("multiplier")
	case "":
	default:
		r.fail("type", "unknown reward type %q (want %s)", rw.typ, rewardTypes)
	}
	r.done()
	return rw
}

func parseComponent(r *reader, key string) component {
	c := r.object(key)
	if c == nil {
		if !r.has(key) {
			r.fail(key, "required: a selector with qty")
		}
		return component{}
	}
	out := component{sel: parseSelector(c), qty: c.integer("qty", 1, MaxQty, 1)}
	c.done()
	return out
}

// units is the phase-1 state of one basket: each line's unit price and how
// many of its units no reward has consumed yet. Scratch space rides along
// so that evaluating an offer allocates nothing.
type units struct {
	price []int64
	rem   []int64
	index lineIndex

	taken   []int64 // units taken by the application being built
	extra   []int64 // buy units of that application (buy_x_get_y)
	skipped []int64 // units this offer passed over (no discount)
	order   []int32
	touched []int32

	lineQty  []int64 // per line: units this offer discounted
	lineDisc []int64 // per line: discount this offer gave
	shares   []share

	// dirty lists the lines the current offer changed, so that moving on
	// to the next offer costs those lines, not the whole basket.
	dirty   []int32
	isDirty []bool
}

type share struct {
	line      int32
	weight    int64
	remainder uint64
}

func (u *units) reset(lines int) {
	grow := func(s []int64) []int64 {
		if cap(s) < lines {
			return make([]int64, lines)
		}
		s = s[:lines]
		clear(s)
		return s
	}
	u.price, u.rem = grow(u.price), grow(u.rem)
	u.taken, u.extra, u.skipped = grow(u.taken), grow(u.extra), grow(u.skipped)
	u.lineQty, u.lineDisc = grow(u.lineQty), grow(u.lineDisc)
	if cap(u.isDirty) < lines {
		u.isDirty = make([]bool, lines)
	}
	u.isDirty = u.isDirty[:lines]
	clear(u.isDirty)
	u.dirty, u.touched, u.shares = u.dirty[:0], u.touched[:0], u.shares[:0]
}

// nextOffer forgets what the previous offer took, passed over and
// discounted; units it consumed stay consumed.
func (u *units) nextOffer() {
	for _, i := range u.dirty {
		u.skipped[i], u.lineQty[i], u.lineDisc[i] = 0, 0, 0
		u.isDirty[i] = false
	}
	u.dirty = u.dirty[:0]
}

// restore undoes the previous offer entirely, giving back the units it
// consumed: rem0 is every line's units before it.
func (u *units) restore(rem0 []int64) {
	for _, i := range u.dirty {
		u.rem[i] = rem0[i]
	}
	u.nextOffer()
}

func (u *units) avail(i int32) int64 { return u.rem[i] - u.skipped[i] - u.taken[i] - u.extra[i] }

// sorted fills u.order with the lines matching sel that have units left,
// cheapest first (or dearest first), ties to the lower line index.
func (u *units) sorted(lines []protocol.Line, sel *selector, dearest bool) []int32 {
	u.order = u.order[:0]
	set := u.index.match(sel)
	for w := range set.words(len(lines)) {
		for word := set[w]; word != 0; word &= word - 1 {
			if i := w<<6 + bits.TrailingZeros64(word); u.rem[i] > u.skipped[i] {
				u.order = append(u.order, int32(i))
			}
		}
	}
	slices.SortFunc(u.order, func(a, b int32) int {
		pa, pb := u.price[a], u.price[b]
		switch {
		case pa == pb:
			return int(a - b)
		case (pa < pb) != dearest:
			return -1
		}
		return 1
	})
	return u.order
}

// take moves up to need available units from the lines in order into dst.
func (u *units) take(order []int32, need int64, dst []int64) int64 {
	got := int64(0)
	for _, i := range order {
		if got == need {
			break
		}
		n := min(need-got, u.avail(i))
		if n <= 0 {
			continue
		}
		if u.taken[i] == 0 && u.extra[i] == 0 {
			u.touched = append(u.touched, i)
		}
		dst[i] += n
		got += n
	}
	return got
}

// repeats returns how many times the application in taken and extra can be
// made in a row with exactly the same units: until one of its lines runs
// out.
func (u *units) repeats() int64 {
	k := int64(-1)
	for _, i := range u.touched {
		used := u.taken[i] + u.extra[i]
		if n := (u.rem[i] - u.skipped[i]) / used; k < 0 || n < k {
			k = n
		}
	}
	return k
}

// settle makes the built application k times: consumed and discounted when
// discount is positive, otherwise passed over by this offer.
func (u *units) settle(k, discount int64, weighted []int64) {
	if discount > 0 {
		u.allocate(discount, weighted, k)
	}
	for _, i := range u.touched {
		if !u.isDirty[i] {
			u.isDirty[i] = true
			u.dirty = append(u.dirty, i)
		}
		used := k * (u.taken[i] + u.extra[i])
		if discount > 0 {
			u.rem[i] -= used
		} else {
			u.skipped[i] += used
		}
		u.taken[i], u.extra[i] = 0, 0
	}
	u.touched = u.touched[:0]
}

func (u *units) abandon() {
	for _, i := range u.touched {
		u.taken[i], u.extra[i] = 0, 0
	}
	u.touched = u.touched[:0]
}

// totalOf is the price of the units in counts.
func (u *units) totalOf(counts []int64) int64 {
	t := int64(0)
	for _, i := range u.touched {
		t += counts[i] * u.price[i]
	}
	return t
}

// allocate shares discount over the units in counts (the touched lines) in
// proportion to their price, k times over: each line gets its rounded-down
// share, and the minor units left go one each to the largest remainders,
// ties to the lower line.
func (u *units) allocate(discount int64, counts []int64, k int64) {
	u.shares = u.shares[:0]
	total := int64(0)
	for _, i := range u.touched {
		if w := counts[i] * u.price[i]; counts[i] > 0 {
			u.shares = append(u.shares, share{line: i, weight: w})
			total += w
		}
	}
	left := discount
	for j := range u.shares {
		s := &u.shares[j]
		q, r := mulDiv(discount, s.weight, total)
		s.remainder = r
		u.lineDisc[s.line] += k * q
		u.lineQty[s.line] += k * counts[s.line]
		left -= q
	}
	if left > 0 {
		slices.SortFunc(u.shares, func(a, b share) int {
			if a.remainder != b.remainder {
				if a.remainder > b.remainder {
					return -1
				}
				return 1
			}
			return int(a.line - b.line)
		})
		for j := 0; left > 0; j++ {
			u.lineDisc[u.shares[j].line] += k
			left--
		}
	}
}

// mulDiv returns a*b/c and its remainder for non-negative a, b and a
// positive c, exact where a*b overflows 64 bits (a*b/c must fit).
func mulDiv(a, b, c int64) (int64, uint64) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, r := bits.Div64(hi, lo, uint64(c))
	return int64(q), r
}

// percentOf is p hundredths of a percent of v, rounded down.
func percentOf(v, p int64) int64 {
	q, _ := mulDiv(v, p, 10000)
	return q
}

// applyUnits applies a phase-1 reward to the units left, recording per-line
// results in u.lineQty and u.lineDisc, and returns the discount.
func (rw *reward) applyUnits(lines []protocol.Line, u *units, perTxn int64) int64 {
	switch rw.typ {
	case RewardPercentOff, RewardAmountOff:
		order := u.sorted(lines, &rw.target, false)
		for _, i := range order {
			u.taken[i] = u.rem[i] - u.skipped[i]
			u.touched = append(u.touched, i)
		}
		total := u.totalOf(u.taken)
		d := rw.amount
		if rw.typ == RewardPercentOff {
			d = percentOf(total, rw.percent)
		}
		if rw.maxDiscount > 0 {
			d = min(d, rw.maxDiscount)
		}
		d = min(d, total)
		if d <= 0 {
			u.abandon()
			return 0
		}
		u.settle(1, d, u.taken)
		return d
	case RewardFreeItem:
		order := u.sorted(lines, &rw.target, false)
		u.take(order, rw.qty, u.taken)
		d := u.totalOf(u.taken)
		if d <= 0 {
			u.abandon()
			return 0
		}
		u.settle(1, d, u.taken)
		return d
	case RewardBuyXGetY:
		return rw.repeat(perTxn, func() (int64, bool) {
			if u.take(u.sorted(lines, &rw.get.sel, rw.mostExpensive), rw.get.qty, u.taken) < rw.get.qty {
				return 0, false
			}
			if u.take(u.sorted(lines, &rw.buy.sel, true), rw.buy.qty, u.extra) < rw.buy.qty {
				return 0, false
			}
			return percentOf(u.totalOf(u.taken), rw.percent), true
		}, u)
	case RewardBundlePrice:
		return rw.repeat(perTxn, func() (int64, bool) {
			for _, c := range rw.items {
				if u.take(u.sorted(lines, &c.sel, false), c.qty, u.taken) < c.qty {
					return 0, false
				}
			}
			return u.totalOf(u.taken) - rw.price, true
		}, u)
	}
	return 0
}

// repeat makes the applications that build returns until one cannot be
// built or perTxn (0: no cap) discounted applications are made. Runs of
// identical applications are made at once, so a line of a thousand units
// costs no more than a line of two.
func (rw *reward) repeat(perTxn int64, build func() (int64, bool), u *units) int64 {
	total, made := int64(0), int64(0)
	for perTxn == 0 || made < perTxn {
		d, ok := build()
		if !ok {
			u.abandon()
			break
		}
		k := u.repeats()
		if k < 1 { // an application of no units: nothing to repeat
			u.abandon()
			break
		}
		if d > 0 && perTxn > 0 {
			k = min(k, perTxn-made)
		}
		if d > 0 {
			made += k
			total += k * d
		}
		// A bundle's discount is over all its units; buy_x_get_y's over
		// its get units only, which build left in taken.
		u.settle(k, d, u.taken)
	}
	return total
}

// applySubtotal applies a phase-2 reward to the subtotal left.
func (rw *reward) applySubtotal(left int64) int64 {
	var d int64
	switch rw.typ {
	case RewardPercentOff:
		d = percentOf(left, rw.percent)
	case RewardAmountOff:
		d = rw.amount
	case RewardTieredSpend:
		for j := len(rw.tiers) - 1; j >= 0; j-- {
			if t := rw.tiers[j]; t.minSpend <= left {
				d = t.amount
				if t.percent > 0 {
					d = percentOf(left, t.percent)
				}
				break
			}
		}
	}
	if rw.maxDiscount > 0 {
		d = min(d, rw.maxDiscount)
	}
	return max(0, min(d, left))
}

// pointsFor returns the points a points reward adds when the subtotal after
// every discount is paid, with one base point per pointsPer.
func (rw *reward) pointsFor(paid, pointsPer int64) int64 {
	if rw.multiplier == 0 {
		return rw.points
	}
	base := paid / pointsPer
	q, _ := mulDiv(base, rw.multiplier-100, 100)
	return q
}
