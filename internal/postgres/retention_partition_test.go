package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/retention"
	"github.com/jackc/pgx/v5"
)

var (
	september = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	november  = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dropNow   = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) // the clock of DropPartition's checks
)

const sepName = "events_p202609"

// partitionFixture is a store with a partition for September 2026 holding
// three events of acme (retention 30 days) that occurred in August and a
// retention.purge record, and a connection to its schema.
type partitionFixture struct {
	t     *testing.T
	ctx   context.Context
	s     *postgres.Store
	conn  *pgx.Conn
	purge *auditkeep.Event
	row   string // the purge record's row, every column, as text
}

func newPartitionFixture(t *testing.T) *partitionFixture {
	t.Helper()
	ctx := context.Background()
	u := newSchema(t)
	f := &partitionFixture{t: t, ctx: ctx, s: open(t, u, postgres.WithPartitionsAhead(0), quiet)}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	f.conn = conn
	if err := f.s.EnsurePartitions(ctx, september, september); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"acme", "globex"} {
		days := 30
		if id == "globex" {
			days = 0
		}
		if err := f.s.CreateTenant(ctx, &auditkeep.Tenant{ID: id, RetentionDays: days}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		f.append("acme", fmt.Sprintf("aug-%d", i), september.AddDate(0, 0, -20+i))
	}
	f.purge = f.append("acme", "purge-1", september.AddDate(0, 0, 5))
	f.purge.Action, f.purge.Type, f.purge.Actor = auditkeep.PurgeAction, auditkeep.TypeDelete, retention.SystemActor
	f.row = f.rowText(f.purge.Seq)
	return f
}

// append stores an event of tenant that occurred at occurred, received on
// September 10th; a purge record when id starts with "purge".
func (f *partitionFixture) append(tenant, id string, occurred time.Time) *auditkeep.Event {
	f.t.Helper()
	e := event(tenant, id, 0)
	e.OccurredAt, e.ReceivedAt = occurred, september.AddDate(0, 0, 9)
	e.Metadata = json.RawMessage(`{"n":1}`)
	if id[:5] == "purge" {
		e.Action, e.Type, e.Actor, e.Target = auditkeep.PurgeAction, auditkeep.TypeDelete, retention.SystemActor, nil
		e.Metadata = json.RawMessage(`{"seqs":[[1,2]],"removed":2}`)
	}
	if err := f.s.Append(f.ctx, []*auditkeep.Event{e}); err != nil {
		f.t.Fatal(err)
	}
	return e
}

// rowText returns acme's row of seq, every column, as text, and the
// partition that holds it.
func (f *partitionFixture) rowText(seq int64) string {
	f.t.Helper()
	var row string
	err := f.conn.QueryRow(f.ctx, `SELECT e::text FROM events e WHERE e.tenant_no = (SELECT no FROM tenants WHERE id = 'acme') AND e.seq = $1`, seq).Scan(&row)
	if err != nil {
		f.t.Fatalf("row of seq %d: %v", seq, err)
	}
	return row
}

func (f *partitionFixture) partitionOf(seq int64) string {
	f.t.Helper()
	var name string
	err := f.conn.QueryRow(f.ctx, `SELECT e.tableoid::regclass::text FROM events e WHERE e.tenant_no = (SELECT no FROM tenants WHERE id = 'acme') AND e.seq = $1`, seq).Scan(&name)
	if err != nil {
		f.t.Fatalf("partition of seq %d: %v", seq, err)
	}
	return name
}

