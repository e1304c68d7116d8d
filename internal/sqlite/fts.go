package sqlite

import (
	"slices"
	"strings"
	"unicode"

	"github.com/auditkeep/auditkeep"
)

// ftsExpr returns the FTS5 expression of a text term: each word (or the
// whole phrase) as an FTS5 string, so that nothing the user typed is FTS5
// syntax; "*" after the last one for a prefix. "" when there is no word.
func ftsExpr(t auditkeep.TextTerm) string {
	var parts []string
	if t.Phrase {
		parts = []string{t.Text}
	} else {
		parts = strings.Fields(t.Text)
	}
	// A word without a letter or digit has no token: drop it.
	parts = slices.DeleteFunc(parts, func(w string) bool { return !strings.ContainsFunc(w, isWordRune) })
	if len(parts) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, w := range parts {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(w, `"`, `""`))
		b.WriteByte('"')
		if t.Prefix && i == len(parts)-1 {
			b.WriteString(" *")
		}
	}
	b.WriteByte(')')
	return b.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
