package sqlite_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/cputime"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

func openBench(b *testing.B, dir string) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), dir, sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func ndjsonSize(events []*auditkeep.Event) int64 {
	var n int64
	for _, e := range events {
		b, _ := json.Marshal(e)
		n += int64(len(b)) + 1
	}
	return n
}

// BenchmarkAppend appends batches of 1,000 realistic events (one batch per
// iteration) to a store that grows as it runs.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s := openBench(b, dir)
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	var raw, n int64
	var elapsed, cpu time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		events := sqlite.BenchEvents("acme", i*batch, batch)
		raw += ndjsonSize(events)
		b.StartTimer()
		start, cpu0 := time.Now(), cputime.Process()
		if err := s.Append(ctx, events); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		cpu += cputime.Process() - cpu0
		n += batch
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(n), "cpu-µs/event")
	b.ReportMetric(float64(raw)/float64(n), "ndjson-B/event")
	// On disk once the WAL is checkpointed (Close does it).
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, sqlite.FileName))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/float64(n), "disk-B/event")
	b.ReportMetric(float64(fi.Size())/float64(raw), "x-ndjson")
}

var listStore struct {
	once sync.Once
	dir  string
	s    *sqlite.Store
	err  error
}

// TestMain removes the store shared by the BenchmarkListEvents runs.
func TestMain(m *testing.M) {
	code := m.Run()
	if listStore.s != nil {
		listStore.s.Close()
	}
	if listStore.dir != "" {
		os.RemoveAll(listStore.dir)
	}
	os.Exit(code)
}

// listBenchEvents is the size of the store BenchmarkListEvents reads.
const listBenchEvents = 100_000

// BenchmarkListEvents reads the first page (50 events, newest first) of
// one filter over a tenant of 100,000 events (built once per run, in
// batches of 5,000).
func BenchmarkListEvents(b *testing.B) {
	ctx := context.Background()
	listStore.once.Do(func() {
		dir, err := os.MkdirTemp("", "auditkeep-bench-")
		if err != nil {
			listStore.err = err
			return
		}
		listStore.dir = dir
		s, err := sqlite.Open(ctx, dir, sqlite.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			listStore.err = err
			return
		}
		if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
			listStore.err = err
			return
		}
		for i := 0; i < listBenchEvents; i += 5000 {
			if err := s.Append(ctx, sqlite.BenchEvents("acme", i, 5000)); err != nil {
				listStore.err = err
				return
			}
		}
		listStore.s = s
	})
	if listStore.err != nil {
		b.Fatal(listStore.err)
	}
	s := listStore.s
	term := func(field string, values ...string) []auditkeep.Term {
		return []auditkeep.Term{{Field: field, Values: values}}
	}
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	mid := start.Add(listBenchEvents / 2 * 250 * time.Millisecond)
	for _, bc := range []struct {
		name string
		f    auditkeep.Filter
	}{
		{"none", auditkeep.Filter{}},
		{"action", auditkeep.Filter{Terms: term("action", "token.delete")}},
		{"action_prefix", auditkeep.Filter{Terms: term("action", "secret.*")}},
		{"actor_email", auditkeep.Filter{Terms: term("actor", "user3@example.com")}},
		{"target_id", auditkeep.Filter{Terms: term("target_id", "ser_4242")}},
		{"scope", auditkeep.Filter{Terms: term("scope", "project:prj_3/environment:env_3_1")}},
		{"ip_cidr", auditkeep.Filter{Terms: term("ip", "203.0.2.0/25")}},
		{"status_failure", auditkeep.Filter{Terms: term("status", "failure")}},
		{"two_terms", auditkeep.Filter{Terms: append(term("action", "service.*"), term("status", "failure")...)}},
		{"rare_and_common", auditkeep.Filter{Terms: append(term("actor", "usr_150"), term("team", "platform")...)}},
		{"negated", auditkeep.Filter{Terms: []auditkeep.Term{{Field: "status", Values: []string{"success"}, Negate: true}}}},
		{"time_10min", auditkeep.Filter{From: mid, To: mid.Add(10 * time.Minute)}},
		{"time_old_hour", auditkeep.Filter{From: start.Add(time.Hour), To: start.Add(2 * time.Hour)}},
		{"time_old_hour_action", auditkeep.Filter{From: start.Add(time.Hour), To: start.Add(2 * time.Hour), Terms: term("action", "token.delete")}},
		{"text_word", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "staging"}}}},
		{"text_email", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "user7@example.com"}}}},
		{"text_prefix", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "datab", Prefix: true}}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var n int
			cpu0 := cputime.Process()
			for b.Loop() {
				page, _, err := s.ListEvents(ctx, "acme", bc.f)
				if err != nil {
					b.Fatal(err)
				}
				n = len(page)
			}
			b.ReportMetric(float64(cputime.Process()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
			if n == 0 {
				b.Fatalf("filter %s found nothing", bc.name)
			}
		})
	}
}
