package alert_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert"
	"github.com/auditkeep/auditkeep/internal/pgtest"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/sqlite"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	base  = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
)

type fixture struct {
	t     *testing.T
	store *sqlite.Store
	dir   string
	next  int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir()}
	f.open()
	if err := f.store.CreateTenant(context.Background(), &auditkeep.Tenant{ID: "acme", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) open() {
	s, err := sqlite.Open(context.Background(), f.dir, sqlite.WithLogger(quiet))
	if err != nil {
		f.t.Fatal(err)
	}
	f.store = s
	f.t.Cleanup(func() { s.Close() })
}

func (f *fixture) evaluator(owner string, cfg alert.Config) *alert.Evaluator {
	cfg.Store, cfg.Owner, cfg.Logger = f.store, owner, quiet
	cfg.Poll, cfg.LeaseTTL = 20*time.Millisecond, time.Second
	cfg.Registry = prometheus.NewRegistry()
	ev := alert.New(cfg)
	ev.Open()
	f.t.Cleanup(func() { ev.Close() })
	return ev
}

func (f *fixture) add(ev *alert.Evaluator, evs ...*auditkeep.Event) {
	f.t.Helper()
	for _, e := range evs {
		e.Tenant = "acme"
	}
	if err := f.store.Append(context.Background(), evs); err != nil {
		f.t.Fatal(err)
	}
	if ev != nil {
		ev.NotifyCommit(evs)
	}
}

// logins returns n failed logins of actor, a second apart from at.
func (f *fixture) logins(actor string, at time.Time, n int) []*auditkeep.Event {
	var out []*auditkeep.Event
	for i := range n {
		f.next++
		out = append(out, event(fmt.Sprintf("ev-%d", f.next), at.Add(time.Duration(i)*time.Second), "user.login", auditkeep.StatusFailure, actor))
	}
	return out
}

func (f *fixture) createRule(r *auditkeep.AlertRule) {
	f.t.Helper()
	if _, err := alert.Compile(r); err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.CreateAlertRule(context.Background(), r); err != nil {
		f.t.Fatal(err)
	}
}

func failedLogins() *auditkeep.AlertRule {
	return &auditkeep.AlertRule{ID: "alr_fl", Tenant: "acme", Name: "Failed logins", Match: "action:user.login status:failure",
		GroupBy: []string{"actor"}, Threshold: 5, Window: auditkeep.Duration(10 * time.Minute), SuppressFor: auditkeep.Duration(30 * time.Minute),
		Severity: auditkeep.SeverityHigh, Enabled: true, CreatedAt: base, UpdatedAt: base, Version: 1,
		Channels: []auditkeep.AlertChannel{{Type: auditkeep.ChannelWebhook, URL: "https://siem.example.com/hook"}}}
}

func (f *fixture) alerts() []*auditkeep.Alert {
	f.t.Helper()
	list, _, err := f.store.ListAlerts(context.Background(), "acme", auditkeep.AlertFilter{Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	return list
}

// waitCursor waits until the tenant's evaluator has committed up to seq.
func (f *fixture) waitCursor(seq int64) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, st, err := f.store.LeaseAlertEvaluator(context.Background(), "acme", "observer", time.Nanosecond)
		if err != nil {
			f.t.Fatal(err)
		}
		if st.Cursor >= seq {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("the evaluator did not reach seq %d", seq)
}

func lastSeq(evs []*auditkeep.Event) int64 { return evs[len(evs)-1].Seq }

func TestEvaluatorRaisesExtendsAndSuppresses(t *testing.T) {
	f := newFixture(t)
	f.createRule(failedLogins())
	var raised []*auditkeep.Alert
	ev := f.evaluator("node-a", alert.Config{Raised: func(_ context.Context, a *auditkeep.Alert) { raised = append(raised, a) }})

	// Four: nothing. The fifth within 10 minutes: one alert.
	four := f.logins("u_1", base, 4)
	f.add(ev, four...)
	f.waitCursor(lastSeq(four))
	if got := f.alerts(); len(got) != 0 {
		t.Fatalf("after 4 failed logins: %d alerts; want 0", len(got))
	}
	fifth := f.logins("u_1", base.Add(5*time.Minute), 1)
	other := f.logins("u_2", base.Add(5*time.Minute), 3) // another actor: its own group
	f.add(ev, append(fifth, other...)...)
	f.waitCursor(lastSeq(other))
	got := f.alerts()
	if len(got) != 1 {
		t.Fatalf("after the 5th failed login: %d alerts; want 1", len(got))
	}
	a := got[0]
	if a.RuleID != "alr_fl" || a.Count != 5 || a.GroupKey["actor"] != "u_1" || a.State != auditkeep.AlertOpen ||
		!a.FirstEventAt.Equal(base) || !a.LastEventAt.Equal(base.Add(5*time.Minute)) || len(a.EventIDs) != 5 ||
		a.FirstSeq != four[0].Seq || a.LastSeq != fifth[0].Seq {
		t.Errorf("alert = %+v", a)
	}
	// More of u_1 within suppress_for extend it instead of raising.
	more := f.logins("u_1", base.Add(20*time.Minute), 6)
	f.add(ev, more...)
	f.waitCursor(lastSeq(more))
	got = f.alerts()
	if len(got) != 1 || got[0].Count != 11 || !got[0].LastEventAt.Equal(more[5].OccurredAt) || got[0].LastSeq != lastSeq(more) {
		t.Fatalf("after 6 more within suppress_for: %d alerts, first %+v; want 1 with count 11", len(got), got[0])
	}
	// Once resolved, the next five raise a new alert.
	if _, err := f.store.SetAlertState(context.Background(), "acme", a.ID, auditkeep.AlertResolved, "alice", base); err != nil {
		t.Fatal(err)
	}
	again := f.logins("u_1", base.Add(25*time.Minute), 5)
	f.add(ev, again...)
	f.waitCursor(lastSeq(again))
	if got = f.alerts(); len(got) != 2 || got[0].Count != 5 || got[0].State != auditkeep.AlertOpen {
		t.Fatalf("after resolving and 5 more: %d alerts; want 2, the newest open with count 5", len(got))
	}
	if len(raised) != 2 {
		t.Errorf("Raised called %d times; want 2", len(raised))
	}
	// Each raised alert has its notification, one per channel.
	due, err := f.store.DueNotifications(context.Background(), "n", time.Now(), time.Minute, 10)
	if err != nil || len(due) != 2 {
		t.Errorf("DueNotifications = %d, %v; want 2", len(due), err)
	}
}

func TestEvaluatorWindowIsSliding(t *testing.T) {
	f := newFixture(t)
	f.createRule(failedLogins())
	ev := f.evaluator("node-a", alert.Config{})
	// Five failed logins spread over 40 minutes, never 5 within 10: nothing.
	var evs []*auditkeep.Event
	for i := range 5 {
		evs = append(evs, f.logins("u_1", base.Add(time.Duration(i)*9*time.Minute), 1)...)
	}
	f.add(ev, evs...)
	f.waitCursor(lastSeq(evs))
	if got := f.alerts(); len(got) != 0 {
		t.Fatalf("5 logins 9 minutes apart: %d alerts; want 0", len(got))
	}
	// A late event (by occurred_at) completing an earlier window counts.
	late := f.logins("u_1", base.Add(30*time.Minute), 3)
	f.add(ev, late...)
	f.waitCursor(lastSeq(late))
	if got := f.alerts(); len(got) != 1 || got[0].Count != 5 {
		t.Fatalf("after 3 late logins around 27-36 minutes: %d alerts; want 1 with 5 events", len(got))
	}
}

func TestEvaluatorRebuildsWindowsOnRestart(t *testing.T) {
	f := newFixture(t)
	f.createRule(failedLogins())
	ev := f.evaluator("node-a", alert.Config{})
	four := f.logins("u_1", base, 4)
	f.add(ev, four...)
	f.waitCursor(lastSeq(four))
	ev.Close()

	// A new evaluator (another node) rebuilds the 4 from the log: the 5th raises.
	ev2 := f.evaluator("node-b", alert.Config{})
	fifth := f.logins("u_1", base.Add(time.Minute), 1)
	f.add(ev2, fifth...)
	f.waitCursor(lastSeq(fifth))
	got := f.alerts()
	if len(got) != 1 || got[0].Count != 5 {
		t.Fatalf("after restart and a 5th login: %d alerts; want 1 of 5", len(got))
	}
	ev2.Close()
	// And a third start neither raises it again nor counts its events again.
	ev3 := f.evaluator("node-c", alert.Config{})
	one := f.logins("u_9", base.Add(2*time.Minute), 1)
	f.add(ev3, one...)
	f.waitCursor(lastSeq(one))
	if got := f.alerts(); len(got) != 1 || got[0].Count != 5 {
		t.Fatalf("after a second restart: %d alerts (first count %d); want the same 1 of 5", len(got), got[0].Count)
	}
}

func TestEvaluatorRuleErrorGoesOn(t *testing.T) {
	f := newFixture(t)
	r := failedLogins()
	r.ID, r.Threshold, r.GroupBy, r.SuppressFor = "alr_bad", 1, nil, 0
	r.Condition = `event.metadata.depth > 3` // no metadata on these events: fails on each
	f.createRule(r)
	good := failedLogins()
	good.Threshold, good.SuppressFor = 1, 0
	f.createRule(good)
	ev := f.evaluator("node-a", alert.Config{})
	evs := f.logins("u_1", base, 2)
	f.add(ev, evs...)
	f.waitCursor(lastSeq(evs))
	got := f.alerts()
	if len(got) != 2 {
		t.Fatalf("alerts = %d; want 2 from the good rule", len(got))
	}
	for _, a := range got {
		if a.RuleID != "alr_fl" {
			t.Errorf("alert of rule %s; want only alr_fl's", a.RuleID)
		}
	}
}

func TestEvaluatorDefaults(t *testing.T) {
	f := newFixture(t)
	ev := f.evaluator("node-a", alert.Config{Defaults: true})
	evs := f.logins("u_1", base, 5)
	f.add(ev, evs...)
	f.waitCursor(lastSeq(evs))
	rules, err := f.store.ListAlertRules(context.Background(), "acme")
	if err != nil || len(rules) != 4 {
		t.Fatalf("rules after the first events = %d, %v; want the 4 defaults", len(rules), err)
	}
	// The defaults are created before the first events are evaluated.
	if got := f.alerts(); len(got) != 1 || got[0].RuleID != "alr_default_failed_logins" {
		t.Fatalf("alerts = %+v; want one of the failed_logins default", got)
	}
}

func TestBacktest(t *testing.T) {
	f := newFixture(t)
	var evs []*auditkeep.Event
	for burst := range 3 {
		evs = append(evs, f.logins(fmt.Sprintf("u_%d", burst), base.Add(time.Duration(burst)*time.Hour), 6)...)
	}
	evs = append(evs, f.logins("u_quiet", base, 4)...)
	f.add(nil, evs...)
	r := failedLogins()
	res, err := alert.Backtest(context.Background(), f.store, "acme", r, base.Add(-time.Minute), base.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if res.Alerts != 3 || len(res.Examples) != 3 || res.Events != 22 {
		t.Fatalf("Backtest = %d alerts, %d examples, %d events; want 3, 3, 22", res.Alerts, len(res.Examples), res.Events)
	}
	if a := res.Examples[0]; a.GroupKey["actor"] != "u_0" || a.Count != 6 {
		t.Errorf("first example = %+v; want u_0's with 6 (the 6th extends it)", a)
	}
	// A narrower span sees less; nothing was stored.
	res, _ = alert.Backtest(context.Background(), f.store, "acme", r, base.Add(30*time.Minute), base.Add(3*time.Hour))
	if res.Alerts != 2 {
		t.Errorf("Backtest from 30m = %d alerts; want 2", res.Alerts)
	}
	if got := f.alerts(); len(got) != 0 {
		t.Errorf("a backtest stored %d alerts", len(got))
	}
	bad := failedLogins()
	bad.Condition = "event.("
	if _, err := alert.Backtest(context.Background(), f.store, "acme", bad, base, base.Add(time.Hour)); auditkeep.ErrorField(err) != "condition" {
		t.Errorf("Backtest(bad condition) = %v; want invalid condition", err)
	}
}

// TestTwoEvaluatorsOneTenant runs two nodes' evaluators on one PostgreSQL
// database: the lease makes one evaluate the tenant, and every burst
// raises exactly one alert however the lease moves (one node is stopped
// half way).
func TestTwoEvaluatorsOneTenant(t *testing.T) {
	url := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("AUDITKEEP_TEST_DATABASE_URL is not set")
	}
	ctx := context.Background()
	schema := pgtest.Schema(t, url)
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, schema, postgres.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open() // two nodes' connections
	if err := a.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	r := failedLogins()
	if err := a.CreateAlertRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	start := func(s *postgres.Store, owner string) *alert.Evaluator {
		ev := alert.New(alert.Config{Store: s, Owner: owner, Logger: quiet, Poll: 20 * time.Millisecond, LeaseTTL: 500 * time.Millisecond,
			Registry: prometheus.NewRegistry()})
		ev.Open()
		t.Cleanup(func() { ev.Close() })
		return ev
	}
	evA, evB := start(a, "node-a"), start(b, "node-b")
	f := &fixture{t: t}
	var last int64
	for i := range 20 {
		evs := f.logins(fmt.Sprintf("u_%d", i), base.Add(time.Duration(i)*time.Hour), 5)
		for _, e := range evs {
			e.Tenant = "acme"
		}
		if err := a.Append(ctx, evs); err != nil {
			t.Fatal(err)
		}
		evA.NotifyCommit(evs)
		evB.NotifyCommit(evs)
		last = lastSeq(evs)
		if i == 10 {
			evA.Close() // node-a stops; node-b takes over
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, st, err := a.LeaseAlertEvaluator(ctx, "acme", "observer", time.Nanosecond)
		if err != nil {
			t.Fatal(err)
		}
		if st.Cursor >= last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("evaluation stayed at %d of %d", st.Cursor, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
	list, _, err := a.ListAlerts(ctx, "acme", auditkeep.AlertFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, al := range list {
		per[al.GroupKey["actor"]]++
		if al.Count != 5 {
			t.Errorf("alert of %s has count %d; want 5", al.GroupKey["actor"], al.Count)
		}
	}
	for i := range 20 {
		if n := per[fmt.Sprintf("u_%d", i)]; n != 1 {
			t.Errorf("u_%d: %d alerts; want 1", i, n)
		}
	}
}
