package ledger_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
)

// TestVerifyBundle tampers with a tenant's stored events after they were
// integrated, exports a bundle and expects VerifyBundle to name the first
// seq concerned.
func TestVerifyBundle(t *testing.T) {
	const n = 50
	renumber := func(evs []*auditkeep.Event) {
		for i, e := range evs {
			e.Seq = int64(i + 1)
		}
	}
	tests := []struct {
		name    string
		tamper  func(evs []*auditkeep.Event) []*auditkeep.Event
		problem string
		seq     int64
	}{
		{"untouched", func(evs []*auditkeep.Event) []*auditkeep.Event { return evs }, "", 0},
		{"alter description", func(evs []*auditkeep.Event) []*auditkeep.Event {
			evs[16].Description = "nothing happened"
			return evs
		}, ledger.ProblemAltered, 17},
		{"alter snapshot value", func(evs []*auditkeep.Event) []*auditkeep.Event {
			evs[0].Snapshot = []byte(`{"name":"production","cpu":1.6}`)
			return evs
		}, ledger.ProblemAltered, 1},
		{"alter received_at", func(evs []*auditkeep.Event) []*auditkeep.Event {
			evs[n-1].ReceivedAt = evs[n-1].ReceivedAt.Add(-1)
			return evs
		}, ledger.ProblemAltered, n},
		{"delete one", func(evs []*auditkeep.Event) []*auditkeep.Event {
			return append(evs[:22], evs[23:]...)
		}, ledger.ProblemRemoved, 23},
		{"delete one and renumber", func(evs []*auditkeep.Event) []*auditkeep.Event {
			evs = append(evs[:22], evs[23:]...)
			renumber(evs)
			return evs
		}, ledger.ProblemRemoved, 23},
		{"delete the first", func(evs []*auditkeep.Event) []*auditkeep.Event { return evs[1:] }, ledger.ProblemRemoved, 1},
		{"truncate tail", func(evs []*auditkeep.Event) []*auditkeep.Event { return evs[:44] }, ledger.ProblemRemoved, 45},
		{"swap two lines", func(evs []*auditkeep.Event) []*auditkeep.Event {
			evs[9], evs[10] = evs[10], evs[9]
			return evs
		}, ledger.ProblemReordered, 10},
		{"swap two distant lines", func(evs []*auditkeep.Event) []*auditkeep.Event {
			evs[9], evs[39] = evs[39], evs[9]
			return evs
		}, ledger.ProblemReordered, 10},
		{"swap two events' seqs", func(evs []*auditkeep.Event) []*auditkeep.Event {
			evs[9], evs[13] = evs[13], evs[9]
			renumber(evs)
			return evs
		}, ledger.ProblemReordered, 10},
		{"insert one and renumber", func(evs []*auditkeep.Event) []*auditkeep.Event {
			fake := sampleEvent("acme", 0)
			fake.ID, fake.Action = "evt_fake", "user.login"
			evs = append(evs[:29], append([]*auditkeep.Event{fake}, evs[29:]...)...)
			renumber(evs)
			return evs
		}, ledger.ProblemInserted, 30},
		{"insert a duplicate seq before", func(evs []*auditkeep.Event) []*auditkeep.Event {
			fake := sampleEvent("acme", 30)
			fake.ID = "evt_fake"
			return append(evs[:29], append([]*auditkeep.Event{fake}, evs[29:]...)...)
		}, ledger.ProblemInserted, 30},
		{"insert a duplicate seq after", func(evs []*auditkeep.Event) []*auditkeep.Event {
			fake := sampleEvent("acme", 30)
			fake.ID = "evt_fake"
			return append(evs[:30], append([]*auditkeep.Event{fake}, evs[30:]...)...)
		}, ledger.ProblemInserted, 30},
		{"replay an event", func(evs []*auditkeep.Event) []*auditkeep.Event {
			c := *evs[4]
			return append(evs[:20], append([]*auditkeep.Event{&c}, evs[20:]...)...)
		}, ledger.ProblemInserted, 5},
		{"append one beyond the checkpoint", func(evs []*auditkeep.Event) []*auditkeep.Event {
			return append(evs, sampleEvent("acme", n+1))
		}, ledger.ProblemInserted, n + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newMemEvents()
			ev.add("acme", n)
			st, _, vkey := integrated(t, ev, "acme", 8)
			ev.events["acme"] = tt.tamper(ev.events["acme"])
			var buf bytes.Buffer
			// WriteBundle stops at the checkpoint's size; write the events
			// line by line so that an extra one gets in too.
			writeBundleAll(t, &buf, st, ev)
			v, err := ledger.VerifyBundle(&buf, vkey)
			if err != nil {
				t.Fatalf("VerifyBundle() error = %v", err)
			}
			if tt.problem == "" {
				if !v.OK || v.Events != n || v.Size != n || v.Origin != "auditkeep/acme" {
					t.Errorf("VerifyBundle(untouched) = %+v; want ok, %d events", v, n)
				}
				return
			}
			if v.OK || v.Problem != tt.problem || v.FirstBadSeq != tt.seq {
				t.Errorf("VerifyBundle(%s) = %s; want %s at seq %d", tt.name, v, tt.problem, tt.seq)
			}
			if s := v.String(); !strings.Contains(s, tt.problem) || strings.Contains(s, "\n") {
				t.Errorf("Verdict.String() = %q; want one line naming %s", s, tt.problem)
			}
		})
	}
}

