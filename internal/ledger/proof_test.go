package ledger_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// tree64 integrates 64 events one leaf per step, so that every size
// 1..64 has a stored checkpoint, and returns the storage, the verifier key
// and the leaf hashes.
func tree64(t *testing.T) (*ledger.MemoryStorage, string, [][]byte) {
	st, _, vkey, leaves := tree64Signer(t)
	return st, vkey, leaves
}

func tree64Signer(t *testing.T) (*ledger.MemoryStorage, ledger.Signer, string, [][]byte) {
	t.Helper()
	ev := newMemEvents()
	var leaves [][]byte
	for _, e := range ev.add("acme", 64) {
		h, err := ledger.LeafHash(e)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, h)
	}
	st, s, vkey := integrated(t, ev, "acme", 1)
	return st, s, vkey, leaves
}

func TestCheckpointsMatchReferenceRoots(t *testing.T) {
	st, vkey, leaves := tree64(t)
	l := ledger.NewLog(st)
	ctx := context.Background()
	for size := uint64(1); size <= 64; size++ {
		cp, err := l.Checkpoint(ctx, "acme", size)
		if err != nil {
			t.Fatalf("Checkpoint(%d): %v", size, err)
		}
		if want := referenceRoot(leaves[:size]); cp.Size != size || !bytes.Equal(cp.Root, want) || cp.Origin != "auditkeep/acme" {
			t.Errorf("Checkpoint(%d) = %s %d %x; want auditkeep/acme %d %x", size, cp.Origin, cp.Size, cp.Root, size, want)
		}
		v, err := ledger.VerifyCheckpoint(cp.Note, vkey)
		if err != nil || v.Size != size || !bytes.Equal(v.Root, cp.Root) {
			t.Errorf("VerifyCheckpoint(checkpoint %d) = %+v, %v; want it verified", size, v, err)
		}
	}
	latest, err := l.Latest(ctx, "acme")
	if err != nil || latest.Size != 64 {
		t.Fatalf("Latest() = %+v, %v; want size 64", latest, err)
	}
	if _, err := l.Latest(ctx, "empty"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Latest(empty tenant) error = %v; want %s", err, auditkeep.ENOTFOUND)
	}
	if _, err := l.Checkpoint(ctx, "acme", 65); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Checkpoint(65) error = %v; want %s", err, auditkeep.ENOTFOUND)
	}
}

// TestInclusionProofs checks every inclusion proof of every tree size 1..64,
// with the library's verifier and with ledger.VerifyInclusion.
func TestInclusionProofs(t *testing.T) {
	st, _, leaves := tree64(t)
	l := ledger.NewLog(st)
	ctx := context.Background()
	for size := uint64(1); size <= 64; size++ {
		root := referenceRoot(leaves[:size])
		for seq := int64(1); seq <= int64(size); seq++ {
			p, err := l.InclusionProof(ctx, "acme", seq, size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", seq, size, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(seq-1), size, leaves[seq-1], p, root); err != nil {
				t.Errorf("proof.VerifyInclusion(seq %d, size %d) = %v; want nil", seq, size, err)
			}
			if err := ledger.VerifyInclusion(leaves[seq-1], seq, size, p, root); err != nil {
				t.Errorf("VerifyInclusion(seq %d, size %d) = %v; want nil", seq, size, err)
			}
			other := leaves[(seq)%int64(size)]
			if size > 1 && ledger.VerifyInclusion(other, seq, size, p, root) == nil {
				t.Errorf("VerifyInclusion(leaf of another seq at seq %d, size %d) = nil; want an error", seq, size)
			}
		}
	}
	// The latest tree by default.
	p, err := l.InclusionProof(ctx, "acme", 10, 0)
	if err != nil || ledger.VerifyInclusion(leaves[9], 10, 64, p, referenceRoot(leaves)) != nil {
		t.Errorf("InclusionProof(10, latest) = %x, %v; want a proof in the tree of 64", p, err)
	}
	for _, tt := range []struct {
		seq  int64
		size uint64
		code string
	}{
		{0, 10, auditkeep.EINVALID},
		{11, 10, auditkeep.ENOTFOUND},
		{65, 0, auditkeep.ENOTFOUND},
		{1, 65, auditkeep.EINVALID},
	} {
		if _, err := l.InclusionProof(ctx, "acme", tt.seq, tt.size); auditkeep.ErrorCode(err) != tt.code {
			t.Errorf("InclusionProof(%d, %d) error = %v; want code %s", tt.seq, tt.size, err, tt.code)
		}
	}
}

