package decide

import (
	"math"
)

// Sample accumulates one side of a comparison: a value per transaction,
// each transaction of a unit (decide.HoldoutID: the customer, or an
// anonymous transaction). The holdout draws customers, not transactions,
// and one customer's transactions are alike: the interval must count
// customers, or a holdout of a few regulars would look more certain than
// it is.
type Sample struct {
	N          int64   // transactions
	Sum, SumSq float64 // of their values
	units      map[string]*unitSum
}

type unitSum struct {
	n   int64
	sum float64
}

// Add counts one transaction's value, of the given unit.
func (s *Sample) Add(unit string, x float64) {
	if s.units == nil {
		s.units = map[string]*unitSum{}
	}
	u := s.units[unit]
	if u == nil {
		u = &unitSum{}
		s.units[unit] = u
	}
	u.n++
	u.sum += x
	s.N++
	s.Sum += x
	s.SumSq += x * x
}

// Units is the number of units (customers) behind the sample.
func (s Sample) Units() int { return len(s.units) }

// Mean is the mean per transaction; 0 when empty.
func (s Sample) Mean() float64 {
	if s.N == 0 {
		return 0
	}
	return s.Sum / float64(s.N)
}

// VarOfMean is the variance of Mean over units drawn at random: the
// cluster-robust (delta method) variance of a ratio of sums,
//
//	K/(K-1) · Σ_k (Y_k − m·N_k)² / N²
//
// for K units, unit k with N_k transactions summing to Y_k, N in all and
// mean m. With one transaction per unit it is s²/N, Welch's term. Below
// two units the spread between customers is unknown, and it is s²/N of
// the transactions: an interval too narrow, which is why Compare gives
// no verdict below MinUnits customers.
func (s Sample) VarOfMean() float64 {
	k := float64(len(s.units))
	if k < 2 {
		if s.N < 2 {
			return 0
		}
		n, m := float64(s.N), s.Mean()
		return math.Max(0, (s.SumSq-n*m*m)/(n-1)) / n
	}
	m := s.Mean()
	var ss float64
	for _, u := range s.units {
		d := u.sum - m*float64(u.n)
		ss += d * d
	}
	n := float64(s.N)
	return k / (k - 1) * ss / (n * n)
}

// Verdicts of a comparison.
const (
	VerdictTooLittle = "too little data"
	VerdictUplift    = "uplift"
	VerdictNone      = "no uplift"
	VerdictNegative  = "negative"
)

// MinSide is the least number of transactions, and MinUnits of customers,
// on each side of a comparison with a verdict.
const (
	MinSide  = 30
	MinUnits = 10
)

// z95 is the 97.5th percentile of the standard normal.
const z95 = 1.959963984540054

// Comparison is exposed against held out: each side's mean, the
// difference (exposed minus held out) with its 95% confidence interval,
// and what it says.
type Comparison struct {
	Exposed    float64    `json:"exposed"`
	HeldOut    float64    `json:"held_out"`
	Difference float64    `json:"difference"`
	CI         [2]float64 `json:"ci"`
	Verdict    string     `json:"verdict"`
}

// Compare compares two samples: the difference of their means with a 95%
// interval by the normal approximation, the standard error
// sqrt(VarOfMean1 + VarOfMean2): Welch's sqrt(s1²/n1 + s2²/n2) when every
// transaction is its own unit, wider when units come back. The verdict:
//   - "too little data" when either side has fewer than MinSide
//     transactions, or the interval spans 0 and is wider than the held-out
//     mean (it cannot rule out a change of half the baseline either way);
//   - else "uplift" when the interval is above 0, "negative" when below,
//     and "no uplift" when it spans 0.
func Compare(exposed, heldOut Sample) Comparison {
	c := Comparison{Exposed: exposed.Mean(), HeldOut: heldOut.Mean()}
	c.Difference = c.Exposed - c.HeldOut
	var se float64
	if exposed.N > 0 && heldOut.N > 0 {
		se = math.Sqrt(exposed.VarOfMean() + heldOut.VarOfMean())
	}
	c.CI = [2]float64{c.Difference - z95*se, c.Difference + z95*se}
	switch lo, hi := c.CI[0], c.CI[1]; {
	case exposed.N < MinSide || heldOut.N < MinSide || exposed.Units() < MinUnits || heldOut.Units() < MinUnits:
		c.Verdict = VerdictTooLittle
	case lo > 0:
		c.Verdict = VerdictUplift
	case hi < 0:
		c.Verdict = VerdictNegative
	case hi-lo > math.Abs(c.HeldOut):
		c.Verdict = VerdictTooLittle
	default:
		c.Verdict = VerdictNone
	}
	return c
}

// BetaInterval is the central credible interval of Beta(a, b) holding
// mass p (0.95: from the 2.5th to the 97.5th percentile). Beyond
// exactBeta on both sides, where the exact quantile costs more and the
// Beta is all but normal, it is the normal approximation.
func BetaInterval(a, b, p float64) (lo, hi float64) {
	if a > exactBeta && b > exactBeta {
		n := a + b
		mean, sd := a/n, math.Sqrt(a*b/(n*n*(n+1)))
		z := normalQuantile((1 + p) / 2)
		return math.Max(0, mean-z*sd), math.Min(1, mean+z*sd)
	}
	return betaQuantile(a, b, (1-p)/2), betaQuantile(a, b, (1+p)/2)
}

// exactBeta: see BetaInterval.
const exactBeta = 1000

// normalQuantile is the standard normal's quantile, by bisection of its
// CDF.
func normalQuantile(q float64) float64 {
	lo, hi := -10.0, 10.0
	for range 80 {
		mid := (lo + hi) / 2
		if 0.5*math.Erfc(-mid/math.Sqrt2) < q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// betaQuantile inverts the regularized incomplete beta function by
// bisection: plenty fast for a dashboard.
func betaQuantile(a, b, q float64) float64 {
	lo, hi := 0.0, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if betaCDF(a, b, mid) < q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// betaCDF is the regularized incomplete beta function I_x(a, b), by its
// continued fraction (Lentz's method).
func betaCDF(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

// betaCF is the continued fraction of the regularized incomplete beta
// function, by the modified Lentz method.
func betaCF(a, b, x float64) float64 {
	const tiny = 1e-300
	nonzero := func(v float64) float64 {
		if math.Abs(v) < tiny {
			return tiny
		}
		return v
	}
	c, d := 1.0, 1/nonzero(1-(a+b)*x/(a+1))
	f := d
	// step takes the next term num of the fraction and returns the factor
	// it changes f by.
	step := func(num float64) float64 {
		d = 1 / nonzero(1+num*d)
		c = nonzero(1 + num/c)
		return d * c
	}
	for m := 1; m <= 1000; m++ {
		fm := float64(m)
		f *= step(fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm)))
		delta := step(-(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1)))
		f *= delta
		if math.Abs(delta-1) < 1e-12 {
			break
		}
	}
	return f
}
