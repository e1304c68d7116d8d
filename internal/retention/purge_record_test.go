package retention_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
)

// TestPurgeRecordListsSeqs checks that the retention.purge event lists
// exactly the seqs removed (holes left by a scoped hold included), that a
// later purge (one record per batch) keeps the purge records, and that a
// bundle of what is left verifies with the removed seqs reported as purged.
func TestPurgeRecordListsSeqs(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, nil)
			e.tenant("acme", 30)
			all := e.fill("acme", 100)
			admin := auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: "key_1", Name: "admin"}
			if _, err := e.ret.CreateHold(e.ctx, "acme", "project:prj_1", "case 42", admin); err != nil {
				t.Fatal(err)
			}
			e.integrate("acme")
			inPrj1 := func(ev *auditkeep.Event) bool {
				return strings.HasPrefix(auditkeep.ScopePath(ev.Scope), "project:prj_1/")
			}
			due := expired(all, now0.Add(-30*24*time.Hour), inPrj1)
			rep, err := e.ret.RunTenant(e.ctx, "acme")
			if err != nil || rep.Removed != len(due) {
				t.Fatalf("RunTenant = %+v, %v; want %d removed", rep, err, len(due))
			}
			want := ranges(due)
			if len(want) < 2 {
				t.Fatalf("fixture: removed seqs %v form %d ranges; want holes", want, len(want))
			}
			if !slices.Equal(rep.Purged, want) {
				t.Errorf("RunTenant().Purged = %v; want %v", rep.Purged, want)
			}
			records := purgeRecords(t, e.live("acme"))
			if len(records) != 1 || !slices.Equal(records[0].seqs, want) {
				t.Fatalf("retention.purge events list %v; want one listing %v", records, want)
			}
			first := records[0].seq

			// Sixty days on, everything but the held events is due, the
			// purge record included: it stays, the rest goes, in batches of
			// 40, each with its record.
			e.clock.Add(60 * 24 * time.Hour)
			e.integrate("acme")
			rep, err = e.ret.RunTenant(e.ctx, "acme")
			if err != nil || rep.Removed == 0 {
				t.Fatalf("second RunTenant = %+v, %v; want events removed", rep, err)
			}
			live := e.live("acme")
			records = purgeRecords(t, live)
			if want := 1 + (rep.Removed+39)/40; len(records) != want || records[0].seq != first {
				t.Fatalf("after the second purge the log holds retention.purge events %v; want the first (seq %d) and one per batch, %d in all", records, first, want)
			}
			var later [][2]int64
			for _, r := range records[1:] {
				later = append(later, r.seqs...)
			}
			if !slices.Equal(merge(later), rep.Purged) {
				t.Errorf("the second purge's records list %v; want the seqs removed, %v", later, rep.Purged)
			}
			if slices.ContainsFunc(later, func(r [2]int64) bool { return r[0] <= first && first <= r[1] }) {
				t.Errorf("the second purge lists %v, which holds the first purge record (seq %d)", later, first)
			}

			e.integrate("acme")
			var buf bytes.Buffer
			if _, err := ledger.WriteBundle(e.ctx, &buf, e.tree, e.s, "acme"); err != nil {
				t.Fatal(err)
			}
			v, err := ledger.VerifyBundle(&buf, e.verifier)
			if err != nil || !v.OK || v.Events != int64(len(live)) || len(v.Warnings) != 0 {
				t.Fatalf("VerifyBundle(after two purges) = %s %v, %v; want ok with %d events, no warning", v, v.Warnings, err, len(live))
			}
			var purged int64
			for _, p := range v.Purged {
				purged += p.Last - p.First + 1
			}
			if purged != int64(v.Size)-int64(len(live)) {
				t.Errorf("VerifyBundle reports %d seqs purged (%v); want %d", purged, v.Purged, int64(v.Size)-int64(len(live)))
			}
		})
	}
}

type purgeRecord struct {
	seq  int64
	seqs [][2]int64
}

func purgeRecords(t *testing.T, events []*auditkeep.Event) []purgeRecord {
	t.Helper()
	var out []purgeRecord
	for _, ev := range events {
		if ev.Action != auditkeep.PurgeAction {
			continue
		}
		var m struct {
			Seqs [][2]int64 `json:"seqs"`
		}
		if err := json.Unmarshal(ev.Metadata, &m); err != nil {
			t.Fatalf("retention.purge metadata %s: %v", ev.Metadata, err)
		}
		out = append(out, purgeRecord{ev.Seq, m.Seqs})
	}
	return out
}

// merge merges adjacent ranges (in seq order), as a verifier reads the
// ranges of several records.
func merge(rs [][2]int64) [][2]int64 {
	var out [][2]int64
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1][1]+1 == r[0] {
			out[n-1][1] = r[1]
		} else {
			out = append(out, r)
		}
	}
	return out
}

// ranges merges the seqs of events (ascending) into ranges.
func ranges(events []*auditkeep.Event) [][2]int64 {
	var out [][2]int64
	for _, ev := range events {
		if n := len(out); n > 0 && out[n-1][1]+1 == ev.Seq {
			out[n-1][1] = ev.Seq
		} else {
			out = append(out, [2]int64{ev.Seq, ev.Seq})
		}
	}
	return out
}

// TestPurgeRecordSeqsAcrossDays: events whose days do not follow their
// seqs are archived day by day, and the purge record still lists every
// seq removed.
func TestPurgeRecordSeqsAcrossDays(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, nil)
			e.tenant("acme", 30)
			var events []*auditkeep.Event
			for i, daysAgo := range []int{40, 41, 40, 42, 41} {
				events = append(events, &auditkeep.Event{Tenant: "acme", ID: fmt.Sprintf("ev-%d", i), ReceivedAt: now0.Add(-time.Hour),
					OccurredAt: now0.Add(-time.Duration(daysAgo) * 24 * time.Hour), Action: "user.login", Type: auditkeep.TypeLogin,
					Status: auditkeep.StatusSuccess, Actor: auditkeep.Actor{Type: auditkeep.ActorUser, ID: "u"}})
			}
			if err := e.s.Append(e.ctx, events); err != nil {
				t.Fatal(err)
			}
			e.integrate("acme")
			rep, err := e.ret.RunTenant(e.ctx, "acme")
			want := [][2]int64{{1, 5}}
			if err != nil || rep.Removed != 5 || rep.Segments != 3 || !slices.Equal(rep.Purged, want) {
				t.Fatalf("RunTenant = %+v, %v; want 5 removed in 3 segments (one per day), purged %v", rep, err, want)
			}
			if records := purgeRecords(t, e.live("acme")); len(records) != 1 || !slices.Equal(records[0].seqs, want) {
				t.Errorf("retention.purge events list %v; want one listing %v", records, want)
			}
		})
	}
}
