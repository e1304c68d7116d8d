package httpapi

import (
	"context"
	"net/http"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/web"
)

// adminOf returns the principal of the console identity when it
// administers its tenant, as the API's root-or-admin endpoints check.
func adminOf(id *web.Identity) (principal, error) {
	p, err := principalOf(id)
	if err != nil {
		return p, err
	}
	r := &http.Request{}
	r.SetPathValue("tenant", p.tenant())
	return p, authorize(p, scopeRootOrAdmin, r)
}

// Keys lists the tenant's keys as GET /v1/tenants/{tenant}/keys does.
func (b consoleBackend) Keys(ctx context.Context, id *web.Identity) ([]*auditkeep.APIKey, error) {
	p, err := adminOf(id)
	if err != nil {
		return nil, err
	}
	return b.s.store.ListKeys(ctx, p.tenant())
}

// Sessions lists the tenant's sessions as GET /v1/tenants/{tenant}/sessions does.
func (b consoleBackend) Sessions(ctx context.Context, id *web.Identity) ([]web.SessionInfo, error) {
	p, err := adminOf(id)
	if err != nil {
		return nil, err
	}
	list, err := b.s.tenantSessions(ctx, p.tenant())
	if err != nil {
		return nil, err
	}
	out := make([]web.SessionInfo, 0, len(list))
	for _, s := range list {
		person := s.Name
		if person == "" {
			person = s.Email
		}
		if person == "" && s.KeyID == "" {
			person = s.Subject
		}
		out = append(out, web.SessionInfo{ID: s.ID, KeyID: s.KeyID, KeyName: s.KeyName, Person: person, Role: s.Role,
			CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt, IP: s.IP, UserAgent: s.UserAgent})
	}
	return out, nil
}

// Revoke revokes a key or ends a session of the tenant as the API's
// DELETE endpoints do, recorded with r's origin and the console's actor.
func (b consoleBackend) Revoke(r *http.Request, id *web.Identity, kind, targetID string) error {
	p, err := adminOf(id)
	if err != nil {
		return err
	}
	p.session = id.Session
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
	switch kind {
	case "key":
		return b.s.revokeKey(r, p.tenant(), targetID)
	case "session":
		return b.s.revokeSession(r, p.tenant(), targetID)
	}
	return auditkeep.Errorf(auditkeep.ENOTFOUND, "nothing to revoke")
}
