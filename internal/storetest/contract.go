package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert"
)

// invalidFilters are filters auditkeep.Filter.Validate refuses, with the
// field its error names.
func invalidFilters() []struct {
	name  string
	f     auditkeep.Filter
	field string
} {
	action := func(v ...string) auditkeep.Term { return auditkeep.Term{Field: auditkeep.FieldAction, Values: v} }
	return []struct {
		name  string
		f     auditkeep.Filter
		field string
	}{
		{"unknown order", auditkeep.Filter{Order: "sideways"}, "order"},
		{"unknown sort", auditkeep.Filter{Sort: "sideways"}, "sort"},
		{"term without values", auditkeep.Filter{Terms: []auditkeep.Term{action()}}, "terms[0]"},
		{"negated term without values", auditkeep.Filter{Terms: []auditkeep.Term{{Field: auditkeep.FieldAction, Negate: true}}}, "terms[0]"},
		{"unknown field", auditkeep.Filter{Terms: []auditkeep.Term{{Field: "colour", Values: []string{"red"}}}}, "terms[0]"},
		{"malformed value", auditkeep.Filter{Terms: []auditkeep.Term{action("user.login"), {Field: auditkeep.FieldIP, Values: []string{"not-an-ip"}}}}, "terms[1]"},
		{"empty value", auditkeep.Filter{Terms: []auditkeep.Term{action("user.login", "")}}, "terms[0]"},
		{"cursor of order \"\" (desc) with asc", auditkeep.Filter{Order: auditkeep.OrderAsc, Cursor: &auditkeep.Cursor{Seq: 5}}, "cursor"},
		{"asc cursor with the default order", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 5, Order: auditkeep.OrderAsc}}, "cursor"},
		{"seq cursor with sort by time", auditkeep.Filter{Sort: auditkeep.SortTime, Cursor: &auditkeep.Cursor{Seq: 5, Order: auditkeep.OrderDesc}}, "cursor"},
	}
}

// testFilterContract: a filter auditkeep.Filter.Validate refuses is
// EINVALID naming the same field from ListEvents, ScanEvents and
// ScanEventJSON (where the store has it), and nothing is read; the
// defaults Validate states ("" orders and a cursor's "" order are
// OrderDesc) read what the explicit values read.
func testFilterContract(t *testing.T, s auditkeep.Store, all []*auditkeep.Event) {
	ctx := context.Background()
	for _, tc := range invalidFilters() {
		if err := tc.f.Validate(); auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tc.field {
			t.Fatalf("%s: Validate() = %v; want EINVALID naming %s (the suite is wrong)", tc.name, err, tc.field)
		}
		check := func(method string, err error) {
			t.Helper()
			if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tc.field {
				t.Errorf("%s(%s) error = %v (code %q, field %q); want %s naming %s",
					method, tc.name, err, auditkeep.ErrorCode(err), auditkeep.ErrorField(err), auditkeep.EINVALID, tc.field)
			}
		}
		events, next, err := s.ListEvents(ctx, "acme", tc.f)
		check("ListEvents", err)
		if len(events) > 0 || next != nil {
			t.Errorf("ListEvents(%s) = %d events, next %v; want none", tc.name, len(events), next)
		}
		n := 0
		check("ScanEvents", s.ScanEvents(ctx, "acme", tc.f, func(*auditkeep.Event) error { n++; return nil }))
		if js, ok := s.(EventJSONStore); ok {
			check("ScanEventJSON", js.ScanEventJSON(ctx, "acme", tc.f, func(int64, []byte, int) error { n++; return nil }))
		}
		if n > 0 {
			t.Errorf("scans of %s called fn %d times; want 0", tc.name, n)
		}
		// The alert rules' matcher refuses the terms the stores refuse.
		if strings.HasPrefix(tc.field, "terms[") {
			_, err := alert.NewMatcher(tc.f)
			check("alert.NewMatcher", err)
		}
	}

	// A cursor whose Order is "" is a desc cursor: it reads the page a
	// desc cursor reads, with the default order and with OrderDesc.
	mid := all[len(all)/2].Seq
	var before []*auditkeep.Event
	for _, e := range all {
		if e.Seq < mid {
			before = append(before, e)
		}
	}
	want := seqOrder(before, true)
	if len(want) == 0 {
		t.Fatalf("bad fixture: no events before seq %d", mid)
	}
	for _, order := range []string{"", auditkeep.OrderDesc} {
		for _, corder := range []string{"", auditkeep.OrderDesc} {
			f := auditkeep.Filter{Order: order, Limit: auditkeep.MaxLimit, Cursor: &auditkeep.Cursor{Seq: mid, Order: corder}}
			events, _, err := s.ListEvents(ctx, "acme", f)
			if err != nil {
				t.Errorf("ListEvents(order %q, cursor order %q) = %v", order, corder, err)
				continue
			}
			if got := ids(events); !slices.Equal(got, want) {
				t.Errorf("ListEvents(order %q, cursor order %q) =\n  %v\nwant\n  %v", order, corder, got, want)
			}
			var scanned []string
			if err := s.ScanEvents(ctx, "acme", f, func(e *auditkeep.Event) error { scanned = append(scanned, e.ID); return nil }); err != nil {
				t.Errorf("ScanEvents(order %q, cursor order %q) = %v", order, corder, err)
			} else if !slices.Equal(scanned, want) {
				t.Errorf("ScanEvents(order %q, cursor order %q) =\n  %v\nwant\n  %v", order, corder, scanned, want)
			}
		}
	}
}

