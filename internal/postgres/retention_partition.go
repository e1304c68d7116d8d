package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
)

var _ auditkeep.PartitionStore = (*Store)(nil)

// partitionLockTimeout is how long dropping a partition waits for its
// locks: every read and write of events waits behind it meanwhile, so it
// gives up rather than hold them long (and is tried again at the next run).
const partitionLockTimeout = "2s"

// pastPartitions returns the names of the monthly partitions (events_pYYYYMM)
// whose month ends at or before before, oldest first.
func (s *Store) pastPartitions(ctx context.Context, before time.Time) ([]string, error) {
	var names []string
	err := s.retry(ctx, idempotent, func() error {
		rows, _ := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid
			JOIN pg_class p ON p.oid = i.inhparent
			JOIN pg_namespace n ON n.oid = p.relnamespace
			WHERE p.relname = 'events' AND n.nspname = current_schema() AND c.relname LIKE 'events\_p%'
			ORDER BY c.relname`)
		var err error
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range names {
		_, hi, ok := partitionMonth(name)
		if ok && !hi.After(before) {
			out = append(out, name)
		}
	}
	return out, nil
}

// partitionMonth returns the bounds of the month of the partition name
// (events_pYYYYMM); ok is false for any other name.
func partitionMonth(name string) (lo, hi time.Time, ok bool) {
	var y, m int
	if n, err := fmt.Sscanf(name, "events_p%04d%02d", &y, &m); err != nil || n != 2 || m < 1 || m > 12 || len(name) != len("events_p200601") {
		return lo, hi, false
	}
	lo = time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
	return lo, lo.AddDate(0, 1, 0), true
}

// rowsQuerier is a pool or a transaction.
type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// partitionTenants returns, by tenant id, each tenant that has events in
// the partition ident other than retention.purge records, with the
// greatest seq and the latest occurred_at among them. It walks the
// partition's indexes (one probe per tenant and value), not its rows.
func partitionTenants(ctx context.Context, q rowsQuerier, ident string) ([]auditkeep.PartitionTenant, error) {
	rows, _ := q.Query(ctx, `WITH RECURSIVE nos (no) AS (
			(SELECT tenant_no FROM `+ident+` ORDER BY tenant_no LIMIT 1)
			UNION ALL
			SELECT (SELECT p.tenant_no FROM `+ident+` p WHERE p.tenant_no > nos.no ORDER BY p.tenant_no LIMIT 1)
			FROM nos WHERE nos.no IS NOT NULL)
		SELECT t.id, l.seq, o.occurred_at, o.occurred_nsec FROM nos
		JOIN tenants t ON t.no = nos.no
		CROSS JOIN LATERAL (SELECT e.seq FROM `+ident+` e WHERE e.tenant_no = nos.no AND e.action <> $1
			ORDER BY e.seq DESC LIMIT 1) l
		CROSS JOIN LATERAL (SELECT e.occurred_at, e.occurred_nsec FROM `+ident+` e WHERE e.tenant_no = nos.no AND e.action <> $1
			ORDER BY e.occurred_at DESC, e.occurred_nsec DESC LIMIT 1) o
		ORDER BY t.id`, auditkeep.PurgeAction)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (auditkeep.PartitionTenant, error) {
		var t auditkeep.PartitionTenant
		var nsec int16
		err := row.Scan(&t.Tenant, &t.LastSeq, &t.Last, &nsec)
		t.Last = joinTime(t.Last, nsec)
		return t, err
	})
}

// Partitions returns the monthly event partitions that lie wholly before
// before, oldest first, each with the tenants that have events in it other
// than retention.purge records. Returns EUNAVAILABLE when the database
// cannot be reached.
func (s *Store) Partitions(ctx context.Context, before time.Time) ([]*auditkeep.Partition, error) {
	names, err := s.pastPartitions(ctx, before)
	if err != nil {
		return nil, err
	}
	var out []*auditkeep.Partition
	for _, name := range names {
		p := &auditkeep.Partition{Name: name}
		ident := pgx.Identifier{name}.Sanitize() // from the catalog, matched against events_pYYYYMM
		err := s.retry(ctx, idempotent, func() (err error) {
			p.Tenants, err = partitionTenants(ctx, s.pool, ident)
			return err
		})
		if isCode(err, "42P01") {
			continue // dropped since it was listed
		}
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// PartitionEvents returns up to limit events of t.Tenant in the partition,
// retention.purge records aside, whose seqs are above after and at most
// t.LastSeq, in seq order. Returns EINVALID for a name that is not a
// monthly partition's, EUNAVAILABLE when the database cannot be reached.
func (s *Store) PartitionEvents(ctx context.Context, partition string, t auditkeep.PartitionTenant, after int64, limit int) ([]*auditkeep.Event, error) {
	lo, hi, ok := partitionMonth(partition)
	if !ok {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "%q is not an event partition", partition)
	}
	// The month's bounds of received_at select that partition's rows alone.
	q := selectEvents + `WHERE e.tenant_no = (SELECT no FROM tenants WHERE id = $1) AND e.received_at >= $2 AND e.received_at < $3
		AND e.seq > $4 AND e.seq <= $5 AND e.action <> $6 ORDER BY e.seq LIMIT $7`
	var events []*auditkeep.Event
	err := s.retry(ctx, idempotent, func() error {
		rows, _ := s.pool.Query(ctx, q, t.Tenant, lo, hi, after, t.LastSeq, auditkeep.PurgeAction, limit)
		var err error
		events, err = pgx.CollectRows(rows, eventScanner(t.Tenant))
		return err
	})
	return events, err
}

// DropPartition drops the partition p in one transaction, provided that,
// under its locks, it still holds what p says (the same tenants with the
// same last seqs: nothing arrived) and each of those tenants still has a
// limited retention, no active legal hold, and no event in it at or after
// auditkeep.RetentionCutoff(now, its retention). The legal holds are locked until
// the commit, so a hold is either seen here or created after the drop.
// retention.purge records stay: they move, every column unchanged, to the
// default partition. dropped is false, with a nil error, when a check fails
// or the partition is gone; the partition is then as it was. Returns
// EUNAVAILABLE when the database cannot be reached or the locks are not
// granted within 2s.
func (s *Store) DropPartition(ctx context.Context, p *auditkeep.Partition, now time.Time) (bool, error) {
	if _, _, ok := partitionMonth(p.Name); !ok {
		return false, auditkeep.Errorf(auditkeep.EINVALID, "%q is not an event partition", p.Name)
	}
	return s.dropPartition(ctx, p.Name, func(tx pgx.Tx, ident string) (bool, error) {
		if _, err := tx.Exec(ctx, `LOCK TABLE legal_holds IN SHARE MODE`); err != nil {
			return false, err
		}
		got, err := partitionTenants(ctx, tx, ident)
		if err != nil {
			return false, err
		}
		same := slices.EqualFunc(got, p.Tenants, func(a, b auditkeep.PartitionTenant) bool {
			return a.Tenant == b.Tenant && a.LastSeq == b.LastSeq
		})
		if !same || len(got) == 0 {
			return same, nil
		}
		ids := make([]string, len(got))
		for i, t := range got {
			ids[i] = t.Tenant
		}
		rows, _ := tx.Query(ctx, `SELECT t.retention_days, EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant = t.id)
			FROM tenants t WHERE t.id = ANY($1) ORDER BY t.id`, ids)
		type policy struct {
			days int
			held bool
		}
		pols, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (policy, error) {
			var p policy
			err := row.Scan(&p.days, &p.held)
			return p, err
		})
		if err != nil || len(pols) != len(got) {
			return false, err
		}
		for i, t := range got {
			cut := auditkeep.RetentionCutoff(now, pols[i].days)
			if cut.IsZero() || pols[i].held || !t.Last.Before(cut) {
				return false, nil
			}
		}
		return true, nil
	})
}

// dropPartition drops the partition name in one transaction, if check (run
// with the partition and events locked; ident is the partition's quoted
// name) agrees: it detaches the partition, moves its retention.purge rows
// into events (the default partition, once the month's partition is gone)
// and drops it. Reads see the partition before or after, never between.
func (s *Store) dropPartition(ctx context.Context, name string, check func(tx pgx.Tx, ident string) (bool, error)) (bool, error) {
	ident := pgx.Identifier{name}.Sanitize()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, dbError(err)
	}
	defer tx.Rollback(ctx)
	fail := func(err error) (bool, error) {
		if isCode(err, "55P03") { // lock_not_available
			return false, auditkeep.Unavailable(fmt.Errorf("partition %s: its locks were not granted within %s (reads or writes held them): %w", name, partitionLockTimeout, err))
		}
		return false, dbError(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, lockPartition); err != nil {
		return fail(err)
	}
	// Another node may have dropped it while this one waited for the lock.
	var exists bool
	if err := tx.QueryRow(ctx, tableExists, name).Scan(&exists); err != nil || !exists {
		return false, dbError(err)
	}
	// events before the partition, in the order every read and write takes
	// them: the other order could deadlock with a read.
	for _, q := range []string{
		`SET LOCAL lock_timeout = '` + partitionLockTimeout + `'`,
		`LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE`,
		`LOCK TABLE ` + ident + ` IN ACCESS EXCLUSIVE MODE`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fail(err)
		}
	}
	if ok, err := check(tx, ident); err != nil || !ok {
		if err != nil {
			return fail(err)
		}
		return false, nil
	}
	// Every column of events, by name: the detached table's order need not
	// be the parent's.
	var cols string
	if err := tx.QueryRow(ctx, `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
		WHERE attrelid = 'events'::regclass AND attnum > 0 AND NOT attisdropped`).Scan(&cols); err != nil {
		return fail(err)
	}
	if _, err := tx.Exec(ctx, `ALTER TABLE events DETACH PARTITION `+ident); err != nil {
		return fail(err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO events (`+cols+`) SELECT `+cols+` FROM `+ident+` WHERE action = $1`, auditkeep.PurgeAction)
	if err != nil {
		return fail(err)
	}
	// The facets' counts lose the partition's events, but for the purge
	// records just kept.
	if _, err := tx.Exec(ctx, subtractFacetCounts(ident+` e`, `e.action <> $1`), auditkeep.PurgeAction); err != nil {
		return fail(err)
	}
	if _, err := tx.Exec(ctx, `DROP TABLE `+ident); err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		// Whether COMMIT reached the server is unknown: the catalog tells.
		var exists bool
		if qerr := s.pool.QueryRow(context.WithoutCancel(ctx), tableExists, name).Scan(&exists); qerr != nil || exists {
			return false, dbError(&commitError{err})
		}
	}
	s.logger.Info("event partition dropped", "partition", name, "purge_records_kept", tag.RowsAffected())
	return true, nil
}
