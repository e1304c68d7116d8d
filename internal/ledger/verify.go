package ledger

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/auditkeep/auditkeep"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Problems a Verdict names.
const (
	ProblemAltered   = "altered"   // an event differs from the one the log signed
	ProblemRemoved   = "removed"   // an event the log signed is missing (a gap, or the tail cut)
	ProblemInserted  = "inserted"  // an event the log never signed is present (a duplicate or extra seq)
	ProblemReordered = "reordered" // signed events are present at the wrong positions
	ProblemFork      = "fork"      // two checkpoints that cannot both be of one append-only log
	ProblemRollback  = "rollback"  // the log is smaller than a checkpoint seen before
)

// Verdict is the outcome of a verification. When OK is false, Problem names
// what is wrong and FirstBadSeq the first seq concerned (0 when it cannot be
// located, e.g. a fork, or a bundle whose leaf list is itself forged).
type Verdict struct {
	OK          bool
	Origin      string // the checkpoint's origin ("auditkeep/acme")
	Size        uint64 // the checkpoint's size
	Root        []byte // the checkpoint's root
	Events      int64  // events read (bundles)
	FirstBadSeq int64
	Problem     string
	Detail      string // one human sentence about the problem
}

// String returns the verdict in one line.
func (v Verdict) String() string {
	if v.OK {
		return fmt.Sprintf("ok: %s: %d events match the signed checkpoint (size %d, root %s)",
			v.Origin, v.Events, v.Size, base64.StdEncoding.EncodeToString(v.Root))
	}
	if v.FirstBadSeq > 0 {
		return fmt.Sprintf("FAILED: %s: seq %d %s: %s", v.Origin, v.FirstBadSeq, v.Problem, v.Detail)
	}
	return fmt.Sprintf("FAILED: %s: %s: %s", v.Origin, v.Problem, v.Detail)
}

// VerifyInclusion checks that leafHash is the leaf of seq in the tree of
// size leaves with root, given proof (from Log.InclusionProof), with
// transparency-dev/merkle's verifier. Returns nil when it holds, EINVALID
// when it does not.
func VerifyInclusion(leafHash []byte, seq int64, size uint64, proofHashes [][]byte, root []byte) error {
	if seq < 1 {
		return auditkeep.FieldErrorf("seq", "seq %d is not a position in the log", seq)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(seq-1), size, leafHash, proofHashes, root); err != nil {
		return &auditkeep.Error{Code: auditkeep.EINVALID, Message: fmt.Sprintf("inclusion proof of seq %d in tree size %d does not verify", seq, size), Err: err}
	}
	return nil
}

// VerifyConsistency checks that the tree of size2 leaves with root2 extends
// the tree of size1 with root1, given proof (from Log.ConsistencyProof).
// Returns nil when it does, EINVALID when it does not.
func VerifyConsistency(size1, size2 uint64, proofHashes [][]byte, root1, root2 []byte) error {
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, proofHashes, root1, root2); err != nil {
		return &auditkeep.Error{Code: auditkeep.EINVALID, Message: fmt.Sprintf("consistency proof from size %d to %d does not verify", size1, size2), Err: err}
	}
	return nil
}

// CompareCheckpoints checks that latest (just fetched) extends trusted (seen
// and verified earlier), given the consistency proof from trusted.Size to
// latest.Size (empty when latest.Size <= trusted.Size). Both must be verified
// checkpoints. A smaller latest is a rollback; an equal size with another
// root, another origin or a proof that fails is a fork.
func CompareCheckpoints(trusted, latest *Checkpoint, consistency [][]byte) Verdict {
	v := Verdict{Origin: latest.Origin, Size: latest.Size, Root: latest.Root}
	switch {
	case trusted.Origin != latest.Origin:
		v.Problem, v.Detail = ProblemFork, fmt.Sprintf("checkpoints are of different logs (%q, %q)", trusted.Origin, latest.Origin)
	case latest.Size < trusted.Size:
		v.Problem, v.FirstBadSeq = ProblemRollback, int64(latest.Size)+1
		v.Detail = fmt.Sprintf("the log has %d events, fewer than the %d of a checkpoint seen before", latest.Size, trusted.Size)
	default:
		if err := VerifyConsistency(trusted.Size, latest.Size, consistency, trusted.Root, latest.Root); err != nil {
			v.Problem = ProblemFork
			v.Detail = fmt.Sprintf("the tree of size %d does not extend the checkpoint of size %d seen before", latest.Size, trusted.Size)
			return v
		}
		v.OK = true
		return v
	}
	return v
}

// Bundle lines. A bundle is NDJSON: one checkpoint line, then leaves lines,
// then event lines; see the package documentation.
type bundleLine struct {
	Type       string           `json:"type"`
	Checkpoint string           `json:"checkpoint,omitempty"`
	Start      uint64           `json:"start,omitempty"`
	Hashes     []string         `json:"hashes,omitempty"`
	Event      *auditkeep.Event `json:"event,omitempty"`
}

// bundleLeavesPerLine is how many leaf hashes WriteBundle puts in one line.
const bundleLeavesPerLine = 1024

