package storetest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/auditkeep/auditkeep"
)

// matchTerm is the reference meaning of one filter term.
func matchTerm(e *auditkeep.Event, tm auditkeep.Term) bool {
	any := false
	for _, v := range tm.Values {
		if matchValue(e, tm.Field, v) {
			any = true
			break
		}
	}
	return any != tm.Negate
}

func matchValue(e *auditkeep.Event, field, v string) bool {
	switch field {
	case auditkeep.FieldAction:
		if p, ok := strings.CutSuffix(v, "*"); ok {
			return strings.HasPrefix(e.Action, p)
		}
		return e.Action == v
	case auditkeep.FieldType:
		return e.Type == v
	case auditkeep.FieldActor:
		return e.Actor.ID == v || (e.Actor.Name != "" && strings.EqualFold(e.Actor.Name, v)) ||
			(e.Actor.Email != "" && strings.EqualFold(e.Actor.Email, v))
	case auditkeep.FieldActorType:
		return e.Actor.Type == v
	case auditkeep.FieldTargetType:
		return e.Target != nil && e.Target.Type == v
	case auditkeep.FieldTargetID:
		return e.Target != nil && e.Target.ID == v
	case auditkeep.FieldTarget:
		return e.Target != nil && e.Target.Name != "" && strings.EqualFold(e.Target.Name, v)
	case auditkeep.FieldScope:
		p := auditkeep.ScopePath(e.Scope)
		return p != "" && (p == v || strings.HasPrefix(p, v+"/"))
	case auditkeep.FieldTeam:
		return e.Team == v
	case auditkeep.FieldIP:
		a, err := netip.ParseAddr(e.Context.IP)
		if err != nil {
			return false
		}
		pfx, err := auditkeep.ParseIPFilter(v)
		return err == nil && pfx.Contains(a.Unmap())
	case auditkeep.FieldSource:
		return e.Source == v
	case auditkeep.FieldStatus:
		return e.Status == v
	}
	panic("storetest: no reference for field " + field)
}

// words splits text the way full-text search is specified: letters and
// digits make words, everything else separates them, case is ignored.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// matchText is the reference meaning of a full-text term, case-insensitive,
// over the actor's name and email, the target's name, the action, the team,
// the IP and the description (each on its own). Each whitespace-separated
// word of Text must appear; a word that holds punctuation ("alice@example.com",
// "203.0.113.7", "token.create") must appear whole, its parts in a row. A
// Phrase must appear whole. Prefix makes the last word match the start of a
// word. A term with no letter or digit is ignored.
func matchText(e *auditkeep.Event, tt auditkeep.TextTerm) bool {
	fields := []string{e.Actor.Name, e.Actor.Email, e.Action, e.Team, e.Context.IP, e.Description}
	if e.Target != nil {
		fields = append(fields, e.Target.Name)
	}
	var seqs [][]string
	if tt.Phrase {
		seqs = [][]string{words(tt.Text)}
	} else {
		for _, w := range strings.Fields(tt.Text) {
			seqs = append(seqs, words(w))
		}
	}
	seqs = slices.DeleteFunc(seqs, func(q []string) bool { return len(q) == 0 })
	if len(seqs) == 0 {
		return true
	}
	for i, q := range seqs {
		prefix := tt.Prefix && i == len(seqs)-1
		if !slices.ContainsFunc(fields, func(f string) bool { return inRow(words(f), q, prefix) }) {
			return tt.Negate
		}
	}
	return !tt.Negate
}