func (f *partitionFixture) partitions() []string {
	f.t.Helper()
	rows, _ := f.conn.Query(f.ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass ORDER BY c.relname`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		f.t.Fatal(err)
	}
	return names
}

// september returns the September partition as Partitions describes it.
func (f *partitionFixture) september() *auditkeep.Partition {
	f.t.Helper()
	ps, err := f.s.Partitions(f.ctx, november)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range ps {
		if p.Name == sepName {
			return p
		}
	}
	f.t.Fatalf("Partitions(before November) = %v; want %s", ps, sepName)
	return nil
}

// checkKept checks that the purge record is stored as it was.
func (f *partitionFixture) checkKept() {
	f.t.Helper()
	if row := f.rowText(f.purge.Seq); row != f.row {
		f.t.Errorf("purge record row = %s; want it unchanged: %s", row, f.row)
	}
	got, err := f.s.GetEvent(f.ctx, "acme", f.purge.ID)
	if err != nil || got.Action != auditkeep.PurgeAction || string(got.Metadata) != `{"seqs":[[1,2]],"removed":2}` {
		f.t.Errorf("GetEvent(purge record) = %+v, %v", got, err)
	}
}

func TestPartitionsAndEvents(t *testing.T) {
	f := newPartitionFixture(t)
	ps, err := f.s.Partitions(f.ctx, november)
	if err != nil {
		t.Fatal(err)
	}
	// The current month's partition (created at Open) is not before November.
	if len(ps) != 1 || ps[0].Name != sepName {
		t.Fatalf("Partitions(before November) = %v; want %s alone", ps, sepName)
	}
	want := []auditkeep.PartitionTenant{{Tenant: "acme", LastSeq: 3, Last: september.AddDate(0, 0, -18)}}
	if got := ps[0].Tenants; !slices.EqualFunc(got, want, func(a, b auditkeep.PartitionTenant) bool {
		return a.Tenant == b.Tenant && a.LastSeq == b.LastSeq && a.Last.Equal(b.Last)
	}) {
		t.Errorf("Partitions()[0].Tenants = %+v; want %+v (the purge record, seq 4, aside)", got, want)
	}
	if ps, err := f.s.Partitions(f.ctx, september.AddDate(0, 1, -1)); err != nil || len(ps) != 0 {
		t.Errorf("Partitions(before September 30th) = %v, %v; want none", ps, err)
	}

	var seqs []int64
	after := int64(0)
	for {
		page, err := f.s.PartitionEvents(f.ctx, sepName, want[0], after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seqs = append(seqs, e.Seq)
			if e.Tenant != "acme" || e.Action == auditkeep.PurgeAction {
				t.Errorf("PartitionEvents returned %+v", e)
			}
		}
		after = page[len(page)-1].Seq
	}
	if !slices.Equal(seqs, []int64{1, 2, 3}) {
		t.Errorf("PartitionEvents in pages of 2 = seqs %v; want 1, 2, 3", seqs)
	}
	if _, err := f.s.PartitionEvents(f.ctx, "events_default", want[0], 0, 10); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("PartitionEvents(events_default) = %v; want %s", err, auditkeep.EINVALID)
	}
}

// TestDropPartition checks what DropPartition re-checks under its locks,
// and that the partition's purge records outlive it unchanged.
func TestDropPartition(t *testing.T) {
	f := newPartitionFixture(t)
	p := f.september()
	refuseAt := func(why string, p *auditkeep.Partition, now time.Time) {
		t.Helper()
		if ok, err := f.s.DropPartition(f.ctx, p, now); ok || err != nil {
			t.Errorf("DropPartition(%s) = %v, %v; want false, nil", why, ok, err)
		}
		if !slices.Contains(f.partitions(), sepName) {
			t.Fatalf("%s: the partition was dropped", why)
		}
	}
	refuse := func(why string, p *auditkeep.Partition) { t.Helper(); refuseAt(why, p, dropNow) }

	hold := &auditkeep.Hold{ID: "hold_1", Tenant: "acme", Scope: "project:prj_9", Reason: "case", CreatedBy: "root", CreatedAt: dropNow}
	if err := f.s.CreateHold(f.ctx, hold); err != nil {
		t.Fatal(err)
	}
	refuse("a hold of another scope", p)
	if err := f.s.DeleteHold(f.ctx, "acme", hold.ID); err != nil {
		t.Fatal(err)
	}

	if err := f.s.UpdateTenant(f.ctx, &auditkeep.Tenant{ID: "acme", RetentionDays: 120}); err != nil {
		t.Fatal(err)
	}
	refuse("a retention raised past the events", p)
	if err := f.s.UpdateTenant(f.ctx, &auditkeep.Tenant{ID: "acme", RetentionDays: 30}); err != nil {
		t.Fatal(err)
	}
	refuseAt("a cutoff before the last event", p, september.AddDate(0, 0, 10))

	late := f.append("acme", "aug-late", september.AddDate(0, 0, -15))
	refuse("an event arrived since the partition was read", p)
	f.append("globex", "unlimited", september.AddDate(0, 0, -15))
	p = f.september()
	if len(p.Tenants) != 2 {
		t.Fatalf("September's tenants = %+v; want acme and globex", p.Tenants)
	}
	refuse("a tenant with unlimited retention", p)
	if n, err := f.s.DeleteEvents(f.ctx, "globex", []int64{1}); n != 1 || err != nil {
		t.Fatalf("DeleteEvents(globex) = %d, %v", n, err)
	}
	refuse("a tenant gone since the partition was read", p)

	p = f.september()
	if len(p.Tenants) != 1 || p.Tenants[0].LastSeq != late.Seq {
		t.Fatalf("September's tenants = %+v; want acme up to seq %d", p.Tenants, late.Seq)
	}
	if ok, err := f.s.DropPartition(f.ctx, p, dropNow); !ok || err != nil {
		t.Fatalf("DropPartition = %v, %v; want it dropped", ok, err)
	}
	if names := f.partitions(); slices.Contains(names, sepName) {
		t.Errorf("partitions = %v; want %s gone", names, sepName)
	}
	f.checkKept()
	// The facets' counts lost the dropped events, and those deleted before.
	if n, err := f.s.FacetCountsDrift(f.ctx); n != 0 || err != nil {
		t.Errorf("after the drop, %d facet counts differ from the events' (%v)", n, err)
	}
	if got := f.partitionOf(f.purge.Seq); got != "events_default" {
		t.Errorf("the purge record is in %s; want events_default", got)
	}
	page, _, err := f.s.ListEvents(f.ctx, "acme", auditkeep.Filter{Limit: 100})
	if err != nil || len(page) != 1 || page[0].ID != f.purge.ID {
		t.Errorf("acme's events after the drop = %v, %v; want the purge record alone", ids(page), err)
	}
	if ok, err := f.s.DropPartition(f.ctx, p, dropNow); ok || err != nil {
		t.Errorf("DropPartition(gone) = %v, %v; want false, nil", ok, err)
	}
}

// TestDropPartitionGivesWay: a transaction reading events keeps the
// partition from being dropped; DropPartition gives up (EUNAVAILABLE)
// rather than hold ingest and reads behind it, and leaves it as it was.
func TestDropPartitionGivesWay(t *testing.T) {
	f := newPartitionFixture(t)
	p := f.september()
	tx, err := f.conn.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(f.ctx)
	var n int
	if err := tx.QueryRow(f.ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.s.DropPartition(f.ctx, p, dropNow); ok || auditkeep.ErrorCode(err) != auditkeep.EUNAVAILABLE {
		t.Errorf("DropPartition while a read holds events = %v, %v; want false, %s", ok, err, auditkeep.EUNAVAILABLE)
	}
	tx.Rollback(f.ctx)
	if !slices.Contains(f.partitions(), sepName) || f.partitionOf(3) != sepName {
		t.Errorf("after giving up: partitions %v; want %s with its events", f.partitions(), sepName)
	}
	f.checkKept()
	if ok, err := f.s.DropPartition(f.ctx, p, dropNow); !ok || err != nil {
		t.Errorf("DropPartition after the read = %v, %v; want it dropped", ok, err)
	}
}

// TestDropEmptyPartitionsKeepsPurgeRecords: a past partition left with
// nothing but purge records is dropped, the records kept.
func TestDropEmptyPartitionsKeepsPurgeRecords(t *testing.T) {
	f := newPartitionFixture(t)
	if dropped, err := f.s.DropEmptyPartitions(f.ctx); err != nil || len(dropped) != 0 {
		t.Errorf("DropEmptyPartitions with events left = %v, %v; want none dropped", dropped, err)
	}
	if n, err := f.s.DeleteEvents(f.ctx, "acme", []int64{1, 2, 3}); n != 3 || err != nil {
		t.Fatalf("DeleteEvents = %d, %v", n, err)
	}
	dropped, err := f.s.DropEmptyPartitions(f.ctx)
	if err != nil || !slices.Equal(dropped, []string{sepName}) {
		t.Errorf("DropEmptyPartitions = %v, %v; want [%s]", dropped, err, sepName)
	}
	if slices.Contains(f.partitions(), sepName) {
		t.Errorf("partitions = %v; want %s gone", f.partitions(), sepName)
	}
	f.checkKept()
}

// TestRetentionLockSeveral: the locks of several tenants are taken all or
// none.
func TestRetentionLockSeveral(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	release, ok, err := s.RetentionLock(ctx, "acme", "globex")
	if err != nil || !ok {
		t.Fatalf("RetentionLock(acme, globex) = %v, %v; want ok", ok, err)
	}
	if _, ok, err := s.RetentionLock(ctx, "initech", "globex"); ok || err != nil {
		t.Errorf("RetentionLock(initech, globex) while globex is held = %v, %v; want false, nil", ok, err)
	}
	r, ok, err := s.RetentionLock(ctx, "initech")
	if err != nil || !ok {
		t.Fatalf("RetentionLock(initech) after a refused attempt = %v, %v; want ok (nothing kept)", ok, err)
	}
	r()
	release()
	release()
	r, ok, err = s.RetentionLock(ctx, "acme", "globex", "initech")
	if err != nil || !ok {
		t.Fatalf("RetentionLock(acme, globex, initech) after release = %v, %v; want ok", ok, err)
	}
	r()
}
