package search_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/search"
)

// FuzzParse checks that Parse never panics, that every error is a
// *search.Error positioned inside q, and that what it accepts is a valid
// Filter: known fields, values the query parameters would accept, non-empty
// text, a time range that is not empty.
func FuzzParse(f *testing.F) {
	for _, q := range []string{
		"",
		`actor:alice@example.com action:token.* -status:success created:>=2026-11-01 "prod db"`,
		"action:user.login,user.logout",
		`target:"prod db" actor:"Alice Martin",bob`,
		"ip:10.0.0.0/8 ip:::1",
		"scope:project:prj_1/environment:env_7",
		"created:2026-11-01..2026-11-07 -created:<2026-11-03T10:00:00Z",
		"created:*..2026-11-07",
		"-created:2026-11-01..2026-11-07",
		"actr:alice",
		`"unterminated`,
		`say \"hi\"`,
		"deleted prod",
		"- --a",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got, err := search.Parse(q)
		if err != nil {
			var se *search.Error
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v (%T); want a *search.Error", q, err, err)
			}
			if se.Pos < 0 || se.Pos > len(q) {
				t.Fatalf("Parse(%q) = %v; Pos %d is outside 0..%d", q, err, se.Pos, len(q))
			}
			if auditkeep.ErrorCode(err) != auditkeep.EINVALID {
				t.Fatalf("Parse(%q) = %v; ErrorCode = %q, want %q", q, err, auditkeep.ErrorCode(err), auditkeep.EINVALID)
			}
			return
		}
		if len(got.Terms)+len(got.Text) > search.MaxTerms {
			t.Fatalf("Parse(%q) gave %d terms; the limit is %d", q, len(got.Terms)+len(got.Text), search.MaxTerms)
		}
		for _, term := range got.Terms {
			if !slices.Contains(auditkeep.TermFields, term.Field) {
				t.Fatalf("Parse(%q) gave unknown field %q", q, term.Field)
			}
			if len(term.Values) == 0 {
				t.Fatalf("Parse(%q) gave term %+v without values", q, term)
			}
			for _, v := range term.Values {
				if err := auditkeep.ValidateTermValue(term.Field, term.Field, v); err != nil {
					t.Fatalf("Parse(%q) gave invalid value: %v", q, err)
				}
				if !utf8.ValidString(v) {
					t.Fatalf("Parse(%q) gave value %q, not UTF-8", q, v)
				}
			}
		}
		prefixes := 0
		for _, tt := range got.Text {
			if strings.TrimSpace(tt.Text) == "" || !utf8.ValidString(tt.Text) || strings.ContainsRune(tt.Text, 0) {
				t.Fatalf("Parse(%q) gave text term %+v", q, tt)
			}
			if tt.Prefix {
				prefixes++
				if tt.Phrase {
					t.Fatalf("Parse(%q) gave a phrase with Prefix: %+v", q, tt)
				}
			}
		}
		if prefixes > 1 {
			t.Fatalf("Parse(%q) gave %d prefix terms; want at most 1", q, prefixes)
		}
		if !got.From.IsZero() && !got.To.IsZero() && got.To.Before(got.From) {
			t.Fatalf("Parse(%q) gave an empty range %v..%v", q, got.From, got.To)
		}
		if got.Limit != 0 || got.Cursor != nil || got.Order != "" {
			t.Fatalf("Parse(%q) set paging: %+v", q, got)
		}
	})
}
