package web

import (
	"context"
	"net/http"
	"time"

	"github.com/auditkeep/auditkeep"
)

// SessionInfo is one signed-in console session of a tenant, as the
// Sessions page lists it.
type SessionInfo struct {
	ID         string
	KeyID      string // the key signed in with; "" for a person
	KeyName    string
	Person     string // a person's name or email; "" for a key
	Role       string
	CreatedAt  time.Time
	LastSeenAt time.Time // to the minute
	ExpiresAt  time.Time
	IP         string
	UserAgent  string
}

// AdminBackend is what the console's Sessions and Keys pages need of the
// API server.
type AdminBackend interface {
	// Keys returns the keys of the identity's tenant, revoked and expired
	// ones too, as GET /v1/tenants/{tenant}/keys does. Returns EFORBIDDEN
	// unless the identity administers its tenant.
	Keys(ctx context.Context, id *Identity) ([]*auditkeep.APIKey, error)
	// Sessions returns the tenant's signed-in console sessions, newest
	// first, as GET /v1/tenants/{tenant}/sessions does. Returns EFORBIDDEN
	// as Keys does.
	Sessions(ctx context.Context, id *Identity) ([]SessionInfo, error)
	// Revoke revokes the tenant's key (kind "key") or ends its console
	// session (kind "session") with the ID, asked for by r, as the API's
	// DELETE does, and records it. Returns ENOTFOUND, or EFORBIDDEN as
	// Keys does.
	Revoke(r *http.Request, id *Identity, kind, targetID string) error
}

// admin finds who asks for an admin page: a key's or a person's session
// that administers its tenant. It answers the request itself and returns
// false otherwise.
func (c *Console) admin(w http.ResponseWriter, r *http.Request) (*viewer, bool) {
	v, ok := c.identify(w, r)
	if !ok {
		return nil, false
	}
	if v.id.Viewer || !v.id.HasScope(auditkeep.ScopeAdmin) {
		c.fail(w, r, v, auditkeep.Errorf(auditkeep.EFORBIDDEN, "the Sessions and Keys pages are for admins of the tenant"))
		return nil, false
	}
	return v, true
}

type keysPage struct {
	base
	Keys []keyRow
	Done string // what the last revocation did, for the status line
}

type keyRow struct {
	*auditkeep.APIKey
	State   string // active, expired, revoked
	Current bool   // the key of this session
}

type sessionsPage struct {
	base
	Sessions []sessionRow
	Done     string
}

type sessionRow struct {
	SessionInfo
	Current bool // this browser's own session
}

func (c *Console) handleKeys(w http.ResponseWriter, r *http.Request) {
	v, ok := c.admin(w, r)
	if !ok {
		return
	}
	keys, err := c.b.Keys(r.Context(), v.id)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	now := c.Now()
	page := keysPage{base: c.base(v, "Keys"), Done: doneText(r.URL.Query().Get("done"))}
	for _, k := range keys {
		state := "active"
		switch {
		case k.RevokedAt != nil:
			state = "revoked"
		case k.Expired(now):
			state = "expired"
		}
		page.Keys = append(page.Keys, keyRow{APIKey: k, State: state, Current: k.ID == v.id.KeyID})
	}
	c.render(w, r, http.StatusOK, "keys", page, false)
}

func (c *Console) handleSessions(w http.ResponseWriter, r *http.Request) {
	v, ok := c.admin(w, r)
	if !ok {
		return
	}
	list, err := c.b.Sessions(r.Context(), v.id)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	page := sessionsPage{base: c.base(v, "Sessions"), Done: doneText(r.URL.Query().Get("done"))}
	for _, s := range list {
		page.Sessions = append(page.Sessions, sessionRow{SessionInfo: s, Current: s.ID == v.id.Session})
	}
	c.render(w, r, http.StatusOK, "sessions", page, false)
}

// doneText is the status line after a revocation (a fixed text per kind,
// never the request's own words).
func doneText(done string) string {
	switch done {
	case "key":
		return "The key was revoked; its sessions ended."
	case "session":
		return "The session was ended."
	}
	return ""
}

// handleRevoke serves POST /keys/{id}/revoke and /sessions/{id}/revoke: the
// form carries the session's CSRF token.
func (c *Console) handleRevoke(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, nil, auditkeep.FieldErrorf("body", "the form could not be read"))
			return
		}
		v, ok := c.admin(w, r)
		if !ok {
			return
		}
		if crossSite(r) || !tokensEqual(v.sess.CSRF, r.PostForm.Get("csrf")) {
			c.fail(w, r, v, auditkeep.Errorf(auditkeep.EFORBIDDEN, "the form expired; reload the page and try again"))
			return
		}
		if err := c.b.Revoke(r, v.id, kind, r.PathValue("id")); err != nil {
			c.fail(w, r, v, err)
			return
		}
		if kind == "session" && r.PathValue("id") == v.id.Session || kind == "key" && r.PathValue("id") == v.id.KeyID {
			c.clearSession(w, r) // this browser's own session ended
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/"+kind+"s?done="+kind, http.StatusSeeOther)
	}
}
