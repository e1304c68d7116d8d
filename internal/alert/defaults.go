package alert

import (
	"time"

	"github.com/auditkeep/auditkeep"
)

// The default rules' definitions (the README's "Alerts" documents them).
const (
	// FailedLoginsMatch: auditkeep's and the demo's user.login, GitHub's
	// user.failed_login and GitLab's login_failed_with_… actions;
	// FailedLoginsCondition keeps user.login only when it failed (the
	// others name a failure in their action).
	FailedLoginsMatch     = "action:user.login,user.failed_login,login_failed_with_*"
	FailedLoginsCondition = `event.action != "user.login" || event.status == "failure"`

	// MassDeletionsMatch: any delete.
	MassDeletionsMatch = "type:delete"

	// PrivilegeEscalationMatch and PrivilegeEscalationCondition: a
	// successful update one of whose changes sets a field named role,
	// roles, permission, permissions or access_level (or ending in
	// ".role", ".permission", …) to admin or owner (in any case).
	PrivilegeEscalationMatch     = "type:update status:success"
	PrivilegeEscalationCondition = `has(event.changes) && event.changes.exists(c,
  c.field.split(".")[size(c.field.split(".")) - 1] in ["role", "roles", "permission", "permissions", "access_level"] &&
  has(c.new) && type(c.new) == string && c.new.lowerAscii() in ["admin", "owner"])`

	// APITokenCreatedMatch: the token-creating actions of the demo
	// (token.create), of auditkeep itself (key.create) and the usual
	// names elsewhere (api_token.create, api_key.create,
	// personal_access_token.create, GitHub's
	// personal_access_token.access_granted and oauth_access.create).
	APITokenCreatedMatch = "action:token.create,api_token.create,api_key.create,key.create,personal_access_token.create," +
		"personal_access_token.access_granted,oauth_access.create status:success"
)

// DefaultRules returns the default rules of a tenant, as created at now:
// failed logins (5 by one actor within 10 minutes, high), mass deletions
// (20 by one actor within 5 minutes, high), a privilege escalation (a
// role or permission set to admin or owner, critical) and each API token
// created (medium). Their IDs are fixed per tenant and default.
func DefaultRules(tenant string, now time.Time) []*auditkeep.AlertRule {
	now = now.UTC()
	rule := func(key, name, desc, match, cond string, groupBy []string, threshold int, window, suppress time.Duration, severity string) *auditkeep.AlertRule {
		return &auditkeep.AlertRule{ID: "alr_default_" + key, Tenant: tenant, Name: name, Description: desc,
			Match: match, Condition: cond, GroupBy: groupBy, Threshold: threshold,
			Window: auditkeep.Duration(window), SuppressFor: auditkeep.Duration(suppress), Severity: severity,
			Channels: []auditkeep.AlertChannel{}, Enabled: true, Default: key, CreatedAt: now, UpdatedAt: now, Version: 1}
	}
	actor := []string{auditkeep.GroupActor}
	return []*auditkeep.AlertRule{
		rule(auditkeep.DefaultFailedLogins, "Failed logins",
			"5 or more failed logins by one actor within 10 minutes.",
			FailedLoginsMatch, FailedLoginsCondition, actor, 5, 10*time.Minute, 30*time.Minute, auditkeep.SeverityHigh),
		rule(auditkeep.DefaultMassDeletions, "Mass deletions",
			"20 or more deletions by one actor within 5 minutes.",
			MassDeletionsMatch, "", actor, 20, 5*time.Minute, 30*time.Minute, auditkeep.SeverityHigh),
		rule(auditkeep.DefaultPrivilegeEscalation, "Privilege escalation",
			"A role or permission raised to admin or owner.",
			PrivilegeEscalationMatch, PrivilegeEscalationCondition, nil, 1, 0, 0, auditkeep.SeverityCritical),
		rule(auditkeep.DefaultAPITokenCreated, "API token created",
			"Each API token or key created.",
			APITokenCreatedMatch, "", nil, 1, 0, 0, auditkeep.SeverityMedium),
	}
}
