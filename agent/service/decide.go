package service

import (
	"cmp"
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
	"github.com/posoffer/posoffer/protocol/offer"
)

// What the till suggests (docs/decide.md): for each basket the agent
// gathers the candidates (the evaluator's nudges, then the cross-sells of
// HQ's rules for the basket's items that this customer may get now),
// chooses at most Decide.MaxSuggestions of them by Thompson sampling over
// HQ's posteriors (or by the fixed rule), and keeps, per open
// transaction, the draws and every offer suggested, which the checkout
// records as its decision.

// Decide configures the choice of suggestions.
type Decide struct {
	// MaxSuggestions is the most suggestions in one reply; 0 is
	// decide.DefaultMaxSuggestions, negative is none.
	MaxSuggestions int
	// Policy is protocol.PolicyLearned (Thompson sampling; "" is this) or
	// protocol.PolicyFixed (nudges by priority, then cross-sells by lift).
	Policy string
	// Group is the store's group, whose rules and contexts it uses; ""
	// is decide.DefaultGroup.
	Group string
	// Seed seeds the draws, with the store, terminal and transaction, so
	// that a run is reproducible.
	Seed int64
	// ReportCandidates adds every candidate and the holdout to replies.
	ReportCandidates bool
}

func (d *Decide) defaults() {
	if d.MaxSuggestions == 0 {
		d.MaxSuggestions = decide.DefaultMaxSuggestions
	}
	if d.Policy == "" {
		d.Policy = protocol.PolicyLearned
	}
	if d.Group == "" {
		d.Group = decide.DefaultGroup
	}
}

// Bounds of the choice's work and memory.
const (
	maxCrossSells = 16     // cross-sell candidates checked per basket, by lift
	maxOpenTxns   = 10_000 // transactions whose decisions are kept, like shown
	learningBelow = 20     // exposures under which a suggestion is still learning
)

// model is HQ's model indexed for this store.
type model struct {
	m *decide.Model
	// skus and categories are the rules by the item of their If (a
	// category lowercased): the store group's, else all stores'; lift
	// high first.
	skus, categories map[string][]decide.Rule
	arms             map[armKey]*decide.Arm
}

type armKey struct{ offer, context string }

// SetModel makes m the model suggestions are chosen with (nil: none).
func (s *Service) SetModel(m *decide.Model) {
	if m == nil {
		s.model.Store(nil)
		s.m.model.Set(0)
		return
	}
	x := &model{m: m, skus: map[string][]decide.Rule{}, categories: map[string][]decide.Rule{},
		arms: make(map[armKey]*decide.Arm, len(m.Arms))}
	mine, all := map[string][]decide.Rule{}, map[string][]decide.Rule{}
	for _, r := range m.Rules {
		switch r.Group {
		case s.opts.Decide.Group:
			mine[r.If] = append(mine[r.If], r)
		case "":
			all[r.If] = append(all[r.If], r)
		}
	}
	for k, rs := range all {
		if _, ok := mine[k]; !ok {
			mine[k] = rs
		}
	}
	for k, rs := range mine {
		kind, item, _ := strings.Cut(k, ":")
		if kind == decide.ItemSKU {
			x.skus[item] = rs
		} else { // lowercased by HQ; again here, as baskets' are
			c := strings.ToLower(item)
			x.categories[c] = append(x.categories[c], rs...)
		}
	}
	for _, rs := range x.categories {
		slices.SortFunc(rs, byLift)
	}
	for _, rs := range x.skus {
		slices.SortFunc(rs, byLift)
	}
	for i := range m.Arms {
		a := &m.Arms[i]
		x.arms[armKey{a.Offer, a.Context}] = a
	}
	s.model.Store(x)
	s.m.model.Set(float64(m.Revision))
}

// Model returns the model in use, or nil before the first.
func (s *Service) Model() *decide.Model {
	if x := s.model.Load(); x != nil {
		return x.m
	}
	return nil
}

