// Package ingest turns request bodies into stored events: it decodes and
// validates them, normalises defaults, and commits them in groups so that
// concurrent requests share one durable commit.
package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ijson"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/google/uuid"
)

// Limits bound what one request may carry.
type Limits struct {
	MaxBatchEvents   int // events per request
	MaxBatchBytes    int // bytes per request body
	MaxEventBytes    int // bytes per event, as sent
	MaxMetadataBytes int // bytes of one event's metadata
	MaxFutureSkew    time.Duration
}

// DefaultLimits are the limits stated under "Events" in README.md.
func DefaultLimits() Limits {
	return Limits{
		MaxBatchEvents:   1000,
		MaxBatchBytes:    5 << 20,
		MaxEventBytes:    64 << 10,
		MaxMetadataBytes: 16 << 10,
		MaxFutureSkew:    24 * time.Hour,
	}
}

// wireEvent is an event as a sender writes it. Times are strings so that a
// bad one gets an error naming the field rather than the decoder's message.
type wireEvent struct {
	ID          *string          `json:"id"`
	OccurredAt  *string          `json:"occurred_at"`
	Action      *string          `json:"action"`
	Type        *string          `json:"type"`
	Actor       *wireActor       `json:"actor"`
	Target      *wireTarget      `json:"target"`
	Scope       []wireScope      `json:"scope"`
	Team        *string          `json:"team"`
	Source      *string          `json:"source"`
	Context     *wireContext     `json:"context"`
	Status      *string          `json:"status"`
	Description *string          `json:"description"`
	Changes     []wireChange     `json:"changes"`
	Before      json.RawMessage  `json:"before"`
	Snapshot    json.RawMessage  `json:"snapshot"`
	Metadata    json.RawMessage  `json:"metadata"`
	Server      *json.RawMessage `json:"tenant"` // server-assigned: refused
	Seq         *json.RawMessage `json:"seq"`
	ReceivedAt  *json.RawMessage `json:"received_at"`
	Hash        *json.RawMessage `json:"hash"`
}

// wireEventSchema holds events to wireEvent's member names, exactly.
var wireEventSchema = ijson.SchemaOf(&wireEvent{}).Strict("an event")

type wireActor struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

type wireTarget struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Deleted *bool  `json:"deleted"` // set by the server on read; refused on write
}

type wireScope struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

type wireContext struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

type wireChange struct {
	Field string          `json:"field"`
	Op    string          `json:"op"`
	Old   json.RawMessage `json:"old"`
	New   json.RawMessage `json:"new"`
}

// DecodeBatch splits a request body into its events: the body is one event
// object or {"events": [...]}. It checks the body's size, UTF-8 and JSON
// syntax and the batch limits; each event is checked by Validate. The events
// are slices of body: the body is read once, and encoding/json only reads
// a body that is refused, to say why.
// Errors are EINVALID or ETOOLARGE naming the field.
func DecodeBatch(body []byte, lim Limits) ([]json.RawMessage, bool, error) {
	if len(body) > lim.MaxBatchBytes {
		return nil, false, &auditkeep.Error{Code: auditkeep.ETOOLARGE, Field: "body", Message: fmt.Sprintf("request body is larger than %d bytes", lim.MaxBatchBytes)}
	}
	if !utf8.Valid(body) {
		return nil, false, auditkeep.FieldErrorf("body", "request body is not valid UTF-8")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, auditkeep.FieldErrorf("body", "request body is empty; send an event object or {\"events\": [...]}")
	}
	if body[0] != '{' {
		return nil, false, auditkeep.FieldErrorf("body", "request body must be a JSON object: an event or {\"events\": [...]}")
	}
	if events, isBatch, ok := splitBatch(body, lim); ok {
		return events, isBatch, nil
	}
	// Not a well-formed batch: say what is wrong as encoding/json sees it.
	return decodeBatchJSON(body, lim)
}

