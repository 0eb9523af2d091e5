package shopsim

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Mean is a running mean and variance (Welford).
type Mean struct {
	N        int64
	mean, m2 float64
}

// Add counts x.
func (m *Mean) Add(x float64) {
	m.N++
	d := x - m.mean
	m.mean += d / float64(m.N)
	m.m2 += d * (x - m.mean)
}

// Value is the mean; 0 of nothing.
func (m Mean) Value() float64 { return m.mean }

// Var is the sample variance; 0 below two values.
func (m Mean) Var() float64 {
	if m.N < 2 {
		return 0
	}
	return m.m2 / float64(m.N-1)
}

// z95 is the normal quantile of a two-sided 95% interval.
const z95 = 1.959963984540054

// Diff is the difference of two means, a minus b, with its 95% interval
// (normal approximation, Welch: each side's own variance), as HQ reports
// uplift.
func Diff(a, b Mean) (diff, lo, hi float64) {
	diff = a.Value() - b.Value()
	if a.N == 0 || b.N == 0 {
		return diff, math.NaN(), math.NaN()
	}
	se := math.Sqrt(a.Var()/float64(a.N) + b.Var()/float64(b.N))
	return diff, diff - z95*se, diff + z95*se
}

// Txn is what one transaction tells about the policies.
type Txn struct {
	Day int
	// At is the checkout's time.
	At      time.Time
	Holdout bool
	// Expected conversions of each policy's choice on the first basket:
	// the agent's (learned), the first k candidates (fixed), and the k
	// candidates the shopper is likeliest to take (oracle). Not set for
	// held-out transactions, whose choice is not shown.
	Learned, Fixed, Oracle float64
	// Converted is how many of the suggestions shown were redeemed.
	Converted int
	// Uplift is the true uplift of the suggestions chosen, shown or (held
	// out) would-be: the sum of each one's conversion chance shown minus
	// not shown. UpliftKnown is false for a held-out transaction whose
	// would-be suggestions the agent did not report.
	Uplift      float64
	UpliftKnown bool
	// Decided: the agent chose suggestions in the transaction (shown, or
	// held out, would-be), so its checkout carries a decision, which is
	// what HQ's uplift counts.
	Decided bool
	// Expected is the sum of the conversion chances of every suggestion
	// shown in the transaction (every round); Converted is what came of
	// them.
	Expected float64
	// Effect is what showing made of the suggestions shown: those
	// redeemed (Converted) less those the same shopper, with the same
	// draws, would have redeemed anyway had nothing been shown. It counts
	// what expected chances cannot: a suggestion redeemed because taking
	// another added what it needs.
	Effect float64
	// Candidates is how many suggestions the agent could have made.
	Candidates int
}

// Day is one simulated day's figures, over its exposed transactions.
type Day struct {
	Day          int     `json:"day"`
	Transactions int     `json:"transactions"`
	Held         int     `json:"held_out"`
	Learned      float64 `json:"uptake_learned"`
	Fixed        float64 `json:"uptake_fixed"`
	Oracle       float64 `json:"uptake_oracle"`
	Converted    float64 `json:"conversions_learned"`
	Regret       float64 `json:"regret"`
}

// Stats gathers a run's transactions.
type Stats struct {
	// Warmup is how many first days the uptake figures leave out.
	Warmup int

	// K is how many suggestions a choice makes: a transaction with more
	// candidates is one where the choice matters.
	K int

	days                               []*dayAcc
	learned, fixed, oracle, conv, lift Mean
	cands, choose                      Mean
	expShown, realShown, effect        Mean
	exposed, held                      int
}

type dayAcc struct {
	n, held                      int
	learned, fixed, oracle, conv Mean
}

