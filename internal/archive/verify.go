package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TreeSource is the part of ledger.Storage that proofs are made from.
type TreeSource interface {
	State(ctx context.Context, tenant string) (ledger.State, error)
	Nodes(ctx context.Context, tenant string, ids []compact.NodeID) ([][]byte, error)
	LeafHashes(ctx context.Context, tenant string, begin, end uint64) ([][]byte, error)
}

// BuildProof returns the proof of seqs first..last of tenant against the
// latest checkpoint of src. Returns ENOTFOUND when the tree does not cover
// last yet (the events are not integrated), and errors of src.
func BuildProof(ctx context.Context, src TreeSource, tenant string, first, last int64) (*Proof, error) {
	st, err := src.State(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if first < 1 || last < first {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "archive: no seq range %d..%d", first, last)
	}
	if uint64(last) > st.Size {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "seq %d of %s is not integrated yet (tree size %d)", last, tenant, st.Size)
	}
	leaves, err := src.LeafHashes(ctx, tenant, uint64(first-1), uint64(last))
	if err != nil {
		return nil, err
	}
	left, err := nodeHashes(ctx, src, tenant, 0, uint64(first-1))
	if err != nil {
		return nil, err
	}
	right, err := nodeHashes(ctx, src, tenant, uint64(last), st.Size)
	if err != nil {
		return nil, err
	}
	return &Proof{Checkpoint: string(st.Checkpoint), TreeSize: st.Size, Leaves: hexAll(leaves), Left: hexAll(left), Right: hexAll(right)}, nil
}

func nodeHashes(ctx context.Context, src TreeSource, tenant string, begin, end uint64) ([][]byte, error) {
	ids := compact.RangeNodes(begin, end, nil)
	if len(ids) == 0 {
		return nil, nil
	}
	return src.Nodes(ctx, tenant, ids)
}

func hexAll(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

func unhexAll(what string, ss []string) ([][]byte, error) {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		h, err := hex.DecodeString(s)
		if err != nil || len(h) != sha256.Size {
			return nil, auditkeep.Errorf(auditkeep.EINVALID, "manifest: %s[%d] is not a hex SHA-256", what, i)
		}
		out[i] = h
	}
	return out, nil
}

// Verdict is the outcome of verifying a segment.
type Verdict struct {
	OK       bool
	Segment  string
	Events   int    // events read
	Origin   string // the checkpoint's origin
	TreeSize uint64 // the checkpoint's size
	Root     []byte
	BadSeq   int64  // the first seq whose event is wrong, 0 when none or unknown
	Problem  string // one sentence, when not OK
}

// String returns the verdict in one line.
func (v Verdict) String() string {
	if v.OK {
		return fmt.Sprintf("ok: segment %s: %d events match the signed checkpoint of %s (size %d, root %s)",
			v.Segment, v.Events, v.Origin, v.TreeSize, base64.StdEncoding.EncodeToString(v.Root))
	}
	if v.BadSeq > 0 {
		return fmt.Sprintf("FAILED: segment %s: seq %d: %s", v.Segment, v.BadSeq, v.Problem)
	}
	return fmt.Sprintf("FAILED: segment %s: %s", v.Segment, v.Problem)
}