// decodeBatchJSON is DecodeBatch by encoding/json, after the checks of
// size, UTF-8 and the first byte.
func decodeBatchJSON(body []byte, lim Limits) ([]json.RawMessage, bool, error) {
	if err := checkJSON(body); err != nil {
		return nil, false, err
	}
	if err := ijson.Check(body, nil, ""); err != nil {
		return nil, false, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, false, auditkeep.FieldErrorf("body", "request body is not valid JSON: %v", err)
	}
	raw, ok := probe["events"]
	if !ok {
		return []json.RawMessage{body}, false, nil
	}
	if len(probe) != 1 {
		for k := range probe {
			if k != "events" {
				return nil, true, auditkeep.FieldErrorf(k, "unknown field %q beside \"events\"", k)
			}
		}
	}
	var events []json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil {
		return nil, true, auditkeep.FieldErrorf("events", "events must be an array of event objects")
	}
	if len(events) == 0 {
		return nil, true, auditkeep.FieldErrorf("events", "events is empty")
	}
	if len(events) > lim.MaxBatchEvents {
		return nil, true, &auditkeep.Error{Code: auditkeep.ETOOLARGE, Field: "events",
			Message: fmt.Sprintf("a batch holds at most %d events; this one has %d", lim.MaxBatchEvents, len(events))}
	}
	return events, true, nil
}

// maxDepth bounds the nesting of a request body; deeper documents are refused
// before they are decoded.
const maxDepth = 64

