package retention_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/retention"
)

// BenchmarkIngestDuringPurge measures ingest (batches of 100 events through
// the group committer, 4 concurrent senders) on a store holding 50,000
// expired events, with and without the retention job archiving and
// removing them at the same time. It reports ingest events/s, the slowest
// commit and, with the purge, how many events it removed meanwhile. It is a
// report, not an assertion: read the figures (BENCHMARKS.md, "Retention").
func BenchmarkIngestDuringPurge(b *testing.B) {
	for _, b2 := range backends(b) {
		for _, purge := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/purge=%v", b2.name, purge), func(b *testing.B) {
				benchIngest(b, b2, purge)
			})
		}
	}
}

func benchIngest(b *testing.B, be backend, purge bool) {
	const expired = 50000
	ctx := context.Background()
	s, _ := be.open(b)
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", RetentionDays: 30, CreatedAt: now0}); err != nil {
		b.Fatal(err)
	}
	mk := func(id string, at time.Time) *auditkeep.Event {
		return &auditkeep.Event{Tenant: "acme", ID: id, ReceivedAt: now0, OccurredAt: at, Action: "environment.update", Type: "update",
			Status: "success", Actor: auditkeep.Actor{Type: "user", ID: "usr_42", Name: "Alice Martin", Email: "alice@example.com"},
			Target:      &auditkeep.Target{Type: "environment", ID: "env_7", Name: "production"},
			Scope:       []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1", Name: "Shop"}},
			Context:     auditkeep.Context{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"},
			Description: "Updated environment 'production': replicas changed from 2 to 3"}
	}
	for i := 0; i < expired; i += 5000 {
		var batch []*auditkeep.Event
		for j := i; j < i+5000; j++ {
			batch = append(batch, mk(fmt.Sprintf("old-%d", j), now0.Add(-60*24*time.Hour).Add(time.Duration(j)*time.Second)))
		}
		if err := s.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	u, _ := archive.DirURL(b.TempDir())
	arch, err := archive.Open(ctx, u, quiet)
	if err != nil {
		b.Fatal(err)
	}
	ret := retention.New(capable(retention.Config{Store: s, Archive: arch, Logger: quiet, Now: func() time.Time { return now0 }}))
	c := ingest.NewCommitter(s)
	var mu sync.Mutex
	var commits []time.Duration
	c.OnCommit = func(_ []*auditkeep.Event, st ingest.CommitStats) {
		mu.Lock()
		commits = append(commits, st.Duration)
		mu.Unlock()
	}
	c.Open()
	defer c.Close()

	var removed int
	purgeDone := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	if purge {
		go func() {
			defer close(purgeDone)
			rep, err := ret.Run(ctx)
			if err != nil {
				b.Error(err)
			}
			removed = rep.Removed
		}()
	} else {
		close(purgeDone)
	}
	const senders, per = 4, 100
	var wg sync.WaitGroup
	n := max(b.N, 1)
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += senders {
				batch := make([]*auditkeep.Event, per)
				for j := range batch {
					batch[j] = mk(fmt.Sprintf("new-%d-%d", i, j), now0)
				}
				if err := c.Commit(ctx, batch); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	<-purgeDone
	mu.Lock()
	slices.Sort(commits)
	worst := commits[len(commits)-1]
	p99 := commits[len(commits)*99/100]
	mu.Unlock()
	b.ReportMetric(float64(n*per)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-commit-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-commit-ms")
	if purge {
		b.ReportMetric(float64(removed), "purged")
	}
}
