package alert

import (
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/auditkeep/auditkeep"
)

// Matcher is a parsed q filter run against one event in memory, with the
// meaning the stores give it (the conformance suite checks that they
// agree on every kind of term):
//   - action: exact, or a prefix ending in "*"; type, actor_type,
//     target_type, target_id, team, source, status: exact;
//   - actor: the id exactly, or the name or email without regard to case;
//   - target: the name without regard to case;
//   - scope: the path or a path below it;
//   - ip: an address or CIDR, IPv4-mapped IPv6 addresses as IPv4;
//   - full text: each whitespace-separated word, without regard to case,
//     in one of the actor's name and email, the action, the team, the IP,
//     the description and the target's name; a word holding punctuation
//     must appear whole, its parts in a row; a phrase whole; a trailing *
//     makes the last word a prefix.
type Matcher struct {
	from, to time.Time
	terms    []termMatch
	text     []textMatch
}

type termMatch struct {
	field  string
	exact  []string
	prefix []string       // action prefixes
	folded []string       // actor, target: lower-cased
	ips    []netip.Prefix // ip
	negate bool
}

type textMatch struct {
	seqs   [][]string // the words of each whitespace-separated part
	prefix bool
	negate bool
}

// NewMatcher returns the matcher of f's From, To, Terms and Text (its
// order, limit and cursor do not select). Returns EINVALID for a term
// the stores would refuse.
func NewMatcher(f auditkeep.Filter) (*Matcher, error) {
	// The terms the stores refuse (auditkeep.Filter.Validate), such as one
	// without values.
	if err := (&auditkeep.Filter{Terms: f.Terms}).Validate(); err != nil {
		return nil, err
	}
	m := &Matcher{from: f.From, to: f.To}
	for _, t := range f.Terms {
		tm := termMatch{field: t.Field, negate: t.Negate}
		for _, v := range t.Values {
			switch t.Field {
			case auditkeep.FieldAction:
				if p, ok := strings.CutSuffix(v, "*"); ok {
					tm.prefix = append(tm.prefix, p)
				} else {
					tm.exact = append(tm.exact, v)
				}
			case auditkeep.FieldActor:
				tm.exact = append(tm.exact, v)
				tm.folded = append(tm.folded, strings.ToLower(v))
			case auditkeep.FieldTarget:
				tm.folded = append(tm.folded, strings.ToLower(v))
			case auditkeep.FieldIP:
				p, err := auditkeep.ParseIPFilter(v)
				if err != nil {
					return nil, err
				}
				tm.ips = append(tm.ips, p)
			case auditkeep.FieldType, auditkeep.FieldActorType, auditkeep.FieldTargetType, auditkeep.FieldTargetID,
				auditkeep.FieldScope, auditkeep.FieldTeam, auditkeep.FieldSource, auditkeep.FieldStatus:
				tm.exact = append(tm.exact, v)
			default:
				return nil, auditkeep.FieldErrorf("match", "unknown field %q", t.Field)
			}
		}
		m.terms = append(m.terms, tm)
	}
	for _, t := range f.Text {
		tx := textMatch{prefix: t.Prefix, negate: t.Negate}
		parts := strings.Fields(t.Text)
		if t.Phrase {
			parts = []string{t.Text}
		}
		for _, p := range parts {
			if w := words(p); len(w) > 0 {
				tx.seqs = append(tx.seqs, w)
			}
		}
		if len(tx.seqs) > 0 {
			m.text = append(m.text, tx)
		}
	}
	return m, nil
}

// Match reports whether e is selected.
func (m *Matcher) Match(e *auditkeep.Event) bool {
	if (!m.from.IsZero() && e.OccurredAt.Before(m.from)) || (!m.to.IsZero() && e.OccurredAt.After(m.to)) {
		return false
	}
	for i := range m.terms {
		if m.terms[i].match(e) == m.terms[i].negate {
			return false
		}
	}
	if len(m.text) == 0 {
		return true
	}
	fields := [][]string{words(e.Actor.Name), words(e.Actor.Email), words(e.Action), words(e.Team), words(e.Context.IP), words(e.Description)}
	if e.Target != nil {
		fields = append(fields, words(e.Target.Name))
	}
	for _, t := range m.text {
		if t.match(fields) == t.negate {
			return false
		}
	}
	return true
}

// match reports whether any of the term's values holds for e.
func (t *termMatch) match(e *auditkeep.Event) bool {
	switch t.field {
	case auditkeep.FieldAction:
		return slices.Contains(t.exact, e.Action) || slices.ContainsFunc(t.prefix, func(p string) bool { return strings.HasPrefix(e.Action, p) })
	case auditkeep.FieldType:
		return slices.Contains(t.exact, e.Type)
	case auditkeep.FieldActor:
		return slices.Contains(t.exact, e.Actor.ID) ||
			(e.Actor.Name != "" && slices.Contains(t.folded, strings.ToLower(e.Actor.Name))) ||
			(e.Actor.Email != "" && slices.Contains(t.folded, strings.ToLower(e.Actor.Email)))
	case auditkeep.FieldActorType:
		return slices.Contains(t.exact, e.Actor.Type)
	case auditkeep.FieldTargetType:
		return e.Target != nil && slices.Contains(t.exact, e.Target.Type)
	case auditkeep.FieldTargetID:
		return e.Target != nil && slices.Contains(t.exact, e.Target.ID)
	case auditkeep.FieldTarget:
		return e.Target != nil && e.Target.Name != "" && slices.Contains(t.folded, strings.ToLower(e.Target.Name))
	case auditkeep.FieldScope:
		p := auditkeep.ScopePath(e.Scope)
		return p != "" && slices.ContainsFunc(t.exact, func(v string) bool { return p == v || strings.HasPrefix(p, v+"/") })
	case auditkeep.FieldTeam:
		return slices.Contains(t.exact, e.Team)
	case auditkeep.FieldIP:
		a, err := netip.ParseAddr(e.Context.IP)
		if err != nil {
			return false
		}
		a = a.Unmap()
		return slices.ContainsFunc(t.ips, func(p netip.Prefix) bool { return p.Contains(a) })
	case auditkeep.FieldSource:
		return slices.Contains(t.exact, e.Source)
	case auditkeep.FieldStatus:
		return slices.Contains(t.exact, e.Status)
	}
	return false
}

// match reports whether every part of the text appears in one field.
func (t *textMatch) match(fields [][]string) bool {
	for i, q := range t.seqs {
		prefix := t.prefix && i == len(t.seqs)-1
		if !slices.ContainsFunc(fields, func(doc []string) bool { return wordsInRow(doc, q, prefix) }) {
			return false
		}
	}
	return true
}

// words splits text into lower-cased runs of letters and digits.
func words(s string) []string {
	if s == "" {
		return nil
	}
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// wordsInRow reports whether q appears in doc word after word, the last
// as a prefix when prefix is set.
func wordsInRow(doc, q []string, prefix bool) bool {
	for start := 0; start+len(q) <= len(doc); start++ {
		ok := true
		for i, w := range q {
			d := doc[start+i]
			if d != w && !(prefix && i == len(q)-1 && strings.HasPrefix(d, w)) {
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
