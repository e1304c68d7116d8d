package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"maps"
	"net/http"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/web"
)

// People: the console signs people in with the operator's OpenID provider
// (internal/web/oidc.go); here a person becomes a principal whose role, in
// the one tenant of the session, carries key scopes, so that every
// endpoint's scope check applies to people as it does to keys. A person has
// no key: the API takes the console's session cookie from the console's own
// pages, and a request that changes anything must also carry the session's
// CSRF token in X-CSRF-Token.

// PeopleConfig is how people sign in.
type PeopleConfig struct {
	// OIDC is the console's client of the OpenID provider; nil: no single
	// sign-on.
	OIDC *web.OIDCConfig
	// Roles are the operator's rules from ID token claims to tenants and
	// roles; each tenant's admins add their own (PUT /v1/settings/roles).
	Roles []auditkeep.RoleRule
	// NoKeySignIn switches off the console's sign-in with an API key (keys
	// still work on the API).
	NoKeySignIn bool
}

// rolesSetting is the tenant setting that holds its own role rules.
const rolesSetting = "roles"

// csrfHeader carries a person's session CSRF token on requests that
// change something.
const csrfHeader = "X-CSRF-Token"

// person is who signed in through the identity provider, in the tenant
// their session is for.
type person struct {
	tenant  string
	subject string
	name    string
	email   string
	role    string
	scopes  []string
	session string // the console session's ID
}

func personOf(rec *auditkeep.Session) *person {
	return &person{tenant: rec.Tenant, subject: rec.Subject, name: rec.Name, email: rec.Email, role: rec.Role,
		scopes: auditkeep.RoleScopes(rec.Role), session: rec.ID}
}

// hasScope reports whether the principal's key or role carries scope.
func (p principal) hasScope(scope string) bool {
	switch {
	case p.key != nil:
		return p.key.HasScope(scope)
	case p.person != nil:
		for _, s := range p.person.scopes {
			if s == scope {
				return true
			}
		}
	}
	return false
}

// lacks says what the principal lacks for scope, in a 403's words.
func (p principal) lacks(scope string) error {
	if p.person != nil {
		return auditkeep.Errorf(auditkeep.EFORBIDDEN, "the %s role lacks the %s scope", p.person.role, scope)
	}
	return auditkeep.Errorf(auditkeep.EFORBIDDEN, "this key lacks the %s scope", scope)
}

// personPrincipal returns the person whose console session r carries from
// this site, when no Authorization header is sent. handled is false when r
// is not such a request; err is EFORBIDDEN when it changes something
// without the session's CSRF token.
func (s *Server) personPrincipal(r *http.Request) (p principal, handled bool, err error) {
	if r.Header.Get("Authorization") != "" || s.browser.console == nil || r.URL.Query().Has("viewer_token") {
		return principal{}, false, nil
	}
	rec, csrf, ok := s.browser.console.PersonSession(r)
	if !ok {
		return principal{}, false, nil
	}
	if !sameOrigin(r) {
		return principal{}, true, auditkeep.Errorf(auditkeep.EFORBIDDEN, "a console session is taken only from this site's own pages")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if got := r.Header.Get(csrfHeader); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrf)) != 1 {
			return principal{}, true, auditkeep.Errorf(auditkeep.EFORBIDDEN, "a change made with a console session needs its CSRF token in %s", csrfHeader)
		}
	}
	pp := personOf(rec)
	return principal{person: pp, session: rec.ID}, true, nil
}

// IdentifyPerson returns who a person's console session is.
func (b consoleBackend) IdentifyPerson(ctx context.Context, rec *auditkeep.Session) (*web.Identity, error) {
	p := principal{person: personOf(rec), session: rec.ID}
	if !p.hasScope(auditkeep.ScopeRead) {
		return nil, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "the role %q reads nothing", rec.Role)
	}
	return &web.Identity{Tenant: rec.Tenant, Name: rec.Name, Email: rec.Email, Person: true, Role: rec.Role,
		Scopes: p.person.scopes, Handle: p}, nil
}