func byLift(a, b decide.Rule) int {
	if c := cmp.Compare(b.Lift, a.Lift); c != 0 {
		return c
	}
	return cmp.Compare(a.Offer, b.Offer)
}

// candidate is something the till could suggest.
type candidate struct {
	protocol.Suggestion
	lift float64 // a cross-sell's best rule
	item string  // and the sku or category it is for
	draw float64
}

// txnDecision is what was decided for one open transaction.
type txnDecision struct {
	customer  string // the customer the context and holdout are for
	context   string
	holdout   bool
	model     int64 // the revision of HQ's model the first choice used
	draws     map[string]float64
	suggested []protocol.Suggested
	seen      map[string]bool
}

// choice is the outcome of one basket's choice.
type choice struct {
	chosen, candidates []protocol.Suggestion
	holdout            bool
}

// suggest gathers the basket's candidates, chooses among them and keeps
// the choice in the transaction's decision. It returns nil when there is
// nothing to suggest.
func (s *Service) suggest(cat *offer.Catalog, in *offer.Input, res *offer.Result, terminal, customerKey string) *choice {
	d := &s.opts.Decide
	if d.MaxSuggestions < 0 {
		return nil
	}
	x := s.model.Load()
	cands := make([]candidate, 0, len(res.Nudges)+maxCrossSells)
	for _, n := range res.Nudges {
		miss := n.Missing
		cands = append(cands, candidate{Suggestion: protocol.Suggestion{Offer: n.Offer, Kind: protocol.SuggestNudge,
			Text: n.Text, Missing: &miss}})
	}
	if x != nil && len(x.skus)+len(x.categories) > 0 {
		cands = s.crossSells(cat, in, res, x, cands)
	}
	if len(cands) == 0 {
		return nil
	}
	b := in.Basket
	// Under the lock only what the transaction keeps: the context (a
	// long purchase history takes a while) and the draws are worked out
	// outside it. A transaction's baskets come one at a time.
	s.mu.Lock()
	k := txnKey(terminal, b.Txn)
	st := s.decisions[k]
	if st == nil {
		if len(s.decisions) >= maxOpenTxns { // abandoned transactions: start over
			clear(s.decisions)
		}
		st = &txnDecision{draws: map[string]float64{}, seen: map[string]bool{}}
		if x != nil {
			st.model = x.m.Revision
		}
		s.decisions[k] = st
	}
	context, holdout := st.context, st.holdout
	fresh := context == "" || st.customer != customerKey
	missing := 0
	for i := range cands {
		if v, ok := st.draws[cands[i].Offer]; ok {
			cands[i].draw = v
		} else {
			cands[i].draw = -1
			missing++
		}
	}
	s.mu.Unlock()

	if fresh {
		context = decide.Context{Segment: segmentOf(in), Daypart: decide.DaypartOf(in.Now, in.Location), Group: d.Group}.Key()
		share := decide.DefaultHoldout
		if x != nil {
			share = x.m.Holdout
		}
		holdout = decide.InHoldout(decide.HoldoutID(customerKey, s.opts.Store, terminal, b.Txn), share)
	}
	learned := d.Policy == protocol.PolicyLearned
	if learned && missing > 0 {
		var src rand.PCG
		r := rand.New(&src)
		base := s.txnSeed(terminal, b.Txn)
		for i := range cands {
			c := &cands[i]
			if c.draw >= 0 {
				continue
			}
			a := x.arm(c.Offer, context)
			alpha, beta := 1.0, 1.0
			if a != nil {
				alpha, beta = a.Alpha, a.Beta
			}
			src.Seed(base, offerSeed(c.Offer))
			c.draw = decide.SampleBeta(r, alpha, beta)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if fresh {
		st.customer, st.context, st.holdout = customerKey, context, holdout
	}
	order := cands
	if learned {
		for i := range cands {
			if _, ok := st.draws[cands[i].Offer]; !ok {
				st.draws[cands[i].Offer] = cands[i].draw
			}
		}
		order = make([]candidate, 0, min(len(cands), d.MaxSuggestions))
		for i := range cands { // the best MaxSuggestions draws, high first, ties by offer id
			c := &cands[i]
			if len(order) == d.MaxSuggestions && !drawsHigher(c, &order[len(order)-1]) {
				continue
			}
			j := len(order)
			for j > 0 && drawsHigher(c, &order[j-1]) {
				j--
			}
			if len(order) < d.MaxSuggestions {
				order = append(order, candidate{})
			}
			copy(order[j+1:], order[j:len(order)-1])
			order[j] = *c
		}
	}
	out := &choice{holdout: st.holdout}
	for _, c := range order[:min(len(order), d.MaxSuggestions)] {
		c.Why = s.why(x, &c, st.context)
		out.chosen = append(out.chosen, c.Suggestion)
		if !st.seen[c.Offer] && len(st.suggested) < protocol.MaxSuggested {
			st.seen[c.Offer] = true
			st.suggested = append(st.suggested, protocol.Suggested{Offer: c.Offer, Kind: c.Kind})
		}
	}
	if d.ReportCandidates {
		for _, c := range cands {
			c.Why = s.why(x, &c, st.context)
			out.candidates = append(out.candidates, c.Suggestion)
		}
	}
	return out
}

func drawsHigher(a, b *candidate) bool {
	return a.draw > b.draw || a.draw == b.draw && a.Offer < b.Offer
}

// crossSells adds to cands the offers of the model's rules for the
// basket's items that the customer may get now and that do not apply,
// best lift first (then offer id), each offer once with its best rule, at
// most maxCrossSells checked.
func (s *Service) crossSells(cat *offer.Catalog, in *offer.Input, res *offer.Result, x *model, cands []candidate) []candidate {
	type xsell struct {
		offer, kind, item string // the offer, and the item of its best rule
		lift              float64
	}
	taken := func(id string) bool { // applies, or is a nudge already
		for i := range res.Offers {
			if res.Offers[i].ID == id {
				return true
			}
		}
		for i := range cands {
			if cands[i].Offer == id {
				return true
			}
		}
		return false
	}
	better := func(lift float64, offer string, b *xsell) bool {
		return lift > b.lift || lift == b.lift && offer < b.offer
	}
	// best is kept in order as the rules are read: each item's rules
	// come lift high first, so most are turned away at the first compare.
	best := make([]xsell, 0, maxCrossSells)
	add := func(rules []decide.Rule, kind, item string) {
		for k := range rules {
			r := &rules[k]
			if len(best) == maxCrossSells && !better(r.Lift, r.Offer, &best[maxCrossSells-1]) {
				return // the rest of this item's rules are no better
			}
			at := slices.IndexFunc(best, func(b xsell) bool { return b.offer == r.Offer })
			switch {
			case at >= 0 && !better(r.Lift, r.Offer, &best[at]):
				continue
			case at >= 0:
				best = slices.Delete(best, at, at+1) // placed again below, higher
			case taken(r.Offer):
				continue
			}
			j := len(best)
			for j > 0 && better(r.Lift, r.Offer, &best[j-1]) {
				j--
			}
			if len(best) < maxCrossSells {
				best = append(best, xsell{})
			}
			copy(best[j+1:], best[j:len(best)-1])
			best[j] = xsell{r.Offer, kind, item, r.Lift}
		}
	}
	for _, l := range in.Basket.Lines {
		if rs := x.skus[l.SKU]; rs != nil {
			add(rs, decide.ItemSKU, l.SKU)
		}
		if l.Category != "" {
			c := strings.ToLower(l.Category)
			if rs := x.categories[c]; rs != nil {
				add(rs, decide.ItemCategory, c)
			}
		}
	}
	if len(best) == 0 {
		return cands
	}
	ids := make([]string, len(best))
	for i, f := range best {
		ids[i] = f.offer
	}
	reach, err := cat.Reach(in, ids)
	if err != nil {
		return cands
	}
	for i, r := range reach {
		if r.Available {
			f := best[i]
			cands = append(cands, candidate{Suggestion: protocol.Suggestion{Offer: f.offer, Kind: protocol.SuggestCrossSell,
				Text: r.Text, Missing: r.Missing}, lift: f.lift, item: f.item})
		}
	}
	return cands
}

// arm is the posterior of offer in context: its own, else the offer's
// over all contexts, else nil (Beta(1, 1)).
func (x *model) arm(offerID, context string) *decide.Arm {
	if x == nil {
		return nil
	}
	if a := x.arms[armKey{offerID, context}]; a != nil {
		return a
	}
	return x.arms[armKey{offerID, decide.AllContexts}]
}

// why says what a suggestion's choice rests on.
func (s *Service) why(x *model, c *candidate, context string) string {
	if s.opts.Decide.Policy == protocol.PolicyFixed {
		if c.Kind == protocol.SuggestNudge {
			return "the basket nearly qualifies"
		}
		return "bought with " + c.item + " " + strconv.FormatFloat(c.lift, 'f', 1, 64) + "x as often as by others"
	}
	a := x.arm(c.Offer, context)
	if a == nil || a.Exposures < learningBelow {
		return "new suggestion, still learning"
	}
	who := "similar customers"
	if a.Context == decide.AllContexts {
		who = "customers"
	}
	return "taken by " + strconv.Itoa(int(math.Round(100*a.Mean()))) + "% of " + who + ", n=" + thousands(int64(math.Round(a.Exposures)))
}

// thousands writes n with a comma between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// txnSeed and offerSeed seed the random source of one (transaction,
// offer) draw: from Decide.Seed, the store, the terminal and the
// transaction, and the offer, so that a run is reproducible and each draw
// is the same whatever else is a candidate.
func (s *Service) txnSeed(terminal, txn string) uint64 {
	h := fnv.New64a()
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], uint64(s.opts.Decide.Seed))
	h.Write(seed[:])
	for _, p := range []string{s.opts.Store, terminal, txn} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func offerSeed(offerID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(offerID))
	return h.Sum64()
}