// writeBundleAll writes a bundle with ledger.WriteBundle, then appends any
// stored event beyond the checkpoint (which WriteBundle leaves out), so that
// tests can smuggle extra events in.
func writeBundleAll(t *testing.T, buf *bytes.Buffer, st ledger.Storage, ev *memEvents) {
	t.Helper()
	ctx := context.Background()
	cp, err := ledger.WriteBundle(ctx, buf, st, ev, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var extra []*auditkeep.Event
	for _, e := range ev.events["acme"] {
		if e.Seq > int64(cp.Size) {
			extra = append(extra, e)
		}
	}
	for _, e := range extra {
		line, err := jsonLine(e)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(line)
	}
}

func TestWriteBundleStopsAtCheckpoint(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	ev.add("acme", 20)
	st, _, vkey := integrated(t, ev, "acme", 0)
	ev.add("acme", 5) // committed, not integrated
	var buf bytes.Buffer
	cp, err := ledger.WriteBundle(ctx, &buf, st, ev, "acme")
	if err != nil || cp.Size != 20 {
		t.Fatalf("WriteBundle() = %+v, %v; want the checkpoint of size 20", cp, err)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != 1+1+20 {
		t.Errorf("WriteBundle() wrote %d lines; want 22 (checkpoint, leaves, 20 events)", lines)
	}
	v, err := ledger.VerifyBundle(&buf, vkey)
	if err != nil || !v.OK || v.Events != 20 {
		t.Errorf("VerifyBundle() = %v, %v; want ok with 20 events", v, err)
	}
	if _, err := ledger.WriteBundle(ctx, &buf, st, ev, "nobody"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("WriteBundle(tenant without events) = %v; want %s", err, auditkeep.ENOTFOUND)
	}
}

func TestVerifyBundleRejects(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	ev.add("acme", 2000) // two leaves lines
	st, _, vkey := integrated(t, ev, "acme", 0)
	var buf bytes.Buffer
	if _, err := ledger.WriteBundle(ctx, &buf, st, ev, "acme"); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	if v, err := ledger.VerifyBundle(strings.NewReader(good), vkey); err != nil || !v.OK {
		t.Fatalf("VerifyBundle(good) = %v, %v; want ok", v, err)
	}
	_, otherKey := newKeys(t)
	if _, err := ledger.VerifyBundle(strings.NewReader(good), otherKey); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("VerifyBundle(another key) error = %v; want %s", err, auditkeep.EINVALID)
	}
	if _, err := ledger.VerifyBundle(strings.NewReader(good), "not a key"); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("VerifyBundle(bad key) error = %v; want %s", err, auditkeep.EINVALID)
	}
	lines := strings.SplitAfter(good, "\n")
	// The checkpoint's size changed: the signature no longer holds.
	forgedCP := strings.Replace(lines[0], `\n2000\n`, `\n1999\n`, 1)
	if _, err := ledger.VerifyBundle(strings.NewReader(forgedCP+strings.Join(lines[1:], "")), vkey); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("VerifyBundle(checkpoint size edited) error = %v; want %s", err, auditkeep.EINVALID)
	}
	// A leaf hash replaced: the leaves no longer build the signed root, and
	// prove nothing about any one event; the events still build it.
	leaf := lines[2][strings.Index(lines[2], `"hashes":["`)+11:][:64]
	forgedLeaves := strings.Replace(lines[2], leaf, strings.Repeat("0", 64), 1)
	v, err := ledger.VerifyBundle(strings.NewReader(lines[0]+lines[1]+forgedLeaves+strings.Join(lines[3:], "")), vkey)
	if err != nil || v.OK || v.Problem != ledger.ProblemTree || v.FirstBadSeq != 0 {
		t.Errorf("VerifyBundle(leaf hash replaced) = %v, %v; want %s, no seq named", v, err, ledger.ProblemTree)
	}
	// A leaves line dropped.
	v, err = ledger.VerifyBundle(strings.NewReader(lines[0]+lines[1]+strings.Join(lines[3:], "")), vkey)
	if err != nil || v.OK || v.Problem != ledger.ProblemTree {
		t.Errorf("VerifyBundle(leaves line dropped) = %v, %v; want %s", v, err, ledger.ProblemTree)
	}
	// A leaf hash replaced and an event altered: with no earlier checkpoint,
	// the range is the whole log.
	altered := strings.Replace(lines[3], `"environment.update"`, `"environment.delete"`, 1)
	v, err = ledger.VerifyBundle(strings.NewReader(lines[0]+lines[1]+forgedLeaves+altered+strings.Join(lines[4:], "")), vkey)
	if err != nil || v.OK || v.Problem != ledger.ProblemAltered || v.FirstBadSeq != 1 || v.LastBadSeq != int64(v.Size) {
		t.Errorf("VerifyBundle(leaf hash replaced, event altered) = %v, %v; want altered in seqs 1-%d", v, err, v.Size)
	}
	for name, in := range map[string]string{
		"empty":               "",
		"no checkpoint":       lines[1],
		"garbage":             lines[0] + "{not json\n",
		"unknown line":        lines[0] + `{"type":"mystery"}` + "\n",
		"leaves misplaced":    lines[0] + lines[2],
		"bad leaf hash":       lines[0] + `{"type":"leaves","start":1,"hashes":["zz"]}` + "\n",
		"leaves after events": lines[0] + lines[1] + lines[2] + lines[3] + lines[1],
	} {
		if v, err := ledger.VerifyBundle(strings.NewReader(in), vkey); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
			t.Errorf("VerifyBundle(%s) = %v, %v; want error %s", name, v, err, auditkeep.EINVALID)
		}
	}
}
