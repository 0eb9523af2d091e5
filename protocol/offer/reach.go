package offer

import (
	"fmt"
	"strconv"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// Reach is what one offer is to a basket and customer, for suggesting it:
// whether the customer may get it now, whether the basket already meets
// its condition, and what the basket lacks for it.
type Reach struct {
	Offer string
	// Available: everything but the basket's items and spend allows the
	// offer now: it is active and in its dates and schedule, offered at
	// this store, for this customer's audience, and within its limits.
	Available bool
	// Met: its condition holds for the basket. An offer that is
	// available and met applies, unless the basket holds nothing it
	// discounts.
	Met bool
	// Missing is set when the condition fails and one threshold of it,
	// met, would make it hold: the units or spend the basket lacks. Unlike
	// a nudge's, the units may be all of them (the basket need not hold
	// one already) and the spend any amount.
	Missing *protocol.Missing
	// Text is what the cashier may say: the nudge's wording when Missing
	// is set, else the offer's text.
	Text string
}

// Reach says, for each offer id, what it is to in's basket and customer
// (see Reach); an id the catalog does not hold is not available. It reads
// the same Input as Evaluate, whose result it does not change, and costs
// the offers asked about, not the catalog.
func (c *Catalog) Reach(in *Input, ids []string) ([]Reach, error) {
	b := in.Basket
	subtotal, err := basketSubtotal(b)
	if err != nil {
		return nil, err
	}
	loc := in.Location
	if loc == nil {
		loc = time.UTC
	}
	local := in.Now.In(loc)
	m := moment{now: in.Now, weekday: local.Weekday(), minute: local.Hour()*60 + local.Minute(), today: Day(in.Now, loc)}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	s.coupons = s.coupons[:0]
	for _, code := range b.Coupons {
		s.coupons = append(s.coupons, foldCode(code))
	}
	s.u.index.reset(b.Lines)
	e := env{lines: b.Lines, index: &s.u.index, subtotal: subtotal, coupons: s.coupons, cust: in.Customer,
		today: m.today, force: noThreshold, near: s.near, lax: true}
	defer func() { s.near = e.near }()
	out := make([]Reach, len(ids))
	for i, id := range ids {
		out[i].Offer = id
		o := c.byID[id]
		if o == nil || o.eligible(in, &m) != "" {
			continue
		}
		out[i].Available = true
		out[i].Text = o.Text
		if out[i].Met = e.eval(o.cond); out[i].Met {
			continue
		}
		if miss, ok := e.nudge(o.cond); ok {
			mm := miss.missing
			out[i].Missing = &mm
			out[i].Text = reachText(o, miss)
		}
	}
	return out, nil
}

// basketSubtotal checks a basket's lines and returns its subtotal.
func basketSubtotal(b *protocol.Message) (int64, error) {
	if b == nil {
		return 0, fmt.Errorf("%w: no basket", ErrBasket)
	}
	if len(b.Lines) > MaxLines {
		return 0, fmt.Errorf("%w: %d lines, at most %d", ErrBasket, len(b.Lines), MaxLines)
	}
	subtotal := int64(0)
	for i, l := range b.Lines {
		if l.Qty < 1 || l.Qty > MaxQty || l.Price < 0 || l.Price > MaxAmount {
			return 0, fmt.Errorf("%w: lines[%d]: qty must be 1 to %d and price 0 to %d", ErrBasket, i, MaxQty, MaxAmount)
		}
		subtotal += l.Qty * l.Price
		if subtotal > MaxSubtotal {
			return 0, fmt.Errorf("%w: subtotal above %d", ErrBasket, int64(MaxSubtotal))
		}
	}
	return subtotal, nil
}

// reachText is a nudge's wording for an offer the basket may hold none of
// the items of yet.
func reachText(o *Offer, miss nearMiss) string {
	if q := miss.missing.Qty; q > 0 {
		return "Add " + strconv.FormatInt(q, 10) + " " + miss.what + " for: " + o.Text
	}
	return "Spend " + strconv.FormatInt(miss.missing.Spend, 10) + " more for: " + o.Text
}
