package decide

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/cloud/bus/bustest"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
	"github.com/posoffer/posoffer/protocol/decide"
)

func startNATS(t testing.TB) jetstream.JetStream {
	t.Helper()
	js, _ := bustest.Start(t)
	return js
}

var signer = catalogsig.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))

// published reads the model in the bucket, verified with the catalog key.
func published(t testing.TB, js jetstream.JetStream) (*decide.Model, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, decide.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, decide.ModelKey)
	if err != nil {
		t.Fatal(err)
	}
	env, err := signer.Verifier().Open(decide.ModelKey, e.Value())
	if err != nil {
		t.Fatal(err)
	}
	m, err := decide.ParseModel(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return m, env.Seq
}

// metric reads a gauge or counter from reg; label is the value of its
// one label, "" for none.
func metric(t testing.TB, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

func suggestion(at time.Time, id string, redeemed bool) []*protocol.Event {
	x := txn{store: "s1", terminal: "t1", id: id, at: at, lines: []protocol.EventLine{line("COF-1", "Coffee", "")},
		decision: decision("anon|morning|all", false, "pastry")}
	if redeemed {
		x.redeemed = []string{"pastry"}
	}
	ck, reds := x.events()
	return append(reds, ck)
}

// TestLearnerPublishes: the model is signed into the bucket, published
// again only when it changed, with revisions and sequences that grow
// across a restart; a deleted bucket is made again and the model put back.
func TestLearnerPublishes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		ctx := context.Background()
		db := open(t)
		js := startNATS(t)
		clock := t0
		opts := Options{DB: db, JS: js, Signer: signer, Settings: settings, Now: func() time.Time { return clock }}
		reg := prometheus.NewRegistry()
		o1 := opts
		o1.Registry = reg
		l := New(o1)

		// Nothing stored: nothing to publish.
		if rev, err := l.Step(ctx); err != nil || rev != 1 {
			// An empty model is still a model: the stores learn the holdout.
			t.Fatalf("first step: revision %d, %v", rev, err)
		}
		m, seq1 := published(t, js)
		if m.Revision != 1 || len(m.Arms) != 0 || m.Holdout != 0.05 {
			t.Fatalf("first model %+v", m)
		}

		write(t, db, suggestion(t0, "a", true)...)
		write(t, db, suggestion(t0, "b", false)...)
		if rev, err := l.Step(ctx); err != nil || rev != 2 {
			t.Fatalf("after checkouts: revision %d, %v", rev, err)
		}
		m, seq2 := published(t, js)
		if a := arm(m, "pastry", decide.AllContexts); m.Revision != 2 || a == nil || a.Exposures != 2 || a.Conversions != 1 ||
			!m.DataUntil.Equal(t0) || !m.Computed.Equal(clock) || seq2 <= seq1 {
			t.Fatalf("second model %+v (seq %d after %d)", m, seq2, seq1)
		}
		if got := metric(t, reg, "posoffer_cloud_decide_arms", ""); got != 2 {
			t.Errorf("arms metric %v", got)
		}

		// Nothing new: nothing published.
		if rev, err := l.Step(ctx); err != nil || rev != 0 {
			t.Fatalf("unchanged: revision %d, %v", rev, err)
		}
		// A heartbeat changes nothing learned from.
		write(t, db, &protocol.Event{ID: newID(), Kind: protocol.EventHeartbeat, Store: "s1", At: t0,
			Heartbeat: &protocol.Heartbeat{Agent: "x"}})
		if rev, err := l.Step(ctx); err != nil || rev != 0 {
			t.Fatalf("after a heartbeat: revision %d, %v", rev, err)
		}

		// A restart: a new learner on the same database goes on from the
		// saved revision, with a later sequence even when the clock went
		// back.
		clock = t0.Add(-time.Hour)
		l2 := New(opts)
		if rev, err := l2.Step(ctx); err != nil || rev != 0 {
			t.Fatalf("restart, unchanged: revision %d, %v", rev, err)
		}
		write(t, db, suggestion(t0.Add(time.Minute), "c", true)...)
		if rev, err := l2.Step(ctx); err != nil || rev != 3 {
			t.Fatalf("restart, changed: revision %d, %v", rev, err)
		}
		if m, seq3 := published(t, js); m.Revision != 3 || seq3 <= seq2 {
			t.Fatalf("after restart: revision %d seq %d (before %d)", m.Revision, seq3, seq2)
		}

		// Someone deletes the bucket: the next step makes it again and
		// puts the model back, under the same revision.
		if err := js.DeleteKeyValue(ctx, decide.Bucket); err != nil {
			t.Fatal(err)
		}
		if rev, err := l2.Step(ctx); err != nil || rev != 0 {
			t.Fatalf("after delete: revision %d, %v", rev, err)
		}
		if m, _ := published(t, js); m.Revision != 3 {
			t.Fatalf("after delete: revision %d", m.Revision)
		}
	})
}