// Add counts one transaction.
func (s *Stats) Add(t Txn) {
	for len(s.days) < t.Day {
		s.days = append(s.days, &dayAcc{})
	}
	d := s.days[t.Day-1]
	d.n++
	if t.UpliftKnown && t.Decided {
		s.lift.Add(t.Uplift)
	}
	if t.Holdout {
		d.held++
		s.held++
		return
	}
	s.exposed++
	if t.Decided {
		s.expShown.Add(t.Expected)
		s.realShown.Add(float64(t.Converted))
		s.effect.Add(t.Effect)
	}
	d.learned.Add(t.Learned)
	d.fixed.Add(t.Fixed)
	d.oracle.Add(t.Oracle)
	d.conv.Add(float64(t.Converted))
	if t.Day > s.Warmup {
		s.cands.Add(float64(t.Candidates))
		more := 0.0
		if t.Candidates > s.K {
			more = 1
		}
		s.choose.Add(more)
		s.learned.Add(t.Learned)
		s.fixed.Add(t.Fixed)
		s.oracle.Add(t.Oracle)
		s.conv.Add(float64(t.Converted))
	}
}

// Days is the figures of each day.
func (s *Stats) Days() []Day {
	out := make([]Day, 0, len(s.days))
	for i, d := range s.days {
		out = append(out, Day{
			Day: i + 1, Transactions: d.n, Held: d.held,
			Learned: d.learned.Value(), Fixed: d.fixed.Value(), Oracle: d.oracle.Value(),
			Converted: d.conv.Value(), Regret: d.oracle.Value() - d.learned.Value(),
		})
	}
	return out
}

// Summary is a run's result, as posoffer-sim shoppers --json prints it.
type Summary struct {
	Seed     uint64 `json:"seed"`
	Days     int    `json:"days"`
	Shoppers int    `json:"shoppers"`
	ShiftDay int    `json:"shift_day"`
	// Warmup is the first days, left out of the uptakes.
	Warmup       int `json:"warmup_days"`
	Transactions int `json:"transactions"`
	Exposed      int `json:"exposed"`
	HeldOut      int `json:"held_out"`
	// Uptakes are expected conversions per exposed transaction after the
	// warm-up week.
	UptakeLearned      float64 `json:"uptake_learned"`
	UptakeFixed        float64 `json:"uptake_fixed"`
	UptakeOracle       float64 `json:"uptake_oracle"`
	ConversionsLearned float64 `json:"conversions_learned"`
	// Candidates is the mean number of candidates per exposed transaction
	// after the warm-up; Choosing the share of those with more than the
	// agent may suggest, where the choice matters.
	Candidates float64 `json:"candidates"`
	// ShownExpected and ShownConverted are, per exposed transaction with
	// a decision (every day, every round), the expected conversions of
	// the suggestions shown and the conversions HQ counts: these differ
	// where adding one offer's items makes another suggested offer apply.
	ShownExpected     float64 `json:"shown_expected"`
	ShownConverted    float64 `json:"shown_converted"`
	Choosing          float64 `json:"choosing"`
	LearnedOverOracle float64 `json:"learned_over_oracle"`
	LearnedOverFixed  float64 `json:"learned_over_fixed"`
	// UpliftTrue is the mean true uplift per transaction with a decision
	// (HQ's unit); UpliftMeasured and UpliftCI are HQ's overall conversion
	// uplift and its 95% interval (null without HQ's report).
	UpliftTrue     float64    `json:"uplift_true"`
	UpliftMeasured *float64   `json:"uplift_measured"`
	UpliftCI       []*float64 `json:"uplift_ci"`
	UpliftInCI     bool       `json:"uplift_true_in_ci"`
	// UpliftEffect is the realized effect of showing, per exposed
	// transaction with a decision (Txn.Effect): the true uplift with the
	// conversions one suggestion brings another.
	UpliftEffect     float64 `json:"uplift_effect"`
	UpliftEffectInCI bool    `json:"uplift_effect_in_ci"`
	// HQSays is HQ's verdict; HQExposed and HQHeldOut the transactions
	// with a decision HQ compared.
	HQSays    string `json:"hq_says,omitempty"`
	HQExposed int64  `json:"hq_exposed"`
	HQHeldOut int64  `json:"hq_held_out"`
	PerDay    []Day  `json:"per_day"`
}

