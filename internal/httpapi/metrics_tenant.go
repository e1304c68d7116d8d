package httpapi

import (
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/prometheus/client_golang/prometheus"
)

// maxTenantLabels bounds the tenant label of the per-tenant metrics: the
// first tenants seen keep their own series, later ones share "_other".
const maxTenantLabels = 100

// tenantLabels hands out bounded tenant label values.
type tenantLabels struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (l *tenantLabels) label(tenant string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	if l.seen[tenant] {
		return tenant
	}
	if len(l.seen) >= maxTenantLabels {
		return "_other"
	}
	l.seen[tenant] = true
	return tenant
}

// storeMetrics are the ingest, storage and query measures beside the
// request metrics of metrics.go.
type storeMetrics struct {
	tenants        tenantLabels
	tenantIngested *prometheus.CounterVec
	commitSync     prometheus.Histogram
	query          *prometheus.HistogramVec
}

func newStoreMetrics(reg *prometheus.Registry) *storeMetrics {
	m := &storeMetrics{
		tenantIngested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditkeep_tenant_events_ingested_total",
			Help: "Events stored by tenant (duplicates not counted); past 100 tenants, the rest as tenant=\"_other\".",
		}, []string{"tenant"}),
		commitSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "auditkeep_store_commit_sync_seconds",
			Help:    "Duration of a group commit's COMMIT: the WAL written and fsynced (SQLite), or flushed by the server (PostgreSQL).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		query: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "auditkeep_query_duration_seconds",
			Help:    "Duration of the store's reads for the API, by query: list (a page of events), get (one event), facets.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"query"}),
	}
	reg.MustRegister(m.tenantIngested, m.commitSync, m.query)
	return m
}

func (m *storeMetrics) observeStored(stored []*auditkeep.Event) {
	counts := map[string]int{}
	for _, e := range stored {
		counts[e.Tenant]++
	}
	for tenant, n := range counts {
		m.tenantIngested.WithLabelValues(m.tenants.label(tenant)).Add(float64(n))
	}
}

// observeQuery records a store read of kind query that started at start.
func (m *storeMetrics) observeQuery(query string, start time.Time) {
	m.query.WithLabelValues(query).Observe(time.Since(start).Seconds())
}

// ObserveSync is the store's commit observer: how long a COMMIT took,
// fsync included (auditkeep_store_commit_sync_seconds).
func (s *Server) ObserveSync(d time.Duration) { s.storeMetrics.commitSync.Observe(d.Seconds()) }
