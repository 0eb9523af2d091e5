package shopsim

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// Till is a terminal's line to the agent: it sends one message and
// returns the agent's reply.
type Till interface {
	Send(m *protocol.Message) (*protocol.Message, error)
}

// Visit is one shopper coming in.
type Visit struct {
	Day      int // from 1
	At       time.Time
	Segment  *Segment
	Customer string // loyalty id; empty: no card
	Txn      string
}

// MaxRounds bounds how often a shopper adds items in one transaction: the
// cashier suggests, the shopper adds, the cashier may suggest again.
const MaxRounds = 3

// Shop runs one visit through the till: the shopper's usual basket, then,
// for each suggestion shown, the shopper takes it with its true chance
// (adding what the offer needs), and for each offer the agent could have
// suggested buys what it needs anyway with the baseline chance; the basket
// is sent again after each round of additions, and the checkout applies
// the offers of the agent's last reply. k is how many suggestions the
// agent makes at most; loc is the store's zone, which dayparts are in.
func (w *World) Shop(till Till, r *rand.Rand, v Visit, k int, loc *time.Location) (Txn, error) {
	seg := v.Segment
	daypart := decide.DaypartOf(v.At, loc)
	conv := func(id string) float64 { return w.Convert(seg, id, daypart, v.Day) }
	base := func(id string) float64 { return w.Baseline(seg, id, v.Day) }

	lines := w.usualBasket(r, seg)
	t := Txn{Day: v.Day}
	msg := func(typ string, at time.Duration) *protocol.Message {
		return &protocol.Message{V: protocol.Version, Type: typ, Txn: v.Txn, Customer: v.Customer,
			TS: v.At.Add(at).UTC().Format(time.RFC3339), Lines: slices.Clone(lines)}
	}
	reply, err := send(till, msg(protocol.TypeBasket, 0), protocol.TypeOffers)
	if err != nil {
		return t, err
	}
	t.Holdout = reply.Holdout
	t.Candidates = len(reply.Candidates)
	if !reply.Holdout {
		t.Learned = sumOf(reply.Suggestions, conv)
		t.Fixed = sumOf(reply.Candidates[:min(k, len(reply.Candidates))], conv)
		best := slices.Clone(reply.Candidates)
		slices.SortStableFunc(best, func(a, b protocol.Suggestion) int { return cmp.Compare(conv(b.Offer), conv(a.Offer)) })
		t.Oracle = sumOf(best[:min(k, len(best))], conv)
	}

	start := slices.Clone(lines)
	var anyway []string             // offers the shopper buys unprompted
	considered := map[string]bool{} // candidates whose baseline was drawn
	shown := map[string]bool{}      // suggestions shown (held out: reported would-be ones)
	t.UpliftKnown = !reply.Holdout || len(reply.Suggestions) > 0
	for round := 1; ; round++ {
		var wants []string
		if len(reply.Candidates) > 0 && k > 0 {
			t.Decided = true
		}
		for _, c := range reply.Candidates {
			if !considered[c.Offer] {
				considered[c.Offer] = true
				if r.Float64() < base(c.Offer) {
					wants = append(wants, c.Offer)
					anyway = append(anyway, c.Offer)
				}
			}
		}
		for _, s := range reply.Suggestions {
			if shown[s.Offer] {
				continue
			}
			shown[s.Offer] = true
			t.Uplift += conv(s.Offer) - base(s.Offer)
			if !reply.Holdout {
				t.Expected += conv(s.Offer)
			}
			if !reply.Holdout && !slices.Contains(wants, s.Offer) && r.Float64() < w.Take(seg, s.Offer, daypart, v.Day) {
				wants = append(wants, s.Offer)
			}
		}
		if len(wants) == 0 || round > MaxRounds {
			break
		}
		for _, id := range wants {
			lines, _ = w.Solve(id, lines)
		}
		if reply, err = send(till, msg(protocol.TypeBasket, time.Duration(round)*20*time.Second), protocol.TypeOffers); err != nil {
			return t, err
		}
	}

	co := msg(protocol.TypeCheckout, 2*time.Minute)
	t.At = v.At.Add(2 * time.Minute).Truncate(time.Second)
	paid := int64(0)
	for _, l := range lines {
		paid += l.Qty * l.Price
	}
	for _, o := range reply.Offers {
		co.Applied = append(co.Applied, protocol.Applied{Offer: o.ID, Discount: o.Discount, Points: o.Points})
		paid -= o.Discount
		if shown[o.ID] && !reply.Holdout {
			t.Converted++
		}
	}
	co.Paid = &paid
	if !reply.Holdout && len(shown) > 0 {
		// The same shopper had nothing been shown: only what they buy
		// anyway. Of the suggestions shown, those that would have been
		// redeemed then too are no effect of showing them.
		cf := start
		for _, id := range anyway {
			cf, _ = w.Solve(id, cf)
		}
		would := w.applied(cf)
		t.Effect = float64(t.Converted)
		for id := range shown {
			if would[id] {
				t.Effect--
			}
		}
	}
	if _, err := send(till, co, protocol.TypeAck); err != nil {
		return t, err
	}
	return t, nil
}

