package search_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/search"
)

// ts parses an RFC 3339 time or panics.
func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

const ns = time.Nanosecond

func term(field string, values ...string) auditkeep.Term {
	return auditkeep.Term{Field: field, Values: values}
}

func not(t auditkeep.Term) auditkeep.Term { t.Negate = true; return t }

func word(s string) auditkeep.TextTerm   { return auditkeep.TextTerm{Text: s} }
func prefix(s string) auditkeep.TextTerm { return auditkeep.TextTerm{Text: s, Prefix: true} }
func phrase(s string) auditkeep.TextTerm { return auditkeep.TextTerm{Text: s, Phrase: true} }
func notText(t auditkeep.TextTerm) auditkeep.TextTerm {
	t.Negate = true
	return t
}

func terms(ts ...auditkeep.Term) auditkeep.Filter { return auditkeep.Filter{Terms: ts} }
func text(ts ...auditkeep.TextTerm) auditkeep.Filter {
	return auditkeep.Filter{Text: ts}
}
func span(from, to string) auditkeep.Filter {
	var f auditkeep.Filter
	if from != "" {
		f.From = ts(from)
	}
	if to != "" {
		f.To = ts(to)
	}
	return f
}

// show renders a filter for failure messages.
func show(f auditkeep.Filter) string {
	var b strings.Builder
	if !f.From.IsZero() {
		fmt.Fprintf(&b, "From=%s ", f.From.Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		fmt.Fprintf(&b, "To=%s ", f.To.Format(time.RFC3339Nano))
	}
	for _, t := range f.Terms {
		fmt.Fprintf(&b, "%+v ", t)
	}
	for _, t := range f.Text {
		fmt.Fprintf(&b, "%+v ", t)
	}
	return "{" + strings.TrimSpace(b.String()) + "}"
}

func TestParse(t *testing.T) {
	endOfDay := func(day string) string { return day + "T23:59:59.999999999Z" }
	tests := []struct {
		q    string
		want auditkeep.Filter
	}{
		// Empty.
		{"", auditkeep.Filter{}},
		{" \t\n ", auditkeep.Filter{}},

		// Every key.
		{"action:token.create", terms(term("action", "token.create"))},
		{"action:token.*", terms(term("action", "token.*"))},
		{"action:*", terms(term("action", "*"))},
		{"type:delete", terms(term("type", "delete"))},
		{"actor:alice@example.com", terms(term("actor", "alice@example.com"))},
		{"actor_type:api_token", terms(term("actor_type", "api_token"))},
		{"target_type:environment", terms(term("target_type", "environment"))},
		{"target_id:env_7", terms(term("target_id", "env_7"))},
		{"target:production", terms(term("target", "production"))},
		{"scope:project:prj_1", terms(term("scope", "project:prj_1"))},
		{"scope:project:prj_1/environment:env_7", terms(term("scope", "project:prj_1/environment:env_7"))},
		{"team:platform", terms(term("team", "platform"))},
		{"ip:203.0.113.7", terms(term("ip", "203.0.113.7"))},
		{"ip:10.0.0.0/8", terms(term("ip", "10.0.0.0/8"))},
		{"ip:::1", terms(term("ip", "::1"))},
		{"ip:2001:db8::/32", terms(term("ip", "2001:db8::/32"))},
		{"source:terraform", terms(term("source", "terraform"))},
		{"status:failure", terms(term("status", "failure"))},

		// Aliases and case of keys.
		{"actor-type:user", terms(term("actor_type", "user"))},
		{"target-type:pod", terms(term("target_type", "pod"))},
		{"target-id:pod_1", terms(term("target_id", "pod_1"))},
		{"Action:token.create", terms(term("action", "token.create"))},
		{"STATUS:success", terms(term("status", "success"))},

		// Values are kept as typed.
		{"actor:Alice", terms(term("actor", "Alice"))},
		{"target:prod*", terms(term("target", "prod*"))},

		// OR with commas.
		{"action:user.login,user.logout", terms(term("action", "user.login", "user.logout"))},
		{"type:create,update,delete", terms(term("type", "create", "update", "delete"))},
		{"actor:alice,bob", terms(term("actor", "alice", "bob"))},
		{"ip:10.0.0.0/8,192.168.0.0/16", terms(term("ip", "10.0.0.0/8", "192.168.0.0/16"))},

		// Quoted values.
		{`target:"prod db"`, terms(term("target", "prod db"))},
		{`actor:"Alice Martin"`, terms(term("actor", "Alice Martin"))},
		{`actor:"Martin, Alice"`, terms(term("actor", "Martin, Alice"))},
		{`actor:"Alice Martin",bob`, terms(term("actor", "Alice Martin", "bob"))},
		{`actor:bob,"Alice Martin"`, terms(term("actor", "bob", "Alice Martin"))},
		{`target:"say \"hi\""`, terms(term("target", `say "hi"`))},
		{`target:"back\\slash"`, terms(term("target", `back\slash`))},
		{`target:"a\b"`, terms(term("target", `a\b`))},
		{`action:"token.create"`, terms(term("action", "token.create"))},

		// Negation.
		{"-status:success", terms(not(term("status", "success")))},
		{"-action:user.login,user.logout", terms(not(term("action", "user.login", "user.logout")))},
		{`-actor:"Alice Martin"`, terms(not(term("actor", "Alice Martin")))},
		{"-staging", text(notText(prefix("staging")))},
		{`-"dry run"`, text(notText(phrase("dry run")))},

		// Full text; the last bare word is a prefix.
		{"prod", text(prefix("prod"))},
		{"deleted prod", text(word("deleted"), prefix("prod"))},
		{"prod action:token.create", auditkeep.Filter{
			Terms: []auditkeep.Term{term("action", "token.create")},
			Text:  []auditkeep.TextTerm{prefix("prod")},
		}},
		{`prod "db deleted"`, text(prefix("prod"), phrase("db deleted"))},
		{`"prod db"`, text(phrase("prod db"))},
		{`"prod"`, text(phrase("prod"))},
		{`" padded "`, text(phrase(" padded "))},
		{`"a:b"`, text(phrase("a:b"))},
		{`"say \"hi\""`, text(phrase(`say "hi"`))},
		{"Production", text(prefix("Production"))},
		{"203.0.113.7", text(prefix("203.0.113.7"))},
		{"2001:db8::1", text(prefix("2001:db8::1"))},
		{"10:30", text(prefix("10:30"))},
		{"'production':", text(prefix("'production':"))},
		{"héllo wörld", text(word("héllo"), prefix("wörld"))},
		{"a\u00a0b", text(word("a"), prefix("b"))}, // no-break space separates
		{"a-b", text(prefix("a-b"))},
		{"foo*", text(prefix("foo*"))},

		// created: dates cover whole UTC days.
		{"created:2026-11-01", span("2026-11-01T00:00:00Z", endOfDay("2026-11-01"))},
		{"created:=2026-11-01", span("2026-11-01T00:00:00Z", endOfDay("2026-11-01"))},
		{"created:>=2026-11-01", span("2026-11-01T00:00:00Z", "")},
		{"created:>2026-11-01", span("2026-11-02T00:00:00Z", "")},
		{"created:<2026-11-01", span("", "2026-10-31T23:59:59.999999999Z")},
		{"created:<=2026-11-01", span("", endOfDay("2026-11-01"))},
		{"created:2026-11-01..2026-11-07", span("2026-11-01T00:00:00Z", endOfDay("2026-11-07"))},
		{"created:2026-11-01..2026-11-01", span("2026-11-01T00:00:00Z", endOfDay("2026-11-01"))},
		{"created:2026-11-01..*", span("2026-11-01T00:00:00Z", "")},
		{"created:*..2026-11-07", span("", endOfDay("2026-11-07"))},
		{`created:"2026-11-01"`, span("2026-11-01T00:00:00Z", endOfDay("2026-11-01"))},

		// created: RFC 3339 times are instants.
		{"created:2026-11-26T09:00:00Z", span("2026-11-26T09:00:00Z", "2026-11-26T09:00:00Z")},
		{"created:>=2026-11-26T09:00:00Z", span("2026-11-26T09:00:00Z", "")},
		{"created:>2026-11-26T09:00:00Z", span("2026-11-26T09:00:00.000000001Z", "")},
		{"created:<2026-11-26T09:00:00Z", span("", "2026-11-26T08:59:59.999999999Z")},
		{"created:<=2026-11-26T09:00:00Z", span("", "2026-11-26T09:00:00Z")},
		{"created:>=2026-11-26T10:00:00+01:00", span("2026-11-26T09:00:00Z", "")},
		{"created:2026-11-26T09:00:00Z..2026-11-26T10:00:00.5Z", span("2026-11-26T09:00:00Z", "2026-11-26T10:00:00.5Z")},
		{"created:2026-11-01..2026-11-26T10:00:00Z", span("2026-11-01T00:00:00Z", "2026-11-26T10:00:00Z")},

		// Negated created becomes the complementary half range.
		{"-created:>2026-11-01", span("", endOfDay("2026-11-01"))},                      // <=
		{"-created:>=2026-11-01", span("", "2026-10-31T23:59:59.999999999Z")},           // <
		{"-created:<2026-11-01", span("2026-11-01T00:00:00Z", "")},                      // >=
		{"-created:<=2026-11-01", span("2026-11-02T00:00:00Z", "")},                     // >
		{"-created:>2026-11-26T09:00:00Z", span("", "2026-11-26T09:00:00Z")},            // <=
		{"-created:<2026-11-26T09:00:00Z", span("2026-11-26T09:00:00Z", "")},            // >=
		{"-created:>=2026-11-26T09:00:00Z", span("", "2026-11-26T08:59:59.999999999Z")}, // <

		// Several created terms intersect.
		{"created:>=2026-11-01 created:<2026-12-01", span("2026-11-01T00:00:00Z", "2026-11-30T23:59:59.999999999Z")},
		{"created:>=2026-11-05 created:>=2026-11-01", span("2026-11-05T00:00:00Z", "")},
		{"created:<=2026-11-05 created:<=2026-11-09", span("", endOfDay("2026-11-05"))},
		{"created:2026-11-01..2026-11-30 created:2026-11-10..2026-12-31", span("2026-11-10T00:00:00Z", endOfDay("2026-11-30"))},
		{"created:2026-11-01 created:2026-11-01", span("2026-11-01T00:00:00Z", endOfDay("2026-11-01"))},
		// The zero time as a lower bound means no bound, which is what it says.
		{"created:>=0001-01-01", auditkeep.Filter{}},

		// Everything together, as in the specification.
		{`actor:alice@example.com action:token.* -status:success created:>=2026-11-01 "prod db"`, auditkeep.Filter{
			From: ts("2026-11-01T00:00:00Z"),
			Terms: []auditkeep.Term{
				term("actor", "alice@example.com"),
				term("action", "token.*"),
				not(term("status", "success")),
			},
			Text: []auditkeep.TextTerm{phrase("prod db")},
		}},
		// Repeated keys are separate terms, AND-ed.
		{"action:token.* action:token.create", terms(term("action", "token.*"), term("action", "token.create"))},
		// Whitespace of any kind separates terms.
		{"\tteam:platform\n\r status:failure  ", terms(term("team", "platform"), term("status", "failure"))},
		// Exactly the limits.
		{strings.Repeat("a ", search.MaxTerms), func() auditkeep.Filter {
			var f auditkeep.Filter
			for range search.MaxTerms - 1 {
				f.Text = append(f.Text, word("a"))
			}
			f.Text = append(f.Text, prefix("a"))
			return f
		}()},
		{"target:" + strings.Repeat("x", 512), terms(term("target", strings.Repeat("x", 512)))},
	}
	for _, tt := range tests {
		got, err := search.Parse(tt.q)
		if err != nil {
			t.Errorf("Parse(%q) = %v; want %s", tt.q, err, show(tt.want))
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %s; want %s", tt.q, show(got), show(tt.want))
		}
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("x", search.MaxQueryLen+1)
	many := strings.Repeat("a ", search.MaxTerms) + "b"
	tests := []struct {
		q    string
		want string // Error()
		pos  int
	}{
		// Keys.
		{"actr:alice", `unknown key "actr" at 0; did you mean "actor"?`, 0},
		{"action:x actoin:y", `unknown key "actoin" at 9; did you mean "action"?`, 9},
		{"-stauts:success", `unknown key "stauts" at 1; did you mean "status"?`, 1},
		{"creatd:2026-11-01", `unknown key "creatd" at 0; did you mean "created"?`, 0},
		{"actortype:user", `unknown key "actortype" at 0; did you mean "actor_type"?`, 0},
		{"user:alice", `unknown key "user" at 0; use actor: for who acted, or target: for what was acted on`, 0},
		{"http://example.com", `unknown key "http" at 0; to search for text containing ":", put it in quotes`, 0},
		{"x:1", `unknown key "x" at 0; to search for text containing ":", put it in quotes`, 0},

		// Missing values.
		{"action:", `expected a value after "action:" at 7`, 7},
		{"action: token.create", `expected a value after "action:" at 7`, 7},
		{`action:""`, `expected a value after "action:" at 7`, 7},
		{"action:a,", `expected a value after "," at 9`, 9},
		{"action:a,,b", `expected a value after "," at 9`, 9},
		{"action:,a", `expected a value after "action:" at 7`, 7},
		{"action:a, b", `expected a value after "," at 9`, 9},
		{"Team:", `expected a value after "Team:" at 5`, 5},

		// Invalid values, positioned at the value.
		{"action:Token.Create", `action "Token.Create" is not an action name (lowercase dotted words, optionally ending in *) at 7`, 7},
		{"action:a,B", `action "B" is not an action name (lowercase dotted words, optionally ending in *) at 9`, 9},
		{"type:remove", `type "remove" is not one of create, read, update, delete, execute, login, logout, info at 5`, 5},
		{"actor_type:robot", `actor_type "robot" is not one of user, api_token, service, system at 11`, 11},
		{"status:ok", `status "ok" is not success or failure at 7`, 7},
		{"ip:10.0.0.300", `ip "10.0.0.300" is not an IP address or CIDR prefix at 3`, 3},
		{"ip:10.0.0.0/33", `ip "10.0.0.0/33" is not an IP address or CIDR prefix at 3`, 3},
		{"scope:project", `scope "project" is not a scope path like project:prj_1/environment:env_7 at 6`, 6},
		{"target:" + strings.Repeat("x", 513), `target is longer than 512 bytes at 7`, 7},

		// Quotes.
		{`deleted "prod db`, `unterminated quote at 8`, 8},
		{`target:"prod db`, `unterminated quote at 7`, 7},
		{`actor:a,"b`, `unterminated quote at 8`, 8},
		{`"a\"`, `unterminated quote at 0`, 0},
		{`"prod db"x`, `expected a space after the closing quote at 9`, 9},
		{`"a""b"`, `expected a space after the closing quote at 3`, 3},
		{`target:"a"b`, `expected a space or a comma after the closing quote at 10`, 10},
		{`foo"bar"`, `unexpected quote at 3`, 3},
		{`target:a"b"`, `unexpected quote at 8`, 8},
		{`""`, `empty phrase at 0`, 0},
		{`x "  "`, `empty phrase at 2`, 2},

		// Full text without a letter or digit would match every event.
		{"%", `word "%" has no letter or digit to search for at 0`, 0},
		{"prod _", `word "_" has no letter or digit to search for at 5`, 5},
		{"-%%", `word "%%" has no letter or digit to search for at 1`, 1},
		{`a "%"`, `phrase "%" has no letter or digit to search for at 2`, 2},

		// Negation.
		{"-", `expected a term after "-" at 0`, 0},
		{"a - b", `expected a term after "-" at 2`, 2},
		{"--a", `unexpected "-" at 1`, 1},

		// created.
		{"created:2026-13-01", `invalid date "2026-13-01" at 8`, 8},
		{"created:>=2026-13-01", `invalid date "2026-13-01" at 10`, 10},
		{"created:yesterday", `invalid date "yesterday" at 8`, 8},
		{"created:2026-11-01T25:00:00Z", `invalid date "2026-11-01T25:00:00Z" at 8`, 8},
		{"created:2026-11-1", `invalid date "2026-11-1" at 8`, 8},
		{"created:2026-11-01..2026-02-30", `invalid date "2026-02-30" at 20`, 20},
		{"created:>=2026-11-01..2026-11-05", `invalid date "2026-11-01..2026-11-05" at 10`, 10},
		{"created:", `expected a value after "created:" at 8`, 8},
		{"created:>=", `expected a date after ">=" at 10`, 10},
		{"created:<", `expected a date after "<" at 9`, 9},
		{"created:..2026-11-01", `expected a date or * before ".." at 8`, 8},
		{"created:2026-11-01..", `expected a date or * after ".." at 20`, 20},
		{"created:*..*", `a created range needs at least one date at 8`, 8},
		{"created:2026-11-07..2026-11-01", `created range ends before it starts at 8`, 8},
		{"created:2026-11-01,2026-11-02", `created takes one date or range at 18`, 18},
		{"x -created:2026-11-01..2026-11-07", `a created range cannot be negated at 2`, 2},
		{"-created:2026-11-01", `a created date cannot be negated at 0`, 0},
		{"-created:=2026-11-01", `a created date cannot be negated at 0`, 0},
		{"created:>=2026-11-05 created:<2026-11-01", `created conditions exclude each other at 21`, 21},
		{"created:2026-11-01 created:2026-11-02", `created conditions exclude each other at 19`, 19},
		{"created:<0001-01-01T00:00:00.000000001Z", `date "<0001-01-01T00:00:00.000000001Z" is out of range at 8`, 8},
		{"created:0001-01-01T00:00:00Z", `date "0001-01-01T00:00:00Z" is out of range at 8`, 8},

		// Characters.
		{"a\x00b", `control character U+0000 at 1`, 1},
		{"action:a\x7f", `control character U+007F at 8`, 8},
		{"ab\xffc", `invalid UTF-8 at 2`, 2},

		// Limits.
		{long, `query is longer than 2000 bytes`, -1},
		{many, `more than 50 terms at 100`, 100},
	}
	for _, tt := range tests {
		got, err := search.Parse(tt.q)
		if err == nil {
			t.Errorf("Parse(%q) = %s; want error %q", tt.q, show(got), tt.want)
			continue
		}
		var se *search.Error
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v (%T); want a *search.Error", tt.q, err, err)
			continue
		}
		if err.Error() != tt.want || se.Pos != tt.pos {
			t.Errorf("Parse(%q) = %q (Pos %d); want %q (Pos %d)", tt.q, err, se.Pos, tt.want, tt.pos)
		}
		if !reflect.DeepEqual(got, auditkeep.Filter{}) {
			t.Errorf("Parse(%q) returned %s with its error; want the zero Filter", tt.q, show(got))
		}
	}
}

// TestErrorIsInvalid checks that a parse error reads as EINVALID naming q to
// the rest of auditkeep, so the HTTP layer answers 400 with its position.
func TestErrorIsInvalid(t *testing.T) {
	_, err := search.Parse("actr:alice")
	if code := auditkeep.ErrorCode(err); code != auditkeep.EINVALID {
		t.Errorf("ErrorCode(%v) = %q; want %q", err, code, auditkeep.EINVALID)
	}
	if f := auditkeep.ErrorField(err); f != "q" {
		t.Errorf("ErrorField(%v) = %q; want %q", err, f, "q")
	}
	want := `unknown key "actr" at 0; did you mean "actor"?`
	if msg := auditkeep.ErrorMessage(err); msg != want {
		t.Errorf("ErrorMessage(%v) = %q; want %q", err, msg, want)
	}
	var se *search.Error
	if !errors.As(err, &se) {
		t.Fatalf("errors.As(%v, *search.Error) = false; want true", err)
	}
	ae := se.AuditkeepError()
	if ae.Code != auditkeep.EINVALID || ae.Field != "q" || ae.Message != want {
		t.Errorf("AuditkeepError() = %+v; want code %q, field q, message %q", ae, auditkeep.EINVALID, want)
	}
	// Wrapped, it still converts.
	wrapped := fmt.Errorf("listing events: %w", err)
	if code := auditkeep.ErrorCode(wrapped); code != auditkeep.EINVALID {
		t.Errorf("ErrorCode(%v) = %q; want %q", wrapped, code, auditkeep.EINVALID)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    search.Error
		want string
	}{
		{search.Error{Pos: 12, Msg: "unterminated quote"}, "unterminated quote at 12"},
		{search.Error{Pos: 0, Msg: `unknown key "actr"`, Hint: `did you mean "actor"?`}, `unknown key "actr" at 0; did you mean "actor"?`},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("(%+v).Error() = %q; want %q", tt.e, got, tt.want)
		}
	}
}

func TestNearest(t *testing.T) {
	flags := []string{"limit", "target-id", "with-proofs", "q", "ip", "actor"}
	for _, tt := range []struct{ word, want string }{
		{"limt", "limit"},
		{"target_id", "target-id"},
		{"with-proof", "with-proofs"},
		{"actr", "actor"},
		{"bogus", ""},
		{"x", ""},
		{"é", ""},
	} {
		if got := search.Nearest(tt.word, flags); got != tt.want {
			t.Errorf("Nearest(%q) = %q; want %q", tt.word, got, tt.want)
		}
	}
}
