package postgres_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
)

// TestSnapshotAndMetadataAsJSONB: snapshot and metadata are queryable as
// JSONB in SQL, while a document jsonb cannot hold (a NUL character) is
// stored all the same, whole in the body.
func TestSnapshotAndMetadataAsJSONB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t)
	s := open(t, url, quiet)
	createTenant(t, s, "acme")
	a := event("acme", "a", 0)
	a.Snapshot = json.RawMessage(`{"name":"production","settings":{"cpu":2}}`)
	a.Metadata = json.RawMessage(`{"region":"eu-west-1"}`)
	b := event("acme", "b", 1)
	b.Snapshot = json.RawMessage(`{"name":"nul\u0000byte"}`)
	c := event("acme", "c", 2)
	if err := s.Append(ctx, []*auditkeep.Event{a, b, c}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var cpu, region string
	if err := conn.QueryRow(ctx, `SELECT snapshot->'settings'->>'cpu', metadata->>'region' FROM events WHERE id = 'a'`).Scan(&cpu, &region); err != nil {
		t.Fatal(err)
	}
	if cpu != "2" || region != "eu-west-1" {
		t.Errorf("jsonb of a: cpu %q, region %q", cpu, region)
	}
	var nulls int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM events WHERE id IN ('b', 'c') AND snapshot IS NULL AND metadata IS NULL`).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 2 {
		t.Errorf("%d of b and c have NULL jsonb; want 2 (b cannot be jsonb, c has none)", nulls)
	}
	got, err := s.GetEvent(ctx, "acme", "b")
	if err != nil || string(got.Snapshot) != string(b.Snapshot) {
		t.Errorf("GetEvent(b) snapshot = %s, %v; want it whole", got.Snapshot, err)
	}
}
