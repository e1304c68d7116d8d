package ledger_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
)

// purgeRecord turns e into the retention job's retention.purge event
// listing ranges.
func purgeRecord(e *auditkeep.Event, actorType string, ranges ...[2]int64) {
	e.Action, e.Type = auditkeep.PurgeAction, auditkeep.TypeDelete
	e.Actor = auditkeep.Actor{Type: actorType, ID: "auditkeep-retention", Name: "retention"}
	e.Target, e.Changes, e.Before, e.Snapshot = nil, nil, nil, nil
	m, _ := json.Marshal(map[string]any{"archived": 10, "removed": 10, "seqs": ranges})
	e.Metadata = m
}

// TestVerifyBundlePurged checks bundles whose missing seqs a signed
// retention.purge event of the log may excuse: purge records are events 30
// and 40 of a 45-event log.
func TestVerifyBundlePurged(t *testing.T) {
	const n = 45
	r := func(a, b int64) [2]int64 { return [2]int64{a, b} }
	tests := []struct {
		name     string
		rec30    [][2]int64 // ranges listed by the record of seq 30
		rec40    [][2]int64 // and of seq 40 (nil: no record there)
		actor    string     // the records' actor type; "" system
		remove   []int64    // seqs removed from the store
		tamper   func(evs []*auditkeep.Event) []*auditkeep.Event
		problem  string // "" ok
		seq      int64
		purged   []ledger.Purged
		text     string // in the verdict's String
		warnings []string
	}{
		{name: "purged ranges", rec30: [][2]int64{r(1, 10), r(15, 15)}, remove: seqs(1, 10, 15, 15),
			purged: []ledger.Purged{{First: 1, Last: 10, RecordedAt: 30}, {First: 15, Last: 15, RecordedAt: 30}},
			text:   "seqs 1-10, 15 purged by retention (recorded at seq 30)"},
		{name: "two records", rec30: [][2]int64{r(1, 5)}, rec40: [][2]int64{r(6, 12), r(31, 32)}, remove: seqs(1, 12, 31, 32),
			purged: []ledger.Purged{{First: 1, Last: 5, RecordedAt: 30}, {First: 6, Last: 12, RecordedAt: 40}, {First: 31, Last: 32, RecordedAt: 40}},
			text:   "seqs 1-5, 6-12, 31-32 purged by retention (recorded at seqs 30, 40)"},
		{name: "overlapping records", rec30: [][2]int64{r(1, 8)}, rec40: [][2]int64{r(5, 10)}, remove: seqs(1, 10),
			purged: []ledger.Purged{{First: 1, Last: 8, RecordedAt: 30}, {First: 9, Last: 10, RecordedAt: 40}}},
		{name: "nothing purged", rec30: [][2]int64{}, problem: ""},
		{name: "a seq the record does not list", rec30: [][2]int64{r(1, 10), r(15, 15)}, remove: seqs(1, 10, 15, 16),
			problem: ledger.ProblemRemoved, seq: 16},
		{name: "a seq after the record", rec30: [][2]int64{r(1, 10)}, remove: seqs(1, 10, 33, 33),
			problem: ledger.ProblemRemoved, seq: 33},
		{name: "a removal before the purged range", rec30: [][2]int64{r(10, 20)}, remove: seqs(9, 20),
			problem: ledger.ProblemRemoved, seq: 9},
		{name: "the tail cut", rec30: [][2]int64{r(1, 10)}, remove: seqs(1, 10, 44, 45),
			problem: ledger.ProblemRemoved, seq: 44},
		{name: "a record listing itself and later seqs", rec30: [][2]int64{r(28, 35)}, remove: seqs(28, 29, 31, 35),
			problem: ledger.ProblemRemoved, seq: 31,
			warnings: []string{"the retention.purge event of seq 30 lists seqs up to 35, not all before its own: ignored from seq 30 on"}},
		{name: "a record by a user", rec30: [][2]int64{r(1, 10)}, actor: auditkeep.ActorUser, remove: seqs(1, 10),
			problem: ledger.ProblemRemoved, seq: 1},
		{name: "the record itself removed", rec30: [][2]int64{r(1, 10)}, remove: seqs(1, 10, 30, 30),
			problem: ledger.ProblemRemoved, seq: 1},
		{name: "the record altered to list more", rec30: [][2]int64{r(1, 5)}, remove: seqs(1, 10),
			tamper: func(evs []*auditkeep.Event) []*auditkeep.Event {
				for _, e := range evs {
					if e.Seq == 30 {
						e.Metadata = json.RawMessage(`{"seqs":[[1,10]]}`)
					}
				}
				return evs
			},
			problem: ledger.ProblemRemoved, seq: 1}, // an altered record excuses nothing
		{name: "a record listing present seqs", rec30: [][2]int64{r(1, 10), r(20, 22)}, remove: seqs(1, 10),
			purged:   []ledger.Purged{{First: 1, Last: 10, RecordedAt: 30}},
			warnings: []string{"the retention.purge event of seq 30 lists seq 20, which is present: the claim is ignored for it"}},
		{name: "a reordering among purged ranges", rec30: [][2]int64{r(1, 10)}, remove: seqs(1, 10),
			tamper: func(evs []*auditkeep.Event) []*auditkeep.Event {
				i := slices.IndexFunc(evs, func(e *auditkeep.Event) bool { return e.Seq == 20 })
				evs[i], evs[i+1] = evs[i+1], evs[i]
				return evs
			},
			problem: ledger.ProblemReordered, seq: 20},
		{name: "renumbered after a purge", rec30: [][2]int64{r(1, 10)}, remove: seqs(1, 10, 12, 12),
			tamper: func(evs []*auditkeep.Event) []*auditkeep.Event {
				for _, e := range evs {
					if e.Seq > 12 && e.Seq < 30 {
						e.Seq-- // the hole of 12 closed by renumbering
					}
				}
				return evs
			},
			problem: ledger.ProblemRemoved, seq: 12},
		{name: "renumbered into a purged hole", rec30: [][2]int64{r(1, 10), r(12, 12)}, remove: seqs(1, 10, 12, 12),
			tamper: func(evs []*auditkeep.Event) []*auditkeep.Event {
				for _, e := range evs {
					if e.Seq > 12 && e.Seq < 30 {
						e.Seq--
					}
				}
				return evs
			},
			problem: ledger.ProblemReordered, seq: 13},
		{name: "an altered event after a purge", rec30: [][2]int64{r(1, 10)}, remove: seqs(1, 10),
			tamper: func(evs []*auditkeep.Event) []*auditkeep.Event {
				for _, e := range evs {
					if e.Seq == 25 {
						e.Description = "nothing happened"
					}
				}
				return evs
			},
			problem: ledger.ProblemAltered, seq: 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newMemEvents()
			evs := ev.add("acme", n)
			actor := tt.actor
			if actor == "" {
				actor = auditkeep.ActorSystem
			}
			purgeRecord(evs[29], actor, tt.rec30...)
			if tt.rec40 != nil {
				purgeRecord(evs[39], actor, tt.rec40...)
			}
			st, _, vkey := integrated(t, ev, "acme", 0)
			var kept []*auditkeep.Event
			for _, e := range ev.events["acme"] {
				if !removed(tt.remove, e.Seq) {
					kept = append(kept, e)
				}
			}
			if tt.tamper != nil {
				kept = tt.tamper(kept)
			}
			ev.events["acme"] = kept
			var buf bytes.Buffer
			writeBundleAll(t, &buf, st, ev)
			v, err := ledger.VerifyBundle(&buf, vkey)
			if err != nil {
				t.Fatalf("VerifyBundle() error = %v", err)
			}
			if tt.problem != "" {
				if v.OK || v.Problem != tt.problem || v.FirstBadSeq != tt.seq {
					t.Errorf("VerifyBundle(%s) = %s; want %s at seq %d", tt.name, v, tt.problem, tt.seq)
				}
			} else {
				if !v.OK || v.Events != int64(len(kept)) {
					t.Errorf("VerifyBundle(%s) = %s; want ok with %d events", tt.name, v, len(kept))
				}
				if !slices.Equal(v.Purged, tt.purged) {
					t.Errorf("VerifyBundle(%s).Purged = %v; want %v", tt.name, v.Purged, tt.purged)
				}
				if tt.text != "" && !strings.HasSuffix(v.String(), "; "+tt.text) {
					t.Errorf("Verdict.String() = %q; want it to end with %q", v.String(), tt.text)
				}
			}
			if !slices.Equal(v.Warnings, tt.warnings) {
				t.Errorf("VerifyBundle(%s).Warnings = %q; want %q", tt.name, v.Warnings, tt.warnings)
			}
		})
	}
}

