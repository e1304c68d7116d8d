package changes

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
)

// HashPrefix starts every redacted value.
const HashPrefix = "hmac-sha256:"

// Limits of a rule set.
const (
	MaxRules      = 200
	MaxRuleLength = 256
)

// MinTextValueLen is the shortest clear value, in characters, that
// RedactText replaces in free text; shorter ones would match ordinary words.
const MinTextValueLen = 6

// Rules is a tenant's redaction rule set: the field paths whose values are
// never stored in clear.
//
// A rule is a path as Diff writes them (keys joined with '.', "[3]" for an
// array index, `["a.b"]` for a key with special characters), where a segment
// may also be:
//
//	"*"        any one segment: a key or an array index
//	"secret*"  a key matching the wildcard ('*' is any run of characters)
//	"[*]"      any array index
//	"**"       any number of segments, none included
//
// Keys match case-insensitively. Rules are matched against paths relative to
// the root of each document (before, snapshot, metadata) and against the
// field of each change: "**.password" matches "password", "a.b.password" and
// "users[3].password"; "env.*" matches "env.API_KEY" and "env[0]".
type Rules struct {
	Paths []string `json:"paths"`
}

// DefaultRules returns the rules a tenant starts with: values of environment
// variables, secrets, tokens, API keys, passwords, private keys and
// credentials, labels, object descriptions, request data, and authorization
// and cookie headers.
func DefaultRules() Rules {
	return Rules{Paths: []string{
		// Environment variables.
		"**.env.*",
		"**.envs.*",
		"**.env_vars.*",
		"**.envvars.*",
		"**.environment_variables.*",
		"**.environmentvariables.*",
		"**.variables.*.value",
		// Secrets, tokens, keys, passwords, credentials.
		"**.secret*",
		"**.*_secret",
		"**.*-secret",
		"**.*secret",
		"**.*token",
		"**.*api_key",
		"**.*apikey",
		"**.*api-key",
		"**.*password*",
		"**.*passwd*",
		"**.passphrase",
		"**.*private_key*",
		"**.*privatekey*",
		"**.*private-key*",
		"**.*credential*",
		// Headers.
		"**.*authorization",
		"**.cookie",
		"**.set-cookie",
		// Labels and descriptions of objects.
		"**.labels.*",
		"**.description",
		// Request data.
		"**.request_data",
		"**.request_body",
	}}
}

// Validate checks every rule. Returns EINVALID with Field
// "redaction.paths[i]" naming the first bad rule, or "redaction.paths" when
// there are more than MaxRules.
func (r Rules) Validate() error {
	_, err := r.compile()
	return err
}

func (r Rules) compile() ([]pattern, error) {
	if len(r.Paths) > MaxRules {
		return nil, auditkeep.FieldErrorf("redaction.paths", "at most %d redaction rules are allowed", MaxRules)
	}
	ps := make([]pattern, 0, len(r.Paths))
	for i, p := range r.Paths {
		field := "redaction.paths[" + strconv.Itoa(i) + "]"
		if strings.TrimSpace(p) == "" {
			return nil, auditkeep.FieldErrorf(field, "%s is empty", field)
		}
		if len(p) > MaxRuleLength {
			return nil, auditkeep.FieldErrorf(field, "%s is longer than %d bytes", field, MaxRuleLength)
		}
		if !utf8.ValidString(p) {
			return nil, auditkeep.FieldErrorf(field, "%s is not valid UTF-8", field)
		}
		segs, err := parsePath(p, true)
		if err != nil {
			return nil, auditkeep.FieldErrorf(field,
				"%s %q is not a field path such as **.password, env.* or labels[\"app.kubernetes.io/name\"]", field, p)
		}
		ps = append(ps, pattern(segs))
	}
	return ps, nil
}

// Redactor replaces the values that a tenant's rules name by a keyed hash.
// It is safe for concurrent use.
type Redactor struct {
	key   []byte
	rules *matcher
}

// KeySize is the length of a tenant's redaction key.
const KeySize = 32

// NewRedactor returns a redactor for rules with the tenant's KeySize-byte
// HMAC key (copied). Returns EINVALID for a bad rule (see Rules.Validate) or
// a key of the wrong size.
func NewRedactor(rules Rules, key []byte) (*Redactor, error) {
	if len(key) != KeySize {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "redaction key must be %d bytes, not %d", KeySize, len(key))
	}
	ps, err := rules.compile()
	if err != nil {
		return nil, err
	}
	return &Redactor{key: slices.Clone(key), rules: newMatcher(ps)}, nil
}

