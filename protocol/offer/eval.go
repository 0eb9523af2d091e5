package offer

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// MaxSubtotal bounds a basket's subtotal, in minor units, so that no sum
// the evaluator makes can overflow.
const MaxSubtotal = 1_000_000_000_000_000

// DefaultMaxNudges is how many nudges a reply holds unless told otherwise.
const DefaultMaxNudges = 3

// DefaultPointsPer is the spend, in minor units, that earns one base point.
const DefaultPointsPer = 100

// ErrBasket is wrapped by the errors for baskets the evaluator cannot take.
var ErrBasket = errors.New("bad basket")

// Input is everything an evaluation depends on. The same Input always gives
// the same Result.
type Input struct {
	Basket   *protocol.Message
	Now      time.Time
	Location *time.Location // the store's zone for schedules and days; nil is UTC
	Store    string
	Customer *Customer // nil when the basket names no customer
	Usage    Usage     // nil when nothing has been counted

	PointsPer int64 // spend per base point; 0 is DefaultPointsPer
	MaxNudges int   // 0 is DefaultMaxNudges; negative is none
	Explain   bool  // consider every offer and say why each did not apply

	scan bool // consider every offer: the index's reference, in tests
}

// Usage reports how much of an offer's limits is used up.
type Usage interface {
	Counts(offer string) Counts
}

// Counts is the use of one offer so far, before this transaction. The
// customer counts are 0 when no customer is identified.
type Counts struct {
	CustomerToday    int64 // this customer's redemptions today
	Customer         int64 // this customer's redemptions ever
	Redemptions      int64 // redemptions at this store
	Discount         int64 // discount given at this store
	ImpressionsToday int64 // times shown to this customer today
}

// Result is the outcome of one evaluation.
type Result struct {
	Offers  []protocol.Offer
	Nudges  []protocol.Nudge
	Skipped []Skip // with Input.Explain: every offer that did not apply
}

// Skip says why an offer did not apply.
type Skip struct {
	Offer  string `json:"offer"`
	Reason string `json:"reason"`
}

// candidate is an eligible offer and its discount alone.
type candidate struct {
	o     *Offer
	alone int64
}

// scratch is the reusable working memory of one evaluation.
type scratch struct {
	u       units
	rem0    []int64
	seen    []uint32
	gen     uint32
	cands   []int32
	elig    []candidate
	points  []candidate
	nudges  []nudgeCand
	near    []nearMiss
	coupons []string // the basket's coupon codes, folded
	groups  []string
	skipped []Skip
}

