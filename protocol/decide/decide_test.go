package decide

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestSampleBetaMoments(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ a, b float64 }{{1, 1}, {2, 8}, {0.5, 0.5}, {300, 700}} {
		const n = 200_000
		var sum, sq float64
		for range n {
			x := SampleBeta(r, c.a, c.b)
			if x < 0 || x > 1 {
				t.Fatalf("Beta(%g,%g) drew %g", c.a, c.b, x)
			}
			sum += x
			sq += x * x
		}
		mean := sum / n
		v := sq/n - mean*mean
		wantMean := c.a / (c.a + c.b)
		wantVar := c.a * c.b / ((c.a + c.b) * (c.a + c.b) * (c.a + c.b + 1))
		if math.Abs(mean-wantMean) > 0.005 || math.Abs(v-wantVar) > 0.1*wantVar+1e-5 {
			t.Errorf("Beta(%g,%g): mean %.4f var %.5f, want %.4f %.5f", c.a, c.b, mean, v, wantMean, wantVar)
		}
	}
}

func TestHoldoutStableAndShared(t *testing.T) {
	const share = 0.05
	in := 0
	for i := range 100_000 {
		id := HoldoutID("k"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676%26)), "s001", "t01", "x")
		// The documented hash, computed here on its own: the same id is
		// held out by every agent and HQ, whatever their build.
		h := sha256.Sum256([]byte("posoffer holdout v1\x00" + id))
		if want := float64(binary.BigEndian.Uint64(h[:8])>>11)/(1<<53) < share; InHoldout(id, share) != want {
			t.Fatalf("%s: held out %v, the documented hash says %v", id, !want, want)
		}
		if InHoldout(id, share) {
			in++
		}
	}
	if got := float64(in) / 100_000; math.Abs(got-share) > 0.005 {
		t.Errorf("share held out %.4f, want %.2f", got, share)
	}
	// A customer is held out by key alone: the same in every store, on every transaction.
	key := "abcdefghijklmnopqrstuvwxyz"
	if HoldoutID(key, "s001", "t01", "1") != HoldoutID(key, "s002", "t09", "2") {
		t.Error("a customer's holdout id depends on the store or transaction")
	}
	if HoldoutID("", "s001", "t01", "1") == HoldoutID("", "s001", "t01", "2") {
		t.Error("anonymous transactions share a holdout id")
	}
	if InHoldout(key, 0) {
		t.Error("share 0 holds out")
	}
}

func TestSegmentOf(t *testing.T) {
	for _, c := range []struct {
		customer bool
		segs     []string
		spend    map[string]int64
		want     string
	}{
		{false, nil, nil, SegmentAnonymous},
		{true, nil, nil, SegmentNew},
		{true, []string{"vip", "lapsed"}, nil, "seg:lapsed+vip"},
		{true, []string{"vip"}, map[string]int64{"Coffee Beans": 900, "tea": 300}, "taste:coffee-beans"},
		{false, nil, map[string]int64{"b": 5, "a": 5}, "taste:a"},
	} {
		got := SegmentOf(c.customer, c.segs, c.spend)
		if got != c.want {
			t.Errorf("SegmentOf(%v, %v, %v) = %q, want %q", c.customer, c.segs, c.spend, got, c.want)
		}
		k := Context{Segment: got, Daypart: Morning, Group: DefaultGroup}.Key()
		if _, ok := ParseContext(k); !ok {
			t.Errorf("context %q does not parse", k)
		}
	}
}

func TestDaypartOf(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for h, want := range map[int]string{0: Night, 4: Night, 5: Morning, 10: Morning, 11: Midday, 14: Afternoon, 17: Evening, 21: Evening, 22: Night} {
		at := time.Date(2026, 12, 3, h, 30, 0, 0, tokyo)
		if got := DaypartOf(at.UTC(), tokyo); got != want {
			t.Errorf("%02d:30 Tokyo: %s, want %s", h, got, want)
		}
	}
}

func TestParseModelRefuses(t *testing.T) {
	good := `{"version":1,"revision":3,"computed":"2026-12-03T00:00:00Z","data_until":"2026-12-02T23:00:00Z","holdout":0.05,` +
		`"rules":[{"if":"category:coffee","offer":"pastry-2","support":0.1,"confidence":0.4,"lift":2.1,"n":120}],` +
		`"arms":[{"offer":"pastry-2","context":"taste:coffee|morning|all","alpha":3,"beta":9,"exposures":10,"conversions":2},` +
		`{"offer":"pastry-2","context":"*","alpha":4,"beta":12,"exposures":14,"conversions":3}]}`
	if _, err := ParseModel([]byte(good)); err != nil {
		t.Fatalf("good model: %v", err)
	}
	for name, bad := range map[string]string{
		"version":     strings.Replace(good, `"version":1`, `"version":2`, 1),
		"unknown":     strings.Replace(good, `"holdout"`, `"x":1,"holdout"`, 1),
		"holdout":     strings.Replace(good, `"holdout":0.05`, `"holdout":0.9`, 1),
		"alpha":       strings.Replace(good, `"alpha":3`, `"alpha":0`, 1),
		"conversions": strings.Replace(good, `"conversions":2`, `"conversions":11`, 1),
		"context":     strings.Replace(good, `taste:coffee|morning|all`, `Taste|x`, 1),
		"if":          strings.Replace(good, `category:coffee`, `aisle:coffee`, 1),
		"support":     strings.Replace(good, `"support":0.1`, `"support":1.5`, 1),
		"offer":       strings.Replace(good, `"offer":"pastry-2","support"`, `"offer":"Pastry","support"`, 1),
		"trailing":    good + "{}",
	} {
		if _, err := ParseModel([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
