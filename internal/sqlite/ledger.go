package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Ledger keeps the tenants' Merkle trees (internal/ledger) in the store's
// database: leaf hashes, perfect-subtree nodes, the integrated state and the
// checkpoint history, in the tables of migration 0002_ledger.sql. It is the
// store's ledger.Storage and ledger.Events. Make one per Store (NewLedger):
// its integrator lock is in-process, which is enough because one process
// writes an SQLite database. It is safe for concurrent use.
type Ledger struct {
	s *Store

	mu     sync.Mutex
	locked map[string]bool // tenants whose integrator lock is held
}

var (
	_ ledger.Storage = (*Ledger)(nil)
	_ ledger.Events  = (*Ledger)(nil)
)

// NewLedger returns the ledger storage of s.
func NewLedger(s *Store) *Ledger {
	return &Ledger{s: s, locked: map[string]bool{}}
}

// Tenants returns the tenants whose newest event is not integrated yet,
// but those whose ledger is broken. Returns EUNAVAILABLE when storage fails.
func (l *Ledger) Tenants(ctx context.Context) ([]string, error) {
	rows, err := l.s.r.QueryContext(ctx, `SELECT t.id FROM tenants t LEFT JOIN ledger_state l ON l.tenant = t.id
		WHERE t.last_seq > coalesce(l.size, 0) AND t.ledger_broken = '' ORDER BY t.id`)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, dbError(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

// ScanEvents reads the tenant's events: Store.ScanEvents.
func (l *Ledger) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	return l.s.ScanEvents(ctx, tenant, f, fn)
}

// State returns the tenant's integrated state; Size 0 for a tenant never
// integrated. Returns EUNAVAILABLE when storage fails.
func (l *Ledger) State(ctx context.Context, tenant string) (ledger.State, error) {
	return ledgerState(ctx, l.s.r, tenant)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ledgerState reads the tenant's state, with its marks from tenants.
func ledgerState(ctx context.Context, q queryRower, tenant string) (ledger.State, error) {
	var st ledger.State
	var size int64
	err := q.QueryRowContext(ctx, `SELECT coalesce(l.size, 0), l.root, l.checkpoint, coalesce(t.ledger_started, 0), coalesce(t.ledger_broken, '')
		FROM (SELECT ? AS id) q LEFT JOIN tenants t ON t.id = q.id LEFT JOIN ledger_state l ON l.tenant = q.id`, tenant).
		Scan(&size, &st.Root, &st.Checkpoint, &st.Started, &st.Broken)
	if err != nil {
		return ledger.State{}, dbError(err)
	}
	st.Size = uint64(size)
	return st, nil
}

// Leaves are stored in runs of at most ledgerRunLeaves consecutive leaf
// hashes per row, and only the nodes above level ledgerComputedLevels: a
// node of level 1 to 3 is computed from its (at most 8) leaves when read.
// This keeps an integration step's writes to about one row per 8 leaves.
const (
	ledgerRunLeaves      = 256
	ledgerComputedLevels = 3
)

// Nodes returns the hashes of the nodes ids, in the order of ids; level-0
// nodes are leaf hashes. Returns ENOTFOUND when one is not stored,
// EUNAVAILABLE when storage fails.
func (l *Ledger) Nodes(ctx context.Context, tenant string, ids []compact.NodeID) ([][]byte, error) {
	tx, err := l.s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbError(err)
	}
	defer tx.Rollback()
	out := make([][]byte, len(ids))
	var last leafRun // the run read last: a page's leaves are mostly in one
	for i, id := range ids {
		if id.Level <= ledgerComputedLevels {
			begin := id.Index << id.Level
			leaves, err := readLeaves(ctx, tx, tenant, begin, begin+1<<id.Level, &last)
			if err != nil {
				return nil, err
			}
			if len(leaves) != 1<<id.Level {
				return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "tree node %d/%d is not stored", id.Level, id.Index)
			}
			out[i] = subtreeHash(leaves)
			continue
		}
		var h []byte
		err := tx.QueryRowContext(ctx, "SELECT hash FROM ledger_nodes WHERE tenant = ? AND level = ? AND idx = ?", tenant, int(id.Level), int64(id.Index)).Scan(&h)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "tree node %d/%d is not stored", id.Level, id.Index)
		}
		if err != nil {
			return nil, dbError(err)
		}
		out[i] = h
	}
	return out, nil
}

// subtreeHash returns the root of the perfect subtree over leaves (a power
// of two of them). It reuses leaves' array.
func subtreeHash(leaves [][]byte) []byte {
	for n := len(leaves); n > 1; n /= 2 {
		for i := 0; i < n/2; i++ {
			leaves[i] = rfc6962.DefaultHasher.HashChildren(leaves[2*i], leaves[2*i+1])
		}
	}
	return leaves[0]
}

