// Package retraced maps Retraced's publisher API onto auditkeep's event
// model: the events its clients send (and the hash they recompute from what
// they sent), the search language of its GraphQL endpoint, and the event
// nodes that endpoint answers with. It is pure: no storage, no HTTP.
//
// The wire format follows Retraced's own server and clients:
// retracedhq/retraced src/handlers/createEvent.ts (the request and its
// validation), retracedhq/retraced-js src/event.ts (the hash, which the
// server computes with that same code) and retracedhq/retraced-go event.go,
// client.go and graphql.go.
package retraced

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
)

// Event is one event as a Retraced client sends it (CreateEventRequest).
type Event struct {
	Action      string          `json:"action"`
	CRUD        string          `json:"crud"`
	Group       *Group          `json:"group"`
	Created     *string         `json:"created"`
	Actor       *Actor          `json:"actor"`
	Target      *Target         `json:"target"`
	SourceIP    string          `json:"source_ip"`
	Description string          `json:"description"`
	IsAnonymous *bool           `json:"is_anonymous"`
	IsFailure   *bool           `json:"is_failure"`
	Fields      json.RawMessage `json:"fields"`
	Component   string          `json:"component"`
	Version     string          `json:"version"`
	ExternalID  string          `json:"external_id"`
	Metadata    json.RawMessage `json:"metadata"`
}

// Group is the end customer's organization the event belongs to.
type Group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Actor is who acted.
type Actor struct {
	ID     string          `json:"id"`
	Name   string          `json:"name"`
	Href   string          `json:"href"`
	Fields json.RawMessage `json:"fields"`
}

// Target is what was acted on.
type Target struct {
	ID     string          `json:"id"`
	Name   string          `json:"name"`
	Href   string          `json:"href"`
	Type   string          `json:"type"`
	Fields json.RawMessage `json:"fields"`
}

// Bulk is the body of POST …/event/bulk.
type Bulk struct {
	Events []json.RawMessage `json:"events"`
}

// Parsed is a decoded, validated Retraced event with its string maps read.
type Parsed struct {
	Event
	fields, metadata           map[string]string // nil when absent or null
	actorFields, targetFields  map[string]string
	hasFields, hasMetadata     bool
	created                    time.Time // zero when absent
	anonymous, failure, target bool
}

// Violation names one problem of an event in Retraced's terms.
type Violation struct {
	Message   string `json:"message"`
	Field     string `json:"field"`
	Violation string `json:"violation"` // "missing" or "invalid"
}

func (v *Violation) Error() string { return v.Message }

func missing(field, format string, args ...any) *Violation {
	return &Violation{Message: fmt.Sprintf(format, args...), Field: field, Violation: "missing"}
}

func invalid(field, format string, args ...any) *Violation {
	return &Violation{Message: fmt.Sprintf(format, args...), Field: field, Violation: "invalid"}
}

var crudTypes = map[string]string{"c": auditkeep.TypeCreate, "r": auditkeep.TypeRead, "u": auditkeep.TypeUpdate, "d": auditkeep.TypeDelete}

// Parse decodes and validates one event as Retraced's server does
// (createEvent.ts: action and crud required, group.id, actor.id and
// target.id required when their object is present, an actor unless
// is_anonymous, a parseable created, an IP address as source_ip, string
// maps of strings), with members spelled exactly, each once. Empty strings
// count as absent, and so does the zero time "0001-01-01T00:00:00Z", which
// retraced-go sends for an event whose Created is unset. It returns a
// *Violation.
func Parse(raw []byte) (*Parsed, error) {
	var p Parsed
	if err := compat.Decode(raw, &p.Event); err != nil {
		return nil, invalid(auditkeep.ErrorField(err), "%s", auditkeep.ErrorMessage(err))
	}
	e := &p.Event
	if e.Action == "" {
		return nil, missing("action", "Missing required field 'action'")
	}
	if !auditkeep.ValidAction(e.Action) {
		return nil, invalid("action", "Invalid value for 'action' field: %q is not a lowercase dotted name such as user.login", e.Action)
	}
	if _, ok := crudTypes[e.CRUD]; !ok {
		if e.CRUD == "" {
			return nil, missing("crud", "Missing required field 'crud'")
		}
		return nil, invalid("crud", "Invalid value for 'crud' field: %s", e.CRUD)
	}
	if e.Group != nil && *e.Group == (Group{}) {
		e.Group = nil
	}
	if e.Group != nil && e.Group.ID == "" {
		return nil, missing("group.id", "Field 'group.id' is required if 'group' is present")
	}
	var err error
	if e.Actor != nil {
		if p.actorFields, _, err = stringMap(e.Actor.Fields, "actor.fields"); err != nil {
			return nil, err
		}
		if e.Actor.ID == "" && e.Actor.Name == "" && e.Actor.Href == "" && len(p.actorFields) == 0 {
			e.Actor = nil
		} else if e.Actor.ID == "" {
			return nil, missing("actor.id", "Field 'actor.id' is required if 'actor' is present")
		}
	}
	if e.Target != nil {
		if p.targetFields, _, err = stringMap(e.Target.Fields, "target.fields"); err != nil {
			return nil, err
		}
		if e.Target.ID == "" && e.Target.Name == "" && e.Target.Href == "" && e.Target.Type == "" && len(p.targetFields) == 0 {
			e.Target = nil
		} else if e.Target.ID == "" {
			return nil, missing("target.id", "Field 'target.id' is required if 'target' is present")
		}
	}
	p.target = e.Target != nil
	p.anonymous = e.IsAnonymous != nil && *e.IsAnonymous
	p.failure = e.IsFailure != nil && *e.IsFailure
	if e.Actor == nil && !p.anonymous {
		return nil, missing("actor", "Event is not marked anonymous, and missing required field 'actor'")
	}
	if e.Created != nil && *e.Created != "" && *e.Created != "0001-01-01T00:00:00Z" {
		t, err := parseTime(*e.Created)
		if err != nil {
			return nil, invalid("created", "Unable to parse 'created' field as valid time: %s", *e.Created)
		}
		p.created = t
	}
	if e.SourceIP != "" {
		if _, err := netip.ParseAddr(e.SourceIP); err != nil {
			return nil, invalid("source_ip", "Unable to parse 'source_ip' field as valid IPV4 or IPV6 address: %s", e.SourceIP)
		}
	}
	if p.fields, p.hasFields, err = stringMap(e.Fields, "fields"); err != nil {
		return nil, err
	}
	if p.metadata, p.hasMetadata, err = stringMap(e.Metadata, "metadata"); err != nil {
		return nil, err
	}
	return &p, nil
}

