package retention_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/auditkeep/auditkeep/internal/pgtest"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/retention"
	"github.com/auditkeep/auditkeep/internal/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gocloud.dev/blob/memblob"
)

// store is what the tests need of a store.
type store interface {
	auditkeep.Store
	retention.Store
	retention.Guarded
}

// capable sets cfg's Locker and Partitions to its store's, when the store
// has them, as the server sets the PostgreSQL store's.
func capable(cfg retention.Config) retention.Config {
	cfg.Locker, _ = cfg.Store.(auditkeep.RetentionLocker)
	cfg.Partitions, _ = cfg.Store.(auditkeep.PartitionStore)
	return cfg
}

// backend is one store with its ledger storage.
type backend struct {
	name string
	open func(t testing.TB) (store, ledgerStorage)
}

type ledgerStorage interface {
	ledger.Storage
	ledger.Events
}

var quiet = slog.New(slog.DiscardHandler)

func backends(t testing.TB) []backend {
	bs := []backend{{"sqlite", func(t testing.TB) (store, ledgerStorage) {
		s, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, sqlite.NewLedger(s)
	}}}
	if u := os.Getenv("AUDITKEEP_TEST_DATABASE_URL"); u != "" {
		bs = append(bs, backend{"postgres", func(t testing.TB) (store, ledgerStorage) {
			s, err := postgres.Open(context.Background(), pgtest.Schema(t, u), postgres.WithLogger(quiet), postgres.WithPartitionsAhead(0))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, postgres.NewLedger(s)
		}})
	} else {
		t.Log("PostgreSQL skipped: set AUDITKEEP_TEST_DATABASE_URL=postgres://... to run these tests on it too")
	}
	return bs
}

// clock is a controllable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is one test's world: a store, its ledger, an archive, an ingest
// service and the retention service, on a controllable clock.
type env struct {
	t        testing.TB
	ctx      context.Context
	s        store
	tree     ledgerStorage
	integ    *ledger.Integrator
	verifier string
	arch     *archive.Archive
	ingest   *ingest.Service
	ret      *retention.Service
	reg      *prometheus.Registry
	clock    *clock

	// recordErr, when set, is what the retention service's recorder
	// returns instead of ingesting the event.
	recordErr error
	// noIntegration keeps the recorder from integrating what it records.
	noIntegration bool
}

