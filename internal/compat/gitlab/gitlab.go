// Package gitlab maps GitLab's streamed audit events onto auditkeep events.
// GitLab posts one event per request to an HTTP destination, its JSON body
// sent as application/x-www-form-urlencoded unless a custom Content-Type
// header says otherwise, with the X-Gitlab-Event-Streaming-Token and
// X-Gitlab-Audit-Event-Type headers; it may post an event more than once
// and says to deduplicate on "id" (docs.gitlab.com, "Audit event streaming
// for top-level groups" and "Audit event schema and examples", whose
// payloads testdata/ holds). The mapping is the table in README.md,
// "GitLab audit event streaming".
package gitlab

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// The headers GitLab sends.
const (
	TokenHeader     = "X-Gitlab-Event-Streaming-Token"
	EventTypeHeader = "X-Gitlab-Audit-Event-Type"
)

// consumed are the members the mapping reads; every other member
// ("details" among them) is kept in metadata as sent.
var consumed = []string{"id", "created_at", "event_type", "author_id", "author_name", "ip_address",
	"target_id", "target_type", "target_details", "entity_id", "entity_type", "entity_path"}

// Map returns the event of a GitLab audit event body. eventType is the
// X-Gitlab-Audit-Event-Type header, used when the body has no event_type.
// Errors are EINVALID naming GitLab's member.
func Map(body []byte, eventType string) (*auditkeep.Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, auditkeep.FieldErrorf("body", "the body is not a GitLab audit event (a JSON object)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		return nil, auditkeep.FieldErrorf("body", "the body is not JSON: %v", err)
	}
	if err := ijson.Check(body, nil, ""); err != nil {
		return nil, err
	}
	var details map[string]json.RawMessage
	if d, ok := m["details"]; ok {
		_ = json.Unmarshal(d, &details) // details of another type is kept in metadata only
	}
	// text reads a member, from the event or else its details, as a string
	// or a number's text; a member of another type reads as "".
	text := func(name string) string {
		for _, src := range []map[string]json.RawMessage{m, details} {
			v, ok := src[name]
			if !ok {
				continue
			}
			var s string
			if json.Unmarshal(v, &s) == nil && s != "" {
				return s
			}
			var n json.Number
			if json.Unmarshal(v, &n) == nil {
				return n.String()
			}
		}
		return ""
	}

	e := &auditkeep.Event{Source: "gitlab"}
	if id := text("id"); id != "" {
		e.ID = compat.ID("gitlab", id)
	} else {
		e.ID = compat.ID("gitlab", string(body))
	}
	e.Action = text("event_type")
	if e.Action == "" {
		e.Action = eventType
	}
	if e.Action == "" {
		return nil, auditkeep.FieldErrorf("event_type", "event_type is required (GitLab's audit event type, such as project_created)")
	}
	e.Type = typeOf(e.Action, details)
	if words := strings.Split(e.Action, "_"); slices.Contains(words, "failed") || slices.Contains(words, "failure") {
		e.Status = auditkeep.StatusFailure
	}

	name := text("author_name")
	e.Actor = auditkeep.Actor{Type: auditkeep.ActorUser, ID: text("author_id"), Name: name, Email: text("author_email")}
	class := text("author_class")
	if n := e.Actor.ID; strings.HasPrefix(n, "-") || n == "0" || n == "" || (class != "" && class != "User") {
		// GitLab's authors that are not users carry a negative id shared by
		// all of their kind: the name tells them apart.
		switch class {
		case "DeployToken", "DeployKey":
			e.Actor.Type = auditkeep.ActorAPIToken
		case "":
			if e.Actor.ID == "" {
				e.Actor.Type = auditkeep.ActorSystem
			}
		default:
			e.Actor.Type = auditkeep.ActorService
			if strings.Contains(class, "Unauthenticated") {
				e.Actor.Type = auditkeep.ActorUser
			}
		}
		if name != "" {
			e.Actor.ID = name
		}
		if e.Actor.ID == "" {
			e.Actor.ID = "gitlab"
		}
	}

	if typ, id := text("target_type"), text("target_id"); typ != "" && id != "" {
		e.Target = &auditkeep.Target{Type: typ, ID: id, Name: text("target_details")}
	}
	if typ, id := text("entity_type"), text("entity_id"); typ != "" && id != "" {
		e.Scope = []auditkeep.ScopeEntry{{Type: entityType(typ), ID: id, Name: text("entity_path")}}
	}
	e.Context.IP = text("ip_address")
	if msg, ok := details["custom_message"]; ok {
		_ = json.Unmarshal(msg, &e.Description) // an object (Git operations) stays in metadata only
	}
	if change := text("change"); change != "" {
		c := auditkeep.Change{Field: change, Op: auditkeep.ChangeChanged, Old: details["from"], New: details["to"]}
		switch {
		case c.Old == nil && c.New == nil:
			c.Op = ""
		case c.Old == nil:
			c.Op = auditkeep.ChangeAdded
		case c.New == nil:
			c.Op = auditkeep.ChangeRemoved
		}
		e.Changes = []auditkeep.Change{c}
	}

	if t := text("created_at"); t != "" {
		at, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return nil, auditkeep.FieldErrorf("created_at", "created_at %q is not an RFC 3339 time such as 2022-02-23T06:21:05.283Z", t)
		}
		e.OccurredAt = at.UTC()
	}
	for _, k := range consumed {
		delete(m, k)
	}
	if len(m) > 0 {
		md, err := json.Marshal(m)
		if err != nil {
			return nil, auditkeep.FieldErrorf("body", "%v", err)
		}
		e.Metadata = md
	}
	return e, nil
}

