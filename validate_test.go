package auditkeep_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

func TestEventValidate(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	valid := func() *auditkeep.Event {
		return &auditkeep.Event{ID: "evt-1", OccurredAt: now, Action: "token.create", Type: auditkeep.TypeCreate,
			Actor: auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_1"}, Status: auditkeep.StatusSuccess}
	}
	if err := valid().Validate(now, auditkeep.DefaultLimits()); err != nil {
		t.Fatalf("Validate(valid event) = %v", err)
	}
	for _, tc := range []struct {
		edit        func(e *auditkeep.Event)
		code, field string
		message     string
	}{
		{func(e *auditkeep.Event) { e.ID = "" }, auditkeep.EINVALID, "id", "id is required"},
		{func(e *auditkeep.Event) { e.ID = strings.Repeat("x", 129) }, auditkeep.EINVALID, "id", "id is longer than 128 bytes"},
		{func(e *auditkeep.Event) { e.OccurredAt = now.Add(25 * time.Hour) }, auditkeep.EINVALID, "occurred_at", "occurred_at is more than 24h0m0s in the future"},
		{func(e *auditkeep.Event) { e.Type = "" }, auditkeep.EINVALID, "type", `type "" is not one of create, read, update, delete, execute, login, logout, info`},
		{func(e *auditkeep.Event) { e.Actor = auditkeep.Actor{} }, auditkeep.EINVALID, "actor", "actor is required"},
		{func(e *auditkeep.Event) { e.Actor.Email = "a@b@c" }, auditkeep.EINVALID, "actor.email", `actor.email "a@b@c" is not an email address`},
		{func(e *auditkeep.Event) { e.Target = &auditkeep.Target{Type: "t", ID: "1", Deleted: true} }, auditkeep.EINVALID, "target.deleted", "target.deleted is set by the server; leave it out"},
		{func(e *auditkeep.Event) { e.Target = &auditkeep.Target{Type: "t", ID: "1", Name: "a\x00"} }, auditkeep.EINVALID, "target.name", "target.name contains a control character"},
		{func(e *auditkeep.Event) {
			e.Scope = []auditkeep.ScopeEntry{{Type: "p", ID: "1"}, {Type: "e", ID: " 2"}}
		}, auditkeep.EINVALID, "scope[1].id", "scope[1].id has leading or trailing spaces"},
		{func(e *auditkeep.Event) { e.Context.IP = "999.1.1.1" }, auditkeep.EINVALID, "context.ip", `context.ip "999.1.1.1" is not an IP address`},
		{func(e *auditkeep.Event) { e.Status = "" }, auditkeep.EINVALID, "status", `status "" is not success or failure`},
		{func(e *auditkeep.Event) { e.Snapshot = json.RawMessage(`"text"`) }, auditkeep.EINVALID, "snapshot", "snapshot must be a JSON object or array"},
		{func(e *auditkeep.Event) { e.Metadata = json.RawMessage(`{"k":"` + strings.Repeat("x", 16<<10) + `"}`) }, auditkeep.ETOOLARGE, "metadata", "metadata is 16392 bytes; at most 16384"},
		{func(e *auditkeep.Event) { e.Changes = []auditkeep.Change{{Field: "a", Op: "moved"}} }, auditkeep.EINVALID, "changes[0].op", `changes[0].op "moved" is not added, removed or changed`},
	} {
		e := valid()
		tc.edit(e)
		err := e.Validate(now, auditkeep.DefaultLimits())
		if auditkeep.ErrorCode(err) != tc.code || auditkeep.ErrorField(err) != tc.field || auditkeep.ErrorMessage(err) != tc.message {
			t.Errorf("Validate = %s %q %v; want %s %q %q", auditkeep.ErrorCode(err), auditkeep.ErrorField(err), err, tc.code, tc.field, tc.message)
		}
		in := auditkeep.WithinField(err, "events[3]")
		if auditkeep.ErrorField(in) != "events[3]."+tc.field || auditkeep.ErrorMessage(in) != "events[3]."+tc.message {
			t.Errorf("WithinField(%v) = %q %v", err, auditkeep.ErrorField(in), in)
		}
	}
}