// checkJSON checks syntax (json.Valid, which allocates nothing) and nesting
// depth (one scan of the bytes) without building values.
func checkJSON(b []byte) error {
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v) // only to say what is wrong
		if err != nil && strings.Contains(err.Error(), "after top-level value") {
			return auditkeep.FieldErrorf("body", "request body holds more than one JSON value")
		}
		return auditkeep.FieldErrorf("body", "request body is not valid JSON: %v", err)
	}
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxDepth {
				return auditkeep.FieldErrorf("body", "request body is nested deeper than %d levels", maxDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// Validate decodes and validates one event, applies the defaults listed under
// "Events" in README.md (UUIDv7 id, occurred_at = now, type from the action,
// actor type user, status success) and returns it normalised. prefix names the
// event in error fields ("events[3]" in a batch, "" for a single event). Errors
// are EINVALID or ETOOLARGE, with Field set to the full path
// ("events[3].actor.id").
func Validate(raw json.RawMessage, prefix string, now time.Time, lim Limits) (*auditkeep.Event, error) {
	field := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	invalid := func(name, format string, args ...any) error {
		f := field(name)
		return auditkeep.FieldErrorf(f, "%s %s", f, fmt.Sprintf(format, args...))
	}
	if len(raw) > lim.MaxEventBytes {
		f := prefix
		if f == "" {
			f = "event"
		}
		return nil, &auditkeep.Error{Code: auditkeep.ETOOLARGE, Field: f,
			Message: fmt.Sprintf("%s is %d bytes; an event holds at most %d", f, len(raw), lim.MaxEventBytes)}
	}
	if err := ijson.Check(raw, wireEventSchema, prefix); err != nil {
		return nil, err
	}
	var w wireEvent
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, decodeError(err, prefix)
	}
	// Server-assigned fields may be present with their zero values (a Go
	// sender marshalling auditkeep.Event writes them), never with others.
	for _, f := range []struct {
		name string
		raw  *json.RawMessage
		zero []string
	}{
		{"tenant", w.Server, []string{`""`, "null"}},
		{"seq", w.Seq, []string{"0", "null"}},
		{"received_at", w.ReceivedAt, []string{`"0001-01-01T00:00:00Z"`, `""`, "null"}},
		{"hash", w.Hash, []string{`""`, "null"}},
	} {
		if f.raw != nil && !slices.Contains(f.zero, string(bytes.TrimSpace(*f.raw))) {
			return nil, invalid(f.name, "is assigned by the server; leave it out")
		}
	}

	e := &auditkeep.Event{}
	// id
	// Empty strings and the zero time count as absent: a Go sender
	// marshalling auditkeep.Event writes them for fields it did not set.
	if w.ID != nil && *w.ID == "" {
		w.ID = nil
	}
	if w.OccurredAt != nil && (*w.OccurredAt == "" || *w.OccurredAt == "0001-01-01T00:00:00Z") {
		w.OccurredAt = nil
	}
	if w.Type != nil && *w.Type == "" {
		w.Type = nil
	}
	if w.Status != nil && *w.Status == "" {
		w.Status = nil
	}
	if w.ID != nil {
		if err := checkText(*w.ID, 128, true); err != nil {
			return nil, invalid("id", "%v", err)
		}
		e.ID = *w.ID
	} else {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("generate id: %w", err)
		}
		e.ID = id.String()
	}
	// occurred_at
	if w.OccurredAt != nil {
		t, err := time.Parse(time.RFC3339Nano, *w.OccurredAt)
		if err != nil {
			return nil, invalid("occurred_at", "is not an RFC 3339 time such as 2026-11-26T09:00:00.123Z")
		}
		if t.Year() < 1970 {
			return nil, invalid("occurred_at", "is before 1970")
		}
		if t.After(now.Add(lim.MaxFutureSkew)) {
			return nil, invalid("occurred_at", "is more than %s in the future", lim.MaxFutureSkew)
		}
		e.OccurredAt = t.UTC()
	} else {
		e.OccurredAt = now.UTC()
	}
	// action and type
	if w.Action == nil || *w.Action == "" {
		return nil, invalid("action", "is required (a lowercase dotted name such as token.create)")
	}
	if !auditkeep.ValidAction(*w.Action) {
		return nil, invalid("action", "%q is not a lowercase dotted name such as token.create", *w.Action)
	}
	e.Action = *w.Action
	if w.Type != nil {
		if !slices.Contains(auditkeep.Types, *w.Type) {
			return nil, invalid("type", "%q is not one of %s", *w.Type, strings.Join(auditkeep.Types, ", "))
		}
		e.Type = *w.Type
	} else {
		e.Type = TypeOf(e.Action)
	}
	// actor
	if w.Actor == nil {
		return nil, invalid("actor", "is required")
	}
	if w.Actor.ID == "" {
		return nil, invalid("actor.id", "is required")
	}
	if err := checkText(w.Actor.ID, 256, true); err != nil {
		return nil, invalid("actor.id", "%v", err)
	}
	e.Actor = auditkeep.Actor{Type: w.Actor.Type, ID: w.Actor.ID, Name: w.Actor.Name, Email: w.Actor.Email}
	if e.Actor.Type == "" {
		e.Actor.Type = auditkeep.ActorUser
	} else if !slices.Contains(auditkeep.ActorTypes, e.Actor.Type) {
		return nil, invalid("actor.type", "%q is not one of %s", e.Actor.Type, strings.Join(auditkeep.ActorTypes, ", "))
	}
	if err := checkText(e.Actor.Name, 256, false); err != nil {
		return nil, invalid("actor.name", "%v", err)
	}
	if e.Actor.Email != "" {
		if len(e.Actor.Email) > 320 || strings.Count(e.Actor.Email, "@") != 1 || strings.HasPrefix(e.Actor.Email, "@") ||
			strings.HasSuffix(e.Actor.Email, "@") || strings.ContainsAny(e.Actor.Email, " \t\r\n<>\"") {
			return nil, invalid("actor.email", "%q is not an email address", e.Actor.Email)
		}
	}
	// target
	if w.Target != nil {
		if w.Target.Deleted != nil && *w.Target.Deleted {
			return nil, invalid("target.deleted", "is set by the server; leave it out")
		}
		if w.Target.Type == "" {
			return nil, invalid("target.type", "is required when target is given")
		}
		if w.Target.ID == "" {
			return nil, invalid("target.id", "is required when target is given")
		}
		for name, v := range map[string]string{"target.type": w.Target.Type, "target.id": w.Target.ID, "target.name": w.Target.Name} {
			if err := checkText(v, 256, name != "target.name"); err != nil {
				return nil, invalid(name, "%v", err)
			}
		}
		e.Target = &auditkeep.Target{Type: w.Target.Type, ID: w.Target.ID, Name: w.Target.Name}
	}
	// scope
	if len(w.Scope) > 8 {
		return nil, invalid("scope", "has %d levels; at most 8", len(w.Scope))
	}
	for i, s := range w.Scope {
		name := fmt.Sprintf("scope[%d]", i)
		if s.Type == "" {
			return nil, invalid(name+".type", "is required")
		}
		if s.ID == "" {
			return nil, invalid(name+".id", "is required")
		}
		if strings.ContainsAny(s.Type, ":/") || strings.Contains(s.ID, "/") {
			return nil, invalid(name, "type may not contain ':' or '/', id may not contain '/'")
		}
		for sub, v := range map[string]string{".type": s.Type, ".id": s.ID, ".name": s.Name} {
			if err := checkText(v, 256, sub != ".name"); err != nil {
				return nil, invalid(name+sub, "%v", err)
			}
		}
		e.Scope = append(e.Scope, auditkeep.ScopeEntry{Type: s.Type, ID: s.ID, Name: s.Name})
	}
	// team, source
	if w.Team != nil {
		if err := checkText(*w.Team, 256, false); err != nil {
			return nil, invalid("team", "%v", err)
		}
		e.Team = *w.Team
	}
	if w.Source != nil && *w.Source != "" {
		if !sourceRe(*w.Source) {
			return nil, invalid("source", "%q is not a word such as console, api, cli, terraform, git or system", *w.Source)
		}
		e.Source = *w.Source
	}
	// context
	if w.Context != nil {
		if w.Context.IP != "" {
			a, err := netip.ParseAddr(w.Context.IP)
			if err != nil {
				return nil, invalid("context.ip", "%q is not an IP address", w.Context.IP)
			}
			e.Context.IP = a.Unmap().String()
		}
		if err := checkText(w.Context.UserAgent, 1024, false); err != nil {
			return nil, invalid("context.user_agent", "%v", err)
		}
		e.Context.UserAgent = w.Context.UserAgent
	}
	// status
	e.Status = auditkeep.StatusSuccess
	if w.Status != nil {
		if *w.Status != auditkeep.StatusSuccess && *w.Status != auditkeep.StatusFailure {
			return nil, invalid("status", "%q is not success or failure", *w.Status)
		}
		e.Status = *w.Status
	}
	// description
	if w.Description != nil {
		if err := checkText(*w.Description, 4096, false); err != nil {
			return nil, invalid("description", "%v", err)
		}
		e.Description = *w.Description
	}
	// documents
	var err error
	if e.Before, err = document(w.Before, false); err != nil {
		return nil, invalid("before", "%v", err)
	}
	if e.Snapshot, err = document(w.Snapshot, false); err != nil {
		return nil, invalid("snapshot", "%v", err)
	}
	if e.Metadata, err = document(w.Metadata, true); err != nil {
		return nil, invalid("metadata", "%v", err)
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
	}{{"before", e.Before}, {"snapshot", e.Snapshot}, {"metadata", e.Metadata}} {
		if err := encodable(d.raw); err != nil {
			return nil, invalid(d.name, "%v", err)
		}
	}
	if len(e.Metadata) > lim.MaxMetadataBytes {
		f := field("metadata")
		return nil, &auditkeep.Error{Code: auditkeep.ETOOLARGE, Field: f,
			Message: fmt.Sprintf("%s is %d bytes; at most %d", f, len(e.Metadata), lim.MaxMetadataBytes)}
	}
	// changes
	if len(w.Changes) > 1000 {
		return nil, invalid("changes", "has %d entries; at most 1000", len(w.Changes))
	}
	for i, c := range w.Changes {
		name := fmt.Sprintf("changes[%d]", i)
		if c.Field == "" {
			return nil, invalid(name+".field", "is required")
		}
		if err := checkText(c.Field, 512, true); err != nil {
			return nil, invalid(name+".field", "%v", err)
		}
		ch := auditkeep.Change{Field: c.Field, Op: c.Op, Old: anyValue(c.Old), New: anyValue(c.New)}
		if err := encodable(ch.Old); err != nil {
			return nil, invalid(name+".old", "%v", err)
		}
		if err := encodable(ch.New); err != nil {
			return nil, invalid(name+".new", "%v", err)
		}
		switch ch.Op {
		case "":
			switch {
			case len(ch.Old) == 0 && len(ch.New) > 0:
				ch.Op = auditkeep.ChangeAdded
			case len(ch.New) == 0 && len(ch.Old) > 0:
				ch.Op = auditkeep.ChangeRemoved
			default:
				ch.Op = auditkeep.ChangeChanged
			}
		case auditkeep.ChangeAdded, auditkeep.ChangeRemoved, auditkeep.ChangeChanged:
		default:
			return nil, invalid(name+".op", "%q is not added, removed or changed", ch.Op)
		}
		e.Changes = append(e.Changes, ch)
	}
	return e, nil
}

