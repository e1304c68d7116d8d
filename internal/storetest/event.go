package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// simple returns n plain events of tenant with ids prefix-0001, ….
func simple(tenant, prefix string, n int) []*auditkeep.Event {
	events := make([]*auditkeep.Event, n)
	for i := range events {
		at := Base.Add(time.Duration(i) * time.Second)
		events[i] = &auditkeep.Event{
			Tenant: tenant, ReceivedAt: at, ID: fmt.Sprintf("%s-%04d", prefix, i+1), OccurredAt: at,
			Action: "pod.restart", Type: auditkeep.TypeExecute, Status: auditkeep.StatusSuccess,
			Actor:  auditkeep.Actor{Type: auditkeep.ActorService, ID: "svc_scheduler"},
			Target: &auditkeep.Target{Type: "pod", ID: fmt.Sprintf("pod_%d", i%5), Name: fmt.Sprintf("web-%d", i%5)},
		}
	}
	return events
}

func countAll(t *testing.T, s auditkeep.Store, tenant string) int {
	t.Helper()
	n := 0
	err := s.ScanEvents(context.Background(), tenant, auditkeep.Filter{}, func(*auditkeep.Event) error { n++; return nil })
	if err != nil {
		t.Fatalf("ScanEvents(%s) = %v", tenant, err)
	}
	return n
}

// testAppendRoundTrip: every field comes back as stored, by GetEvent,
// ListEvents and ScanEvents.
func testAppendRoundTrip(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	events := Fixture("acme")
	appendAll(t, s, events, 7)
	want := map[string]string{}
	for _, e := range events {
		want[e.ID] = canonical(t, e)
	}
	for _, e := range events {
		got, err := s.GetEvent(ctx, "acme", e.ID)
		if err != nil {
			t.Fatalf("GetEvent(%s) = %v", e.ID, err)
		}
		if c := canonical(t, got); c != want[e.ID] {
			t.Errorf("GetEvent(%s) =\n%s\nwant\n%s", e.ID, c, want[e.ID])
		}
		if !got.OccurredAt.Equal(e.OccurredAt) || !got.ReceivedAt.Equal(e.ReceivedAt) {
			t.Errorf("GetEvent(%s) times = %v, %v; want %v, %v", e.ID, got.OccurredAt, got.ReceivedAt, e.OccurredAt, e.ReceivedAt)
		}
	}
	listed := listAll(t, s, "acme", auditkeep.Filter{}, 1000)
	if len(listed) != len(events) {
		t.Fatalf("ListEvents returned %d events; want %d", len(listed), len(events))
	}
	for _, e := range listed {
		if c := canonical(t, e); c != want[e.ID] {
			t.Errorf("ListEvents event %s =\n%s\nwant\n%s", e.ID, c, want[e.ID])
		}
	}
	n := 0
	err := s.ScanEvents(ctx, "acme", auditkeep.Filter{}, func(e *auditkeep.Event) error {
		n++
		if c := canonical(t, e); c != want[e.ID] {
			t.Errorf("ScanEvents event %s =\n%s\nwant\n%s", e.ID, c, want[e.ID])
		}
		return nil
	})
	if err != nil || n != len(events) {
		t.Errorf("ScanEvents = %d events, %v; want %d, nil", n, err, len(events))
	}
}

// testSeqPerTenant: seq counts 1, 2, 3, … per tenant with no gaps, in
// commit order, with tenants interleaved in one batch.
func testSeqPerTenant(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	a, g := simple("acme", "a", 30), simple("globex", "g", 30)
	var mixed []*auditkeep.Event
	for i := range 10 {
		mixed = append(mixed, a[i], g[i])
	}
	if err := s.Append(ctx, mixed); err != nil {
		t.Fatalf("Append(interleaved) = %v", err)
	}
	if err := s.Append(ctx, a[10:20]); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, append(slices.Clone(g[10:30]), a[20:30]...)); err != nil {
		t.Fatal(err)
	}
	for _, evs := range [][]*auditkeep.Event{a, g} {
		for i, e := range evs {
			if e.Seq != int64(i+1) {
				t.Errorf("event %s: Seq = %d; want %d", e.ID, e.Seq, i+1)
			}
		}
	}
	for _, tenant := range []string{"acme", "globex"} {
		got := listAll(t, s, tenant, auditkeep.Filter{Order: auditkeep.OrderAsc}, 1000)
		for i, e := range got {
			if e.Seq != int64(i+1) || e.Tenant != tenant {
				t.Errorf("ListEvents(%s, asc)[%d] = %s seq %d; want tenant %s seq %d", tenant, i, e.Tenant, e.Seq, tenant, i+1)
			}
		}
		if len(got) != 30 {
			t.Errorf("ListEvents(%s) returned %d events; want 30", tenant, len(got))
		}
	}
}

