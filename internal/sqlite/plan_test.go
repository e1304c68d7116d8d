package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/storetest"
)

// fixtureStore opens a store in a temporary directory holding the
// conformance fixture as tenant acme.
func fixtureStore(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, storetest.Fixture("acme")); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestQueryPlans checks that the planner's statements use the indexes
// they were built for: the merge of a term set needs no sort, the time
// driver uses the (tenant, occurred_at) index.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s := fixtureStore(t)
	for _, tc := range []struct {
		query string
		args  []any
		want  string
	}{
		{sqlLoadEvents, []any{"[1099511627777,1099511627778]"}, "SEARCH events USING INTEGER PRIMARY KEY (rowid=?)"},
		{sqlDeleted, []any{1, `["svc_1"]`}, "SEARCH deleted_targets USING PRIMARY KEY (tenant=? AND id=?)"},
		{sqlFindID, []any{1, 1, 2}, "SEARCH events USING INDEX events_id_hash (id_hash=? AND rowid>? AND rowid<?)"},
		{sqlBumpTerms, []any{"[[1,2],[3,4]]"}, "SEARCH terms USING INTEGER PRIMARY KEY (rowid=?)"},
	} {
		if plan := explain(t, s, tc.query, tc.args...); !strings.Contains(plan, tc.want) {
			t.Errorf("plan of %s lacks %q:\n%s", tc.query, tc.want, plan)
		}
	}
	term := func(field string, values ...string) auditkeep.Term {
		return auditkeep.Term{Field: field, Values: values}
	}
	for _, tc := range []struct {
		name    string
		f       auditkeep.Filter
		want    []string // substrings of the plan
		notWant []string
	}{
		{"one term", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "user.login")}},
			[]string{"USING PRIMARY KEY (term=? AND k>? AND k<?)"}, []string{"TEMP B-TREE"}},
		{"merged terms", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "token.*")}},
			[]string{"MERGE"}, []string{"TEMP B-TREE FOR ORDER BY"}},
		{"merged terms asc", auditkeep.Filter{Order: "asc", Terms: []auditkeep.Term{term("scope", "project:prj_1", "project:prj_2")}},
			[]string{"MERGE"}, []string{"TEMP B-TREE FOR ORDER BY"}},
		{"two terms", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "service.deploy"), term("status", "failure")}},
			[]string{"USING PRIMARY KEY (term=? AND k>? AND k<?)", "EXISTS USING PRIMARY KEY (term=? AND k=?)"}, []string{"TEMP B-TREE"}},
		{"time", auditkeep.Filter{From: storetest.Base.Add(10 * time.Minute), To: storetest.Base.Add(20 * time.Minute)},
			[]string{"INDEX events_time (<expr>=? AND occurred_at>? AND occurred_at<?)"}, nil},
		{"scan", auditkeep.Filter{}, []string{"USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"}, []string{"TEMP B-TREE"}},
		{"text", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "deployed"}}}, []string{"events_fts VIRTUAL TABLE"}, []string{"TEMP B-TREE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := s.r.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			p, err := resolve(ctx, tx, "acme", 1, &tc.f)
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := tenantRange(1)
			before := *p
			drv, best, err := p.choose(ctx, tx, lo, hi, 51)
			if err != nil {
				t.Fatal(err)
			}
			// The planner returns its choice; the plan is left as it was.
			if !reflect.DeepEqual(*p, before) {
				t.Errorf("choose changed the plan:\n%+v\nwas\n%+v", *p, before)
			}
			query, args := p.build(drv, best, lo, hi, 51)
			rows, err := tx.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			var plan strings.Builder
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan.WriteString(detail + "\n")
			}
			rows.Close()
			for _, w := range tc.want {
				if !strings.Contains(plan.String(), w) {
					t.Errorf("plan of %s lacks %q:\n%s", query, w, plan.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(plan.String(), w) {
					t.Errorf("plan of %s has %q:\n%s", query, w, plan.String())
				}
			}
		})
	}
}