// segmentOf is the segment of a basket's context: the taste of the
// customer's history and this basket, else their catalog segments.
func segmentOf(in *offer.Input) string {
	spend := map[string]int64{}
	for _, l := range in.Basket.Lines {
		if l.Category != "" {
			spend[l.Category] += l.Qty * l.Price
		}
	}
	var segments []string
	if c := in.Customer; c != nil {
		segments = c.Segments
		if p := c.Profile; p != nil {
			for _, d := range p.History {
				for _, it := range d.Items {
					if it.Category != "" {
						spend[it.Category] += it.Spend
					}
				}
			}
		}
	}
	return decide.SegmentOf(in.Customer != nil, segments, spend)
}

// decision takes the decision of a transaction for its checkout: nil when
// nothing was suggested.
func (s *Service) decision(terminal, txn string) *protocol.Decision {
	s.mu.Lock()
	st := s.decisions[txnKey(terminal, txn)]
	s.mu.Unlock()
	if st == nil || len(st.suggested) == 0 {
		return nil
	}
	return &protocol.Decision{Context: st.context, Policy: s.opts.Decide.Policy, Model: st.model, Holdout: st.holdout,
		Suggested: slices.Clone(st.suggested)}
}

// terminalTime is a message's ts, for clock.source terminal.
func terminalTime(m *protocol.Message) (time.Time, error) {
	if m.TS == "" {
		return time.Time{}, &protocol.Error{Code: protocol.CodeBadMessage,
			Message: "ts: required: this agent takes the time of baskets and checkouts from the terminal (clock.source terminal)"}
	}
	t, err := time.Parse(time.RFC3339Nano, m.TS)
	if err != nil {
		return time.Time{}, &protocol.Error{Code: protocol.CodeBadMessage, Message: "ts: must be an RFC 3339 time"}
	}
	return t, nil
}
