package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// unordered returns n events of tenant whose occurred_at does not follow
// their order: several senders, backfills and skewed clocks. Times repeat
// (seq breaks the tie) and differ by nanoseconds below a microsecond.
func unordered(tenant string, n int) []*auditkeep.Event {
	actors := []auditkeep.Actor{alice, bob, ciToken}
	actions := []string{"service.deploy", "service.restart", "secret.read", "user.login"}
	ips := []string{ipOffice, ipOffice2, ipBob, ipChloe}
	words := []string{"alpha rollout", "beta rollout", "gamma"}
	events := make([]*auditkeep.Event, n)
	for i := range events {
		// 25 slots of a minute, visited out of order; odd events are a few
		// nanoseconds into their slot, so that even ones tie.
		at := Base.Add(time.Duration((i*7919)%25) * time.Minute)
		if i%2 == 1 {
			at = at.Add(time.Duration(i%5+1) * time.Nanosecond)
		}
		events[i] = &auditkeep.Event{
			Tenant: tenant, ID: fmt.Sprintf("u%03d", i), OccurredAt: at, ReceivedAt: Base.Add(time.Hour + time.Duration(i)*time.Second),
			Action: actions[i%len(actions)], Type: auditkeep.TypeExecute, Status: auditkeep.StatusSuccess,
			Actor:       actors[i%len(actors)],
			Target:      &auditkeep.Target{Type: "service", ID: fmt.Sprintf("svc_%d", i%4), Name: fmt.Sprintf("api-%d", i%4)},
			Context:     auditkeep.Context{IP: ips[(i/2)%len(ips)]},
			Description: words[i%len(words)] + fmt.Sprintf(" number %d", i),
		}
		if i%6 == 0 {
			events[i].Status = auditkeep.StatusFailure
		}
	}
	return events
}