// Summarize fills the figures of s into sum.
func (s *Stats) Summarize(sum *Summary) {
	sum.Exposed, sum.HeldOut, sum.Warmup = s.exposed, s.held, s.Warmup
	sum.Transactions = s.exposed + s.held
	sum.UptakeLearned, sum.UptakeFixed, sum.UptakeOracle = s.learned.Value(), s.fixed.Value(), s.oracle.Value()
	sum.ConversionsLearned = s.conv.Value()
	sum.Candidates, sum.Choosing = s.cands.Value(), s.choose.Value()
	sum.ShownExpected, sum.ShownConverted = s.expShown.Value(), s.realShown.Value()
	sum.UpliftEffect = s.effect.Value()
	sum.LearnedOverOracle = ratio(sum.UptakeLearned, sum.UptakeOracle)
	sum.LearnedOverFixed = ratio(sum.UptakeLearned, sum.UptakeFixed)
	sum.UpliftTrue = s.lift.Value()
	sum.PerDay = s.Days()
	sum.UpliftCI = []*float64{nil, nil}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Table writes the per-day table and the totals.
func (sum *Summary) Table(w io.Writer) {
	fmt.Fprintf(w, "%4s %6s %5s %8s %8s %8s %8s %8s\n", "day", "txns", "held", "learned", "fixed", "oracle", "regret", "conv")
	for _, d := range sum.PerDay {
		mark := ""
		if d.Day == sum.ShiftDay {
			mark = "  <- shift"
		}
		fmt.Fprintf(w, "%4d %6d %5d %8.3f %8.3f %8.3f %8.3f %8.3f%s\n",
			d.Day, d.Transactions, d.Held, d.Learned, d.Fixed, d.Oracle, d.Regret, d.Converted, mark)
	}
	if len(sum.PerDay) <= sum.Warmup {
		fmt.Fprintf(w, "\nno day after the first %d: the uptakes need --days %d or more\n", sum.Warmup, sum.Warmup+1)
	} else {
		fmt.Fprintf(w, "\nafter day %d, per exposed transaction: learned %.3f, fixed %.3f, oracle %.3f (learned/oracle %.1f%%, learned/fixed %+.1f%%); realized conversions %.3f\n",
			sum.Warmup, sum.UptakeLearned, sum.UptakeFixed, sum.UptakeOracle, 100*sum.LearnedOverOracle, 100*(sum.LearnedOverFixed-1), sum.ConversionsLearned)
	}
	fmt.Fprintf(w, "candidates per transaction %.2f; more candidates than suggestions in %.1f%% of transactions\n", sum.Candidates, 100*sum.Choosing)
	fmt.Fprintf(w, "suggestions shown, per exposed transaction with a decision: %.3f conversions expected, %.3f counted\n", sum.ShownExpected, sum.ShownConverted)
	fmt.Fprintf(w, "uplift per transaction: true %.4f", sum.UpliftTrue)
	if sum.UpliftMeasured != nil {
		fmt.Fprintf(w, ", HQ measured %.4f", *sum.UpliftMeasured)
	}
	if sum.UpliftCI[0] != nil && sum.UpliftCI[1] != nil {
		in := "outside"
		if sum.UpliftInCI {
			in = "inside"
		}
		in2 := "outside"
		if sum.UpliftEffectInCI {
			in2 = "inside"
		}
		fmt.Fprintf(w, " [%.4f, %.4f] (true uplift %s; realized effect %.4f, %s)", *sum.UpliftCI[0], *sum.UpliftCI[1], in, sum.UpliftEffect, in2)
	}
	if sum.HQSays != "" {
		fmt.Fprintf(w, " (HQ: %s)", sum.HQSays)
	}
	fmt.Fprintln(w)
}

// Chart writes regret per day as an ASCII bar chart.
func (sum *Summary) Chart(w io.Writer) {
	top := 0.0
	for _, d := range sum.PerDay {
		top = math.Max(top, math.Abs(d.Regret))
	}
	if top == 0 {
		top = 1
	}
	const width = 50
	fmt.Fprintln(w, "regret per day (oracle - learned, expected conversions per transaction)")
	for _, d := range sum.PerDay {
		n := int(math.Round(math.Max(d.Regret, 0) / top * width))
		mark := ""
		if d.Day == sum.ShiftDay {
			mark = " <- shift"
		}
		fmt.Fprintf(w, "%4d %6.3f |%s%s\n", d.Day, d.Regret, strings.Repeat("#", n), mark)
	}
}
