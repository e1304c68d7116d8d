package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// RetentionStore is a store that retention can purge.
type RetentionStore interface {
	auditkeep.Store
	auditkeep.RetentionStore
}

// RunRetention runs the retention conformance subtests (legal holds,
// RetentionTenants, DeleteEvents) against stores made by open, which must
// return a new, empty store each time.
func RunRetention(t *testing.T, open func(t *testing.T) RetentionStore) {
	t.Run("Holds", func(t *testing.T) { testHolds(t, open(t)) })
	t.Run("RetentionTenants", func(t *testing.T) { testRetentionTenants(t, open(t)) })
	t.Run("DeleteEvents", func(t *testing.T) { testDeleteEvents(t, open(t)) })
	t.Run("DeleteEventsHeld", func(t *testing.T) { testDeleteEventsHeld(t, open(t)) })
	t.Run("FacetsAfterDelete", func(t *testing.T) { testFacetsAfterDelete(t, open(t)) })
}

func testHolds(t *testing.T, s RetentionStore) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	at := Base.Add(123456789 * time.Nanosecond)
	h1 := &auditkeep.Hold{ID: "hold_1", Tenant: "acme", Scope: "project:prj_1", Reason: "case 42", CreatedBy: "key_1", CreatedAt: at}
	h2 := &auditkeep.Hold{ID: "hold_2", Tenant: "acme", Reason: "litigation", CreatedBy: "root", CreatedAt: at.Add(time.Second)}
	for _, h := range []*auditkeep.Hold{h1, h2} {
		if err := s.CreateHold(ctx, h); err != nil {
			t.Fatalf("CreateHold(%s) = %v", h.ID, err)
		}
	}
	wantCode(t, "CreateHold(same id)", s.CreateHold(ctx, &auditkeep.Hold{ID: "hold_1", Tenant: "acme", Reason: "x", CreatedAt: at}), auditkeep.ECONFLICT)
	wantCode(t, "CreateHold(unknown tenant)", s.CreateHold(ctx, &auditkeep.Hold{ID: "hold_3", Tenant: "nobody", Reason: "x", CreatedAt: at}), auditkeep.ENOTFOUND)

	got, err := s.ListHolds(ctx, "acme")
	if err != nil {
		t.Fatalf("ListHolds = %v", err)
	}
	if len(got) != 2 || *got[0] != *h1 || *got[1] != *h2 {
		t.Errorf("ListHolds(acme) = %+v; want %+v, %+v", got, h1, h2)
	}
	if got, err := s.ListHolds(ctx, "globex"); err != nil || len(got) != 0 {
		t.Errorf("ListHolds(globex) = %v, %v; want none (holds are per tenant)", got, err)
	}
	wantCode(t, "DeleteHold(other tenant's hold)", s.DeleteHold(ctx, "globex", "hold_1"), auditkeep.ENOTFOUND)
	if err := s.DeleteHold(ctx, "acme", "hold_1"); err != nil {
		t.Fatalf("DeleteHold = %v", err)
	}
	wantCode(t, "DeleteHold(again)", s.DeleteHold(ctx, "acme", "hold_1"), auditkeep.ENOTFOUND)
	if got, _ := s.ListHolds(ctx, "acme"); len(got) != 1 || got[0].ID != "hold_2" {
		t.Errorf("ListHolds after DeleteHold = %+v; want hold_2 only", got)
	}
}

func testRetentionTenants(t *testing.T, s RetentionStore) {
	ctx := context.Background()
	for id, days := range map[string]int{"acme": 30, "forever": 0, "globex": 3} {
		if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: id, RetentionDays: days, CreatedAt: Base}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RetentionTenants(ctx)
	if err != nil {
		t.Fatalf("RetentionTenants = %v", err)
	}
	var names []string
	for _, tn := range got {
		names = append(names, tn.ID)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"acme", "globex"}) {
		t.Errorf("RetentionTenants = %v; want [acme globex] (forever has unlimited retention)", names)
	}
}

// seqsWhere returns the seqs of events for which keep is true.
func seqsWhere(events []*auditkeep.Event, keep func(*auditkeep.Event) bool) []int64 {
	var out []int64
	for _, e := range events {
		if keep(e) {
			out = append(out, e.Seq)
		}
	}
	return out
}

