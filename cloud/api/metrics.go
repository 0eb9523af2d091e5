package api

import "github.com/prometheus/client_golang/prometheus"

// metrics count what the API refuses.
type metrics struct {
	errors     *prometheus.CounterVec // error replies, by code
	feedsEnded prometheus.Counter     // live feeds ended because their token was revoked or expired
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_cloud_api_errors_total",
			Help: "Error replies of the HQ API, by code (unauthorized: no token, or one unknown, revoked or expired)."},
			[]string{"code"}),
		feedsEnded: prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_cloud_feeds_ended_total",
			Help: "Live feeds ended by HQ because their token was revoked or expired."}),
	}
	if reg != nil {
		reg.MustRegister(m.errors, m.feedsEnded)
	}
	return m
}
