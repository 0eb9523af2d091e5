package decide

import (
	"sort"
	"strings"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol/decide"
)

// miner counts, per store group and over all stores (group ""), the
// baskets holding each item, each offer's items, and both. Item keys are
// numbered as they are first seen, so that counting is on integers.
type miner struct {
	s      Settings
	offers []string          // offer ids, by number
	own    []map[int32]bool  // each offer's items, by item number
	ids    map[string]int32  // item key -> number
	keys   []string          // number -> item key
	rule   []bool            // by item number: a rule may hang on it (a SKU or category)
	byItem map[int32][]int32 // item number -> the offers it is an item of
	groups map[string]*tallies
	seen   []int32 // scratch: the last basket each offer was counted in
	basket int32
	in     []int32 // scratch: the offers a basket holds the items of
	its    []int32 // scratch: a basket's item numbers
}

type tallies struct {
	n      int64
	items  []int64          // by item number
	offers []int64          // by offer number
	both   map[uint64]int64 // item<<32 | offer
}

func newMiner(items map[string][]string, s Settings) *miner {
	m := &miner{s: s, ids: map[string]int32{}, byItem: map[int32][]int32{}, groups: map[string]*tallies{}}
	ids := make([]string, 0, len(items))
	for id := range items {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for i, id := range ids {
		m.offers = append(m.offers, id)
		own := map[int32]bool{}
		for _, k := range items[id] {
			n := m.item(k)
			own[n] = true
			m.byItem[n] = append(m.byItem[n], int32(i))
		}
		m.own = append(m.own, own)
	}
	m.seen = make([]int32, len(ids))
	return m
}

// item returns the number of an item key, numbering it when new.
func (m *miner) item(k string) int32 {
	n, ok := m.ids[k]
	if !ok {
		n = int32(len(m.keys))
		m.ids[k] = n
		m.keys = append(m.keys, k)
		m.rule = append(m.rule, !strings.HasPrefix(k, store.ItemBrand+":"))
	}
	return n
}

func (m *miner) tallies(group string) *tallies {
	t := m.groups[group]
	if t == nil {
		t = &tallies{offers: make([]int64, len(m.offers)), both: map[uint64]int64{}}
		m.groups[group] = t
	}
	return t
}

// add counts one basket of the group ("" when unknown) and its items
// (store.ItemsOf).
func (m *miner) add(group, items string) {
	m.basket++
	m.in, m.its = m.in[:0], m.its[:0]
	for items != "" {
		k, rest, _ := strings.Cut(items, "\n")
		items = rest
		n := m.item(k)
		m.its = append(m.its, n)
		for _, o := range m.byItem[n] {
			if m.seen[o] != m.basket {
				m.seen[o] = m.basket
				m.in = append(m.in, o)
			}
		}
	}
	m.count(m.tallies(""))
	if group != "" {
		m.count(m.tallies(group))
	}
}

func (m *miner) count(t *tallies) {
	t.n++
	for _, o := range m.in {
		t.offers[o]++
	}
	if len(t.items) < len(m.keys) {
		t.items = append(t.items, make([]int64, len(m.keys)-len(t.items))...)
	}
	for _, k := range m.its {
		if !m.rule[k] {
			continue // rules hang on SKUs and categories only
		}
		t.items[k]++
		for _, o := range m.in {
			if !m.own[o][k] {
				t.both[uint64(k)<<32|uint64(o)]++
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
		perItem := map[int32][]decide.Rule{}
		for p, both := range t.both {
			item, offer := int32(p>>32), int32(p&0xffffffff)
			nItem := t.items[item]
			if nItem < MinRuleBaskets {
				continue
			}
			support := float64(both) / float64(t.n)
			conf := float64(both) / float64(nItem)
			base := float64(t.offers[offer]) / float64(t.n)
			if support < m.s.MinSupport || base == 0 {
				continue
			}
			lift := conf / base
			if lift < m.s.MinLift {
				continue
			}
			perItem[item] = append(perItem[item], decide.Rule{Group: g, If: m.keys[item], Offer: m.offers[offer],
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