// typeOf derives the event type from GitLab's event type, whose last word
// is mostly its verb (project_created, member_destroyed,
// project_group_link_update), and from a Git operation's action.
func typeOf(eventType string, details map[string]json.RawMessage) string {
	if eventType == "repository_git_operation" {
		var msg struct{ Action string }
		_ = json.Unmarshal(details["custom_message"], &msg)
		if msg.Action == "git-receive-pack" {
			return auditkeep.TypeUpdate
		}
		return auditkeep.TypeRead
	}
	words := strings.Split(eventType, "_")
	if words[0] == "login" || slices.Contains(words, "signin") {
		return auditkeep.TypeLogin // login_failed_with_otp_authentication, user_signin_…
	}
	for i := len(words) - 1; i >= 0 && i >= len(words)-3; i-- {
		// the verb is one of the last three words, or there is none
		if t := compat.TypeOfWord(words[i]); t != "" && t != auditkeep.TypeExecute {
			return t
		}
	}
	return auditkeep.TypeInfo
}

// entityType names GitLab's entity types as scope types: Project, Group,
// User, and Gitlab::Audit::InstanceScope as instance.
func entityType(t string) string {
	if t == "Gitlab::Audit::InstanceScope" {
		return "instance"
	}
	t = t[strings.LastIndex(t, ":")+1:]
	return strings.ToLower(t)
}

// Names renames auditkeep's event fields to GitLab's in an ingest error
// (compat.Rename).
var Names = map[string]string{
	"id":               "id",
	"occurred_at":      "created_at",
	"action":           "event_type",
	"actor.id":         "author_id",
	"actor.name":       "author_name",
	"actor.email":      "details.author_email",
	"actor":            "author_id",
	"target.type":      "target_type",
	"target.id":        "target_id",
	"target.name":      "target_details",
	"scope[0].type":    "entity_type",
	"scope[0].id":      "entity_id",
	"scope[0].name":    "entity_path",
	"scope[0]":         "entity_type",
	"context.ip":       "ip_address",
	"description":      "details.custom_message",
	"changes[0].field": "details.change",
	"changes[0]":       "details.change",
	"metadata":         "",
}
