package sqlite_test

import (
	"context"
	"database/sql"
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
