// Package github maps GitHub's audit-log stream, as GitHub sends it to a
// Splunk HTTP Event Collector, onto auditkeep events. Decode splits a HEC
// request body into its event envelopes; Map turns one into an event.
//
// The envelope is the one Splunk documents for /services/collector/event
// (docs.splunk.com, "Format events for HTTP Event Collector": "time",
// "host", "source", "sourcetype", "index", "fields" and "event", several
// envelopes concatenated in one body with or without whitespace between
// them). GitHub's audit event fields are those of its audit log API
// (docs.github.com, "Using the audit log API for your enterprise":
// "@timestamp", "_document_id", "action", "actor", "actor_ip",
// "user_agent", "operation_type", "business", "org", "repo", "team",
// "user", …). The mapping is the table in README.md, "GitHub audit-log
// streaming (Splunk HEC)".
package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// HEC status codes (docs.splunk.com, "Troubleshoot HTTP Event Collector",
// "Possible error codes").
const (
	CodeSuccess       = 0
	CodeTokenDisabled = 1
	CodeTokenRequired = 2
	CodeInvalidAuth   = 3
	CodeInvalidToken  = 4
	CodeNoData        = 5
	CodeInvalidFormat = 6
	CodeInternal      = 8
	CodeBusy          = 9
	CodeEventRequired = 12
	CodeEventBlank    = 13
	CodeHealthy       = 17
)

// Texts of the codes, as Splunk writes them.
var Text = map[int]string{
	CodeSuccess:       "Success",
	CodeTokenDisabled: "Token disabled",
	CodeTokenRequired: "Token is required",
	CodeInvalidAuth:   "Invalid authorization",
	CodeInvalidToken:  "Invalid token",
	CodeNoData:        "No data",
	CodeInvalidFormat: "Invalid data format",
	CodeInternal:      "Internal server error",
	CodeBusy:          "Server is busy",
	CodeEventRequired: "Event field is required",
	CodeEventBlank:    "Event field cannot be blank",
	CodeHealthy:       "HEC is healthy",
}

// Error is a refusal of a body in HEC's terms: its code, the index of the
// envelope at fault (-1 for the body as a whole) and the auditkeep error
// naming the field.
type Error struct {
	Code  int
	Event int
	Err   *auditkeep.Error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Envelope is one HEC event envelope.
type Envelope struct {
	Time       json.RawMessage `json:"time"` // seconds since 1970, a number or a string of one
	Host       string          `json:"host"`
	Source     string          `json:"source"`
	Sourcetype string          `json:"sourcetype"`
	Index      string          `json:"index"`
	Fields     json.RawMessage `json:"fields"`
	Event      json.RawMessage `json:"event"`
}

func refuse(code, event int, field, format string, args ...any) *Error {
	return &Error{Code: code, Event: event, Err: auditkeep.FieldErrorf(field, format, args...)}
}

// Decode splits a HEC body into its envelopes: JSON objects one after
// another. An empty body is CodeNoData; a value that is not an object, or
// is not JSON, is CodeInvalidFormat; an envelope without "event" is
// CodeEventRequired and one whose event is "" or {} is CodeEventBlank.
// Fields are named "events[i]…" after the envelope's index.
func Decode(body []byte) ([]Envelope, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, refuse(CodeNoData, -1, "body", "the request body holds no event")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []Envelope
	for i := 0; ; i++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return out, nil
		}
		field := fmt.Sprintf("events[%d]", i)
		if err != nil {
			return nil, refuse(CodeInvalidFormat, i, field, "%s is not JSON: %v", field, err)
		}
		if raw[0] != '{' {
			return nil, refuse(CodeInvalidFormat, i, field, "%s is not a JSON object", field)
		}
		var env Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			return nil, refuse(CodeInvalidFormat, i, field, "%s: %v", field, err)
		}
		switch ev := bytes.TrimSpace(env.Event); {
		case len(ev) == 0 || string(ev) == "null":
			return nil, refuse(CodeEventRequired, i, field+".event", "%s.event is required", field)
		case string(ev) == `""` || string(ev) == "{}":
			return nil, refuse(CodeEventBlank, i, field+".event", "%s.event is blank", field)
		}
		out = append(out, env)
	}
}

// members GitHub's event has that the mapping consumes; every other member
// is kept in metadata as sent.
var consumed = []string{"@timestamp", "_document_id", "action", "actor", "actor_ip", "user_agent"}

