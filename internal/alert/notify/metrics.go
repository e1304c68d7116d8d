package notify

import (
	"strconv"
	"time"

	"github.com/auditkeep/auditkeep/internal/stream/transport"
	"github.com/prometheus/client_golang/prometheus"
)

// channelKey names one channel of one rule.
type channelKey struct {
	tenant, rule string
	channel      int
}

// metrics are the notifier's Prometheus series.
type metrics struct {
	sent, failures *prometheus.CounterVec
	failing        *prometheus.GaugeVec
	sendSeconds    prometheus.Histogram
	latency        prometheus.Histogram
}

var kindNames = map[transport.Kind]string{transport.Retry: "retry", transport.TooLarge: "too_large", transport.Auth: "auth", transport.Permanent: "permanent"}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditkeep_alert_notifications_sent_total",
			Help: "Alert notifications the channels accepted, by channel type (webhook, slack, email)."}, []string{"type"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditkeep_alert_notification_failures_total",
			Help: "Alert notifications refused or failed, by channel type and kind: retry, auth, permanent."}, []string{"type", "kind"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "auditkeep_alert_channel_failing",
			Help: "1 while the last notification to the rule's channel (its index in the rule) failed, 0 once one is accepted."},
			[]string{"tenant", "rule", "channel", "type"}),
		sendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "auditkeep_alert_notification_send_seconds",
			Help: "Time to send one accepted notification.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "auditkeep_alert_notification_latency_seconds",
			Help: "Time from an alert being raised to its notification's acceptance by a channel.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.failures, m.failing, m.sendSeconds, m.latency)
	}
	return m
}

func (m *metrics) delivered(k channelKey, typ string, took, sinceRaised time.Duration) {
	m.sent.WithLabelValues(typ).Inc()
	m.failing.WithLabelValues(k.tenant, k.rule, strconv.Itoa(k.channel), typ).Set(0)
	m.sendSeconds.Observe(took.Seconds())
	m.latency.Observe(max(0, sinceRaised.Seconds()))
}

func (m *metrics) failed(k channelKey, typ string, kind transport.Kind) {
	m.failures.WithLabelValues(typ, kindNames[kind]).Inc()
	m.failing.WithLabelValues(k.tenant, k.rule, strconv.Itoa(k.channel), typ).Set(1)
}