// TypeOf derives an event type from an action: its last segment when that is
// a type ("token.create" → create), else info.
func TypeOf(action string) string {
	last := action[strings.LastIndexByte(action, '.')+1:]
	if slices.Contains(auditkeep.Types, last) {
		return last
	}
	return auditkeep.TypeInfo
}

func sourceRe(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// checkText refuses over-long text and control characters (in identifiers
// also whitespace at either end).
func checkText(s string, max int, ident bool) error {
	if len(s) > max {
		return fmt.Errorf("is longer than %d bytes", max)
	}
	for _, r := range s {
		if r < 0x20 && (ident || r != '\n' && r != '\t') || r == 0x7f {
			return errors.New("contains a control character")
		}
	}
	if ident && strings.TrimSpace(s) != s {
		return errors.New("has leading or trailing spaces")
	}
	return nil
}

// document compacts an optional JSON document. before and snapshot may be
// any object or array; metadata must be an object. null means absent.
func document(raw json.RawMessage, objectOnly bool) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' && (objectOnly || raw[0] != '[') {
		if objectOnly {
			return nil, errors.New("must be a JSON object")
		}
		return nil, errors.New("must be a JSON object or array")
	}
	return compact(raw), nil
}

// encodable refuses a document that the ledger's canonical encoding of an
// event (RFC 8785) cannot hold: a number beyond the range of a double, an
// object with a repeated member name. Stored, such an event would stop its
// tenant's Merkle tree for good.
func encodable(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	if err := ledger.CheckJSON(raw); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "canonical json: ") + " (numbers must fit a double and member names must not repeat)")
	}
	return nil
}

