package retraced

import (
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// ParseQuery reads the search language of Retraced's GraphQL search (the
// keywords of retraced src/models/event/index.ts parseQuery, as
// retraced-go's StructuredQuery.String writes them) into a filter:
//
//	action:user.login action:user.*   crud:c,d   created:START,END
//	actor.id:usr_1   actor.name:"Alice"   target.id:… target.name:… target.type:…
//	description:"…"   and any other words, searched as text
//
// Values may be quoted ("…" or '…'); an unquoted value with commas is a
// list (OR-ed); created takes two RFC 3339 times, either empty. received,
// location, external_id and fields.* have no counterpart in auditkeep's
// filters and are refused, as is anything else that cannot be searched:
// EINVALID naming "query".
func ParseQuery(q string) (auditkeep.Filter, error) {
	var f auditkeep.Filter
	for _, tok := range tokens(q) {
		key, val, ok := strings.Cut(tok.text, ":")
		if tok.quoted || !ok || !keyword(key) {
			if err := addText(&f, tok); err != nil {
				return f, err
			}
			continue
		}
		val, quoted := unquote(val)
		vals := []string{val}
		if !quoted {
			vals = strings.Split(val, ",")
		}
		if field, ok := termFields[key]; ok {
			if err := addTerm(&f, field, vals); err != nil {
				return f, err
			}
			continue
		}
		switch key {
		case "crud":
			var types []string
			for _, v := range vals {
				t, ok := crudTypes[v]
				if !ok {
					return f, auditkeep.FieldErrorf("query", "crud:%s: crud is c, r, u or d", v)
				}
				types = append(types, t)
			}
			f.Terms = append(f.Terms, auditkeep.Term{Field: auditkeep.FieldType, Values: types})
		case "created":
			if len(vals) != 2 {
				return f, auditkeep.FieldErrorf("query", "created:%s: the created field requires a range of two datetimes (START,END)", val)
			}
			for i, v := range vals {
				if v == "" {
					continue
				}
				t, err := parseTime(v)
				if err != nil {
					return f, auditkeep.FieldErrorf("query", "created:%s: %q is not an RFC 3339 time", val, v)
				}
				if i == 0 {
					f.From = t
				} else {
					f.To = t
				}
			}
		case "description":
			for _, v := range vals {
				if err := addText(&f, token{text: v, quoted: true}); err != nil {
					return f, err
				}
			}
		default:
			return f, auditkeep.FieldErrorf("query", "%s: searching by %s is not supported", tok.text, key)
		}
	}
	return f, nil
}

// termFields are the keywords that are a filter term of their own.
var termFields = map[string]string{
	"action":      auditkeep.FieldAction,
	"actor.id":    auditkeep.FieldActor,
	"actor.name":  auditkeep.FieldActor,
	"target.id":   auditkeep.FieldTargetID,
	"target.name": auditkeep.FieldTarget,
	"target.type": auditkeep.FieldTargetType,
}

// keyword reports whether key is one of Retraced's search keywords.
func keyword(key string) bool {
	switch key {
	case "action", "crud", "received", "created", "actor.id", "actor.name", "description",
		"location", "external_id", "target.id", "target.name", "target.type":
		return true
	}
	return strings.HasPrefix(key, "fields.")
}

func addTerm(f *auditkeep.Filter, field string, vals []string) error {
	for _, v := range vals {
		if err := auditkeep.ValidateTermValue(field, "query", v); err != nil {
			return err
		}
	}
	f.Terms = append(f.Terms, auditkeep.Term{Field: field, Values: vals})
	return nil
}

// addText adds a word or a quoted phrase to the full-text terms; one with
// no letter or digit has nothing to search for and is refused.
func addText(f *auditkeep.Filter, tok token) error {
	text, quoted := tok.text, tok.quoted
	if !quoted {
		text, quoted = unquote(text)
	}
	if !strings.ContainsFunc(text, isWordRune) {
		return auditkeep.FieldErrorf("query", "%q has no letter or digit to search for", tok.text)
	}
	f.Text = append(f.Text, auditkeep.TextTerm{Text: text, Phrase: quoted && strings.ContainsFunc(text, isSpace)})
	return nil
}

func isWordRune(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

type token struct {
	text   string
	quoted bool // the whole token was a quoted string
}

// tokens splits q at spaces outside quotes.
func tokens(q string) []token {
	var out []token
	var b strings.Builder
	var quote rune
	flush := func() {
		if b.Len() > 0 {
			s := b.String()
			t := token{text: s}
			if u, ok := unquote(s); ok {
				t = token{text: u, quoted: true}
			}
			out = append(out, t)
			b.Reset()
		}
	}
	escaped := false
	for _, r := range q {
		switch {
		case escaped:
			escaped = false
		case quote != 0 && r == '\\':
			escaped = true
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote = r
		case quote == 0 && isSpace(r):
			flush()
			continue
		}
		b.WriteRune(r)
	}
	flush()
	return out
}

// unquote strips one pair of matching quotes around s and the backslashes
// of their escapes.
func unquote(s string) (string, bool) {
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'') || s[len(s)-1] != s[0] {
		return s, false
	}
	q := s[0]
	inner := s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		if inner[i] == '\\' && i+1 < len(inner) && (inner[i+1] == q || inner[i+1] == '\\') {
			i++
		}
		b.WriteByte(inner[i])
	}
	return b.String(), true
}

// TimeString formats a time as Retraced's GraphQL answers do (moment's
// default format in UTC: seconds, "Z").
func TimeString(t time.Time) string { return t.UTC().Format(time.RFC3339) }
