// Package decide is HQ's side of learned suggestions: it learns, from the
// checkouts HQ stores, the posterior of each suggestion in each context and
// the cross-sell rules, and publishes them to the stores as a signed
// decide.Model (docs/decide.md).
//
// Invariants:
//   - What is learned depends on the stored data only, never on the clock:
//     the window and the decay count back from the newest checkout.
//   - A model is published only when what was learned changed; its
//     revision and its signature's sequence only grow, across restarts too
//     (the last one is kept in the database).
//   - A model that would not fit one NATS message is never published.
package decide

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol/decide"
)

// Settings are what learning is tuned with (config.Decide).
type Settings struct {
	Window     time.Duration
	HalfLife   time.Duration
	MinSupport float64
	MinLift    float64
	Holdout    float64
	// Groups is each store's group; a store not in it is in
	// decide.DefaultGroup. HQ says which group a store is in: the group
	// a store's decisions name is not trusted, so that no store can add
	// to another group's rules and posteriors, or make HQ keep a group per
	// made-up name.
	Groups map[string]string
}

// GroupOf is the group of a store.
func (s Settings) GroupOf(store string) string {
	if g := s.Groups[store]; g != "" {
		return g
	}
	return decide.DefaultGroup
}

// contextIn is a decision's context with its group as HQ has it: the
// store's.
func (s Settings) contextIn(key, store string) string {
	c, ok := decide.ParseContext(key)
	if !ok {
		return key
	}
	c.Group = s.GroupOf(store)
	return c.Key()
}

// Bounds of what is learned, which keep a model well within one NATS
// message (1 MB by default).
const (
	// MinRuleBaskets is the least number of baskets holding a rule's item.
	MinRuleBaskets = 20
	// RulesPerItem: the rules of highest lift kept for each item and group.
	RulesPerItem = 5
	// MaxRules and MaxArms bound a model; arms of the fewest exposures and
	// rules of the lowest lift go first.
	MaxRules = 2500
	MaxArms  = 3000
	// MaxModelBytes bounds a model's JSON: NATS's default max_payload, less
	// room for the signature.
	MaxModelBytes = 1<<20 - 4<<10
	// PriorWeight is the most pseudo-observations a context's arm borrows
	// from its offer's pooled rate.
	PriorWeight = 10
)

// MaxAhead is how far ahead of HQ's clock a checkout may be stamped and
// still be learned from: a store whose clock runs a day ahead or more is
// wrong, and must not drag the window past every other store's data.
const MaxAhead = 24 * time.Hour

// NotAfter is the newest checkout time learned from at now.
func NotAfter(now time.Time) int64 { return now.Add(MaxAhead).UnixMicro() }

// Learned is a model before it is given a revision, and what it came from.
type Learned struct {
	Model     decide.Model // Revision and Computed not set
	Baskets   int          // checkouts in the window
	Decisions int          // of which with a decision record
	// DroppedRules and DroppedArms were cut by the bounds.
	DroppedRules, DroppedArms int
	// Changes counts the arms that changed (change.go).
	Changes int
}

// Learn computes what HQ learns from the checkouts of the window that ends
// at the newest one. With no checkout at all, the model is empty.
func Learn(ctx context.Context, db *store.DB, s Settings) (*Learned, error) {
	st, err := db.DecideStamp(ctx, NotAfter(time.Now()))
	if err != nil {
		return nil, err
	}
	return learn(ctx, db, s, st, nil)
}