// TestTimeQueryPlans checks the statements of plans in time order: a term
// set's postings_time and the events time index are read in (t, k) order,
// with no sort, on the first page and after a cursor.
func TestTimeQueryPlans(t *testing.T) {
	ctx := context.Background()
	s := fixtureStore(t)
	term := func(field string, values ...string) auditkeep.Term {
		return auditkeep.Term{Field: field, Values: values}
	}
	for _, tc := range []struct {
		name    string
		f       auditkeep.Filter
		want    []string // substrings of the plan
		notWant []string
	}{
		{"one term", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "user.login")}},
			[]string{"SEARCH p USING PRIMARY KEY (term=? AND t>? AND t<?)"}, []string{"TEMP B-TREE"}},
		{"merged terms", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "token.*")}},
			[]string{"MERGE", "USING PRIMARY KEY (term=? AND t>? AND t<?)"}, []string{"TEMP B-TREE FOR ORDER BY"}},
		{"merged terms asc", auditkeep.Filter{Order: "asc", Terms: []auditkeep.Term{term("scope", "project:prj_1", "project:prj_2")}},
			[]string{"MERGE"}, []string{"TEMP B-TREE FOR ORDER BY"}},
		{"two terms", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "service.deploy"), term("status", "failure")}},
			[]string{"USING PRIMARY KEY (term=? AND t>? AND t<?)", "EXISTS USING PRIMARY KEY (term=? AND k=?)"}, []string{"TEMP B-TREE"}},
		{"term and time", auditkeep.Filter{Terms: []auditkeep.Term{term("action", "user.login")}, From: storetest.Base, To: storetest.Base.Add(time.Hour)},
			[]string{"SEARCH p USING PRIMARY KEY (term=? AND t>? AND t<?)"}, []string{"TEMP B-TREE"}},
		{"no term", auditkeep.Filter{}, []string{"INDEX events_time (<expr>=? AND occurred_at>? AND occurred_at<?)"}, []string{"TEMP B-TREE"}},
		{"time", auditkeep.Filter{From: storetest.Base.Add(10 * time.Minute), To: storetest.Base.Add(20 * time.Minute)},
			[]string{"INDEX events_time (<expr>=? AND occurred_at>? AND occurred_at<?)"}, []string{"TEMP B-TREE"}},
		{"text", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "deployed"}}}, []string{"events_fts VIRTUAL TABLE"}, nil},
	} {
		for _, cursor := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cursor=%v", tc.name, cursor), func(t *testing.T) {
				tx, err := s.r.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				tc.f.Sort = auditkeep.SortTime
				p, err := resolve(ctx, tx, "acme", 1, &tc.f)
				if err != nil {
					t.Fatal(err)
				}
				lo, hi := tenantRange(1)
				drv, best, err := p.choose(ctx, tx, lo, hi, 51)
				if err != nil {
					t.Fatal(err)
				}
				var after mark
				if cursor {
					after = mark{at: unixNano(storetest.Base.Add(30 * time.Minute)), seq: 30}
				}
				sp, _ := p.timeSpan(after)
				query, args := p.buildTime(drv, best, sp, lo, hi, 51)
				plan := explain(t, s, query, args...)
				for _, w := range tc.want {
					if !strings.Contains(plan, w) {
						t.Errorf("plan of %s lacks %q:\n%s", query, w, plan)
					}
				}
				for _, w := range tc.notWant {
					if strings.Contains(plan, w) {
						t.Errorf("plan of %s has %q:\n%s", query, w, plan)
					}
				}
			})
		}
	}
}