type nudgeCand struct {
	o    *Offer
	miss nearMiss
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// moment is the evaluation time, broken down once.
type moment struct {
	now     time.Time
	weekday time.Weekday
	minute  int
	today   int64
}

// Evaluate returns the offers that apply to in.Basket and the nudges that
// nearly apply, by the rules in docs/offers.md.
func (c *Catalog) Evaluate(in *Input) (*Result, error) {
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
	pointsPer := in.PointsPer
	if pointsPer <= 0 {
		pointsPer = DefaultPointsPer
	}

	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	s.elig, s.points, s.nudges, s.skipped = s.elig[:0], s.points[:0], s.nudges[:0], nil
	u := &s.u
	u.reset(len(b.Lines))
	if cap(s.rem0) < len(b.Lines) {
		s.rem0 = make([]int64, len(b.Lines))
	}
	s.rem0 = s.rem0[:len(b.Lines)]
	for i := range b.Lines {
		l := &b.Lines[i]
		u.price[i], u.rem[i], s.rem0[i] = l.Price, l.Qty, l.Qty
	}
	u.index.reset(b.Lines)
	s.coupons = s.coupons[:0]
	for _, code := range b.Coupons {
		s.coupons = append(s.coupons, foldCode(code))
	}
	e := env{lines: b.Lines, index: &u.index, subtotal: subtotal, coupons: s.coupons, cust: in.Customer,
		today: m.today, force: noThreshold, near: s.near}
	defer func() { s.near = e.near }()

	var cands []int32
	if in.Explain || in.scan {
		cands = s.cands[:0]
		for i := range c.offers {
			cands = append(cands, int32(i))
		}
		s.cands = cands
	} else {
		cands = c.idx.candidates(b, s)
	}

	for _, ord := range cands {
		o := c.offers[ord]
		if why := o.eligible(in, &m); why != "" {
			s.skip(in, o, why)
			continue
		}
		if !e.eval(o.cond) {
			if miss, ok := e.nudge(o.cond); ok {
				s.nudges = append(s.nudges, nudgeCand{o, miss})
				s.skip(in, o, "condition not met; returned as a nudge")
			} else {
				s.skip(in, o, "condition not met")
			}
			continue
		}
		if o.reward.phase == 0 {
			s.points = append(s.points, candidate{o: o})
			continue
		}
		alone := int64(0)
		if o.reward.phase == 1 {
			alone = o.reward.applyUnits(b.Lines, u, o.Limits.PerTransaction)
			u.restore(s.rem0)
		} else {
			alone = o.reward.applySubtotal(subtotal)
		}
		if alone == 0 {
			s.skip(in, o, "eligible, but nothing in the basket to discount")
			continue
		}
		s.elig = append(s.elig, candidate{o, alone})
	}

	slices.SortFunc(s.elig, func(a, b candidate) int {
		if c := cmp.Compare(b.o.priority, a.o.priority); c != 0 {
			return c
		}
		if c := cmp.Compare(b.alone, a.alone); c != 0 {
			return c
		}
		return cmp.Compare(a.o.ID, b.o.ID)
	})
	apply := s.elig
	if len(apply) > 0 && apply[0].o.exclusive {
		for _, d := range apply[1:] {
			s.skip(in, d.o, "offer "+apply[0].o.ID+" is exclusive and ranks first")
		}
		apply = apply[:1]
	} else {
		kept := apply[:0]
		s.groups = s.groups[:0]
		for _, d := range apply {
			switch {
			case d.o.exclusive:
				s.skip(in, d.o, "exclusive, but another offer ranks first")
			case d.o.group != "" && contains(s.groups, d.o.group):
				s.skip(in, d.o, "an offer of group "+d.o.group+" ranks first")
			default:
				if d.o.group != "" {
					s.groups = append(s.groups, d.o.group)
				}
				kept = append(kept, d)
			}
		}
		apply = kept
	}

	res := &Result{Offers: make([]protocol.Offer, 0, len(apply)+len(s.points))}
	left := subtotal
	var slab []protocol.LineReward // every offer's lines, one allocation
	for _, d := range apply {
		if d.o.reward.phase != 1 {
			continue
		}
		disc := d.o.reward.applyUnits(b.Lines, u, d.o.Limits.PerTransaction)
		if disc == 0 {
			u.nextOffer()
			s.skip(in, d.o, "nothing left to discount after the offers before it")
			continue
		}
		left -= disc
		r := d.o.reply(disc, 0)
		start := len(slab)
		for i, q := range u.lineQty {
			if q > 0 {
				if slab == nil {
					slab = make([]protocol.LineReward, 0, len(b.Lines))
				}
				slab = append(slab, protocol.LineReward{Line: i, Qty: q, Discount: u.lineDisc[i]})
			}
		}
		r.Lines = slab[start:len(slab):len(slab)]
		res.Offers = append(res.Offers, r)
		u.nextOffer()
	}
	for _, d := range apply {
		if d.o.reward.phase != 2 {
			continue
		}
		disc := d.o.reward.applySubtotal(left)
		if disc == 0 {
			s.skip(in, d.o, "nothing left to discount after the offers before it")
			continue
		}
		left -= disc
		res.Offers = append(res.Offers, d.o.reply(disc, 0))
	}
	slices.SortFunc(s.points, byPriority)
	for _, d := range s.points {
		if p := d.o.reward.pointsFor(left, pointsPer); p > 0 {
			res.Offers = append(res.Offers, d.o.reply(0, p))
		} else {
			s.skip(in, d.o, "no points to add")
		}
	}

	limit := in.MaxNudges
	if limit == 0 {
		limit = DefaultMaxNudges
	}
	slices.SortFunc(s.nudges, func(a, b nudgeCand) int { return byPriority(candidate{o: a.o}, candidate{o: b.o}) })
	for _, n := range s.nudges[:min(len(s.nudges), max(limit, 0))] {
		res.Nudges = append(res.Nudges, protocol.Nudge{Offer: n.o.ID, Text: nudgeText(n), Missing: n.miss.missing})
	}
	if in.Explain {
		slices.SortStableFunc(s.skipped, func(a, b Skip) int { return cmp.Compare(c.byID[a.Offer].ord, c.byID[b.Offer].ord) })
		res.Skipped = s.skipped
		s.skipped = nil
	}
	return res, nil
}

func byPriority(a, b candidate) int {
	if c := cmp.Compare(b.o.priority, a.o.priority); c != 0 {
		return c
	}
	return cmp.Compare(a.o.ID, b.o.ID)
}

func (s *scratch) skip(in *Input, o *Offer, why string) {
	if in.Explain {
		s.skipped = append(s.skipped, Skip{Offer: o.ID, Reason: why})
	}
}

// eligible returns "" when nothing but the condition stands between the
// offer and the basket, or the reason it is not eligible.
func (o *Offer) eligible(in *Input, m *moment) string {
	switch {
	case !o.active:
		return "status is " + o.Status
	case !o.validFrom.IsZero() && m.now.Before(o.validFrom):
		return "not valid until " + o.validFrom.Format(time.RFC3339)
	case !o.validUntil.IsZero() && !m.now.Before(o.validUntil):
		return "ended at " + o.validUntil.Format(time.RFC3339)
	case o.sched != nil && !o.sched.open(m.weekday, m.minute):
		return "outside its schedule"
	case len(o.stores) > 0 && !contains(o.stores, in.Store):
		return "not offered at this store"
	case o.known && in.Customer == nil:
		return "needs an identified customer"
	}
	if len(o.segAny) > 0 || len(o.segNone) > 0 {
		cu := in.Customer
		if len(o.segAny) > 0 && (cu == nil || !slices.ContainsFunc(o.segAny, cu.in)) {
			return "customer is in none of its segments"
		}
		if cu != nil && slices.ContainsFunc(o.segNone, cu.in) {
			return "customer is in an excluded segment"
		}
	}
	l := &o.Limits
	if in.Usage == nil || *l == (Limits{PerTransaction: l.PerTransaction}) {
		return ""
	}
	n := in.Usage.Counts(o.ID)
	reached := func(limit, used int64) bool { return limit > 0 && used >= limit }
	switch {
	case reached(l.TotalRedemptions, n.Redemptions):
		return "total_redemptions reached"
	case reached(l.Budget, n.Discount):
		return "budget spent"
	case in.Customer == nil:
		return ""
	case reached(l.PerCustomerPerDay, n.CustomerToday):
		return "per_customer_per_day reached"
	case reached(l.PerCustomer, n.Customer):
		return "per_customer reached"
	case reached(l.ImpressionsPerCustomerPerDay, n.ImpressionsToday):
		return "impressions_per_customer_per_day reached"
	}
	return ""
}

// open reports whether the schedule admits a store-local weekday and minute.
func (s *schedule) open(wd time.Weekday, minute int) bool {
	if s.from < s.until {
		return s.days&(1<<wd) != 0 && minute >= s.from && minute < s.until
	}
	// Overnight: the hours after midnight belong to the day before.
	if minute >= s.from {
		return s.days&(1<<wd) != 0
	}
	return minute < s.until && s.days&(1<<((wd+6)%7)) != 0
}

// reply builds the reply entry for an applied offer.
func (o *Offer) reply(discount, points int64) protocol.Offer {
	return protocol.Offer{ID: o.ID, Name: o.Name, Text: o.Text, Discount: discount, Points: points, Why: o.why}
}

func nudgeText(n nudgeCand) string {
	if q := n.miss.missing.Qty; q > 0 {
		return "Add " + strconv.FormatInt(q, 10) + " more " + n.miss.what + " for: " + n.o.Text
	}
	return "Spend " + strconv.FormatInt(n.miss.missing.Spend, 10) + " more for: " + n.o.Text
}
