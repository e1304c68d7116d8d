package postgres

// The benchmarks are in the package itself: the raw COPY ceiling copies the
// rows that Append would build, which needs eventRow.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

const benchBatch = 1000

// benchStore opens a store on a fresh schema, dropped when b ends.
func benchStore(b *testing.B) *Store {
	b.Helper()
	base := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
	if base == "" {
		b.Skip("set AUDITKEEP_TEST_DATABASE_URL=postgres://... to run the PostgreSQL benchmarks")
	}
	ctx := context.Background()
	u := pgtest.Schema(b, base)
	s, err := Open(ctx, u, WithPartitionsAhead(0), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme"}); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchEvents returns a batch of varied, realistic events (about 600 bytes
// of JSON each) with ids unique to batch.
func benchEvents(batch int) []*auditkeep.Event {
	actions := []string{"environment.update", "deployment.create", "token.create", "user.login", "service.restart", "secret.read", "project.delete"}
	types := []string{"update", "create", "create", "login", "execute", "read", "delete"}
	now := time.Now().UTC()
	events := make([]*auditkeep.Event, benchBatch)
	for i := range events {
		n := batch*benchBatch + i
		a := n % len(actions)
		user := n % 997
		events[i] = &auditkeep.Event{
			Tenant:     "acme",
			ID:         fmt.Sprintf("evt_%010d", n),
			ReceivedAt: now,
			OccurredAt: now.Add(-time.Duration(n%5000) * time.Millisecond),
			Action:     actions[a],
			Type:       types[a],
			Actor:      auditkeep.Actor{Type: auditkeep.ActorUser, ID: fmt.Sprintf("usr_%d", user), Name: fmt.Sprintf("User %d Martin", user), Email: fmt.Sprintf("user%d@example.com", user)},
			Target:     &auditkeep.Target{Type: "environment", ID: fmt.Sprintf("env_%d", n%211), Name: fmt.Sprintf("production-%d", n%211)},
			Scope:      []auditkeep.ScopeEntry{{Type: "project", ID: fmt.Sprintf("prj_%d", n%37), Name: "Shop"}, {Type: "environment", ID: fmt.Sprintf("env_%d", n%211)}},
			Team:       "platform",
			Source:     "console",
			Context:    auditkeep.Context{IP: fmt.Sprintf("203.0.%d.%d", n%250, n%200), UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
			Status:     auditkeep.StatusSuccess,
			Description: fmt.Sprintf("Updated environment 'production-%d': replicas changed from %d to %d",
				n%211, n%5, n%5+1),
			Changes:  []auditkeep.Change{{Field: "replicas", Op: auditkeep.ChangeChanged, Old: json.RawMessage(fmt.Sprint(n % 5)), New: json.RawMessage(fmt.Sprint(n%5 + 1))}},
			Snapshot: json.RawMessage(fmt.Sprintf(`{"name":"production-%d","replicas":%d,"region":"eu-west-1"}`, n%211, n%5+1)),
		}
	}
	return events
}

// reportSize reports the events' bytes on disk (heap, TOAST and indexes)
// per event.
func reportSize(b *testing.B, s *Store, events int) {
	var size int64
	err := s.pool.QueryRow(context.Background(), `SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'events'::regclass`).Scan(&size)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size)/float64(events), "disk-B/event")
}

// BenchmarkAppend appends batches of 1,000 events through the store: one
// transaction each, with the seq lock, the id check, COPY and the commit.
func BenchmarkAppend(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	batches := make([][]*auditkeep.Event, b.N)
	for i := range batches {
		batches[i] = benchEvents(i)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := s.Append(ctx, batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	reportSize(b, s, b.N*benchBatch)
}

// BenchmarkCopyRaw copies the rows Append would store, built beforehand,
// into the same table with one COPY and commit per batch: the ceiling of
// Append.
func BenchmarkCopyRaw(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	batches := make([][][]any, b.N)
	for i := range batches {
		for j, e := range benchEvents(i) {
			row, err := eventRow(e)
			if err != nil {
				b.Fatal(err)
			}
			row[0], row[1] = int32(1), int64(i*benchBatch+j+1)
			batches[i] = append(batches[i], row)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, pgx.CopyFromRows(batches[i])); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	reportSize(b, s, b.N*benchBatch)
}
