package ledger_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/transparency-dev/merkle/compact"
)

// storeHistory is a ledger.History read straight from storage, as the API
// serves it.
type storeHistory struct {
	s      ledger.Storage
	tenant string
	// forged, when set, replaces the checkpoint of that size.
	forged map[uint64][]byte
}

func (h *storeHistory) CheckpointSizes(ctx context.Context) ([]uint64, error) {
	return h.s.CheckpointSizes(ctx, h.tenant, 0, 0)
}

func (h *storeHistory) Checkpoint(ctx context.Context, size uint64) ([]byte, error) {
	if c, ok := h.forged[size]; ok {
		return c, nil
	}
	return h.s.Checkpoint(ctx, h.tenant, size)
}

func (h *storeHistory) ConsistencyProof(ctx context.Context, first, second uint64) ([][]byte, error) {
	return ledger.NewLog(h.s).ConsistencyProof(ctx, h.tenant, first, second)
}

// rehashed is storage whose leaf hash of one seq was rewritten to match an
// altered event, as someone with write access to the database could do.
type rehashed struct {
	ledger.Storage
	seq  int64
	leaf []byte
}

func (r *rehashed) LeafHashes(ctx context.Context, tenant string, begin, end uint64) ([][]byte, error) {
	out, err := r.Storage.LeafHashes(ctx, tenant, begin, end)
	if err == nil && uint64(r.seq) > begin && uint64(r.seq) <= end {
		out[uint64(r.seq)-begin-1] = r.leaf
	}
	return out, err
}

func (r *rehashed) Nodes(ctx context.Context, tenant string, ids []compact.NodeID) ([][]byte, error) {
	out, err := r.Storage.Nodes(ctx, tenant, ids)
	for i, id := range ids {
		if err == nil && id.Level == 0 && id.Index == uint64(r.seq-1) {
			out[i] = r.leaf
		}
	}
	return out, err
}

