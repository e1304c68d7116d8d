package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/pgtest"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/jackc/pgx/v5"
)

// databaseURL returns the test database's URL, or skips the test.
func databaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
	if u == "" {
		t.Skip("set AUDITKEEP_TEST_DATABASE_URL=postgres://... to run the PostgreSQL tests")
	}
	return u
}

// newSchema creates a fresh schema, dropped when the test ends, and returns
// the URL that makes it the search path.
func newSchema(t testing.TB) string {
	t.Helper()
	return pgtest.Schema(t, databaseURL(t))
}

// open opens a store on url, closed when the test ends.
func open(t testing.TB, url string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newStore opens a store on a fresh schema, with only this month's
// partition (creating partitions is most of the time Open takes).
func newStore(t testing.TB) *postgres.Store {
	t.Helper()
	return open(t, newSchema(t), postgres.WithPartitionsAhead(0), quiet)
}

// quiet drops the store's log.
var quiet = postgres.WithLogger(slog.New(slog.DiscardHandler))

func createTenant(t testing.TB, s *postgres.Store, id string) {
	t.Helper()
	if err := s.CreateTenant(context.Background(), &auditkeep.Tenant{ID: id}); err != nil {
		t.Fatalf("CreateTenant(%q): %v", id, err)
	}
}

var base = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// event returns a valid event; i spaces out its occurred_at.
func event(tenant, id string, i int) *auditkeep.Event {
	return &auditkeep.Event{
		Tenant:     tenant,
		ID:         id,
		OccurredAt: base.Add(time.Duration(i) * time.Minute),
		Action:     "environment.update",
		Type:       auditkeep.TypeUpdate,
		Actor:      auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_42", Name: "Alice Martin", Email: "alice@example.com"},
		Target:     &auditkeep.Target{Type: "environment", ID: "env_7", Name: "production"},
		Status:     auditkeep.StatusSuccess,
	}
}

func ids(events []*auditkeep.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

func seqs(events []*auditkeep.Event) []int64 {
	var out []int64
	for _, e := range events {
		out = append(out, e.Seq)
	}
	return out
}

func TestAppendAssignsSeqsAndSkipsDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")

	first := []*auditkeep.Event{event("acme", "a", 0), event("globex", "x", 0), event("acme", "b", 1), event("acme", "a", 2)}
	if err := s.Append(ctx, first); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if got, want := seqs(first), []int64{1, 1, 2, 0}; !slices.Equal(got, want) {
		t.Errorf("seqs after first Append = %v; want %v", got, want)
	}
	second := []*auditkeep.Event{event("acme", "b", 3), event("acme", "c", 4), event("globex", "y", 5)}
	if err := s.Append(ctx, second); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if got, want := seqs(second), []int64{0, 3, 2}; !slices.Equal(got, want) {
		t.Errorf("seqs after second Append = %v; want %v", got, want)
	}
	got, _, err := s.ListEvents(ctx, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(ids(got), want) {
		t.Errorf("acme ids = %v; want %v", ids(got), want)
	}
	st, err := s.Stats(ctx, "acme")
	if err != nil || st != (auditkeep.TenantStats{Events: 3, LastSeq: 3}) {
		t.Errorf("Stats(acme) = %+v, %v; want {3 3}", st, err)
	}
}

func TestAppendUnknownTenantStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	createTenant(t, s, "acme")
	batch := []*auditkeep.Event{event("acme", "a", 0), event("nobody", "b", 0)}
	err := s.Append(ctx, batch)
	if code := auditkeep.ErrorCode(err); code != auditkeep.ENOTFOUND {
		t.Fatalf("Append with an unknown tenant = %v (%s); want %s", err, code, auditkeep.ENOTFOUND)
	}
	if got := seqs(batch); !slices.Equal(got, []int64{0, 0}) {
		t.Errorf("seqs after a failed Append = %v; want zeros", got)
	}
	st, err := s.Stats(ctx, "acme")
	if err != nil || st.Events != 0 || st.LastSeq != 0 {
		t.Errorf("Stats(acme) = %+v, %v; want nothing stored", st, err)
	}
}

func TestEventRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	createTenant(t, s, "acme")
	e := event("acme", "e1", 0)
	e.OccurredAt = time.Date(2026, 11, 26, 9, 0, 0, 123456789, time.FixedZone("CET", 3600))
	e.ReceivedAt = time.Date(2026, 11, 26, 9, 0, 1, 987654321, time.UTC)
	e.Scope = []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1", Name: "Shop"}}
	e.Context = auditkeep.Context{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"}
	e.Description = "Updated environment 'production'"
	e.Changes = []auditkeep.Change{{Field: "name", Op: auditkeep.ChangeChanged, Old: json.RawMessage(`"prod"`), New: json.RawMessage(`"production"`)}}
	e.Snapshot = json.RawMessage(`{"z":1,"a":{"y":[1,2],"b":"\u00e9"}}`)
	e.Metadata = json.RawMessage(`{"b":2,"a":1}`)
	want, _ := json.Marshal(e)
	if err := s.Append(ctx, []*auditkeep.Event{e}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	want, _ = json.Marshal(e) // now with its seq
	got, err := s.GetEvent(ctx, "acme", "e1")
	if err != nil {
		t.Fatalf("GetEvent: %v", err)
	}
	if b, _ := json.Marshal(got); string(b) != string(want) {
		t.Errorf("GetEvent body = %s; want %s", b, want)
	}
	if _, err := s.GetEvent(ctx, "acme", "nope"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("GetEvent(nope) = %v; want %s", err, auditkeep.ENOTFOUND)
	}
	if _, err := s.GetEvent(ctx, "other", "e1"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("GetEvent of another tenant = %v; want %s", err, auditkeep.ENOTFOUND)
	}
}

func TestDeletedTargets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	createTenant(t, s, "acme")
	before := event("acme", "before", 0)
	other := event("acme", "other", 1)
	other.Target = &auditkeep.Target{Type: "environment", ID: "env_8", Name: "staging"}
	failed := event("acme", "failed", 1)
	failed.Type, failed.Action, failed.Status = auditkeep.TypeDelete, "environment.delete", auditkeep.StatusFailure
	failed.Target = other.Target
	if err := s.Append(ctx, []*auditkeep.Event{before, other, failed}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	del := event("acme", "delete", 2)
	del.Type, del.Action = auditkeep.TypeDelete, "environment.delete"
	after := event("acme", "after", 3)
	again := event("acme", "again", 4) // the same target deleted twice in one batch
	again.Type, again.Action = auditkeep.TypeDelete, "environment.delete"
	if err := s.Append(ctx, []*auditkeep.Event{del, after, again}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	got, _, err := s.ListEvents(ctx, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	// The failed delete of env_8 deleted nothing.
	want := map[string]bool{"before": true, "other": false, "failed": false, "delete": true, "after": true, "again": true}
	for _, e := range got {
		if e.Target.Deleted != want[e.ID] {
			t.Errorf("event %s: Target.Deleted = %v; want %v", e.ID, e.Target.Deleted, want[e.ID])
		}
	}
	e, err := s.GetEvent(ctx, "acme", "before")
	if err != nil || !e.Target.Deleted {
		t.Errorf("GetEvent(before) = %+v, %v; want the target deleted", e, err)
	}
}

// filterEvents are the events TestFilters searches, appended in this order
// (seq 1…).
func filterEvents() []*auditkeep.Event {
	mk := func(id string, i int, f func(e *auditkeep.Event)) *auditkeep.Event {
		e := event("acme", id, i)
		f(e)
		return e
	}
	return []*auditkeep.Event{
		mk("e1", 0, func(e *auditkeep.Event) {
			e.Action, e.Type = "token.create", auditkeep.TypeCreate
			e.Context.IP = "203.0.113.7"
			e.Scope = []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1"}, {Type: "environment", ID: "env_7"}}
			e.Team, e.Source = "platform", "console"
			e.Description = "Created token 'deploy bot' for the production database"
		}),
		mk("e2", 1, func(e *auditkeep.Event) {
			e.Action, e.Type = "token.revoke", auditkeep.TypeDelete
			e.Actor = auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: "tok_9", Name: "CI Bot"}
			e.Context.IP = "198.51.100.20"
			e.Scope = []auditkeep.ScopeEntry{{Type: "project", ID: "prj_10"}}
			e.Status = auditkeep.StatusFailure
			e.Source = "api"
		}),
		mk("e3", 2, func(e *auditkeep.Event) {
			e.Action = "tokens_x.list"
			e.Actor = auditkeep.Actor{Type: auditkeep.ActorSystem, ID: "system"}
			e.Target = nil
			e.Context.IP = "2001:db8::1"
			e.Scope = []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1"}}
			e.Description = "Listed tokens"
		}),
		mk("e4", 3, func(e *auditkeep.Event) {
			e.Action = "environment.update"
			e.Target.Name = "Prod DB"
			e.Team = "data"
			e.Description = "Changed the production database size"
		}),
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	if err := s.Append(ctx, filterEvents()); err != nil {
		t.Fatalf("Append: %v", err)
	}
	// Another tenant's identical events never show.
	other := filterEvents()
	for _, e := range other {
		e.Tenant = "globex"
	}
	if err := s.Append(ctx, other); err != nil {
		t.Fatalf("Append: %v", err)
	}
	term := func(field string, values ...string) auditkeep.Term {
		return auditkeep.Term{Field: field, Values: values}
	}
	not := func(t auditkeep.Term) auditkeep.Term { t.Negate = true; return t }
	text := func(s string) auditkeep.TextTerm { return auditkeep.TextTerm{Text: s} }
	tests := []struct {
		name string
		f    auditkeep.Filter
		want []string
	}{
		{"all", auditkeep.Filter{}, []string{"e4", "e3", "e2", "e1"}},
		{"action exact", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "token.create")}}, []string{"e1"}},
		{"action prefix", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "token.*")}}, []string{"e2", "e1"}},
		{"action prefix without dot", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "token*")}}, []string{"e3", "e2", "e1"}},
		{"action star", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "*")}}, []string{"e4", "e3", "e2", "e1"}},
		{"action or", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "token.revoke", "environment.*")}}, []string{"e4", "e2"}},
		{"action negated", auditkeep.Filter{Terms: []auditkeep.Term{not(term("action", "token.*"))}}, []string{"e4", "e3"}},
		{"type", auditkeep.Filter{Terms: []auditkeep.Term{term("type", "delete")}}, []string{"e2"}},
		{"actor id any case", auditkeep.Filter{Terms: []auditkeep.Term{term("actor", "USR_42")}}, []string{"e4", "e1"}},
		{"actor email", auditkeep.Filter{Terms: []auditkeep.Term{term("actor", "Alice@Example.com")}}, []string{"e4", "e1"}},
		{"actor name", auditkeep.Filter{Terms: []auditkeep.Term{term("actor", "ci bot")}}, []string{"e2"}},
		{"actor type", auditkeep.Filter{Terms: []auditkeep.Term{term("actor_type", "system", "api_token")}}, []string{"e3", "e2"}},
		{"target type", auditkeep.Filter{Terms: []auditkeep.Term{term("target_type", "environment")}}, []string{"e4", "e2", "e1"}},
		{"target type negated keeps events without target", auditkeep.Filter{Terms: []auditkeep.Term{not(term("target_type", "environment"))}}, []string{"e3"}},
		{"target id", auditkeep.Filter{Terms: []auditkeep.Term{term("target_id", "env_7")}}, []string{"e4", "e2", "e1"}},
		{"target name", auditkeep.Filter{Terms: []auditkeep.Term{term("target", "prod db")}}, []string{"e4"}},
		{"scope prefix", auditkeep.Filter{Terms: []auditkeep.Term{term("scope", "project:prj_1")}}, []string{"e3", "e1"}},
		{"scope full", auditkeep.Filter{Terms: []auditkeep.Term{term("scope", "project:prj_1/environment:env_7")}}, []string{"e1"}},
		{"scope other", auditkeep.Filter{Terms: []auditkeep.Term{term("scope", "project:prj_10")}}, []string{"e2"}},
		{"team", auditkeep.Filter{Terms: []auditkeep.Term{term("team", "platform")}}, []string{"e1"}},
		{"team negated keeps events without team", auditkeep.Filter{Terms: []auditkeep.Term{not(term("team", "platform"))}}, []string{"e4", "e3", "e2"}},
		{"ip exact", auditkeep.Filter{Terms: []auditkeep.Term{term("ip", "203.0.113.7")}}, []string{"e1"}},
		{"ip cidr", auditkeep.Filter{Terms: []auditkeep.Term{term("ip", "198.51.100.0/24", "2001:db8::/32")}}, []string{"e3", "e2"}},
		{"ip v4 cidr excludes v6", auditkeep.Filter{Terms: []auditkeep.Term{term("ip", "0.0.0.0/0")}}, []string{"e2", "e1"}},
		{"ip negated keeps events without ip", auditkeep.Filter{Terms: []auditkeep.Term{not(term("ip", "203.0.113.0/24"))}}, []string{"e4", "e3", "e2"}},
		{"source", auditkeep.Filter{Terms: []auditkeep.Term{term("source", "api")}}, []string{"e2"}},
		{"status", auditkeep.Filter{Terms: []auditkeep.Term{term("status", "failure")}}, []string{"e2"}},
		{"terms and-ed", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "token.*"), term("status", "success")}}, []string{"e1"}},
		{"from", auditkeep.Filter{From: base.Add(2 * time.Minute)}, []string{"e4", "e3"}},
		{"to", auditkeep.Filter{To: base.Add(time.Minute)}, []string{"e2", "e1"}},
		{"from to", auditkeep.Filter{From: base.Add(time.Minute), To: base.Add(2 * time.Minute)}, []string{"e3", "e2"}},
		{"from a nanosecond later", auditkeep.Filter{From: base.Add(2*time.Minute + time.Nanosecond)}, []string{"e4"}},
		{"to a nanosecond earlier", auditkeep.Filter{To: base.Add(time.Minute - time.Nanosecond)}, []string{"e1"}},
		{"text word", auditkeep.Filter{Text: []auditkeep.TextTerm{text("Production")}}, []string{"e4", "e2", "e1"}},
		{"text email part", auditkeep.Filter{Text: []auditkeep.TextTerm{text("alice")}}, []string{"e4", "e1"}},
		{"text action", auditkeep.Filter{Text: []auditkeep.TextTerm{text("token.create")}}, []string{"e1"}},
		{"text ip", auditkeep.Filter{Text: []auditkeep.TextTerm{text("203.0.113.7")}}, []string{"e1"}},
		{"text team", auditkeep.Filter{Text: []auditkeep.TextTerm{text("data")}}, []string{"e4"}},
		{"text target name", auditkeep.Filter{Text: []auditkeep.TextTerm{text("staging")}}, nil},
		{"text phrase", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "production database", Phrase: true}}}, []string{"e4", "e1"}},
		{"text phrase order", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "database production", Phrase: true}}}, nil},
		{"text prefix", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "tok", Prefix: true}}}, []string{"e3", "e2", "e1"}},
		{"text phrase prefix", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "deploy b", Phrase: true, Prefix: true}}}, []string{"e1"}},
		{"text negated", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "production", Negate: true}}}, []string{"e3"}},
		{"text and-ed", auditkeep.Filter{Text: []auditkeep.TextTerm{text("production"), text("size")}}, []string{"e4"}},
		{"text quote is a separator", auditkeep.Filter{Text: []auditkeep.TextTerm{text("'deploy")}}, []string{"e1"}},
		{"text no words", auditkeep.Filter{Text: []auditkeep.TextTerm{text("...")}}, []string{"e4", "e3", "e2", "e1"}},
		{"asc", auditkeep.Filter{Order: auditkeep.OrderAsc, Limit: 2}, []string{"e1", "e2"}},
	}
	for _, tt := range tests {
		got, _, err := s.ListEvents(ctx, "acme", tt.f)
		if err != nil {
			t.Errorf("%s: ListEvents(%+v): %v", tt.name, tt.f, err)
			continue
		}
		if !slices.Equal(ids(got), tt.want) {
			t.Errorf("%s: ListEvents(%+v) = %v; want %v", tt.name, tt.f, ids(got), tt.want)
		}
	}
}

func TestListEventsInvalidFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	createTenant(t, s, "acme")
	tests := []auditkeep.Filter{
		{Terms: []auditkeep.Term{{Field: "colour", Values: []string{"red"}}}},
		{Terms: []auditkeep.Term{{Field: "ip", Values: []string{"not-an-ip"}}}},
		{Order: auditkeep.OrderAsc, Cursor: &auditkeep.Cursor{Seq: 3, Order: auditkeep.OrderDesc}},
	}
	for _, f := range tests {
		if _, _, err := s.ListEvents(ctx, "acme", f); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
			t.Errorf("ListEvents(%+v) = %v; want %s", f, err, auditkeep.EINVALID)
		}
	}
}

func TestPagingAndScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	createTenant(t, s, "acme")
	var batch []*auditkeep.Event
	for i := range 1203 {
		batch = append(batch, event("acme", fmt.Sprintf("e%04d", i), i))
	}
	if err := s.Append(ctx, batch); err != nil {
		t.Fatalf("Append: %v", err)
	}
	for _, order := range []string{auditkeep.OrderAsc, auditkeep.OrderDesc} {
		f := auditkeep.Filter{Order: order, Limit: 100}
		var all []int64
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("order %s: paging does not end", order)
			}
			page, next, err := s.ListEvents(ctx, "acme", f)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			all = append(all, seqs(page)...)
			if next == nil {
				break
			}
			f.Cursor = next
		}
		var scanned []int64
		err := s.ScanEvents(ctx, "acme", auditkeep.Filter{Order: order, Limit: 7}, func(e *auditkeep.Event) error {
			scanned = append(scanned, e.Seq)
			return nil
		})
		if err != nil {
			t.Fatalf("ScanEvents: %v", err)
		}
		want := make([]int64, 1203)
		for i := range want {
			want[i] = int64(i + 1)
			if order == auditkeep.OrderDesc {
				want[i] = int64(1203 - i)
			}
		}
		if !slices.Equal(all, want) {
			t.Errorf("order %s: paged seqs have %d events, from %v; want 1203 in order", order, len(all), all[:min(5, len(all))])
		}
		if !slices.Equal(scanned, want) {
			t.Errorf("order %s: scanned %d events; want 1203 in order", order, len(scanned))
		}
	}
	// A page that ends exactly at the last event has no next cursor.
	_, next, err := s.ListEvents(ctx, "acme", auditkeep.Filter{Limit: 3, Order: auditkeep.OrderAsc, Cursor: &auditkeep.Cursor{Seq: 1200, Order: auditkeep.OrderAsc}})
	if err != nil || next != nil {
		t.Errorf("ListEvents of the last 3 = next %v, %v; want no cursor", next, err)
	}
	stop := fmt.Errorf("stop")
	n := 0
	err = s.ScanEvents(ctx, "acme", auditkeep.Filter{}, func(*auditkeep.Event) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("ScanEvents with fn failing = %v after %d calls; want stop after 1", err, n)
	}
}

func TestTenantsKeysSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	created := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", RetentionDays: 30, Plan: "pro", CreatedAt: created}); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme"}); auditkeep.ErrorCode(err) != auditkeep.ECONFLICT {
		t.Errorf("CreateTenant twice = %v; want %s", err, auditkeep.ECONFLICT)
	}
	got, err := s.GetTenant(ctx, "acme")
	if err != nil || got.RetentionDays != 30 || got.Plan != "pro" || !got.CreatedAt.Equal(created) {
		t.Errorf("GetTenant = %+v, %v; want retention 30, plan pro, created %v", got, err, created)
	}
	if err := s.UpdateTenant(ctx, &auditkeep.Tenant{ID: "acme", RetentionDays: 7}); err != nil {
		t.Fatalf("UpdateTenant: %v", err)
	}
	if got, _ := s.GetTenant(ctx, "acme"); got.RetentionDays != 7 || got.Plan != "" {
		t.Errorf("GetTenant after update = %+v; want retention 7 and no plan", got)
	}
	if _, err := s.GetTenant(ctx, "nope"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("GetTenant(nope) = %v; want %s", err, auditkeep.ENOTFOUND)
	}
	if err := s.UpdateTenant(ctx, &auditkeep.Tenant{ID: "nope"}); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("UpdateTenant(nope) = %v; want %s", err, auditkeep.ENOTFOUND)
	}

	k := &auditkeep.APIKey{ID: "k1", Tenant: "acme", Name: "ci", Scopes: []string{"ingest", "read"}, Hash: strings.Repeat("ab", 32), CreatedAt: created}
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if err := s.CreateKey(ctx, &auditkeep.APIKey{ID: "k2", Tenant: "nope", Hash: "x"}); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("CreateKey for an unknown tenant = %v; want %s", err, auditkeep.ENOTFOUND)
	}
	gotKey, err := s.KeyByHash(ctx, k.Hash)
	if err != nil || gotKey.ID != "k1" || !slices.Equal(gotKey.Scopes, k.Scopes) || gotKey.RevokedAt != nil || !gotKey.CreatedAt.Equal(created) {
		t.Errorf("KeyByHash = %+v, %v; want key k1 unrevoked", gotKey, err)
	}
	at := created.Add(time.Hour + 5)
	if err := s.RevokeKey(ctx, "acme", "k1", at); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	if err := s.RevokeKey(ctx, "globex", "k1", at); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("RevokeKey of another tenant's key = %v; want %s", err, auditkeep.ENOTFOUND)
	}
	if gotKey, _ := s.KeyByHash(ctx, k.Hash); gotKey == nil || gotKey.RevokedAt == nil || !gotKey.RevokedAt.Equal(at) {
		t.Errorf("KeyByHash after revoke = %+v; want revoked at %v", gotKey, at)
	}
	if _, err := s.KeyByHash(ctx, "nope"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("KeyByHash(nope) = %v; want %s", err, auditkeep.ENOTFOUND)
	}

	if _, err := s.GetSetting(ctx, "", "signing_key"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("GetSetting before any = %v; want %s", err, auditkeep.ENOTFOUND)
	}
	if err := s.PutSetting(ctx, "acme", "redaction", []byte("a")); err != nil {
		t.Fatalf("PutSetting: %v", err)
	}
	if err := s.PutSetting(ctx, "acme", "redaction", []byte("b")); err != nil {
		t.Fatalf("PutSetting: %v", err)
	}
	if v, err := s.GetSetting(ctx, "acme", "redaction"); string(v) != "b" || err != nil {
		t.Errorf("GetSetting = %q, %v; want b", v, err)
	}
	if _, err := s.GetSetting(ctx, "", "redaction"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("GetSetting of the server = %v; want %s (settings are per tenant)", err, auditkeep.ENOTFOUND)
	}
}

func TestInitSettingRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t)
	stores := []*postgres.Store{open(t, url, quiet), open(t, url, quiet), open(t, url, quiet)}
	var wg sync.WaitGroup
	got := make([]string, 12)
	for i := range got {
		wg.Go(func() {
			v, err := stores[i%len(stores)].InitSetting(ctx, "", "signing_key", []byte(fmt.Sprint("key", i)))
			if err != nil {
				t.Errorf("InitSetting: %v", err)
			}
			got[i] = string(v)
		})
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] {
			t.Fatalf("InitSetting values = %v; want all the same", got)
		}
	}
	if v, _ := stores[0].GetSetting(ctx, "", "signing_key"); string(v) != got[0] {
		t.Errorf("GetSetting = %q; want %q", v, got[0])
	}
}

// TestNodesAppendConcurrently runs two stores on one schema, as two nodes
// would, appending batches with overlapping ids to one tenant at once.
func TestNodesAppendConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t)
	nodes := []*postgres.Store{open(t, url, quiet), open(t, url, quiet)}
	createTenant(t, nodes[0], "acme")

	const writers, batches, batchSize, idSpace = 6, 15, 20, 600
	type result struct {
		start, end int64 // positions in the order of calls and returns
		seqs       []int64
	}
	var (
		mu      sync.Mutex
		clock   int64
		results []result
	)
	tick := func() int64 { mu.Lock(); defer mu.Unlock(); clock++; return clock }
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			node := nodes[w%len(nodes)]
			for b := range batches {
				var batch []*auditkeep.Event
				for i := range batchSize {
					// Ids overlap across writers, batches and within a batch.
					id := fmt.Sprintf("id%03d", (w*7+b*batchSize+i*3)%idSpace)
					batch = append(batch, event("acme", id, i))
				}
				start := tick()
				if err := node.Append(ctx, batch); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				r := result{start: start, end: tick()}
				for _, e := range batch {
					if e.Seq != 0 {
						r.seqs = append(r.seqs, e.Seq)
					}
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	var stored []*auditkeep.Event
	err := nodes[1].ScanEvents(ctx, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc}, func(e *auditkeep.Event) error {
		stored = append(stored, e)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanEvents: %v", err)
	}
	seen := map[string]bool{}
	for i, e := range stored {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d in seq order has seq %d; want %d (no gaps)", i, e.Seq, i+1)
		}
		if seen[e.ID] {
			t.Fatalf("id %s stored twice", e.ID)
		}
		seen[e.ID] = true
	}
	acked := 0
	for _, r := range results {
		acked += len(r.seqs)
		// A batch's events commit together: their seqs are consecutive.
		for i := 1; i < len(r.seqs); i++ {
			if r.seqs[i] != r.seqs[i-1]+1 {
				t.Errorf("batch seqs %v are not consecutive", r.seqs)
				break
			}
		}
	}
	if acked != len(stored) {
		t.Errorf("Append gave seqs to %d events; %d are stored", acked, len(stored))
	}
	// Seq order is commit order: a batch that returned before another was
	// sent has the lower seqs.
	for _, a := range results {
		for _, b := range results {
			if a.end < b.start && len(a.seqs) > 0 && len(b.seqs) > 0 && a.seqs[len(a.seqs)-1] > b.seqs[0] {
				t.Errorf("batch with seqs %v committed before batch with seqs %v was sent", a.seqs, b.seqs)
			}
		}
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := postgres.Open(ctx, url, postgres.WithPartitionsAhead(1), quiet)
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	files, err := filepath.Glob("migration/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	var want []int // the numbers of the files, which may have gaps
	for _, f := range files {
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		want = append(want, n)
	}
	rows, _ := conn.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil || !slices.Equal(versions, want) {
		t.Errorf("schema_migrations versions = %v, %v; want %v, once each", versions, err, want)
	}
	var partitions int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass`).Scan(&partitions)
	if err != nil || partitions != 3 { // default, this month, next month
		t.Errorf("events has %d partitions, %v; want 3", partitions, err)
	}
}

// TestPartitionTakesOverDefault appends an event for a month without a
// partition, then creates it.
func TestPartitionTakesOverDefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t)
	s := open(t, url, postgres.WithPartitionsAhead(0), quiet)
	createTenant(t, s, "acme")
	future := time.Date(2031, 5, 10, 12, 0, 0, 0, time.UTC)
	e := event("acme", "future", 0)
	e.ReceivedAt = future
	if err := s.Append(ctx, []*auditkeep.Event{e}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(table string) int {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		return n
	}
	if n := count("events_default"); n != 1 {
		t.Fatalf("events_default has %d events; want 1", n)
	}
	if err := s.EnsurePartitions(ctx, future, future); err != nil {
		t.Fatalf("EnsurePartitions: %v", err)
	}
	if d, p := count("events_default"), count("events_p203105"); d != 0 || p != 1 {
		t.Errorf("after EnsurePartitions: default has %d events, events_p203105 %d; want 0 and 1", d, p)
	}
	e2 := event("acme", "future2", 1)
	e2.ReceivedAt = future
	if err := s.Append(ctx, []*auditkeep.Event{e2, event("acme", "future", 2)}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if p := count("events_p203105"); p != 2 {
		t.Errorf("events_p203105 has %d events; want 2 (the repeated id is skipped)", p)
	}
	if got, err := s.GetEvent(ctx, "acme", "future"); err != nil || got.Seq != 1 {
		t.Errorf("GetEvent(future) = %+v, %v; want seq 1", got, err)
	}
}
