package retention_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/auditkeep/auditkeep/internal/retention"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// failingDeletes is a store whose DeleteEvents removes nothing and fails:
// the job stops right after a batch's purge record, as a crash there
// would stop it.
type failingDeletes struct{ store }

func (failingDeletes) DeleteEvents(context.Context, string, []int64) (int, error) {
	return 0, auditkeep.Unavailable(errors.New("disk unplugged"))
}

// TestPurgeRecordedBeforeRemoval: the purge record of a batch is committed
// before its events are removed. When the job stops between the two, the
// events are still there and the log verifies (the record's claim on seqs
// present is a warning); the next run removes them and the log verifies
// with the purge excused.
func TestPurgeRecordedBeforeRemoval(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, nil)
			e.tenant("acme", 30)
			all := e.fill("acme", 100)
			due := expired(all, now0.Add(-30*24*time.Hour), nil)
			if len(due) == 0 || len(due) > 40 {
				t.Fatalf("fixture: %d events due; want one batch of at most 40", len(due))
			}
			stopped := retention.New(capable(retention.Config{Store: failingDeletes{e.s}, Archive: e.arch, Tree: e.tree, Now: e.clock.Now, Logger: quiet,
				BatchSize: 40, Pause: time.Millisecond, Recorder: e.record}))
			rep, err := stopped.RunTenant(e.ctx, "acme")
			if err == nil || rep.Removed != 0 || rep.Archived != len(due) {
				t.Fatalf("RunTenant with failing deletes = %+v, %v; want %d archived, none removed, an error", rep, err, len(due))
			}
			if got := len(e.updates("acme")); got != len(all) {
				t.Errorf("%d events live after failing deletes; want all %d", got, len(all))
			}
			if got := recorded(t, e.live("acme")); !maps.Equal(got, seqSet(due)) {
				t.Errorf("the purge records list seqs %v; want the %d archived: %v", slices.Sorted(maps.Keys(got)), len(due), ranges(due))
			}
			v := e.verdict("acme")
			if !v.OK || len(v.Purged) != 0 || len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "which is present") {
				t.Errorf("VerifyBundle(recorded, not removed) = %s %v; want ok, nothing purged, a warning about seqs present", v, v.Warnings)
			}
			st, err := stopped.TenantStatus(e.ctx, "acme")
			if err != nil || st.Status.Errors != 1 || !st.Status.Pending || st.Status.Removed != 0 {
				t.Errorf("status = %+v, %v; want the failure recorded, the purge pending, none removed", st.Status, err)
			}

			rep, err = e.ret.RunTenant(e.ctx, "acme")
			if err != nil || rep.Removed != len(due) || !slices.Equal(rep.Purged, ranges(due)) {
				t.Fatalf("RunTenant with deletes back = %+v, %v; want %d removed, purged %v", rep, err, len(due), ranges(due))
			}
			e.checkLedger("acme")
		})
	}
}

// TestPurgeNotRecordedRemovesNothing: when the purge record cannot be
// written, no event is removed; the failure is reported and the next run,
// with the log writable again, purges them with their record.
func TestPurgeNotRecordedRemovesNothing(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, nil)
			e.tenant("acme", 30)
			all := e.fill("acme", 100)
			due := expired(all, now0.Add(-30*24*time.Hour), nil)
			e.recordErr = auditkeep.Unavailable(errors.New("the ingest queue is closed"))
			rep, err := e.ret.Run(e.ctx)
			if err != nil || rep.Errors != 1 || rep.Removed != 0 {
				t.Fatalf("Run with a failing recorder = %+v, %v; want 1 tenant failed, nothing removed", rep, err)
			}
			if got := len(e.updates("acme")); got != len(all) {
				t.Errorf("%d events live after a failed record; want all %d", got, len(all))
			}
			if records := purgeRecords(t, e.live("acme")); len(records) != 0 {
				t.Errorf("purge records %v after a failed record; want none", records)
			}
			if n := testutil.ToFloat64(counter(t, e.reg, "auditkeep_retention_removed_events_total")); n != 0 {
				t.Errorf("auditkeep_retention_removed_events_total = %v; want 0", n)
			}
			st, err := e.ret.TenantStatus(e.ctx, "acme")
			if err != nil || st.Status.Errors != 1 || !st.Status.Pending || !strings.Contains(st.Status.LastError, "purge record") {
				t.Errorf("status = %+v, %v; want the record's failure recorded and the purge pending", st.Status, err)
			}
			if v := e.verdict("acme"); !v.OK || len(v.Purged) != 0 || len(v.Warnings) != 0 {
				t.Errorf("VerifyBundle(after a failed record) = %s %v; want ok, nothing purged, no warning", v, v.Warnings)
			}

			e.recordErr = nil
			rep, err = e.ret.Run(e.ctx)
			if err != nil || rep.Errors != 0 || rep.Removed != len(due) {
				t.Fatalf("Run with the recorder back = %+v, %v; want %d removed", rep, err, len(due))
			}
			e.checkLedger("acme")
		})
	}
}

