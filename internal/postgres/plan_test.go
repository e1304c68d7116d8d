package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/pgtest"
)

// sortNode matches a sort in a plan (not a Merge Append's sort key).
var sortNode = regexp.MustCompile(`(?m)(^|->  )(Incremental )?Sort  \(`)

// TestQueryPlans checks that the first page of every single filter is read
// from an index in both sorts, over a partitioned table holding 20,000
// events: no sequential scan, and for filters compared with = an index in
// the page's order (no sort at all). The actor and scope filters (an OR of
// columns, a path or its prefix), action prefixes and CIDRs are bitmap
// scans, sorted.
func TestQueryPlans(t *testing.T) {
	base := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("set AUDITKEEP_TEST_DATABASE_URL=postgres://... to run the PostgreSQL tests")
	}
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(t, base), WithPartitionsAhead(1), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	teams := []string{"platform", "data", "billing", "security"}
	sources := []string{"console", "cli", "terraform", "api", "system"}
	actorTypes := []string{auditkeep.ActorUser, auditkeep.ActorUser, auditkeep.ActorAPIToken, auditkeep.ActorService}
	start := time.Now().UTC().AddDate(0, 0, -14)
	for b := range 20 {
		events := benchEvents(b)
		for i, e := range events {
			n := b*benchBatch + i
			e.Team, e.Source, e.Actor.Type = teams[n%len(teams)], sources[n%len(sources)], actorTypes[n%len(actorTypes)]
			e.Target.Type = []string{"environment", "service", "token", "secret", "project", "user", "database"}[n%7]
			e.Context.IP = fmt.Sprintf("203.0.%d.%d", n%4, n%3)
			// A minute apart, a few of them out of order.
			e.OccurredAt = start.Add(time.Duration(n)*time.Minute - time.Duration(n%7)*90*time.Second)
			if n%23 == 0 {
				e.Status = auditkeep.StatusFailure
			}
		}
		if err := s.Append(ctx, events); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE events"); err != nil {
		t.Fatal(err)
	}
	filled := partitionName(monthStart(time.Now()))
	// Later pages start in the middle, after the 10,000th event.
	mid, err := s.GetEvent(ctx, "acme", fmt.Sprintf("evt_%010d", 9999))
	if err != nil {
		t.Fatal(err)
	}
	term := func(field, value string) []auditkeep.Term {
		return []auditkeep.Term{{Field: field, Values: []string{value}}}
	}
	for _, tc := range []struct {
		name    string
		terms   []auditkeep.Term
		ordered bool // read in the page's order from an index: no sort
		few     bool // about 100 matches
	}{
		{"none", nil, true, false},
		{"action", term("action", "token.create"), true, false},
		{"action prefix", term("action", "token.*"), false, false},
		{"type", term("type", "delete"), true, false},
		{"actor", term("actor", "user7@example.com"), false, false},
		{"actor_type", term("actor_type", "api_token"), true, false},
		{"target_type", term("target_type", "secret"), true, false},
		{"target_id", term("target_id", "env_42"), true, true},
		{"target", term("target", "production-42"), true, true},
		{"scope", term("scope", "project:prj_3"), false, false},
		{"team", term("team", "data"), true, false},
		{"ip", term("ip", "203.0.1.2"), true, false},
		{"ip range", term("ip", "203.0.1.0/24"), false, false},
		{"source", term("source", "terraform"), true, false},
		{"status", term("status", "failure"), true, false},
	} {
		for _, sort := range []string{auditkeep.SortSeq, auditkeep.SortTime} {
			for _, page := range []string{auditkeep.OrderDesc, auditkeep.OrderAsc, "later " + auditkeep.OrderDesc, "later " + auditkeep.OrderAsc} {
				order := strings.TrimPrefix(page, "later ")
				f := auditkeep.Filter{Terms: tc.terms, Sort: sort, Order: order}
				if order != page { // a page after the first, in the middle
					f.Cursor = &auditkeep.Cursor{Seq: mid.Seq, Order: order}
					if sort == auditkeep.SortTime {
						f.Cursor.Sort, f.Cursor.At = sort, mid.OccurredAt.UnixNano()
					}
				}
				q, args, err := listQuery("acme", f, 51)
				if err != nil {
					t.Fatal(err)
				}
				var plan strings.Builder
				rows, err := s.pool.Query(ctx, "EXPLAIN "+q, args...)
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				for rows.Next() {
					var line string
					if err := rows.Scan(&line); err != nil {
						t.Fatal(err)
					}
					plan.WriteString(line + "\n")
				}
				rows.Close()
				p := plan.String()
				// Empty partitions are scanned: they have no page.
				bad := strings.Contains(p, "Seq Scan on "+filled+" ")
				// A few rows left after the cursor are sorted rather than
				// read in order: the planner's choice, and cheap.
				if tc.ordered && (order == page || !tc.few) {
					bad = bad || sortNode.MatchString(p)
				}
				if bad || testing.Verbose() {
					t.Logf("%s, sort %s, order %s:\n%s", tc.name, sort, page, p)
				}
				if bad {
					t.Errorf("%s, sort %s, order %s: the page is not read from an index in its order", tc.name, sort, page)
				}
			}
		}
	}
}
