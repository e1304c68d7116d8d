package postgres

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5/pgtype"
)

// Full-text search uses a tsvector built here, not by to_tsvector: words are
// the runs of letters, digits and marks, lowercased (so "alice@example.com"
// holds alice, example and com, "token.create" holds token and create, and
// "203.0.113.7" four numbers). Queries are tokenised by the same function,
// so both sides agree whatever the database's locale; the tsquery is made of
// these lexemes only and is bound as a parameter.

// Limits of PostgreSQL's tsvector.
const (
	maxLexeme    = 2047    // bytes of one lexeme
	maxPosition  = 16383   // highest position
	maxPositions = 256     // positions kept per lexeme
	maxLexemes   = 1 << 19 // bytes of all lexemes (the limit is 1 MiB)
)

// eachWord calls fn with each lowercased word of s.
func eachWord(s string, fn func(string)) {
	start := -1
	for i, r := range s {
		word := unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
		if word && start < 0 {
			start = i
		} else if !word && start >= 0 {
			fn(strings.ToLower(s[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		fn(strings.ToLower(s[start:]))
	}
}

// words returns the lowercased words of s.
func words(s string) []string {
	var out []string
	eachWord(s, func(w string) { out = append(out, w) })
	return out
}

// searchVector returns the tsvector of e's searchable text: actor name and
// email, target name, action, team, IP and description. A gap of one
// position between fields keeps phrases from matching across them.
func searchVector(e *auditkeep.Event) pgtype.TSVector {
	fields := [...]string{e.Actor.Name, e.Actor.Email, "", e.Action, e.Team, e.Context.IP, e.Description}
	if e.Target != nil {
		fields[2] = e.Target.Name
	}
	type occurrence struct {
		word string
		pos  uint16
	}
	all := make([]occurrence, 0, 32)
	pos := 0
	for _, f := range fields {
		eachWord(f, func(w string) {
			pos++
			if len(w) <= maxLexeme {
				all = append(all, occurrence{w, uint16(min(pos, maxPosition))})
			}
		})
		pos++
	}
	// Sorted by word, each word's positions ascending.
	slices.SortStableFunc(all, func(a, b occurrence) int { return strings.Compare(a.word, b.word) })
	lexemes := make([]pgtype.TSVectorLexeme, 0, len(all))
	positions := make([]pgtype.TSVectorPosition, 0, len(all))
	size := 0
	for i := 0; i < len(all); {
		w := all[i].word
		j := i
		first := len(positions)
		for ; j < len(all) && all[j].word == w; j++ {
			n := len(positions) - first
			if n < maxPositions && (n == 0 || positions[len(positions)-1].Position < all[j].pos) {
				positions = append(positions, pgtype.TSVectorPosition{Position: all[j].pos})
			}
		}
		i = j
		if size += len(w); size > maxLexemes {
			positions = positions[:first]
			continue
		}
		lexemes = append(lexemes, pgtype.TSVectorLexeme{Word: w, Positions: positions[first:len(positions):len(positions)]})
	}
	return pgtype.TSVector{Lexemes: lexemes, Valid: true}
}

// textQuery returns the tsquery text that matches t, ignoring Negate. A
// phrase is its words in a row. Otherwise each whitespace-separated part must
// match, and a part that holds several words ("token.create") is a phrase of
// them. With t.Prefix the last word matches as a prefix. It returns "" when t
// has no words.
func textQuery(t auditkeep.TextTerm) string {
	parts := strings.Fields(t.Text)
	if t.Phrase {
		parts = []string{t.Text}
	}
	var b strings.Builder
	for i, part := range parts {
		ws := words(part)
		if len(ws) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(" & ")
		}
		b.WriteByte('(')
		for j, w := range ws {
			if j > 0 {
				b.WriteString(" <-> ")
			}
			b.WriteByte('\'')
			// Words hold letters, digits and marks only; quote anyway.
			for _, r := range w {
				if r == '\'' || r == '\\' {
					b.WriteRune(r)
				}
				b.WriteRune(r)
			}
			b.WriteByte('\'')
			if t.Prefix && i == len(parts)-1 && j == len(ws)-1 {
				b.WriteString(":*")
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

// cut returns s cut to at most n bytes on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
