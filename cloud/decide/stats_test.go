package decide

import (
	"math"
	"testing"
)

// sample has ones 1s and n-ones 0s.
func sample(n, ones int) Sample {
	var s Sample
	for i := range n {
		if i < ones {
			s.Add(1)
		} else {
			s.Add(0)
		}
	}
	return s
}

// alternating has n values alternating a and b.
func alternating(n int, a, b float64) Sample {
	var s Sample
	for i := range n {
		if i%2 == 0 {
			s.Add(a)
		} else {
			s.Add(b)
		}
	}
	return s
}

// TestCompare checks the Welch interval against numbers worked out by
// hand: diff = m1 - m2, se = sqrt(v1/n1 + v2/n2), CI = diff ± 1.96 se.
func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name             string
		exposed, heldOut Sample
		diff, lo, hi     float64
		verdict          string
	}{
		// 0.30 vs 0.10 of 100: v = 21/99 and 9/99, se = 0.0550482.
		{"uplift", sample(100, 30), sample(100, 10), 0.2, 0.092108, 0.307892, VerdictUplift},
		{"negative", sample(100, 10), sample(100, 30), -0.2, -0.307892, -0.092108, VerdictNegative},
		// 0.25 vs 0.10 of 40: v = 7.5/39 and 3.6/39, se = 0.0843527; the
		// interval spans 0 and is wider than 0.10.
		{"wide", sample(40, 10), sample(40, 4), 0.15, -0.015328, 0.315328, VerdictTooLittle},
		// 5 vs 5 of 400 (4s and 6s): v = 400/399, se = 0.0707992; narrow
		// beside a held-out mean of 5.
		{"none", alternating(400, 4, 6), alternating(400, 6, 4), 0, -0.138764, 0.138764, VerdictNone},
		// 29 transactions held out: too few, however clear (v = 9/99 and
		// 0, se = 0.0301511).
		{"few", sample(100, 90), sample(29, 0), 0.9, 0.840905, 0.959095, VerdictTooLittle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(tc.exposed, tc.heldOut)
			if math.Abs(c.Difference-tc.diff) > 1e-6 || math.Abs(c.CI[0]-tc.lo) > 1e-5 || math.Abs(c.CI[1]-tc.hi) > 1e-5 ||
				c.Verdict != tc.verdict {
				t.Fatalf("got %+v, want %v [%v, %v] %q", c, tc.diff, tc.lo, tc.hi, tc.verdict)
			}
		})
	}
}

// TestBetaInterval against closed forms: Beta(1,1) is uniform, Beta(2,1)
// has CDF x², Beta(1,3) has CDF 1-(1-x)³.
func TestBetaInterval(t *testing.T) {
	for _, tc := range []struct {
		a, b, lo, hi float64
	}{
		{1, 1, 0.025, 0.975},
		{2, 1, math.Sqrt(0.025), math.Sqrt(0.975)},
		{1, 3, 1 - math.Cbrt(0.975), 1 - math.Cbrt(0.025)},
	} {
		lo, hi := BetaInterval(tc.a, tc.b, 0.95)
		if math.Abs(lo-tc.lo) > 1e-6 || math.Abs(hi-tc.hi) > 1e-6 {
			t.Errorf("Beta(%v, %v): [%v, %v], want [%v, %v]", tc.a, tc.b, lo, hi, tc.lo, tc.hi)
		}
	}
	// Exact at the edge of the normal approximation, it is close to it.
	lo, hi := BetaInterval(exactBeta, 2*exactBeta, 0.95)
	alo, ahi := BetaInterval(exactBeta+1e-9, 2*exactBeta, 0.95)
	if math.Abs(lo-alo) > 1e-3 || math.Abs(hi-ahi) > 1e-3 {
		t.Errorf("Beta(%d, %d): exact [%v, %v], approximated [%v, %v]", exactBeta, 2*exactBeta, lo, hi, alo, ahi)
	}
	if z := normalQuantile(0.975); math.Abs(z-z95) > 1e-9 {
		t.Errorf("normal quantile of 0.975: %v", z)
	}
	// A middling one stays near its normal approximation.
	lo, hi = BetaInterval(301, 701, 0.95)
	m, sd := 301.0/1002, math.Sqrt(301.0*701/(1002*1002*1003))
	if math.Abs(lo-(m-1.96*sd)) > 2e-3 || math.Abs(hi-(m+1.96*sd)) > 2e-3 {
		t.Errorf("Beta(301, 701): [%v, %v], want about %v ± %v", lo, hi, m, 1.96*sd)
	}
}
