package httpapi_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/auditkeep/auditkeep/internal/cputime"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// BenchmarkExport exports a tenant of 20,000 demo events from the embedded
// store (one export per iteration, the body discarded) and reports the
// server's CPU time, allocations and bytes allocated per event.
func BenchmarkExport(b *testing.B) {
	const n = 20000
	st, err := sqlite.Open(context.Background(), b.TempDir(), sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	a := newExportAPI(b, st, sqlite.NewLedger(st))
	key := a.tenant(b, "acme", 0)
	a.ingestDemo(b, "acme", n)
	a.integrate(b, "acme")
	for _, format := range []string{"ndjson", "csv"} {
		b.Run(format, func(b *testing.B) {
			var cpu0, cpu int64
			var m0, m1 runtime.MemStats
			var bytes int64
			runtime.ReadMemStats(&m0)
			cpu0 = int64(cputime.Process())
			for b.Loop() {
				req := httptest.NewRequest("GET", "/v1/export?format="+format, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				w := &discard{}
				a.srv.Handler().ServeHTTP(w, req)
				if w.status != 200 || w.n < n*100 {
					b.Fatalf("export: %d, %d bytes", w.status, w.n)
				}
				bytes = w.n
			}
			cpu = int64(cputime.Process()) - cpu0
			runtime.ReadMemStats(&m1)
			events := float64(n) * float64(b.N)
			b.ReportMetric(float64(cpu)/1e3/events, "cpu-µs/event")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/events, "allocs/event")
			b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/events, "B/event")
			b.ReportMetric(float64(bytes)/n, "out-B/event")
		})
	}
}
