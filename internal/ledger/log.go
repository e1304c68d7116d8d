package ledger

import (
	"bytes"
	"context"

	"github.com/auditkeep/auditkeep"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Log serves checkpoints and proofs of every tenant's tree from Storage. Any
// node may serve them, integrating or not. Proofs cost O(log n) node reads.
type Log struct {
	storage Storage
}

// NewLog returns a Log reading s.
func NewLog(s Storage) *Log { return &Log{storage: s} }

// state returns the tenant's state, or ELEDGERBROKEN (BrokenError) when
// its ledger is broken: nothing of a broken tree is served.
func (l *Log) state(ctx context.Context, tenant string) (State, error) {
	st, err := l.storage.State(ctx, tenant)
	if err == nil && st.Broken != "" {
		return st, BrokenError(tenant, st.Broken)
	}
	return st, err
}

// Latest returns the tenant's latest checkpoint. Returns ENOTFOUND when no
// event of the tenant is integrated yet, ELEDGERBROKEN when its ledger is
// broken (every method of Log does).
func (l *Log) Latest(ctx context.Context, tenant string) (*Checkpoint, error) {
	if _, err := l.state(ctx, tenant); err != nil {
		return nil, err
	}
	return l.Stored(ctx, tenant)
}

// Stored returns the tenant's latest stored checkpoint even when its
// ledger is broken: for bundles, whose verifiers check the checkpoint with
// the key they trust, and then name what was changed. Returns ENOTFOUND
// when no event is integrated yet, ELEDGERBROKEN when the ledger is broken
// and no checkpoint is stored.
func (l *Log) Stored(ctx context.Context, tenant string) (*Checkpoint, error) {
	st, err := l.storage.State(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if st.Size == 0 || st.Checkpoint == nil {
		if st.Broken != "" {
			return nil, BrokenError(tenant, st.Broken)
		}
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no checkpoint yet: no event is integrated")
	}
	return ParseCheckpoint(st.Checkpoint)
}

// Checkpoint returns the checkpoint the tenant's tree had at size. Returns
// ENOTFOUND when none of that size was stored (steps may skip sizes).
func (l *Log) Checkpoint(ctx context.Context, tenant string, size uint64) (*Checkpoint, error) {
	if _, err := l.state(ctx, tenant); err != nil {
		return nil, err
	}
	text, err := l.storage.Checkpoint(ctx, tenant, size)
	if err != nil {
		return nil, err
	}
	return ParseCheckpoint(text)
}

// InclusionProof returns the RFC 6962 inclusion proof of the event seq in
// the tenant's tree of treeSize leaves (0 means the latest size), to be
// checked with VerifyInclusion against that tree's root. Returns EINVALID
// for seq < 1 or a treeSize larger than the integrated size, ENOTFOUND for a
// seq beyond treeSize (not integrated yet).
func (l *Log) InclusionProof(ctx context.Context, tenant string, seq int64, treeSize uint64) ([][]byte, error) {
	if seq < 1 {
		return nil, auditkeep.FieldErrorf("seq", "seq %d is not a position in the log", seq)
	}
	st, err := l.state(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if treeSize == 0 {
		treeSize = st.Size
	}
	if treeSize > st.Size {
		return nil, auditkeep.FieldErrorf("tree_size", "tree_size %d is larger than the log (%d)", treeSize, st.Size)
	}
	if uint64(seq) > treeSize {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "event seq %d is not in the tree of size %d", seq, treeSize)
	}
	nodes, err := proof.Inclusion(uint64(seq-1), treeSize)
	if err != nil {
		return nil, auditkeep.FieldErrorf("tree_size", "%v", err)
	}
	return l.rehash(ctx, tenant, nodes)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the
// tenant's trees of first and second leaves, to be checked with
// VerifyConsistency. Returns EINVALID unless first <= second <= the
// integrated size.
func (l *Log) ConsistencyProof(ctx context.Context, tenant string, first, second uint64) ([][]byte, error) {
	if first > second {
		return nil, auditkeep.FieldErrorf("first", "first (%d) is larger than second (%d)", first, second)
	}
	st, err := l.state(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if second > st.Size {
		return nil, auditkeep.FieldErrorf("second", "second %d is larger than the log (%d)", second, st.Size)
	}
	nodes, err := proof.Consistency(first, second)
	if err != nil {
		return nil, auditkeep.FieldErrorf("first", "%v", err)
	}
	return l.rehash(ctx, tenant, nodes)
}

func (l *Log) rehash(ctx context.Context, tenant string, nodes proof.Nodes) ([][]byte, error) {
	hashes, err := l.storage.Nodes(ctx, tenant, nodes.IDs)
	if err != nil {
		return nil, err
	}
	p, err := nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINTERNAL, Message: "proof", Err: err}
	}
	if p == nil {
		p = [][]byte{}
	}
	return p, nil
}

func equal(a, b []byte) bool { return bytes.Equal(a, b) }