var now0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newEnv(t testing.TB, b backend, arch *archive.Archive) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, ctx: ctx, clock: &clock{now: now0}, reg: prometheus.NewRegistry()}
	e.s, e.tree = b.open(t)
	skey, vkey, err := ledger.GenerateKey("auditkeep-test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	e.verifier = vkey
	e.integ = ledger.NewIntegrator(ledger.IntegratorConfig{Storage: e.tree, Events: e.tree, Signer: signer, Logger: quiet})
	if arch == nil {
		u, err := archive.DirURL(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if arch, err = archive.Open(ctx, u, quiet); err != nil {
			t.Fatal(err)
		}
	}
	e.arch = arch
	c := ingest.NewCommitter(e.s)
	c.Open()
	t.Cleanup(func() { c.Close() })
	e.ingest = ingest.NewService(c)
	e.ingest.Now = e.clock.Now
	e.ret = retention.New(capable(retention.Config{
		Store: e.s, Archive: arch, Tree: e.tree, Now: e.clock.Now, Logger: quiet, Registry: e.reg,
		BatchSize: 40, Pause: time.Millisecond,
		Recorder: e.record,
		Appender: func(ctx context.Context, events []*auditkeep.Event) error {
			_, err := e.ingest.Store(ctx, events)
			return err
		},
	}))
	e.ingest.Steps = []ingest.Step{e.ret.Step}
	return e
}

// record is the retention service's recorder: it ingests the event and
// integrates it, as the server's integrator would, or fails with
// e.recordErr. With e.noIntegration it leaves the event unintegrated.
func (e *env) record(ctx context.Context, tenant string, body []byte) error {
	if e.recordErr != nil {
		return e.recordErr
	}
	if _, err := e.ingest.Ingest(ctx, tenant, body); err != nil {
		return err
	}
	if e.noIntegration {
		return nil
	}
	_, err := e.integ.Integrate(ctx, tenant)
	return err
}

func (e *env) tenant(id string, days int) {
	e.t.Helper()
	if err := e.s.CreateTenant(e.ctx, &auditkeep.Tenant{ID: id, RetentionDays: days, CreatedAt: now0}); err != nil {
		e.t.Fatal(err)
	}
}

// fill appends n events to tenant, one every 12 hours back from now0:
// event i occurred i×12h ago (the oldest first). Every third is in
// project prj_1. They are integrated into the ledger.
func (e *env) fill(tenant string, n int) []*auditkeep.Event {
	e.t.Helper()
	var events []*auditkeep.Event
	for i := n; i >= 1; i-- {
		ev := &auditkeep.Event{
			Tenant: tenant, ID: fmt.Sprintf("%s-%03d", tenant, i), ReceivedAt: now0.Add(-time.Duration(i) * time.Minute),
			OccurredAt: now0.Add(-time.Duration(i) * 12 * time.Hour).Add(time.Duration(i) * 1237 * time.Nanosecond),
			Action:     "environment.update", Type: auditkeep.TypeUpdate, Status: auditkeep.StatusSuccess,
			Actor:       auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_42", Name: "Alice Martin", Email: "alice@example.com"},
			Target:      &auditkeep.Target{Type: "environment", ID: "env_7", Name: "production"},
			Description: fmt.Sprintf("Updated environment 'production' (%d)", i),
			Metadata:    json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
		}
		if i%3 == 0 {
			ev.Scope = []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1", Name: "Shop"}, {Type: "environment", ID: "env_7"}}
		} else {
			ev.Scope = []auditkeep.ScopeEntry{{Type: "project", ID: "prj_2", Name: "Billing"}}
		}
		events = append(events, ev)
	}
	if err := e.s.Append(e.ctx, events); err != nil {
		e.t.Fatal(err)
	}
	e.integrate(tenant)
	return events
}

func (e *env) integrate(tenant string) {
	e.t.Helper()
	if _, err := e.integ.Integrate(e.ctx, tenant); err != nil {
		e.t.Fatalf("Integrate(%s) = %v", tenant, err)
	}
}

// live returns every event of tenant in the raw store, oldest seq first.
func (e *env) live(tenant string) []*auditkeep.Event {
	e.t.Helper()
	var out []*auditkeep.Event
	if err := e.s.ScanEvents(e.ctx, tenant, auditkeep.Filter{Order: auditkeep.OrderAsc}, func(ev *auditkeep.Event) error {
		out = append(out, ev)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func expired(events []*auditkeep.Event, cut time.Time, keep func(*auditkeep.Event) bool) (out []*auditkeep.Event) {
	for _, ev := range events {
		if ev.OccurredAt.Before(cut) && (keep == nil || !keep(ev)) {
			out = append(out, ev)
		}
	}
	return out
}

func seqSet(events []*auditkeep.Event) map[int64]bool {
	m := map[int64]bool{}
	for _, ev := range events {
		m[ev.Seq] = true
	}
	return m
}

func TestArchiveVerifyPurge(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, nil)
			e.tenant("acme", 30)
			e.tenant("forever", 0)
			all := e.fill("acme", 100) // 50 days of events
			e.fill("forever", 10)
			cut := now0.Add(-30 * 24 * time.Hour)
			due := expired(all, cut, nil)
			if len(due) < 30 || len(due) == len(all) {
				t.Fatalf("fixture: %d of %d events expired; want some, not all", len(due), len(all))
			}

			// Before the job runs, reads through the guard hide expired events.
			g := e.ret.Guard(e.s)
			page, _, err := g.ListEvents(e.ctx, "acme", auditkeep.Filter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if want := len(all) - len(due); len(page) != want {
				t.Errorf("guarded ListEvents = %d events; want the %d within retention", len(page), want)
			}
			for _, ev := range page {
				if ev.OccurredAt.Before(cut) {
					t.Errorf("guarded ListEvents returned expired event %s", ev.ID)
				}
			}
			if _, err := g.GetEvent(e.ctx, "acme", due[0].ID); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
				t.Errorf("guarded GetEvent(expired) = %v; want %s", err, auditkeep.ENOTFOUND)
			}
			if _, err := g.GetEvent(e.ctx, "acme", all[len(all)-1].ID); err != nil {
				t.Errorf("guarded GetEvent(recent) = %v", err)
			}

			rep, err := e.ret.Run(e.ctx)
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			if rep.Archived != len(due) || rep.Removed != len(due) || rep.Errors != 0 {
				t.Errorf("Run = %+v; want %d archived and removed, no error", rep, len(due))
			}

			// Gone from the live store; the rest keep their seqs.
			left := e.live("acme")
			gone := seqSet(due)
			for _, ev := range left {
				if gone[ev.Seq] {
					t.Errorf("expired event seq %d is still in the live store", ev.Seq)
				}
			}
			kept := 0
			for _, ev := range left {
				if ev.Action == "environment.update" {
					kept++
				}
			}
			if kept != len(all)-len(due) {
				t.Errorf("%d events left; want %d", kept, len(all)-len(due))
			}
			if got := len(e.live("forever")); got != 10 {
				t.Errorf("unlimited tenant has %d events after the run; want 10", got)
			}

			// The purge is in acme's own log.
			var purge *auditkeep.Event
			for _, ev := range left {
				if ev.Action == "retention.purge" {
					purge = ev
				}
			}
			if purge == nil || purge.Actor.Type != auditkeep.ActorSystem || !strings.Contains(string(purge.Metadata), fmt.Sprintf(`"archived":%d`, len(due))) {
				t.Errorf("retention.purge event = %+v; want a system event with the counts", purge)
			}

			// Archived in segments per day, each verifiable against the signed checkpoint.
			ms, err := e.arch.List(e.ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			count := 0
			for _, m := range ms {
				count += m.Count
				r, err := e.arch.OpenSegment(e.ctx, m)
				if err != nil {
					t.Fatal(err)
				}
				v, err := archive.Verify(r, m, e.verifier)
				r.Close()
				if err != nil || !v.OK {
					t.Errorf("Verify(%s) = %v, %v; want ok", m.Name, v, err)
				}
				if !strings.HasPrefix(m.Key(), "acme/2026/") {
					t.Errorf("segment key %q; want acme/<yyyy>/<mm>/<dd>/...", m.Key())
				}
			}
			if count != len(due) || len(ms) < 10 {
				t.Errorf("archive holds %d events in %d segments; want %d in one per day", count, len(ms), len(due))
			}

			// Nothing more to do: a second run archives nothing.
			if rep, err := e.ret.Run(e.ctx); err != nil || rep.Archived != 0 {
				t.Errorf("second Run = %+v, %v; want nothing archived", rep, err)
			}

			// A day later, one more day of events is due.
			e.clock.Add(24 * time.Hour)
			e.integrate("acme")
			rep, err = e.ret.Run(e.ctx)
			if err != nil || rep.Archived != 2 {
				t.Errorf("Run a day later = %+v, %v; want the 2 events of one more day", rep, err)
			}
		})
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	b := backends(t)[0]
	e := newEnv(t, b, nil)
	e.tenant("acme", 30)
	e.fill("acme", 70)
	if _, err := e.ret.Run(e.ctx); err != nil {
		t.Fatal(err)
	}
	ms, err := e.arch.List(e.ctx, "acme")
	if err != nil || len(ms) == 0 {
		t.Fatalf("List = %v, %v", ms, err)
	}
	m := ms[0]
	for _, x := range ms {
		if x.Count >= 2 {
			m = x
			break
		}
	}
	r, _ := e.arch.OpenSegment(e.ctx, m)
	data, _ := io.ReadAll(r)
	r.Close()
	var events []*auditkeep.Event
	archive.DecodeSegment(bytes.NewReader(data), func(ev *auditkeep.Event) error { events = append(events, ev); return nil })
	if len(events) < 2 {
		t.Fatalf("segment %s has %d events; want 2", m.Name, len(events))
	}

	// reencode writes events as a segment and fixes the manifest's size and
	// hash, so that only the ledger proof can tell.
	reencode := func(evs []*auditkeep.Event, mm archive.Manifest) ([]byte, *archive.Manifest) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		enc := json.NewEncoder(zw)
		enc.SetEscapeHTML(false)
		for _, ev := range evs {
			enc.Encode(ev)
		}
		zw.Close()
		sum := sha256Hex(buf.Bytes())
		mm.Bytes, mm.SHA256, mm.Count = int64(buf.Len()), sum, len(evs)
		return buf.Bytes(), &mm
	}
	altered := *events[1]
	altered.Description = "nothing happened"
	tests := []struct {
		name    string
		data    []byte
		m       *archive.Manifest
		wantSeq int64
	}{
		{"bytes changed", append(append([]byte{}, data[:len(data)-1]...), data[len(data)-1]^1), m, 0},
	}
	d, mm := reencode([]*auditkeep.Event{events[0], &altered}, *m)
	tests = append(tests, struct {
		name    string
		data    []byte
		m       *archive.Manifest
		wantSeq int64
	}{"event altered", d, mm, events[1].Seq})
	d, mm = reencode(events[1:], *m)
	mm.Count = len(events) // the manifest says what it said
	tests = append(tests, struct {
		name    string
		data    []byte
		m       *archive.Manifest
		wantSeq int64
	}{"event removed", d, mm, 0})
	forged := *m
	p := *m.Proof
	p.Leaves = append([]string{strings.Repeat("00", 32)}, p.Leaves[1:]...)
	forged.Proof = &p
	tests = append(tests, struct {
		name    string
		data    []byte
		m       *archive.Manifest
		wantSeq int64
	}{"leaf forged", data, &forged, 0})

	for _, tt := range tests {
		v, err := archive.Verify(bytes.NewReader(tt.data), tt.m, e.verifier)
		if err != nil {
			t.Errorf("%s: Verify error = %v", tt.name, err)
			continue
		}
		if v.OK || v.BadSeq != tt.wantSeq {
			t.Errorf("%s: Verify = %v; want failure at seq %d", tt.name, v, tt.wantSeq)
		}
	}
	_, other, _ := ledger.GenerateKey("other")
	if _, err := archive.Verify(bytes.NewReader(data), m, other); err == nil {
		t.Errorf("Verify with another key = nil error; want the signature refused")
	}
}

func TestHoldStopsPurge(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, nil)
			e.tenant("acme", 30)
			all := e.fill("acme", 100)
			cut := now0.Add(-30 * 24 * time.Hour)
			admin := auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: "key_1", Name: "admin"}

			whole, err := e.ret.CreateHold(e.ctx, "acme", "", "litigation 2026-17", admin)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := e.ret.Run(e.ctx)
			if err != nil || rep.Removed != 0 || rep.Archived != 0 {
				t.Errorf("Run under a whole-tenant hold = %+v, %v; want nothing archived or removed", rep, err)
			}
			st, _ := e.ret.TenantStatus(e.ctx, "acme")
			if len(st.Status.HeldBy) != 1 || st.Status.HeldBy[0] != whole.ID {
				t.Errorf("status held_by = %v; want [%s]", st.Status.HeldBy, whole.ID)
			}
			// While held, reads show the held events past retention.
			page, _, _ := e.ret.Guard(e.s).ListEvents(e.ctx, "acme", auditkeep.Filter{Limit: 1000, Terms: []auditkeep.Term{{Field: auditkeep.FieldAction, Values: []string{"environment.update"}}}})
			if len(page) != len(all) {
				t.Errorf("guarded read under a hold shows %d events; want all %d", len(page), len(all))
			}

			if err := e.ret.DeleteHold(e.ctx, "acme", whole.ID, admin); err != nil {
				t.Fatal(err)
			}
			if _, err := e.ret.CreateHold(e.ctx, "acme", "project:prj_1", "case 42", admin); err != nil {
				t.Fatal(err)
			}
			inPrj1 := func(ev *auditkeep.Event) bool {
				return strings.HasPrefix(auditkeep.ScopePath(ev.Scope), "project:prj_1/")
			}
			due := expired(all, cut, inPrj1)
			rep, err = e.ret.Run(e.ctx)
			if err != nil || rep.Removed != len(due) {
				t.Errorf("Run under a project hold = %+v, %v; want %d removed (prj_1 kept)", rep, err, len(due))
			}
			live := seqSet(e.live("acme"))
			for _, ev := range expired(all, cut, nil) {
				if inPrj1(ev) != live[ev.Seq] {
					t.Errorf("expired event seq %d (held %v) live = %v", ev.Seq, inPrj1(ev), live[ev.Seq])
				}
			}
			// The holds are in the tenant's log.
			var actions []string
			for _, ev := range e.live("acme") {
				if strings.HasPrefix(ev.Action, "hold.") {
					actions = append(actions, ev.Action)
				}
			}
			if strings.Join(actions, ",") != "hold.create,hold.delete,hold.create" {
				t.Errorf("hold events in the log = %v; want hold.create, hold.delete, hold.create", actions)
			}
		})
	}
}

