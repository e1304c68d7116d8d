package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// What the retention service needs of the store (internal/retention).
var (
	_ auditkeep.RetentionStore  = (*Store)(nil)
	_ auditkeep.RetentionLocker = (*Store)(nil)
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
func (s *Store) CreateHold(ctx context.Context, h *auditkeep.Hold) error {
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
func (s *Store) ListHolds(ctx context.Context, tenant string) ([]*auditkeep.Hold, error) {
	var out []*auditkeep.Hold
	err := s.retry(ctx, idempotent, func() error {
		out = out[:0]
		rows, err := s.pool.Query(ctx, `SELECT id, scope, reason, created_by, created_at, created_nsec FROM legal_holds
			WHERE tenant = $1 ORDER BY created_at, created_nsec, id`, tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			h := &auditkeep.Hold{Tenant: tenant}
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
	var n int
	// Deleting rows that are already gone deletes nothing (and takes no
	// counts off): safe to retry.
	err := s.retry(ctx, idempotent, func() (err error) {
		return s.pool.QueryRow(ctx, `WITH d AS (DELETE FROM events e
			WHERE e.tenant_no = (SELECT no FROM tenants WHERE id = $1) AND e.seq = ANY($2)
			AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant = $1
				AND (h.scope = '' OR e.scope_path = h.scope OR starts_with(e.scope_path, h.scope || '/')))
			RETURNING e.*), counted AS (`+subtractFacetCounts("d e", "true")+`)
			SELECT count(*) FROM d`,
			tenant, seqs).Scan(&n)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// RetentionLock takes the purge lock of every tenant given, session
// advisory locks held on one connection of their own until release, without
// waiting: ok is false, and no lock is kept, when another node holds any of
// them. A node that dies loses its session and so the locks. Returns
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) RetentionLock(ctx context.Context, tenants ...string) (func(), bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, dbError(err)
	}
	unlock := func(held []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, t := range held {
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext(current_schema() || '/' || $2))`, lockRetention, t); err != nil {
				// The session may still hold the lock: do not give it back to the pool.
				conn.Conn().Close(ctx)
				break
			}
		}
		conn.Release()
	}
	var held []string
	for _, t := range tenants {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext(current_schema() || '/' || $2))`, lockRetention, t).Scan(&ok); err != nil {
			// Whether it was taken is unknown: ending the session drops
			// every lock it holds.
			conn.Conn().Close(context.Background())
			conn.Release()
			return nil, false, dbError(err)
		}
		if !ok {
			unlock(held)
			return nil, false, nil
		}
		held = append(held, t)
	}
	var once sync.Once
	return func() { once.Do(func() { unlock(held) }) }, true, nil
}

// DropEmptyPartitions drops the monthly event partitions that lie wholly
// before the current month and hold no event any more but retention.purge
// records (their events were archived and removed by retention): dropping a
// table gives its space back at once, where deleted rows wait for VACUUM.
// The purge records stay, moved to the default partition unchanged.
// Returns the partitions dropped; EUNAVAILABLE when the database cannot be
// reached.
func (s *Store) DropEmptyPartitions(ctx context.Context) ([]string, error) {
	names, err := s.pastPartitions(ctx, monthStart(s.now()))
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, name := range names {
		ident := pgx.Identifier{name}.Sanitize() // from the catalog, matched against events_pYYYYMM
		hasEvents := `SELECT EXISTS (SELECT 1 FROM ` + ident + ` WHERE action <> $1)`
		// A first look without locks, so that partitions still in use
		// never hold up reads and writes.
		var busy bool
		err := s.retry(ctx, idempotent, func() error { return s.pool.QueryRow(ctx, hasEvents, auditkeep.PurgeAction).Scan(&busy) })
		if isCode(err, "42P01") || (err == nil && busy) {
			continue // dropped since it was listed, or not empty
		}
		if err != nil {
			return dropped, err
		}
		ok, err := s.dropPartition(ctx, name, func(tx pgx.Tx, _ string) (bool, error) {
			err := tx.QueryRow(ctx, hasEvents, auditkeep.PurgeAction).Scan(&busy)
			return !busy, err
		})
		if err != nil {
			return dropped, err
		}
		if ok {
			dropped = append(dropped, name)
		}
	}
	return dropped, nil
}
