package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/jackc/pgx/v5"
)

// The change tracker reads previous snapshots in one query from this store.
var _ ingest.SnapshotReader = (*postgres.Store)(nil)

func TestPreviousSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t)
	s := open(t, url, postgres.WithPartitionsAhead(0), quiet)
	createTenant(t, s, "acme")
	createTenant(t, s, "beta")

	with := func(tenant, id, typ, target, snapshot string) *auditkeep.Event {
		e := event(tenant, id, 0)
		e.Target = &auditkeep.Target{Type: typ, ID: target}
		if snapshot != "" {
			e.Snapshot = json.RawMessage(snapshot)
		}
		return e
	}
	noSnapshot := with("acme", "e4", "environment", "env_7", "")
	noSnapshot.Metadata = json.RawMessage(`{"snapshot":"a key of the metadata"}`)
	err := s.Append(ctx, []*auditkeep.Event{
		with("acme", "e1", "environment", "env_7", `{"v":1}`),
		with("acme", "e2", "environment", "env_7", ""),
		with("acme", "e3", "environment", "env_7", `{"v":3}`),
		noSnapshot,
		with("acme", "e5", "service", "env_7", `{"v":"other type"}`),
		with("acme", "e6", "environment", "env_8", `{"s":"\u0000"}`),
		with("beta", "b1", "environment", "env_7", `{"v":"beta"}`),
	})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	// A row stored before the snapshot column existed has it only in its body.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE events SET snapshot = NULL WHERE id = 'e3'`); err != nil {
		t.Fatal(err)
	}

	noTarget := event("acme", "n1", 0)
	noTarget.Target = nil
	tests := []struct {
		e    *auditkeep.Event
		want string
	}{
		{with("acme", "new", "environment", "env_7", `{}`), `{"v":3}`},
		{with("acme", "e3", "environment", "env_7", `{}`), `{"v":1}`}, // not itself
		{with("acme", "new", "service", "env_7", `{}`), `{"v":"other type"}`},
		{with("acme", "new", "environment", "env_8", `{}`), `{"s":"\u0000"}`},
		{with("beta", "new", "environment", "env_7", `{}`), `{"v":"beta"}`},
		{with("acme", "new", "environment", "env_9", `{}`), ``},
		{with("gamma", "new", "environment", "env_7", `{}`), ``},
		{noTarget, ``},
	}
	events := make([]*auditkeep.Event, len(tests))
	for i, tt := range tests {
		events[i] = tt.e
	}
	got, err := s.PreviousSnapshots(ctx, events)
	if err != nil {
		t.Fatalf("PreviousSnapshots: %v", err)
	}
	if len(got) != len(tests) {
		t.Fatalf("PreviousSnapshots returned %d snapshots; want %d", len(got), len(tests))
	}
	for i, tt := range tests {
		if string(got[i]) != tt.want {
			t.Errorf("PreviousSnapshots: event %d (%s %v) = %q; want %q", i, tt.e.Tenant, tt.e.Target, got[i], tt.want)
		}
	}
}

func TestPreviousSnapshotsLookBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	createTenant(t, s, "acme")
	target := func(id string, snapshot bool, n int) []*auditkeep.Event {
		var out []*auditkeep.Event
		for i := range n + 1 {
			e := event("acme", fmt.Sprintf("%s-%d", id, i), i)
			e.Target = &auditkeep.Target{Type: "environment", ID: id}
			if i == 0 && snapshot {
				e.Snapshot = json.RawMessage(`{"first":true}`)
			}
			out = append(out, e)
		}
		return out
	}
	// A snapshot followed by 409 events without is the 410th latest; one
	// followed by 410 is past the look-back.
	events := append(target("env_near", true, 409), target("env_far", true, 410)...)
	if err := s.Append(ctx, events); err != nil {
		t.Fatalf("Append: %v", err)
	}
	probe := func(id string) *auditkeep.Event {
		e := event("acme", "probe", 0)
		e.Target = &auditkeep.Target{Type: "environment", ID: id}
		return e
	}
	got, err := s.PreviousSnapshots(ctx, []*auditkeep.Event{probe("env_near"), probe("env_far")})
	if err != nil {
		t.Fatalf("PreviousSnapshots: %v", err)
	}
	if string(got[0]) != `{"first":true}` || got[1] != nil {
		t.Errorf("PreviousSnapshots = %q, %q; want %q, nil", got[0], got[1], `{"first":true}`)
	}
}
