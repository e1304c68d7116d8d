package retention_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/auditkeep/auditkeep/internal/pgtest"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/retention"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gocloud.dev/blob/memblob"
)

// The partition of September 2026, two months before now0.
var (
	september = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	sepName   = "events_p202609"
)

// pgStore is the PostgreSQL store, counting the events that DeleteEvents
// removes (the events that did not go with a partition), and failing
// DropPartition and DeleteEvents on demand.
type pgStore struct {
	*postgres.Store
	deleted   atomic.Int64
	dropErr   error // when set, DropPartition fails with it
	deleteErr error // when set, DeleteEvents removes nothing and fails with it
}

func (s *pgStore) DropPartition(ctx context.Context, p *auditkeep.Partition, now time.Time) (bool, error) {
	if s.dropErr != nil {
		return false, s.dropErr
	}
	return s.Store.DropPartition(ctx, p, now)
}

func (s *pgStore) DeleteEvents(ctx context.Context, tenant string, seqs []int64) (int, error) {
	if s.deleteErr != nil {
		return 0, s.deleteErr
	}
	n, err := s.Store.DeleteEvents(ctx, tenant, seqs)
	s.deleted.Add(int64(n))
	return n, err
}

// deleted returns how many events DeleteEvents removed so far.
func (e *env) deleted() int { return int(e.s.(*pgStore).deleted.Load()) }

