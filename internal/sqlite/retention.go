package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/auditkeep/auditkeep"
)

// What the retention service needs of the store (internal/retention).
var _ auditkeep.RetentionStore = (*Store)(nil)

// RetentionTenants returns every tenant whose retention_days is above 0.
// Returns EUNAVAILABLE when storage fails.
func (s *Store) RetentionTenants(ctx context.Context) ([]*auditkeep.Tenant, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, retention_days, plan, created_at FROM tenants WHERE retention_days > 0 ORDER BY id")
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []*auditkeep.Tenant
	for rows.Next() {
		t := &auditkeep.Tenant{}
		var created int64
		if err := rows.Scan(&t.ID, &t.RetentionDays, &t.Plan, &created); err != nil {
			return nil, dbError(err)
		}
		t.CreatedAt = time.Unix(0, created).UTC()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

// CreateHold stores an active legal hold. Returns ENOTFOUND for an unknown
// tenant, ECONFLICT when the tenant has a hold with this id, EUNAVAILABLE
// when storage fails.
func (s *Store) CreateHold(ctx context.Context, h *auditkeep.Hold) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	if err := requireTenant(ctx, tx, h.Tenant); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO legal_holds (tenant, id, scope, reason, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, id) DO NOTHING`,
		h.Tenant, h.ID, h.Scope, h.Reason, h.CreatedBy, h.CreatedAt.UnixNano())
	if err != nil {
		return dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err)
	} else if n == 0 {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "hold %q already exists", h.ID)
	}
	if err := tx.Commit(); err != nil {
		return dbError(err)
	}
	return nil
}

// DeleteHold removes the tenant's hold id. Returns ENOTFOUND when the
// tenant has no such hold, EUNAVAILABLE when storage fails.
func (s *Store) DeleteHold(ctx context.Context, tenant, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.w.ExecContext(ctx, "DELETE FROM legal_holds WHERE tenant = ? AND id = ?", tenant, id)
	if err != nil {
		return dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err)
	} else if n == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "no active hold %q", id)
	}
	return nil
}

// ListHolds returns the tenant's active holds, oldest first. Returns
// EUNAVAILABLE when storage fails.
func (s *Store) ListHolds(ctx context.Context, tenant string) ([]*auditkeep.Hold, error) {
	return listHolds(ctx, s.r, tenant)
}

func listHolds(ctx context.Context, q querier, tenant string) ([]*auditkeep.Hold, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, scope, reason, created_by, created_at FROM legal_holds
		WHERE tenant = ? ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []*auditkeep.Hold
	for rows.Next() {
		h := &auditkeep.Hold{Tenant: tenant}
		var created int64
		if err := rows.Scan(&h.ID, &h.Scope, &h.Reason, &h.CreatedBy, &created); err != nil {
			return nil, dbError(err)
		}
		h.CreatedAt = time.Unix(0, created).UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

// deleteChunk is how many events one DeleteEvents transaction removes:
// the writer is held for one chunk at a time, so that ingest waits tens of
// milliseconds, not the whole batch.
const deleteChunk = 200

// deletePause is how many times a chunk's own duration DeleteEvents waits
// before the next chunk, so that a purge holds the writer at most a fifth
// of the time.
const deletePause = 4

// DeleteEvents removes the tenant's events of seqs that no legal hold
// covers, with their postings, full-text entries and the terms' counts, in
// transactions of at most deleteChunk events that each hold the writer and
// read the holds. On error, the chunks committed before stay removed and
// are counted. The tenant's last seq is kept, so seqs never restart; targets
// that a removed delete event named stay deleted. Returns the number of
// events removed; ENOTFOUND for an unknown tenant, EUNAVAILABLE when
// storage fails.
func (s *Store) DeleteEvents(ctx context.Context, tenant string, seqs []int64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	num, err := s.tenantNum(ctx, tenant)
	if err != nil {
		return 0, err
	}
	if num == 0 {
		return 0, notFoundTenant(tenant)
	}
	total := 0
	for len(seqs) > 0 {
		chunk := seqs[:min(deleteChunk, len(seqs))]
		seqs = seqs[len(chunk):]
		start := time.Now()
		s.mu.Lock()
		n, err := s.deleteTx(ctx, tenant, num, chunk)
		s.mu.Unlock()
		if len(seqs) > 0 && err == nil {
			// Leave the writer (and the CPU) to ingest most of the
			// time: a purge is background work.
			select {
			case <-time.After(deletePause * time.Since(start)):
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if err != nil {
			var ae *auditkeep.Error
			if errors.As(err, &ae) {
				return total, err
			}
			return total, dbError(err)
		}
		total += n
	}
	return total, nil
}

func (s *Store) deleteTx(ctx context.Context, tenant string, num int64, seqs []int64) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	holds, err := listHolds(ctx, tx, tenant)
	if err != nil {
		return 0, err
	}
	stmts := map[string]*sql.Stmt{}
	for name, q := range map[string]string{
		"body":    "SELECT occurred_at, body FROM events WHERE k = ?",
		"term":    "SELECT id FROM terms WHERE tenant = ? AND field = ? AND value = ?",
		"posting": "DELETE FROM postings WHERE term = ? AND k = ?",
		"timed":   "DELETE FROM postings_time WHERE term = ? AND t = ? AND k = ?",
		"fts":     "DELETE FROM events_fts WHERE rowid = ?",
		"event":   "DELETE FROM events WHERE k = ?",
		"count":   "UPDATE terms SET count = max(count - ?, 0) WHERE id = ?",
	} {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return 0, err
		}
		defer st.Close()
		stmts[name] = st
	}
	termIDs := map[termKey]int64{}
	counts := map[int64]int64{}
	pairs, gone := pairCounts{}, map[int64]bool{}
	var terms []termKey
	var ids []int64
	removed := 0
	for _, seq := range seqs {
		if seq < 1 || seq >= 1<<40 {
			continue
		}
		k := num<<40 | seq
		var at int64
		var body []byte
		err := stmts["body"].QueryRowContext(ctx, k).Scan(&at, &body)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, err
		}
		e, err := decodeBody(body, tenant, seq)
		if err != nil {
			return 0, err
		}
		if held(holds, e) {
			continue
		}
		terms, ids = eventTerms(terms[:0], num, e), ids[:0]
		for _, tk := range terms {
			id, ok := termIDs[tk]
			if !ok {
				err := stmts["term"].QueryRowContext(ctx, tk.tenant, tk.field, tk.value).Scan(&id)
				if errors.Is(err, sql.ErrNoRows) {
					id = 0
				} else if err != nil {
					return 0, err
				}
				termIDs[tk] = id
			}
			ids = append(ids, id)
			if id == 0 {
				continue
			}
			res, err := stmts["posting"].ExecContext(ctx, id, k)
			if err != nil {
				return 0, err
			}
			if _, err := stmts["timed"].ExecContext(ctx, id, at, k); err != nil {
				return 0, err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				counts[id]++
			}
		}
		pairs.add(terms, ids, k)
		gone[k] = true
		if _, err := stmts["fts"].ExecContext(ctx, k); err != nil {
			return 0, err
		}
		if _, err := stmts["event"].ExecContext(ctx, k); err != nil {
			return 0, err
		}
		removed++
	}
	for id, n := range counts {
		if _, err := stmts["count"].ExecContext(ctx, n, id); err != nil {
			return 0, err
		}
	}
	if err := removePairs(ctx, tx, pairs, gone); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return removed, nil
}

// held reports whether any hold covers e.
func held(holds []*auditkeep.Hold, e *auditkeep.Event) bool {
	if len(holds) == 0 {
		return false
	}
	path := auditkeep.ScopePath(e.Scope)
	for _, h := range holds {
		if h.Covers(path) {
			return true
		}
	}
	return false
}
