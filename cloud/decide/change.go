package decide

import (
	"math"
	"slices"
)

// Change detection. The half-life lets old counts fade, but slowly: seven
// days after customers stop taking an offer, half of what the arm says
// still comes from before. So each arm is also tested for a change: its
// exposures, in time slots, are split at every slot boundary into older
// and newer; where a likelihood-ratio test says the two sides' conversion
// rates differ (the statistic at least ChangeG, each side with at least
// ChangeMinSide exposures), the split of the strongest evidence is a
// change, and the arm is learned from what came after it only. A large
// change, down or up, is found within a few dozen exposures of it; a small
// one takes more, and a rate that drifts slowly is left to the half-life.
//
// The likelihood ratio, not a z-test: at the low rates most offers have, a
// z-test's normal approximation calls three conversions in twenty after a
// hundred misses a change many times more often than it should.
const (
	// ChangeG is the least likelihood-ratio statistic (G, twice the log
	// of the ratio) called a change: 16, a z of 4, keeps false alarms
	// rare over the hundreds of splits tested per arm.
	ChangeG = 16
	// ChangeMinSide is the least number of exposures on each side of a
	// split.
	ChangeMinSide = 20
	// slots is how many time slots the window is cut into.
	slots = 256
)

// slot is what an arm saw in one time slot: raw counts for the test,
// weighted ones for the posterior.
type slot struct {
	n, c   int     // exposures, conversions
	we, wc float64 // the same, weighted by age
}

// history is one arm's exposures over the window, by slot; slot 0 is the
// newest. Only the slots that saw an exposure are kept, so an arm costs
// what it saw, not the window's length.
type history map[int]slot

func (h history) add(i int, w float64, converted bool) {
	s := h[i]
	s.n++
	s.we += w
	if converted {
		s.c++
		s.wc += w
	}
	h[i] = s
}

// series is a history in slot order, newest first: what the test and
// the counts read.
type series []timedSlot

type timedSlot struct {
	at int // the slot's index
	slot
}

func (h history) series() series {
	out := make(series, 0, len(h))
	for at, s := range h {
		out = append(out, timedSlot{at, s})
	}
	slices.SortFunc(out, func(a, b timedSlot) int { return a.at - b.at })
	return out
}

// change returns the slot of the arm's change, the newest slot of the
// older side of the split: the arm is learned from the slots newer than
// it. Without a change it returns false.
func (x series) change() (from int, changed bool) {
	var n, c int
	for _, s := range x {
		n += s.n
		c += s.c
	}
	best, from := float64(ChangeG), math.MaxInt
	newN, newC := 0, 0
	for i, s := range x[:max(len(x)-1, 0)] {
		newN += s.n
		newC += s.c
		oldN, oldC := n-newN, c-newC
		if newN < ChangeMinSide {
			continue
		}
		if oldN < ChangeMinSide {
			break
		}
		if g := likelihoodRatio(newC, newN, oldC, oldN); g >= best {
			best, from = g, x[i+1].at
		}
	}
	return from, from != math.MaxInt
}

// counts returns the arm's weighted exposures and conversions in the
// slots newer than from (before: from and older), added in slot order so
// that the same data always gives the same sums.
func (x series) counts(from int, before bool) (exp, conv float64) {
	for _, s := range x {
		if (s.at < from) != before {
			exp += s.we
			conv += s.wc
		}
	}
	return exp, conv
}

// likelihoodRatio is G = 2·(log L(a/n, b/m) − log L(pooled)): the evidence
// that a of n and b of m converted at different rates rather than one. It
// is 0 when the rates are equal, and grows with the difference and the
// counts.
func likelihoodRatio(a, n, b, m int) float64 {
	p := float64(a+b) / float64(n+m)
	g := logL(a, n, float64(a)/float64(n)) + logL(b, m, float64(b)/float64(m)) - logL(a, n, p) - logL(b, m, p)
	return max(2*g, 0)
}

// logL is the log-likelihood of c conversions of n at rate p (0·log 0 = 0).
func logL(c, n int, p float64) float64 {
	var l float64
	if c > 0 {
		l += float64(c) * math.Log(p)
	}
	if n > c {
		l += float64(n-c) * math.Log(1-p)
	}
	return l
}