// Map returns the event of envelope i. The envelope's event is GitHub's
// audit event: a JSON object, or a string holding one. Errors are
// CodeInvalidFormat naming "events[i].event…" with GitHub's member names.
func Map(i int, env Envelope) (*auditkeep.Event, error) {
	field := fmt.Sprintf("events[%d].event", i)
	raw := bytes.TrimSpace(env.Event)
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, refuse(CodeInvalidFormat, i, field, "%s: %v", field, err)
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 || raw[0] != '{' {
			return nil, refuse(CodeInvalidFormat, i, field, "%s is text, not a GitHub audit event (a JSON object)", field)
		}
	}
	if raw[0] != '{' {
		return nil, refuse(CodeInvalidFormat, i, field, "%s is not a GitHub audit event (a JSON object)", field)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		return nil, refuse(CodeInvalidFormat, i, field, "%s is not a JSON object: %v", field, err)
	}
	if err := ijson.Check(raw, nil, field); err != nil {
		var e *auditkeep.Error
		if !errors.As(err, &e) {
			e = auditkeep.FieldErrorf(field, "%s: %v", field, err)
		}
		return nil, &Error{Code: CodeInvalidFormat, Event: i, Err: e}
	}
	str := func(name string) string {
		var s string
		if v, ok := m[name]; ok {
			_ = json.Unmarshal(v, &s) // a member of another type reads as absent; it stays in metadata
		}
		return s
	}
	action := str("action")
	if action == "" {
		return nil, refuse(CodeInvalidFormat, i, field+".action", "%s.action is required (GitHub's action, such as repo.create)", field)
	}
	e := &auditkeep.Event{Action: action, Source: "github"}

	// id: GitHub's document id, else the event's own bytes.
	if id := str("_document_id"); id != "" {
		e.ID = compat.ID("github", id)
	} else {
		e.ID = compat.ID("github", string(raw))
	}

	// occurred_at: @timestamp (ms), created_at (ms or RFC 3339), the envelope's time (s).
	var err error
	if e.OccurredAt, err = occurredAt(m, env.Time); err != nil {
		return nil, refuse(CodeInvalidFormat, i, field+"."+err.(*timeError).member, "%s.%s %v", field, err.(*timeError).member, err.(*timeError).err)
	}

	e.Type = typeOf(str("operation_type"), action)

	// actor
	switch login := str("actor"); {
	case login == "":
		e.Actor = auditkeep.Actor{Type: auditkeep.ActorSystem, ID: "github", Name: "GitHub"}
	case strings.HasSuffix(login, "[bot]"):
		e.Actor = auditkeep.Actor{Type: auditkeep.ActorService, ID: login, Name: login}
	default:
		e.Actor = auditkeep.Actor{Type: auditkeep.ActorUser, ID: login, Name: login}
	}

	// target and scope: the most specific object named, inside the others.
	business, org, repo, team, user := str("business"), str("org"), str("repo"), str("team"), str("user")
	levels := []struct{ typ, id, name string }{
		{"enterprise", business, business},
		{"organization", org, org},
		{"repository", lastSegment(repo), repo},
		{"team", lastSegment(team), team},
		{"user", user, user},
	}
	top := -1
	for k, l := range levels {
		if l.id != "" {
			top = k
		}
	}
	for k, l := range levels {
		if l.id == "" {
			continue
		}
		if k == top {
			id := l.id
			if l.typ == "repository" || l.typ == "team" {
				id = l.name // the full name, owner/name: unique on GitHub
			}
			e.Target = &auditkeep.Target{Type: l.typ, ID: id, Name: l.name}
			break
		}
		if l.typ == "team" {
			continue // a team is not a level above a user or repository
		}
		e.Scope = append(e.Scope, auditkeep.ScopeEntry{Type: l.typ, ID: l.id, Name: l.name})
	}

	e.Context = auditkeep.Context{IP: str("actor_ip"), UserAgent: str("user_agent")}

	// metadata: every member not consumed above, as sent.
	for _, k := range consumed {
		delete(m, k)
	}
	if len(m) > 0 {
		md, err := json.Marshal(m)
		if err != nil {
			return nil, refuse(CodeInvalidFormat, i, field, "%s: %v", field, err)
		}
		e.Metadata = md
	}
	return e, nil
}

type timeError struct {
	member string
	err    error
}

func (e *timeError) Error() string { return e.member + ": " + e.err.Error() }

func occurredAt(m map[string]json.RawMessage, envTime json.RawMessage) (time.Time, error) {
	for _, k := range []string{"@timestamp", "created_at"} {
		v, ok := m[k]
		if !ok || string(v) == "null" {
			continue
		}
		if v[0] == '"' {
			var s string
			_ = json.Unmarshal(v, &s)
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return t, &timeError{k, fmt.Errorf("%q is neither milliseconds since 1970 nor an RFC 3339 time", s)}
			}
			return t.UTC(), nil
		}
		t, err := compat.Millis(json.Number(v))
		if err != nil {
			return t, &timeError{k, err}
		}
		return t, nil
	}
	if v := bytes.TrimSpace(envTime); len(v) > 0 && string(v) != "null" {
		s := string(v)
		if v[0] == '"' {
			_ = json.Unmarshal(v, &s)
		}
		t, err := compat.Seconds(s)
		if err != nil {
			return t, &timeError{"time", err}
		}
		return t, nil
	}
	return time.Time{}, nil
}

// typeOf maps GitHub's operation_type onto an event type; "" lets ingest
// derive the type from the action.
func typeOf(op, action string) string {
	switch op {
	case "create":
		return auditkeep.TypeCreate
	case "access":
		return auditkeep.TypeRead
	case "modify", "transfer", "restore":
		return auditkeep.TypeUpdate
	case "remove":
		return auditkeep.TypeDelete
	case "authentication":
		if strings.HasSuffix(action, "logout") {
			return auditkeep.TypeLogout
		}
		return auditkeep.TypeLogin
	}
	return ""
}

func lastSegment(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

// Names renames auditkeep's event fields to GitHub's in an ingest error
// (compat.Rename).
var Names = map[string]string{
	"id":                 "_document_id",
	"occurred_at":        "@timestamp",
	"action":             "action",
	"actor":              "actor",
	"context.ip":         "actor_ip",
	"context.user_agent": "user_agent",
	"metadata":           "",
}
