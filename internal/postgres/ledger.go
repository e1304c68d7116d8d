package postgres

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/transparency-dev/merkle/compact"
)

// Ledger keeps the tenants' Merkle trees (internal/ledger) in the database:
// leaf hashes, perfect-subtree nodes, the integrated state and the
// checkpoint history, in the tables of migration 0002_ledger.sql. It is the
// store's ledger.Storage and ledger.Events. Its integrator lock is a
// PostgreSQL session advisory lock, so that however many nodes share the
// database one integrates a tenant at a time, and a node that dies frees its
// locks with its sessions. It is safe for concurrent use.
type Ledger struct {
	s *Store
}

var (
	_ ledger.Storage = (*Ledger)(nil)
	_ ledger.Events  = (*Ledger)(nil)
)

// NewLedger returns the ledger storage of s.
func NewLedger(s *Store) *Ledger { return &Ledger{s: s} }

// Tenants returns the tenants whose newest event is not integrated yet,
// but those whose ledger is broken. Returns EUNAVAILABLE when the database
// cannot be reached.
func (l *Ledger) Tenants(ctx context.Context) ([]string, error) {
	var out []string
	err := l.s.retry(ctx, idempotent, func() error {
		rows, _ := l.s.pool.Query(ctx, `SELECT t.id FROM tenants t LEFT JOIN ledger_state l ON l.tenant = t.id
			WHERE t.last_seq > coalesce(l.size, 0) AND t.ledger_broken = '' ORDER BY t.id`)
		var err error
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}

// ScanEvents reads the tenant's events: Store.ScanEvents.
func (l *Ledger) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	return l.s.ScanEvents(ctx, tenant, f, fn)
}

// State returns the tenant's integrated state, with its marks from
// tenants; Size 0 for a tenant never integrated. Returns EUNAVAILABLE when
// the database cannot be reached.
func (l *Ledger) State(ctx context.Context, tenant string) (ledger.State, error) {
	var st ledger.State
	err := l.s.retry(ctx, idempotent, func() error {
		var size int64
		err := l.s.pool.QueryRow(ctx, `SELECT coalesce(l.size, 0), l.root, l.checkpoint, coalesce(t.ledger_started, false), coalesce(t.ledger_broken, '')
			FROM (SELECT $1::text COLLATE "C" AS id) q LEFT JOIN tenants t ON t.id = q.id LEFT JOIN ledger_state l ON l.tenant = q.id`, tenant).
			Scan(&size, &st.Root, &st.Checkpoint, &st.Started, &st.Broken)
		st.Size = uint64(size)
		return err
	})
	return st, err
}

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ledgerState reads the tenant's state; lock is "" or a locking clause.
func ledgerState(ctx context.Context, q queryRower, tenant, lock string) (ledger.State, error) {
	var st ledger.State
	var size int64
	err := q.QueryRow(ctx, "SELECT size, root, checkpoint FROM ledger_state WHERE tenant = $1 "+lock, tenant).
		Scan(&size, &st.Root, &st.Checkpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.State{}, nil
	}
	if err != nil {
		return ledger.State{}, err
	}
	st.Size = uint64(size)
	return st, nil
}

// Nodes returns the hashes of the nodes ids, in the order of ids, in one
// query; level-0 nodes are leaf hashes. Returns ENOTFOUND when one is not
// stored, EUNAVAILABLE when the database cannot be reached.
func (l *Ledger) Nodes(ctx context.Context, tenant string, ids []compact.NodeID) ([][]byte, error) {
	if len(ids) == 0 {
		return [][]byte{}, nil
	}
	levels := make([]int16, len(ids))
	idxs := make([]int64, len(ids))
	for i, id := range ids {
		levels[i], idxs[i] = int16(id.Level), int64(id.Index)
	}
	var hashes [][]byte
	err := l.s.retry(ctx, idempotent, func() error {
		rows, _ := l.s.pool.Query(ctx, `SELECT coalesce(n.hash, f.hash)
			FROM unnest($2::smallint[], $3::bigint[]) WITH ORDINALITY AS q(level, idx, ord)
			LEFT JOIN ledger_nodes n ON q.level > 0 AND n.tenant = $1 AND n.level = q.level AND n.idx = q.idx
			LEFT JOIN ledger_leaves f ON q.level = 0 AND f.tenant = $1 AND f.seq = q.idx + 1
			ORDER BY q.ord`, tenant, levels, idxs)
		var err error
		hashes, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, h := range hashes {
		if h == nil {
			return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "tree node %d/%d is not stored", ids[i].Level, ids[i].Index)
		}
	}
	return hashes, nil
}

// LeafHashes returns the leaf hashes of seqs begin+1 .. end. Returns
// EINVALID when begin > end, ENOTFOUND when end is beyond the integrated
// size, EUNAVAILABLE when the database cannot be reached.
func (l *Ledger) LeafHashes(ctx context.Context, tenant string, begin, end uint64) ([][]byte, error) {
	if begin > end {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "leaf range [%d, %d) is empty", begin, end)
	}
	st, err := l.State(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if end > st.Size {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "leaf %d is not integrated (size %d)", end, st.Size)
	}
	var hashes [][]byte
	err = l.s.retry(ctx, idempotent, func() error {
		rows, _ := l.s.pool.Query(ctx, `SELECT hash FROM ledger_leaves WHERE tenant = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`,
			tenant, int64(begin), int64(end))
		var err error
		hashes, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
		return err
	})
	if err != nil {
		return nil, err
	}
	if uint64(len(hashes)) != end-begin {
		return nil, auditkeep.Errorf(auditkeep.EINTERNAL, "tenant %s: %d of the leaf hashes of seqs %d..%d are stored", tenant, len(hashes), begin+1, end)
	}
	return hashes, nil
}

// Checkpoint returns the signed checkpoint of the tree of size leaves.
// Returns ENOTFOUND when none of that size was stored, EUNAVAILABLE when the
// database cannot be reached.
func (l *Ledger) Checkpoint(ctx context.Context, tenant string, size uint64) ([]byte, error) {
	var c []byte
	err := l.s.retry(ctx, idempotent, func() error {
		return l.s.pool.QueryRow(ctx, "SELECT checkpoint FROM ledger_checkpoints WHERE tenant = $1 AND size = $2", tenant, int64(size)).Scan(&c)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no checkpoint of size %d", size)
	}
	return c, err
}

// CheckpointSizes returns, ascending, the sizes of the tenant's stored
// checkpoints larger than after, at most limit of them (all when limit <=
// 0). Returns EUNAVAILABLE when the database cannot be reached.
func (l *Ledger) CheckpointSizes(ctx context.Context, tenant string, after uint64, limit int) ([]uint64, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	var sizes []int64
	err := l.s.retry(ctx, idempotent, func() error {
		rows, _ := l.s.pool.Query(ctx, "SELECT size FROM ledger_checkpoints WHERE tenant = $1 AND size > $2 ORDER BY size LIMIT $3",
			tenant, int64(min(after, math.MaxInt64)), lim)
		var err error
		sizes, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(sizes))
	for i, s := range sizes {
		out[i] = uint64(s)
	}
	return out, nil
}

// Integrate stores u in one transaction. Returns ECONFLICT when the
// tenant's size is not u.OldSize (another node integrated first), EINVALID
// when u holds the wrong number of leaves, EUNAVAILABLE when the database
// cannot be reached.
func (l *Ledger) Integrate(ctx context.Context, tenant string, u *ledger.Update) error {
	if u.NewSize < u.OldSize || uint64(len(u.Leaves)) != u.NewSize-u.OldSize {
		return auditkeep.Errorf(auditkeep.EINVALID, "update from %d to %d holds %d leaves", u.OldSize, u.NewSize, len(u.Leaves))
	}
	err := l.s.retry(ctx, once, func() error { return l.integrate(ctx, tenant, u) })
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique violation: a concurrent first integration
		return auditkeep.Errorf(auditkeep.ECONFLICT, "tenant %s: another integrator stored seqs after %d", tenant, u.OldSize)
	}
	return err
}

func (l *Ledger) integrate(ctx context.Context, tenant string, u *ledger.Update) error {
	tx, err := l.s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	st, err := ledgerState(ctx, tx, tenant, "FOR UPDATE")
	if err != nil {
		return err
	}
	if st.Size != u.OldSize {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "tree size is %d, not %d", st.Size, u.OldSize)
	}
	leaves := make([][]any, len(u.Leaves))
	for i, h := range u.Leaves {
		leaves[i] = []any{tenant, int64(u.OldSize) + int64(i) + 1, h}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger_leaves"}, []string{"tenant", "seq", "hash"}, pgx.CopyFromRows(leaves)); err != nil {
		return err
	}
	nodes := make([][]any, len(u.Nodes))
	for i, n := range u.Nodes {
		nodes[i] = []any{tenant, int16(n.ID.Level), int64(n.ID.Index), n.Hash}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger_nodes"}, []string{"tenant", "level", "idx", "hash"}, pgx.CopyFromRows(nodes)); err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO ledger_checkpoints (tenant, size, checkpoint) VALUES ($1, $2, $3)`, tenant, int64(u.NewSize), u.Checkpoint)
	b.Queue(`INSERT INTO ledger_state (tenant, size, root, checkpoint) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant) DO UPDATE SET size = excluded.size, root = excluded.root, checkpoint = excluded.checkpoint`,
		tenant, int64(u.NewSize), u.Root, u.Checkpoint)
	b.Queue(`UPDATE tenants SET ledger_started = true WHERE id = $1 AND NOT ledger_started`, tenant)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return &commitError{err}
	}
	return nil
}

// MarkBroken records that the tenant's ledger is broken, keeping a first
// reason. Returns EUNAVAILABLE when the database cannot be reached.
func (l *Ledger) MarkBroken(ctx context.Context, tenant, reason string) error {
	return l.s.retry(ctx, idempotent, func() error {
		_, err := l.s.pool.Exec(ctx, "UPDATE tenants SET ledger_broken = $1 WHERE id = $2 AND ledger_broken = ''", reason, tenant)
		return err
	})
}

// Reset deletes the tenant's tree and clears its marks, in one
// transaction. Returns EUNAVAILABLE when the database cannot be reached.
func (l *Ledger) Reset(ctx context.Context, tenant string) error {
	return l.s.retry(ctx, idempotent, func() error {
		tx, err := l.s.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		b := &pgx.Batch{}
		for _, table := range []string{"ledger_leaves", "ledger_nodes", "ledger_checkpoints", "ledger_state"} {
			b.Queue("DELETE FROM "+table+" WHERE tenant = $1", tenant)
		}
		b.Queue("UPDATE tenants SET ledger_started = false, ledger_broken = '' WHERE id = $1", tenant)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

// BrokenTenants returns the tenants whose ledger is broken, with the
// reasons. Returns EUNAVAILABLE when the database cannot be reached.
func (l *Ledger) BrokenTenants(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := l.s.retry(ctx, idempotent, func() error {
		clear(out)
		rows, _ := l.s.pool.Query(ctx, "SELECT id, ledger_broken FROM tenants WHERE ledger_broken <> ''")
		var id, reason string
		_, err := pgx.ForEachRow(rows, []any{&id, &reason}, func() error {
			out[id] = reason
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TryLock takes the tenant's integrator lock without waiting: a session
// advisory lock, pg_try_advisory_lock(hashtext(current_schema()),
// hashtext('auditkeep-ledger:' || tenant)), on a pooled connection kept out
// of the pool while the lock is held. ok is false when another session
// (another node) holds it. release unlocks and returns the connection (or
// closes it when unlocking fails, which frees the lock too); it may be
// called more than once. Returns EUNAVAILABLE when the database cannot be
// reached.
func (l *Ledger) TryLock(ctx context.Context, tenant string) (release func(), ok bool, err error) {
	conn, err := l.s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, dbError(err)
	}
	const key = `hashtext(current_schema()), hashtext('auditkeep-ledger:' || $1)`
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+key+`)`, tenant).Scan(&ok); err != nil {
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
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var unlocked bool
			if err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock(`+key+`)`, tenant).Scan(&unlocked); err != nil || !unlocked {
				l.s.logger.Warn("ledger: could not release the integrator lock; closing its connection", "tenant", tenant, "err", err)
				conn.Conn().Close(ctx) // ends the session, and so the lock
			}
			conn.Release()
		})
	}, true, nil
}