func TestFailingArchiveKeepsEvents(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			bucket := memblob.OpenBucket(nil)
			bucket.Close() // every write fails
			e := newEnv(t, b, archive.NewWithBucket(bucket, quiet))
			e.tenant("acme", 30)
			all := e.fill("acme", 100)
			rep, err := e.ret.Run(e.ctx)
			if err != nil || rep.Errors != 1 || rep.Removed != 0 {
				t.Errorf("Run with a failing archive = %+v, %v; want 1 tenant failed, nothing removed", rep, err)
			}
			if got := len(e.live("acme")); got != len(all) {
				t.Errorf("%d events live after a failed archive; want all %d", got, len(all))
			}
			if n := testutil.ToFloat64(counter(t, e.reg, "auditkeep_retention_errors_total")); n != 1 {
				t.Errorf("auditkeep_retention_errors_total = %v; want 1", n)
			}
			st, err := e.ret.TenantStatus(e.ctx, "acme")
			if err != nil || st.Status.Errors != 1 || !strings.Contains(st.Status.LastError, "archive") || !st.Status.Pending {
				t.Errorf("status = %+v, %v; want the archive error recorded and the purge pending", st.Status, err)
			}

			// The next run, with the archive back, archives and removes them.
			u, _ := archive.DirURL(t.TempDir())
			good, err := archive.Open(e.ctx, u, quiet)
			if err != nil {
				t.Fatal(err)
			}
			e2 := retention.New(capable(retention.Config{Store: e.s, Archive: good, Tree: e.tree, Now: e.clock.Now, Logger: quiet}))
			rep, err = e2.Run(e.ctx)
			if due := expired(all, now0.Add(-30*24*time.Hour), nil); err != nil || rep.Removed != len(due) {
				t.Errorf("Run with the archive back = %+v, %v; want %d removed", rep, err, len(due))
			}
		})
	}
}

