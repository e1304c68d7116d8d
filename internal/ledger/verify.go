package ledger

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/auditkeep/auditkeep"
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

// RebuildAction is the action of the event recording, in a tenant's own
// log, that an operator rebuilt its tree from the stored events and had it
// signed anew (Integrator.Rebuild); its metadata holds the reason.
const RebuildAction = "ledger.rebuild"

// Purged is a range of seqs missing from a bundle that a signed
// retention.purge event of the same log lists as removed by retention.
type Purged struct {
	First, Last int64
	RecordedAt  int64 // the seq of the retention.purge event
}

// Verdict is the outcome of a verification. When OK is false, Problem names
// what is wrong and FirstBadSeq the first seq concerned (0 when it cannot be
// located, e.g. a fork, or a stored tree that does not prove what it
// serves). When LastBadSeq is larger than FirstBadSeq, the problem is
// proved to be in that range of seqs but not at any one of them.
type Verdict struct {
	OK          bool
	Origin      string // the checkpoint's origin ("auditkeep/acme")
	Size        uint64 // the checkpoint's size
	Root        []byte // the checkpoint's root
	Events      int64  // events read (bundles)
	FirstBadSeq int64
	LastBadSeq  int64 // the range's end; 0 or FirstBadSeq for one seq
	Problem     string
	Detail      string // one human sentence about the problem
	// Purged lists, in seq order, the signed seqs missing from a bundle that
	// retention removed, each with the seq of the signed retention.purge
	// event that says so. They do not make a verdict fail.
	Purged []Purged
	// Warnings are remarks that do not make the verdict fail, such as a
	// retention.purge event listing a seq that is present (the event is
	// checked like any other; the claim is ignored for it). At most
	// maxWarnings, the last one counting those left out.
	Warnings []string
}

// PurgedText describes v.Purged in one line, such as "seqs 1-500 purged by
// retention (recorded at seq 812)"; "" when nothing was purged. Beyond 8
// ranges it gives the first ones and counts the rest.
func (v Verdict) PurgedText() string {
	if len(v.Purged) == 0 {
		return ""
	}
	const shown = 8
	var ranges, at []string
	var seqs int64
	seen := map[int64]bool{}
	for i, p := range v.Purged {
		seqs += p.Last - p.First + 1
		if i < shown {
			if p.First == p.Last {
				ranges = append(ranges, strconv.FormatInt(p.First, 10))
			} else {
				ranges = append(ranges, fmt.Sprintf("%d-%d", p.First, p.Last))
			}
		}
		if !seen[p.RecordedAt] && len(seen) < shown {
			seen[p.RecordedAt] = true
			at = append(at, strconv.FormatInt(p.RecordedAt, 10))
		}
	}
	text := strings.Join(ranges, ", ")
	if len(v.Purged) > shown {
		text += fmt.Sprintf(" and %d more ranges, %d seqs in all,", len(v.Purged)-shown, seqs)
	}
	noun, where := "seqs", "seq"
	if len(ranges) == 1 && v.Purged[0].First == v.Purged[0].Last {
		noun = "seq"
	}
	if len(at) > 1 {
		where = "seqs"
	}
	return fmt.Sprintf("%s %s purged by retention (recorded at %s %s)", noun, text, where, strings.Join(at, ", "))
}

// String returns the verdict in one line.
func (v Verdict) String() string {
	if v.OK {
		s := fmt.Sprintf("ok: %s: %d events match the signed checkpoint (size %d, root %s)",
			v.Origin, v.Events, v.Size, base64.StdEncoding.EncodeToString(v.Root))
		if p := v.PurgedText(); p != "" {
			s += "; " + p
		}
		return s
	}
	return fmt.Sprintf("FAILED: %s: %s: %s", v.Origin, v.Where(), v.Detail)
}

