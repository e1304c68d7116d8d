package search

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
)

// Limits of a query.
const (
	MaxQueryLen = 2000 // bytes
	MaxTerms    = 50
)

// KeyCreated is the key of the time condition on occurred_at.
const KeyCreated = "created"

// aliases maps accepted alternative spellings of keys to their field.
var aliases = map[string]string{
	"actor-type":  auditkeep.FieldActorType,
	"target-type": auditkeep.FieldTargetType,
	"target-id":   auditkeep.FieldTargetID,
}

// hints explain keys that users of other audit logs try but that would be
// ambiguous here.
var hints = map[string]string{
	"user": `use actor: for who acted, or target: for what was acted on`,
}

// Parse parses the search language q (see the package documentation) into
// a Filter holding Terms, Text, From and To; Limit, Cursor and Order are
// left zero. An empty or all-blank q yields the zero Filter.
//
// Every error is a *Error holding the byte position of the problem; it also
// converts, through errors.As, to an EINVALID *auditkeep.Error naming "q".
func Parse(q string) (auditkeep.Filter, error) {
	p := parser{q: q, lastWord: -1}
	if err := p.parse(); err != nil {
		return auditkeep.Filter{}, err
	}
	return p.f, nil
}

type parser struct {
	q        string
	pos      int
	f        auditkeep.Filter
	terms    int
	lastWord int // index in f.Text of the last bare word, or -1
}

// item is one value of a key:value term with its position in q.
type item struct {
	v   string
	pos int
}

func (p *parser) parse() *Error {
	if len(p.q) > MaxQueryLen {
		return errorAt(-1, "query is longer than %d bytes", MaxQueryLen)
	}
	if err := checkChars(p.q); err != nil {
		return err
	}
	for {
		p.skipSpace()
		if p.eof() {
			break
		}
		start := p.pos
		p.terms++
		if p.terms > MaxTerms {
			return errorAt(start, "more than %d terms", MaxTerms)
		}
		if err := p.term(start); err != nil {
			return err
		}
	}
	if p.lastWord >= 0 {
		p.f.Text[p.lastWord].Prefix = true
	}
	return nil
}

// checkChars rejects invalid UTF-8 and control characters other than
// whitespace: stores could not bind them as text.
func checkChars(q string) *Error {
	for i := 0; i < len(q); {
		r, n := utf8.DecodeRuneInString(q[i:])
		if r == utf8.RuneError && n == 1 {
			return errorAt(i, "invalid UTF-8")
		}
		if (r < 0x20 || r == 0x7f) && !unicode.IsSpace(r) {
			return errorAt(i, "control character %U", r)
		}
		i += n
	}
	return nil
}

func (p *parser) eof() bool { return p.pos >= len(p.q) }

// spaceAt reports whether a whitespace character starts at i, and its width.
func (p *parser) spaceAt(i int) (bool, int) {
	r, n := utf8.DecodeRuneInString(p.q[i:])
	return unicode.IsSpace(r), n
}

// endAt reports whether a term ends at i: at the end of q or at whitespace.
func (p *parser) endAt(i int) bool {
	if i >= len(p.q) {
		return true
	}
	sp, _ := p.spaceAt(i)
	return sp
}

func (p *parser) skipSpace() {
	for !p.eof() {
		sp, n := p.spaceAt(p.pos)
		if !sp {
			return
		}
		p.pos += n
	}
}

// term parses one term starting at p.pos (== start).
func (p *parser) term(start int) *Error {
	neg := false
	if p.q[p.pos] == '-' {
		neg = true
		p.pos++
		if p.endAt(p.pos) {
			return errorAt(start, `expected a term after "-"`)
		}
		if p.q[p.pos] == '-' {
			return errorAt(p.pos, `unexpected "-"`)
		}
	}
	if p.q[p.pos] == '"' {
		return p.phrase(neg)
	}
	if key, ok := p.key(); ok {
		return p.keyValue(start, neg, key)
	}
	return p.word(neg)
}

