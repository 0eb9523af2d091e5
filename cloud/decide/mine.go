package decide

import (
	"sort"
	"strings"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol/decide"
)

// miner counts, per store group and over all stores (group ""), the
// baskets holding each item, each offer's items, and both.
type miner struct {
	s      Settings
	offers []string            // offer ids, by index
	own    []map[string]bool   // each offer's item keys
	byItem map[string][]int32  // item key -> the offers it is an item of
	groups map[string]*tallies // "" is every store
	seen   []int32             // scratch: the last basket each offer was counted in
	basket int32
	in     []int32 // scratch: the offers a basket holds the items of
}

type pair struct {
	item  string
	offer int32
}

type tallies struct {
	n      int64
	items  map[string]int64
	offers map[int32]int64
	both   map[pair]int64
}

func newMiner(items map[string][]string, s Settings) *miner {
	m := &miner{s: s, byItem: map[string][]int32{}, groups: map[string]*tallies{}}
	ids := make([]string, 0, len(items))
	for id := range items {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for i, id := range ids {
		m.offers = append(m.offers, id)
		own := map[string]bool{}
		for _, k := range items[id] {
			own[k] = true
			m.byItem[k] = append(m.byItem[k], int32(i))
		}
		m.own = append(m.own, own)
	}
	m.seen = make([]int32, len(ids))
	return m
}

func (m *miner) tallies(group string) *tallies {
	t := m.groups[group]
	if t == nil {
		t = &tallies{items: map[string]int64{}, offers: map[int32]int64{}, both: map[pair]int64{}}
		m.groups[group] = t
	}
	return t
}

// add counts one basket of the group ("" when unknown) and its items
// (store.ItemsOf).
func (m *miner) add(group, items string) {
	m.basket++
	m.in = m.in[:0]
	keys := store.SplitItems(items)
	for _, k := range keys {
		for _, o := range m.byItem[k] {
			if m.seen[o] != m.basket {
				m.seen[o] = m.basket
				m.in = append(m.in, o)
			}
		}
	}
	all := m.tallies("")
	ts := []*tallies{all}
	if group != "" {
		ts = append(ts, m.tallies(group))
	}
	for _, t := range ts {
		t.n++
		for _, o := range m.in {
			t.offers[o]++
		}
		for _, k := range keys {
			if strings.HasPrefix(k, store.ItemBrand+":") {
				continue // rules hang on SKUs and categories only
			}
			t.items[k]++
			for _, o := range m.in {
				if !m.own[o][k] {
					t.both[pair{k, o}]++
				}
			}
		}
	}
}

// rules returns the rules that clear the thresholds, the RulesPerItem of
// highest lift for each item and group. A group's rules are left out when
// the group holds every basket: the rules over all stores say the same.
func (m *miner) rules() []decide.Rule {
	all := m.groups[""]
	if all == nil {
		return nil
	}
	var out []decide.Rule
	for g, t := range m.groups {
		if g != "" && (t.n == all.n || !decide.ValidGroup(g)) {
			continue
		}
		perItem := map[string][]decide.Rule{}
		for p, both := range t.both {
			nItem := t.items[p.item]
			if nItem < MinRuleBaskets {
				continue
			}
			support := float64(both) / float64(t.n)
			conf := float64(both) / float64(nItem)
			base := float64(t.offers[p.offer]) / float64(t.n)
			if support < m.s.MinSupport || base == 0 {
				continue
			}
			lift := conf / base
			if lift < m.s.MinLift {
				continue
			}
			perItem[p.item] = append(perItem[p.item], decide.Rule{Group: g, If: p.item, Offer: m.offers[p.offer],
				Support: round(support), Confidence: round(conf), Lift: round(lift), N: nItem})
		}
		for _, rs := range perItem {
			sort.Slice(rs, func(i, j int) bool {
				if rs[i].Lift != rs[j].Lift {
					return rs[i].Lift > rs[j].Lift
				}
				return rs[i].Offer < rs[j].Offer
			})
			if len(rs) > RulesPerItem {
				rs = rs[:RulesPerItem]
			}
			out = append(out, rs...)
		}
	}
	return out
}