// learn is Learn from what st says of the database. With reuse, it takes
// reuse's rules and basket counts instead of mining the baskets again.
func learn(ctx context.Context, db *store.DB, s Settings, st store.DecideStamp, reuse *Learned) (*Learned, error) {
	out := &Learned{Model: decide.Model{Version: decide.ModelVersion, Holdout: s.Holdout}}
	if st.Checkouts == 0 {
		return out, nil
	}
	until := st.NewestUS
	from := until - s.Window.Microseconds()
	out.Model.DataUntil = time.UnixMicro(until).UTC()

	// The rules are mined meanwhile, on a connection of their own.
	var (
		mined    []decide.Rule
		minedOut Learned
		mineErr  error
		wg       sync.WaitGroup
	)
	if reuse == nil {
		wg.Go(func() { mined, mineErr = mine(ctx, db, s, from, until, &minedOut) })
	}

	// Posteriors, from the exposed suggestions, each arm since its change
	// if it had one (change.go).
	halfLifeUS := float64(s.HalfLife.Microseconds())
	slotUS := max(s.Window.Microseconds()/slots, 1)
	type armKey struct{ offer, context string }
	arms := map[armKey]history{}
	count := func(k armKey, i int, w float64, converted bool) {
		h := arms[k]
		if h == nil {
			h = history{}
			arms[k] = h
		}
		h.add(i, w, converted)
	}
	err := db.EachExposure(ctx, from, until+1, func(x *store.Exposure) {
		if x.Holdout {
			return
		}
		w := math.Exp2(-float64(until-x.AtUS) / halfLifeUS)
		i := min(int((until-x.AtUS)/slotUS), slots-1) // the oldest instant is in the last slot
		count(armKey{x.Offer, s.contextIn(x.Context, x.Store)}, i, w, x.Converted)
		count(armKey{x.Offer, decide.AllContexts}, i, w, x.Converted)
	})
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if mineErr != nil {
		return nil, mineErr
	}
	// A change in one arm of a context is taken as a change in what the
	// customers of that context want: each of its arms is learned from
	// after the context's latest change, so that the arms that rose get
	// explored again too, not only the one that fell. An arm that did
	// not change itself starts again from what it was before, shrunk
	// toward the prior every arm has (below), as a prior of at most
	// PriorWeight observations; one that changed, from that prior alone.
	// The arms over all contexts mix contexts, and go by their own
	// changes only.
	own := map[armKey]int{}   // an arm: slot of its change
	since := map[string]int{} // a context: slot of its latest change
	sealed := make(map[armKey]series, len(arms))
	for k, h := range arms {
		sealed[k] = h.series()
	}
	for k, h := range sealed {
		from, ok := h.change()
		if !ok {
			continue
		}
		own[k] = from
		if cur, seen := since[k.context]; k.context != decide.AllContexts && (!seen || from < cur) {
			since[k.context] = from
		}
	}
	type counts struct {
		exp, conv float64
		before    *counts // an unchanged arm's counts before its context's change
	}
	learned := make(map[armKey]counts, len(sealed))
	for k, h := range sealed {
		from, changed := own[k]
		if !changed {
			from = math.MaxInt
		}
		var c counts
		if at, ok := since[k.context]; ok && !changed {
			from = at
			var b counts
			b.exp, b.conv = h.counts(from, true)
			c.before = &b
		}
		c.exp, c.conv = h.counts(from, false)
		learned[k] = c
	}
	out.Changes = len(own)
	// Each context arm shrinks toward its offer's arm in the same segment
	// and group over all dayparts, which shrinks toward the offer's
	// pooled arm: who the customers are says more of what they take than
	// the time of day does.
	keys := make([]armKey, 0, len(learned)) // in order: the same data, the same sums
	for k := range learned {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b armKey) int {
		return cmp.Or(cmp.Compare(a.offer, b.offer), cmp.Compare(a.context, b.context))
	})
	segments := map[armKey]counts{}
	for _, k := range keys {
		if seg := segmentOf(k.context); seg != "" {
			c, t := learned[k], segments[armKey{k.offer, seg}]
			t.exp, t.conv = t.exp+c.exp, t.conv+c.conv
			segments[armKey{k.offer, seg}] = t
		}
	}
	var armList []decide.Arm
	for k, c := range learned {
		a := decide.Arm{Offer: k.offer, Context: k.context, Exposures: round(c.exp), Conversions: round(c.conv)}
		// Beta(1, 1) under the arms over all contexts, and under each
		// level of a context's prior: no data, no opinion.
		w, p := 2.0, 0.5
		if k.context != decide.AllContexts {
			pooled := learned[armKey{k.offer, decide.AllContexts}]
			w, p = shrink(w, p, pooled.exp, pooled.conv)
			seg := segments[armKey{k.offer, segmentOf(k.context)}]
			w, p = shrink(w, p, seg.exp, seg.conv)
			if c.before != nil {
				w, p = shrink(w, p, c.before.exp, c.before.conv)
			}
		}
		// At least minPseudo each, so that rounding leaves a valid Beta.
		alpha, beta := max(w*p, minPseudo), max(w*(1-p), minPseudo)
		a.Alpha = round(alpha + c.conv)
		a.Beta = round(beta + c.exp - c.conv)
		armList = append(armList, a)
	}
	// The pooled arms first, then by exposures: the bound cuts the
	// context arms seen least, which are the nearest to their pooled arm.
	sortArmsByWeight(armList)
	if len(armList) > MaxArms {
		out.DroppedArms = len(armList) - MaxArms
		armList = armList[:MaxArms]
	}

	if reuse != nil {
		// A copy: publishing may cut the model's rules.
		out.Model.Rules, out.Baskets, out.Decisions, out.DroppedRules = slices.Clone(reuse.Model.Rules), reuse.Baskets,
			reuse.Decisions, reuse.DroppedRules
	} else {
		out.Model.Rules, out.Baskets, out.Decisions, out.DroppedRules = mined, minedOut.Baskets, minedOut.Decisions,
			minedOut.DroppedRules
	}
	sortArms(armList)
	out.Model.Arms = armList
	return out, nil
}

