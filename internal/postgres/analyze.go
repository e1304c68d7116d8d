package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The planner's statistics of the partition being filled lag behind a fast
// load: autovacuum analyzes a table once a minute at most, and only after
// 10% of its rows changed. A partition analyzed at 5,000 rows and holding
// 100,000 is planned as if a common action matched a few rows, and a first
// page then sorts thousands of events instead of reading 50 in seq order.
// So the store analyzes the partition it fills each time this node has
// appended, since the last analysis, half as many events as the partition
// then held (and at least analyzeAfter): a few times while it grows,
// rarely once it is large, where autovacuum's 10% keeps it current.

// analyzer schedules the analyses of the partition being filled.
type analyzer struct {
	mu      sync.Mutex
	pending int64 // events this node appended since the last analysis
	next    int64 // pending that calls for the next one
	running bool
	wg      sync.WaitGroup
	ctx     context.Context // the store's background work's: Close cancels it
}

// WithAnalyzeAfter sets the fewest events appended by this node between two
// analyses of the partition being filled (default 10,000).
func WithAnalyzeAfter(n int) Option { return func(s *Store) { s.analyzeAfter = int64(n) } }

// appended counts n events stored by Append and, when enough have been
// since the last analysis, analyzes the partition being filled in the
// background.
func (s *Store) appended(n int) {
	a := &s.analyzer
	a.mu.Lock()
	a.pending += int64(n)
	if a.running || a.pending < max(a.next, s.analyzeAfter) {
		a.mu.Unlock()
		return
	}
	a.running, a.pending = true, 0
	a.wg.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, 5*time.Minute)
		defer cancel()
		rows, err := s.analyzeCurrent(ctx)
		if err != nil && a.ctx.Err() == nil { // not the store closing
			s.logger.Warn("analyzing the event partition being filled", "err", err)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		a.running = false
		if err == nil {
			a.next = rows / 2
		}
	}()
}

// analyzeCurrent analyzes the partition that holds events received now
// (the default one if there is none yet), unless another analysis or
// vacuum holds it, and returns its estimated number of rows.
func (s *Store) analyzeCurrent(ctx context.Context) (int64, error) {
	name := partitionName(monthStart(s.now()))
	var exists bool
	if err := s.pool.QueryRow(ctx, tableExists, name).Scan(&exists); err != nil {
		return 0, dbError(err)
	}
	if !exists {
		name = "events_default"
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE (SKIP_LOCKED) `+pgx.Identifier{name}.Sanitize()); err != nil {
		return 0, dbError(err)
	}
	var rows float64
	err := s.pool.QueryRow(ctx, `SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relname = $1`, name).Scan(&rows)
	return int64(max(rows, 0)), dbError(err)
}