// parseTime reads created: RFC 3339 (what both clients send), or a date.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

// stringMap reads an object of strings; present reports an object (even
// empty) rather than an absent member or null.
func stringMap(raw json.RawMessage, field string) (m map[string]string, present bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	var vals map[string]json.RawMessage
	if err := json.Unmarshal(raw, &vals); err != nil {
		return nil, false, invalid(field, "'%s' must be an object of strings", field)
	}
	m = make(map[string]string, len(vals))
	for k, v := range vals {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, false, invalid(field+"."+k, "'%s.%s' must be a string", field, k)
		}
		m[k] = s
	}
	return m, true, nil
}

// Hash is the hash Retraced's server returns and its clients recompute and
// check (retraced-js src/event.ts buildHashTarget, which the server runs;
// retraced-go event.go BuildHashTarget is the same for what retraced-go
// sends): SHA-256 hex of
//
//	id:action:target.id:actor.id:group.id:source_ip:is_failure:is_anonymous:fields[:external_id][:metadata]
//
// each string with "%" written "%25" and ":" written "%3A", the booleans as
// 1 or 0, fields and metadata as "key=value;" sorted by key (in UTF-16 code
// units, JavaScript's order) with "=" and ";" also escaped; absent fields
// are an empty segment, absent metadata no segment.
func (p *Parsed) Hash(id string) string {
	sum := sha256.Sum256([]byte(p.HashTarget(id)))
	return hex.EncodeToString(sum[:])
}

// HashTarget is the canonical string Hash digests.
func (p *Parsed) HashTarget(id string) string {
	var b strings.Builder
	seg := func(s string) {
		b.WriteString(passOne(s))
		b.WriteByte(':')
	}
	seg(id)
	seg(p.Action)
	var targetID, actorID, groupID string
	if p.Target != nil {
		targetID = p.Target.ID
	}
	if p.Actor != nil {
		actorID = p.Actor.ID
	}
	if p.Group != nil {
		groupID = p.Group.ID
	}
	seg(targetID)
	seg(actorID)
	seg(groupID)
	seg(p.SourceIP)
	b.WriteString(bit(p.failure))
	b.WriteString(bit(p.anonymous))
	pairs := func(m map[string]string) {
		for _, k := range jsKeys(m) {
			b.WriteString(passTwo(passOne(k)))
			b.WriteByte('=')
			b.WriteString(passTwo(passOne(m[k])))
			b.WriteByte(';')
		}
	}
	if !p.hasFields {
		b.WriteByte(':')
	} else {
		pairs(p.fields)
	}
	if p.ExternalID != "" {
		b.WriteByte(':')
		b.WriteString(passOne(p.ExternalID))
	}
	if p.hasMetadata {
		b.WriteByte(':')
		pairs(p.metadata)
	}
	return b.String()
}

func bit(v bool) string {
	if v {
		return "1:"
	}
	return "0:"
}

var (
	passOneEscaper = strings.NewReplacer("%", "%25", ":", "%3A")
	passTwoEscaper = strings.NewReplacer("=", "%3D", ";", "%3B")
)

