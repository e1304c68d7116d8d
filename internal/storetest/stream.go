package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

func streamStore(t *testing.T, s auditkeep.Store) auditkeep.StreamStore {
	t.Helper()
	ss, ok := s.(auditkeep.StreamStore)
	if !ok {
		t.Fatal("the store does not implement auditkeep.StreamStore")
	}
	return ss
}

func testStreams(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	ss := streamStore(t, s)
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	at := Base.Add(time.Hour + 789)
	newStream := func(tenant, id string) *auditkeep.Stream {
		t.Helper()
		st := &auditkeep.Stream{ID: id, Tenant: tenant, Name: "siem " + id, Type: "webhook", Format: "native",
			Filters:  map[string][]string{"action": {"token.*", "key.create"}, "q": {`-status:success "prod db"`}},
			Settings: json.RawMessage(`{"url":"https://siem.example.com/in"}`), Secret: []byte{0, 1, 2, 255},
			State: auditkeep.StreamActive, Cursor: 7, CreatedAt: at, UpdatedAt: at}
		if err := ss.CreateStream(ctx, st); err != nil {
			t.Fatalf("CreateStream(%s/%s) = %v", tenant, id, err)
		}
		at = at.Add(time.Second)
		return st
	}
	a := newStream("acme", "str_1")
	newStream("acme", "str_2")
	newStream("globex", "str_1") // the same ID in another tenant is another stream

	got, err := ss.GetStream(ctx, "acme", "str_1")
	if err != nil {
		t.Fatalf("GetStream(acme, str_1) = %v", err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("GetStream(acme, str_1) = %+v; want %+v", got, a)
	}
	_, err = ss.GetStream(ctx, "globex", "str_2")
	wantCode(t, "GetStream(globex, str_2)", err, auditkeep.ENOTFOUND)
	err = ss.CreateStream(ctx, &auditkeep.Stream{ID: "str_1", Tenant: "acme", Name: "x", Type: "webhook", Format: "native", State: auditkeep.StreamActive, CreatedAt: at, UpdatedAt: at})
	wantCode(t, "CreateStream(taken id)", err, auditkeep.ECONFLICT)
	err = ss.CreateStream(ctx, &auditkeep.Stream{ID: "str_9", Tenant: "nope", Name: "x", Type: "webhook", Format: "native", State: auditkeep.StreamActive, CreatedAt: at, UpdatedAt: at})
	wantCode(t, "CreateStream(unknown tenant)", err, auditkeep.ENOTFOUND)

	ids := func(tenant string) []string {
		t.Helper()
		list, err := ss.ListStreams(ctx, tenant)
		if err != nil {
			t.Fatalf("ListStreams(%q) = %v", tenant, err)
		}
		out := []string{}
		for _, st := range list {
			out = append(out, st.Tenant+"/"+st.ID)
		}
		return out
	}
	if got, want := ids("acme"), []string{"acme/str_1", "acme/str_2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListStreams(acme) = %v; want %v", got, want)
	}
	if got, want := ids(""), []string{"acme/str_1", "acme/str_2", "globex/str_1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListStreams(\"\") = %v; want %v", got, want)
	}

	// An update applies to the version read, and only once.
	old := *a
	a.Name, a.Format, a.State = "renamed", "ecs", auditkeep.StreamPaused
	a.Filters = map[string][]string{"type": {"delete"}}
	a.Settings = json.RawMessage(`{"url":"https://other.example.com/in"}`)
	a.Secret = []byte("sealed anew")
	a.UpdatedAt = at
	if err := ss.UpdateStream(ctx, a); err != nil {
		t.Fatalf("UpdateStream = %v", err)
	}
	if a.Version != old.Version+1 {
		t.Errorf("UpdateStream: Version = %d; want %d", a.Version, old.Version+1)
	}
	got, _ = ss.GetStream(ctx, "acme", "str_1")
	if !reflect.DeepEqual(got, a) {
		t.Errorf("GetStream after update = %+v; want %+v", got, a)
	}
	stale := old
	stale.Name = "stale"
	wantCode(t, "UpdateStream(stale version)", ss.UpdateStream(ctx, &stale), auditkeep.ECONFLICT)
	gone := old
	gone.ID = "str_9"
	wantCode(t, "UpdateStream(unknown)", ss.UpdateStream(ctx, &gone), auditkeep.ENOTFOUND)

	// One owner holds the lease; another gets it once it expired or was released.
	lease := func(tenant, id, owner string, ttl time.Duration, want bool) {
		t.Helper()
		ok, err := ss.LeaseStream(ctx, tenant, id, owner, ttl)
		if err != nil || ok != want {
			t.Errorf("LeaseStream(%s/%s, %s) = %v, %v; want %v, nil", tenant, id, owner, ok, err, want)
		}
	}
	lease("acme", "str_2", "node-a", time.Minute, true)
	lease("acme", "str_2", "node-b", time.Minute, false)
	lease("acme", "str_2", "node-a", time.Minute, true) // renewed
	lease("globex", "str_1", "node-b", time.Minute, true)
	if err := ss.ReleaseStream(ctx, "acme", "str_2", "node-b"); err != nil { // not the holder: nothing happens
		t.Errorf("ReleaseStream(not the holder) = %v", err)
	}
	lease("acme", "str_2", "node-b", time.Minute, false)
	if err := ss.ReleaseStream(ctx, "acme", "str_2", "node-a"); err != nil {
		t.Errorf("ReleaseStream = %v", err)
	}
	lease("acme", "str_2", "node-b", 50*time.Millisecond, true)
	time.Sleep(200 * time.Millisecond) // the lease expires by the store's clock
	lease("acme", "str_2", "node-a", time.Minute, true)
	_, err = ss.LeaseStream(ctx, "acme", "str_9", "node-a", time.Minute)
	wantCode(t, "LeaseStream(unknown)", err, auditkeep.ENOTFOUND)

	// Only the holder advances, and only from the stored position.
	from := auditkeep.StreamPosition{Cursor: 7}
	to := auditkeep.StreamPosition{Cursor: 20, StreamSeq: 5}
	wantCode(t, "AdvanceStream(not the holder)", ss.AdvanceStream(ctx, "acme", "str_2", "node-b", from, to, at), auditkeep.ECONFLICT)
	wantCode(t, "AdvanceStream(wrong position)", ss.AdvanceStream(ctx, "acme", "str_2", "node-a", auditkeep.StreamPosition{Cursor: 6}, to, at), auditkeep.ECONFLICT)
	wantCode(t, "AdvanceStream(unknown)", ss.AdvanceStream(ctx, "acme", "str_9", "node-a", from, to, at), auditkeep.ENOTFOUND)
	if err := ss.FailStream(ctx, "acme", "str_2", "node-a", auditkeep.StreamFailing, "HTTP 500", at); err != nil {
		t.Fatalf("FailStream = %v", err)
	}
	got, _ = ss.GetStream(ctx, "acme", "str_2")
	if got.State != auditkeep.StreamFailing || got.LastError != "HTTP 500" || !got.LastErrorAt.Equal(at) {
		t.Errorf("after FailStream: state %q, last_error %q at %v; want failing, HTTP 500 at %v", got.State, got.LastError, got.LastErrorAt, at)
	}
	wantCode(t, "FailStream(not the holder)", ss.FailStream(ctx, "acme", "str_2", "node-b", auditkeep.StreamFailing, "x", at), auditkeep.ECONFLICT)
	done := at.Add(time.Second + 3)
	if err := ss.AdvanceStream(ctx, "acme", "str_2", "node-a", from, to, done); err != nil {
		t.Fatalf("AdvanceStream = %v", err)
	}
	got, _ = ss.GetStream(ctx, "acme", "str_2")
	if got.Cursor != 20 || got.StreamSeq != 5 || got.State != auditkeep.StreamActive || !got.LastSuccessAt.Equal(done) || got.LastError != "HTTP 500" {
		t.Errorf("after AdvanceStream: %+v; want cursor 20, stream_seq 5, active, last_success_at %v, last_error kept", got, done)
	}
	wantCode(t, "AdvanceStream(again from the old position)", ss.AdvanceStream(ctx, "acme", "str_2", "node-a", from, to, done), auditkeep.ECONFLICT)

	// A paused stream stays paused whatever its deliverer reports.
	got.State = auditkeep.StreamPaused
	if err := ss.UpdateStream(ctx, got); err != nil {
		t.Fatalf("UpdateStream(paused) = %v", err)
	}
	if err := ss.FailStream(ctx, "acme", "str_2", "node-a", auditkeep.StreamAuthError, "HTTP 401", done); err != nil {
		t.Fatalf("FailStream(paused) = %v", err)
	}
	next := auditkeep.StreamPosition{Cursor: 30, StreamSeq: 8}
	if err := ss.AdvanceStream(ctx, "acme", "str_2", "node-a", to, next, done); err != nil {
		t.Fatalf("AdvanceStream(paused) = %v", err)
	}
	got, _ = ss.GetStream(ctx, "acme", "str_2")
	if got.State != auditkeep.StreamPaused || got.Cursor != 30 {
		t.Errorf("paused stream after FailStream and AdvanceStream: state %q cursor %d; want paused, 30", got.State, got.Cursor)
	}

	// An update leaves the position; a replay moves the cursor, not the stream seq.
	got.Name = "renamed again"
	got.Cursor, got.StreamSeq = 1, 1
	if err := ss.UpdateStream(ctx, got); err != nil {
		t.Fatalf("UpdateStream = %v", err)
	}
	got, _ = ss.GetStream(ctx, "acme", "str_2")
	if got.Name != "renamed again" || got.Cursor != 30 || got.StreamSeq != 8 {
		t.Errorf("after UpdateStream: name %q cursor %d stream_seq %d; want renamed again, 30, 8", got.Name, got.Cursor, got.StreamSeq)
	}
	v := got.Version
	if err := ss.ReplayStream(ctx, "acme", "str_2", 3, done); err != nil {
		t.Fatalf("ReplayStream = %v", err)
	}
	got, _ = ss.GetStream(ctx, "acme", "str_2")
	if got.Cursor != 3 || got.StreamSeq != 8 || got.Version != v+1 {
		t.Errorf("after ReplayStream: cursor %d stream_seq %d version %d; want 3, 8, %d", got.Cursor, got.StreamSeq, got.Version, v+1)
	}
	wantCode(t, "AdvanceStream(from before the replay)", ss.AdvanceStream(ctx, "acme", "str_2", "node-a", next, auditkeep.StreamPosition{Cursor: 40, StreamSeq: 9}, done), auditkeep.ECONFLICT)
	wantCode(t, "ReplayStream(unknown)", ss.ReplayStream(ctx, "acme", "str_9", 1, done), auditkeep.ENOTFOUND)

	if err := ss.DeleteStream(ctx, "acme", "str_1"); err != nil {
		t.Fatalf("DeleteStream = %v", err)
	}
	wantCode(t, "DeleteStream(again)", ss.DeleteStream(ctx, "acme", "str_1"), auditkeep.ENOTFOUND)
	if got, want := ids(""), []string{"acme/str_2", "globex/str_1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListStreams after delete = %v; want %v", got, want)
	}
}