// Hash returns "hmac-sha256:" and the lowercase hex HMAC-SHA256 of value
// under the tenant's key. A redacted string is replaced by Hash of its
// content; any other redacted JSON value (number, boolean, object, array) by
// Hash of its canonical JSON text: object keys sorted by byte order, no
// whitespace, strings escaped as encoding/json does without HTML escaping,
// numbers in their shortest exact decimal form (1.50 → "1.5", 1E3 → "1000",
// 1e21 → "1e+21"). So the number 1234 and the string "1234" hash alike, and
// {"b":1,"a":true} hashes as Hash(`{"a":true,"b":1}`).
func (r *Redactor) Hash(value string) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(value))
	return HashPrefix + hex.EncodeToString(m.Sum(nil))
}

// HashJSON returns the hash that RedactEvent gives the JSON value raw (see
// Hash); an already redacted string is returned as it is. Returns EINVALID
// when raw is not valid JSON.
func (r *Redactor) HashJSON(raw json.RawMessage) (string, error) {
	v, err := parse(raw)
	if err != nil {
		return "", auditkeep.FieldErrorf("value", "value is not valid JSON")
	}
	return r.hashValue(v), nil
}

func (r *Redactor) hashValue(v *value) string {
	if v.kind == kindString {
		if IsHash(v.s) {
			return v.s
		}
		return r.Hash(v.s)
	}
	return r.Hash(string(v.appendCanonical(nil)))
}