// inRow reports whether q appears in doc, word after word.
func inRow(doc, q []string, prefix bool) bool {
	for start := 0; start+len(q) <= len(doc); start++ {
		ok := true
		for i, w := range q {
			if d := doc[start+i]; d != w && !(prefix && i == len(q)-1 && strings.HasPrefix(d, w)) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// expect returns the ids of the events matching f by the reference
// meaning, newest first (or oldest first for asc).
func expect(all []*auditkeep.Event, f auditkeep.Filter) []string {
	var out []*auditkeep.Event
	for _, e := range all {
		ok := (f.From.IsZero() || !e.OccurredAt.Before(f.From)) && (f.To.IsZero() || !e.OccurredAt.After(f.To))
		for _, tm := range f.Terms {
			ok = ok && matchTerm(e, tm)
		}
		for _, tt := range f.Text {
			ok = ok && matchText(e, tt)
		}
		if ok {
			out = append(out, e)
		}
	}
	return sortOrder(out, f)
}

// check lists f with several page sizes, in both sorts unless f names one,
// and compares with the reference. A case must select some events but not
// all, or it could not fail.
func check(t *testing.T, s auditkeep.Store, all []*auditkeep.Event, f auditkeep.Filter) {
	t.Helper()
	if f.Sort == "" {
		check1(t, s, all, f)
		f.Sort = auditkeep.SortTime
	}
	check1(t, s, all, f)
}

// check1 is check in f's sort.
func check1(t *testing.T, s auditkeep.Store, all []*auditkeep.Event, f auditkeep.Filter) {
	t.Helper()
	want := expect(all, f)
	if len(want) == 0 || len(want) == len(all) {
		t.Fatalf("bad test case %s: the reference selects %d of %d events", describe(f), len(want), len(all))
	}
	for _, limit := range []int{1000, 3} {
		got := ids(listAll(t, s, "acme", f, limit))
		if !slices.Equal(got, want) {
			t.Errorf("ListEvents(%s, limit %d) =\n  %v\nwant\n  %v", describe(f), limit, got, want)
		}
		if limit == 1000 {
			checkMatcher(t, all, f, got)
		}
	}
	var scanned []string
	if err := s.ScanEvents(context.Background(), "acme", f, func(e *auditkeep.Event) error {
		scanned = append(scanned, e.ID)
		return nil
	}); err != nil {
		t.Fatalf("ScanEvents(%s) = %v", describe(f), err)
	}
	if !slices.Equal(scanned, want) {
		t.Errorf("ScanEvents(%s) =\n  %v\nwant\n  %v", describe(f), scanned, want)
	}
}

func term(field string, values ...string) auditkeep.Term {
	return auditkeep.Term{Field: field, Values: values}
}

func not(field string, values ...string) auditkeep.Term {
	return auditkeep.Term{Field: field, Values: values, Negate: true}
}

func terms(ts ...auditkeep.Term) auditkeep.Filter { return auditkeep.Filter{Terms: ts} }

func testOrder(t *testing.T, s auditkeep.Store, all []*auditkeep.Event) {
	desc := seqOrder(all, true)
	asc := seqOrder(all, false)
	for _, tc := range []struct {
		order string
		want  []string
	}{{"", desc}, {auditkeep.OrderDesc, desc}, {auditkeep.OrderAsc, asc}} {
		for _, limit := range []int{1, 7, len(all), 1000} {
			got := ids(listAll(t, s, "acme", auditkeep.Filter{Order: tc.order}, limit))
			if !slices.Equal(got, tc.want) {
				t.Errorf("ListEvents(order %q, limit %d) =\n  %v\nwant\n  %v", tc.order, limit, got, tc.want)
			}
		}
	}
	// The default page size, and the cursor only when there is more.
	page, next, err := s.ListEvents(context.Background(), "acme", auditkeep.Filter{})
	if err != nil || len(page) != min(len(all), auditkeep.DefaultLimit) {
		t.Errorf("ListEvents(no limit) = %d events, %v; want %d", len(page), err, min(len(all), auditkeep.DefaultLimit))
	}
	if (next != nil) != (len(all) > auditkeep.DefaultLimit) {
		t.Errorf("ListEvents(no limit) next cursor = %v with %d events", next, len(all))
	}
	page, next, err = s.ListEvents(context.Background(), "acme", auditkeep.Filter{Limit: len(all)})
	if err != nil || len(page) != len(all) || next != nil {
		t.Errorf("ListEvents(limit = all) = %d events, cursor %v, %v; want %d, nil", len(page), next, err, len(all))
	}
	page, next, err = s.ListEvents(context.Background(), "acme", auditkeep.Filter{Limit: len(all) - 1})
	if err != nil || len(page) != len(all)-1 || next == nil || next.Seq != page[len(page)-1].Seq || next.Order != auditkeep.OrderDesc {
		t.Errorf("ListEvents(limit = all-1) = %d events, cursor %+v, %v; want %d and a cursor at the last one", len(page), next, err, len(all)-1)
	}
}

func testTerms(t *testing.T, s auditkeep.Store, all []*auditkeep.Event) {
	cases := []auditkeep.Filter{
		// action: exact, prefixes, several values.
		terms(term("action", "user.login")),
		terms(term("action", "token.*")),
		terms(term("action", "token*")),
		terms(term("action", "environment.*", "secret.read")),
		terms(term("action", "service.deploy", "service.restart")),
		// type, actor_type, status, source, team.
		terms(term("type", "delete")),
		terms(term("type", "create", "update")),
		terms(term("actor_type", "api_token")),
		terms(term("actor_type", "system", "service")),
		terms(term("status", "failure")),
		terms(term("source", "terraform")),
		terms(term("source", "cli", "system")),
		terms(term("team", "platform")),
		// actor by id, email, name; case-insensitive names and emails.
		terms(term("actor", "usr_42")),
		terms(term("actor", "alice@example.com")),
		terms(term("actor", "ALICE@Example.COM")),
		terms(term("actor", "Alice Martin")),
		terms(term("actor", "alice martin")),
		terms(term("actor", "chloe.dubois@example.org")),
		terms(term("actor", "Chloé Dubois")),
		terms(term("actor", "ci-deploy")),
		terms(term("actor", "tok_1", "bob@example.com")),
		// target by type, id, name.
		terms(term("target_type", "service")),
		terms(term("target_type", "token", "secret")),
		terms(term("target_id", "svc_2")),
		terms(term("target_id", "env_7", "env_9")),
		terms(term("target", "production")),
		terms(term("target", "PROD DB")),
		terms(term("target", "worker", "api")),
		// scope at each depth.
		terms(term("scope", "project:prj_1")),
		terms(term("scope", "project:prj_2")),
		terms(term("scope", "project:prj_1/environment:env_7")),
		terms(term("scope", "project:prj_1/environment:env_7/service:svc_2")),
		terms(term("scope", "project:prj_1/environment:env_7", "project:prj_1")),
		terms(term("scope", "project:prj_2/environment:env_9", "project:prj_1/environment:env_7/service:svc_1")),
		// ip exact and CIDR, v4 and v6.
		terms(term("ip", "203.0.113.7")),
		terms(term("ip", "203.0.113.0/24")),
		terms(term("ip", "198.51.100.0/24")),
		terms(term("ip", "198.51.100.200/32")),
		terms(term("ip", "0.0.0.0/0")),
		terms(term("ip", "2001:db8:85a3::8a2e:370:7334")),
		terms(term("ip", "2001:db8::/32")),
		terms(term("ip", "192.0.2.10", "2001:db8:85a3::1/128")),
		// negation.
		terms(not("status", "success")),
		terms(not("actor", "alice@example.com")),
		terms(not("action", "service.*")),
		terms(not("team", "platform", "billing")),
		terms(not("ip", "198.51.100.0/24")),
		terms(not("scope", "project:prj_1")),
		// filters AND-ed.
		terms(term("actor", "bob@example.com"), term("status", "failure")),
		terms(term("action", "service.*"), term("status", "failure")),
		terms(term("scope", "project:prj_1"), term("type", "delete")),
		terms(term("action", "service.deploy"), term("target", "worker"), not("status", "failure")),
		terms(term("ip", "203.0.113.0/24"), term("action", "token.*"), term("source", "api")),
		terms(term("team", "platform"), not("action", "user.*"), not("type", "create")),
		terms(term("action", "*"), term("type", "read")),
	}
	for _, f := range cases {
		check(t, s, all, f)
		f.Order = auditkeep.OrderAsc
		check(t, s, all, f)
	}
	// Terms matching nothing give nothing.
	for _, f := range []auditkeep.Filter{
		terms(term("action", "nothing.*")),
		terms(term("actor", "nobody@example.com")),
		terms(term("ip", "10.0.0.0/8")),
		terms(term("scope", "project:prj_1/environment:env_8/service:svc_1")),
		terms(term("target", "product")), // a name is matched whole
		terms(term("action", "service.deploy"), term("actor", "usr_42")),
		terms(not("action", "*")),
	} {
		got := listAll(t, s, "acme", f, 50)
		if len(got) != 0 {
			t.Errorf("ListEvents(%s) = %v; want none", describe(f), ids(got))
		}
	}
}

func testTime(t *testing.T, s auditkeep.Store, all []*auditkeep.Event) {
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b *auditkeep.Event) int { return a.OccurredAt.Compare(b.OccurredAt) })
	a, b := sorted[5].OccurredAt, sorted[20].OccurredAt
	cases := []auditkeep.Filter{
		{From: a},        // inclusive lower bound, to the nanosecond
		{To: b},          // inclusive upper bound
		{From: a, To: b}, // both
		{From: a, To: a}, // exactly one instant
		{From: a.Add(1), To: b.Add(-1)},
		{From: Base, To: Base.Add(2 * time.Minute)}, // holds the late arrival
		{From: a, To: b, Terms: []auditkeep.Term{term("actor", "alice@example.com")}},
		{From: a, Terms: []auditkeep.Term{term("action", "service.*")}, Text: []auditkeep.TextTerm{{Text: "worker"}}},
		{To: b, Text: []auditkeep.TextTerm{{Text: "created"}}},
	}
	for _, f := range cases {
		check(t, s, all, f)
		f.Order = auditkeep.OrderAsc
		check(t, s, all, f)
	}
	// Bounds that hold nothing.
	for _, f := range []auditkeep.Filter{
		{From: a.Add(1), To: a.Add(2)},
		{To: Base},
		{From: Base.Add(365 * 24 * time.Hour)},
	} {
		if got := listAll(t, s, "acme", f, 50); len(got) != 0 {
			t.Errorf("ListEvents(%s) = %v; want none", describe(f), ids(got))
		}
	}
}

func testText(t *testing.T, s auditkeep.Store, all []*auditkeep.Event) {
	text := func(tts ...auditkeep.TextTerm) auditkeep.Filter { return auditkeep.Filter{Text: tts} }
	w := func(s string) auditkeep.TextTerm { return auditkeep.TextTerm{Text: s} }
	cases := []auditkeep.Filter{
		text(w("deployed")),
		text(w("DEPLOYED")), // case-insensitive
		text(w("alice")),
		text(w("alice@example.com")), // an email, whole
		text(w("example")),           // and its parts
		text(w("203.0.113.7")),       // an IP, whole
		text(w("2001:db8:85a3::1")),  // IPv6
		text(w("token.create")),      // a dotted action, whole
		text(w("token")),             // and its parts
		text(w("platform")),          // team
		text(w("worker")),            // target name
		text(w("Chloé")),             // non-ASCII
		text(auditkeep.TextTerm{Text: "prod", Prefix: true}), // prefix: prod → production
		text(auditkeep.TextTerm{Text: "prod db", Phrase: true}),
		text(auditkeep.TextTerm{Text: "wrong password", Phrase: true}),
		text(auditkeep.TextTerm{Text: "logged in", Phrase: true}),
		text(auditkeep.TextTerm{Text: "image not fou", Phrase: true, Prefix: true}),
		text(w("service"), w("deleted")), // two words AND-ed
		text(w("deployed api")),          // two words in one term, not a phrase
		text(auditkeep.TextTerm{Text: "deployed", Negate: true}),
		text(w("production"), auditkeep.TextTerm{Text: "updated", Negate: true}),
		text(w("api"), auditkeep.TextTerm{Text: "v1.1", Prefix: true, Negate: true}),
		{Text: []auditkeep.TextTerm{w("deployed")}, Terms: []auditkeep.Term{term("target", "worker")}},
		{Text: []auditkeep.TextTerm{{Text: "failed", Negate: true}}, Terms: []auditkeep.Term{term("actor", "bob@example.com")}},
	}
	for _, f := range cases {
		check(t, s, all, f)
		f.Order = auditkeep.OrderAsc
		check(t, s, all, f)
	}
	// Text that is not search syntax matches literally, or nothing.
	for _, q := range []string{`"`, `prod" OR "alice`, `NEAR(a b)`, `*`, `alice AND bob`, `title:x`, `(`, `-x`, `^y`} {
		for _, tt := range []auditkeep.TextTerm{{Text: q}, {Text: q, Phrase: true}, {Text: q, Prefix: true}, {Text: q, Negate: true}} {
			f := text(tt)
			want := expect(all, f)
			got := ids(listAll(t, s, "acme", f, 1000))
			if !slices.Equal(got, want) {
				t.Errorf("ListEvents(%s) =\n  %v\nwant\n  %v", describe(f), got, want)
			}
			checkMatcher(t, all, f, got)
		}
	}
	// "prod" as a word is not "production".
	if got := listAll(t, s, "acme", text(w("prodution")), 10); len(got) != 0 {
		t.Errorf("ListEvents(prodution) = %v; want none", ids(got))
	}
}

func testScan(t *testing.T, s auditkeep.Store, all []*auditkeep.Event) {
	// ScanEvents ignores Limit and follows the cursor and order.
	f := auditkeep.Filter{Limit: 2, Terms: []auditkeep.Term{term("actor", "tok_1")}}
	want := expect(all, f)
	var got []string
	err := s.ScanEvents(context.Background(), "acme", f, func(e *auditkeep.Event) error { got = append(got, e.ID); return nil })
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ScanEvents(%s) = %v, %v; want %v", describe(f), got, err, want)
	}
	if len(want) <= 2 {
		t.Fatalf("bad test case: %d events", len(want))
	}
}