// usualBasket is what a shopper of seg buys unprompted: each product with
// its chance, at least the likeliest one.
func (w *World) usualBasket(r *rand.Rand, seg *Segment) []protocol.Line {
	var lines []protocol.Line
	top := 0
	for i, b := range seg.Buys {
		if b.Often > seg.Buys[top].Often {
			top = i
		}
		if r.Float64() < b.Often {
			lines = append(lines, b.Line(1))
		}
	}
	if len(lines) == 0 {
		lines = append(lines, seg.Buys[top].Line(1))
	}
	return lines
}

func sumOf(l []protocol.Suggestion, p func(string) float64) float64 {
	s := 0.0
	for _, x := range l {
		s += p(x.Offer)
	}
	return s
}

func send(till Till, m *protocol.Message, want string) (*protocol.Message, error) {
	r, err := till.Send(m)
	if err != nil {
		return nil, err
	}
	if r.Type != want {
		return nil, fmt.Errorf("%s %s: the agent answered %s %s: %s", m.Type, m.Txn, r.Type, r.Code, r.Message)
	}
	return r, nil
}

// Visits draws a day's visits: n shoppers from a population of customers
// (customer i is in the segment Segments assigns it), each at a time in a
// daypart its segment weighs, sorted by time.
func (w *World) Visits(r *rand.Rand, day int, start time.Time, n int, customers []*Segment, idOf func(int) string) []Visit {
	date := start.AddDate(0, 0, day-1)
	out := make([]Visit, 0, n)
	for range n {
		c := r.IntN(len(customers))
		seg := customers[c]
		dp := pickDaypart(r, seg.Visits)
		hours := daypartHours[dp]
		h := hours[r.IntN(len(hours))]
		at := date.Add(time.Duration(h)*time.Hour + time.Duration(r.IntN(3600))*time.Second)
		v := Visit{Day: day, At: at, Segment: seg}
		if r.Float64() >= w.Population.Anonymous {
			v.Customer = idOf(c)
		}
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b Visit) int { return a.At.Compare(b.At) })
	for i := range out {
		out[i].Txn = fmt.Sprintf("d%03d-%05d", day, i+1)
	}
	return out
}

// Customers assigns n customers to segments by their shares.
func (w *World) Customers(r *rand.Rand, n int) []*Segment {
	out := make([]*Segment, n)
	for i := range out {
		x := r.Float64()
		seg := &w.Population.Segments[len(w.Population.Segments)-1]
		for j := range w.Population.Segments {
			s := &w.Population.Segments[j]
			if x < s.Share {
				seg = s
				break
			}
			x -= s.Share
		}
		out[i] = seg
	}
	return out
}

// daypartHours lists the store-local hours of each daypart.
var daypartHours = map[string][]int{
	decide.Night:     {22, 23, 0, 1, 2, 3, 4},
	decide.Morning:   {5, 6, 7, 8, 9, 10},
	decide.Midday:    {11, 12, 13},
	decide.Afternoon: {14, 15, 16},
	decide.Evening:   {17, 18, 19, 20, 21},
}

func pickDaypart(r *rand.Rand, weights map[string]float64) string {
	if len(weights) == 0 || sumValues(weights) <= 0 {
		return decide.Dayparts[r.IntN(len(decide.Dayparts))]
	}
	x := r.Float64() * sumValues(weights)
	last := ""
	for _, d := range decide.Dayparts {
		if weights[d] <= 0 {
			continue
		}
		last = d
		if x < weights[d] {
			return d
		}
		x -= weights[d]
	}
	return last
}
