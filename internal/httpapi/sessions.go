package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/auditkeep/auditkeep"
)

// sessionBody is one console session as GET /v1/tenants/{tenant}/sessions
// lists it: who (the key), since when, from where, until when.
type sessionBody struct {
	ID         string    `json:"id"`
	KeyID      string    `json:"key_id,omitempty"`
	KeyName    string    `json:"key_name,omitempty"`
	Subject    string    `json:"subject,omitempty"` // a person's: the ID token's subject, name, email, role
	Name       string    `json:"name,omitempty"`
	Email      string    `json:"email,omitempty"`
	Role       string    `json:"role,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
}

type sessionsBody struct {
	Sessions []sessionBody `json:"sessions"`
}

// tenantSessions sweeps the expired sessions out of the store and returns
// the tenant's others, newest first, with the names of their keys.
func (s *Server) tenantSessions(ctx context.Context, tenant string) ([]sessionBody, error) {
	now := s.Now()
	if _, err := s.store.DeleteExpiredSessions(ctx, now); err != nil {
		return nil, err
	}
	keys, err := s.store.ListKeys(ctx, tenant)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, k := range keys {
		names[k.ID] = k.Name
	}
	list, err := s.store.ListSessions(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := []sessionBody{}
	for _, ss := range list {
		if !now.Before(ss.ExpiresAt) {
			continue
		}
		out = append(out, sessionBody{ID: ss.ID, KeyID: ss.KeyID, KeyName: names[ss.KeyID],
			Subject: ss.Subject, Name: ss.Name, Email: ss.Email, Role: ss.Role, CreatedAt: ss.CreatedAt,
			LastSeenAt: ss.LastSeenAt, ExpiresAt: ss.ExpiresAt, IP: ss.IP, UserAgent: ss.UserAgent})
	}
	return out, nil
}

// handleListSessions serves GET /v1/tenants/{tenant}/sessions (root or
// admin): the tenant's signed-in console sessions.
func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) error {
	list, err := s.tenantSessions(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sessionsBody{Sessions: list})
	return nil
}

// handleRevokeSession serves DELETE /v1/tenants/{tenant}/sessions/{id}
// (root or admin): the session ends on every node, its open streams on
// this one at once; 404 when the tenant has no such session.
func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeSession(r, r.PathValue("tenant"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeSession ends the tenant's session id and records session.revoke.
// Returns ENOTFOUND when the tenant has no such session.
func (s *Server) revokeSession(r *http.Request, tenant, id string) error {
	ss, err := s.store.GetSession(r.Context(), id)
	if err == nil && ss.Tenant != tenant {
		err = auditkeep.Errorf(auditkeep.ENOTFOUND, "session not found")
	}
	if err != nil {
		return err
	}
	if err := s.store.DeleteSession(r.Context(), id); err != nil {
		return err
	}
	s.revokeCredential(sessionCredential(id), streamEnd{Reason: endSessionEnded, Message: "the console session was revoked"})
	s.log.Info("console session revoked", "tenant", tenant, "key_id", ss.KeyID)
	meta := map[string]any{"signed_in_at": ss.CreatedAt, "ip": ss.IP}
	if ss.KeyID != "" {
		meta["key_id"] = ss.KeyID
	}
	s.recordLogged(r, tenant, Audit{Action: "session.revoke", Type: auditkeep.TypeLogout,
		Target:      &auditkeep.Target{Type: "console_session", ID: id},
		Description: "Revoked a console session",
		Metadata:    meta})
	return nil
}