// testManyValues: filters whose values match many distinct stored values
// (a CIDR over 120 addresses, an action prefix over 40 actions) page
// correctly in both orders.
func testManyValues(t *testing.T, s auditkeep.Store) {
	createTenant(t, s, "acme")
	var all []*auditkeep.Event
	for i := range 720 {
		e := simple("acme", fmt.Sprintf("m%d", i/10), 10)[i%10]
		e.Context.IP = fmt.Sprintf("10.%d.%d.%d", i%3, (i/3)%2, i%120)
		e.Action = fmt.Sprintf("resource%d.%s", i%40, []string{"create", "update"}[i%2])
		e.Status = []string{auditkeep.StatusSuccess, auditkeep.StatusFailure}[(i/7)%2]
		all = append(all, e)
	}
	appendAll(t, s, all, 100)
	for _, f := range []auditkeep.Filter{
		terms(term("ip", "10.0.0.0/16")),
		terms(term("ip", "10.1.0.0/15", "10.0.1.0/24")),
		terms(term("action", "resource1*")),
		terms(term("action", "resource1*"), term("ip", "10.2.0.0/16")),
		terms(term("ip", "10.0.0.0/16"), term("status", "failure")),
		terms(not("ip", "10.0.0.0/16")),
		{Terms: []auditkeep.Term{term("ip", "10.0.0.0/8")}, From: all[100].OccurredAt, To: all[600].OccurredAt},
	} {
		want := expect(all, f)
		if len(want) == 0 || len(want) == len(all) {
			t.Fatalf("bad test case %s: the reference selects %d of %d events", describe(f), len(want), len(all))
		}
		for _, order := range []string{auditkeep.OrderDesc, auditkeep.OrderAsc} {
			for _, sort := range []string{auditkeep.SortSeq, auditkeep.SortTime} {
				f.Order, f.Sort = order, sort
				want := expect(all, f)
				for _, limit := range []int{7, 1000} {
					if got := ids(listAll(t, s, "acme", f, limit)); !slices.Equal(got, want) {
						t.Errorf("ListEvents(%s, limit %d) = %d events\n  %v\nwant %d\n  %v", describe(f), limit, len(got), got, len(want), want)
					}
				}
			}
		}
	}
}
