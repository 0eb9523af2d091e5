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

// Learned is a model before it is given a revision, and what it came from.
type Learned struct {
	Model     decide.Model // Revision and Computed not set
	Baskets   int          // checkouts in the window
	Decisions int          // of which with a decision record
	// DroppedRules and DroppedArms were cut by the bounds.
	DroppedRules, DroppedArms int
}

// Learn computes what HQ learns from the checkouts of the window that ends
// at the newest one. With no checkout at all, the model is empty.
func Learn(ctx context.Context, db *store.DB, s Settings) (*Learned, error) {
	st, err := db.DecideStamp(ctx)
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
		wg.Go(func() { mined, mineErr = mine(ctx, db, s, from, &minedOut) })
	}

	// Posteriors, from the exposed suggestions.
	halfLifeUS := float64(s.HalfLife.Microseconds())
	type armKey struct{ offer, context string }
	type counts struct{ exp, conv float64 }
	arms := map[armKey]*counts{}
	count := func(k armKey, w float64, converted bool) {
		c := arms[k]
		if c == nil {
			c = &counts{}
			arms[k] = c
		}
		c.exp += w
		if converted {
			c.conv += w
		}
	}
	err := db.EachExposure(ctx, from, until+1, func(x *store.Exposure) {
		if x.Holdout {
			return
		}
		w := math.Exp2(-float64(until-x.AtUS) / halfLifeUS)
		count(armKey{x.Offer, x.Context}, w, x.Converted)
		count(armKey{x.Offer, decide.AllContexts}, w, x.Converted)
	})
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if mineErr != nil {
		return nil, mineErr
	}
	var armList []decide.Arm
	for k, c := range arms {
		a := decide.Arm{Offer: k.offer, Context: k.context, Exposures: round(c.exp), Conversions: round(c.conv)}
		priorA, priorB := 1.0, 1.0
		if k.context != decide.AllContexts {
			pooled := arms[armKey{k.offer, decide.AllContexts}]
			m := math.Min(PriorWeight, pooled.exp)
			p := pooled.conv / pooled.exp
			priorA, priorB = 1+m*p, 1+m*(1-p)
		}
		a.Alpha = round(priorA + c.conv)
		a.Beta = round(priorB + c.exp - c.conv)
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

// mine finds the rules in every basket from fromUS on, each of its store's
// group: that of its decision, else that of the store's other checkouts.
// It counts the baskets and decisions into out.
func mine(ctx context.Context, db *store.DB, s Settings, fromUS int64, out *Learned) ([]decide.Rule, error) {
	offers, err := db.Offers(ctx, "")
	if err != nil {
		return nil, err
	}
	m := newMiner(offerItems(offers), s)
	groupOf := map[string]string{}    // context -> group
	storeGroup := map[string]string{} // store -> group
	type pending struct {
		store string
		items string
	}
	var unknown []pending
	err = db.EachBasket(ctx, fromUS, func(b *store.Basket) {
		out.Baskets++
		if b.Context == "" {
			unknown = append(unknown, pending{b.Store, b.Items})
			return
		}
		out.Decisions++
		g, ok := groupOf[b.Context]
		if !ok {
			if c, ok := decide.ParseContext(b.Context); ok {
				g = c.Group
			}
			groupOf[b.Context] = g
		}
		if g != "" && storeGroup[b.Store] != g {
			storeGroup[b.Store] = g
		}
		m.add(g, b.Items)
	})
	if err != nil {
		return nil, err
	}
	for _, p := range unknown {
		m.add(storeGroup[p.store], p.items)
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
