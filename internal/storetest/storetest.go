// Package storetest is the conformance suite of auditkeep.Store: every
// behaviour that a storage backend must show, as subtests, independent of
// how the backend keeps its data.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) auditkeep.Store { return openEmptyStore(t) })
//	}
//
// open must return a new, empty store each time it is called and arrange
// (with t.Cleanup) for it to be closed.
//
// Where the contracts of package auditkeep leave room, the suite decides:
//   - Seqs follow the order of the events in the slice given to Append.
//   - A delete event marks its target deleted only when it did not fail
//     (Status != failure): a refused deletion leaves the target alive.
//   - ListEvents returns a next cursor exactly when more events match.
//   - Full text: each whitespace-separated word must appear, case-insensitive;
//     a word holding punctuation (an email, an IP, a dotted action) must
//     appear whole, its parts in a row, and its parts alone match too; the
//     fields are searched one by one (a phrase does not span two fields).
//   - The actor filter matches the id exactly, the name and email without
//     regard to case; the target filter matches the name without regard to
//     case; IPs match as addresses (::ffff:203.0.113.7 is 203.0.113.7).
package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Run runs every subtest against stores made by open.
func Run(t *testing.T, open func(t *testing.T) auditkeep.Store) {
	t.Run("Tenants", func(t *testing.T) { testTenants(t, open(t)) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, open(t)) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, open(t)) })
	t.Run("SettingsInitRace", func(t *testing.T) { testSettingsInitRace(t, open(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open(t)) })
	t.Run("Streams", func(t *testing.T) { testStreams(t, open(t)) })
	t.Run("AlertRules", func(t *testing.T) { testAlertRules(t, open(t)) })
	t.Run("AlertDefaults", func(t *testing.T) { testAlertDefaults(t, open(t)) })
	t.Run("AlertEvaluation", func(t *testing.T) { testAlertEvaluation(t, open(t)) })
	t.Run("AlertNotifications", func(t *testing.T) { testAlertNotifications(t, open(t)) })
	t.Run("PersonSessions", func(t *testing.T) { testPersonSessions(t, open(t)) })
	t.Run("TenantSettings", func(t *testing.T) { testTenantSettings(t, open(t)) })
	t.Run("KeysListed", func(t *testing.T) { testKeysListed(t, open(t)) })
	t.Run("SessionsListed", func(t *testing.T) { testSessionsListed(t, open(t)) })
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(context.Background()); err != nil {
			t.Fatalf("Ping() = %v; want nil", err)
		}
	})
	t.Run("AppendRoundTrip", func(t *testing.T) { testAppendRoundTrip(t, open(t)) })
	t.Run("ReceivedAt", func(t *testing.T) { testReceivedAt(t, open(t)) })
	t.Run("Stats", func(t *testing.T) { testStats(t, open(t)) })
	t.Run("SeqPerTenant", func(t *testing.T) { testSeqPerTenant(t, open(t)) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, open(t)) })
	t.Run("AtomicUnknownTenant", func(t *testing.T) { testAtomicUnknownTenant(t, open(t)) })
	t.Run("AtomicCancelled", func(t *testing.T) { testAtomicCancelled(t, open(t)) })
	t.Run("GetEvent", func(t *testing.T) { testGetEvent(t, open(t)) })
	t.Run("DeletedTargets", func(t *testing.T) { testDeletedTargets(t, open(t)) })
	t.Run("PagingConcurrentAppends", func(t *testing.T) { testPagingConcurrent(t, open(t)) })
	t.Run("Isolation", func(t *testing.T) { testIsolation(t, open(t)) })
	t.Run("ManyValues", func(t *testing.T) { testManyValues(t, open(t)) })
	t.Run("Facets", func(t *testing.T) { testFacets(t, open(t)) })
	t.Run("OwnFields", func(t *testing.T) { testOwnFields(t, open(t)) })
	t.Run("SortByTime", func(t *testing.T) { testSortByTime(t, open(t)) })

	// The filter tests share one store holding the fixture.
	t.Run("Read", func(t *testing.T) {
		s := open(t)
		createTenant(t, s, "acme")
		createTenant(t, s, "globex") // the same fixture in another tenant: never seen by acme's reads
		all := Fixture("acme")
		appendAll(t, s, all, 10)
		appendAll(t, s, Fixture("globex"), 1000)
		t.Run("Order", func(t *testing.T) { testOrder(t, s, all) })
		t.Run("Terms", func(t *testing.T) { testTerms(t, s, all) })
		t.Run("Time", func(t *testing.T) { testTime(t, s, all) })
		t.Run("Text", func(t *testing.T) { testText(t, s, all) })
		t.Run("Scan", func(t *testing.T) { testScan(t, s, all) })
		t.Run("FilterContract", func(t *testing.T) { testFilterContract(t, s, all) })
	})
}

