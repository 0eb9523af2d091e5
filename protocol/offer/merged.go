package offer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Merged is a customer's profile as HQ merges it across stores, the value
// HQ publishes in the profiles bucket: the sums and history over every
// store, and each store's own counters, so that a store can replace its
// part with what it knows better.
type Merged struct {
	Profile
	Stores map[string]StoreTotals `json:"stores,omitempty"`
}

// StoreTotals are a customer's counters at one store.
type StoreTotals struct {
	Visits     int64  `json:"visits"`
	Spend      int64  `json:"spend"`
	Points     int64  `json:"points"`
	FirstVisit string `json:"first_visit,omitempty"`
	LastVisit  string `json:"last_visit,omitempty"`
}

// ParseMerged decodes a merged profile.
func ParseMerged(b []byte) (*Merged, error) {
	var m Merged
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("merged profile: %w", err)
	}
	return &m, nil
}

// WithLocal returns the profile a store should evaluate with: HQ's merge,
// with this store's part replaced by the store's own profile (local, nil
// for none), which includes the checkouts HQ has not received yet.
//
// Counters and first and last visit are exact. History is merged per day
// and SKU by taking the larger of HQ's and the store's quantity and spend,
// because HQ's history is not kept per store: a SKU bought on the same day
// at this store and another is counted once.
func (m *Merged) WithLocal(store string, local *Profile) *Profile {
	if local == nil {
		local = &Profile{}
	}
	own := m.Stores[store]
	p := &Profile{
		Visits:        m.Visits - own.Visits + local.Visits,
		LifetimeSpend: m.LifetimeSpend - own.Spend + local.LifetimeSpend,
		Points:        m.Points - own.Points + local.Points,
		FirstVisit:    local.FirstVisit,
		LastVisit:     local.LastVisit,
	}
	for id, t := range m.Stores {
		if id == store {
			continue
		}
		if t.FirstVisit != "" && (p.FirstVisit == "" || t.FirstVisit < p.FirstVisit) {
			p.FirstVisit = t.FirstVisit
		}
		if t.LastVisit > p.LastVisit {
			p.LastVisit = t.LastVisit
		}
	}
	p.History = mergeHistory(m.History, local.History)
	return p
}

// mergeHistory merges two histories per day and SKU, taking the larger
// quantity and spend, days in order.
func mergeHistory(a, b []HistoryDay) []HistoryDay {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	type key struct{ day, sku string }
	items := map[key]HistoryItem{}
	for _, h := range [][]HistoryDay{a, b} {
		for _, d := range h {
			for _, it := range d.Items {
				k := key{d.Day, it.SKU}
				cur, ok := items[k]
				if !ok {
					items[k] = it
					continue
				}
				cur.Qty, cur.Spend = max(cur.Qty, it.Qty), max(cur.Spend, it.Spend)
				items[k] = cur
			}
		}
	}
	keys := make([]key, 0, len(items))
	for k := range items {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y key) int {
		if c := strings.Compare(x.day, y.day); c != 0 {
			return c
		}
		return strings.Compare(x.sku, y.sku)
	})
	var out []HistoryDay
	for _, k := range keys {
		if len(out) == 0 || out[len(out)-1].Day != k.day {
			out = append(out, HistoryDay{Day: k.day})
		}
		out[len(out)-1].Items = append(out[len(out)-1].Items, items[k])
	}
	return out
}