// WriteBundle writes the tenant's offline-verification bundle to w: its
// latest checkpoint, the leaf hashes of that tree, then every event of seq
// 1 .. checkpoint size, read from events. It returns the checkpoint used.
// Returns ENOTFOUND when nothing is integrated yet, and errors of storage,
// events and w.
func WriteBundle(ctx context.Context, w io.Writer, s Storage, events EventScanner, tenant string) (*Checkpoint, error) {
	cp, err := NewLog(s).Latest(ctx, tenant)
	if err != nil {
		return nil, err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(bundleLine{Type: "checkpoint", Checkpoint: string(cp.Note)}); err != nil {
		return nil, err
	}
	for begin := uint64(0); begin < cp.Size; begin += bundleLeavesPerLine {
		end := min(begin+bundleLeavesPerLine, cp.Size)
		leaves, err := s.LeafHashes(ctx, tenant, begin, end)
		if err != nil {
			return nil, err
		}
		line := bundleLine{Type: "leaves", Start: begin + 1, Hashes: make([]string, len(leaves))}
		for i, h := range leaves {
			line.Hashes[i] = hex.EncodeToString(h)
		}
		if err := enc.Encode(line); err != nil {
			return nil, err
		}
	}
	stop := errors.New("end of tree")
	f := auditkeep.Filter{Order: auditkeep.OrderAsc}
	err = events.ScanEvents(ctx, tenant, f, func(e *auditkeep.Event) error {
		if e.Seq > int64(cp.Size) {
			return stop
		}
		return enc.Encode(bundleLine{Type: "event", Event: e})
	})
	if err != nil && !errors.Is(err, stop) {
		return nil, err
	}
	return cp, nil
}

// reorderWindow is how far from its claimed seq an event's content is looked
// for (with seq replaced) to tell a moved event from an altered one.
const reorderWindow = 16

// lookaheadLines bounds how many lines after the first anomaly are read to
// tell a reordering from a removal.
const lookaheadLines = 100000

// VerifyBundle reads a bundle (see the package documentation) and checks
// that the checkpoint is signed by verifierKey, that the leaf hashes build
// exactly its root, and that every event of seq 1 .. size is present, in
// order, with content whose leaf hash is the signed one. The Verdict names
// the first seq altered, removed, inserted or reordered. Memory: the leaf
// hashes (32 bytes per event) and one event at a time.
//
// Returns an error (EINVALID) for a bad key, a checkpoint not signed by it,
// or a bundle that cannot be read as one; errors of r as they are.
func VerifyBundle(r io.Reader, verifierKey string) (Verdict, error) {
	ver, err := NewVerifier(verifierKey)
	if err != nil {
		return Verdict{}, err
	}
	dec := json.NewDecoder(r)
	var line bundleLine
	if err := dec.Decode(&line); err != nil || line.Type != "checkpoint" {
		return Verdict{}, bundleErr("the first line is not a checkpoint line", err)
	}
	cp, err := verifyCheckpoint([]byte(line.Checkpoint), ver)
	if err != nil {
		return Verdict{}, err
	}
	b := &bundle{dec: dec, cp: cp, v: Verdict{Origin: cp.Origin, Size: cp.Size, Root: cp.Root}}
	if err := b.readLeaves(); err != nil {
		return Verdict{}, err
	}
	factory := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng := factory.NewEmptyRange(0)
	for _, h := range b.leaves {
		if err := rng.Append(h, nil); err != nil {
			return Verdict{}, err
		}
	}
	root, _ := rng.GetRootHash(nil)
	if cp.Size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	if uint64(len(b.leaves)) != cp.Size || !bytes.Equal(root, cp.Root) {
		return b.fail(0, ProblemAltered, fmt.Sprintf("the bundle's %d leaf hashes do not build the signed root of size %d", len(b.leaves), cp.Size)), nil
	}
	return b.checkEvents()
}

func bundleErr(msg string, err error) error {
	return &auditkeep.Error{Code: auditkeep.EINVALID, Message: "bundle: " + msg, Err: err}
}

type bundle struct {
	dec    *json.Decoder
	cp     *Checkpoint
	leaves [][]byte
	next   *auditkeep.Event // the first event line, read while reading leaves
	v      Verdict
}

func (b *bundle) fail(seq int64, problem, detail string) Verdict {
	b.v.FirstBadSeq, b.v.Problem, b.v.Detail = seq, problem, detail
	return b.v
}

func (b *bundle) readLeaves() error {
	for {
		var line bundleLine
		if err := b.dec.Decode(&line); err == io.EOF {
			return nil
		} else if err != nil {
			return bundleErr("unreadable line", err)
		}
		switch line.Type {
		case "leaves":
			if line.Start != uint64(len(b.leaves))+1 {
				return bundleErr(fmt.Sprintf("leaves line starts at %d, want %d", line.Start, len(b.leaves)+1), nil)
			}
			for _, s := range line.Hashes {
				h, err := hex.DecodeString(s)
				if err != nil || len(h) != HashSize {
					return bundleErr(fmt.Sprintf("leaf hash %q is not %d bytes of hex", s, HashSize), err)
				}
				b.leaves = append(b.leaves, h)
			}
		case "event":
			if line.Event == nil {
				return bundleErr("event line without an event", nil)
			}
			b.next = line.Event
			return nil
		default:
			return bundleErr(fmt.Sprintf("unexpected %q line", line.Type), nil)
		}
	}
}

// nextEvent returns the next event line's event, nil at the end.
func (b *bundle) nextEvent() (*auditkeep.Event, error) {
	if e := b.next; e != nil {
		b.next = nil
		return e, nil
	}
	var line bundleLine
	if err := b.dec.Decode(&line); err == io.EOF {
		return nil, nil
	} else if err != nil {
		return nil, bundleErr("unreadable line", err)
	}
	if line.Type != "event" || line.Event == nil {
		return nil, bundleErr(fmt.Sprintf("unexpected %q line among events", line.Type), nil)
	}
	return line.Event, nil
}

// position returns the seq at which e's content is signed: its claimed seq
// when that matches, else a seq within reorderWindow of it whose signed leaf
// matches e with that seq (a moved event), else 0.
func (b *bundle) position(e *auditkeep.Event) int64 {
	size := int64(len(b.leaves))
	if b.matches(e, e.Seq) {
		return e.Seq
	}
	claimed := e.Seq
	defer func() { e.Seq = claimed }()
	for d := int64(1); d <= reorderWindow; d++ {
		for _, k := range [2]int64{claimed - d, claimed + d} {
			if k >= 1 && k <= size {
				e.Seq = k
				if b.matches(e, k) {
					return k
				}
			}
		}
	}
	return 0
}

// isSigned reports whether e, given seq, is the signed event of seq.
func (b *bundle) isSigned(e *auditkeep.Event, seq int64) bool {
	claimed := e.Seq
	e.Seq = seq
	ok := b.matches(e, seq)
	e.Seq = claimed
	return ok
}

func (b *bundle) matches(e *auditkeep.Event, seq int64) bool {
	if seq < 1 || seq > int64(len(b.leaves)) {
		return false
	}
	h, err := LeafHash(e)
	return err == nil && bytes.Equal(h, b.leaves[seq-1])
}

func (b *bundle) checkEvents() (Verdict, error) {
	size := int64(len(b.leaves))
	expected := int64(1)
	for {
		e, err := b.nextEvent()
		if err != nil {
			return Verdict{}, err
		}
		if e == nil {
			if expected <= size {
				return b.fail(expected, ProblemRemoved, fmt.Sprintf("the bundle ends after %d of the %d signed events", expected-1, size)), nil
			}
			b.v.OK = true
			return b.v, nil
		}
		b.v.Events++
		if expected > size {
			return b.fail(e.Seq, ProblemInserted, fmt.Sprintf("event %q (seq %d) follows the last signed event (seq %d)", e.ID, e.Seq, size)), nil
		}
		pos := b.position(e)
		if pos == expected {
			expected++
			continue
		}
		return b.classify(e, pos, expected)
	}
}

// classify names the first anomaly: the event e at the place of seq
// expected has signed position pos (0: none).
func (b *bundle) classify(e *auditkeep.Event, pos, expected int64) (Verdict, error) {
	switch {
	case pos == 0 && e.Seq == expected:
		// Altered in place, unless the signed event expected comes next:
		// then e was inserted before it.
		next, err := b.nextEvent()
		if err != nil {
			return Verdict{}, err
		}
		if next != nil && b.isSigned(next, expected) {
			return b.fail(expected, ProblemInserted, fmt.Sprintf("event %q claims seq %d but the log never signed it", e.ID, e.Seq)), nil
		}
		return b.fail(expected, ProblemAltered, fmt.Sprintf("event %q differs from the signed event of seq %d", e.ID, expected)), nil
	case pos == 0 && e.Seq < expected:
		return b.fail(e.Seq, ProblemInserted, fmt.Sprintf("event %q repeats seq %d with content the log never signed", e.ID, e.Seq)), nil
	case pos != 0 && pos < expected:
		return b.fail(pos, ProblemInserted, fmt.Sprintf("event %q (signed as seq %d) appears again", e.ID, pos)), nil
	}
	// pos > expected, or unknown content claiming a later seq: the signed
	// event expected is not here. Reordered if it comes later, else removed.
	for i := 0; i < lookaheadLines; i++ {
		next, err := b.nextEvent()
		if err != nil {
			return Verdict{}, err
		}
		if next == nil {
			break
		}
		if b.isSigned(next, expected) {
			return b.fail(expected, ProblemReordered, fmt.Sprintf("the signed event of seq %d appears after event %q (seq %d)", expected, e.ID, e.Seq)), nil
		}
	}
	if pos == 0 {
		return b.fail(expected, ProblemRemoved, fmt.Sprintf("the signed event of seq %d is missing; event %q claims seq %d with content the log never signed", expected, e.ID, e.Seq)), nil
	}
	return b.fail(expected, ProblemRemoved, fmt.Sprintf("the signed event of seq %d is missing (the next present is seq %d)", expected, pos)), nil
}
