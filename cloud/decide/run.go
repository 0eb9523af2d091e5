package decide

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol/catalogsig"
	"github.com/posoffer/posoffer/protocol/decide"
)

// Options configure a Learner.
type Options struct {
	DB       *store.DB
	JS       jetstream.JetStream
	Signer   *catalogsig.Signer // HQ's catalog signing key, which signs the model too
	Settings Settings
	Interval time.Duration // between recomputes; 0: an hour
	Logger   *slog.Logger
	// Registry, when set, gets the learner's metrics.
	Registry prometheus.Registerer
	// MaxBytes bounds a model's JSON; 0: MaxModelBytes.
	MaxBytes int
	// Now is the clock of a model's Computed and its signature's
	// sequence; nil: time.Now.
	Now func() time.Time
}

// ErrTooBig: a model would not fit one NATS message.
var ErrTooBig = errors.New("decide model too big to publish")

// Learner recomputes and publishes the model.
type Learner struct {
	o     Options
	log   *slog.Logger
	mu    sync.Mutex // one Step at a time
	stamp store.DecideStamp
	have  bool // stamp is what the published model was learned from
	// mined is the last model whose rules were mined, from minedAt.
	mined   *Learned
	minedAt store.DecideStamp

	lastRun, lastDur, arms, changed, rules, revision prometheus.Gauge
	errs                                             *prometheus.CounterVec
}

// New returns a Learner.
func New(o Options) *Learner {
	if o.Interval <= 0 {
		o.Interval = time.Hour
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = MaxModelBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Learner{o: o, log: o.Logger,
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posoffer_cloud_decide_last_recompute_timestamp_seconds",
			Help: "When HQ last recomputed the model of learned suggestions (unix seconds)."}),
		lastDur: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posoffer_cloud_decide_recompute_duration_seconds",
			Help: "How long the last recompute of the model took."}),
		arms: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posoffer_cloud_decide_arms",
			Help: "Arms (offer and context posteriors) in the last model computed."}),
		changed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posoffer_cloud_decide_changed_arms",
			Help: "Arms of the last model computed whose conversion rate changed within the window: they are learned from after the change only."}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posoffer_cloud_decide_rules",
			Help: "Cross-sell rules in the last model computed."}),
		revision: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posoffer_cloud_decide_model_revision",
			Help: "The revision of the model HQ published last."}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_cloud_decide_publish_errors_total",
			Help: "Recomputes that published nothing, by reason: too_big (the model would not fit a NATS message), learn (reading the database), publish (NATS)."},
			[]string{"reason"}),
	}
	if o.Registry != nil {
		o.Registry.MustRegister(l.lastRun, l.lastDur, l.arms, l.changed, l.rules, l.revision, l.errs)
	}
	return l
}