// leafRun is one stored run of leaf hashes: those of seqs first ..
// first+len(hashes)/HashSize-1.
type leafRun struct {
	first  int64
	hashes []byte
}

// slice returns the hashes of seqs from .. to when the run holds them all.
func (r *leafRun) slice(from, to int64) ([][]byte, bool) {
	last := r.first + int64(len(r.hashes)/ledger.HashSize) - 1
	if r.hashes == nil || from < r.first || to > last {
		return nil, false
	}
	out := make([][]byte, 0, to-from+1)
	for seq := from; seq <= to; seq++ {
		i := (seq - r.first) * ledger.HashSize
		out = append(out, r.hashes[i:i+ledger.HashSize:i+ledger.HashSize])
	}
	return out, true
}

// readLeaves returns the stored leaf hashes of seqs begin+1 .. end, in
// order, stopping at the first one missing. When cache is not nil it is
// used instead of a query when it holds them all, and keeps the last run
// read. Returns EUNAVAILABLE when storage fails.
func readLeaves(ctx context.Context, q querier, tenant string, begin, end uint64, cache *leafRun) ([][]byte, error) {
	if cache != nil {
		if out, ok := cache.slice(int64(begin)+1, int64(end)); ok {
			return out, nil
		}
	}
	// The run holding seq begin+1 starts at most ledgerRunLeaves-1 before it.
	lo := int64(begin) + 1 - ledgerRunLeaves
	rows, err := q.QueryContext(ctx, "SELECT first, hashes FROM ledger_leaf_runs WHERE tenant = ? AND first > ? AND first <= ? ORDER BY first",
		tenant, lo, int64(end))
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	out := make([][]byte, 0, end-begin)
	next := int64(begin) + 1 // the seq wanted next
	for rows.Next() {
		var run leafRun
		if err := rows.Scan(&run.first, &run.hashes); err != nil {
			return nil, dbError(err)
		}
		last := run.first + int64(len(run.hashes)/ledger.HashSize) - 1
		if last < next {
			continue // a run before the range
		}
		if run.first > next {
			break // a hole
		}
		to := min(last, int64(end))
		hs, _ := run.slice(next, to)
		out = append(out, hs...)
		next = to + 1
		if cache != nil {
			*cache = run
		}
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

// LeafHashes returns the leaf hashes of seqs begin+1 .. end. Returns
// EINVALID when begin > end, ENOTFOUND when end is beyond the integrated
// size, EUNAVAILABLE when storage fails.
func (l *Ledger) LeafHashes(ctx context.Context, tenant string, begin, end uint64) ([][]byte, error) {
	if begin > end {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "leaf range [%d, %d) is empty", begin, end)
	}
	tx, err := l.s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbError(err)
	}
	defer tx.Rollback()
	st, err := ledgerState(ctx, tx, tenant)
	if err != nil {
		return nil, err
	}
	if end > st.Size {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "leaf %d is not integrated (size %d)", end, st.Size)
	}
	out, err := readLeaves(ctx, tx, tenant, begin, end, nil)
	if err != nil {
		return nil, err
	}
	if uint64(len(out)) != end-begin {
		return nil, auditkeep.Errorf(auditkeep.EINTERNAL, "tenant %s: leaf hash of seq %d is missing", tenant, int64(begin)+int64(len(out))+1)
	}
	return out, nil
}

// Checkpoint returns the signed checkpoint of the tree of size leaves.
// Returns ENOTFOUND when none of that size was stored, EUNAVAILABLE when
// storage fails.
func (l *Ledger) Checkpoint(ctx context.Context, tenant string, size uint64) ([]byte, error) {
	var c []byte
	err := l.s.r.QueryRowContext(ctx, "SELECT checkpoint FROM ledger_checkpoints WHERE tenant = ? AND size = ?", tenant, int64(size)).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no checkpoint of size %d", size)
	}
	if err != nil {
		return nil, dbError(err)
	}
	return c, nil
}

// CheckpointSizes returns, ascending, the sizes of the tenant's stored
// checkpoints larger than after, at most limit of them (all when limit <=
// 0). Returns EUNAVAILABLE when storage fails.
func (l *Ledger) CheckpointSizes(ctx context.Context, tenant string, after uint64, limit int) ([]uint64, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := l.s.r.QueryContext(ctx, "SELECT size FROM ledger_checkpoints WHERE tenant = ? AND size > ? ORDER BY size LIMIT ?",
		tenant, int64(min(after, math.MaxInt64)), limit)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			return nil, dbError(err)
		}
		out = append(out, uint64(size))
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