// IsHash reports whether s is a redacted value: HashPrefix and 64 lowercase
// hex digits.
func IsHash(s string) bool {
	h, ok := strings.CutPrefix(s, HashPrefix)
	if !ok || len(h) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Matches reports whether the rules name the field path (as Diff writes
// paths, or as a sender wrote a change's field).
func (r *Redactor) Matches(field string) bool {
	return r.rules.walk(r.rules.start, fieldSegments(field)).accept
}

// RedactEvent replaces, by its hash (see Hash), every value that the rules
// name in e.Before, e.Snapshot and e.Metadata (paths relative to each
// document's root) and in e.Changes (Old and New, at the change's Field; a
// rule naming a path inside an object value reaches into it; a change inside
// a value that a rule names is hidden with it). A named object or array is
// hashed whole, into one string, but for a named entry: an array element
// that a rule names ("env.*", "labels.*", "environment_variables[*]") and
// that is an object holding a "value" and a string "name" or else "key" keeps
// that name and has each of its other fields hashed, so that
// {"key":"DATABASE_URL","value":"postgres://…"} is stored as
// {"key":"DATABASE_URL","value":"hmac-sha256:…"}: which variable changed
// stays visible, its value does not. Null values and values already
// redacted stay as they are, so RedactEvent is idempotent. Changes of
// OpReordered keep their lists of identities, which Diff takes from values
// left in clear. Then every clear
// string or number it replaced that is at least MinTextValueLen characters
// long is replaced in e.Description by its hash (see RedactText).
//
// The documents and change values are re-serialised as compact JSON, keeping
// key order and number text (an object key given twice keeps its last value
// only); equal input gives equal output. Absent documents and values stay
// absent; a JSON null document stays "null". The truncation marker of Diff
// is left alone.
//
// Returns EINVALID naming the field ("before", "snapshot", "metadata",
// "changes[i].old", "changes[i].new") when a value is not valid JSON; e is
// then unchanged.
//
// What is not caught: secrets at paths no rule names (say, inside a URL in
// metadata), in other fields of the event (target or actor names, user
// agent), or in the description in another form than their exact text
// (shortened, re-cased, encoded) or shorter than MinTextValueLen.
func (r *Redactor) RedactEvent(e *auditkeep.Event) error {
	var clear []string
	docs := []struct {
		name string
		p    *json.RawMessage
	}{{"before", &e.Before}, {"snapshot", &e.Snapshot}, {"metadata", &e.Metadata}}
	out := make([]json.RawMessage, len(docs))
	for i, d := range docs {
		if len(*d.p) == 0 {
			continue
		}
		v, err := parse(*d.p)
		if err != nil {
			return &auditkeep.Error{Code: auditkeep.EINVALID, Field: d.name,
				Message: d.name + " is not valid JSON", Err: err}
		}
		out[i] = r.redact(v, r.rules.start, &clear).appendJSON(make([]byte, 0, len(*d.p)))
	}
	changes := slices.Clone(e.Changes)
	for i := range changes {
		c := &changes[i]
		if c.Op == OpTruncated || c.Op == OpReordered {
			continue // a count; identities, which Diff takes from clear values only
		}
		segs := fieldSegments(c.Field)
		base := r.rules.within(r.rules.start, segs)
		// A change of one array element that a rule names, as Diff writes
		// them ("environment_variables[key=DB]"), keeps an entry's name.
		elem := base.accept && len(segs) > 0 && segs[len(segs)-1].isIndex &&
			!r.rules.within(r.rules.start, segs[:len(segs)-1]).accept
		for _, side := range []struct {
			name string
			p    *json.RawMessage
		}{{"old", &c.Old}, {"new", &c.New}} {
			if len(*side.p) == 0 {
				continue
			}
			v, err := parse(*side.p)
			if err != nil {
				field := fmt.Sprintf("changes[%d].%s", i, side.name)
				return &auditkeep.Error{Code: auditkeep.EINVALID, Field: field,
					Message: field + " is not valid JSON", Err: err}
			}
			if elem {
				*side.p = r.redactElem(v, base, &clear).raw()
			} else {
				*side.p = r.redact(v, base, &clear).raw()
			}
		}
	}
	for i, d := range docs {
		if out[i] != nil {
			*d.p = out[i]
		}
	}
	if e.Changes != nil {
		e.Changes = changes
	}
	e.Description = r.RedactText(e.Description, clear)
	return nil
}

// redact returns v, at the path that led to state s, with every value at a
// path the rules name replaced by its hash, appending the clear strings and
// numbers it replaced to clear. A value below which no rule can match is
// returned as it is.
func (r *Redactor) redact(v *value, s *state, clear *[]string) *value {
	if s.accept {
		return r.hide(v, clear)
	}
	if s.dead {
		return v
	}
	switch v.kind {
	case kindObject:
		w := &value{kind: kindObject, keys: v.keys, elems: make([]*value, len(v.elems))}
		for i, k := range v.keys {
			w.elems[i] = r.redact(v.elems[i], r.rules.key(s, k), clear)
		}
		return w
	case kindArray:
		w := &value{kind: kindArray, elems: make([]*value, len(v.elems))}
		for i, e := range v.elems {
			w.elems[i] = r.redactElem(e, r.rules.index(s, i), clear)
		}
		return w
	}
	return v
}

// redactElem redacts v, an array element at the path that led to state s:
// as redact does, but a named entry keeps its name (see entryName).
func (r *Redactor) redactElem(v *value, s *state, clear *[]string) *value {
	if !s.accept {
		return r.redact(v, s, clear)
	}
	name := entryName(v)
	if name < 0 {
		return r.hide(v, clear)
	}
	w := &value{kind: kindObject, keys: v.keys, elems: make([]*value, len(v.elems))}
	for i, e := range v.elems {
		if i == name {
			w.elems[i] = e
		} else {
			w.elems[i] = r.hide(e, clear)
		}
	}
	return w
}

// entryName returns the position of the name in v when v is a named entry,
// an object with a "value" and a string "name" or else "key" (in any case),
// as environment variables and labels are listed ({"key": "DATABASE_URL",
// "value": "…"}); -1 otherwise.
func entryName(v *value) int {
	if v.kind != kindObject {
		return -1
	}
	hasValue := false
	name, key := -1, -1
	for i, k := range v.keys {
		switch {
		case strings.EqualFold(k, "value"):
			hasValue = true
		case strings.EqualFold(k, "name") && name < 0 && v.elems[i].kind == kindString:
			name = i
		case strings.EqualFold(k, "key") && key < 0 && v.elems[i].kind == kindString:
			key = i
		}
	}
	switch {
	case !hasValue:
		return -1
	case name >= 0:
		return name
	default:
		return key
	}
}

// hide returns v replaced by its hash, appending the clear strings and
// numbers it held to clear; null and redacted values stay as they are.
func (r *Redactor) hide(v *value, clear *[]string) *value {
	if v.kind == kindNull || (v.kind == kindString && IsHash(v.s)) {
		return v
	}
	collectClear(v, clear)
	return &value{kind: kindString, s: r.hashValue(v)}
}

// collectClear appends the strings and numbers inside v.
func collectClear(v *value, clear *[]string) {
	switch v.kind {
	case kindString:
		if !IsHash(v.s) {
			*clear = append(*clear, v.s)
		}
	case kindNumber:
		*clear = append(*clear, v.s)
	case kindArray, kindObject:
		for _, e := range v.elems {
			collectClear(e, clear)
		}
	}
}

// RedactText returns text with every occurrence of each clear value that is
// at least MinTextValueLen characters long replaced by Hash(value); longer
// values win where they overlap. It protects a sender-written description
// that quotes a redacted value; RedactEvent calls it with the values it
// replaced. Only exact occurrences are caught.
func (r *Redactor) RedactText(text string, clearValues []string) string {
	if text == "" {
		return text
	}
	vals := make([]string, 0, len(clearValues))
	for _, v := range clearValues {
		if utf8.RuneCountInString(v) >= MinTextValueLen && strings.Contains(text, v) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return text
	}
	slices.SortFunc(vals, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	vals = slices.Compact(vals)
	args := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		args = append(args, v, r.Hash(v))
	}
	return strings.NewReplacer(args...).Replace(text)
}