func passOne(s string) string { return passOneEscaper.Replace(s) }
func passTwo(s string) string { return passTwoEscaper.Replace(s) }

// jsKeys returns m's keys in the order of JavaScript's Array.sort: by
// UTF-16 code units.
func jsKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
	})
	return keys
}

// AnonymousActor is the actor id of an event marked is_anonymous without an actor.
const AnonymousActor = "anonymous"

// UntypedTarget is the target type of a target sent without one.
const UntypedTarget = "object"

// GroupScope is the scope type a Retraced group maps to.
const GroupScope = "group"

// Extra is what a Retraced event carries beyond auditkeep's fields, kept in
// the stored event's metadata under "retraced".
type Extra struct {
	CRUD         string            `json:"crud,omitempty"`
	Fields       map[string]string `json:"fields,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	Component    string            `json:"component,omitempty"`
	Version      string            `json:"version,omitempty"`
	ExternalID   string            `json:"external_id,omitempty"`
	ActorHref    string            `json:"actor_href,omitempty"`
	ActorFields  map[string]string `json:"actor_fields,omitempty"`
	TargetHref   string            `json:"target_href,omitempty"`
	TargetFields map[string]string `json:"target_fields,omitempty"`
	IsAnonymous  bool              `json:"is_anonymous,omitempty"`
}

// ExtraKey is the metadata member holding Extra.
const ExtraKey = "retraced"

// EventID is the auditkeep event id of an event with an external id, so
// that sending it again stores nothing new; "" without one (the server
// assigns a UUIDv7).
func (p *Parsed) EventID() string {
	if p.ExternalID == "" {
		return ""
	}
	return compat.ID("retraced", p.ExternalID)
}

// Map returns the auditkeep event (as ingest reads it) for p. The table in
// README.md ("Drop-in for other audit-log APIs") lists each field.
func (p *Parsed) Map() map[string]any {
	e := map[string]any{"action": p.Action, "type": crudTypes[p.CRUD]}
	if id := p.EventID(); id != "" {
		e["id"] = id
	}
	if !p.created.IsZero() {
		e["occurred_at"] = p.created.UTC().Format(time.RFC3339Nano)
	}
	x := Extra{CRUD: p.CRUD, Fields: p.fields, Metadata: p.metadata, Component: p.Component, Version: p.Version,
		ExternalID: p.ExternalID, TargetFields: p.targetFields, ActorFields: p.actorFields, IsAnonymous: p.anonymous}
	if p.Actor != nil {
		a := map[string]any{"type": auditkeep.ActorUser, "id": p.Actor.ID}
		if p.Actor.Name != "" {
			a["name"] = p.Actor.Name
			if isEmail(p.Actor.Name) {
				a["email"] = p.Actor.Name
			}
		}
		e["actor"] = a
		x.ActorHref = p.Actor.Href
	} else {
		e["actor"] = map[string]any{"type": auditkeep.ActorUser, "id": AnonymousActor}
	}
	if p.Target != nil {
		typ := p.Target.Type
		if typ == "" {
			typ = UntypedTarget
		}
		t := map[string]any{"type": typ, "id": p.Target.ID}
		if p.Target.Name != "" {
			t["name"] = p.Target.Name
		}
		e["target"] = t
		x.TargetHref = p.Target.Href
	}
	if p.Group != nil {
		g := map[string]any{"type": GroupScope, "id": p.Group.ID}
		if p.Group.Name != "" {
			g["name"] = p.Group.Name
		}
		e["scope"] = []any{g}
	}
	if p.SourceIP != "" {
		e["context"] = map[string]any{"ip": p.SourceIP}
	}
	if p.failure {
		e["status"] = auditkeep.StatusFailure
	}
	if p.Description != "" {
		e["description"] = p.Description
	}
	e["metadata"] = map[string]any{ExtraKey: x}
	return e
}

// isEmail reports whether an actor's name is an email address, which
// Retraced's documentation allows it to be.
func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at == strings.LastIndexByte(s, '@') && at < len(s)-1 && len(s) <= 320 &&
		!strings.ContainsAny(s, " \t\r\n<>\"")
}

// Names are Retraced's names of the fields of the auditkeep event Map
// makes, for compat.Rename.
var Names = map[string]string{
	"metadata." + ExtraKey + ".fields":        "fields",
	"metadata." + ExtraKey + ".metadata":      "metadata",
	"metadata." + ExtraKey + ".actor_fields":  "actor.fields",
	"metadata." + ExtraKey + ".target_fields": "target.fields",
	"metadata." + ExtraKey + ".actor_href":    "actor.href",
	"metadata." + ExtraKey + ".target_href":   "target.href",
	"metadata." + ExtraKey:                    "metadata",
	"context.ip":                              "source_ip",
	"occurred_at":                             "created",
	"type":                                    "crud",
	"scope[0]":                                "group",
	"scope":                                   "group",
}
