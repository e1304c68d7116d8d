package alert_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert"
)

func rule(match, cond string) *auditkeep.AlertRule {
	return &auditkeep.AlertRule{ID: "alr_t", Tenant: "acme", Name: "t", Match: match, Condition: cond,
		Threshold: 1, Severity: auditkeep.SeverityLow, Enabled: true, Version: 1}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		match, cond string
		field, want string
	}{
		{"actr:alice", "", "match", `match: unknown key "actr" at 0`},
		{"action:user.login created:2026-01-01", "", "match", "takes no created"},
		{"-status:failure", "", "", ""}, // a negation alone selects events
		{"action:user.login", `event.actor.type == `, "condition", "at 1:"},
		{"action:user.login", `event.status == "failure" && evnt.x`, "condition", "undeclared reference to 'evnt' (did you mean 'event'?) at 1:30"},
		{"action:user.login", `event.status`, "", ""}, // dyn: checked when evaluated
		{"action:user.login", `1 + 2`, "condition", "must be true or false"},
		{"action:user.login", `event.changes.exists(c, c.field == "role")`, "", ""},
	} {
		_, err := alert.Compile(rule(tc.match, tc.cond))
		if tc.field == "" {
			if err != nil {
				t.Errorf("Compile(%q, %q) = %v; want nil", tc.match, tc.cond, err)
			}
			continue
		}
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tc.field || !strings.Contains(auditkeep.ErrorMessage(err), tc.want) {
			t.Errorf("Compile(%q, %q) = %v (field %q); want invalid %s containing %q", tc.match, tc.cond, err, auditkeep.ErrorField(err), tc.field, tc.want)
		}
	}
}

func event(id string, at time.Time, action, status, actor string) *auditkeep.Event {
	typ := auditkeep.TypeUpdate
	switch {
	case strings.Contains(action, "login"):
		typ = auditkeep.TypeLogin
	case strings.HasSuffix(action, ".delete"):
		typ = auditkeep.TypeDelete
	case strings.HasSuffix(action, ".create"):
		typ = auditkeep.TypeCreate
	}
	return &auditkeep.Event{Tenant: "acme", ID: id, OccurredAt: at, ReceivedAt: at, Action: action, Type: typ,
		Actor: auditkeep.Actor{Type: auditkeep.ActorUser, ID: actor, Name: strings.ToUpper(actor)}, Status: status}
}

func TestConditionOnEvent(t *testing.T) {
	r, err := alert.Compile(rule("type:update", alert.PrivilegeEscalationCondition))
	if err != nil {
		t.Fatal(err)
	}
	e := event("e1", base, "member.role.update", auditkeep.StatusSuccess, "u_1")
	for _, tc := range []struct {
		changes string
		want    bool
	}{
		{`[{"field":"role","op":"changed","old":"developer","new":"admin"}]`, true},
		{`[{"field":"members[3].role","op":"changed","old":"viewer","new":"Owner"}]`, true}, // the last dotted part is "role"; case is ignored
		{`[{"field":"settings.permission","op":"added","new":"admin"}]`, true},
		{`[{"field":"role","op":"changed","old":"admin","new":"viewer"}]`, false},
		{`[{"field":"role","op":"removed","old":"admin"}]`, false},
		{`[{"field":"name","op":"changed","old":"a","new":"admin"}]`, false},
		{`[{"field":"role","op":"changed","old":1,"new":2}]`, false},
		{``, false},
	} {
		e.Changes = nil
		if tc.changes != "" {
			if err := json.Unmarshal([]byte(tc.changes), &e.Changes); err != nil {
				t.Fatal(err)
			}
		}
		got, err := r.Matches(e, &alert.Input{})
		if err != nil {
			t.Errorf("Matches(changes %s) = %v", tc.changes, err)
		}
		if got != tc.want {
			t.Errorf("Matches(changes %s) = %v; want %v", tc.changes, got, tc.want)
		}
	}
	// A condition that fails on an event returns the error; it does not match.
	bad, err := alert.Compile(rule("type:update", `event.metadata.depth > 3`))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := bad.Matches(e, &alert.Input{}); ok || err == nil {
		t.Errorf("Matches(missing field) = %v, %v; want false and an error", ok, err)
	}
}

func TestDefaultRules(t *testing.T) {
	rules := alert.DefaultRules("acme", base)
	if len(rules) != len(auditkeep.DefaultRuleKeys) {
		t.Fatalf("DefaultRules = %d rules; want %d", len(rules), len(auditkeep.DefaultRuleKeys))
	}
	compiled := map[string]*alert.Rule{}
	for _, r := range rules {
		c, err := alert.Compile(r)
		if err != nil {
			t.Fatalf("default %s does not compile: %v", r.Default, err)
		}
		compiled[r.Default] = c
	}
	role := event("r1", base, "member.role.update", auditkeep.StatusSuccess, "u_1")
	role.Changes = []auditkeep.Change{{Field: "role", Op: auditkeep.ChangeChanged, Old: json.RawMessage(`"developer"`), New: json.RawMessage(`"admin"`)}}
	for _, tc := range []struct {
		key  string
		e    *auditkeep.Event
		want bool
	}{
		{auditkeep.DefaultFailedLogins, event("e", base, "user.login", auditkeep.StatusFailure, "u_1"), true},
		{auditkeep.DefaultFailedLogins, event("e", base, "user.login", auditkeep.StatusSuccess, "u_1"), false},
		{auditkeep.DefaultFailedLogins, event("e", base, "user.failed_login", auditkeep.StatusSuccess, "u_1"), true},
		{auditkeep.DefaultFailedLogins, event("e", base, "login_failed_with_standard_authentication", auditkeep.StatusFailure, "u_1"), true},
		{auditkeep.DefaultFailedLogins, event("e", base, "user.logout", auditkeep.StatusFailure, "u_1"), false},
		{auditkeep.DefaultMassDeletions, event("e", base, "service.delete", auditkeep.StatusSuccess, "u_1"), true},
		{auditkeep.DefaultMassDeletions, event("e", base, "service.update", auditkeep.StatusSuccess, "u_1"), false},
		{auditkeep.DefaultPrivilegeEscalation, role, true},
		{auditkeep.DefaultPrivilegeEscalation, event("e", base, "member.role.update", auditkeep.StatusSuccess, "u_1"), false},
		{auditkeep.DefaultAPITokenCreated, event("e", base, "token.create", auditkeep.StatusSuccess, "u_1"), true},
		{auditkeep.DefaultAPITokenCreated, event("e", base, "key.create", auditkeep.StatusSuccess, "u_1"), true},
		{auditkeep.DefaultAPITokenCreated, event("e", base, "personal_access_token.access_granted", auditkeep.StatusSuccess, "u_1"), true},
		{auditkeep.DefaultAPITokenCreated, event("e", base, "token.create", auditkeep.StatusFailure, "u_1"), false},
		{auditkeep.DefaultAPITokenCreated, event("e", base, "token.revoke", auditkeep.StatusSuccess, "u_1"), false},
	} {
		got, err := compiled[tc.key].Matches(tc.e, &alert.Input{})
		if err != nil || got != tc.want {
			t.Errorf("%s.Matches(%s %s) = %v, %v; want %v", tc.key, tc.e.Action, tc.e.Status, got, err, tc.want)
		}
	}
}
