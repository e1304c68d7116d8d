package stream

import (
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus series, labelled by tenant and
// stream id.
type metrics struct {
	lagEvents, lagSeconds, stateG *prometheus.GaugeVec
	events, bytes, failures       *prometheus.CounterVec
	sendSeconds                   prometheus.Histogram

	mu     sync.Mutex
	states map[streamKey]string
}

var kindNames = map[transport.Kind]string{transport.Retry: "retry", transport.TooLarge: "too_large", transport.Auth: "auth", transport.Permanent: "permanent"}

func newMetrics(reg prometheus.Registerer) *metrics {
	labels := []string{"tenant", "stream"}
	m := &metrics{
		lagEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "auditkeep_stream_lag_events",
			Help: "Events of the tenant's log after the stream's cursor."}, labels),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "auditkeep_stream_lag_seconds",
			Help: "Seconds since the oldest event the stream has not delivered was received."}, labels),
		stateG: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "auditkeep_stream_state",
			Help: "1 for the stream's state (active, paused, failing, auth_error), 0 for the others."}, append(labels, "state")),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditkeep_stream_delivered_events_total",
			Help: "Events the receivers accepted."}, labels),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditkeep_stream_delivered_bytes_total",
			Help: "Payload bytes the receivers accepted."}, labels),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditkeep_stream_failures_total",
			Help: "Deliveries refused or failed, by kind: retry, too_large, auth, permanent."}, append(labels, "kind")),
		sendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "auditkeep_stream_send_seconds",
			Help: "Time to deliver one accepted batch.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		states: map[streamKey]string{},
	}
	if reg != nil {
		reg.MustRegister(m.lagEvents, m.lagSeconds, m.stateG, m.events, m.bytes, m.failures, m.sendSeconds)
	}
	return m
}

func (m *metrics) lag(k streamKey, l Lag) {
	m.lagEvents.WithLabelValues(k.tenant, k.id).Set(float64(l.Events))
	m.lagSeconds.WithLabelValues(k.tenant, k.id).Set(l.Seconds)
}

func (m *metrics) state(k streamKey, state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states[k] == state {
		return
	}
	m.states[k] = state
	for _, s := range auditkeep.StreamStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.stateG.WithLabelValues(k.tenant, k.id, s).Set(v)
	}
}

func (m *metrics) sent(k streamKey, events, bytes int, took time.Duration) {
	m.events.WithLabelValues(k.tenant, k.id).Add(float64(events))
	m.bytes.WithLabelValues(k.tenant, k.id).Add(float64(bytes))
	m.sendSeconds.Observe(took.Seconds())
}

func (m *metrics) failed(k streamKey, kind transport.Kind) {
	m.failures.WithLabelValues(k.tenant, k.id, kindNames[kind]).Inc()
}

// forget removes a deleted stream's series.
func (m *metrics) forget(k streamKey) {
	m.mu.Lock()
	delete(m.states, k)
	m.mu.Unlock()
	for _, v := range []*prometheus.GaugeVec{m.lagEvents, m.lagSeconds, m.stateG} {
		v.DeletePartialMatch(prometheus.Labels{"tenant": k.tenant, "stream": k.id})
	}
	for _, v := range []*prometheus.CounterVec{m.events, m.bytes, m.failures} {
		v.DeletePartialMatch(prometheus.Labels{"tenant": k.tenant, "stream": k.id})
	}
}
