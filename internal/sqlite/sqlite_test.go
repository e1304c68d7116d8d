package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/sqlite"
	"github.com/auditkeep/auditkeep/internal/storetest"
)

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) auditkeep.Store { return openStore(t) })
}

func simpleEvents(tenant, prefix string, n int) []*auditkeep.Event {
	events := make([]*auditkeep.Event, n)
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for i := range events {
		events[i] = &auditkeep.Event{
			Tenant: tenant, ID: fmt.Sprintf("%s-%d", prefix, i), OccurredAt: at.Add(time.Duration(i) * time.Second), ReceivedAt: at,
			Action: "user.login", Type: auditkeep.TypeLogin, Status: auditkeep.StatusSuccess,
			Actor:   auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_1", Name: "Alice", Email: "alice@example.com"},
			Context: auditkeep.Context{IP: "203.0.113.7"},
		}
	}
	return events
}

// TestReopen: seq, idempotency, the dictionary and deleted targets survive
// closing and opening the store again; migrations are not applied twice.
func TestReopen(t *testing.T) {
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
	first := simpleEvents("acme", "a", 10)
	first[9].Type, first[9].Action = auditkeep.TypeDelete, "pod.delete"
	first[9].Target = &auditkeep.Target{Type: "pod", ID: "pod_1", Name: "web-1"}
	if err := s.Append(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(ctx, dir, quiet)
	if err != nil {
		t.Fatalf("Open again = %v", err)
	}
	defer s.Close()
	again := simpleEvents("acme", "a", 12) // ten already stored
	if err := s.Append(ctx, again); err != nil {
		t.Fatal(err)
	}
	for i, e := range again {
		want := int64(0)
		if i >= 10 {
			want = int64(i + 1)
		}
		if e.Seq != want {
			t.Errorf("after reopen, event %s: Seq = %d; want %d", e.ID, e.Seq, want)
		}
	}
	later := simpleEvents("acme", "b", 1)
	later[0].Target = &auditkeep.Target{Type: "pod", ID: "pod_1", Name: "web-1"}
	if err := s.Append(ctx, later); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetEvent(ctx, "acme", "b-0")
	if err != nil || !got.Target.Deleted || got.Seq != 13 {
		t.Errorf("GetEvent(b-0) = %+v, %v; want seq 13, target deleted", got, err)
	}
	page, _, err := s.ListEvents(ctx, "acme", auditkeep.Filter{Terms: []auditkeep.Term{{Field: "actor", Values: []string{"ALICE@example.com"}}}, Limit: 1000})
	if err != nil || len(page) != 13 {
		t.Errorf("ListEvents(actor email) after reopen = %d events, %v; want 13", len(page), err)
	}
	st, err := s.Stats(ctx, "acme")
	if err != nil || st.Events != 13 || st.LastSeq != 13 {
		t.Errorf("Stats(acme) = %+v, %v; want 13 events, last seq 13", st, err)
	}
	if _, err := s.Stats(ctx, "nope"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Stats(nope) = %v; want not found", err)
	}
	if n := s.DiskBytes(); n < 4096 {
		t.Errorf("DiskBytes() = %d; want the size of a database holding 13 events", n)
	}
}

// TestClosed: a closed store answers EUNAVAILABLE.
func TestClosed(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, t.TempDir(), sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Append(ctx, simpleEvents("acme", "a", 1)); auditkeep.ErrorCode(err) != auditkeep.EUNAVAILABLE {
		t.Errorf("Append after Close = %v; want %s", err, auditkeep.EUNAVAILABLE)
	}
	if err := s.Ping(ctx); auditkeep.ErrorCode(err) != auditkeep.EUNAVAILABLE {
		t.Errorf("Ping after Close = %v; want %s", err, auditkeep.EUNAVAILABLE)
	}
	if _, err := s.GetTenant(ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.EUNAVAILABLE {
		t.Errorf("GetTenant after Close = %v; want %s", err, auditkeep.EUNAVAILABLE)
	}
}

// TestOpenFails: a directory that cannot be created is EUNAVAILABLE.
func TestOpenFails(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(context.Background(), filepath.Join(file, "db"))
	if auditkeep.ErrorCode(err) != auditkeep.EUNAVAILABLE {
		t.Errorf("Open(under a file) = %v; want %s", err, auditkeep.EUNAVAILABLE)
	}
}

// TestAppendInvalidJSON: an event whose raw JSON is not JSON is refused
// (EINVALID naming it) and nothing of its batch is stored.
func TestAppendInvalidJSON(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	batch := simpleEvents("acme", "a", 3)
	batch[2].Snapshot = json.RawMessage(`{"cpu": 500,`)
	err := s.Append(ctx, batch)
	if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != "events[2]" {
		t.Errorf("Append(invalid snapshot) = %v (field %q); want %s naming events[2]", err, auditkeep.ErrorField(err), auditkeep.EINVALID)
	}
	if page, _, err := s.ListEvents(ctx, "acme", auditkeep.Filter{}); err != nil || len(page) != 0 {
		t.Errorf("after a refused Append, ListEvents = %d events, %v; want none", len(page), err)
	}
}

// TestDefectsAreInternal: a corrupt stored row and an SQL defect are
// internal errors, which clients must not retry; only a database that
// cannot serve now (TestClosed) is EUNAVAILABLE.
func TestDefectsAreInternal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir, sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, simpleEvents("acme", "a", 3)); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE events SET body = x'ff0102' WHERE k = (SELECT max(k) FROM events)"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetEvent(ctx, "acme", "a-2"); auditkeep.ErrorCode(err) != auditkeep.EINTERNAL {
		t.Errorf("GetEvent of a corrupt row = %v (%s); want %s", err, auditkeep.ErrorCode(err), auditkeep.EINTERNAL)
	}
	if _, _, err := s.ListEvents(ctx, "acme", auditkeep.Filter{Limit: 10}); auditkeep.ErrorCode(err) != auditkeep.EINTERNAL {
		t.Errorf("ListEvents over a corrupt row = %v (%s); want %s", err, auditkeep.ErrorCode(err), auditkeep.EINTERNAL)
	}
	if _, err := s.GetEvent(ctx, "acme", "a-0"); err != nil {
		t.Errorf("GetEvent of an intact row = %v", err)
	}
	if _, err := db.Exec("DROP TABLE legal_holds"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListHolds(ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.EINTERNAL {
		t.Errorf("ListHolds without its table = %v (%s); want %s", err, auditkeep.ErrorCode(err), auditkeep.EINTERNAL)
	}
}

// TestFacetsOneByOne runs the facet cases with every filtered facet
// counted value by value, as for a filter matching many events.
func TestFacetsOneByOne(t *testing.T) {
	s := openStore(t)
	sqlite.SetFacetTallyMax(s, 0)
	storetest.Facets(t, s)
}
