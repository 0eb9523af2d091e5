package service

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/protocol"
)

// metrics are the agent's Prometheus metrics, all prefixed posoffer_.
type metrics struct {
	baskets      prometheus.Counter
	checkouts    prometheus.Counter
	dupCheckouts prometheus.Counter
	eval         prometheus.Histogram
	decide       prometheus.Histogram
	model        prometheus.Gauge
	replies      *prometheus.CounterVec
	errors       *prometheus.CounterVec
	catalog      prometheus.Gauge
	remote       *prometheus.CounterVec

	discrepancies, excess, excessPoints prometheus.Counter // see honour.go
}

func newMetrics(reg prometheus.Registerer, s *Service) (*metrics, error) {
	m := &metrics{
		baskets:      prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_baskets_total", Help: "Baskets evaluated."}),
		checkouts:    prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_checkouts_total", Help: "Checkouts recorded."}),
		dupCheckouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_checkouts_repeated_total", Help: "Checkouts of a txn already recorded, answered again and not counted."}),
		eval: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "posoffer_eval_seconds", Help: "Time to evaluate one basket.",
			Buckets: []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3}}),
		decide: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "posoffer_answer_seconds",
			Help:    "Time to evaluate one basket and choose its suggestions.",
			Buckets: []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3}}),
		model: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posoffer_decide_model_revision",
			Help: "Revision of HQ's suggestion model in use; 0: none yet."}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_replies_total", Help: "Replies sent, by type."}, []string{"type"}),
		errors:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_errors_total", Help: "Error replies, by code."}, []string{"code"}),
		catalog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posoffer_catalog_revision", Help: "Revision of the catalog in use."}),
		discrepancies: prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_discount_discrepancies_total",
			Help: "Checkout claims honoured in part: more discount or points claimed than the offer was offered for or gives the basket."}),
		excess: prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_discount_excess_minor_total",
			Help: "Discount claimed at checkout past what was honoured, in minor units."}),
		excessPoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_points_excess_total",
			Help: "Points claimed at checkout past what was honoured."}),
		remote: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_remote_profiles_total",
			Help: "Merged profiles asked of HQ, by result: merged, none (HQ has no profile), unanswered (within the budget)."}, []string{"result"}),
	}
	outbox := func(f func(depth, dropped int64, oldest time.Time) float64) func() float64 {
		return func() float64 {
			st, err := s.db.Outbox()
			if err != nil {
				return -1
			}
			return f(st.Depth, st.Dropped, st.Oldest)
		}
	}
	for _, c := range []prometheus.Collector{m.baskets, m.checkouts, m.dupCheckouts, m.eval, m.decide, m.model, m.replies, m.errors, m.catalog, m.remote,
		m.discrepancies, m.excess, m.excessPoints,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posoffer_impressions_pending", Help: "Impressions kept in memory, not yet written."},
			func() float64 { s.mu.Lock(); defer s.mu.Unlock(); return float64(len(s.pending)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posoffer_outbox_depth", Help: "Events waiting for HQ."},
			outbox(func(d, _ int64, _ time.Time) float64 { return float64(d) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posoffer_outbox_oldest_seconds", Help: "Age of the oldest event waiting for HQ."},
			outbox(func(_, _ int64, o time.Time) float64 {
				if o.IsZero() {
					return 0
				}
				return time.Since(o).Seconds()
			})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posoffer_impressions_dropped", Help: "Impressions dropped because the outbox was full."},
			outbox(func(_, d int64, _ time.Time) float64 { return float64(d) })),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, code := range []string{protocol.CodeBadJSON, protocol.CodeBadMessage, protocol.CodeUnsupportedVersion,
		protocol.CodeUnknownType, protocol.CodeTooLarge, protocol.CodeCardData, protocol.CodeInternal, protocol.CodeBusy} {
		m.errors.WithLabelValues(code)
	}
	return m, nil
}