// TestPurgeWaitsForSignedRecord: events are removed only once their purge
// record is in a signed checkpoint, since a verifier accepts the record
// only from then on. While the ledger does not integrate it, nothing is
// removed and the run reports why; once it does, the next run removes them
// and the log verifies with the purge excused.
func TestPurgeWaitsForSignedRecord(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, nil)
			e.tenant("acme", 30)
			all := e.fill("acme", 100)
			due := expired(all, now0.Add(-30*24*time.Hour), nil)
			e.noIntegration = true
			waiting := retention.New(capable(retention.Config{Store: e.s, Archive: e.arch, Tree: e.tree, Now: e.clock.Now, Logger: quiet,
				BatchSize: 40, Pause: time.Millisecond, Recorder: e.record, IntegrationWait: 100 * time.Millisecond}))
			rep, err := waiting.RunTenant(e.ctx, "acme")
			if err == nil || rep.Removed != 0 {
				t.Fatalf("RunTenant with the record unsigned = %+v, %v; want none removed, an error", rep, err)
			}
			if got := len(e.updates("acme")); got != len(all) {
				t.Errorf("%d events live while the record is unsigned; want all %d", got, len(all))
			}
			st, err := waiting.TenantStatus(e.ctx, "acme")
			if err != nil || !st.Status.Pending || !strings.Contains(st.Status.LastError, "signed checkpoint") {
				t.Errorf("status = %+v, %v; want the purge pending, waiting for a signed checkpoint", st.Status, err)
			}

			e.noIntegration = false
			e.integrate("acme")
			rep, err = e.ret.RunTenant(e.ctx, "acme")
			if err != nil || rep.Removed != len(due) {
				t.Fatalf("RunTenant with the ledger integrating = %+v, %v; want %d removed", rep, err, len(due))
			}
			e.checkLedger("acme")
		})
	}
}

// TestPartitionRecordedBeforeDrop: each tenant's purge record is committed
// before a partition is dropped or its rows deleted. When a record cannot
// be written, the partition and its events stay; when the job stops right
// after the records (neither the drop nor the row deletes go through), the
// events stay and the logs verify, with a warning; the next run drops the
// partition.
func TestPartitionRecordedBeforeDrop(t *testing.T) {
	for _, tt := range []struct {
		name     string
		record   bool // the records are written
		warnings bool // the logs verify with a warning meanwhile
	}{
		{"record fails", false, false},
		{"stopped after the record", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, conn := pgEnv(t, nil)
			ps := e.s.(*pgStore)
			if tt.record {
				ps.dropErr = auditkeep.Unavailable(errors.New("killed"))
				ps.deleteErr = auditkeep.Unavailable(errors.New("killed"))
			} else {
				e.recordErr = auditkeep.Unavailable(errors.New("the ingest queue is closed"))
			}
			e.tenant("acme", 30)
			e.tenant("globex", 45)
			acme := e.fillSeptember("acme", 40, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
			globex := e.fillSeptember("globex", 20, time.Date(2026, 8, 10, 0, 0, 0, 0, time.UTC))

			rep, err := e.ret.Run(e.ctx)
			if err != nil || rep.Errors != 2 || rep.Removed != 0 {
				t.Fatalf("Run = %+v, %v; want both tenants failed, nothing removed", rep, err)
			}
			if names := partitions(t, conn); !slices.Contains(names, sepName) {
				t.Errorf("partitions = %v; want %s kept", names, sepName)
			}
			if n := count(t, conn, `SELECT count(*) FROM `+sepName); n != len(acme)+len(globex) {
				t.Errorf("%s holds %d rows; want all %d", sepName, n, len(acme)+len(globex))
			}
			for _, tc := range []struct {
				tenant string
				events []*auditkeep.Event
			}{{"acme", acme}, {"globex", globex}} {
				want := map[int64]bool{}
				if tt.record {
					want = seqSet(tc.events)
				}
				if got := recorded(t, e.live(tc.tenant)); !maps.Equal(got, want) {
					t.Errorf("%s's purge records list %d seqs; want %d", tc.tenant, len(got), len(want))
				}
				if v := e.verdict(tc.tenant); !v.OK || len(v.Purged) != 0 || (len(v.Warnings) > 0) != tt.warnings {
					t.Errorf("VerifyBundle(%s) = %s %v; want ok, nothing purged, warnings %v", tc.tenant, v, v.Warnings, tt.warnings)
				}
			}

			ps.dropErr, ps.deleteErr, e.recordErr = nil, nil, nil
			rep, err = e.ret.Run(e.ctx)
			if want := len(acme) + len(globex); err != nil || rep.Errors != 0 || rep.Removed != want || e.deleted() != 0 {
				t.Fatalf("Run again = %+v, %v (%d deleted row by row); want %d removed with the partition", rep, err, e.deleted(), want)
			}
			if names := partitions(t, conn); slices.Contains(names, sepName) {
				t.Errorf("partitions after the second run = %v; want %s dropped", names, sepName)
			}
			e.checkLedger("acme")
			e.checkLedger("globex")
		})
	}
}

// recorded returns the seqs that the retention.purge events list.
func recorded(t *testing.T, events []*auditkeep.Event) map[int64]bool {
	t.Helper()
	out := map[int64]bool{}
	for _, r := range purgeRecords(t, events) {
		for _, rg := range r.seqs {
			for q := rg[0]; q <= rg[1]; q++ {
				out[q] = true
			}
		}
	}
	return out
}

// verdict integrates the tenant's log and verifies a bundle of it.
func (e *env) verdict(tenant string) ledger.Verdict {
	e.t.Helper()
	e.integrate(tenant)
	var buf bytes.Buffer
	if _, err := ledger.WriteBundle(e.ctx, &buf, e.tree, e.s, tenant); err != nil {
		e.t.Fatal(err)
	}
	v, err := ledger.VerifyBundle(&buf, e.verifier)
	if err != nil {
		e.t.Fatal(fmt.Errorf("VerifyBundle(%s): %w", tenant, err))
	}
	return v
}