// Integrate stores u in one transaction (fsynced on commit). Returns
// ECONFLICT when the tenant's size is not u.OldSize, EINVALID when u holds
// the wrong number of leaves, EUNAVAILABLE when storage fails.
func (l *Ledger) Integrate(ctx context.Context, tenant string, u *ledger.Update) error {
	if u.NewSize < u.OldSize || uint64(len(u.Leaves)) != u.NewSize-u.OldSize {
		return auditkeep.Errorf(auditkeep.EINVALID, "update from %d to %d holds %d leaves", u.OldSize, u.NewSize, len(u.Leaves))
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	tx, err := l.s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	st, err := ledgerState(ctx, tx, tenant)
	if err != nil {
		return err
	}
	if st.Size != u.OldSize {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "tree size is %d, not %d", st.Size, u.OldSize)
	}
	if err := insertLedger(ctx, tx, tenant, u); err != nil {
		return dbError(err)
	}
	if err := tx.Commit(); err != nil {
		return dbError(err)
	}
	return nil
}

// ledgerRowsPerInsert is how many rows one INSERT statement of the
// ledger's nodes writes: one statement per row would cost more than the
// rows themselves.
const ledgerRowsPerInsert = 200

func insertLedger(ctx context.Context, tx *sql.Tx, tenant string, u *ledger.Update) error {
	for i := 0; i < len(u.Leaves); i += ledgerRunLeaves {
		run := u.Leaves[i:min(len(u.Leaves), i+ledgerRunLeaves)]
		hashes := make([]byte, 0, len(run)*ledger.HashSize)
		for _, h := range run {
			hashes = append(hashes, h...)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO ledger_leaf_runs (tenant, first, hashes) VALUES (?, ?, ?)",
			tenant, int64(u.OldSize)+int64(i)+1, hashes); err != nil {
			return err
		}
	}
	st := &writeStmts{}
	defer st.closeBatches()
	nodes := st.batch(ctx, tx, "INSERT INTO ledger_nodes (tenant, level, idx, hash) VALUES ", 4, ledgerRowsPerInsert)
	for _, n := range u.Nodes {
		if n.ID.Level <= ledgerComputedLevels {
			continue
		}
		if err := nodes.add(tenant, int(n.ID.Level), int64(n.ID.Index), n.Hash); err != nil {
			return err
		}
	}
	if err := nodes.flush(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO ledger_checkpoints (tenant, size, checkpoint, created_at) VALUES (?, ?, ?, ?)",
		tenant, int64(u.NewSize), u.Checkpoint, time.Now().UnixNano()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_state (tenant, size, root, checkpoint) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET size = excluded.size, root = excluded.root, checkpoint = excluded.checkpoint`,
		tenant, int64(u.NewSize), u.Root, u.Checkpoint); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "UPDATE tenants SET ledger_started = 1 WHERE id = ? AND ledger_started = 0", tenant)
	return err
}

// MarkBroken records that the tenant's ledger is broken, keeping a first
// reason. Returns EUNAVAILABLE when storage fails.
func (l *Ledger) MarkBroken(ctx context.Context, tenant, reason string) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if _, err := l.s.w.ExecContext(ctx, "UPDATE tenants SET ledger_broken = ? WHERE id = ? AND ledger_broken = ''", reason, tenant); err != nil {
		return dbError(err)
	}
	return nil
}

// Reset deletes the tenant's tree and clears its marks, in one
// transaction. Returns EUNAVAILABLE when storage fails.
func (l *Ledger) Reset(ctx context.Context, tenant string) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	tx, err := l.s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	for _, q := range []string{
		"DELETE FROM ledger_leaf_runs WHERE tenant = ?",
		"DELETE FROM ledger_nodes WHERE tenant = ?",
		"DELETE FROM ledger_checkpoints WHERE tenant = ?",
		"DELETE FROM ledger_state WHERE tenant = ?",
		"UPDATE tenants SET ledger_started = 0, ledger_broken = '' WHERE id = ?",
	} {
		if _, err := tx.ExecContext(ctx, q, tenant); err != nil {
			return dbError(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return dbError(err)
	}
	return nil
}

// BrokenTenants returns the tenants whose ledger is broken, with the
// reasons. Returns EUNAVAILABLE when storage fails.
func (l *Ledger) BrokenTenants(ctx context.Context) (map[string]string, error) {
	rows, err := l.s.r.QueryContext(ctx, "SELECT id, ledger_broken FROM tenants WHERE ledger_broken <> ''")
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, reason string
		if err := rows.Scan(&id, &reason); err != nil {
			return nil, dbError(err)
		}
		out[id] = reason
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

// TryLock takes the tenant's integrator lock without waiting; ok is false
// when it is held. The lock is in-process. release may be called more than
// once.
func (l *Ledger) TryLock(ctx context.Context, tenant string) (release func(), ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locked[tenant] {
		return nil, false, nil
	}
	l.locked[tenant] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.locked, tenant)
			l.mu.Unlock()
		})
	}, true, nil
}