// testSortByTime: SortTime orders by occurred_at, seq breaking ties, in
// both orders, alone and with every kind of condition; paging by cursor
// returns each event once; a cursor of one sort is refused by the other.
func testSortByTime(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	all := unordered("acme", 90)
	appendAll(t, s, all, 7)
	appendAll(t, s, unordered("globex", 30), 30)

	// The fixture is out of order, or the test could not fail.
	byTime := sortOrder(all, auditkeep.Filter{Sort: auditkeep.SortTime})
	if slices.Equal(byTime, seqOrder(all, true)) {
		t.Fatal("bad fixture: time order is seq order")
	}
	for _, order := range []string{"", auditkeep.OrderDesc, auditkeep.OrderAsc} {
		f := auditkeep.Filter{Sort: auditkeep.SortTime, Order: order}
		want := sortOrder(all, f)
		for _, limit := range []int{1, 2, 7, 1000} {
			if got := ids(listAll(t, s, "acme", f, limit)); !slices.Equal(got, want) {
				t.Errorf("ListEvents(%s, limit %d) =\n  %v\nwant\n  %v", describe(f), limit, got, want)
			}
		}
	}
	// The seq sort is the default of the store, unchanged.
	if got := ids(listAll(t, s, "acme", auditkeep.Filter{}, 13)); !slices.Equal(got, seqOrder(all, true)) {
		t.Errorf("ListEvents({}) =\n  %v\nwant seq order\n  %v", got, seqOrder(all, true))
	}

	mid, late := all[0].OccurredAt.Add(5*time.Minute), all[0].OccurredAt.Add(18*time.Minute)
	for _, f := range []auditkeep.Filter{
		terms(term("action", "service.deploy")),
		terms(term("action", "service.*")),
		terms(term("actor", "bob@example.com")),
		terms(term("actor", "usr_42", "tok_1")),
		terms(term("ip", "203.0.113.0/24")),
		terms(term("target_id", "svc_1")),
		terms(term("status", "failure")),
		terms(not("action", "user.login")),
		terms(term("action", "service.*"), term("actor", "usr_7")),
		terms(term("target", "api-2"), not("status", "failure")),
		{From: mid, To: late},
		{From: mid, Terms: []auditkeep.Term{term("actor", "alice@example.com")}},
		{Text: []auditkeep.TextTerm{{Text: "rollout"}}},
		{Text: []auditkeep.TextTerm{{Text: "beta"}}, Terms: []auditkeep.Term{term("ip", ipBob)}},
		{Text: []auditkeep.TextTerm{{Text: "gamma", Negate: true}}, To: late},
	} {
		for _, order := range []string{auditkeep.OrderDesc, auditkeep.OrderAsc} {
			f.Order = order
			check(t, s, all, f)
		}
	}

	// A cursor is bound to its sort.
	page, next, err := s.ListEvents(ctx, "acme", auditkeep.Filter{Sort: auditkeep.SortTime, Limit: 5})
	if err != nil || len(page) != 5 || next == nil {
		t.Fatalf("ListEvents(sort time, limit 5) = %d events, %v, %v", len(page), next, err)
	}
	if next.Sort != auditkeep.SortTime || next.Seq != page[4].Seq || next.At != page[4].OccurredAt.UnixNano() {
		t.Errorf("next cursor = %+v; want sort %s at the last event (seq %d, %d)", next, auditkeep.SortTime, page[4].Seq, page[4].OccurredAt.UnixNano())
	}
	_, seqNext, err := s.ListEvents(ctx, "acme", auditkeep.Filter{Limit: 5})
	if err != nil || seqNext == nil {
		t.Fatalf("ListEvents(limit 5) = %v, %v", seqNext, err)
	}
	for _, f := range []auditkeep.Filter{
		{Cursor: next},
		{Cursor: next, Sort: auditkeep.SortSeq},
		{Cursor: seqNext, Sort: auditkeep.SortTime},
	} {
		_, _, err := s.ListEvents(ctx, "acme", f)
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != "cursor" {
			t.Errorf("ListEvents(sort %q, cursor of sort %q) = %v; want invalid cursor", f.Sort, f.Cursor.Sort, err)
		}
		err = s.ScanEvents(ctx, "acme", f, func(*auditkeep.Event) error { return nil })
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != "cursor" {
			t.Errorf("ScanEvents(sort %q, cursor of sort %q) = %v; want invalid cursor", f.Sort, f.Cursor.Sort, err)
		}
	}
	_, _, err = s.ListEvents(ctx, "acme", auditkeep.Filter{Sort: "time"})
	if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != "sort" {
		t.Errorf("ListEvents(sort %q) = %v; want invalid sort", "time", err)
	}

	// Paging while events arrive, some of them older than the pages read:
	// every event present at the start is read once, none twice, in order.
	f := auditkeep.Filter{Sort: auditkeep.SortTime, Limit: 6}
	seen := map[string]int{}
	var prev *auditkeep.Event
	for pages := 0; ; pages++ {
		page, next, err := s.ListEvents(ctx, "acme", f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			seen[e.ID]++
			if prev != nil && (e.OccurredAt.After(prev.OccurredAt) || e.OccurredAt.Equal(prev.OccurredAt) && e.Seq > prev.Seq) {
				t.Errorf("time paging: %s (%s, seq %d) after %s (%s, seq %d)", e.ID, e.OccurredAt, e.Seq, prev.ID, prev.OccurredAt, prev.Seq)
			}
			prev = e
		}
		if next == nil || pages > 100 {
			break
		}
		more := unordered("acme", 3)
		for i, e := range more {
			e.ID = fmt.Sprintf("new%03d-%d", pages, i)
			e.OccurredAt = prev.OccurredAt.Add(time.Duration(i-1) * time.Minute)
		}
		appendAll(t, s, more, 3)
		f.Cursor = next
	}
	for _, e := range all {
		if seen[e.ID] != 1 {
			t.Errorf("time paging saw %s %d times; want once", e.ID, seen[e.ID])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("time paging saw %s %d times", id, n)
		}
	}
}
