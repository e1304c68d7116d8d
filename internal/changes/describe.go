package changes

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
)

// Limits of a generated description.
const (
	MaxDescribedValue   = 80 // characters of a value, name or field shown; longer ones end in "…"
	MaxDescribedChanges = 5  // changes listed; the rest are counted ("and 3 more")
)

// defaultMatcher is the compiled DefaultRules; Describe hides values at
// these paths even when they were not redacted.
var defaultMatcher = sync.OnceValue(func() *matcher {
	ps, err := DefaultRules().compile()
	if err != nil {
		panic("changes: default rules: " + err.Error())
	}
	return newMatcher(ps)
})

// Describe returns a readable sentence for an event whose sender gave no
// description, built from its type, action, actor (logins), target, scope,
// status and changes:
//
//	Updated environment 'production' in project 'Shop': name changed from 'prod' to 'production'
//	Created service 'api' in project 'Shop' › environment 'production'
//	Deleted environment 'staging' in project 'Shop'
//	Viewed secret 'db' in project 'Shop'
//	Ran pod.restart on pod 'gpu-1'
//	token.rotate on API token 'ci'
//	Alice Martin logged in
//	Failed login for alice@example.com
//	Failed to update environment 'production': settings.cpu changed from 1 to 2
//
// Names are quoted with single quotes; an object without a name is shown by
// its id. A scope entry that is the target itself is left out. Changes are
// listed for every type but create, delete and read, at most
// MaxDescribedChanges of them, then "and N more". A value that is redacted
// (see IsHash), holds a redacted value, or sits at a path of DefaultRules is
// never shown: "env.API_KEY changed (value hidden)", "env.NEW added". Values,
// names and fields longer than MaxDescribedValue characters are cut, and
// control characters become spaces. The sentence is plain text; it is not
// escaped for HTML.
func Describe(e *auditkeep.Event) string {
	failed := e.Status == auditkeep.StatusFailure
	var b strings.Builder
	switch e.Type {
	case auditkeep.TypeLogin:
		if failed {
			return "Failed login for " + loginName(e.Actor)
		}
		return actorName(e.Actor) + " logged in"
	case auditkeep.TypeLogout:
		if failed {
			return "Failed logout for " + actorName(e.Actor)
		}
		return actorName(e.Actor) + " logged out"
	case auditkeep.TypeCreate, auditkeep.TypeUpdate, auditkeep.TypeDelete, auditkeep.TypeRead:
		verb := map[string][2]string{
			auditkeep.TypeCreate: {"Created", "create"},
			auditkeep.TypeUpdate: {"Updated", "update"},
			auditkeep.TypeDelete: {"Deleted", "delete"},
			auditkeep.TypeRead:   {"Viewed", "view"},
		}[e.Type]
		if failed {
			b.WriteString("Failed to ")
			b.WriteString(verb[1])
		} else {
			b.WriteString(verb[0])
		}
		b.WriteByte(' ')
		if e.Target != nil {
			b.WriteString(targetText(e.Target))
		} else {
			b.WriteString(actionNoun(e.Action))
		}
	case auditkeep.TypeExecute:
		if failed {
			b.WriteString("Failed to run ")
		} else {
			b.WriteString("Ran ")
		}
		b.WriteString(clip(e.Action))
		if e.Target != nil {
			b.WriteString(" on ")
			b.WriteString(targetText(e.Target))
		}
	default: // info, or an unknown type
		if failed {
			b.WriteString("Failed ")
		}
		b.WriteString(clip(e.Action))
		if e.Target != nil {
			b.WriteString(" on ")
			b.WriteString(targetText(e.Target))
		}
	}
	if s := scopeText(e); s != "" {
		b.WriteString(" in ")
		b.WriteString(s)
	}
	switch e.Type {
	case auditkeep.TypeCreate, auditkeep.TypeDelete, auditkeep.TypeRead:
	default:
		if s := changesText(e); s != "" {
			b.WriteString(": ")
			b.WriteString(s)
		}
	}
	return b.String()
}

