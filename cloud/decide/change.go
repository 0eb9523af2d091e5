package decide

import (
	"math"
	"slices"
)

// Change detection. The half-life lets old counts fade, but slowly: seven
// days after customers stop taking an offer, half of what the arm says
// still comes from before. So each arm is also tested for a change: its
// exposures, in time slots, are split at every slot boundary into older
// and newer; where the conversion rates of the two sides differ by more
// than ChangeZ standard errors (a two-proportion z-test on the raw counts,
// each side with at least ChangeMinSide exposures), the split of the
// largest difference is a change, and the arm is learned from what came
// after it only. A change is found within about ChangeMinSide exposures of
// it, whether the rate fell or rose; a rate that drifts slowly is left to
// the half-life.
const (
	// ChangeZ is the z of the smallest difference called a change: with
	// about a hundred splits tested per arm, 4 keeps false alarms rare.
	ChangeZ = 4
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
type history map[int]*slot

func (h history) add(i int, w float64, converted bool) {
	s := h[i]
	if s == nil {
		s = &slot{}
		h[i] = s
	}
	s.n++
	s.we += w
	if converted {
		s.c++
		s.wc += w
	}
}

// change returns the slot from which the arm is learned: the newest slot
// before its last change, or the oldest slot with no change.
func (h history) change() (from int, changed bool) {
	keys := h.slots()
	var n, c int
	for _, k := range keys {
		n += h[k].n
		c += h[k].c
	}
	best, from := float64(ChangeZ), math.MaxInt
	newN, newC := 0, 0
	for i, k := range keys[:len(keys)-1] {
		newN += h[k].n
		newC += h[k].c
		oldN, oldC := n-newN, c-newC
		if newN < ChangeMinSide {
			continue
		}
		if oldN < ChangeMinSide {
			break
		}
		if z := math.Abs(twoProportionZ(newC, newN, oldC, oldN)); z >= best {
			best, from = z, keys[i+1]
		}
	}
	return from, from != math.MaxInt
}

// counts returns the arm's weighted exposures and conversions in the
// slots newer than from.
func (h history) counts(from int) (exp, conv float64) {
	for k, s := range h {
		if k < from {
			exp += s.we
			conv += s.wc
		}
	}
	return exp, conv
}

// slots are the slots the arm saw, newest first.
func (h history) slots() []int {
	keys := make([]int, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// twoProportionZ is the z of the difference between the rates a/n and b/m
// under the pooled rate: 0 when both sides always or never convert.
func twoProportionZ(a, n, b, m int) float64 {
	p := float64(a+b) / float64(n+m)
	se := math.Sqrt(p * (1 - p) * (1/float64(n) + 1/float64(m)))
	if se == 0 {
		return 0
	}
	return (float64(a)/float64(n) - float64(b)/float64(m)) / se
}
