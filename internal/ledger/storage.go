package ledger

import (
	"context"
	"slices"
	"sync"

	"github.com/auditkeep/auditkeep"
	"github.com/transparency-dev/merkle/compact"
)

// EventScanner reads a tenant's events; auditkeep.EventStore fulfils it.
type EventScanner interface {
	// ScanEvents calls fn for every event of tenant matching f, in f's order.
	// The ledger calls it with Filter{Order: OrderAsc, Cursor: &Cursor{Seq: n,
	// Order: OrderAsc}} to read the events after seq n, and stops the scan by
	// returning an error from fn.
	ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error
}

// Events is what the Integrator reads: events, and the tenants that may have
// events to integrate.
type Events interface {
	EventScanner
	// Tenants returns every tenant that may have events not yet integrated
	// (returning more tenants than that is correct, only slower).
	Tenants(ctx context.Context) ([]string, error)
}

// State is a tenant's integrated state.
type State struct {
	Size       uint64 // number of integrated events: seqs 1..Size
	Root       []byte // RFC 6962 root of the tree of Size leaves; nil when Size is 0
	Checkpoint []byte // the latest signed checkpoint (note text); nil when Size is 0
	// Started reports that the tenant's tree was started: a step was
	// stored once. It is kept apart from the tree (with the tenant), so
	// that a tree whose rows are gone reads as missing, not as new.
	Started bool
	// Broken, when not "", says why the tenant's ledger was found broken
	// (MarkBroken): it is neither extended nor signed until rebuilt.
	Broken string
}

// Node is one stored perfect-subtree hash.
type Node struct {
	ID   compact.NodeID
	Hash []byte
}

// Update is one integration step of a tenant's tree, applied atomically by
// Storage.Integrate: the tree grows from OldSize to NewSize leaves.
type Update struct {
	OldSize uint64
	NewSize uint64
	// Leaves holds the leaf hashes of seqs OldSize+1 .. NewSize, in order.
	// A store may keep them as the events' hash column (auditkeep.Event.Hash,
	// hex) as long as Storage.Nodes and Storage.LeafHashes return them.
	Leaves [][]byte
	// Nodes holds every new perfect-subtree node of level 1 or more: the
	// nodes whose coverage ends in (OldSize, NewSize]. Stored nodes never change.
	Nodes []Node
	// Root is the root hash of the tree of NewSize leaves.
	Root []byte
	// Checkpoint is the signed checkpoint of NewSize, appended to the
	// tenant's checkpoint history and becoming State.Checkpoint.
	Checkpoint []byte
}

// Storage keeps every tenant's tree: leaf hashes, perfect-subtree nodes and
// signed checkpoints. Implementations must be safe for concurrent use.
// Errors other than those named are EUNAVAILABLE when storage cannot be
// reached.
type Storage interface {
	// State returns the tenant's integrated state; Size 0 for a tenant
	// never integrated (not an error).
	State(ctx context.Context, tenant string) (State, error)

	// Nodes returns the hashes of the stored nodes ids, in the order of ids.
	// Level-0 nodes are leaf hashes (index = seq-1). Returns ENOTFOUND when
	// any of them is not stored.
	Nodes(ctx context.Context, tenant string, ids []compact.NodeID) ([][]byte, error)

	// LeafHashes returns the leaf hashes of seqs begin+1 .. end (leaf indexes
	// [begin, end)). Returns ENOTFOUND when end is beyond the integrated size,
	// EINVALID when begin > end.
	LeafHashes(ctx context.Context, tenant string, begin, end uint64) ([][]byte, error)

	// Checkpoint returns the signed checkpoint the tenant's tree had at size,
	// from its history. Returns ENOTFOUND when no checkpoint of that size was
	// stored (integration steps may skip sizes).
	Checkpoint(ctx context.Context, tenant string, size uint64) ([]byte, error)

	// CheckpointSizes returns, ascending, the sizes of the tenant's stored
	// checkpoints that are larger than after, at most limit of them (all
	// when limit <= 0). None is not an error.
	CheckpointSizes(ctx context.Context, tenant string, after uint64, limit int) ([]uint64, error)

	// Integrate applies u atomically: all of it, or on error nothing. It
	// marks the tenant's tree as started (State.Started).
	// Returns ECONFLICT when the tenant's size is not u.OldSize (another
	// integrator moved it), EINVALID when u is inconsistent (len(Leaves) !=
	// NewSize-OldSize).
	Integrate(ctx context.Context, tenant string, u *Update) error

	// MarkBroken records that the tenant's ledger is broken, and why: State
	// and BrokenTenants report reason from then on, until Reset. A tenant
	// already marked keeps its first reason.
	MarkBroken(ctx context.Context, tenant, reason string) error

	// Reset deletes the tenant's whole tree (leaves, nodes, checkpoint
	// history, state) and its marks (State.Started, State.Broken), in one
	// transaction: for Integrator.Rebuild only, under the tenant's lock.
	Reset(ctx context.Context, tenant string) error

	// BrokenTenants returns the tenants marked broken, with their reasons
	// (an empty map, not nil, when there are none).
	BrokenTenants(ctx context.Context) (map[string]string, error)

	// TryLock takes the tenant's integrator lock without waiting, and returns
	// ok false when another holder (in this process or another) has it.
	// release frees it; it must be safe to call more than once. A lock held
	// by a process that dies is freed (PostgreSQL: a session advisory lock on
	// a dedicated connection).
	TryLock(ctx context.Context, tenant string) (release func(), ok bool, err error)
}