// TestLearnerRefusesOversized: a model that would not fit a NATS message
// is not published, and says so in its error and metric.
func TestLearnerRefusesOversized(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)(t)
	js := startNATS(t)
	var evs []*protocol.Event
	for i := range 40 {
		evs = append(evs, suggestion(t0, "x"+strings.Repeat("0", i), i%2 == 0)...)
	}
	write(t, db, evs...)
	reg := prometheus.NewRegistry()
	l := New(Options{DB: db, JS: js, Signer: signer, Settings: settings, MaxBytes: 200, Registry: reg})
	_, err := l.Step(ctx)
	if !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "at most 200") {
		t.Fatalf("got %v, want ErrTooBig", err)
	}
	if n := metric(t, reg, "posoffer_cloud_decide_publish_errors_total", "too_big"); n != 1 {
		t.Errorf("too_big metric %v", n)
	}
	kv, err := js.KeyValue(ctx, decide.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, decide.ModelKey); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("an oversized model was published: %v", err)
	}
	if _, err := db.LastModel(ctx); !errors.Is(err, store.ErrNoModel) {
		t.Fatalf("an oversized model was saved: %v", err)
	}
}

// TestFit: a model too big for one message loses its rules of lowest lift
// first, then its context arms of fewest exposures, never a pooled arm.
func TestFit(t *testing.T) {
	build := func() *decide.Model {
		m := &decide.Model{Version: decide.ModelVersion, Revision: 1, Holdout: 0.05}
		for i := range 5 {
			m.Arms = append(m.Arms, decide.Arm{Offer: fmt.Sprintf("o%d", i), Context: decide.AllContexts, Alpha: 1, Beta: 1})
		}
		for i := range 100 {
			m.Arms = append(m.Arms, decide.Arm{Offer: fmt.Sprintf("o%d", i%5), Context: fmt.Sprintf("seg:s%d|morning|all", i),
				Alpha: 2, Beta: 3, Exposures: float64(i), Conversions: 1})
			m.Rules = append(m.Rules, decide.Rule{If: fmt.Sprintf("sku:SKU-%d", i), Offer: "o1", Support: 0.1,
				Confidence: 0.5, Lift: 1 + float64(i)/10, N: 30})
		}
		sortArms(m.Arms)
		sortRules(m.Rules)
		return m
	}
	full, _ := json.Marshal(build())

	m := build()
	doc, cutRules, cutArms, err := fit(m, len(full)-2000)
	if err != nil || len(doc) > len(full)-2000 || cutRules == 0 || cutArms != 0 {
		t.Fatalf("cut %d rules, %d arms to %d bytes of %d (%v)", cutRules, cutArms, len(doc), len(full), err)
	}
	for _, r := range m.Rules {
		if r.Lift < 1+float64(cutRules)/10-1e-9 {
			t.Errorf("kept rule %+v, of lower lift than one cut", r)
		}
	}
	m = build()
	doc, cutRules, cutArms, err = fit(m, len(full)/3)
	if err != nil || len(doc) > len(full)/3 || cutRules != 100 || cutArms == 0 {
		t.Fatalf("cut %d rules, %d arms to %d bytes (%v)", cutRules, cutArms, len(doc), err)
	}
	pooled := 0
	for _, a := range m.Arms {
		if a.Context == decide.AllContexts {
			pooled++
		} else if a.Exposures < float64(cutArms) {
			t.Errorf("kept arm %+v, of fewer exposures than one cut", a)
		}
	}
	if pooled != 5 {
		t.Errorf("%d pooled arms kept, want 5", pooled)
	}
	if got, err := decide.ParseModel(doc); err != nil || len(got.Arms) != len(m.Arms) {
		t.Fatalf("the cut model: %v", err)
	}
	if _, _, _, err := fit(build(), 300); !errors.Is(err, ErrTooBig) {
		t.Fatalf("pooled arms alone too big: %v", err)
	}
}