// testReceivedAt: Append gives an event with a zero ReceivedAt the time
// of the append, on the caller's event as on the stored one, and keeps a
// ReceivedAt that is set.
func testReceivedAt(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	events := simple("acme", "recv", 2)
	set := Base.Add(time.Hour).UTC()
	events[0].ReceivedAt = time.Time{}
	events[1].ReceivedAt = set
	before := time.Now().Add(-time.Second)
	if err := s.Append(ctx, events); err != nil {
		t.Fatalf("Append = %v", err)
	}
	after := time.Now().Add(time.Second)
	if got := events[0].ReceivedAt; got.Before(before) || got.After(after) {
		t.Errorf("Append: zero ReceivedAt became %v; want the time of the append (%v…%v)", got, before, after)
	}
	if got := events[1].ReceivedAt; !got.Equal(set) {
		t.Errorf("Append: ReceivedAt %v became %v; want it kept", set, got)
	}
	for _, e := range events {
		stored, err := s.GetEvent(ctx, "acme", e.ID)
		if err != nil {
			t.Fatalf("GetEvent(%s) = %v", e.ID, err)
		}
		// Stores keep times to the microsecond at least.
		if w, g := e.ReceivedAt.Truncate(time.Microsecond), stored.ReceivedAt.Truncate(time.Microsecond); !g.Equal(w) {
			t.Errorf("GetEvent(%s).ReceivedAt = %v; want %v, as Append left the caller's event", e.ID, g, w)
		}
	}
}

// testStats: a store that counts events (auditkeep.StatsStore) counts
// the stored ones, not duplicates nor another tenant's, and its last seq;
// an unknown tenant is ENOTFOUND.
func testStats(t *testing.T, s auditkeep.Store) {
	st, ok := s.(auditkeep.StatsStore)
	if !ok {
		t.Skip("the store does not count events")
	}
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	if got, err := st.Stats(ctx, "acme"); err != nil || got != (auditkeep.TenantStats{}) {
		t.Errorf("Stats(acme) before any event = %+v, %v; want zero", got, err)
	}
	appendAll(t, s, simple("acme", "st", 3), 3)
	appendAll(t, s, simple("globex", "st", 5), 5)
	if err := s.Append(ctx, simple("acme", "st", 2)); err != nil { // duplicates
		t.Fatalf("Append(duplicates) = %v", err)
	}
	if got, err := st.Stats(ctx, "acme"); err != nil || got != (auditkeep.TenantStats{Events: 3, LastSeq: 3}) {
		t.Errorf("Stats(acme) = %+v, %v; want 3 events, last seq 3", got, err)
	}
	_, err := st.Stats(ctx, "nope")
	wantCode(t, "Stats(unknown tenant)", err, auditkeep.ENOTFOUND)
}