// DescribeChange tells one change as Describe lists it: "service 'api'
// added", "replicas of service 'api' changed from 2 to 3", "environment
// variable DATABASE_URL changed (value hidden)". Elements identified by id
// are named from the change's value or else from before or after, the
// documents the change was computed from (either may be empty). The text is
// plain, not escaped for HTML.
func DescribeChange(c auditkeep.Change, before, after json.RawMessage) string {
	return changeText(c, &eventDocs{e: &auditkeep.Event{Before: before, Snapshot: after}})
}

func actorName(a auditkeep.Actor) string {
	return clip(firstNonEmpty(a.Name, a.Email, a.ID))
}

// loginName prefers the email, the identity a failed login was tried with.
func loginName(a auditkeep.Actor) string {
	return clip(firstNonEmpty(a.Email, a.Name, a.ID))
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return "unknown actor"
}

// typeNames spells object types whose words are not plain English.
var typeNames = map[string]string{
	"api_token": "API token",
	"apitoken":  "API token",
	"token":     "API token",
	"api_key":   "API key",
	"apikey":    "API key",
	"ssh_key":   "SSH key",
	"vm":        "VM",
}

// typeText turns an object type such as "pipeline_object" into words.
func typeText(t string) string {
	if n, ok := typeNames[strings.ToLower(t)]; ok {
		return n
	}
	return clip(strings.NewReplacer("_", " ", "-", " ").Replace(t))
}

// objectText names an object: its type and quoted name, or its id.
func objectText(typ, id, name string) string {
	var s string
	if strings.TrimSpace(name) != "" {
		s = "'" + clip(name) + "'"
	} else {
		s = clip(id)
	}
	if t := typeText(typ); t != "" {
		if s == "" {
			return t
		}
		return t + " " + s
	}
	return s
}

func targetText(t *auditkeep.Target) string { return objectText(t.Type, t.ID, t.Name) }

// actionNoun names the object of an action without a target: "project" for
// "project.create", the whole action when it has one segment.
func actionNoun(action string) string {
	if i := strings.LastIndexByte(action, '.'); i > 0 {
		return typeText(strings.ReplaceAll(action[:i], ".", " "))
	}
	return clip(action)
}

// scopeText renders the scope, less the target itself: "project 'Shop' › environment 'production'".
func scopeText(e *auditkeep.Event) string {
	var parts []string
	for _, s := range e.Scope {
		if e.Target != nil && s.Type == e.Target.Type && s.ID == e.Target.ID {
			continue
		}
		if p := objectText(s.Type, s.ID, s.Name); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " › ")
}

// changesText lists e's changes: "a changed from 1 to 2, b added, and 3 more".
func changesText(e *auditkeep.Event) string {
	var parts []string
	more := 0
	docs := &eventDocs{e: e}
	for _, c := range e.Changes {
		if c.Op == OpTruncated {
			if n, err := strconv.Atoi(string(c.New)); err == nil && n > 0 {
				more += n
			}
			continue
		}
		if len(parts) == MaxDescribedChanges {
			more++
			continue
		}
		parts = append(parts, changeText(c, docs))
	}
	if more > 0 {
		parts = append(parts, "and "+strconv.Itoa(more)+" more")
	}
	return strings.Join(parts, ", ")
}

func changeText(c auditkeep.Change, docs *eventDocs) string {
	field, entity := "value", false
	if c.Field != "" {
		field, entity = fieldText(c, docs)
	}
	if c.Op == OpReordered {
		return field + " reordered"
	}
	op := c.Op
	if op == "" {
		switch {
		case len(c.Old) == 0 && len(c.New) > 0:
			op = auditkeep.ChangeAdded
		case len(c.New) == 0 && len(c.Old) > 0:
			op = auditkeep.ChangeRemoved
		default:
			op = auditkeep.ChangeChanged
		}
	}
	m := defaultMatcher()
	at := m.within(m.start, fieldSegments(c.Field))
	hidden := hiddenValue(m, at, c.Old) || hiddenValue(m, at, c.New)
	switch op {
	case auditkeep.ChangeAdded:
		if hidden || len(c.New) == 0 || entity && isContainer(c.New) {
			return field + " added"
		}
		return field + " added (" + valueText(c.New) + ")"
	case auditkeep.ChangeRemoved:
		if hidden || len(c.Old) == 0 || entity && isContainer(c.Old) {
			return field + " removed"
		}
		return field + " removed (was " + valueText(c.Old) + ")"
	default:
		switch {
		case hidden:
			return field + " changed (value hidden)"
		case len(c.Old) > 0 && len(c.New) > 0:
			return field + " changed from " + valueText(c.Old) + " to " + valueText(c.New)
		case len(c.New) > 0:
			return field + " changed to " + valueText(c.New)
		default:
			return field + " changed"
		}
	}
}