// Run recomputes every interval until ctx is done.
func (l *Learner) Run(ctx context.Context) {
	for {
		if _, err := l.Step(ctx); err != nil && ctx.Err() == nil {
			l.log.Error("decide: model not published; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(l.o.Interval):
		}
	}
}

// Step recomputes the model when what it is learned from changed, saves
// and publishes it when it differs from the last, and puts the last one
// back in the bucket when the bucket lost it. It returns the revision
// published now; 0 when none.
func (l *Learner) Step(ctx context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.o.DB.DecideStamp(ctx, NotAfter(time.Now()))
	if err != nil {
		l.errs.WithLabelValues("learn").Inc()
		return 0, err
	}
	if l.have && st == l.stamp {
		return 0, l.ensurePublished(ctx)
	}
	start := time.Now()
	var reuse *Learned
	if l.mined != nil && !l.remine(st) {
		reuse = l.mined
	}
	learned, err := learn(ctx, l.o.DB, l.o.Settings, st, reuse)
	if err != nil {
		l.errs.WithLabelValues("learn").Inc()
		return 0, err
	}
	if reuse == nil {
		// A copy: publishing may cut the model's rules.
		mined := *learned
		mined.Model.Rules = slices.Clone(learned.Model.Rules)
		l.mined, l.minedAt = &mined, st
	}
	l.lastDur.Set(time.Since(start).Seconds())
	l.lastRun.Set(float64(l.o.Now().UnixNano()) / 1e9)
	l.arms.Set(float64(len(learned.Model.Arms)))
	l.changed.Set(float64(learned.Changes))
	l.rules.Set(float64(len(learned.Model.Rules)))
	rev, err := l.publish(ctx, &learned.Model)
	if err != nil {
		return 0, err
	}
	l.stamp, l.have = st, true
	return rev, nil
}

// remine reports whether the rules must be mined again at st: the
// catalog changed, the checkouts grew or shrank by 1% or more since they
// were mined, or the window moved by 1% of itself. Rules change slowly,
// and mining the baskets is half of a recompute: between those, a step
// updates the posteriors only.
func (l *Learner) remine(st store.DecideStamp) bool {
	was := l.minedAt
	d := st.Checkouts - was.Checkouts
	return st.Offers != was.Offers || st.OffersUpdatedUS != was.OffersUpdatedUS ||
		max(d, -d)*100 >= max(was.Checkouts, 1) ||
		st.NewestUS-was.NewestUS >= l.o.Settings.Window.Microseconds()/100
}

// hashOf is the hash of what a model says, leaving out its revision and
// times.
func hashOf(m *decide.Model) string {
	c := *m
	c.Revision, c.Computed, c.DataUntil = 0, time.Time{}, time.Time{}
	b, _ := json.Marshal(&c) // a model always marshals
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (l *Learner) publish(ctx context.Context, m *decide.Model) (int64, error) {
	last, err := l.o.DB.LastModel(ctx)
	if err != nil && !errors.Is(err, store.ErrNoModel) {
		l.errs.WithLabelValues("learn").Inc()
		return 0, err
	}
	var prevRev int64
	var prevSeq uint64
	if last != nil {
		prevRev, prevSeq = last.Revision, last.Seq
	}
	now := l.o.Now()
	m.Revision, m.Computed = prevRev+1, now.UTC().Truncate(time.Millisecond)
	if err := m.Validate(); err != nil {
		l.errs.WithLabelValues("learn").Inc()
		return 0, err
	}
	doc, cutRules, cutArms, err := fit(m, l.o.MaxBytes)
	if err != nil {
		l.errs.WithLabelValues("too_big").Inc()
		return 0, err
	}
	if cutRules+cutArms > 0 {
		l.log.Warn("decide: model cut to fit one NATS message", "rules_cut", cutRules, "arms_cut", cutArms,
			"bytes", len(doc))
	}
	hash := hashOf(m)
	if last != nil && last.Hash == hash {
		return 0, l.ensurePublished(ctx)
	}
	seq := max(prevSeq+1, uint64(now.UnixMilli()))
	err = l.o.DB.SaveModel(ctx, prevRev, &store.PublishedModel{Revision: m.Revision, Seq: seq, Hash: hash, Doc: doc})
	if errors.Is(err, store.ErrModelRace) {
		// Another HQ replica saved a model meanwhile: it publishes it,
		// and the next step compares against it.
		l.log.Info("decide: another replica saved a model first", "revision", m.Revision)
		return 0, l.ensurePublished(ctx)
	}
	if err != nil {
		l.errs.WithLabelValues("learn").Inc()
		return 0, err
	}
	if err := l.ensurePublished(ctx); err != nil {
		return 0, err
	}
	l.log.Info("decide: model published", "revision", m.Revision, "arms", len(m.Arms), "rules", len(m.Rules),
		"bytes", len(doc), "data_until", m.DataUntil)
	return m.Revision, nil
}

// fit returns m's JSON, cutting m until it is at most maxBytes: the rules
// of lowest lift first, then the context arms of fewest exposures. The
// pooled arms are never cut: a model that does not fit with them alone is
// ErrTooBig.
func fit(m *decide.Model, maxBytes int) (doc []byte, cutRules, cutArms int, err error) {
	sorted := false
	for {
		doc, err = json.Marshal(m)
		if err != nil {
			return nil, 0, 0, err
		}
		excess := len(doc) - maxBytes
		if excess <= 0 {
			if sorted {
				sortRules(m.Rules)
				sortArms(m.Arms)
			}
			return doc, cutRules, cutArms, nil
		}
		if !sorted {
			sort.SliceStable(m.Rules, func(i, j int) bool { return m.Rules[i].Lift > m.Rules[j].Lift })
			sortArmsByWeight(m.Arms)
			sorted = true
		}
		pooled := 0
		for pooled < len(m.Arms) && m.Arms[pooled].Context == decide.AllContexts {
			pooled++
		}
		switch {
		case len(m.Rules) > 0:
			n := cutCount(excess, jsonLen(m.Rules), len(m.Rules))
			m.Rules, cutRules = m.Rules[:len(m.Rules)-n], cutRules+n
		case len(m.Arms) > pooled:
			n := min(cutCount(excess, jsonLen(m.Arms[pooled:]), len(m.Arms)-pooled), len(m.Arms)-pooled)
			m.Arms, cutArms = m.Arms[:len(m.Arms)-n], cutArms+n
		default:
			return nil, 0, 0, fmt.Errorf("%w: %d bytes with its %d pooled arms alone, at most %d", ErrTooBig, len(doc),
				pooled, maxBytes)
		}
	}
}

// cutCount is how many of n items of size bytes in all to cut for excess
// bytes: at least one, and a little more than the average says.
func cutCount(excess, size, n int) int {
	per := max(size/max(n, 1), 1)
	return min(n, excess/per+1)
}

func jsonLen(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

// ensurePublished puts the last saved model in the bucket unless the
// bucket holds it (or a later one) already, making the bucket again when
// it was deleted.
func (l *Learner) ensurePublished(ctx context.Context) error {
	last, err := l.o.DB.LastModel(ctx)
	if errors.Is(err, store.ErrNoModel) {
		return nil
	}
	if err != nil {
		l.errs.WithLabelValues("learn").Inc()
		return err
	}
	kv, err := bus.DecideBucket(ctx, l.o.JS)
	if err != nil {
		l.errs.WithLabelValues("publish").Inc()
		return err
	}
	e, err := kv.Get(ctx, decide.ModelKey)
	if err == nil {
		if env, derr := l.o.Signer.Verifier().Open(decide.ModelKey, e.Value()); derr == nil && env.Seq >= last.Seq {
			l.revision.Set(float64(last.Revision))
			return nil
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		l.errs.WithLabelValues("publish").Inc()
		return fmt.Errorf("read %s: %w", decide.ModelKey, err)
	}
	if _, err := kv.Put(ctx, decide.ModelKey, l.o.Signer.Sign(decide.ModelKey, last.Seq, last.Doc)); err != nil {
		l.errs.WithLabelValues("publish").Inc()
		return fmt.Errorf("publish %s: %w", decide.ModelKey, err)
	}
	l.revision.Set(float64(last.Revision))
	return nil
}