// Where says what a failed verdict concerns: "seq 7 altered", "an event in
// seqs 7–12 was altered", or the problem alone ("fork") when no seq is
// named.
func (v Verdict) Where() string {
	switch {
	case v.FirstBadSeq > 0 && v.LastBadSeq > v.FirstBadSeq:
		return fmt.Sprintf("an event in seqs %d–%d was %s", v.FirstBadSeq, v.LastBadSeq, v.Problem)
	case v.FirstBadSeq > 0:
		return fmt.Sprintf("seq %d %s", v.FirstBadSeq, v.Problem)
	}
	return v.Problem
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
// It writes a broken ledger's bundle too, from the stored checkpoint
// (Log.Stored): its verifier names what was changed. Returns ENOTFOUND when
// nothing is integrated yet, and errors of storage, events and w.
func WriteBundle(ctx context.Context, w io.Writer, s Storage, events EventScanner, tenant string) (*Checkpoint, error) {
	cp, err := NewLog(s).Stored(ctx, tenant)
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

// VerifyBundle reads a bundle (see the package documentation) and checks
// that the checkpoint is signed by verifierKey, that the leaf hashes build
// exactly its root, and that every event of seq 1 .. size is present, in
// order, with content whose leaf hash is the signed one, or was removed by
// retention: a seq missing from the bundle is accepted when a signed
// retention.purge event of the bundle, of a later seq, lists it in its
// metadata "seqs" (it is then reported in Verdict.Purged). A purge event's
// claim on a seq that is present is ignored for that seq (the event is
// checked like any other) and noted in Verdict.Warnings. The Verdict names
// the first seq altered, removed (missing and not purged), inserted or
// reordered. Memory: the leaf hashes (32 bytes per event), the ranges of
// missing seqs and of purge claims, and one event at a time.
//
// When the leaf hashes do not build the signed root, no seq is named from
// them: the events' own leaf hashes are compared with the signed root, which
// gives either a ProblemTree verdict (the events build it: the stored leaves
// are damaged) or an altered range of seqs 1 .. size (BundleCheck.Verify,
// given the log's earlier checkpoints, narrows it down).
//
// Returns an error (EINVALID) for a bad key, a checkpoint not signed by it,
// or a bundle that cannot be read as one; errors of r as they are.
func VerifyBundle(r io.Reader, verifierKey string) (Verdict, error) {
	return (&BundleCheck{VerifierKey: verifierKey}).Verify(context.Background(), r)
}

// readBundle reads the checkpoint and leaves lines of a bundle and checks
// the checkpoint's signature.
func readBundle(r io.Reader, verifierKey string) (*bundle, error) {
	ver, err := NewVerifier(verifierKey)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(r)
	var line bundleLine
	if err := dec.Decode(&line); err != nil || line.Type != "checkpoint" {
		return nil, bundleErr("the first line is not a checkpoint line", err)
	}
	cp, err := verifyCheckpoint([]byte(line.Checkpoint), ver)
	if err != nil {
		return nil, err
	}
	b := &bundle{dec: dec, cp: cp, v: Verdict{Origin: cp.Origin, Size: cp.Size, Root: cp.Root}}
	if err := b.readLeaves(); err != nil {
		return nil, err
	}
	return b, nil
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

	gaps   []gap   // signed seqs missing so far, in seq order
	claims []claim // seqs that signed retention.purge events list
	bad    *Verdict
	notes  int // warnings beyond maxWarnings
	hasher leafHasher
}

// gap is a range of signed seqs missing from the bundle; next is the seq of
// the event that followed it (0: the end of the bundle).
type gap struct{ first, last, next int64 }

// claim is a range of seqs that the signed retention.purge event of seq at
// lists as removed.
type claim struct{ first, last, at int64 }

// maxWarnings bounds Verdict.Warnings.
const maxWarnings = 5

func (b *bundle) fail(seq int64, problem, detail string) Verdict {
	b.v.FirstBadSeq, b.v.Problem, b.v.Detail = seq, problem, detail
	return b.v
}

// problem keeps the anomaly of the lowest seq seen so far.
func (b *bundle) problem(seq int64, problem, detail string) {
	if b.bad == nil || seq < b.bad.FirstBadSeq {
		b.bad = &Verdict{FirstBadSeq: seq, Problem: problem, Detail: detail}
	}
}

func (b *bundle) warn(format string, args ...any) {
	if len(b.v.Warnings) < maxWarnings {
		b.v.Warnings = append(b.v.Warnings, fmt.Sprintf(format, args...))
	} else {
		b.notes++
	}
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
	h, err := b.hasher.hash(e)
	return err == nil && bytes.Equal(h, b.leaves[seq-1]) && CheckServed(e) == nil
}

func (b *bundle) checkEvents() (Verdict, error) {
	size := int64(len(b.leaves))
	expected := int64(1) // the next seq in order
	for {
		e, err := b.nextEvent()
		if err != nil {
			return Verdict{}, err
		}
		if e == nil {
			break
		}
		b.v.Events++
		b.collect(e)
		if expected, err = b.place(e, expected, size); err != nil {
			return Verdict{}, err
		}
	}
	if expected <= size {
		b.gaps = append(b.gaps, gap{first: expected, last: size})
	}
	return b.conclude(), nil
}

// place checks the event e read where the signed event of seq expected is
// due: it records a gap when e is a later signed event, keeps the anomaly
// e is, and returns the seq due after it.
func (b *bundle) place(e *auditkeep.Event, expected, size int64) (int64, error) {
	pos := b.position(e)
	switch {
	case pos != 0 && pos < expected:
		if g, ok := b.gapAt(pos); ok {
			b.problem(g.first, ProblemReordered, fmt.Sprintf("the signed event of seq %d appears after the signed event of seq %d", pos, g.next))
		} else {
			b.problem(pos, ProblemInserted, fmt.Sprintf("event %q (signed as seq %d) appears again", e.ID, pos))
		}
		return expected, nil
	case pos != 0:
		if pos > expected {
			b.gaps = append(b.gaps, gap{first: expected, last: pos - 1, next: pos})
		}
		if e.Seq != pos {
			b.problem(pos, ProblemReordered, fmt.Sprintf("event %q claims seq %d but is the signed event of seq %d", e.ID, e.Seq, pos))
		}
		return pos + 1, nil
	case e.Seq > size:
		b.problem(e.Seq, ProblemInserted, fmt.Sprintf("event %q (seq %d) follows the last signed event (seq %d)", e.ID, e.Seq, size))
		return expected, nil
	case e.Seq == expected:
		// Altered in place, unless the signed event of expected comes
		// next: then e was inserted before it.
		next, err := b.nextEvent()
		if err != nil {
			return 0, err
		}
		b.next = next
		if next != nil && b.isSigned(next, expected) {
			b.problem(expected, ProblemInserted, fmt.Sprintf("event %q claims seq %d but the log never signed it", e.ID, e.Seq))
			return expected, nil
		}
		b.problem(expected, ProblemAltered, fmt.Sprintf("event %q differs from the signed event of seq %d", e.ID, expected))
		return expected + 1, nil
	case e.Seq < expected:
		if _, ok := b.gapAt(e.Seq); ok {
			b.problem(e.Seq, ProblemAltered, fmt.Sprintf("event %q differs from the signed event of seq %d, and comes out of order", e.ID, e.Seq))
		} else {
			b.problem(e.Seq, ProblemInserted, fmt.Sprintf("event %q repeats seq %d with content the log never signed", e.ID, e.Seq))
		}
		return expected, nil
	default: // expected < e.Seq <= size, content never signed
		b.gaps = append(b.gaps, gap{first: expected, last: e.Seq - 1, next: e.Seq})
		b.problem(e.Seq, ProblemAltered, fmt.Sprintf("event %q differs from the signed event of seq %d", e.ID, e.Seq))
		return e.Seq + 1, nil
	}
}

// gapAt returns the recorded gap holding seq.
func (b *bundle) gapAt(seq int64) (gap, bool) {
	i := sort.Search(len(b.gaps), func(i int) bool { return b.gaps[i].last >= seq })
	if i < len(b.gaps) && b.gaps[i].first <= seq {
		return b.gaps[i], true
	}
	return gap{}, false
}

// collect keeps the seq ranges that e lists when it is a retention.purge
// event signed at its seq. Only seqs before its own can have been purged
// before it was recorded; a claim on a later seq is ignored.
func (b *bundle) collect(e *auditkeep.Event) {
	if e.Action != auditkeep.PurgeAction || e.Actor.Type != auditkeep.ActorSystem || !b.matches(e, e.Seq) {
		return
	}
	var m struct {
		Seqs [][]int64 `json:"seqs"`
	}
	if len(e.Metadata) > 0 {
		if err := json.Unmarshal(e.Metadata, &m); err != nil {
			b.warn("the retention.purge event of seq %d has unreadable metadata: it excuses no missing seq", e.Seq)
			return
		}
	}
	for _, r := range m.Seqs {
		if len(r) != 2 || r[0] < 1 || r[1] < r[0] {
			b.warn("the retention.purge event of seq %d lists %v, which is not a range [first, last] of seqs: ignored", e.Seq, r)
			continue
		}
		if r[1] >= e.Seq {
			b.warn("the retention.purge event of seq %d lists seqs up to %d, not all before its own: ignored from seq %d on", e.Seq, r[1], max(r[0], e.Seq))
			if r[1] = e.Seq - 1; r[1] < r[0] {
				continue
			}
		}
		b.claims = append(b.claims, claim{first: r[0], last: r[1], at: e.Seq})
	}
}

// conclude matches the gaps with the purge claims: a missing seq that no
// claim lists is removed. The verdict names the anomaly of the lowest seq.
func (b *bundle) conclude() Verdict {
	slices.SortFunc(b.claims, func(x, y claim) int {
		if x.first != y.first {
			return cmp.Compare(x.first, y.first)
		}
		return cmp.Compare(x.at, y.at)
	})
	// reach[i] is the claim of claims[:i+1] that reaches furthest.
	reach := make([]int, len(b.claims))
	for i := range b.claims {
		reach[i] = i
		if i > 0 && b.claims[reach[i-1]].last >= b.claims[i].last {
			reach[i] = reach[i-1]
		}
	}
	covering := func(seq int64) (claim, bool) {
		i := sort.Search(len(b.claims), func(i int) bool { return b.claims[i].first > seq }) - 1
		if i < 0 {
			return claim{}, false
		}
		c := b.claims[reach[i]]
		return c, c.last >= seq
	}
	for _, g := range b.gaps {
		for cur := g.first; cur <= g.last; {
			c, ok := covering(cur)
			if !ok {
				if g.next == 0 {
					b.problem(cur, ProblemRemoved, fmt.Sprintf("the bundle ends before the signed event of seq %d (of %d), and no retention.purge event lists it", cur, len(b.leaves)))
				} else {
					b.problem(cur, ProblemRemoved, fmt.Sprintf("the signed event of seq %d is missing and no retention.purge event lists it (the next present is seq %d)", cur, g.next))
				}
				break
			}
			end := min(c.last, g.last)
			if n := len(b.v.Purged); n > 0 && b.v.Purged[n-1].Last+1 == cur && b.v.Purged[n-1].RecordedAt == c.at {
				b.v.Purged[n-1].Last = end
			} else {
				b.v.Purged = append(b.v.Purged, Purged{First: cur, Last: end, RecordedAt: c.at})
			}
			cur = end + 1
		}
	}
	if b.bad != nil {
		return b.fail(b.bad.FirstBadSeq, b.bad.Problem, b.bad.Detail)
	}
	// A claim on a seq that is present: the event was checked like any
	// other, so the claim is ignored; it is worth a look all the same.
	for _, c := range b.claims {
		i := sort.Search(len(b.gaps), func(i int) bool { return b.gaps[i].last >= c.first })
		present := c.first
		for ; i < len(b.gaps) && b.gaps[i].first <= present && present <= c.last; i++ {
			present = b.gaps[i].last + 1
		}
		if present <= c.last {
			b.warn("the retention.purge event of seq %d lists seq %d, which is present: the claim is ignored for it", c.at, present)
		}
	}
	if b.notes > 0 {
		b.v.Warnings = append(b.v.Warnings, fmt.Sprintf("and %d more warnings", b.notes))
	}
	b.v.OK = true
	return b.v
}