// anyValue compacts any JSON value (a change's old or new side).
func anyValue(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	return compact(raw)
}

// compact returns a copy of the valid JSON raw (the decoder read it) without
// the whitespace outside its strings: what json.Compact returns, without
// checking the syntax again.
func compact(raw []byte) []byte {
	b := make([]byte, 0, len(raw))
	start, inString := 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			b = append(b, raw[start:i]...)
			start = i + 1
		}
	}
	return append(b, raw[start:]...)
}

// decodeError turns a decoder error into an EINVALID naming the field.
func decodeError(err error, prefix string) error {
	join := func(name string) string {
		if prefix == "" {
			return name
		}
		if name == "" {
			return prefix
		}
		return prefix + "." + name
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := join(te.Field)
		return auditkeep.FieldErrorf(f, "%s must be a JSON %s, not %s", f, jsonKind(te.Type.Kind().String()), te.Value)
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name := strings.Trim(rest, `"`)
		if name == "" {
			f := join("")
			if f == "" {
				f = "body"
			}
			return auditkeep.FieldErrorf(f, `%s has a field with an empty name ("")`, f)
		}
		f := join(name)
		return auditkeep.FieldErrorf(f, "%s is not a field of an event", f)
	}
	f := prefix
	if f == "" {
		f = "body"
	}
	return auditkeep.FieldErrorf(f, "%s is not a valid event object: %v", f, err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "struct", "map", "ptr":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	default:
		return "value"
	}
}