// pgEnv is an env on PostgreSQL with a partition for September 2026, and a
// connection to its schema.
func pgEnv(t *testing.T, arch *archive.Archive) (*env, *pgx.Conn) {
	t.Helper()
	base := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("set AUDITKEEP_TEST_DATABASE_URL=postgres://... to run the partition tests")
	}
	var u string
	e := newEnv(t, backend{"postgres", func(t testing.TB) (store, ledgerStorage) {
		u = pgtest.Schema(t, base)
		s, err := postgres.Open(context.Background(), u, postgres.WithLogger(quiet), postgres.WithPartitionsAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return &pgStore{Store: s}, postgres.NewLedger(s)
	}}, arch)
	if err := e.s.(*pgStore).EnsurePartitions(e.ctx, september, september); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(e.ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return e, conn
}

// fillSeptember appends n events of tenant received on September 10th,
// 2026; event i occurred at from + i×12h. Every third is in project prj_1.
// They are integrated into the ledger.
func (e *env) fillSeptember(tenant string, n int, from time.Time) []*auditkeep.Event {
	e.t.Helper()
	var events []*auditkeep.Event
	for i := range n {
		ev := &auditkeep.Event{
			Tenant: tenant, ID: fmt.Sprintf("%s-sep-%03d", tenant, i), ReceivedAt: september.AddDate(0, 0, 9).Add(time.Duration(i) * time.Minute),
			OccurredAt: from.Add(time.Duration(i) * 12 * time.Hour).Add(time.Duration(i) * 1237 * time.Nanosecond),
			Action:     "environment.update", Type: auditkeep.TypeUpdate, Status: auditkeep.StatusSuccess,
			Actor:       auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_42", Name: "Alice Martin"},
			Target:      &auditkeep.Target{Type: "environment", ID: "env_7", Name: "production"},
			Description: fmt.Sprintf("Updated environment 'production' (%d)", i),
			Scope:       []auditkeep.ScopeEntry{{Type: "project", ID: "prj_2"}},
		}
		if i%3 == 0 {
			ev.Scope = []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1"}}
		}
		events = append(events, ev)
	}
	if err := e.s.Append(e.ctx, events); err != nil {
		e.t.Fatal(err)
	}
	e.integrate(tenant)
	return events
}

// partitions returns the names of events' partitions.
func partitions(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, _ := conn.Query(context.Background(), `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass ORDER BY c.relname`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func count(t *testing.T, conn *pgx.Conn, query string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// updates returns the tenant's live events other than the retention
// feature's own records.
func (e *env) updates(tenant string) []*auditkeep.Event {
	var out []*auditkeep.Event
	for _, ev := range e.live(tenant) {
		if ev.Action == "environment.update" {
			out = append(out, ev)
		}
	}
	return out
}

// checkArchive checks that the tenant's archive holds want events, in
// segments that each verify against their signed checkpoint.
func (e *env) checkArchive(tenant string, want int) {
	e.t.Helper()
	ms, err := e.arch.List(e.ctx, tenant)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		n += m.Count
		r, err := e.arch.OpenSegment(e.ctx, m)
		if err != nil {
			e.t.Fatal(err)
		}
		v, err := archive.Verify(r, m, e.verifier)
		r.Close()
		if err != nil || !v.OK {
			e.t.Errorf("archive.Verify(%s %s) = %v, %v; want ok", tenant, m.Name, v, err)
		}
	}
	if n != want {
		e.t.Errorf("archive of %s holds %d events in %d segments; want %d", tenant, n, len(ms), want)
	}
}

// checkLedger checks that a bundle of what the tenant's live store holds
// verifies, every missing seq excused by a purge record.
func (e *env) checkLedger(tenant string) {
	e.t.Helper()
	e.integrate(tenant)
	live := e.live(tenant)
	var buf bytes.Buffer
	if _, err := ledger.WriteBundle(e.ctx, &buf, e.tree, e.s, tenant); err != nil {
		e.t.Fatal(err)
	}
	v, err := ledger.VerifyBundle(&buf, e.verifier)
	if err != nil || !v.OK || v.Events != int64(len(live)) || len(v.Warnings) != 0 {
		e.t.Fatalf("VerifyBundle(%s) = %s %v, %v; want ok with %d events, no warning", tenant, v, v.Warnings, err, len(live))
	}
	var purged int64
	for _, p := range v.Purged {
		purged += p.Last - p.First + 1
	}
	if purged != int64(v.Size)-int64(len(live)) {
		e.t.Errorf("VerifyBundle(%s) reports %d seqs purged (%v); want %d", tenant, purged, v.Purged, int64(v.Size)-int64(len(live)))
	}
}

// TestPartitionDropped: two tenants whose every event in a past month's
// partition has expired; the partition is dropped whole, after its events
// were archived, and the purge records it held (an earlier run's) stay.
func TestPartitionDropped(t *testing.T) {
	e, conn := pgEnv(t, nil)
	e.tenant("acme", 30)
	e.tenant("globex", 45)
	acme := e.fillSeptember("acme", 40, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
	globex := e.fillSeptember("globex", 20, time.Date(2026, 8, 10, 0, 0, 0, 0, time.UTC))

	// On September 15th the partition is this month's: acme's events of
	// before August 16th go row by row, and the purge record lands in it.
	e.clock.Add(september.AddDate(0, 0, 14).Add(12 * time.Hour).Sub(now0))
	first := expired(acme, e.clock.Now().Add(-30*24*time.Hour), nil)
	rep, err := e.ret.Run(e.ctx)
	if err != nil || rep.Removed != len(first) || rep.Errors != 0 {
		t.Fatalf("Run on September 15th = %+v, %v; want %d removed", rep, err, len(first))
	}
	if n := count(t, conn, `SELECT count(*) FROM `+sepName+` WHERE action = 'retention.purge'`); n != 1 {
		t.Fatalf("fixture: %s holds %d purge records; want acme's", sepName, n)
	}
	e.integrate("acme")
	earlier := purgeRecords(t, e.live("acme"))
	if len(earlier) != 1 {
		t.Fatalf("fixture: acme has purge records %v; want one", earlier)
	}
	var before *auditkeep.Event
	for _, ev := range e.live("acme") {
		if ev.Seq == earlier[0].seq {
			before = ev
		}
	}

	// On November 26th every event in September's partition has expired.
	e.clock.Add(now0.Sub(e.clock.Now()))
	left := e.updates("acme")
	deleted := e.deleted()
	rep, err = e.ret.Run(e.ctx)
	if want := len(left) + len(globex); err != nil || rep.Archived != want || rep.Removed != want || rep.Errors != 0 {
		t.Fatalf("Run on November 26th = %+v, %v; want %d archived and removed, no error", rep, err, want)
	}
	if n := e.deleted() - deleted; n != 0 {
		t.Errorf("the run deleted %d events row by row; want all to go with the partition", n)
	}
	if names := partitions(t, conn); slices.Contains(names, sepName) {
		t.Errorf("partitions after the run = %v; want %s dropped", names, sepName)
	}
	for _, tenant := range []string{"acme", "globex"} {
		if got := e.updates(tenant); len(got) != 0 {
			t.Errorf("%s still has %d expired events live", tenant, len(got))
		}
	}
	if n := count(t, conn, `SELECT count(*) FROM events_default WHERE action = 'retention.purge' AND received_at < $1`, september.AddDate(0, 1, 0)); n != 1 {
		t.Errorf("the default partition holds %d purge records of September; want the one moved there", n)
	}

	// The earlier purge record reads as it was; each tenant's new one
	// lists exactly the seqs that went with the partition.
	after, err := e.s.GetEvent(e.ctx, "acme", before.ID)
	if b1, b2 := mustJSON(t, before), mustJSON(t, after); err != nil || !bytes.Equal(b1, b2) {
		t.Errorf("the earlier purge record after the drop = %s, %v; want %s", b2, err, b1)
	}
	for _, tt := range []struct {
		tenant  string
		records int
		gone    []*auditkeep.Event
	}{{"acme", 2, left}, {"globex", 1, globex}} {
		records := purgeRecords(t, e.live(tt.tenant))
		if len(records) != tt.records || !slices.Equal(records[tt.records-1].seqs, ranges(tt.gone)) {
			t.Errorf("%s's purge records = %v; want %d, the last listing %v", tt.tenant, records, tt.records, ranges(tt.gone))
		}
	}
	if got := purgeRecords(t, e.live("acme"))[0]; got.seq != earlier[0].seq {
		t.Errorf("acme's first purge record is seq %d; want %d", got.seq, earlier[0].seq)
	}
	e.checkArchive("acme", len(acme))
	e.checkArchive("globex", len(globex))
	e.checkLedger("acme")
	e.checkLedger("globex")
	st, err := e.ret.TenantStatus(e.ctx, "globex")
	if err != nil || st.Status.Removed != int64(len(globex)) || st.Status.Archived != int64(len(globex)) || st.Status.Errors != 0 {
		t.Errorf("globex's status = %+v, %v; want %d archived and removed", st.Status, err, len(globex))
	}

	// Nothing is left to do.
	if rep, err := e.ret.Run(e.ctx); err != nil || rep.Archived != 0 || rep.Removed != 0 {
		t.Errorf("Run again = %+v, %v; want nothing done", rep, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPartitionKept: when one tenant in the partition does not let it go
// (a longer retention, a hold of any scope), the partition stays and the
// expired events that no hold covers are deleted row by row.
func TestPartitionKept(t *testing.T) {
	inPrj1 := func(ev *auditkeep.Event) bool {
		return strings.HasPrefix(auditkeep.ScopePath(ev.Scope), "project:prj_1")
	}
	for _, tt := range []struct {
		name string
		days int  // globex's retention
		hold bool // a hold on globex's project prj_1
	}{
		{"longer retention", 120, false},
		{"scoped hold", 45, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, conn := pgEnv(t, nil)
			e.tenant("acme", 30)
			e.tenant("globex", tt.days)
			acme := e.fillSeptember("acme", 40, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
			globex := e.fillSeptember("globex", 20, time.Date(2026, 8, 10, 0, 0, 0, 0, time.UTC))
			if tt.hold {
				admin := auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: "key_1", Name: "admin"}
				if _, err := e.ret.CreateHold(e.ctx, "globex", "project:prj_1", "case 42", admin); err != nil {
					t.Fatal(err)
				}
			}
			var kept []*auditkeep.Event // globex's events that stay
			for _, ev := range globex {
				if !tt.hold || inPrj1(ev) {
					kept = append(kept, ev)
				}
			}
			rep, err := e.ret.Run(e.ctx)
			if want := len(acme) + len(globex) - len(kept); err != nil || rep.Removed != want || rep.Errors != 0 {
				t.Fatalf("Run = %+v, %v; want %d removed", rep, err, want)
			}
			if names := partitions(t, conn); !slices.Contains(names, sepName) {
				t.Errorf("partitions after the run = %v; want %s kept", names, sepName)
			}
			if got := e.updates("acme"); len(got) != 0 {
				t.Errorf("acme still has %d expired events live", len(got))
			}
			if got := e.updates("globex"); !slices.Equal(ids(got), ids(kept)) {
				t.Errorf("globex's live events = %v; want %v", ids(got), ids(kept))
			}
			if n := count(t, conn, `SELECT count(*) FROM `+sepName); n != len(kept) {
				t.Errorf("%s holds %d rows; want globex's %d kept", sepName, n, len(kept))
			}
			e.checkArchive("acme", len(acme))
			e.checkLedger("acme")
			e.checkLedger("globex")
		})
	}
}

func ids(events []*auditkeep.Event) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev.ID)
	}
	return out
}

// TestPartitionArchiveFails: when the archive fails, the partition and
// its events stay, each tenant's failure is reported once, and the next
// run with the archive back drops the partition.
func TestPartitionArchiveFails(t *testing.T) {
	bucket := memblob.OpenBucket(nil)
	bucket.Close() // every write fails
	e, conn := pgEnv(t, archive.NewWithBucket(bucket, quiet))
	e.tenant("acme", 30)
	e.tenant("globex", 45)
	acme := e.fillSeptember("acme", 40, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
	globex := e.fillSeptember("globex", 20, time.Date(2026, 8, 10, 0, 0, 0, 0, time.UTC))

	rep, err := e.ret.Run(e.ctx)
	if err != nil || rep.Errors != 2 || rep.Archived != 0 || rep.Removed != 0 {
		t.Errorf("Run with a failing archive = %+v, %v; want both tenants failed, nothing removed", rep, err)
	}
	if names := partitions(t, conn); !slices.Contains(names, sepName) {
		t.Errorf("partitions after a failed archive = %v; want %s kept", names, sepName)
	}
	if n := count(t, conn, `SELECT count(*) FROM `+sepName); n != len(acme)+len(globex) {
		t.Errorf("%s holds %d rows after a failed archive; want all %d", sepName, n, len(acme)+len(globex))
	}
	if n := testutil.ToFloat64(counter(t, e.reg, "auditkeep_retention_errors_total")); n != 2 {
		t.Errorf("auditkeep_retention_errors_total = %v; want 2, one per tenant", n)
	}
	for _, tenant := range []string{"acme", "globex"} {
		st, err := e.ret.TenantStatus(e.ctx, tenant)
		if err != nil || st.Status.Errors != 1 || !strings.Contains(st.Status.LastError, "archive") || !st.Status.Pending {
			t.Errorf("%s's status = %+v, %v; want the archive error recorded once and the purge pending", tenant, st.Status, err)
		}
	}

	u, _ := archive.DirURL(t.TempDir())
	good, err := archive.Open(e.ctx, u, quiet)
	if err != nil {
		t.Fatal(err)
	}
	e.arch = good
	e.ret = retention.New(capable(retention.Config{Store: e.s, Archive: good, Tree: e.tree, Now: e.clock.Now, Logger: quiet}))
	rep, err = e.ret.Run(e.ctx)
	if want := len(acme) + len(globex); err != nil || rep.Removed != want || e.deleted() != 0 {
		t.Errorf("Run with the archive back = %+v, %v (%d deleted row by row); want %d removed with the partition", rep, err, e.deleted(), want)
	}
	if names := partitions(t, conn); slices.Contains(names, sepName) {
		t.Errorf("partitions with the archive back = %v; want %s dropped", names, sepName)
	}
	e.checkArchive("acme", len(acme))
	e.checkArchive("globex", len(globex))
}

// TestPartitionDropFails: when the partition cannot be dropped after its
// events were archived (here: its locks not granted), the archived events
// are deleted row by row, once archived and recorded, and the partition
// left with purge records alone is dropped as an empty one.
func TestPartitionDropFails(t *testing.T) {
	e, conn := pgEnv(t, nil)
	e.s.(*pgStore).dropErr = auditkeep.Unavailable(fmt.Errorf("lock timeout"))
	e.tenant("acme", 30)
	e.tenant("globex", 45)
	acme := e.fillSeptember("acme", 40, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
	globex := e.fillSeptember("globex", 20, time.Date(2026, 8, 10, 0, 0, 0, 0, time.UTC))

	rep, err := e.ret.Run(e.ctx)
	if want := len(acme) + len(globex); err != nil || rep.Archived != want || rep.Removed != want || rep.Errors != 0 || e.deleted() != want {
		t.Fatalf("Run = %+v, %v (%d deleted row by row); want all %d archived once and deleted row by row", rep, err, e.deleted(), want)
	}
	if names := partitions(t, conn); slices.Contains(names, sepName) {
		t.Errorf("partitions after the run = %v; want %s dropped once emptied", names, sepName)
	}
	for _, tt := range []struct {
		tenant string
		gone   []*auditkeep.Event
	}{{"acme", acme}, {"globex", globex}} {
		if got := e.updates(tt.tenant); len(got) != 0 {
			t.Errorf("%s still has %d expired events live", tt.tenant, len(got))
		}
		records := purgeRecords(t, e.live(tt.tenant))
		if len(records) != 1 || !slices.Equal(records[0].seqs, ranges(tt.gone)) {
			t.Errorf("%s's purge records = %v; want one listing %v", tt.tenant, records, ranges(tt.gone))
		}
		e.checkArchive(tt.tenant, len(tt.gone))
		e.checkLedger(tt.tenant)
	}
}
