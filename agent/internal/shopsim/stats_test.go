package shopsim

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMean(t *testing.T) {
	var m Mean
	for _, x := range []float64{2, 4, 4, 4, 5, 5, 7, 9} {
		m.Add(x)
	}
	if m.N != 8 || !near(m.Value(), 5) || !near(m.Var(), 32.0/7) {
		t.Errorf("n %d mean %g var %g; want 8, 5, %g", m.N, m.Value(), m.Var(), 32.0/7)
	}
	var one Mean
	one.Add(3)
	if one.Var() != 0 {
		t.Errorf("variance of one value: %g", one.Var())
	}
}

func TestDiff(t *testing.T) {
	var a, b Mean
	for _, x := range []float64{1, 0, 1, 1, 0, 1, 1, 1, 0, 1} { // 0.7
		a.Add(x)
	}
	for _, x := range []float64{0, 0, 1, 0, 0} { // 0.2
		b.Add(x)
	}
	d, lo, hi := Diff(a, b)
	se := math.Sqrt(a.Var()/10 + b.Var()/5)
	if !near(d, 0.5) || !near(lo, 0.5-1.959963984540054*se) || !near(hi, 0.5+1.959963984540054*se) {
		t.Errorf("diff %g [%g, %g], se %g", d, lo, hi, se)
	}
	if _, lo, _ := Diff(a, Mean{}); !math.IsNaN(lo) {
		t.Errorf("interval with an empty side: %g", lo)
	}
}

func TestStats(t *testing.T) {
	s := &Stats{Warmup: 1}
	s.Add(Txn{Day: 1, Learned: 0.1, Fixed: 0.2, Oracle: 0.5, Uplift: 0.1, UpliftKnown: true, Decided: true})
	s.Add(Txn{Day: 2, Learned: 0.4, Fixed: 0.2, Oracle: 0.5, Converted: 1, Uplift: 0.3, UpliftKnown: true, Decided: true})
	s.Add(Txn{Day: 2, Learned: 0.2, Fixed: 0.1, Oracle: 0.3, Uplift: 0.2, UpliftKnown: true, Decided: true})
	s.Add(Txn{Day: 2, Holdout: true, Uplift: 0.9, UpliftKnown: false, Decided: true})
	s.Add(Txn{Day: 2, Holdout: true, Uplift: 0.2, UpliftKnown: true, Decided: true})
	s.Add(Txn{Day: 2, UpliftKnown: true}) // nothing to suggest: no decision, as HQ sees it
	var sum Summary
	s.Summarize(&sum)
	switch {
	case sum.Transactions != 6 || sum.Exposed != 4 || sum.HeldOut != 2:
		t.Errorf("counts %d %d %d", sum.Transactions, sum.Exposed, sum.HeldOut)
	case !near(sum.UptakeLearned, 0.2) || !near(sum.UptakeFixed, 0.1) || !near(sum.UptakeOracle, 0.8/3):
		t.Errorf("uptakes after the warm-up: %g %g %g", sum.UptakeLearned, sum.UptakeFixed, sum.UptakeOracle)
	case !near(sum.ConversionsLearned, 1.0/3):
		t.Errorf("conversions %g", sum.ConversionsLearned)
	case !near(sum.UpliftTrue, 0.2): // (0.1+0.3+0.2+0.2)/4: the unknown one left out
		t.Errorf("true uplift %g", sum.UpliftTrue)
	case len(sum.PerDay) != 2 || !near(sum.PerDay[0].Regret, 0.4) || sum.PerDay[1].Transactions != 5 || sum.PerDay[1].Held != 2:
		t.Errorf("per day %+v", sum.PerDay)
	}
	var out bytes.Buffer
	sum.ShiftDay = 2
	sum.Table(&out)
	sum.Chart(&out)
	if !strings.Contains(out.String(), "<- shift") || !strings.Contains(out.String(), "learned 0.200, fixed 0.100, oracle 0.267") {
		t.Errorf("table:\n%s", out.String())
	}
}