func counter(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "copy"})
			c.Add(mf.GetMetric()[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}

func TestNotIntegratedWaits(t *testing.T) {
	e := newEnv(t, backends(t)[0], nil)
	e.tenant("acme", 30)
	old := &auditkeep.Event{Tenant: "acme", ID: "late", ReceivedAt: now0, OccurredAt: now0.Add(-40 * 24 * time.Hour),
		Action: "user.login", Type: auditkeep.TypeLogin, Status: auditkeep.StatusSuccess, Actor: auditkeep.Actor{Type: auditkeep.ActorUser, ID: "u"}}
	if err := e.s.Append(e.ctx, []*auditkeep.Event{old}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.ret.Run(e.ctx)
	if err != nil || rep.Archived != 0 {
		t.Errorf("Run before integration = %+v, %v; want nothing archived (no proof yet)", rep, err)
	}
	if st, _ := e.ret.TenantStatus(e.ctx, "acme"); !st.Status.Pending {
		t.Errorf("status pending = false; want true while expired events wait for the ledger")
	}
	e.integrate("acme")
	if rep, err := e.ret.Run(e.ctx); err != nil || rep.Archived != 1 || rep.Removed != 1 {
		t.Errorf("Run after integration = %+v, %v; want 1 archived and removed", rep, err)
	}
}

func TestLateBackfillRefused(t *testing.T) {
	e := newEnv(t, backends(t)[0], nil)
	e.tenant("acme", 30)
	body := func(days int) string {
		return fmt.Sprintf(`{"occurred_at":%q,"action":"user.login","actor":{"type":"user","id":"u"}}`, now0.Add(-time.Duration(days)*24*time.Hour).Format(time.RFC3339))
	}
	tests := []struct {
		body      string
		wantField string
	}{
		{body(29), ""},
		{body(31), "occurred_at"},
		{`{"events":[` + body(1) + `,` + body(45) + `]}`, "events[1].occurred_at"},
	}
	for _, tt := range tests {
		_, err := e.ingest.Ingest(e.ctx, "acme", []byte(tt.body))
		if got := auditkeep.ErrorField(err); got != tt.wantField || (tt.wantField != "" && auditkeep.ErrorCode(err) != auditkeep.EINVALID) {
			t.Errorf("Ingest(%s) = %v (field %q); want field %q", tt.body, err, got, tt.wantField)
		}
	}
}

func TestRestore(t *testing.T) {
	e := newEnv(t, backends(t)[0], nil)
	e.tenant("acme", 30)
	e.tenant("acme-restore", 0)
	e.tenant("kept", 7)
	e.fill("acme", 70)
	if _, err := e.ret.Run(e.ctx); err != nil {
		t.Fatal(err)
	}
	ms, err := e.ret.Segments(e.ctx, "acme")
	if err != nil || len(ms) == 0 {
		t.Fatalf("Segments = %v, %v", ms, err)
	}
	m := ms[0]
	root := auditkeep.Actor{Type: auditkeep.ActorUser, ID: "root"}
	for _, tt := range []struct{ into, field string }{{"acme", "into_tenant"}, {"kept", "into_tenant"}, {"nobody", "into_tenant"}, {"", "into_tenant"}} {
		if _, err := e.ret.Restore(e.ctx, "acme", m.Name, tt.into, root); auditkeep.ErrorField(err) != tt.field {
			t.Errorf("Restore(into %q) = %v; want EINVALID naming %s", tt.into, err, tt.field)
		}
	}
	if _, err := e.ret.Restore(e.ctx, "acme", "2020-01-01_1-2", "acme-restore", root); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Restore(unknown segment) = %v; want %s", err, auditkeep.ENOTFOUND)
	}
	res, err := e.ret.Restore(e.ctx, "acme", m.Name, "acme-restore", root)
	if err != nil || res.Restored != m.Count {
		t.Fatalf("Restore = %+v, %v; want %d restored", res, err, m.Count)
	}
	got := e.live("acme-restore")
	if len(got) != m.Count || got[0].Seq != 1 || !strings.HasPrefix(got[0].ID, "acme-") {
		t.Errorf("restored tenant holds %d events (first %+v); want %d with their ids, seq from 1", len(got), got[0], m.Count)
	}
	if res, err := e.ret.Restore(e.ctx, "acme", m.Name, "acme-restore", root); err != nil || res.Restored != 0 || res.Duplicates != m.Count {
		t.Errorf("Restore again = %+v, %v; want only duplicates", res, err)
	}
}

func sha256Hex(b []byte) string {
	h := sha256Sum(b)
	return hex.EncodeToString(h[:])
}

// heldLocks is a Locker whose locks another node holds while busy is set.
type heldLocks struct {
	busy  atomic.Bool
	asked atomic.Int64
}

func (l *heldLocks) RetentionLock(ctx context.Context, tenants ...string) (func(), bool, error) {
	l.asked.Add(1)
	if l.busy.Load() {
		return nil, false, nil
	}
	return func() {}, true, nil
}

// TestLockerKeepsNodesApart: with a Locker, a tenant whose lock another
// node holds is left to that node; once the lock is free, the run purges it.
func TestLockerKeepsNodesApart(t *testing.T) {
	e := newEnv(t, backends(t)[0], nil)
	e.tenant("acme", 30)
	all := e.fill("acme", 80) // 40 days of events
	locks := &heldLocks{}
	locks.busy.Store(true)
	ret := retention.New(retention.Config{Store: e.s, Locker: locks, Archive: e.arch, Tree: e.tree, Now: e.clock.Now, Logger: quiet, Recorder: e.record})
	if rep, err := ret.Run(e.ctx); err != nil || rep.Removed != 0 || rep.Archived != 0 {
		t.Errorf("Run while another node holds the lock = %+v, %v; want nothing archived or removed", rep, err)
	}
	if locks.asked.Load() == 0 {
		t.Errorf("Run never asked the Locker for the tenant's lock")
	}
	if got := len(e.live("acme")); got != len(all) {
		t.Errorf("%d events live after a run that did not get the lock; want all %d", got, len(all))
	}
	locks.busy.Store(false)
	due := expired(all, now0.Add(-30*24*time.Hour), nil)
	if len(due) == 0 {
		t.Fatal("fixture: no event expired")
	}
	if rep, err := ret.Run(e.ctx); err != nil || rep.Removed != len(due) {
		t.Errorf("Run with the lock free = %+v, %v; want %d removed", rep, err, len(due))
	}
}
