package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// maintain keeps partitions created ahead until ctx ends.
func (s *Store) maintain(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := s.now().UTC()
			if err := s.EnsurePartitions(ctx, now, now.AddDate(0, s.ahead, 0)); err != nil && ctx.Err() == nil {
				s.logger.Warn("creating event partitions", "err", err)
			}
		}
	}
}

// EnsurePartitions makes sure that a monthly partition of events exists for
// every month (UTC) from the month of from to the month of to. Events of such
// a month that were stored in the default partition move into the new one.
// Safe to call from several nodes at once. Returns EUNAVAILABLE when the
// database cannot be reached.
func (s *Store) EnsurePartitions(ctx context.Context, from, to time.Time) error {
	for m := monthStart(from); !m.After(to); m = m.AddDate(0, 1, 0) {
		if err := s.ensurePartition(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// tableExists tells whether the current schema has the table $1. It reads
// pg_class with the statement's snapshot: to_regclass would consult a
// catalog cache that misses tables committed while this session waited for
// a lock.
const tableExists = `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = current_schema() AND c.relname = $1)`

// partitionName is the name of the partition of the month starting at lo.
func partitionName(lo time.Time) string {
	return fmt.Sprintf("events_p%04d%02d", lo.Year(), int(lo.Month()))
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// ensurePartition creates the partition of the month starting at lo. The
// partition is built as a plain table, filled with the month's rows from the
// default partition, and then attached: creating it directly would fail if
// the default partition held rows of that month.
func (s *Store) ensurePartition(ctx context.Context, lo time.Time) error {
	name := partitionName(lo)
	var exists bool
	err := s.pool.QueryRow(ctx, tableExists, name).Scan(&exists)
	if err != nil || exists {
		return dbError(err)
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, lockPartition); err != nil {
		return dbError(err)
	}
	// Another node may have made it while this one waited for the lock.
	if err := tx.QueryRow(ctx, tableExists, name).Scan(&exists); err != nil || exists {
		return dbError(err)
	}
	hi := lo.AddDate(0, 1, 0)
	// The name and bounds come from lo, a time; nothing here is user input.
	// DDL takes no parameters.
	ident := pgx.Identifier{name}.Sanitize()
	bounds := fmt.Sprintf("FROM ('%s') TO ('%s')", lo.Format(time.RFC3339), hi.Format(time.RFC3339))
	stmts := []string{
		`CREATE TABLE ` + ident + ` (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
		fmt.Sprintf(`WITH moved AS (DELETE FROM events_default WHERE received_at >= '%s' AND received_at < '%s' RETURNING *)
			INSERT INTO %s SELECT * FROM moved`, lo.Format(time.RFC3339), hi.Format(time.RFC3339), ident),
		`ALTER TABLE events ATTACH PARTITION ` + ident + ` FOR VALUES ` + bounds,
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("partition %s: %w", name, dbError(err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError(err)
	}
	s.logger.Info("event partition created", "partition", name)
	return nil
}