// TestWindows checks that reading a large term set in small windows of
// keys gives what one window gives.
func TestWindows(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	events := BenchEvents("acme", 0, 3000)
	if err := s.Append(ctx, events); err != nil {
		t.Fatal(err)
	}
	for _, f := range []auditkeep.Filter{
		{Terms: []auditkeep.Term{{Field: "ip", Values: []string{"203.0.1.0/24"}}}},
		{Order: "asc", Terms: []auditkeep.Term{{Field: "ip", Values: []string{"203.0.0.0/23"}}}},
		{Terms: []auditkeep.Term{{Field: "ip", Values: []string{"203.0.2.0/25"}}, {Field: "team", Values: []string{"platform"}}}},
	} {
		tx, err := s.r.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := resolve(ctx, tx, "acme", 1, &f)
		if err != nil {
			t.Fatal(err)
		}
		lo, _ := tenantRange(1)
		hi := int64(1<<40 | len(events))
		drv, best, err := p.choose(ctx, tx, lo, hi, 51)
		if err != nil {
			t.Fatal(err)
		}
		if drv != byPostings || len(p.pos[best].ids) <= mergeMaxTerms {
			t.Fatalf("filter %+v: driver %d with %d terms; want the postings of more than %d terms", f, drv, len(p.pos[best].ids), mergeMaxTerms)
		}
		p.events = int64(len(events))
		for _, limit := range []int{1, 7, 100, 5000} {
			p.minWindow = 1 << 40
			whole, err := p.keys(ctx, tx, drv, best, lo, hi, limit)
			if err != nil {
				t.Fatal(err)
			}
			p.minWindow = 1
			events := p.events
			p.events = 1 // as dense as can be: windows of 1, 4, 16, … keys
			windowed, err := p.keys(ctx, tx, drv, best, lo, hi, limit)
			if err != nil {
				t.Fatal(err)
			}
			p.events = events
			if len(whole) == 0 || !slices.Equal(windowed, whole) {
				t.Errorf("filter %+v, limit %d: windowed keys = %v; want %v", f, limit, windowed, whole)
			}
		}
		tx.Rollback()
	}
}

// TestTimeWindows checks that reading a large term set in time order in
// windows of time gives what one sorted read gives, pages after a cursor
// included.
func TestTimeWindows(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	events := BenchEvents("acme", 0, 3000)
	for i, e := range events { // out of order by up to 40 minutes
		e.OccurredAt = e.OccurredAt.Add(-time.Duration(i%9) * 5 * time.Minute)
	}
	if err := s.Append(ctx, events); err != nil {
		t.Fatal(err)
	}
	for _, f := range []auditkeep.Filter{
		{Terms: []auditkeep.Term{{Field: "ip", Values: []string{"203.0.1.0/24"}}}},
		{Order: "asc", Terms: []auditkeep.Term{{Field: "ip", Values: []string{"203.0.0.0/23"}}}},
		{Terms: []auditkeep.Term{{Field: "ip", Values: []string{"203.0.2.0/25"}}, {Field: "team", Values: []string{"platform"}}}},
	} {
		f.Sort = auditkeep.SortTime
		tx, err := s.r.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := resolve(ctx, tx, "acme", 1, &f)
		if err != nil {
			t.Fatal(err)
		}
		lo, _ := tenantRange(1)
		hi := int64(1<<40 | len(events))
		p.events = int64(len(events))
		drv, best, err := p.choose(ctx, tx, lo, hi, 51)
		if err != nil {
			t.Fatal(err)
		}
		if drv != byPostings || len(p.pos[best].ids) <= mergeMaxTerms {
			t.Fatalf("filter %+v: driver %d with %d terms; want the postings of more than %d terms", f, drv, len(p.pos[best].ids), mergeMaxTerms)
		}
		for _, after := range []mark{{}, {at: unixNano(events[1500].OccurredAt), seq: 1500}} {
			for _, limit := range []int{1, 7, 100, 5000} {
				sp, _ := p.timeSpan(after)
				query, args := p.buildTime(drv, best, sp, lo, hi, limit)
				whole, err := queryTimeKeys(ctx, tx, query, args)
				if err != nil {
					t.Fatal(err)
				}
				p.minWindow = 1
				windowed, err := p.timeKeys(ctx, tx, drv, best, after, lo, hi, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(whole) == 0 || !slices.Equal(windowed, whole) {
					t.Errorf("filter %+v after %+v, limit %d: windowed keys = %v; want %v", f, after, limit, windowed, whole)
				}
			}
		}
		tx.Rollback()
	}
}

func explain(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.r.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	return plan.String()
}
