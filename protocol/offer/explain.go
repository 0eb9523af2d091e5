package offer

import (
	"strconv"
	"strings"
)

// explainOffer says in one line what an offer asks and gives, for the
// reply's "why". It is built once, when the catalog is loaded.
func explainOffer(o *Offer) string {
	give := describeReward(&o.reward)
	if o.cond.kind == condTrue {
		return give
	}
	return describeCond(o.cond) + "; " + give
}

func describeCond(c *cond) string {
	switch c.kind {
	case condTrue:
		return "always"
	case condAll, condAny:
		sep := " and "
		if c.kind == condAny {
			sep = " or "
		}
		parts := make([]string, len(c.kids))
		for i, k := range c.kids {
			parts[i] = describeCond(k)
		}
		if len(parts) == 1 {
			return parts[0]
		}
		return "(" + strings.Join(parts, sep) + ")"
	case condNot:
		return "not " + describeCond(c.kids[0])
	case condItems, condHistory:
		var parts []string
		if c.minQty > 0 || c.minSpend == 0 {
			parts = append(parts, itoa(max(c.minQty, 1))+"+ of "+c.sel.String())
		}
		if c.minSpend > 0 {
			parts = append(parts, itoa(c.minSpend)+"+ spent on "+c.sel.String())
		}
		s := strings.Join(parts, " and ")
		if c.kind == condHistory {
			s = "bought " + s
			if c.withinDays > 0 {
				s += " in the last " + itoa(c.withinDays) + " days"
			}
		}
		return s
	case condSpend:
		switch {
		case c.hasMin && c.hasMax:
			return "basket " + itoa(c.min) + " to " + itoa(c.max)
		case c.hasMax:
			return "basket up to " + itoa(c.max)
		}
		return "basket " + itoa(c.min) + "+"
	case condCustomer:
		parts := []string{"identified customer"}
		if c.firstVisit {
			parts = append(parts, "first visit")
		}
		if c.visitsMin > 0 {
			parts = append(parts, itoa(c.visitsMin)+"+ visits")
		}
		if c.hasSince[0] {
			parts = append(parts, "away "+itoa(c.sinceMin)+"+ days")
		}
		if c.hasSince[1] {
			parts = append(parts, "seen within "+itoa(c.sinceMax)+" days")
		}
		if c.lifetimeMin > 0 {
			parts = append(parts, "lifetime spend "+itoa(c.lifetimeMin)+"+")
		}
		return strings.Join(parts, ", ")
	case condCoupon:
		return "coupon " + c.code
	}
	return ""
}

func describeReward(rw *reward) string {
	pct := func(p int64) string {
		s := strconv.FormatFloat(float64(p)/100, 'f', -1, 64)
		return s + "%"
	}
	switch rw.typ {
	case RewardPercentOff, RewardAmountOff:
		off := itoa(rw.amount)
		if rw.typ == RewardPercentOff {
			off = pct(rw.percent)
		}
		on := "the basket"
		if rw.phase == 1 {
			on = rw.target.String()
		}
		s := off + " off " + on
		if rw.maxDiscount > 0 {
			s += " (at most " + itoa(rw.maxDiscount) + ")"
		}
		return s
	case RewardBuyXGetY:
		which := "cheapest"
		if rw.mostExpensive {
			which = "dearest"
		}
		get := "free"
		if rw.percent < 10000 {
			get = pct(rw.percent) + " off"
		}
		return "buy " + itoa(rw.buy.qty) + " of " + rw.buy.sel.String() + ", get " + itoa(rw.get.qty) + " " +
			which + " of " + rw.get.sel.String() + " " + get
	case RewardFreeItem:
		return itoa(rw.qty) + " cheapest of " + rw.target.String() + " free"
	case RewardBundlePrice:
		parts := make([]string, len(rw.items))
		for i, c := range rw.items {
			parts[i] = itoa(c.qty) + " of " + c.sel.String()
		}
		return strings.Join(parts, " + ") + " for " + itoa(rw.price)
	case RewardTieredSpend:
		parts := make([]string, len(rw.tiers))
		for i, t := range rw.tiers {
			off := itoa(t.amount)
			if t.percent > 0 {
				off = pct(t.percent)
			}
			parts[i] = off + " off from " + itoa(t.minSpend)
		}
		return "tiers: " + strings.Join(parts, ", ")
	case RewardPoints:
		if rw.multiplier > 0 {
			return strings.TrimSuffix(pct(rw.multiplier), "%") + "x points"
		}
		return "+" + itoa(rw.points) + " points"
	}
	return ""
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
