package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// TestMigrateActorNames: a store written before actor names and emails
// were terms of their own gets them for its stored events, so that the
// actor filter by email matches only the events that carry that email.
func TestMigrateActorNames(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	quiet := sqlite.WithLogger(slog.New(slog.DiscardHandler))
	s, err := sqlite.Open(ctx, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	events := simpleEvents("acme", "m", 3)
	for i, e := range events {
		e.Actor.ID = "anonymous"
		e.Actor.Email = []string{"ann@example.com", "bob@example.com", "ann@example.com"}[i]
		e.Actor.Name = ""
	}
	if err := s.Append(ctx, events); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Back to the schema before the migration: no name terms, actor_names.
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"DELETE FROM postings WHERE term IN (SELECT id FROM terms WHERE field = 13)",
		"DELETE FROM terms WHERE field = 13",
		"CREATE TABLE actor_names (tenant INTEGER NOT NULL, name TEXT NOT NULL, term INTEGER NOT NULL, PRIMARY KEY (tenant, name, term)) WITHOUT ROWID",
		"DELETE FROM schema_migrations WHERE name = 'migration/0005_actor_name_terms.sql'",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(ctx, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := auditkeep.Filter{Terms: []auditkeep.Term{{Field: auditkeep.FieldActor, Values: []string{"ann@example.com"}}}}
	page, _, err := s.ListEvents(ctx, "acme", f)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page {
		got = append(got, e.ID)
	}
	if want := []string{"m-2", "m-0"}; !slices.Equal(got, want) {
		t.Errorf("after the migration, actor=ann@example.com = %v; want %v", got, want)
	}
}

// TestMigrateFacetCounts: a store written before facets were counted on
// write (no counts for actors, target ids and scopes, no facet_pairs)
// gets them from its stored events, and its facets read as they did when
// counted on write.
func TestMigrateFacetCounts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	quiet := sqlite.WithLogger(slog.New(slog.DiscardHandler))
	s, err := sqlite.Open(ctx, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	events := simpleEvents("acme", "f", 12)
	for i, e := range events {
		e.Actor.ID = []string{"usr_1", "usr_2", "usr_3"}[i%3]
		typ := []string{"service", "environment"}[i%2]
		e.Target = &auditkeep.Target{Type: typ, ID: fmt.Sprintf("%s_%d", typ, i%4), Name: fmt.Sprintf("%s %d", typ, i)}
		e.Scope = []auditkeep.ScopeEntry{{Type: "project", ID: fmt.Sprintf("prj_%d", i%3), Name: "Shop"},
			{Type: "environment", ID: fmt.Sprintf("env_%d", i%2), Name: "prod"}}
	}
	if err := s.Append(ctx, events); err != nil {
		t.Fatal(err)
	}
	type shape struct {
		field string
		f     auditkeep.Filter
	}
	filter := func(kv ...string) auditkeep.Filter {
		var f auditkeep.Filter
		for i := 0; i < len(kv); i += 2 {
			f.Terms = append(f.Terms, auditkeep.Term{Field: kv[i], Values: []string{kv[i+1]}})
		}
		return f
	}
	shapes := []shape{
		{"project", filter()}, {"environment", filter("scope", "project:prj_1")}, {"actor", filter()},
		{"target", filter()}, {"target", filter("target_type", "service")},
		{"target", filter("target_type", "environment", "scope", "project:prj_2")},
		{"target_type", filter("scope", "project:prj_0/environment:env_0")},
	}
	answers := func() [][]auditkeep.Facet {
		var out [][]auditkeep.Facet
		for _, sh := range shapes {
			got, _, err := s.Facets(ctx, "acme", sh.field, sh.f)
			if err != nil {
				t.Fatalf("Facets(%s) = %v", sh.field, err)
			}
			if len(got) == 0 {
				t.Fatalf("Facets(%s, %v) found nothing", sh.field, sh.f)
			}
			out = append(out, got)
		}
		return out
	}
	want := answers()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Back to the schema before the migration.
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE terms SET count = 0 WHERE field IN (3, 5, 8)",
		"DROP TABLE facet_pairs",
		"DELETE FROM schema_migrations WHERE name = 'migration/0014_facet_counts.sql'",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = sqlite.Open(ctx, dir, quiet); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, got := range answers() {
		if !slices.Equal(got, want[i]) {
			t.Errorf("after the migration, Facets(%s, %v) = %+v; want %+v", shapes[i].field, shapes[i].f, got, want[i])
		}
	}
}
