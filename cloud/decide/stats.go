package decide

import (
	"math"
)

// Sample accumulates one side of a comparison: a value per transaction.
type Sample struct {
	N          int64
	Sum, SumSq float64
}

// Add counts one transaction's value.
func (s *Sample) Add(x float64) {
	s.N++
	s.Sum += x
	s.SumSq += x * x
}

// Mean is the sample mean; 0 when empty.
func (s Sample) Mean() float64 {
	if s.N == 0 {
		return 0
	}
	return s.Sum / float64(s.N)
}

// Var is the sample variance (n-1); 0 below two values.
func (s Sample) Var() float64 {
	if s.N < 2 {
		return 0
	}
	m := s.Mean()
	v := (s.SumSq - float64(s.N)*m*m) / float64(s.N-1)
	return math.Max(v, 0)
}

// Verdicts of a comparison.
const (
	VerdictTooLittle = "too little data"
	VerdictUplift    = "uplift"
	VerdictNone      = "no uplift"
	VerdictNegative  = "negative"
)

// MinSide is the least number of transactions on each side of a
// comparison with a verdict.
const MinSide = 30

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
// interval by the normal approximation of Welch (the standard error is
// sqrt(s1²/n1 + s2²/n2)). The verdict:
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
		se = math.Sqrt(exposed.Var()/float64(exposed.N) + heldOut.Var()/float64(heldOut.N))
	}
	c.CI = [2]float64{c.Difference - z95*se, c.Difference + z95*se}
	switch lo, hi := c.CI[0], c.CI[1]; {
	case exposed.N < MinSide || heldOut.N < MinSide:
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

func betaCF(a, b, x float64) float64 {
	const tiny = 1e-300
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	f := d
	for m := 1; m <= 1000; m++ {
		fm := float64(m)
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		f *= d * c
		num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		delta := d * c
		f *= delta
		if math.Abs(delta-1) < 1e-12 {
			break
		}
	}
	return f
}