// TestBundleCheckNarrows alters the event of seq 7 of 40 and rewrites its
// stored leaf hash to match: the leaf hashes then build no signed root and
// prove nothing about any one event, so the check must bound the altered
// seq with the signed checkpoints of earlier sizes, and name no other seq.
func TestBundleCheckNarrows(t *testing.T) {
	ctx := context.Background()
	const n, altered = 40, 7
	setup := func(t *testing.T, batch int) (*memEvents, *ledger.MemoryStorage, ledger.Signer, string) {
		ev := newMemEvents()
		ev.add("acme", n)
		st, sgn, vkey := integrated(t, ev, "acme", batch)
		return ev, st, sgn, vkey
	}
	// alter changes the stored event of seq 7; rehash also rewrites its leaf.
	alter := func(t *testing.T, ev *memEvents) []byte {
		e := ev.events["acme"][altered-1]
		e.Description = "nothing happened"
		h, err := ledger.LeafHash(e)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	bundleOf := func(t *testing.T, s ledger.Storage, ev *memEvents) string {
		var buf bytes.Buffer
		if _, err := ledger.WriteBundle(ctx, &buf, s, ev, "acme"); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	at := func(t *testing.T, s ledger.Storage, vkey string, size uint64) *ledger.Checkpoint {
		text, err := s.Checkpoint(ctx, "acme", size)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := ledger.VerifyCheckpoint(text, vkey)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}

	tests := []struct {
		name        string
		batch       int  // integration step: a checkpoint every batch events
		history     bool // the server's history is available
		trusted     uint64
		forge       uint64 // a checkpoint of this size signed by another key
		first, last int64
	}{
		{"checkpoints every 5", 5, true, 0, 0, 6, 10},
		{"checkpoints every 4", 4, true, 0, 0, 5, 8},
		{"a checkpoint per event", 1, true, 0, 0, 7, 7},
		{"no history", 5, false, 0, 0, 1, n},
		{"no history, trusted before", 5, false, 5, 0, 6, n},
		{"no history, trusted after", 5, false, 10, 0, 1, 10},
		{"history and a trusted size", 4, true, 5, 0, 6, 8},
		{"a forged checkpoint is ignored", 5, true, 0, 10, 6, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, st, sgn, vkey := setup(t, tt.batch)
			var trusted *ledger.Checkpoint
			if tt.trusted > 0 {
				// Verified on an earlier run, at a size the history may lack.
				trusted = at(t, integrateWith(t, ev, "acme", int(tt.trusted), sgn), vkey, tt.trusted)
			}
			damaged := &rehashed{Storage: st, seq: altered, leaf: alter(t, ev)}
			check := &ledger.BundleCheck{VerifierKey: vkey, Trusted: trusted}
			if tt.history {
				h := &storeHistory{s: damaged, tenant: "acme"}
				if tt.forge > 0 {
					other, _ := newKeys(t)
					c, err := ledger.SignCheckpoint(other, "auditkeep/acme", tt.forge, make([]byte, 32))
					if err != nil {
						t.Fatal(err)
					}
					h.forged = map[uint64][]byte{tt.forge: c}
				}
				check.History = h
			}
			v, err := check.Verify(ctx, strings.NewReader(bundleOf(t, damaged, ev)))
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || v.Problem != ledger.ProblemAltered || v.FirstBadSeq != tt.first || max(v.LastBadSeq, v.FirstBadSeq) != tt.last {
				t.Fatalf("Verify() = %v (seqs %d-%d); want altered in seqs %d-%d", v, v.FirstBadSeq, v.LastBadSeq, tt.first, tt.last)
			}
			want := fmt.Sprintf("an event in seqs %d–%d was altered", tt.first, tt.last)
			if tt.first == tt.last {
				want = fmt.Sprintf("seq %d altered", tt.first)
			}
			if v.Where() != want {
				t.Errorf("Where() = %q; want %q", v.Where(), want)
			}
			if tt.forge > 0 && !strings.Contains(strings.Join(v.Warnings, "\n"), fmt.Sprintf("checkpoint of size %d is not signed by the key", tt.forge)) {
				t.Errorf("Warnings = %q; want the forged checkpoint of size %d named", v.Warnings, tt.forge)
			}
			for _, w := range v.Warnings {
				if strings.Contains(w, "seq ") {
					t.Errorf("warning %q names a seq", w)
				}
			}
		})
	}

	t.Run("only the leaf rewritten", func(t *testing.T) {
		ev, st, _, vkey := setup(t, 5)
		damaged := &rehashed{Storage: st, seq: altered, leaf: make([]byte, 32)}
		v, err := (&ledger.BundleCheck{VerifierKey: vkey, History: &storeHistory{s: damaged, tenant: "acme"}}).Verify(ctx, strings.NewReader(bundleOf(t, damaged, ev)))
		if err != nil || v.OK || v.Problem != ledger.ProblemTree || v.FirstBadSeq != 0 {
			t.Fatalf("Verify() = %v, %v; want %s naming no seq (the events build the signed root)", v, err, ledger.ProblemTree)
		}
	})
	t.Run("an intact log and a trusted checkpoint", func(t *testing.T) {
		ev, st, _, vkey := setup(t, 5)
		v, err := (&ledger.BundleCheck{VerifierKey: vkey, Trusted: at(t, st, vkey, 15)}).Verify(ctx, strings.NewReader(bundleOf(t, st, ev)))
		if err != nil || !v.OK || v.Size != n {
			t.Fatalf("Verify() = %v, %v; want OK of size %d", v, err, n)
		}
	})
	t.Run("a trusted checkpoint of another history", func(t *testing.T) {
		ev, st, sgn, vkey := setup(t, 5)
		other := newMemEvents()
		other.add("acme", 15)
		other.events["acme"][2].Description = "another history"
		forked := at(t, integrateWith(t, other, "acme", 15, sgn), vkey, 15)
		v, err := (&ledger.BundleCheck{VerifierKey: vkey, Trusted: forked}).Verify(ctx, strings.NewReader(bundleOf(t, st, ev)))
		if err != nil || v.OK || v.Problem != ledger.ProblemFork {
			t.Fatalf("Verify() = %v, %v; want %s", v, err, ledger.ProblemFork)
		}
		larger := at(t, integrateWith(t, other, "acme", 5, sgn), vkey, 15)
		larger.Size = n + 1
		v, err = (&ledger.BundleCheck{VerifierKey: vkey, Trusted: larger}).Verify(ctx, strings.NewReader(bundleOf(t, st, ev)))
		if err != nil || v.OK || v.Problem != ledger.ProblemRollback {
			t.Fatalf("Verify(trusted larger) = %v, %v; want %s", v, err, ledger.ProblemRollback)
		}
	})
}
