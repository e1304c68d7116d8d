package ingest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

var now = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func TestValidateDefaults(t *testing.T) {
	e, err := ingest.Validate(json.RawMessage(`{"action":"token.create","actor":{"id":"usr_1"}}`), "", now, ingest.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != "create" || e.Status != "success" || e.Actor.Type != "user" || !e.OccurredAt.Equal(now) {
		t.Errorf("defaults: type=%q status=%q actor.type=%q occurred_at=%v", e.Type, e.Status, e.Actor.Type, e.OccurredAt)
	}
	if len(e.ID) != 36 || e.ID[14] != '7' {
		t.Errorf("id = %q; want a UUIDv7", e.ID)
	}
}

// TestValidateAcceptsZeroServerFields: a Go sender marshalling
// auditkeep.Event writes the server's fields with zero values.
func TestValidateAcceptsZeroServerFields(t *testing.T) {
	b, _ := json.Marshal(auditkeep.Event{Action: "a.create", Actor: auditkeep.Actor{ID: "u"}, Target: &auditkeep.Target{Type: "t", ID: "1"}})
	if _, err := ingest.Validate(b, "", now, ingest.DefaultLimits()); err != nil {
		t.Errorf("Validate(%s) = %v", b, err)
	}
}

func TestTypeOf(t *testing.T) {
	for action, want := range map[string]string{
		"token.create": "create", "user.login": "login", "user.logout": "logout", "pod.restart": "info",
		"environment.update": "update", "secret.read": "read", "job.execute": "execute", "delete": "delete",
		"project.deleted": "info",
	} {
		if got := ingest.TypeOf(action); got != want {
			t.Errorf("TypeOf(%q) = %q; want %q", action, got, want)
		}
	}
}

func TestValidateFull(t *testing.T) {
	raw := `{"id":"evt-1","occurred_at":"2026-11-26T09:00:00.123456789+01:00","action":"environment.update","type":"update",
	"actor":{"type":"api_token","id":"tok_1","name":"ci","email":"ci@example.com"},
	"target":{"type":"environment","id":"env_7","name":"production"},
	"scope":[{"type":"project","id":"prj_1","name":"Shop"},{"type":"environment","id":"env_7","name":"production"}],
	"team":"platform","source":"terraform","context":{"ip":"::ffff:203.0.113.7","user_agent":"Terraform/1.9"},
	"status":"failure","description":"d","changes":[{"field":"name","old":"prod","new":"production"},{"field":"x","new":1}],
	"before":{"name":"prod"},"snapshot":{ "name" : "production" },"metadata":{"k":"v"}}`
	e, err := ingest.Validate(json.RawMessage(raw), "", now, ingest.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if e.OccurredAt != time.Date(2026, 11, 26, 8, 0, 0, 123456789, time.UTC) {
		t.Errorf("occurred_at = %v", e.OccurredAt)
	}
	if e.Context.IP != "203.0.113.7" {
		t.Errorf("ip = %q; want the unmapped IPv4", e.Context.IP)
	}
	if string(e.Snapshot) != `{"name":"production"}` {
		t.Errorf("snapshot = %s; want compacted", e.Snapshot)
	}
	if e.Changes[0].Op != "changed" || e.Changes[1].Op != "added" {
		t.Errorf("ops = %q %q", e.Changes[0].Op, e.Changes[1].Op)
	}
	if auditkeep.ScopePath(e.Scope) != "project:prj_1/environment:env_7" {
		t.Errorf("scope = %q", auditkeep.ScopePath(e.Scope))
	}
}

func TestValidateErrors(t *testing.T) {
	base := func(extra string) string {
		return `{"action":"a.create","actor":{"id":"u"}` + extra + `}`
	}
	tests := []struct {
		raw, field, msg string
	}{
		{`{"actor":{"id":"u"}}`, "events[3].action", "is required"},
		{`{"action":"Token.Create","actor":{"id":"u"}}`, "events[3].action", "lowercase dotted"},
		{`{"action":"a.b"}`, "events[3].actor", "is required"},
		{`{"action":"a.b","actor":{}}`, "events[3].actor.id", "events[3].actor.id is required"},
		{`{"action":"a.b","actor":{"id":"u","type":"robot"}}`, "events[3].actor.type", "not one of"},
		{`{"action":"a.b","actor":{"id":"u","email":"nope"}}`, "events[3].actor.email", "not an email"},
		{base(`,"type":"mutate"`), "events[3].type", "not one of"},
		{base(`,"occurred_at":"yesterday"`), "events[3].occurred_at", "RFC 3339"},
		{base(`,"occurred_at":"2030-01-01T00:00:00Z"`), "events[3].occurred_at", "future"},
		{base(`,"context":{"ip":"300.1.1.1"}`), "events[3].context.ip", "not an IP"},
		{base(`,"status":"ok"`), "events[3].status", "success or failure"},
		{base(`,"target":{"id":"x"}`), "events[3].target.type", "required"},
		{base(`,"target":{"type":"env"}`), "events[3].target.id", "required"},
		{base(`,"target":{"type":"env","id":"x","deleted":true}`), "events[3].target.deleted", "set by the server"},
		{base(`,"scope":[{"type":"project"}]`), "events[3].scope[0].id", "required"},
		{base(`,"metadata":[1]`), "events[3].metadata", "JSON object"},
		{base(`,"snapshot":"text"`), "events[3].snapshot", "object or array"},
		{base(`,"acter":{}`), "events[3].acter", "events[3].acter is not a field of an event"},
		{`{"action":"a.b","actor":{"id":"u","role":"x"}}`, "events[3].actor.role", "events[3].actor.role is not a field of actor"},
		{base(`,"scope":[{"type":"project","id":"p"},{"type":"env","id":"e","kind":1}]`), "events[3].scope[1].kind", "is not a field of scope[1]"},
		{base(`,"changes":[{"field":"a","before":1}]`), "events[3].changes[0].before", "is not a field of changes[0]"},
		{base(`,"context":{"ip":"1.2.3.4","agent":"x"}`), "events[3].context.agent", "is not a field of context"},
		{base(`,"":1`), "events[3]", "empty name"},
		{base(`,"team":5`), "events[3].team", "must be a JSON string"},
		{base(`,"seq":5`), "events[3].seq", "assigned by the server"},
		{base(`,"tenant":"other"`), "events[3].tenant", "assigned by the server"},
		{base(`,"received_at":"2026-11-26T09:00:00Z"`), "events[3].received_at", "assigned by the server"},
		{base(`,"hash":"abc"`), "events[3].hash", "assigned by the server"},
		{base(`,"source":"my tool"`), "events[3].source", "not a word"},
		{base(`,"changes":[{"old":1}]`), "events[3].changes[0].field", "required"},
		{base(`,"changes":[{"field":"a","op":"moved"}]`), "events[3].changes[0].op", "not added"},
		{base(`,"id":" x"`), "events[3].id", "spaces"},
		{base(`,"team":"a\u0000b"`), "events[3].team", "control character"},
		{base(`,"actor":{"id":"v"}`), "events[3].actor", "duplicate member"},
		{base(`,"Actor":{"id":"v"}`), "events[3].Actor", `unknown member "Actor" (did you mean "actor"?)`},
		// What the ledger's leaf encoding (RFC 8785) cannot hold, or would
		// hold as another text than the one stored.
		{base(`,"metadata":{"x":1e400}`), "events[3].metadata.x", "beyond the range of a double"},
		{base(`,"metadata":{"a":1,"a":2}`), "events[3].metadata.a", "duplicate member"},
		{base(`,"snapshot":{"env":{"k":"v","\u006b":"w"}}`), "events[3].snapshot.env.k", "duplicate member"},
		{base(`,"before":[{"n":-1E+999}]`), "events[3].before[0].n", "beyond the range of a double"},
		{base(`,"changes":[{"field":"a","new":123e456}]`), "events[3].changes[0].new", "beyond the range of a double"},
		{base(`,"changes":[{"field":"a","old":{"b":1,"b":1}}]`), "events[3].changes[0].old.b", "duplicate member"},
		{base(`,"metadata":{"n":9007199254740993}`), "events[3].metadata.n", "9007199254740992"},
		{base(`,"metadata":{"n":-0}`), "events[3].metadata.n", "negative zero"},
		{base(`,"metadata":{"s":"\ud800"}`), "events[3].metadata.s", "lone surrogate"},
		{base(`,"description":"\uffff"`), "events[3].description", "noncharacter U+FFFF"},
	}
	for _, tt := range tests {
		_, err := ingest.Validate(json.RawMessage(tt.raw), "events[3]", now, ingest.DefaultLimits())
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tt.field || !strings.Contains(auditkeep.ErrorMessage(err), tt.msg) {
			t.Errorf("Validate(%s) = %v (field %q); want invalid %q containing %q", tt.raw, err, auditkeep.ErrorField(err), tt.field, tt.msg)
		}
	}
}

func TestValidateSizes(t *testing.T) {
	lim := ingest.DefaultLimits()
	big := `{"action":"a.b","actor":{"id":"u"},"metadata":{"x":"` + strings.Repeat("a", 17<<10) + `"}}`
	_, err := ingest.Validate(json.RawMessage(big), "events[0]", now, lim)
	if auditkeep.ErrorCode(err) != auditkeep.ETOOLARGE || auditkeep.ErrorField(err) != "events[0].metadata" {
		t.Errorf("17 KiB metadata: %v (field %q); want too_large events[0].metadata", err, auditkeep.ErrorField(err))
	}
	huge := `{"action":"a.b","actor":{"id":"u"},"snapshot":{"x":"` + strings.Repeat("a", 65<<10) + `"}}`
	_, err = ingest.Validate(json.RawMessage(huge), "events[2]", now, lim)
	if auditkeep.ErrorCode(err) != auditkeep.ETOOLARGE || auditkeep.ErrorField(err) != "events[2]" {
		t.Errorf("65 KiB event: %v; want too_large events[2]", err)
	}
}

func TestDecodeBatch(t *testing.T) {
	lim := ingest.DefaultLimits()
	ev := `{"action":"a.b","actor":{"id":"u"}}`
	many := `{"events":[` + strings.Repeat(ev+",", 1000) + ev + `]}`
	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	tests := []struct {
		body, code, field string
	}{
		{``, auditkeep.EINVALID, "body"},
		{`[]`, auditkeep.EINVALID, "body"},
		{`{"events":`, auditkeep.EINVALID, "body"},
		{`{"events":[]}`, auditkeep.EINVALID, "events"},
		{`{"events":{}}`, auditkeep.EINVALID, "events"},
		{`{"events":[], "x":1}`, auditkeep.EINVALID, "x"},
		{"{\"action\":\"a\xff\"}", auditkeep.EINVALID, "body"},
		{ev + ev, auditkeep.EINVALID, "body"},
		{deep, auditkeep.EINVALID, "body"},
		{many, auditkeep.ETOOLARGE, "events"},
		{`{"x":"` + strings.Repeat("a", 5<<20) + `"}`, auditkeep.ETOOLARGE, "body"},
	}
	for _, tt := range tests {
		_, _, err := ingest.DecodeBatch([]byte(tt.body), lim)
		if auditkeep.ErrorCode(err) != tt.code || auditkeep.ErrorField(err) != tt.field {
			b := tt.body
			if len(b) > 60 {
				b = b[:60] + "…"
			}
			t.Errorf("DecodeBatch(%q) = %v (field %q); want %s %q", b, err, auditkeep.ErrorField(err), tt.code, tt.field)
		}
	}
	raws, isBatch, err := ingest.DecodeBatch([]byte(ev), lim)
	if err != nil || isBatch || len(raws) != 1 {
		t.Errorf("single event: %d events, batch=%v, %v", len(raws), isBatch, err)
	}
}

func BenchmarkValidate(b *testing.B) {
	raw := json.RawMessage(`{"id":"0193f0c2-7c1a-7b1e-9a4e-1f2d3c4b5a69","occurred_at":"2026-11-26T09:00:00.123Z","action":"environment.update",
	"actor":{"type":"user","id":"usr_42","name":"Alice Martin","email":"alice@example.com"},
	"target":{"type":"environment","id":"env_7","name":"production"},
	"scope":[{"type":"project","id":"prj_1","name":"Shop"},{"type":"environment","id":"env_7","name":"production"}],
	"team":"platform","source":"console","context":{"ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"},
	"before":{"name":"prod","settings":{"cpu":1,"memory":512}},"snapshot":{"name":"production","settings":{"cpu":2,"memory":512}}}`)
	lim := ingest.DefaultLimits()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ingest.Validate(raw, "events[0]", now, lim); err != nil {
			b.Fatal(err)
		}
	}
}