func testDeleteEvents(t *testing.T, s RetentionStore) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	all := Fixture("acme")
	appendAll(t, s, all, 50)
	appendAll(t, s, Fixture("globex"), 1000)

	// Remove every login event and the first five events.
	gone := func(e *auditkeep.Event) bool { return e.Type == auditkeep.TypeLogin || e.Seq <= 5 }
	seqs := seqsWhere(all, gone)
	seqs = append(seqs, 999999, -1) // not stored: ignored
	n, err := s.DeleteEvents(ctx, "acme", seqs)
	if err != nil {
		t.Fatalf("DeleteEvents = %v", err)
	}
	want := len(seqsWhere(all, gone))
	if n != want {
		t.Errorf("DeleteEvents removed %d; want %d", n, want)
	}
	if n, err := s.DeleteEvents(ctx, "acme", seqs); err != nil || n != 0 {
		t.Errorf("DeleteEvents again = %d, %v; want 0, nil", n, err)
	}

	var kept []*auditkeep.Event
	for _, e := range all {
		if !gone(e) {
			kept = append(kept, e)
		}
	}
	got := listAll(t, s, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc}, 7)
	if !slices.Equal(ids(got), ids(kept)) {
		t.Errorf("after DeleteEvents, ListEvents = %v; want %v", ids(got), ids(kept))
	}
	for _, e := range all {
		_, err := s.GetEvent(ctx, "acme", e.ID)
		if gone(e) {
			wantCode(t, "GetEvent(removed "+e.ID+")", err, auditkeep.ENOTFOUND)
		} else if err != nil {
			t.Errorf("GetEvent(kept %s) = %v", e.ID, err)
		}
	}
	// Indexes forget the removed events: a type filter, a full-text search.
	f := auditkeep.Filter{Terms: []auditkeep.Term{{Field: auditkeep.FieldType, Values: []string{auditkeep.TypeLogin}}}}
	if got := listAll(t, s, "acme", f, 50); len(got) != 0 {
		t.Errorf("ListEvents(type:login) after removing every login = %v; want none", ids(got))
	}
	f = auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "logged"}}}
	for _, e := range listAll(t, s, "acme", f, 50) {
		if gone(e) {
			t.Errorf("full-text search still finds removed event %s", e.ID)
		}
	}
	// Seqs do not restart.
	next := Fixture("acme")[0]
	next.ID = "after-purge"
	if err := s.Append(ctx, []*auditkeep.Event{next}); err != nil {
		t.Fatal(err)
	}
	if last := all[len(all)-1].Seq; next.Seq != last+1 {
		t.Errorf("Append after DeleteEvents got seq %d; want %d", next.Seq, last+1)
	}
	// The other tenant is untouched.
	if got := listAll(t, s, "globex", auditkeep.Filter{}, 1000); len(got) != len(all) {
		t.Errorf("globex has %d events after acme's purge; want %d", len(got), len(all))
	}
}

func testDeleteEventsHeld(t *testing.T, s RetentionStore) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	all := Fixture("acme")
	appendAll(t, s, all, 100)
	every := seqsWhere(all, func(*auditkeep.Event) bool { return true })

	if err := s.CreateHold(ctx, &auditkeep.Hold{ID: "h_all", Tenant: "acme", Reason: "everything", CreatedAt: Base}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteEvents(ctx, "acme", every); err != nil || n != 0 {
		t.Errorf("DeleteEvents under a whole-tenant hold = %d, %v; want 0, nil", n, err)
	}
	if err := s.DeleteHold(ctx, "acme", "h_all"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateHold(ctx, &auditkeep.Hold{ID: "h_prj", Tenant: "acme", Scope: "project:prj_1", Reason: "case", CreatedAt: Base}); err != nil {
		t.Fatal(err)
	}
	h := &auditkeep.Hold{Scope: "project:prj_1"}
	covered := func(e *auditkeep.Event) bool { return h.Covers(auditkeep.ScopePath(e.Scope)) }
	n, err := s.DeleteEvents(ctx, "acme", every)
	if err != nil {
		t.Fatalf("DeleteEvents = %v", err)
	}
	if want := len(all) - len(seqsWhere(all, covered)); n != want || want == 0 {
		t.Errorf("DeleteEvents under a project:prj_1 hold removed %d; want %d (of %d)", n, want, len(all))
	}
	got := listAll(t, s, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc}, 100)
	for _, e := range got {
		if !covered(e) {
			t.Errorf("event %s (scope %q) outside the hold was kept", e.ID, auditkeep.ScopePath(e.Scope))
		}
	}
	if len(got) != len(seqsWhere(all, covered)) {
		t.Errorf("%d events kept; want the %d under project:prj_1", len(got), len(seqsWhere(all, covered)))
	}
}
