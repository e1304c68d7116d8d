// Package workos maps WorkOS Audit Logs onto auditkeep: the events its
// SDKs create, the schemas they register (onto the action catalog) and the
// organization that names a tenant. It is pure: no storage, no HTTP.
//
// The wire format follows WorkOS's SDKs: workos/workos-node
// src/audit-logs (audit-logs.ts, interfaces/, serializers/) and
// src/common/net (Idempotency-Key, retries), and workos/workos-go
// audit_logs.go, models.go and client.go.
package workos

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
)

// CreateEvent is the body of POST /audit_logs/events.
type CreateEvent struct {
	OrganizationID string `json:"organization_id"`
	Event          *Event `json:"event"`
}

// Event is an Audit Log event (workos-go AuditLogEvent).
type Event struct {
	Action     string          `json:"action"`
	Version    *int            `json:"version"`
	OccurredAt string          `json:"occurred_at"`
	Actor      *Entity         `json:"actor"`
	Targets    []*Entity       `json:"targets"`
	Context    *Context        `json:"context"`
	Metadata   json.RawMessage `json:"metadata"`
}

// Entity is an actor or a target.
type Entity struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Name     *string         `json:"name"`
	Metadata json.RawMessage `json:"metadata"`
}

// Context is where the action came from.
type Context struct {
	Location  string  `json:"location"`
	UserAgent *string `json:"user_agent"`
}

// FieldError is one refused field in WorkOS's terms: an entry of a 422's
// "errors".
type FieldError struct {
	Code    string `json:"code"`
	Field   string `json:"field"`
	Message string `json:"message,omitempty"`
}

func (e *FieldError) Error() string { return e.Message }

func fieldError(field, format string, args ...any) *FieldError {
	return &FieldError{Code: "invalid", Field: field, Message: fmt.Sprintf(format, args...)}
}

func required(field string) *FieldError {
	return &FieldError{Code: "required", Field: field, Message: field + " is required"}
}

// Tenant is the auditkeep tenant an organization id names: lowercased,
// "_" read as "-" ("org_01EHZNVPK3" → "org-01ehznvpk3"); an id that is
// already a tenant's name names that tenant.
func Tenant(org string) string {
	return strings.ToLower(strings.ReplaceAll(org, "_", "-"))
}

// ParseCreate decodes and validates a create-event body. It returns a
// *FieldError naming the field as WorkOS's API does ("event.actor.id").
func ParseCreate(raw []byte) (*CreateEvent, error) {
	var c CreateEvent
	if err := compat.Decode(raw, &c); err != nil {
		return nil, unknownPath(DecodeError(err), raw)
	}
	if c.OrganizationID == "" {
		return nil, required("organization_id")
	}
	e := c.Event
	if e == nil {
		return nil, required("event")
	}
	if e.Action == "" {
		return nil, required("event.action")
	}
	if !auditkeep.ValidAction(e.Action) {
		return nil, fieldError("event.action", "event.action %q must be lowercase words separated by dots, such as user.signed_in", e.Action)
	}
	if e.OccurredAt == "" {
		return nil, required("event.occurred_at")
	}
	if _, err := time.Parse(time.RFC3339Nano, e.OccurredAt); err != nil {
		return nil, fieldError("event.occurred_at", "event.occurred_at must be an ISO 8601 date-time")
	}
	if e.Actor == nil {
		return nil, required("event.actor")
	}
	if err := checkEntity(e.Actor, "event.actor"); err != nil {
		return nil, err
	}
	if e.Targets == nil {
		return nil, required("event.targets")
	}
	for i, t := range e.Targets {
		if t == nil {
			return nil, required(fmt.Sprintf("event.targets[%d]", i))
		}
		if err := checkEntity(t, fmt.Sprintf("event.targets[%d]", i)); err != nil {
			return nil, err
		}
	}
	if e.Context == nil {
		return nil, required("event.context")
	}
	if e.Context.Location == "" {
		return nil, required("event.context.location")
	}
	if err := checkObject(e.Metadata, "event.metadata"); err != nil {
		return nil, err
	}
	return &c, nil
}

func checkEntity(x *Entity, field string) error {
	if x.ID == "" {
		return required(field + ".id")
	}
	if x.Type == "" {
		return required(field + ".type")
	}
	return checkObject(x.Metadata, field+".metadata")
}

// checkObject accepts an absent member, null, or an object.
func checkObject(raw json.RawMessage, field string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return fieldError(field, "%s must be an object", field)
	}
	return nil
}

// DecodeError turns compat.Decode's refusal into a *FieldError: a body that
// is not one JSON object is "invalid_json" (400), a field "invalid" (422).
func DecodeError(err error) error {
	if f := auditkeep.ErrorField(err); f != "body" {
		return fieldError(f, "%s", auditkeep.ErrorMessage(err))
	}
	return &FieldError{Code: "invalid_json", Field: "body", Message: auditkeep.ErrorMessage(err)}
}