// envContainers are the keys (lowercased) whose entries are environment
// variables, as DefaultRules names them.
var envContainers = map[string]bool{"env": true, "envs": true, "env_vars": true, "envvars": true,
	"environment_variables": true, "environmentvariables": true}

// fieldText tells the field of change c, naming the elements it reaches by
// what they are: "service 'api'" for "services[name=api]", "replicas of
// service 'api'" for "services[name=api].replicas", "environment variable
// DATABASE_URL" for "env.DATABASE_URL" or
// "environment_variables[key=DATABASE_URL].value". An element identified by
// its id is shown by its name when the change's value or the event's
// snapshot or before holds one ("service 'api'"), else by its id ("service
// svc_3"). Other fields are shown as they are. entity reports that the field
// is such an element itself.
func fieldText(c auditkeep.Change, docs *eventDocs) (text string, entity bool) {
	segs, err := parsePath(c.Field, false)
	if err != nil {
		return clip(c.Field), false
	}
	e := lastEntity(segs)
	if e < 0 {
		return clip(c.Field), false
	}
	var elem *value // the element that c adds or removes
	if e == len(segs)-1 {
		raw := c.New
		if len(raw) == 0 {
			raw = c.Old
		}
		elem, _ = parse(raw)
	}
	return docs.entityText(segs, e, elem), e == len(segs)-1
}

// lastEntity returns the position of the last segment of segs that names
// an element of a collection: an identified array element under a key, or
// a key under a key of envContainers; -1 when there is none.
func lastEntity(segs []segment) int {
	for i := len(segs) - 1; i > 0; i-- {
		if segs[i-1].isIndex {
			continue
		}
		if segs[i].id != nil || !segs[i].isIndex && envContainers[strings.ToLower(segs[i-1].key)] {
			return i
		}
	}
	return -1
}

// entityText tells segs, whose segment e names an element (see lastEntity);
// elem is that element when a change holds it, else nil.
func (d *eventDocs) entityText(segs []segment, e int, elem *value) string {
	container := strings.ToLower(segs[e-1].key)
	var subject string
	switch id := segs[e].id; {
	case envContainers[container]:
		name := segs[e].key
		if id != nil {
			name = id.value.s
		}
		subject = "environment variable " + clip(name)
	case strings.EqualFold(id.field, "id"):
		name := ""
		if elem != nil {
			name = nameOf(elem)
		}
		if name == "" {
			name = d.name(segs[:e+1])
		}
		subject = objectText(singular(segs[e-1].key), id.value.s, name)
	default:
		subject = objectText(singular(segs[e-1].key), "", id.value.s)
	}
	text := subject
	if rest := segs[e+1:]; len(rest) > 0 && !(len(rest) == 1 && !rest[0].isIndex && strings.EqualFold(rest[0].key, "value")) {
		text = clip(segmentsText(rest)) + " of " + subject
	}
	if outer := segs[:e-1]; len(outer) > 0 {
		if o := lastEntity(outer); o == len(outer)-1 {
			text += " of " + d.entityText(outer, o, nil)
		} else if o >= 0 {
			text += " in " + d.entityText(outer, o, nil)
		} else {
			text += " in " + clip(segmentsText(outer))
		}
	}
	return text
}

// eventDocs finds the names of identified elements in an event's
// documents, parsed when first needed.
type eventDocs struct {
	e      *auditkeep.Event
	parsed bool
	docs   []*value // snapshot, before
}

func (d *eventDocs) all() []*value {
	if !d.parsed {
		d.parsed = true
		for _, raw := range []json.RawMessage{d.e.Snapshot, d.e.Before} {
			if v, err := parse(raw); err == nil && len(raw) > 0 {
				d.docs = append(d.docs, v)
			}
		}
	}
	return d.docs
}

