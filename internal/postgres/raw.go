package postgres

import (
	"context"
	"errors"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
)

// RawCopier copies events into a store's events table with one COPY and
// commit per batch, as Append does, but with none of Append's other work: no
// tenant lock, no id lookup, no counter update, no deleted targets. It
// measures the ceiling of Append (what the database and the schema's
// indexes cost) in benchmarks.
//
// A store written by a RawCopier is not consistent (the tenant's last seq is
// not advanced): use it only on a throwaway schema, with no other writer.
type RawCopier struct {
	s    *Store
	no   int32
	next int64 // seq of the next event
}

// RawBatch is a batch of events encoded by RawCopier.Encode: the rows that
// Append would copy.
type RawBatch struct {
	rows [][]any
}

// Len returns the number of events in the batch.
func (b *RawBatch) Len() int { return len(b.rows) }

// NewRawCopier returns a copier of the tenant's events, whose seqs follow
// the tenant's last seq. Returns ENOTFOUND for an unknown tenant and
// EUNAVAILABLE when the database cannot be reached.
func NewRawCopier(ctx context.Context, s *Store, tenant string) (*RawCopier, error) {
	var no int32
	var last int64
	err := s.pool.QueryRow(ctx, "SELECT no, last_seq FROM tenants WHERE id = $1", tenant).Scan(&no, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", tenant)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return &RawCopier{s: s, no: no, next: last + 1}, nil
}

// Encode builds the rows of events (JSON body, search vector, filter
// columns), as Append does before its transaction, and assigns them the next
// seqs (the events are not changed). A zero ReceivedAt is taken as now.
// Returns EINVALID for an event that cannot be encoded.
func (c *RawCopier) Encode(events []*auditkeep.Event) (*RawBatch, error) {
	b := &RawBatch{rows: make([][]any, len(events))}
	now := c.s.now().UTC()
	for i, e := range events {
		if e.ReceivedAt.IsZero() {
			ce := *e
			ce.ReceivedAt = now
			e = &ce
		}
		row, err := eventRow(e)
		if err != nil {
			return nil, err
		}
		row[0], row[1] = c.no, c.next
		c.next++
		b.rows[i] = row
	}
	return b, nil
}

// Copy copies the batch in one transaction and commits it (synchronous
// commit). Returns EUNAVAILABLE when the database fails.
func (c *RawCopier) Copy(ctx context.Context, b *RawBatch) error {
	tx, err := c.s.pool.Begin(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, pgx.CopyFromRows(b.rows)); err != nil {
		return unavailable(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}
