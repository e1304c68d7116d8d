package alert

import (
	"github.com/auditkeep/auditkeep"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the evaluator's Prometheus series.
type metrics struct {
	lag        prometheus.Histogram
	behind     prometheus.Gauge
	raised     *prometheus.CounterVec
	extended   prometheus.Counter
	ruleErrors prometheus.Counter
	evaluated  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "auditkeep_alert_evaluation_lag_seconds",
			Help:    "Seconds from an event's receipt to the commit of its evaluation, for the last event of each evaluated batch.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		behind: prometheus.NewGauge(prometheus.GaugeOpts{Name: "auditkeep_alert_evaluation_behind_seconds",
			Help: "Seconds since the receipt of the newest event the evaluators of this node have evaluated, at their last batch (0 when caught up)."}),
		raised: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditkeep_alerts_raised_total",
			Help: "Alerts raised, by severity."}, []string{"severity"}),
		extended: prometheus.NewCounter(prometheus.CounterOpts{Name: "auditkeep_alerts_extended_total",
			Help: "Matches that extended an active alert instead of raising a new one."}),
		ruleErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "auditkeep_alert_rule_errors_total",
			Help: "Events a rule's condition failed to evaluate on (the event is skipped for that rule and evaluation goes on)."}),
		evaluated: prometheus.NewCounter(prometheus.CounterOpts{Name: "auditkeep_alert_evaluated_events_total",
			Help: "Events the evaluators read from the log."}),
	}
	for _, s := range auditkeep.Severities {
		m.raised.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.lag, m.behind, m.raised, m.extended, m.ruleErrors, m.evaluated)
	}
	return m
}