// TestConsistencyProofs checks every consistency proof between sizes
// 0 <= m <= n <= 64.
func TestConsistencyProofs(t *testing.T) {
	st, _, leaves := tree64(t)
	l := ledger.NewLog(st)
	ctx := context.Background()
	for n := uint64(1); n <= 64; n++ {
		rootN := referenceRoot(leaves[:n])
		for m := uint64(0); m <= n; m++ {
			rootM := referenceRoot(leaves[:m])
			p, err := l.ConsistencyProof(ctx, "acme", m, n)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", m, n, err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, m, n, p, rootM, rootN); err != nil {
				t.Errorf("proof.VerifyConsistency(%d, %d) = %v; want nil", m, n, err)
			}
			if err := ledger.VerifyConsistency(m, n, p, rootM, rootN); err != nil {
				t.Errorf("VerifyConsistency(%d, %d) = %v; want nil", m, n, err)
			}
			if m > 0 && m < n {
				forged := referenceRoot(append(append([][]byte{}, leaves[:m-1]...), leaves[m]))
				if ledger.VerifyConsistency(m, n, p, forged, rootN) == nil {
					t.Errorf("VerifyConsistency(%d, %d) with another first root = nil; want an error", m, n)
				}
			}
		}
	}
	for _, tt := range []struct{ first, second uint64 }{{5, 4}, {1, 65}} {
		if _, err := l.ConsistencyProof(ctx, "acme", tt.first, tt.second); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
			t.Errorf("ConsistencyProof(%d, %d) error = %v; want code %s", tt.first, tt.second, err, auditkeep.EINVALID)
		}
	}
}

// TestCompareCheckpoints detects a rolled-back and a forked log.
func TestCompareCheckpoints(t *testing.T) {
	ctx := context.Background()
	st, signer, vkey, _ := tree64Signer(t)
	l := ledger.NewLog(st)
	at := func(l *ledger.Log, size uint64) *ledger.Checkpoint {
		cp, err := l.Checkpoint(ctx, "acme", size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ledger.VerifyCheckpoint(cp.Note, vkey); err != nil {
			t.Fatal(err)
		}
		return cp
	}
	proofOf := func(l *ledger.Log, m, n uint64) [][]byte {
		p, err := l.ConsistencyProof(ctx, "acme", m, n)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if v := ledger.CompareCheckpoints(at(l, 20), at(l, 64), proofOf(l, 20, 64)); !v.OK {
		t.Errorf("CompareCheckpoints(20, 64) = %v; want ok", v)
	}
	if v := ledger.CompareCheckpoints(at(l, 64), at(l, 64), nil); !v.OK {
		t.Errorf("CompareCheckpoints(64, 64) = %v; want ok", v)
	}
	if v := ledger.CompareCheckpoints(at(l, 64), at(l, 40), nil); v.OK || v.Problem != ledger.ProblemRollback || v.FirstBadSeq != 41 {
		t.Errorf("CompareCheckpoints(64, 40) = %v; want rollback at seq 41", v)
	}

	// A fork: the same key signs a log whose event 30 differs.
	ev := newMemEvents()
	ev.add("acme", 64)
	ev.events["acme"][29].Description = "rewritten"
	forkStorage := integrateWith(t, ev, "acme", 1, signer)
	fork := ledger.NewLog(forkStorage)
	if v := ledger.CompareCheckpoints(at(l, 40), at(fork, 64), proofOf(fork, 40, 64)); v.OK || v.Problem != ledger.ProblemFork {
		t.Errorf("CompareCheckpoints(40, forked 64) = %v; want fork", v)
	}
	if v := ledger.CompareCheckpoints(at(l, 64), at(fork, 64), nil); v.OK || v.Problem != ledger.ProblemFork {
		t.Errorf("CompareCheckpoints(64, forked 64) = %v; want fork", v)
	}
	// Before the altered event, both logs agree.
	if v := ledger.CompareCheckpoints(at(l, 29), at(fork, 64), proofOf(fork, 29, 64)); !v.OK {
		t.Errorf("CompareCheckpoints(29, forked 64) = %v; want ok", v)
	}
}
