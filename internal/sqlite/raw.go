package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/auditkeep/auditkeep"
)

// RawInserter writes events into a store's schema with the same multi-row
// INSERT statements as Append, but with none of Append's other work: no
// idempotency lookup, no term dictionary rows or counts, no actor names, no
// deleted targets, no tenant counter. It measures the ceiling of Append (what
// the driver and the schema's indexes cost) in benchmarks.
//
// A store written by a RawInserter is not consistent (its postings name
// terms that do not exist and its tenant's last seq is not advanced): use it
// only on a throwaway store, with no other writer.
type RawInserter struct {
	s    *Store
	num  int64
	next int64 // seq of the next event
	ids  map[termKey]int64
}

// RawBatch is a batch of events encoded by RawInserter.Encode: bodies
// compressed, keys and term ids assigned, postings sorted.
type RawBatch struct {
	events   []*auditkeep.Event
	keys     []int64
	bodies   [][]byte
	postings []posting
}

// Len returns the number of events in the batch.
func (b *RawBatch) Len() int { return len(b.events) }

// NewRawInserter returns an inserter of the tenant's events, whose seqs
// follow the tenant's last seq. Returns ENOTFOUND for an unknown tenant and
// EUNAVAILABLE when storage fails.
func NewRawInserter(ctx context.Context, s *Store, tenant string) (*RawInserter, error) {
	var num, last int64
	err := s.w.QueryRowContext(ctx, "SELECT num, last_seq FROM tenants WHERE id = ?", tenant).Scan(&num, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFoundTenant(tenant)
	}
	if err != nil {
		return nil, dbError(err)
	}
	return &RawInserter{s: s, num: num, next: last + 1, ids: map[termKey]int64{}}, nil
}

// Encode prepares events for Insert, as Append would before its
// transaction, and assigns them the next seqs (the events are not changed).
// Term ids come from a dictionary kept in memory. Returns EINTERNAL when an
// event cannot be encoded.
func (r *RawInserter) Encode(events []*auditkeep.Event) (*RawBatch, error) {
	bodies, err := encodeBodies(events)
	if err != nil {
		return nil, auditkeep.Errorf(auditkeep.EINTERNAL, "encode event: %v", err)
	}
	b := &RawBatch{events: events, bodies: bodies, keys: make([]int64, len(events))}
	var terms []termKey
	for i, e := range events {
		k := r.num<<40 | r.next
		r.next++
		b.keys[i] = k
		for _, tk := range eventTerms(terms[:0], r.num, e) {
			id, ok := r.ids[tk]
			if !ok {
				id = int64(len(r.ids) + 1)
				r.ids[tk] = id
			}
			b.postings = append(b.postings, posting{id, k, unixNano(e.OccurredAt)})
		}
	}
	slices.SortFunc(b.postings, func(x, y posting) int { return cmp.Or(cmp.Compare(x.term, y.term), cmp.Compare(x.k, y.k)) })
	return b, nil
}

// Insert writes the batch in one transaction (events, full-text rows and
// postings) and commits it, fsynced. Returns EUNAVAILABLE when storage fails.
func (r *RawInserter) Insert(ctx context.Context, b *RawBatch) error {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if err := r.insert(ctx, b); err != nil {
		return dbError(err)
	}
	return nil
}

func (r *RawInserter) insert(ctx context.Context, b *RawBatch) error {
	tx, err := r.s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := &writeStmts{}
	defer st.closeBatches()
	ev := st.batch(ctx, tx, "INSERT INTO events (k, occurred_at, id_hash, body) VALUES ", 4, eventRows)
	ft := st.batch(ctx, tx, "INSERT INTO events_fts (rowid, actor_name, actor_email, target, action, team, ip, description) VALUES ", 8, ftsRows)
	for i, e := range b.events {
		k := b.keys[i]
		if err := ev.add(k, unixNano(e.OccurredAt), idHash(r.num, e.ID), b.bodies[i]); err != nil {
			return err
		}
		if err := ft.add(k, e.Actor.Name, e.Actor.Email, targetName(e), e.Action, e.Team, e.Context.IP, e.Description); err != nil {
			return err
		}
	}
	for _, bt := range []*batcher{ev, ft} {
		if err := bt.flush(); err != nil {
			return err
		}
	}
	if err := insertPostings(ctx, st, tx, b.postings); err != nil {
		return err
	}
	if err := st.closeBatches(); err != nil {
		return err
	}
	return tx.Commit()
}
