package auditkeep

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Roles of the people who sign in through the operator's identity provider.
// Each carries a set of key scopes, so that every scope check of the API
// applies to people as it does to keys.
const (
	RoleViewer  = "viewer"  // read
	RoleAuditor = "auditor" // read, export, verify bundles
	RoleAdmin   = "admin"   // read, export, and the tenant's administration
)

// Roles lists the roles from the least to the most rights.
var Roles = []string{RoleViewer, RoleAuditor, RoleAdmin}

// RoleScopes returns the key scopes a role carries; nil for an unknown role.
// No role carries ingest: people read the log, services write it.
func RoleScopes(role string) []string {
	switch role {
	case RoleViewer:
		return []string{ScopeRead}
	case RoleAuditor:
		return []string{ScopeRead, ScopeExport}
	case RoleAdmin:
		return []string{ScopeRead, ScopeExport, ScopeAdmin}
	}
	return nil
}

// ValidRole reports whether s names a role.
func ValidRole(s string) bool { return slices.Contains(Roles, s) }

// RoleRule gives a role in a tenant to whoever's ID token carries a claim
// with a value. Value is matched exactly, whole, against the claim's string
// or each string of its list. An operator's rule may put {tenant} and {role}
// in Value instead of naming Tenant and Role: {"claim": "groups", "value":
// "{tenant}:{role}"} maps a group "acme:auditor" to auditor in acme.
type RoleRule struct {
	Claim  string `json:"claim"`
	Value  string `json:"value"`
	Tenant string `json:"tenant,omitempty"`
	Role   string `json:"role,omitempty"`
}

const (
	tenantPlaceholder = "{tenant}"
	rolePlaceholder   = "{role}"
)

// ValidateRoleRules checks rules, naming the offending member with field as
// its prefix ("rules[2].role"). tenant is the tenant whose own setting holds
// the rules, "" for the operator's: a tenant's rules name neither another
// tenant nor a placeholder.
func ValidateRoleRules(field string, rules []RoleRule, tenant string) error {
	for i, r := range rules {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case r.Claim == "":
			return FieldErrorf(f+".claim", "%s.claim is required: the ID token claim to match, such as groups", f)
		case r.Value == "":
			return FieldErrorf(f+".value", "%s.value is required: the claim value that gives the role", f)
		}
		hasTenant, hasRole := strings.Contains(r.Value, tenantPlaceholder), strings.Contains(r.Value, rolePlaceholder)
		if tenant != "" && (hasTenant || hasRole) {
			return FieldErrorf(f+".value", "%s.value: a tenant's rules take no {tenant} or {role}; name the role", f)
		}
		if strings.Count(r.Value, tenantPlaceholder) > 1 || strings.Count(r.Value, rolePlaceholder) > 1 {
			return FieldErrorf(f+".value", "%s.value: {tenant} and {role} may each appear once", f)
		}
		switch {
		case hasTenant && r.Tenant != "":
			return FieldErrorf(f+".tenant", "%s.tenant: give the tenant in value's {tenant} or here, not both", f)
		case !hasTenant && tenant == "" && r.Tenant == "":
			return FieldErrorf(f+".tenant", "%s.tenant is required (or {tenant} in value)", f)
		case tenant != "" && r.Tenant != "" && r.Tenant != tenant:
			return FieldErrorf(f+".tenant", "%s.tenant: a tenant's rules give roles in that tenant only", f)
		case r.Tenant != "" && !ValidTenantID(r.Tenant):
			return FieldErrorf(f+".tenant", "%s.tenant: %q is not a tenant name", f, r.Tenant)
		case hasRole && r.Role != "":
			return FieldErrorf(f+".role", "%s.role: give the role in value's {role} or here, not both", f)
		case !hasRole && r.Role == "":
			return FieldErrorf(f+".role", "%s.role is required (or {role} in value): one of %s", f, strings.Join(Roles, ", "))
		case r.Role != "" && !ValidRole(r.Role):
			return FieldErrorf(f+".role", "%s.role: %q is not a role; use one of %s", f, r.Role, strings.Join(Roles, ", "))
		}
	}
	return nil
}

// MatchRoles returns the role each tenant gives the claims by rules (which
// ValidateRoleRules accepted), the highest where several rules match.
// tenant is the tenant whose setting holds the rules, "" for the operator's.
func MatchRoles(rules []RoleRule, tenant string, claims map[string]any, into map[string]string) {
	for _, r := range rules {
		for _, v := range claimStrings(claims[r.Claim]) {
			t, role, ok := r.match(v)
			if !ok {
				continue
			}
			if t == "" {
				t = tenant
			}
			if tenant != "" && t != tenant {
				continue
			}
			if old, seen := into[t]; !seen || slices.Index(Roles, role) > slices.Index(Roles, old) {
				into[t] = role
			}
		}
	}
}

var placeholderRe = regexp.MustCompile(`\{tenant\}|\{role\}`)

// match reports whether the claim value v matches the rule, and the tenant
// and role it gives.
func (r RoleRule) match(v string) (tenant, role string, ok bool) {
	if !strings.Contains(r.Value, "{") || !placeholderRe.MatchString(r.Value) {
		return r.Tenant, r.Role, v == r.Value
	}
	// Build ^literal(tenant)literal(role)literal$ from the value.
	var b strings.Builder
	b.WriteString("^")
	var groups []string
	last := 0
	for _, loc := range placeholderRe.FindAllStringIndex(r.Value, -1) {
		b.WriteString(regexp.QuoteMeta(r.Value[last:loc[0]]))
		switch r.Value[loc[0]:loc[1]] {
		case tenantPlaceholder:
			b.WriteString(`([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)`)
			groups = append(groups, "tenant")
		default:
			b.WriteString(`(` + strings.Join(Roles, "|") + `)`)
			groups = append(groups, "role")
		}
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(r.Value[last:]) + "$")
	m := regexp.MustCompile(b.String()).FindStringSubmatch(v)
	if m == nil {
		return "", "", false
	}
	tenant, role = r.Tenant, r.Role
	for i, g := range groups {
		if g == "tenant" {
			tenant = m[i+1]
		} else {
			role = m[i+1]
		}
	}
	return tenant, role, true
}

// claimStrings returns a claim's string, or the strings of its list.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []string:
		return v
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