// mine finds the rules in every basket from fromUS to toUS, each in its
// store's group and over all stores. It counts the baskets and decisions
// into out.
func mine(ctx context.Context, db *store.DB, s Settings, fromUS, toUS int64, out *Learned) ([]decide.Rule, error) {
	offers, err := db.Offers(ctx, "")
	if err != nil {
		return nil, err
	}
	m := newMiner(offerItems(offers), s)
	err = db.EachBasket(ctx, fromUS, toUS, func(b *store.Basket) {
		out.Baskets++
		if b.Context != "" {
			out.Decisions++
		}
		m.add(s.GroupOf(b.Store), b.Items)
	})
	if err != nil {
		return nil, err
	}
	rules := m.rules()
	if len(rules) > MaxRules {
		sort.SliceStable(rules, func(i, j int) bool { return rules[i].Lift > rules[j].Lift })
		out.DroppedRules = len(rules) - MaxRules
		rules = rules[:MaxRules]
	}
	sortRules(rules)
	return rules, nil
}

// shrink is the rate of exp exposures and conv conversions shrunk toward
// a prior of weight w and rate p, and the weight it is worth as the next
// level's prior: at most PriorWeight. No exposures (or weights that
// underflowed to 0, many half-lives old) leave the prior as it is.
func shrink(w, p, exp, conv float64) (float64, float64) {
	if exp <= 0 {
		return w, p
	}
	return math.Min(PriorWeight, w+exp), (w*p + conv) / (w + exp)
}

// minPseudo is the least pseudo-observation a prior gives either side.
const minPseudo = 1e-3

// segmentOf is a context's segment and group, without its daypart; "" for
// the arms over all contexts.
func segmentOf(context string) string {
	c, ok := decide.ParseContext(context)
	if !ok {
		return ""
	}
	return c.Segment + "|" + c.Group
}

// sortArmsByWeight puts the pooled arms first, then the arms of most
// exposures.
func sortArmsByWeight(a []decide.Arm) {
	sort.Slice(a, func(i, j int) bool {
		x, y := a[i], a[j]
		if px, py := x.Context == decide.AllContexts, y.Context == decide.AllContexts; px != py {
			return px
		}
		if x.Exposures != y.Exposures {
			return x.Exposures > y.Exposures
		}
		if x.Offer != y.Offer {
			return x.Offer < y.Offer
		}
		return x.Context < y.Context
	})
}

func sortArms(a []decide.Arm) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].Offer != a[j].Offer {
			return a[i].Offer < a[j].Offer
		}
		return a[i].Context < a[j].Context
	})
}

func sortRules(r []decide.Rule) {
	sort.Slice(r, func(i, j int) bool {
		a, b := r[i], r[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.If != b.If {
			return a.If < b.If
		}
		if a.Lift != b.Lift {
			return a.Lift > b.Lift
		}
		return a.Offer < b.Offer
	})
}

// round keeps 4 decimals: a model's figures need no more, and it is
// smaller and changes less for it. It is monotone, so conversions stay at
// most exposures.
func round(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// offerItems returns, for each offer whose condition selects items, the
// item keys it selects: the skus, categories and brands of the items
// predicates of its condition (outside any "not"), lowercased as item keys
// are.
func offerItems(offers []store.Object) map[string][]string {
	out := map[string][]string{}
	for _, o := range offers {
		var doc struct {
			Condition any `json:"condition"`
		}
		if json.Unmarshal(o.Doc, &doc) != nil {
			continue
		}
		set := map[string]bool{}
		walkItems(doc.Condition, set)
		if len(set) == 0 {
			continue
		}
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out[o.ID] = keys
	}
	return out
}

func walkItems(v any, set map[string]bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, body := range m {
		switch k {
		case "all", "any":
			if l, ok := body.([]any); ok {
				for _, e := range l {
					walkItems(e, set)
				}
			}
		case "items":
			sel, ok := body.(map[string]any)
			if !ok {
				continue
			}
			for field, kind := range map[string]string{"skus": decide.ItemSKU, "categories": decide.ItemCategory,
				"brands": store.ItemBrand} {
				l, _ := sel[field].([]any)
				for _, e := range l {
					if s, ok := e.(string); ok && s != "" {
						if kind != decide.ItemSKU {
							s = strings.ToLower(s)
						}
						set[decide.ItemKey(kind, s)] = true
					}
				}
			}
		}
	}
}