// testIdempotency: an id already stored, or repeated in the batch, is not
// stored again and gets Seq 0.
func testIdempotency(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	evs := simple("acme", "a", 4)
	dup := *evs[1]
	dup.Description = "a retry with other content"
	batch := []*auditkeep.Event{evs[0], evs[1], &dup, evs[2]}
	if err := s.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if got := []int64{evs[0].Seq, evs[1].Seq, dup.Seq, evs[2].Seq}; !slices.Equal(got, []int64{1, 2, 0, 3}) {
		t.Errorf("Append with a repeated id: seqs = %v; want [1 2 0 3]", got)
	}
	got, err := s.GetEvent(ctx, "acme", evs[1].ID)
	if err != nil || got.Description != "" {
		t.Errorf("GetEvent(%s) = %+v, %v; want the first copy", evs[1].ID, got, err)
	}

	// Across calls: the retry of a whole batch stores nothing.
	retry := simple("acme", "a", 4)
	if err := s.Append(ctx, retry); err != nil {
		t.Fatal(err)
	}
	if got := []int64{retry[0].Seq, retry[1].Seq, retry[2].Seq, retry[3].Seq}; !slices.Equal(got, []int64{0, 0, 0, 4}) {
		t.Errorf("Append retry: seqs = %v; want [0 0 0 4] (only the new event stored)", got)
	}
	if n := countAll(t, s, "acme"); n != 4 {
		t.Errorf("acme holds %d events; want 4", n)
	}

	// The same id in another tenant is another event.
	other := simple("globex", "a", 1)
	if err := s.Append(ctx, other); err != nil {
		t.Fatal(err)
	}
	if other[0].Seq != 1 {
		t.Errorf("globex event with acme's id: Seq = %d; want 1", other[0].Seq)
	}
	// And the next new event follows without a gap.
	next := simple("acme", "b", 1)
	if err := s.Append(ctx, next); err != nil {
		t.Fatal(err)
	}
	if next[0].Seq != 5 {
		t.Errorf("next acme event: Seq = %d; want 5", next[0].Seq)
	}
}

// testAtomicUnknownTenant: a batch naming an unknown tenant stores nothing.
func testAtomicUnknownTenant(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	appendAll(t, s, simple("acme", "first", 2), 10)
	batch := simple("acme", "a", 3)
	batch = append(batch, simple("nope", "n", 1)...)
	batch = append(batch, simple("acme", "b", 2)...)
	err := s.Append(ctx, batch)
	wantCode(t, "Append(batch with unknown tenant)", err, auditkeep.ENOTFOUND)
	if n := countAll(t, s, "acme"); n != 2 {
		t.Errorf("after a failed Append, acme holds %d events; want 2", n)
	}
	for _, e := range batch {
		if _, err := s.GetEvent(ctx, "acme", e.ID); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
			t.Errorf("GetEvent(%s) after failed Append = %v; want not found", e.ID, err)
		}
	}
	// Seq continues without a gap, and the ids are still free.
	retry := simple("acme", "a", 3)
	appendAll(t, s, retry, 10)
	if retry[0].Seq != 3 || retry[2].Seq != 5 {
		t.Errorf("after a failed Append, seqs = %d..%d; want 3..5", retry[0].Seq, retry[2].Seq)
	}
}

// testAtomicCancelled: a cancelled Append stores nothing and fails.
func testAtomicCancelled(t *testing.T, s auditkeep.Store) {
	createTenant(t, s, "acme")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	batch := simple("acme", "a", 50)
	if err := s.Append(ctx, batch); err == nil {
		t.Fatal("Append(cancelled context) = nil; want an error")
	}
	if n := countAll(t, s, "acme"); n != 0 {
		t.Errorf("after a cancelled Append, acme holds %d events; want 0", n)
	}
	retry := simple("acme", "a", 50)
	appendAll(t, s, retry, 50)
	if retry[0].Seq != 1 || retry[49].Seq != 50 {
		t.Errorf("after a cancelled Append, seqs = %d..%d; want 1..50", retry[0].Seq, retry[49].Seq)
	}
}