// seqs returns the seqs of the ranges given as first, last pairs.
func seqs(bounds ...int64) []int64 {
	var out []int64
	for i := 0; i+1 < len(bounds); i += 2 {
		for s := bounds[i]; s <= bounds[i+1]; s++ {
			out = append(out, s)
		}
	}
	return out
}

func removed(seqs []int64, seq int64) bool { return slices.Contains(seqs, seq) }

func TestVerdictPurgedText(t *testing.T) {
	var many []ledger.Purged
	for i := int64(0); i < 10; i++ {
		many = append(many, ledger.Purged{First: 10*i + 1, Last: 10*i + 5, RecordedAt: 200})
	}
	tests := []struct {
		purged []ledger.Purged
		want   string
	}{
		{nil, ""},
		{[]ledger.Purged{{First: 7, Last: 7, RecordedAt: 9}}, "seq 7 purged by retention (recorded at seq 9)"},
		{[]ledger.Purged{{First: 1, Last: 500, RecordedAt: 812}}, "seqs 1-500 purged by retention (recorded at seq 812)"},
		{many, "seqs 1-5, 11-15, 21-25, 31-35, 41-45, 51-55, 61-65, 71-75 and 2 more ranges, 50 seqs in all, purged by retention (recorded at seq 200)"},
	}
	for _, tt := range tests {
		if got := (ledger.Verdict{OK: true, Purged: tt.purged}).PurgedText(); got != tt.want {
			t.Errorf("PurgedText(%s) = %q; want %q", fmt.Sprint(tt.purged), got, tt.want)
		}
	}
}