// Verify checks a compressed segment (as stored) against its manifest and,
// through the manifest's proof, against a checkpoint signed by
// verifierKey: the segment's size and SHA-256; the checkpoint's signature;
// that the left nodes, the leaves and the right nodes build the signed
// root; and that every event's recomputed leaf hash (ledger.LeafHash) is
// the leaf of its seq, with seqs increasing within first..last and as many
// events as the manifest counts. The manifest itself is not trusted: only
// what the signed root confirms is.
//
// A segment whose manifest has no proof (archived before the ledger was
// wired) fails with a verdict saying so. Returns an error (EINVALID) for a
// bad key, a checkpoint not signed by it, or a manifest that cannot be
// read; errors of r as they are.
func Verify(r io.Reader, m *Manifest, verifierKey string) (Verdict, error) {
	v := Verdict{Segment: m.Name}
	fail := func(seq int64, format string, args ...any) (Verdict, error) {
		v.BadSeq, v.Problem = seq, fmt.Sprintf(format, args...)
		return v, nil
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return v, err
	}
	if sum := sha256.Sum256(data); int64(len(data)) != m.Bytes || hex.EncodeToString(sum[:]) != m.SHA256 {
		return fail(0, "the segment's size or SHA-256 differs from its manifest")
	}
	if m.Proof == nil {
		return fail(0, "the manifest holds no ledger proof (the segment was archived before the ledger covered it)")
	}
	p := m.Proof
	cp, err := ledger.VerifyCheckpoint([]byte(p.Checkpoint), verifierKey)
	if err != nil {
		return v, err
	}
	v.Origin, v.TreeSize, v.Root = cp.Origin, cp.Size, cp.Root
	if cp.Size != p.TreeSize || m.FirstSeq < 1 || m.LastSeq < m.FirstSeq || uint64(m.LastSeq) > cp.Size {
		return fail(0, "the manifest's seq range %d..%d does not fit the checkpoint of size %d", m.FirstSeq, m.LastSeq, cp.Size)
	}
	leaves, err := unhexAll("leaves", p.Leaves)
	if err != nil {
		return v, err
	}
	left, err := unhexAll("left", p.Left)
	if err != nil {
		return v, err
	}
	right, err := unhexAll("right", p.Right)
	if err != nil {
		return v, err
	}
	if len(leaves) != int(m.LastSeq-m.FirstSeq+1) {
		return fail(0, "the manifest has %d leaf hashes for seqs %d..%d", len(leaves), m.FirstSeq, m.LastSeq)
	}
	f := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng, err := f.NewRange(0, uint64(m.FirstSeq-1), left)
	if err != nil {
		return fail(0, "the left nodes do not form the tree before seq %d: %v", m.FirstSeq, err)
	}
	for _, h := range leaves {
		if err := rng.Append(h, nil); err != nil {
			return v, err
		}
	}
	rr, err := f.NewRange(uint64(m.LastSeq), cp.Size, right)
	if err != nil {
		return fail(0, "the right nodes do not form the tree after seq %d: %v", m.LastSeq, err)
	}
	if err := rng.AppendRange(rr, nil); err != nil {
		return v, err
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return v, err
	}
	if !bytes.Equal(root, cp.Root) {
		return fail(0, "the manifest's hashes do not build the signed root of size %d", cp.Size)
	}
	prev := m.FirstSeq - 1
	err = DecodeSegment(bytes.NewReader(data), func(e *auditkeep.Event) error {
		v.Events++
		if e.Seq <= prev || e.Seq > m.LastSeq {
			v.BadSeq, v.Problem = e.Seq, fmt.Sprintf("event %q is out of order or outside %d..%d", e.ID, m.FirstSeq, m.LastSeq)
			return errStop
		}
		prev = e.Seq
		h, err := ledger.LeafHash(e)
		if err == nil {
			err = ledger.CheckServed(e)
		}
		if err != nil || !bytes.Equal(h, leaves[e.Seq-m.FirstSeq]) {
			v.BadSeq, v.Problem = e.Seq, fmt.Sprintf("event %q differs from the signed event of seq %d", e.ID, e.Seq)
			return errStop
		}
		return nil
	})
	if err == errStop {
		return v, nil
	}
	if err != nil {
		return fail(0, "%v", err)
	}
	if v.Events != m.Count {
		return fail(0, "the segment holds %d events; its manifest counts %d", v.Events, m.Count)
	}
	v.OK = true
	return v, nil
}

var errStop = &auditkeep.Error{Code: auditkeep.EINVALID, Message: "stop"}