func createTenant(t *testing.T, s auditkeep.Store, id string) *auditkeep.Tenant {
	t.Helper()
	tn := &auditkeep.Tenant{ID: id, RetentionDays: 30, Plan: "team", CreatedAt: Base.Add(-time.Hour)}
	if err := s.CreateTenant(context.Background(), tn); err != nil {
		t.Fatalf("CreateTenant(%q) = %v", id, err)
	}
	return tn
}

// appendAll appends events in batches of size and checks that each got a seq.
func appendAll(t *testing.T, s auditkeep.Store, events []*auditkeep.Event, size int) {
	t.Helper()
	for i := 0; i < len(events); i += size {
		batch := events[i:min(i+size, len(events))]
		if err := s.Append(context.Background(), batch); err != nil {
			t.Fatalf("Append(events[%d:%d]) = %v", i, i+len(batch), err)
		}
		for _, e := range batch {
			if e.Seq <= 0 {
				t.Fatalf("Append: event %s got Seq %d; want > 0", e.ID, e.Seq)
			}
		}
	}
}

// listAll pages through every event of tenant matching f with pages of
// size limit, checking the cursor contract on the way; it returns the
// events in the order read.
func listAll(t *testing.T, s auditkeep.Store, tenant string, f auditkeep.Filter, limit int) []*auditkeep.Event {
	t.Helper()
	f.Limit = limit
	var out []*auditkeep.Event
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("ListEvents: more than 10,000 pages; the cursor does not advance")
		}
		page, next, err := s.ListEvents(context.Background(), tenant, f)
		if err != nil {
			t.Fatalf("ListEvents(%s) = %v", describe(f), err)
		}
		if len(page) > limit {
			t.Fatalf("ListEvents(%s) returned %d events; limit is %d", describe(f), len(page), limit)
		}
		out = append(out, page...)
		if next == nil {
			return out
		}
		if len(page) == 0 {
			t.Fatalf("ListEvents(%s) returned an empty page with a next cursor", describe(f))
		}
		f.Cursor = next
	}
}

func ids(events []*auditkeep.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// seqOrder returns the ids of events sorted by seq (desc when desc).
func seqOrder(events []*auditkeep.Event, desc bool) []string {
	c := slices.Clone(events)
	slices.SortFunc(c, func(a, b *auditkeep.Event) int {
		if desc {
			return int(b.Seq - a.Seq)
		}
		return int(a.Seq - b.Seq)
	})
	return ids(c)
}

// sortOrder returns the ids of events in f's sort and order: by seq, or by
// occurred_at with seq breaking ties.
func sortOrder(events []*auditkeep.Event, f auditkeep.Filter) []string {
	if !f.ByTime() {
		return seqOrder(events, f.Desc())
	}
	c := slices.Clone(events)
	slices.SortFunc(c, func(a, b *auditkeep.Event) int {
		n := a.OccurredAt.Compare(b.OccurredAt)
		if n == 0 {
			n = cmp.Compare(a.Seq, b.Seq)
		}
		if f.Desc() {
			return -n
		}
		return n
	})
	return ids(c)
}

// canonical returns the event's JSON without Target.Deleted.
func canonical(t *testing.T, e *auditkeep.Event) string {
	t.Helper()
	c := *e
	if c.Target != nil {
		tg := *c.Target
		tg.Deleted = false
		c.Target = &tg
	}
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func describe(f auditkeep.Filter) string {
	s := ""
	if !f.From.IsZero() {
		s += " from=" + f.From.Format(time.RFC3339Nano)
	}
	if !f.To.IsZero() {
		s += " to=" + f.To.Format(time.RFC3339Nano)
	}
	for _, tm := range f.Terms {
		neg := ""
		if tm.Negate {
			neg = "-"
		}
		s += fmt.Sprintf(" %s%s:%q", neg, tm.Field, tm.Values)
	}
	for _, tt := range f.Text {
		s += fmt.Sprintf(" text%+v", tt)
	}
	if f.Order != "" {
		s += " order=" + f.Order
	}
	if f.Sort != "" {
		s += " sort=" + f.Sort
	}
	if s == "" {
		return "{}"
	}
	return "{" + s[1:] + "}"
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := auditkeep.ErrorCode(err); got != code {
		t.Errorf("%s error = %v (code %q); want code %q", what, err, got, code)
	}
}
