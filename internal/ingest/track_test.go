package ingest_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

// snapshotStore serves previous snapshots only through PreviousSnapshots.
type snapshotStore struct {
	t        *testing.T
	previous map[string]json.RawMessage // by target id
	calls    [][]string                 // target ids asked, per call
}

func (s *snapshotStore) GetSetting(ctx context.Context, tenant, name string) ([]byte, error) {
	return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "setting %q not found", name)
}

func (s *snapshotStore) PutSetting(ctx context.Context, tenant, name string, value []byte) error {
	return nil
}

func (s *snapshotStore) InitSetting(ctx context.Context, tenant, name string, value []byte) ([]byte, error) {
	return value, nil
}

func (s *snapshotStore) ListEvents(ctx context.Context, tenant string, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error) {
	s.t.Errorf("ListEvents(%q, %+v) called; want previous snapshots read with PreviousSnapshots", tenant, f)
	return nil, nil, nil
}

func (s *snapshotStore) PreviousSnapshots(ctx context.Context, events []*auditkeep.Event) ([]json.RawMessage, error) {
	var ids []string
	out := make([]json.RawMessage, len(events))
	for i, e := range events {
		ids = append(ids, e.Target.ID)
		out[i] = s.previous[e.Target.ID]
	}
	slices.Sort(ids)
	s.calls = append(s.calls, ids)
	return out, nil
}

// TestPrepareReadsPreviousSnapshotsAtOnce checks that a store that reads
// many targets' previous snapshots at once is asked once per group, only
// for targets whose previous snapshot is not earlier in the group.
func TestPrepareReadsPreviousSnapshotsAtOnce(t *testing.T) {
	store := &snapshotStore{t: t, previous: map[string]json.RawMessage{
		"svc_1": json.RawMessage(`{"replicas":2}`),
	}}
	tracker := ingest.NewTracker(store)
	update := func(id, target, snapshot string) *auditkeep.Event {
		return &auditkeep.Event{Tenant: "acme", ID: id, Action: "service.update", Type: auditkeep.TypeUpdate,
			Target: &auditkeep.Target{Type: "service", ID: target}, Snapshot: json.RawMessage(snapshot)}
	}
	events := []*auditkeep.Event{
		update("e1", "svc_1", `{"replicas":3}`),
		update("e2", "svc_2", `{"replicas":1}`),
		update("e3", "svc_1", `{"replicas":4}`),
	}
	if err := tracker.Prepare(context.Background(), events); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if want := [][]string{{"svc_1", "svc_2"}}; !slices.EqualFunc(store.calls, want, slices.Equal) {
		t.Errorf("PreviousSnapshots asked for %v; want %v", store.calls, want)
	}
	change := func(e *auditkeep.Event) string {
		if len(e.Changes) != 1 {
			return ""
		}
		return string(e.Changes[0].Old) + "→" + string(e.Changes[0].New)
	}
	for _, c := range []struct {
		e    *auditkeep.Event
		want string
	}{
		{events[0], "2→3"}, // against the stored snapshot
		{events[1], ""},    // no earlier snapshot: no changes
		{events[2], "3→4"}, // against e1, earlier in the group
	} {
		if got := change(c.e); got != c.want {
			t.Errorf("event %s: changes %+v; want %s", c.e.ID, c.e.Changes, c.want)
		}
	}
}