// name returns the clear "name" of the element at path, or "".
func (d *eventDocs) name(path []segment) string {
	for _, doc := range d.all() {
		if v := lookup(doc, path); v != nil {
			return nameOf(v)
		}
	}
	return ""
}

func nameOf(v *value) string {
	if v.kind != kindObject {
		return ""
	}
	if _, n := identityOf(v, "name"); n != nil && n.kind == kindString {
		return n.s
	}
	return ""
}

// lookup returns the value at path in doc, or nil.
func lookup(doc *value, path []segment) *value {
	v := doc
	for _, s := range path {
		switch {
		case s.id != nil && v.kind == kindArray:
			var found *value
			for _, e := range v.elems {
				if e.kind != kindObject {
					continue
				}
				if _, id := identityOf(e, s.id.field); id != nil && identityKey(id) == identityKey(s.id.value) {
					found = e
					break
				}
			}
			v = found
		case s.isIndex && s.id == nil && v.kind == kindArray && s.index < len(v.elems):
			v = v.elems[s.index]
		case !s.isIndex && v.kind == kindObject:
			v = v.index()[s.key]
		default:
			v = nil
		}
		if v == nil {
			return nil
		}
	}
	return v
}

// segmentsText writes segments back as a path.
func segmentsText(segs []segment) string {
	var b []byte
	for _, s := range segs {
		switch {
		case s.id != nil:
			b = append(appendIdentity(append(b, '['), s.id.field, s.id.value), ']')
		case s.isIndex:
			b = append(b, joinIndex("", s.index)...)
		case len(b) == 0:
			b = append(b, JoinKey("", s.key)...)
		default:
			b = append(b, JoinKey(".", s.key)[1:]...)
		}
	}
	return string(b)
}

// singular returns the singular of an English plural key: "services" →
// "service", "policies" → "policy", "addresses" → "address".
func singular(k string) string {
	l := strings.ToLower(k)
	switch {
	case strings.HasSuffix(l, "ies") && len(l) > 3:
		return k[:len(k)-3] + "y"
	case strings.HasSuffix(l, "sses"), strings.HasSuffix(l, "xes"), strings.HasSuffix(l, "ches"), strings.HasSuffix(l, "shes"):
		return k[:len(k)-2]
	case strings.HasSuffix(l, "s") && !strings.HasSuffix(l, "ss") && len(l) > 1:
		return k[:len(k)-1]
	}
	return k
}

// isContainer reports whether raw is a JSON object or array.
func isContainer(raw []byte) bool {
	v, err := parse(raw)
	return err == nil && (v.kind == kindObject || v.kind == kindArray)
}

// hiddenValue reports whether raw, at the path that led m (DefaultRules) to
// state s, must not be shown: it is or holds a redacted value, or sits at or
// holds a path of DefaultRules. Text that is not valid JSON is hidden when
// its path is.
func hiddenValue(m *matcher, s *state, raw []byte) bool {
	if s.accept {
		return true
	}
	if len(raw) == 0 {
		return false
	}
	v, err := parse(raw)
	if err != nil {
		return strings.Contains(string(raw), HashPrefix)
	}
	return holdsHidden(m, v, s)
}

func holdsHidden(m *matcher, v *value, s *state) bool {
	if s.accept {
		return true
	}
	switch v.kind {
	case kindString:
		return IsHash(v.s)
	case kindObject:
		for i, k := range v.keys {
			if holdsHidden(m, v.elems[i], m.key(s, k)) {
				return true
			}
		}
	case kindArray:
		for i, e := range v.elems {
			if holdsHidden(m, e, m.index(s, i)) {
				return true
			}
		}
	}
	return false
}

// valueText shows a JSON value: a string in single quotes, anything else as
// compact JSON.
func valueText(raw []byte) string {
	v, err := parse(raw)
	if err != nil {
		return clip(string(raw))
	}
	if v.kind == kindString {
		return "'" + clip(v.s) + "'"
	}
	return clip(string(v.appendJSON(nil)))
}

// clip replaces control and format characters by spaces and cuts s to
// MaxDescribedValue characters, ending in "…" when cut.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
			r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= MaxDescribedValue {
		return s
	}
	n := 0
	for i := range s {
		if n == MaxDescribedValue-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
