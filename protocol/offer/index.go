package offer

import (
	"github.com/posoffer/posoffer/protocol"
)

// index finds the offers a basket could possibly touch, so that a basket
// costs the offers it names rather than the whole catalog.
//
// Each active offer is filed under anchor keys: SKUs, categories, brands or
// coupon codes of which the basket must hold one for the offer to apply or
// to be a nudge. An offer with no such keys (a basket-wide condition and
// reward, or a spend threshold a nudge may ask for) is considered for every
// basket.
//
// Keys are the 64-bit hashes of (kind, name), the same the basket's
// lineIndex computes, so a basket looks each distinct name up once. Two
// names whose hashes collide share a list; that only adds candidates, and
// every candidate is checked in full.
type index struct {
	byKey  map[uint64][]int32
	always []int32
	size   int
}

// keys is a set of anchor keys: the basket must hold at least one.
type keys struct {
	skus, categories, brands, coupons []string
}

func (k keys) count() int { return len(k.skus) + len(k.categories) + len(k.brands) + len(k.coupons) }

func (k keys) union(o keys) keys {
	return keys{
		skus:       append(k.skus[:len(k.skus):len(k.skus)], o.skus...),
		categories: append(k.categories[:len(k.categories):len(k.categories)], o.categories...),
		brands:     append(k.brands[:len(k.brands):len(k.brands)], o.brands...),
		coupons:    append(k.coupons[:len(k.coupons):len(k.coupons)], o.coupons...),
	}
}

func selectorKeys(s *selector) (keys, bool) {
	if s.empty() {
		return keys{}, false
	}
	return keys{skus: s.skus, categories: s.categories, brands: s.brands}, true
}

func buildIndex(offers []*Offer) index {
	x := index{byKey: map[uint64][]int32{}, size: len(offers)}
	for _, o := range offers {
		if !o.active {
			continue
		}
		k, ok := anchors(o)
		if !ok {
			x.always = append(x.always, o.ord)
			continue
		}
		file := func(kind uint8, names []string) {
			for _, name := range names {
				key := keyOf(kind, name)
				if l := x.byKey[key]; len(l) == 0 || l[len(l)-1] != o.ord {
					x.byKey[key] = append(l, o.ord)
				}
			}
		}
		file(kindSKU, k.skus)
		file(kindCategory, k.categories)
		file(kindBrand, k.brands)
		file(kindCoupon, k.coupons)
	}
	return x
}

// anchors returns the keys of which a basket must hold one for o to apply
// or be a nudge, or false when every basket must consider o.
func anchors(o *Offer) (keys, bool) {
	apply, ok := condAnchor(o.cond)
	if !ok {
		// An offer whose discount alone is 0 is dropped, so a phase-1
		// reward needs its units in the basket.
		if apply, ok = rewardAnchor(&o.reward); !ok {
			return keys{}, false
		}
	}
	nudge, ok := nudgeAnchor(o.cond)
	if !ok {
		return keys{}, false
	}
	return apply.union(nudge), true
}

// condAnchor returns keys of which the basket holds one whenever c is true.
func condAnchor(c *cond) (keys, bool) {
	switch c.kind {
	case condItems:
		return selectorKeys(&c.sel)
	case condCoupon:
		return keys{coupons: []string{c.code}}, true
	case condAll:
		best, found := keys{}, false
		for _, k := range c.kids {
			if kk, ok := condAnchor(k); ok && (!found || kk.count() < best.count()) {
				best, found = kk, true
			}
		}
		return best, found
	case condAny:
		var all keys
		for _, k := range c.kids {
			kk, ok := condAnchor(k)
			if !ok {
				return keys{}, false
			}
			all = all.union(kk)
		}
		return all, true
	}
	return keys{}, false
}

// rewardAnchor returns keys of which the basket holds one whenever a
// phase-1 reward gives a discount.
func rewardAnchor(rw *reward) (keys, bool) {
	switch rw.typ {
	case RewardBuyXGetY:
		if k, ok := selectorKeys(&rw.get.sel); ok {
			return k, true
		}
		return selectorKeys(&rw.buy.sel)
	case RewardBundlePrice:
		for i := range rw.items {
			if k, ok := selectorKeys(&rw.items[i].sel); ok {
				return k, true
			}
		}
		return keys{}, false
	}
	if rw.phase == 1 {
		return selectorKeys(&rw.target)
	}
	return keys{}, false
}

// nudgeAnchor returns keys of which the basket holds one whenever c could
// be a nudge: every items threshold needs a matching unit, while a spend
// threshold can be nudged from any basket.
func nudgeAnchor(c *cond) (keys, bool) {
	switch c.kind {
	case condSpend:
		return keys{}, c.tSpend == noThreshold
	case condItems:
		return selectorKeys(&c.sel)
	}
	var all keys
	for _, k := range c.kids {
		kk, ok := nudgeAnchor(k)
		if !ok {
			return keys{}, false
		}
		all = all.union(kk)
	}
	return all, true
}

// candidates returns the ordinals of the offers the basket could touch,
// each once, using s for memory.
func (x *index) candidates(b *protocol.Message, s *scratch) []int32 {
	if len(s.seen) < x.size {
		s.seen = make([]uint32, x.size)
		s.gen = 0
	}
	s.gen++
	if s.gen == 0 {
		clear(s.seen)
		s.gen = 1
	}
	s.cands = s.cands[:0]
	s.add(x.always)
	for _, key := range s.u.index.keys {
		s.add(x.byKey[key])
	}
	for _, code := range s.coupons {
		s.add(x.byKey[keyOf(kindCoupon, code)])
	}
	return s.cands
}

func (s *scratch) add(offers []int32) {
	for _, o := range offers {
		if s.seen[o] != s.gen {
			s.seen[o] = s.gen
			s.cands = append(s.cands, o)
		}
	}
}