// unknownPath completes the field of an unknown member, which
// encoding/json names without its path, by finding the object of the
// create-event body that holds it.
func unknownPath(err error, raw []byte) error {
	fe, ok := err.(*FieldError)
	if !ok || fe.Code != "invalid" || !strings.HasSuffix(fe.Message, "is not a known field") {
		return err
	}
	known := map[string][]string{
		"":              {"organization_id", "event"},
		"event":         {"action", "version", "occurred_at", "actor", "targets", "context", "metadata"},
		"event.actor":   {"id", "type", "name", "metadata"},
		"event.context": {"location", "user_agent"},
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(raw, &top)
	objects := map[string]map[string]json.RawMessage{"": top}
	var ev map[string]json.RawMessage
	if json.Unmarshal(top["event"], &ev) == nil {
		objects["event"] = ev
		for _, sub := range []string{"actor", "context"} {
			var m map[string]json.RawMessage
			if json.Unmarshal(ev[sub], &m) == nil {
				objects["event."+sub] = m
			}
		}
		var targets []map[string]json.RawMessage
		if json.Unmarshal(ev["targets"], &targets) == nil {
			for i, t := range targets {
				name := fmt.Sprintf("event.targets[%d]", i)
				objects[name], known[name] = t, known["event.actor"]
			}
		}
	}
	for path, obj := range objects {
		if _, ok := obj[fe.Field]; ok && !slices.Contains(known[path], fe.Field) {
			if path != "" {
				fe.Field = path + "." + fe.Field
				fe.Message = fe.Field + " is not a known field"
			}
			return fe
		}
	}
	return fe
}

// EventID is the auditkeep event id of an event sent with an
// Idempotency-Key: every retry of that request stores nothing new. "" for
// no key (the server assigns a UUIDv7).
func EventID(org, idempotencyKey string) string {
	if idempotencyKey == "" {
		return ""
	}
	return compat.ID("workos", org, idempotencyKey)
}

// Digest identifies a request's content: a retry with the same
// Idempotency-Key and another digest is a conflict.
func Digest(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) == nil {
		if b, err := json.Marshal(v); err == nil {
			raw = b // spacing and member order do not count
		}
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// ExtraKey is the metadata member holding what a WorkOS event carries
// beyond auditkeep's fields.
const ExtraKey = "workos"

// Extra is that member.
type Extra struct {
	Version       *int            `json:"version,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	ActorType     string          `json:"actor_type,omitempty"`
	ActorMetadata json.RawMessage `json:"actor_metadata,omitempty"`
	Targets       []*Entity       `json:"targets,omitempty"`
	Location      string          `json:"location,omitempty"`
	Digest        string          `json:"request_digest,omitempty"`
}

// actorTypes maps WorkOS actor types onto auditkeep's; others are users.
var actorTypes = map[string]string{
	"user": auditkeep.ActorUser, "api_key": auditkeep.ActorAPIToken, "api_token": auditkeep.ActorAPIToken,
	"token": auditkeep.ActorAPIToken, "service": auditkeep.ActorService, "system": auditkeep.ActorSystem,
}

// typeOf is the event type the last word of a WorkOS action says
// ("document.updated", "user.signed_in"), or "".
func typeOf(action string) string {
	switch word := action[strings.LastIndexByte(action, '.')+1:]; word {
	case "signed_in", "logged_in":
		return auditkeep.TypeLogin
	case "signed_out", "logged_out":
		return auditkeep.TypeLogout
	default:
		return compat.TypeOfWord(word)
	}
}

// Map returns the auditkeep event for c (id as EventID gives it, "" for
// none). The table in README.md ("Drop-in for other audit-log APIs") lists
// each field.
func (c *CreateEvent) Map(id, digest string) map[string]any {
	e := c.Event
	out := map[string]any{"action": e.Action, "occurred_at": e.OccurredAt}
	if id != "" {
		out["id"] = id
	}
	if t := typeOf(e.Action); t != "" {
		out["type"] = t
	}
	x := Extra{Version: e.Version, Metadata: nullable(e.Metadata), ActorMetadata: nullable(e.Actor.Metadata), Digest: digest}
	actor := map[string]any{"id": e.Actor.ID, "type": auditkeep.ActorUser}
	if t, ok := actorTypes[e.Actor.Type]; ok {
		actor["type"] = t
	}
	if e.Actor.Type != actor["type"] {
		x.ActorType = e.Actor.Type
	}
	if e.Actor.Name != nil && *e.Actor.Name != "" {
		actor["name"] = *e.Actor.Name
	}
	out["actor"] = actor
	if len(e.Targets) > 0 {
		t := e.Targets[0]
		target := map[string]any{"type": t.Type, "id": t.ID}
		if t.Name != nil && *t.Name != "" {
			target["name"] = *t.Name
		}
		out["target"] = target
		x.Targets = e.Targets
	}
	ctx := map[string]any{}
	if a, err := netip.ParseAddr(e.Context.Location); err == nil {
		ctx["ip"] = a.String()
	} else {
		x.Location = e.Context.Location
	}
	if e.Context.UserAgent != nil && *e.Context.UserAgent != "" {
		ctx["user_agent"] = *e.Context.UserAgent
	}
	if len(ctx) > 0 {
		out["context"] = ctx
	}
	out["metadata"] = map[string]any{ExtraKey: x}
	return out
}

func nullable(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// Names are WorkOS's names, below "event", of the fields of the auditkeep
// event Map makes, for compat.Rename.
var Names = map[string]string{
	"metadata." + ExtraKey + ".metadata":       "metadata",
	"metadata." + ExtraKey + ".actor_metadata": "actor.metadata",
	"metadata." + ExtraKey + ".targets":        "targets",
	"metadata." + ExtraKey:                     "metadata",
	"target":                                   "targets[0]",
	"context.ip":                               "context.location",
}