// key returns the key of a key:value term at p.pos, if there is one: a
// letter followed by letters, '_' or '-', then ':'.
func (p *parser) key() (string, bool) {
	i := p.pos
	for i < len(p.q) && (isLetter(p.q[i]) || (i > p.pos && (p.q[i] == '_' || p.q[i] == '-'))) {
		i++
	}
	if i == p.pos || i >= len(p.q) || p.q[i] != ':' {
		return "", false
	}
	return p.q[p.pos:i], true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// phrase parses a quoted phrase at p.pos.
func (p *parser) phrase(neg bool) *Error {
	start := p.pos
	s, err := p.quoted()
	if err != nil {
		return err
	}
	if !p.endAt(p.pos) {
		return errorAt(p.pos, "expected a space after the closing quote")
	}
	if strings.TrimSpace(s) == "" {
		return errorAt(start, "empty phrase")
	}
	if !hasWordRune(s) {
		return errorAt(start, "phrase %q has no letter or digit to search for", s)
	}
	p.f.Text = append(p.f.Text, auditkeep.TextTerm{Text: s, Phrase: true, Negate: neg})
	return nil
}

// quoted reads a double-quoted string at p.pos, in which \" and \\ stand for
// " and \, and leaves p.pos after the closing quote.
func (p *parser) quoted() (string, *Error) {
	start := p.pos
	var b strings.Builder
	for i := start + 1; i < len(p.q); i++ {
		switch c := p.q[i]; c {
		case '"':
			p.pos = i + 1
			return b.String(), nil
		case '\\':
			if i+1 < len(p.q) && (p.q[i+1] == '"' || p.q[i+1] == '\\') {
				i++
				b.WriteByte(p.q[i])
			} else {
				b.WriteByte(c)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", errorAt(start, "unterminated quote")
}

// word parses a bare word at p.pos.
func (p *parser) word(neg bool) *Error {
	start := p.pos
	for !p.endAt(p.pos) {
		if p.q[p.pos] == '"' {
			return errorAt(p.pos, "unexpected quote")
		}
		p.pos++
	}
	if !hasWordRune(p.q[start:p.pos]) {
		return errorAt(start, "word %q has no letter or digit to search for", p.q[start:p.pos])
	}
	p.f.Text = append(p.f.Text, auditkeep.TextTerm{Text: p.q[start:p.pos], Negate: neg})
	p.lastWord = len(p.f.Text) - 1
	return nil
}

// hasWordRune reports whether s holds a letter or a digit. Full text is
// searched by words of letters and digits: a word without any (`%`, `_`,
// `--`) would match every event.
func hasWordRune(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })
}

// keyValue parses key:value at p.pos; start is where the term (with its
// '-', if any) starts.
func (p *parser) keyValue(start int, neg bool, key string) *Error {
	keyPos := p.pos
	field := strings.ToLower(key)
	if a, ok := aliases[field]; ok {
		field = a
	}
	if field != KeyCreated && !slices.Contains(auditkeep.TermFields, field) {
		e := errorAt(keyPos, "unknown key %q", key)
		if h, ok := hints[field]; ok {
			e.Hint = h
		} else if s := suggest(field); s != "" {
			e.Hint = fmt.Sprintf("did you mean %q?", s)
		} else {
			e.Hint = `to search for text containing ":", put it in quotes`
		}
		return e
	}
	p.pos += len(key) + 1 // the key and ':'
	items, err := p.values(key + ":")
	if err != nil {
		return err
	}
	if field == KeyCreated {
		if len(items) > 1 {
			return errorAt(items[1].pos-1, "created takes one date or range")
		}
		return p.created(start, neg, items[0])
	}
	t := auditkeep.Term{Field: field, Negate: neg}
	for _, it := range items {
		if err := auditkeep.ValidateTermValue(field, field, it.v); err != nil {
			return errorAt(it.pos, "%s", auditkeep.ErrorMessage(err))
		}
		t.Values = append(t.Values, it.v)
	}
	p.f.Terms = append(p.f.Terms, t)
	return nil
}

// values reads the comma-separated values of a key:value term at p.pos;
// each is a bare run of characters other than space, ',' and '"', or a
// quoted string. after names what precedes the first value, for errors.
func (p *parser) values(after string) ([]item, *Error) {
	var items []item
	for {
		pos := p.pos
		if p.endAt(pos) {
			return nil, errorAt(pos, "expected a value after %q", after)
		}
		var v string
		if p.q[pos] == '"' {
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			if !p.endAt(p.pos) && p.q[p.pos] != ',' {
				return nil, errorAt(p.pos, "expected a space or a comma after the closing quote")
			}
			v = s
		} else {
			for !p.endAt(p.pos) && p.q[p.pos] != ',' {
				if p.q[p.pos] == '"' {
					return nil, errorAt(p.pos, "unexpected quote")
				}
				p.pos++
			}
			v = p.q[pos:p.pos]
		}
		if v == "" {
			return nil, errorAt(pos, "expected a value after %q", after)
		}
		items = append(items, item{v: v, pos: pos})
		if p.eof() || p.q[p.pos] != ',' {
			return items, nil
		}
		p.pos++
		after = ","
	}
}

// created applies a created: condition. A date covers its whole UTC day.
// start is where the term (with its '-', if any) starts.
func (p *parser) created(start int, neg bool, it item) *Error {
	v, pos := it.v, it.pos
	var from, to time.Time
	wantTo := false // whether the condition sets an upper bound
	op := ""
	for _, o := range []string{">=", "<=", ">", "<", "="} {
		if strings.HasPrefix(v, o) {
			op = o
			break
		}
	}
	if a, b, isRange := strings.Cut(v, ".."); op == "" && isRange {
		if neg {
			return errorAt(start, "a created range cannot be negated")
		}
		bpos := pos + len(a) + 2
		switch {
		case a == "":
			return errorAt(pos, `expected a date or * before ".."`)
		case b == "":
			return errorAt(bpos, `expected a date or * after ".."`)
		case a == "*" && b == "*":
			return errorAt(pos, "a created range needs at least one date")
		}
		if a != "*" {
			lo, _, err := day(a, pos)
			if err != nil {
				return err
			}
			from = lo
		}
		if b != "*" {
			_, hi, err := day(b, bpos)
			if err != nil {
				return err
			}
			to, wantTo = hi, true
		}
		if !from.IsZero() && !to.IsZero() && to.Before(from) {
			return errorAt(pos, "created range ends before it starts")
		}
	} else {
		v = v[len(op):]
		pos += len(op)
		if v == "" {
			return errorAt(pos, "expected a date after %q", op)
		}
		lo, hi, err := day(v, pos)
		if err != nil {
			return err
		}
		switch op {
		case ">":
			from = hi.Add(time.Nanosecond)
		case ">=":
			from = lo
		case "<":
			to = lo.Add(-time.Nanosecond)
		case "<=":
			to = hi
		default: // "=" or none
			if neg {
				return errorAt(start, "a created date cannot be negated")
			}
			from, to = lo, hi
		}
		wantTo = op != ">" && op != ">="
		if neg { // the complement of a half-open range
			if op == ">" || op == ">=" {
				from, to = time.Time{}, from.Add(-time.Nanosecond)
			} else {
				from, to = to.Add(time.Nanosecond), time.Time{}
			}
			wantTo = !wantTo
		}
	}
	if wantTo && to.IsZero() {
		// The bound fell on the zero time, which a Filter reads as "no bound".
		return errorAt(it.pos, "date %q is out of range", it.v)
	}
	if from.After(p.f.From) {
		p.f.From = from
	}
	if wantTo && (p.f.To.IsZero() || to.Before(p.f.To)) {
		p.f.To = to
	}
	if !p.f.From.IsZero() && !p.f.To.IsZero() && p.f.To.Before(p.f.From) {
		return errorAt(start, "created conditions exclude each other")
	}
	return nil
}

// day parses a date or RFC 3339 time at pos and returns the first and last
// instants it covers: a whole UTC day for a date, one instant for a time.
func day(s string, pos int) (lo, hi time.Time, err *Error) {
	t, perr := auditkeep.ParseTime(s)
	if perr != nil {
		return lo, hi, errorAt(pos, "invalid date %q", s)
	}
	if len(s) == len(time.DateOnly) {
		return t, t.Add(24*time.Hour - time.Nanosecond), nil
	}
	return t, t, nil
}

// suggest returns the known key nearest to key, or "" when none is near
// enough to be a plausible typo.
func suggest(key string) string {
	return Nearest(key, append(slices.Clone(auditkeep.TermFields), KeyCreated))
}

// Nearest returns the candidate nearest to word by edit distance, or ""
// when none is near enough to be a plausible typo of it (more than two
// edits, or a third of its length when that is more, or as many edits as
// it has characters). Suggestions for unknown keys and flags use it.
func Nearest(word string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(word, c)
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	n := utf8.RuneCountInString(word)
	if best == "" || bestD > max(2, n/3) || bestD >= n {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in characters.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