// TestReplicasPublishOneModel: two HQ replicas' learners on one database
// step at once; neither fails, and the bucket holds the one model saved.
func TestReplicasPublishOneModel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		ctx := context.Background()
		db1, db2 := open(t), open(t)
		js := startNATS(t)
		write(t, db1, suggestion(t0, "a", true)...)
		l1 := New(Options{DB: db1, JS: js, Signer: signer, Settings: settings})
		l2 := New(Options{DB: db2, JS: js, Signer: signer, Settings: settings})
		errs := make(chan error, 2)
		for _, l := range []*Learner{l1, l2} {
			go func() { _, err := l.Step(ctx); errs <- err }()
		}
		for range 2 {
			select {
			case err := <-errs:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("a step did not end")
			}
		}
		saved, err := db1.LastModel(ctx)
		if err != nil || saved.Revision != 1 {
			t.Fatalf("saved %+v (%v), want revision 1", saved, err)
		}
		if m, seq := published(t, js); m.Revision != 1 || seq != saved.Seq {
			t.Fatalf("published revision %d seq %d, saved seq %d", m.Revision, seq, saved.Seq)
		}
	})
}

// TestLearnerRemines: between recomputes, the posteriors follow every
// checkout, the rules only a change of 1% in the baskets, or in the
// catalog.
func TestLearnerRemines(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)(t)
	js := startNATS(t)
	putOffer(t, db, "pastry", `{"items":{"categories":["pastry"]}}`)
	coffee := func(n int, pastry bool) []*protocol.Event {
		var out []*protocol.Event
		for range n {
			lines := []protocol.EventLine{line("COF-1", "coffee", "")}
			if pastry {
				lines = append(lines, line("CRO-1", "pastry", ""))
			}
			ck, _ := txn{store: "s1", terminal: "t1", id: newID(), at: t0, lines: lines,
				decision: decision("anon|morning|all", false, "pastry")}.events()
			out = append(out, ck)
		}
		return out
	}
	write(t, db, coffee(100, true)...)
	write(t, db, coffee(100, false)...)
	for range 200 {
		ck, _ := txn{store: "s1", terminal: "t1", id: newID(), at: t0,
			lines: []protocol.EventLine{line("MILK-1", "dairy", "")}}.events()
		write(t, db, ck)
	}
	l := New(Options{DB: db, JS: js, Signer: signer, Settings: settings})
	ruleN := func() int64 {
		m, _ := published(t, js)
		if r := rule(m, "", "category:coffee", "pastry"); r != nil {
			return r.N
		}
		return 0
	}
	exposures := func() float64 {
		m, _ := published(t, js)
		return arm(m, "pastry", decide.AllContexts).Exposures
	}
	step := func(want int64) {
		t.Helper()
		if rev, err := l.Step(ctx); err != nil || rev != want {
			t.Fatalf("step: revision %d, %v; want %d", rev, err, want)
		}
	}
	step(1)
	if ruleN() != 200 || exposures() != 200 {
		t.Fatalf("rule n %d, exposures %v", ruleN(), exposures())
	}
	// 3 more of 400: under 1%, the rules stay, the arms move.
	write(t, db, coffee(3, false)...)
	step(2)
	if ruleN() != 200 || exposures() != 203 {
		t.Fatalf("after 3: rule n %d, exposures %v", ruleN(), exposures())
	}
	// 2 more: 5 of 400, 1.25%: mined again.
	write(t, db, coffee(2, false)...)
	step(3)
	if ruleN() != 205 || exposures() != 205 {
		t.Fatalf("after 5: rule n %d, exposures %v", ruleN(), exposures())
	}
	// A change to the catalog: mined again, with the new offer's rule
	// (dairy baskets hold milk).
	putOffer(t, db, "milk", `{"items":{"skus":["MILK-1"]}}`)
	step(4)
	m, _ := published(t, js)
	if r := rule(m, "", "category:dairy", "milk"); r == nil || r.N != 200 {
		t.Fatalf("no rule for the new offer: %+v", r)
	}
}

// TestLearnerRuns: Run publishes at once and after each interval, and
// returns when its context ends.
func TestLearnerRuns(t *testing.T) {
	db := storetest.SQLite(t)(t)
	js := startNATS(t)
	l := New(Options{DB: db, JS: js, Signer: signer, Settings: settings, Interval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	}()
	// saved reports whether the model of the revision is saved and in
	// the bucket.
	saved := func(rev int64) bool {
		m, err := db.LastModel(context.Background())
		if err != nil || m.Revision != rev {
			return false
		}
		kv, err := js.KeyValue(context.Background(), decide.Bucket)
		if err != nil {
			return false
		}
		e, err := kv.Get(context.Background(), decide.ModelKey)
		if err != nil {
			return false
		}
		env, err := signer.Verifier().Open(decide.ModelKey, e.Value())
		return err == nil && env.Seq == m.Seq
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after 10s: %s", what)
			}
		}
	}
	poll("the first model", func() bool { return saved(1) })
	write(t, db, suggestion(t0, "a", true)...)
	poll("the model of the new checkout", func() bool { return saved(2) })
}
