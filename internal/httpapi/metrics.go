package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	ingested       prometheus.Counter
	exported       prometheus.Counter
	commits        *prometheus.CounterVec
	commitEvents   prometheus.Histogram
	commitRequests prometheus.Histogram
	commitTime     prometheus.Histogram
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditkeep_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "auditkeep_http_request_duration_seconds", Help: "HTTP request duration by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route"}),
		ingested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditkeep_events_ingested_total", Help: "Events stored (duplicates not counted).",
		}),
		exported: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditkeep_events_exported_total", Help: "Events written by completed exports.",
		}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditkeep_commits_total", Help: "Group commits by result.",
		}, []string{"result"}),
		commitEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "auditkeep_commit_events", Help: "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		commitRequests: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "auditkeep_commit_requests", Help: "Requests sharing one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "auditkeep_commit_duration_seconds", Help: "Duration of a group commit, fsync included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.ingested, m.exported, m.commits, m.commitEvents, m.commitRequests, m.commitTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeCommit(stored int, st ingest.CommitStats) {
	if st.Err != nil {
		m.commits.WithLabelValues("error").Inc()
		return
	}
	m.commits.WithLabelValues("ok").Inc()
	m.commitEvents.Observe(float64(st.Events))
	m.commitRequests.Observe(float64(st.Requests))
	m.commitTime.Observe(st.Duration.Seconds())
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts and times requests of a route.
func (s *Server) instrument(route string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
			s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		next(sw, r)
	})
}