// MemoryStorage is a Storage in memory: for tests, and the reference for
// other implementations. The zero value is not usable; call NewMemoryStorage.
type MemoryStorage struct {
	mu      sync.Mutex
	tenants map[string]*memTree
}

type memTree struct {
	leaves      [][]byte
	nodes       map[compact.NodeID][]byte // level >= 1
	root        []byte
	checkpoints map[uint64][]byte
	latest      []byte
	started     bool
	broken      string
	locked      bool
}

var _ Storage = (*MemoryStorage)(nil)

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{tenants: map[string]*memTree{}}
}

func (m *MemoryStorage) tree(tenant string) *memTree {
	t := m.tenants[tenant]
	if t == nil {
		t = &memTree{nodes: map[compact.NodeID][]byte{}, checkpoints: map[uint64][]byte{}}
		m.tenants[tenant] = t
	}
	return t
}

// State implements Storage.
func (m *MemoryStorage) State(ctx context.Context, tenant string) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tree(tenant)
	return State{Size: uint64(len(t.leaves)), Root: clone(t.root), Checkpoint: clone(t.latest), Started: t.started, Broken: t.broken}, nil
}

// MarkBroken implements Storage.
func (m *MemoryStorage) MarkBroken(ctx context.Context, tenant, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.tree(tenant); t.broken == "" {
		t.broken = reason
	}
	return nil
}

// Reset implements Storage.
func (m *MemoryStorage) Reset(ctx context.Context, tenant string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tree(tenant).clear(false)
	return nil
}

// clear empties the tree, keeping its lock (a TryLock's release refers to
// t) and, when marks, its started and broken marks.
func (t *memTree) clear(marks bool) {
	*t = memTree{nodes: map[compact.NodeID][]byte{}, checkpoints: map[uint64][]byte{}, locked: t.locked, started: marks && t.started, broken: t.broken}
	if !marks {
		t.broken = ""
	}
}

// BrokenTenants implements Storage.
func (m *MemoryStorage) BrokenTenants(ctx context.Context) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for id, t := range m.tenants {
		if t.broken != "" {
			out[id] = t.broken
		}
	}
	return out, nil
}

// Wipe deletes the tenant's tree but not its started mark, as a damaged
// store would: for tests.
func (m *MemoryStorage) Wipe(tenant string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tree(tenant).clear(true)
}

// Nodes implements Storage.
func (m *MemoryStorage) Nodes(ctx context.Context, tenant string, ids []compact.NodeID) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tree(tenant)
	out := make([][]byte, len(ids))
	for i, id := range ids {
		var h []byte
		if id.Level == 0 {
			if id.Index < uint64(len(t.leaves)) {
				h = t.leaves[id.Index]
			}
		} else {
			h = t.nodes[id]
		}
		if h == nil {
			return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "tree node %d/%d is not stored", id.Level, id.Index)
		}
		out[i] = clone(h)
	}
	return out, nil
}

// LeafHashes implements Storage.
func (m *MemoryStorage) LeafHashes(ctx context.Context, tenant string, begin, end uint64) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tree(tenant)
	if begin > end {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "leaf range [%d, %d) is empty", begin, end)
	}
	if end > uint64(len(t.leaves)) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "leaf %d is not integrated (size %d)", end, len(t.leaves))
	}
	out := make([][]byte, 0, end-begin)
	for _, h := range t.leaves[begin:end] {
		out = append(out, clone(h))
	}
	return out, nil
}

// Checkpoint implements Storage.
func (m *MemoryStorage) Checkpoint(ctx context.Context, tenant string, size uint64) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.tree(tenant).checkpoints[size]
	if !ok {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no checkpoint of size %d", size)
	}
	return clone(c), nil
}

// CheckpointSizes implements Storage.
func (m *MemoryStorage) CheckpointSizes(ctx context.Context, tenant string, after uint64, limit int) ([]uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []uint64
	for size := range m.tree(tenant).checkpoints {
		if size > after {
			out = append(out, size)
		}
	}
	slices.Sort(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Integrate implements Storage.
func (m *MemoryStorage) Integrate(ctx context.Context, tenant string, u *Update) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tree(tenant)
	if size := uint64(len(t.leaves)); size != u.OldSize {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "tree size is %d, not %d", size, u.OldSize)
	}
	if u.NewSize < u.OldSize || uint64(len(u.Leaves)) != u.NewSize-u.OldSize {
		return auditkeep.Errorf(auditkeep.EINVALID, "update from %d to %d holds %d leaves", u.OldSize, u.NewSize, len(u.Leaves))
	}
	for _, h := range u.Leaves {
		t.leaves = append(t.leaves, clone(h))
	}
	for _, n := range u.Nodes {
		t.nodes[n.ID] = clone(n.Hash)
	}
	t.root = clone(u.Root)
	t.started = true
	t.latest = clone(u.Checkpoint)
	t.checkpoints[u.NewSize] = t.latest
	return nil
}

// TryLock implements Storage with an in-process lock per tenant.
func (m *MemoryStorage) TryLock(ctx context.Context, tenant string) (func(), bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tree(tenant)
	if t.locked {
		return nil, false, nil
	}
	t.locked = true
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			t.locked = false
			m.mu.Unlock()
		})
	}, true, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
