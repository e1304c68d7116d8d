package ledger

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// ProblemTree is a Verdict's problem when the stored tree does not prove what
// it serves (leaf hashes that do not build the signed root, a proof that does
// not lead to it) and no event can be shown to be altered.
const ProblemTree = "inconsistent tree"

// History serves a log's signed checkpoints of earlier sizes, with which a
// verifier narrows down where the events served stop matching what was
// signed when the stored tree itself is not to be trusted.
type History interface {
	// CheckpointSizes returns, ascending, the sizes of the log's stored
	// checkpoints.
	CheckpointSizes(ctx context.Context) ([]uint64, error)
	// Checkpoint returns the signed note of the checkpoint of size.
	Checkpoint(ctx context.Context, size uint64) ([]byte, error)
	// ConsistencyProof returns the proof that the tree of second leaves
	// extends the tree of first.
	ConsistencyProof(ctx context.Context, first, second uint64) ([][]byte, error)
}

// BundleCheck verifies a bundle with what a live verifier knows besides it.
type BundleCheck struct {
	VerifierKey string
	// Trusted, when set, is a checkpoint of the log verified before (verify's
	// state): the bundle's checkpoint must extend it, as its leaves show.
	Trusted *Checkpoint
	// History, when set, serves the log's earlier signed checkpoints. It is
	// read only when the bundle's leaf hashes do not build its signed root,
	// to bound the seqs whose events are not the signed ones.
	History History
}

// Verify reads the bundle r and checks it as VerifyBundle does. When the
// bundle's leaf hashes do not build its signed root, they prove nothing
// about any one event, so no seq is named from them: the leaf hashes of the
// events themselves are recomputed (a seq with no event keeps its bundled
// leaf hash) and compared with the signed roots of c.Trusted and of
// c.History's checkpoints. The largest signed size whose root they build and
// the smallest whose root they do not bound the seqs that hold an event
// which is not the signed one; the Verdict gives that range (FirstBadSeq to
// LastBadSeq), or a ProblemTree verdict when the events build the signed
// root and only the stored leaf hashes are wrong. Checkpoints of the history
// that are not signed by the key or not of this log are ignored with a
// warning; a warning also says when the server's consistency proofs do not
// show the bounding checkpoints to be one log (they are made from the
// damaged tree, so they fail when it is damaged between them).
//
// Returns the errors of VerifyBundle and those of c.History.
func (c *BundleCheck) Verify(ctx context.Context, r io.Reader) (Verdict, error) {
	b, err := readBundle(r, c.VerifierKey)
	if err != nil {
		return Verdict{}, err
	}
	cp := b.cp
	if t := c.Trusted; t != nil && (t.Origin != cp.Origin || t.Size > cp.Size || t.Size == cp.Size && !bytes.Equal(t.Root, cp.Root)) {
		return CompareCheckpoints(t, cp, nil), nil // another log, a rollback or a fork
	}
	if uint64(len(b.leaves)) == cp.Size && bytes.Equal(rootOf(b.leaves), cp.Root) {
		if t := c.Trusted; t != nil && !bytes.Equal(rootOf(b.leaves[:t.Size]), t.Root) {
			return b.fail(0, ProblemFork, fmt.Sprintf("the tree of size %d does not extend the checkpoint of size %d seen before: its leaves do not build that root", cp.Size, t.Size)), nil
		}
		return b.checkEvents()
	}
	return c.narrow(ctx, b)
}

// rootOf returns the RFC 6962 root of leaves.
func rootOf(leaves [][]byte) []byte {
	if len(leaves) == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for _, h := range leaves {
		if err := rng.Append(h, nil); err != nil {
			return nil
		}
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return nil
	}
	return root
}

// signed is a checkpoint size with its signed root, once read.
type signed struct {
	size uint64
	cp   *Checkpoint // nil until read
	root []byte      // the root the served events build at size
}

// narrow bounds the seqs of the events that are not the signed ones, the
// bundle's leaf hashes having failed to build its root.
func (c *BundleCheck) narrow(ctx context.Context, b *bundle) (Verdict, error) {
	cp := b.cp
	leaves, missing, err := b.eventLeaves()
	if err != nil {
		return Verdict{}, err
	}
	// The candidates: the history's sizes, the trusted one, the latest.
	var sizes []uint64
	if c.History != nil {
		if sizes, err = c.History.CheckpointSizes(ctx); err != nil {
			return Verdict{}, err
		}
	}
	cands := []signed{}
	for _, s := range sizes {
		if s > 0 && s < cp.Size {
			cands = append(cands, signed{size: s})
		}
	}
	if t := c.Trusted; t != nil && t.Size > 0 && t.Size < cp.Size {
		cands = append(cands, signed{size: t.Size, cp: t})
	}
	slices.SortFunc(cands, func(x, y signed) int {
		if c := cmp.Compare(x.size, y.size); c != 0 {
			return c
		}
		switch { // the trusted one first: it needs no read
		case x.cp != nil && y.cp == nil:
			return -1
		case x.cp == nil && y.cp != nil:
			return 1
		}
		return 0
	})
	cands = slices.CompactFunc(cands, func(x, y signed) bool { return x.size == y.size })
	cands = append(cands, signed{size: cp.Size, cp: cp})
	prefixRoots(leaves, cands)

	if bytes.Equal(cands[len(cands)-1].root, cp.Root) {
		v := b.fail(0, ProblemTree, fmt.Sprintf("the stored leaf hashes do not build the signed root of size %d, but the events served do: the stored tree is damaged, not the events", cp.Size))
		if t := c.Trusted; t != nil && t.Size > 0 && t.Size <= cp.Size && !bytes.Equal(rootOf(leaves[:t.Size]), t.Root) {
			v.Problem, v.Detail = ProblemFork, fmt.Sprintf("the tree of size %d does not extend the checkpoint of size %d seen before: the events served build the one and not the other", cp.Size, t.Size)
		}
		return v, nil
	}

	// Bisect: the virtual size 0 matches (lo = -1), the latest does not.
	lo, hi := -1, len(cands)-1
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		ok, err := c.read(ctx, b, &cands[mid])
		if err != nil {
			return Verdict{}, err
		}
		if !ok {
			cands = slices.Delete(cands, mid, mid+1)
			hi--
			continue
		}
		if bytes.Equal(cands[mid].root, cands[mid].cp.Root) {
			lo = mid
		} else {
			hi = mid
		}
	}
	upper := cands[hi]
	var lower uint64
	chain := []*Checkpoint{upper.cp}
	if lo >= 0 {
		lower = cands[lo].size
		chain = append([]*Checkpoint{cands[lo].cp}, chain...)
	}
	if upper.size < cp.Size {
		chain = append(chain, cp)
	}
	c.checkConsistency(ctx, b, chain)
	b.v.LastBadSeq = int64(upper.size)
	detail := fmt.Sprintf("the checkpoint of size %d does not match the events served", upper.size)
	if lower > 0 {
		detail += fmt.Sprintf(", that of size %d does", lower)
	}
	if n := countIn(missing, lower+1, upper.size); n > 0 {
		detail += fmt.Sprintf(" (%d of these seqs have no event: their stored leaf hash was used)", n)
	}
	return b.fail(int64(lower)+1, ProblemAltered, detail), nil
}