// PersonRoles applies the operator's rules and every tenant's own to the
// claims of a verified ID token. Tenants that no longer exist give nothing.
func (b consoleBackend) PersonRoles(ctx context.Context, claims map[string]any) (map[string]string, error) {
	return b.s.personRoles(ctx, claims)
}

// An email the provider says it has not verified matches no rule.
func (s *Server) personRoles(ctx context.Context, claims map[string]any) (map[string]string, error) {
	if verified, ok := claims["email_verified"].(bool); ok && !verified {
		claims = maps.Clone(claims)
		delete(claims, "email")
	}
	roles := map[string]string{}
	auditkeep.MatchRoles(s.people.Roles, "", claims, roles)
	all, err := s.store.TenantSettings(ctx, rolesSetting)
	if err != nil {
		return nil, err
	}
	for tenant, raw := range all {
		var rules []auditkeep.RoleRule
		if err := json.Unmarshal(raw, &rules); err != nil {
			s.log.Error("people: a tenant's role rules do not read", "tenant", tenant, "err", err)
			continue
		}
		auditkeep.MatchRoles(rules, tenant, claims, roles)
	}
	for tenant := range roles {
		_, err := s.store.GetTenant(ctx, tenant)
		if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
			delete(roles, tenant)
		} else if err != nil {
			return nil, err
		}
	}
	return roles, nil
}

// PersonSignedIn records the sign-in in the tenant's log: console.sign_in,
// type login, the person as actor.
func (b consoleBackend) PersonSignedIn(r *http.Request, rec *auditkeep.Session) {
	actor := actorOf(principal{person: personOf(rec)})
	b.s.recordLogged(r, rec.Tenant, Audit{Action: "console.sign_in", Type: auditkeep.TypeLogin, Actor: &actor,
		Description: "Signed in to the console through the identity provider as " + rec.Role,
		Metadata:    map[string]any{"method": "openid_connect", "role": rec.Role}})
}

type roleRulesBody struct {
	Rules []auditkeep.RoleRule `json:"rules"`
}

// handleGetRoleRules serves GET /v1/settings/roles: the tenant's own rules.
func (s *Server) handleGetRoleRules(w http.ResponseWriter, r *http.Request) error {
	tenant := principalFrom(r.Context()).tenant()
	body := roleRulesBody{Rules: []auditkeep.RoleRule{}}
	raw, err := s.store.GetSetting(r.Context(), tenant, rolesSetting)
	switch {
	case auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND:
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(raw, &body.Rules); err != nil {
			return err
		}
	}
	for i := range body.Rules {
		body.Rules[i].Tenant = ""
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// handlePutRoleRules serves PUT /v1/settings/roles: {"rules": [{"claim",
// "value", "role"}]} replaces the tenant's own rules.
func (s *Server) handlePutRoleRules(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Rules *[]auditkeep.RoleRule `json:"rules"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Rules == nil {
		return auditkeep.FieldErrorf("rules", `rules is required: {"rules": [{"claim": "groups", "value": "…", "role": "auditor"}]}`)
	}
	tenant := principalFrom(r.Context()).tenant()
	if err := auditkeep.ValidateRoleRules("rules", *in.Rules, tenant); err != nil {
		return err
	}
	rules := make([]auditkeep.RoleRule, len(*in.Rules))
	for i, rule := range *in.Rules {
		rule.Tenant = ""
		rules[i] = rule
	}
	raw, err := json.Marshal(rules)
	if err != nil {
		return err
	}
	if err := s.store.PutSetting(r.Context(), tenant, rolesSetting, raw); err != nil {
		return err
	}
	s.log.Info("role rules changed", "tenant", tenant, "rules", len(rules))
	return s.handleGetRoleRules(w, r)
}