func testGetEvent(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	appendAll(t, s, simple("acme", "a", 5), 10)
	_, err := s.GetEvent(ctx, "acme", "a-9999")
	wantCode(t, "GetEvent(unknown id)", err, auditkeep.ENOTFOUND)
	_, err = s.GetEvent(ctx, "globex", "a-0001")
	wantCode(t, "GetEvent(another tenant's id)", err, auditkeep.ENOTFOUND)
	_, err = s.GetEvent(ctx, "nope", "a-0001")
	wantCode(t, "GetEvent(unknown tenant)", err, auditkeep.ENOTFOUND)
	got, err := s.GetEvent(ctx, "acme", "a-0003")
	if err != nil || got.ID != "a-0003" || got.Seq != 3 || got.Tenant != "acme" {
		t.Errorf("GetEvent(a-0003) = %+v, %v; want seq 3 of acme", got, err)
	}
}

// testDeletedTargets: once a delete event names a target, every read of
// any event of that target, earlier or later, shows it deleted.
func testDeletedTargets(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	events := Fixture("acme")
	appendAll(t, s, events, 5)
	// globex deletes acme's targets' namesakes: no effect on acme.
	appendAll(t, s, []*auditkeep.Event{{
		Tenant: "globex", ID: "g1", OccurredAt: Base, ReceivedAt: Base, Action: "pod.delete", Type: auditkeep.TypeDelete,
		Status: auditkeep.StatusSuccess, Actor: auditkeep.Actor{Type: auditkeep.ActorUser, ID: "u"},
		Target: &auditkeep.Target{Type: "service", ID: "svc_1", Name: "api"},
	}}, 1)

	deleted := func(e *auditkeep.Event) bool {
		if e.Target == nil {
			return false
		}
		// svc_2 (worker) and tok_2 (terraform) were deleted; the delete of
		// env_8 failed.
		return (e.Target.Type == "service" && e.Target.ID == "svc_2") || (e.Target.Type == "token" && e.Target.ID == "tok_2")
	}
	nDeleted := 0
	check := func(how string, e *auditkeep.Event) {
		t.Helper()
		if e.Target == nil {
			return
		}
		if e.Target.Deleted != deleted(e) {
			t.Errorf("%s: event %s (target %s %s): Target.Deleted = %v; want %v", how, e.ID, e.Target.Type, e.Target.ID, e.Target.Deleted, deleted(e))
		}
		if e.Target.Deleted {
			nDeleted++
		}
	}
	for _, e := range events {
		got, err := s.GetEvent(ctx, "acme", e.ID)
		if err != nil {
			t.Fatal(err)
		}
		check("GetEvent", got)
		// The name is the one of the event, not resurrected from elsewhere.
		if e.Target != nil && got.Target.Name != e.Target.Name {
			t.Errorf("GetEvent(%s): Target.Name = %q; want %q", e.ID, got.Target.Name, e.Target.Name)
		}
	}
	if nDeleted < 5 {
		t.Fatalf("only %d events show a deleted target; the fixture has more", nDeleted)
	}
	for _, e := range listAll(t, s, "acme", auditkeep.Filter{}, 9) {
		check("ListEvents", e)
	}
	err := s.ScanEvents(ctx, "acme", auditkeep.Filter{}, func(e *auditkeep.Event) error { check("ScanEvents", e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.GetEvent(ctx, "globex", "g1")
	if err != nil || !g.Target.Deleted {
		t.Errorf("GetEvent(globex g1) = %+v, %v; want its own target deleted", g, err)
	}
	// A later event of a deleted target is shown deleted too.
	later := &auditkeep.Event{Tenant: "acme", ID: "later", OccurredAt: Base.Add(24 * time.Hour), ReceivedAt: Base.Add(24 * time.Hour),
		Action: "service.read", Type: auditkeep.TypeRead, Status: auditkeep.StatusSuccess, Actor: alice,
		Target: &auditkeep.Target{Type: "service", ID: "svc_2", Name: "worker"}}
	appendAll(t, s, []*auditkeep.Event{later}, 1)
	if later.Target.Deleted {
		t.Error("Append set Target.Deleted on the caller's event")
	}
	got, err := s.GetEvent(ctx, "acme", "later")
	if err != nil || !got.Target.Deleted {
		t.Errorf("GetEvent(later) = %+v, %v; want target deleted", got, err)
	}
}

// testPagingConcurrent: while events are appended, paging through a tenant
// sees every event present at the start exactly once, and no event twice.
func testPagingConcurrent(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	initial := simple("acme", "init", 300)
	appendAll(t, s, initial, 100)
	for _, order := range []string{auditkeep.OrderDesc, auditkeep.OrderAsc} {
		t.Run(order, func(t *testing.T) {
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var appendErr error
			wg.Go(func() {
				for i := 0; i < 100; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := s.Append(ctx, simple("acme", fmt.Sprintf("%s-%03d", order, i), 5)); err != nil {
						appendErr = err
						return
					}
				}
			})
			f := auditkeep.Filter{Order: order, Limit: 7}
			seen := map[string]int{}
			var last int64
			for pages := 0; pages < 1000; pages++ {
				page, next, err := s.ListEvents(ctx, "acme", f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					seen[e.ID]++
					if last != 0 && (order == auditkeep.OrderAsc) != (e.Seq > last) {
						t.Errorf("%s paging: seq %d after %d", order, e.Seq, last)
					}
					last = e.Seq
				}
				if next == nil {
					break
				}
				f.Cursor = next
			}
			close(stop)
			wg.Wait()
			if appendErr != nil {
				t.Fatal(appendErr)
			}
			for _, e := range initial {
				if seen[e.ID] != 1 {
					t.Errorf("%s paging saw %s %d times; want once", order, e.ID, seen[e.ID])
				}
			}
			for id, n := range seen {
				if n > 1 {
					t.Errorf("%s paging saw %s %d times", order, id, n)
				}
			}
		})
	}
}

// testIsolation: no method of one tenant reads another's events.
func testIsolation(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	createTenant(t, s, "empty")
	appendAll(t, s, Fixture("acme"), 50)
	appendAll(t, s, Fixture("globex")[:10], 50)

	filters := []auditkeep.Filter{
		{},
		{Order: auditkeep.OrderAsc},
		{Terms: []auditkeep.Term{{Field: auditkeep.FieldActor, Values: []string{"alice@example.com"}}}},
		{Terms: []auditkeep.Term{{Field: auditkeep.FieldAction, Values: []string{"service.*"}}}},
		{Terms: []auditkeep.Term{{Field: auditkeep.FieldIP, Values: []string{"0.0.0.0/0", "::/0"}}}},
		{Terms: []auditkeep.Term{{Field: auditkeep.FieldStatus, Values: []string{"failure"}, Negate: true}}},
		{Text: []auditkeep.TextTerm{{Text: "deployed"}}},
		{From: Base.Add(-time.Hour), To: Base.Add(24 * time.Hour)},
	}
	for _, f := range filters {
		for tenant, want := range map[string]int{"globex": 10, "empty": 0} {
			for _, e := range listAll(t, s, tenant, f, 1000) {
				if e.Tenant != tenant {
					t.Errorf("ListEvents(%s, %s) returned an event of %s", tenant, describe(f), e.Tenant)
				}
			}
			err := s.ScanEvents(ctx, tenant, f, func(e *auditkeep.Event) error {
				if e.Tenant != tenant {
					t.Errorf("ScanEvents(%s, %s) returned an event of %s", tenant, describe(f), e.Tenant)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Terms) == 0 && len(f.Text) == 0 {
				if n := len(listAll(t, s, tenant, f, 1000)); n != want {
					t.Errorf("ListEvents(%s, %s) returned %d events; want %d", tenant, describe(f), n, want)
				}
			}
		}
	}
	_, err := s.GetEvent(ctx, "globex", "evt_acme_001")
	wantCode(t, "GetEvent(globex, acme's event)", err, auditkeep.ENOTFOUND)
	// Unknown tenants have nothing.
	page, _, err := s.ListEvents(ctx, "nope", auditkeep.Filter{})
	if len(page) != 0 {
		t.Errorf("ListEvents(unknown tenant) = %d events, %v; want none", len(page), err)
	}
	// Scan stops at fn's first error and returns it.
	stopErr := errors.New("stop here")
	n := 0
	err = s.ScanEvents(ctx, "acme", auditkeep.Filter{}, func(*auditkeep.Event) error { n++; return stopErr })
	if !errors.Is(err, stopErr) || n != 1 {
		t.Errorf("ScanEvents with a failing fn = %v after %d calls; want %v after 1", err, n, stopErr)
	}
}