// countIn counts the seqs of sorted within [first, last].
func countIn(sorted []int64, first, last uint64) int {
	i, _ := slices.BinarySearch(sorted, int64(first))
	j, _ := slices.BinarySearch(sorted, int64(last)+1)
	return j - i
}

// prefixRoots sets the root of leaves[:size] of every candidate, in one pass
// (cands ascending by size, none beyond len(leaves)).
func prefixRoots(leaves [][]byte, cands []signed) {
	rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	next := uint64(0)
	for i := range cands {
		for ; next < cands[i].size; next++ {
			_ = rng.Append(leaves[next], nil)
		}
		cands[i].root, _ = rng.GetRootHash(nil)
	}
}

// read fetches and checks the checkpoint of s.size from the history, unless
// s holds it already. It returns false, with a warning, for a checkpoint
// that cannot be read, is not signed by the key, or is not of this log at
// that size.
func (c *BundleCheck) read(ctx context.Context, b *bundle, s *signed) (bool, error) {
	if s.cp != nil {
		return true, nil
	}
	note, err := c.History.Checkpoint(ctx, s.size)
	if err != nil {
		if ctx.Err() != nil {
			return false, err
		}
		b.warn("the checkpoint of size %d that the server lists cannot be read (%v): ignored", s.size, err)
		return false, nil
	}
	cp, err := VerifyCheckpoint(note, c.VerifierKey)
	switch {
	case err != nil:
		b.warn("the server's checkpoint of size %d is not signed by the key: ignored", s.size)
		return false, nil
	case cp.Origin != b.cp.Origin || cp.Size != s.size:
		b.warn("the server's checkpoint listed as size %d is of %s at size %d: ignored", s.size, cp.Origin, cp.Size)
		return false, nil
	}
	s.cp = cp
	return true, nil
}

// checkConsistency checks with the server's proofs that each checkpoint of
// chain (ascending) extends the one before, and warns when the proofs do
// not show it: the stored tree they come from is damaged between them, or
// the log was signed over other events.
func (c *BundleCheck) checkConsistency(ctx context.Context, b *bundle, chain []*Checkpoint) {
	if c.History == nil || len(chain) < 2 {
		return
	}
	var sizes []string
	ok := true
	for i, later := range chain {
		sizes = append(sizes, strconv.FormatUint(later.Size, 10))
		if i == 0 {
			continue
		}
		earlier := chain[i-1]
		p, err := c.History.ConsistencyProof(ctx, earlier.Size, later.Size)
		if err == nil {
			err = VerifyConsistency(earlier.Size, later.Size, p, earlier.Root, later.Root)
		}
		ok = ok && err == nil
	}
	if !ok {
		last := len(sizes) - 1
		b.warn("the server's consistency proofs do not show the checkpoints of sizes %s and %s to be one log: its stored tree is damaged there too, or the log was signed over other events", strings.Join(sizes[:last], ", "), sizes[last])
	}
}

// eventLeaves reads the rest of the bundle's events and returns the leaf
// hash of each seq 1 .. size: that of the first event claiming the seq, or
// for a seq with no event the bundle's leaf hash (a zero hash when it has
// none), and the seqs with no event, ascending.
func (b *bundle) eventLeaves() ([][]byte, []int64, error) {
	size := b.cp.Size
	leaves := make([][]byte, size)
	for {
		e, err := b.nextEvent()
		if err != nil {
			return nil, nil, err
		}
		if e == nil {
			break
		}
		b.v.Events++
		if e.Seq < 1 || uint64(e.Seq) > size || leaves[e.Seq-1] != nil {
			continue
		}
		h, err := b.hasher.hash(e)
		if err != nil {
			h = make([]byte, HashSize) // no signed event hashes to it
		}
		leaves[e.Seq-1] = h
	}
	var missing []int64
	for i, h := range leaves {
		if h != nil {
			continue
		}
		missing = append(missing, int64(i)+1)
		if i < len(b.leaves) {
			leaves[i] = b.leaves[i]
		} else {
			leaves[i] = make([]byte, HashSize)
		}
	}
	return leaves, missing, nil
}
