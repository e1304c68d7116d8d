package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/transparency-dev/merkle/compact"
)

// leafStorage is a ledger of size leaves, the hash of leaf i being "h<i>";
// it counts the reads and can fail LeafHashes.
type leafStorage struct {
	ledger.Storage
	size                 uint64
	nodes, ranges        int
	failRanges, failNode bool
}

func (l *leafStorage) State(ctx context.Context, tenant string) (ledger.State, error) {
	return ledger.State{Size: l.size}, nil
}

func (l *leafStorage) Nodes(ctx context.Context, tenant string, ids []compact.NodeID) ([][]byte, error) {
	l.nodes++
	if l.failNode {
		return nil, errors.New("nodes failed")
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		if id.Level != 0 || id.Index >= l.size {
			return nil, fmt.Errorf("node %v is not stored", id)
		}
		out[i] = fmt.Appendf(nil, "h%d", id.Index)
	}
	return out, nil
}

func (l *leafStorage) LeafHashes(ctx context.Context, tenant string, begin, end uint64) ([][]byte, error) {
	l.ranges++
	if l.failRanges || end > l.size || begin > end {
		return nil, errors.New("range failed")
	}
	var out [][]byte
	for i := begin; i < end; i++ {
		out = append(out, fmt.Appendf(nil, "h%d", i))
	}
	return out, nil
}

// TestLeafHashes: leafHashes gives each seq its leaf hash when integrated
// and nil otherwise, reading a range of close seqs at once and far apart
// ones by node, falling back to nodes when the range fails, and leaving
// every hash nil when the ledger fails.
func TestLeafHashes(t *testing.T) {
	tests := []struct {
		seqs           []int64
		failRanges     bool
		failNodes      bool
		ranges, nodes  int
		wantIntegrated bool
	}{
		{seqs: []int64{1, 2, 3, 5, 4}, ranges: 1, wantIntegrated: true},
		{seqs: []int64{1000, 999, 998, 1001, 1200}, ranges: 1, wantIntegrated: true}, // desc, some past the size
		{seqs: []int64{1, 900}, nodes: 1, wantIntegrated: true},                      // far apart
		{seqs: []int64{3, 4}, failRanges: true, ranges: 1, nodes: 1, wantIntegrated: true},
		{seqs: []int64{3, 4}, failRanges: true, failNodes: true, ranges: 1, nodes: 1},
		{seqs: []int64{1001, 1002}},
		{seqs: []int64{0, -1}},
	}
	for _, tt := range tests {
		l := &leafStorage{size: 1000, failRanges: tt.failRanges, failNode: tt.failNodes}
		s := &Server{ledger: &Ledger{Storage: l}, log: slog.New(slog.DiscardHandler)}
		hashes := make([][]byte, len(tt.seqs))
		for i := range hashes {
			hashes[i] = []byte("stale")
		}
		s.leafHashes(context.Background(), "acme", tt.seqs, hashes)
		for i, seq := range tt.seqs {
			var want []byte
			if tt.wantIntegrated && seq >= 1 && seq <= 1000 {
				want = fmt.Appendf(nil, "h%d", seq-1)
			}
			if !slices.Equal(hashes[i], want) {
				t.Errorf("leafHashes(%v) [%d] = %q; want %q", tt.seqs, i, hashes[i], want)
			}
		}
		if l.ranges != tt.ranges || l.nodes != tt.nodes {
			t.Errorf("leafHashes(%v): %d range reads, %d node reads; want %d, %d", tt.seqs, l.ranges, l.nodes, tt.ranges, tt.nodes)
		}
	}
}
