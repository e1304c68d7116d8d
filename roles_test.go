package auditkeep_test

import (
	"maps"
	"testing"

	"github.com/auditkeep/auditkeep"
)

func TestMatchRoles(t *testing.T) {
	operator := []auditkeep.RoleRule{
		{Claim: "groups", Value: "{tenant}:{role}"},
		{Claim: "groups", Value: "secops", Tenant: "globex", Role: "viewer"},
		{Claim: "email", Value: "boss@initech.example", Tenant: "initech", Role: "admin"},
		{Claim: "groups", Value: "team-{tenant}", Role: "viewer"},
	}
	if err := auditkeep.ValidateRoleRules("rules", operator, ""); err != nil {
		t.Fatal(err)
	}
	tenantRules := []auditkeep.RoleRule{{Claim: "groups", Value: "secops", Role: "auditor"}}
	if err := auditkeep.ValidateRoleRules("rules", tenantRules, "globex"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		claims map[string]any
		want   map[string]string
	}{
		{"pattern", map[string]any{"groups": []any{"acme:auditor", "other"}}, map[string]string{"acme": "auditor"}},
		{"highest wins", map[string]any{"groups": []any{"acme:viewer", "acme:admin", "acme:auditor"}}, map[string]string{"acme": "admin"}},
		{"no role word", map[string]any{"groups": []any{"acme:owner", "Acme:admin", "acme:admin:x"}}, map[string]string{}},
		{"tenant rule raises", map[string]any{"groups": []any{"secops"}}, map[string]string{"globex": "auditor"}},
		{"string claim", map[string]any{"email": "boss@initech.example"}, map[string]string{"initech": "admin"}},
		{"prefix pattern", map[string]any{"groups": "team-acme"}, map[string]string{"acme": "viewer"}},
		{"not a string", map[string]any{"groups": 7, "email": true}, map[string]string{}},
		{"no claims", nil, map[string]string{}},
	} {
		got := map[string]string{}
		auditkeep.MatchRoles(operator, "", tc.claims, got)
		auditkeep.MatchRoles(tenantRules, "globex", tc.claims, got)
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s: MatchRoles(%v) = %v; want %v", tc.name, tc.claims, got, tc.want)
		}
	}
}

func TestValidateRoleRules(t *testing.T) {
	for _, tc := range []struct {
		rule   auditkeep.RoleRule
		tenant string
		field  string
	}{
		{auditkeep.RoleRule{Value: "x", Tenant: "a", Role: "viewer"}, "", "rules[0].claim"},
		{auditkeep.RoleRule{Claim: "groups", Tenant: "a", Role: "viewer"}, "", "rules[0].value"},
		{auditkeep.RoleRule{Claim: "groups", Value: "x", Role: "viewer"}, "", "rules[0].tenant"},
		{auditkeep.RoleRule{Claim: "groups", Value: "x", Tenant: "a"}, "", "rules[0].role"},
		{auditkeep.RoleRule{Claim: "groups", Value: "x", Tenant: "a", Role: "owner"}, "", "rules[0].role"},
		{auditkeep.RoleRule{Claim: "groups", Value: "x", Tenant: "A B", Role: "viewer"}, "", "rules[0].tenant"},
		{auditkeep.RoleRule{Claim: "groups", Value: "{tenant}", Tenant: "a", Role: "viewer"}, "", "rules[0].tenant"},
		{auditkeep.RoleRule{Claim: "groups", Value: "{tenant}:{role}", Role: "viewer"}, "", "rules[0].role"},
		{auditkeep.RoleRule{Claim: "groups", Value: "{tenant}{tenant}", Role: "viewer"}, "", "rules[0].value"},
		{auditkeep.RoleRule{Claim: "groups", Value: "{role}"}, "acme", "rules[0].value"},
		{auditkeep.RoleRule{Claim: "groups", Value: "x", Tenant: "globex", Role: "viewer"}, "acme", "rules[0].tenant"},
	} {
		err := auditkeep.ValidateRoleRules("rules", []auditkeep.RoleRule{tc.rule}, tc.tenant)
		var e *auditkeep.Error
		if err == nil || !asError(err, &e) || e.Code != auditkeep.EINVALID || e.Field != tc.field {
			t.Errorf("ValidateRoleRules(%+v, %q) = %v; want invalid naming %s", tc.rule, tc.tenant, err, tc.field)
		}
	}
}

func asError(err error, e **auditkeep.Error) bool {
	v, ok := err.(*auditkeep.Error)
	*e = v
	return ok
}
