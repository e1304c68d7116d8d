package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/retention"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// What the retention service needs of the store (internal/retention).
var (
	_ retention.Store  = (*Store)(nil)
	_ retention.Locker = (*Store)(nil)
)

// lockRetention is the advisory lock class of a tenant's purge; the second
// key is a hash of the schema and the tenant.
const lockRetention = 0x61756b03

// RetentionTenants returns every tenant whose retention_days is above 0.
// Returns EUNAVAILABLE when the database cannot be reached.
func (s *Store) RetentionTenants(ctx context.Context) ([]*auditkeep.Tenant, error) {
	var out []*auditkeep.Tenant
	err := s.retry(ctx, idempotent, func() error {
		out = out[:0]
		rows, err := s.pool.Query(ctx, `SELECT id, retention_days, plan, created_at, created_nsec FROM tenants
			WHERE retention_days > 0 ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t := &auditkeep.Tenant{}
			var nsec int16
			if err := rows.Scan(&t.ID, &t.RetentionDays, &t.Plan, &t.CreatedAt, &nsec); err != nil {
				return err
			}
			t.CreatedAt = joinTime(t.CreatedAt, nsec)
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}

// CreateHold stores an active legal hold. Returns ENOTFOUND for an unknown
// tenant, ECONFLICT when the tenant has a hold with this id, EUNAVAILABLE
// when the database cannot be reached.
func (s *Store) CreateHold(ctx context.Context, h *retention.Hold) error {
	at, nsec := splitTime(h.CreatedAt)
	err := s.retry(ctx, once, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO legal_holds (tenant, id, scope, reason, created_by, created_at, created_nsec)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, h.Tenant, h.ID, h.Scope, h.Reason, h.CreatedBy, at, nsec)
		return err
	})
	switch {
	case isCode(err, "23503"): // foreign key: no such tenant
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", h.Tenant)
	case isCode(err, "23505"):
		return auditkeep.Errorf(auditkeep.ECONFLICT, "hold %q already exists", h.ID)
	}
	return err
}

// DeleteHold removes the tenant's hold id. Returns ENOTFOUND when the
// tenant has no such hold, EUNAVAILABLE when the database cannot be reached.
func (s *Store) DeleteHold(ctx context.Context, tenant, id string) error {
	var tag pgconn.CommandTag
	err := s.retry(ctx, idempotent, func() (err error) {
		tag, err = s.pool.Exec(ctx, `DELETE FROM legal_holds WHERE tenant = $1 AND id = $2`, tenant, id)
		return err
	})
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "no active hold %q", id)
	}
	return nil
}

// ListHolds returns the tenant's active holds, oldest first. Returns
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) ListHolds(ctx context.Context, tenant string) ([]*retention.Hold, error) {
	var out []*retention.Hold
	err := s.retry(ctx, idempotent, func() error {
		out = out[:0]
		rows, err := s.pool.Query(ctx, `SELECT id, scope, reason, created_by, created_at, created_nsec FROM legal_holds
			WHERE tenant = $1 ORDER BY created_at, created_nsec, id`, tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			h := &retention.Hold{Tenant: tenant}
			var nsec int16
			if err := rows.Scan(&h.ID, &h.Scope, &h.Reason, &h.CreatedBy, &h.CreatedAt, &nsec); err != nil {
				return err
			}
			h.CreatedAt = joinTime(h.CreatedAt, nsec)
			out = append(out, h)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteEvents removes, in one statement, the tenant's events of seqs that
// no legal hold covers (the holds are read by that statement), and returns
// how many it removed. The tenant's counter keeps its last seq, so seqs
// never restart; targets that a removed delete event named stay deleted.
// Returns EUNAVAILABLE when the database cannot be reached.
func (s *Store) DeleteEvents(ctx context.Context, tenant string, seqs []int64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	var tag pgconn.CommandTag
	// Deleting rows that are already gone deletes nothing: safe to retry.
	err := s.retry(ctx, idempotent, func() (err error) {
		tag, err = s.pool.Exec(ctx, `DELETE FROM events e
			WHERE e.tenant_no = (SELECT no FROM tenants WHERE id = $1) AND e.seq = ANY($2)
			AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant = $1
				AND (h.scope = '' OR e.scope_path = h.scope OR starts_with(e.scope_path, h.scope || '/')))`,
			tenant, seqs)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// RetentionLock takes the tenant's purge lock, a session advisory lock held
// on a connection of its own until release, without waiting: ok is false
// when another node holds it. A node that dies loses its session and so the
// lock. Returns EUNAVAILABLE when the database cannot be reached.
func (s *Store) RetentionLock(ctx context.Context, tenant string) (func(), bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, dbError(err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext(current_schema() || '/' || $2))`, lockRetention, tenant).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, dbError(err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext(current_schema() || '/' || $2))`, lockRetention, tenant); err != nil {
				// The session may still hold the lock: do not give it back to the pool.
				conn.Conn().Close(ctx)
			}
			conn.Release()
		})
	}, true, nil
}

// DropEmptyPartitions drops the monthly event partitions that lie wholly
// before the current month and hold no row any more (their events were
// archived and removed by retention): dropping a table gives its space back
// at once, where deleted rows wait for VACUUM. Returns the partitions
// dropped; EUNAVAILABLE when the database cannot be reached.
func (s *Store) DropEmptyPartitions(ctx context.Context) ([]string, error) {
	cur := monthStart(s.now())
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class p ON p.oid = i.inhparent
		JOIN pg_namespace n ON n.oid = p.relnamespace
		WHERE p.relname = 'events' AND n.nspname = current_schema() AND c.relname LIKE 'events\_p%'
		ORDER BY c.relname`)
	if err != nil {
		return nil, dbError(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbError(err)
	}
	var dropped []string
	for _, name := range names {
		var y, m int
		if _, err := fmt.Sscanf(name, "events_p%04d%02d", &y, &m); err != nil {
			continue
		}
		if time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0).After(cur) {
			continue // the current month or later
		}
		ok, err := s.dropIfEmpty(ctx, name)
		if err != nil {
			return dropped, err
		}
		if ok {
			dropped = append(dropped, name)
			s.logger.Info("empty event partition dropped", "partition", name)
		}
	}
	return dropped, nil
}

func (s *Store) dropIfEmpty(ctx context.Context, name string) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, dbError(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, lockPartition); err != nil {
		return false, dbError(err)
	}
	ident := pgx.Identifier{name}.Sanitize() // from the catalog, matched against events_pYYYYMM
	// The lock keeps rows from arriving between the check and the drop; it
	// gives up rather than make reads of the partition wait long.
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
		return false, dbError(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+ident+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		return false, dbError(err)
	}
	var any bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+ident+`)`).Scan(&any); err != nil {
		return false, dbError(err)
	}
	if any {
		return false, nil
	}
	for _, q := range []string{`ALTER TABLE events DETACH PARTITION ` + ident, `DROP TABLE ` + ident} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return false, dbError(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, dbError(&commitError{err})
	}
	return true, nil
}
