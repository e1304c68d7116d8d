package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/jackc/pgx/v5"
)

// TestAnalyzeGrowingPartition checks that the store analyzes the partition
// it fills once enough events were appended, and not before.
func TestAnalyzeGrowingPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t)
	s, err := postgres.Open(ctx, url, postgres.WithPartitionsAhead(0), postgres.WithAnalyzeAfter(100), quiet)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	createTenant(t, s, "acme")
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now().UTC()
	partition := fmt.Sprintf("events_p%04d%02d", now.Year(), int(now.Month()))
	// Manual analyses only: autovacuum's are counted apart.
	analyses := func() int64 {
		t.Helper()
		var n int64
		if err := conn.QueryRow(ctx, `SELECT analyze_count FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND relname = $1`, partition).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	batch := func(from, n int) []*auditkeep.Event {
		var out []*auditkeep.Event
		for i := from; i < from+n; i++ {
			out = append(out, event("acme", fmt.Sprintf("e%d", i), i))
		}
		return out
	}

	if err := s.Append(ctx, batch(0, 60)); err != nil {
		t.Fatalf("Append: %v", err)
	}
	// A batch of ids already stored adds nothing.
	if err := s.Append(ctx, batch(0, 60)); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if n := analyses(); n != 0 {
		t.Fatalf("after 60 events: %d analyses of %s; want 0", n, partition)
	}
	if err := s.Append(ctx, batch(60, 60)); err != nil {
		t.Fatalf("Append: %v", err)
	}
	// The analysis runs in the background (Close would cancel it): wait
	// for the statistics to show it.
	n := analyses()
	for deadline := time.Now().Add(time.Minute); n == 0 && time.Now().Before(deadline); n = analyses() {
		time.Sleep(20 * time.Millisecond)
	}
	s.Close()
	if n != 1 {
		t.Errorf("after 120 events: %d analyses of %s; want 1", n, partition)
	}
}
