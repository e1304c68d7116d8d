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

// Limits bound what one request may carry (auditkeep.Limits).
type Limits = auditkeep.Limits

// DefaultLimits are the limits stated under "Events" in README.md.
func DefaultLimits() Limits { return auditkeep.DefaultLimits() }

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
const maxDepth = auditkeep.MaxJSONDepth

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
	if ijson.Depth(b) > maxDepth {
		return auditkeep.FieldErrorf("body", "request body is nested deeper than %d levels", maxDepth)
	}
	return nil
}

// Validate decodes one event, applies the defaults listed under "Events"
// in README.md (UUIDv7 id, occurred_at = now, type from the action, actor
// type user, status success), checks it (auditkeep.Event.Validate, then
// that the ledger can encode its documents) and returns it normalised.
// prefix names the event in error fields ("events[3]" in a batch, "" for
// a single event). Errors are EINVALID or ETOOLARGE, with Field set to the
// full path ("events[3].actor.id").
func Validate(raw json.RawMessage, prefix string, now time.Time, lim Limits) (*auditkeep.Event, error) {
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
	e, timeErr, err := w.event(now)
	if err != nil {
		return nil, auditkeep.WithinField(err, prefix)
	}
	err = e.Validate(now, lim)
	if timeErr != nil && auditkeep.ErrorField(err) != "id" {
		// occurred_at is checked after the id, before the rest.
		err = timeErr
	}
	if err == nil {
		err = encodable(e)
	}
	if err != nil {
		return nil, auditkeep.WithinField(err, prefix)
	}
	return e, nil
}

// event returns the event w holds, its defaults applied (see Validate).
// Errors are those of the fields that the event could not hold, their
// fields relative to the event: a server-assigned field set (err), an
// occurred_at that is not a time (timeErr; occurred_at is then now).
func (w *wireEvent) event(now time.Time) (e *auditkeep.Event, timeErr, err error) {
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
			return nil, nil, auditkeep.FieldErrorf(f.name, "%s is assigned by the server; leave it out", f.name)
		}
	}
	// Empty strings and the zero time count as absent: a Go sender
	// marshalling auditkeep.Event writes them for fields it did not set.
	e = &auditkeep.Event{
		ID:          deref(w.ID),
		Action:      deref(w.Action),
		Type:        deref(w.Type),
		Team:        deref(w.Team),
		Source:      deref(w.Source),
		Status:      deref(w.Status),
		Description: deref(w.Description),
		Before:      document(w.Before),
		Snapshot:    document(w.Snapshot),
		Metadata:    document(w.Metadata),
	}
	if e.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, nil, fmt.Errorf("generate id: %w", err)
		}
		e.ID = id.String()
	}
	e.OccurredAt = now.UTC()
	if t := deref(w.OccurredAt); t != "" && t != "0001-01-01T00:00:00Z" {
		if at, err := time.Parse(time.RFC3339Nano, t); err == nil {
			e.OccurredAt = at.UTC()
		} else {
			timeErr = auditkeep.FieldErrorf("occurred_at", "occurred_at is not an RFC 3339 time such as 2026-11-26T09:00:00.123Z")
		}
	}
	if e.Type == "" {
		e.Type = TypeOf(e.Action)
	}
	if w.Actor != nil {
		e.Actor = auditkeep.Actor{Type: w.Actor.Type, ID: w.Actor.ID, Name: w.Actor.Name, Email: w.Actor.Email}
		if e.Actor.Type == "" {
			e.Actor.Type = auditkeep.ActorUser
		}
	}
	if t := w.Target; t != nil {
		e.Target = &auditkeep.Target{Type: t.Type, ID: t.ID, Name: t.Name, Deleted: t.Deleted != nil && *t.Deleted}
	}
	for _, s := range w.Scope {
		e.Scope = append(e.Scope, auditkeep.ScopeEntry{Type: s.Type, ID: s.ID, Name: s.Name})
	}
	if c := w.Context; c != nil {
		e.Context = auditkeep.Context{IP: c.IP, UserAgent: c.UserAgent}
		if a, err := netip.ParseAddr(c.IP); err == nil {
			e.Context.IP = a.Unmap().String()
		}
	}
	if e.Status == "" {
		e.Status = auditkeep.StatusSuccess
	}
	for _, c := range w.Changes {
		ch := auditkeep.Change{Field: c.Field, Op: c.Op, Old: anyValue(c.Old), New: anyValue(c.New)}
		if ch.Op == "" {
			switch {
			case len(ch.Old) == 0 && len(ch.New) > 0:
				ch.Op = auditkeep.ChangeAdded
			case len(ch.New) == 0 && len(ch.Old) > 0:
				ch.Op = auditkeep.ChangeRemoved
			default:
				ch.Op = auditkeep.ChangeChanged
			}
		}
		e.Changes = append(e.Changes, ch)
	}
	return e, timeErr, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
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

// encodable refuses an event whose documents the ledger's canonical
// encoding of an event (RFC 8785) cannot hold: a number beyond the range
// of a double, an object with a repeated member name. Stored, such an
// event would stop its tenant's Merkle tree for good.
func encodable(e *auditkeep.Event) error {
	for _, d := range [...]struct {
		name string
		raw  json.RawMessage
	}{{"before", e.Before}, {"snapshot", e.Snapshot}, {"metadata", e.Metadata}} {
		if err := canonical(d.raw); err != nil {
			return auditkeep.FieldErrorf(d.name, "%s %v", d.name, err)
		}
	}
	for i, c := range e.Changes {
		for _, d := range [...]struct {
			name string
			raw  json.RawMessage
		}{{"old", c.Old}, {"new", c.New}} {
			if err := canonical(d.raw); err != nil {
				f := fmt.Sprintf("changes[%d].%s", i, d.name)
				return auditkeep.FieldErrorf(f, "%s %v", f, err)
			}
		}
	}
	return nil
}

// canonical says why RFC 8785 cannot encode raw, or nil.
func canonical(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	if err := ledger.CheckJSON(raw); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "canonical json: ") + " (numbers must fit a double and member names must not repeat)")
	}
	return nil
}

// document compacts an optional JSON document (before, snapshot,
// metadata); null means absent.
func document(raw json.RawMessage) json.RawMessage {
	if v := anyValue(raw); string(v) != "null" {
		return v
	}
	return nil
}

// anyValue compacts any JSON value (a change's old or new side).
func anyValue(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	return ijson.Compact(make([]byte, 0, len(raw)), raw)
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
