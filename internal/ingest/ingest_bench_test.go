package ingest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/cputime"
	"github.com/auditkeep/auditkeep/internal/demo"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// demoBodies returns n request bodies of size demo events each.
func demoBodies(tb testing.TB, n, size int) [][]byte {
	g := demo.New(1, time.Now().Add(-30*24*time.Hour), demo.Options{})
	bodies := make([][]byte, n)
	for i := range bodies {
		evs := make([]auditkeep.Event, size)
		for j := range evs {
			evs[j] = g.Next()
		}
		b, err := json.Marshal(map[string]any{"events": evs})
		if err != nil {
			tb.Fatal(err)
		}
		bodies[i] = b
	}
	return bodies
}

// BenchmarkIngestBatch measures the whole ingest path below HTTP: decode,
// validate, change tracking, group commit and the durable SQLite append, in
// batches of 1,000 demo events.
func BenchmarkIngestBatch(b *testing.B) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	c := ingest.NewCommitter(store)
	tracker := ingest.NewTracker(store)
	c.Prepare = tracker.Prepare
	tracker.CacheSnapshots(20000)
	c.OnCommit = func(stored []*auditkeep.Event, _ ingest.CommitStats) { tracker.Committed(stored) }
	c.Open()
	defer c.Close()
	svc := ingest.NewService(c)
	svc.Steps = []ingest.Step{tracker.Step}
	bodies := demoBodies(b, max(b.N, 1), 1000)
	var bytes int64
	for _, body := range bodies {
		bytes += int64(len(body))
	}
	b.SetBytes(bytes / int64(len(bodies)))
	b.ResetTimer()
	for i := range b.N {
		if _, err := svc.Ingest(ctx, "acme", bodies[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkValidateBatch measures decoding and validation alone, on a batch
// of 1,000 demo events. Compare cpu-µs/event and allocations: the
// wall-clock time depends on what else the machine runs.
func BenchmarkValidateBatch(b *testing.B) {
	body := demoBodies(b, 1, 1000)[0]
	lim := ingest.DefaultLimits()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	events := 0
	cpu := cputime.Process()
	for b.Loop() {
		raws, _, err := ingest.DecodeBatch(body, lim)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range raws {
			if _, err := ingest.Validate(r, "events[0]", now, lim); err != nil {
				b.Fatal(err)
			}
		}
		events += len(raws)
	}
	b.ReportMetric(float64((cputime.Process()-cpu).Microseconds())/float64(events), "cpu-µs/event")
}

// BenchmarkDecodeBatch measures splitting a batch of 1,000 demo events.
func BenchmarkDecodeBatch(b *testing.B) {
	body := demoBodies(b, 1, 1000)[0]
	lim := ingest.DefaultLimits()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	events := 0
	cpu := cputime.Process()
	for b.Loop() {
		raws, _, err := ingest.DecodeBatch(body, lim)
		if err != nil {
			b.Fatal(err)
		}
		events += len(raws)
	}
	b.ReportMetric(float64((cputime.Process()-cpu).Microseconds())/float64(events), "cpu-µs/event")
}
