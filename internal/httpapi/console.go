package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/web"
)

// consoleBackend gives the web console the API's own authentication,
// filtering and export, so that the console sees exactly what the API shows,
// and the store's sessions.
type consoleBackend struct {
	s *Server
	auditkeep.SessionStore
}

var _ web.Backend = consoleBackend{}

// Identify authenticates cred as a bearer credential would be.
func (b consoleBackend) Identify(ctx context.Context, cred string) (*web.Identity, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "Bearer "+cred)
	p, err := b.s.authenticate(r)
	if err != nil {
		return nil, err
	}
	switch {
	case p.root:
		return nil, auditkeep.Errorf(auditkeep.EFORBIDDEN, "the root key only manages tenants and keys; use a tenant key with the read scope")
	case p.viewer != nil:
		return &web.Identity{Tenant: p.viewer.tenant, Viewer: true, Locked: p.viewer.viewerParams(), Expires: p.viewer.expires, Handle: p}, nil
	}
	return &web.Identity{Tenant: p.key.Tenant, KeyID: p.key.ID, Name: p.key.Name, Scopes: p.key.Scopes, Handle: p}, nil
}

func principalOf(id *web.Identity) (principal, error) {
	p, ok := id.Handle.(principal)
	if !ok || (p.key == nil && p.viewer == nil && p.person == nil) {
		return principal{}, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "not signed in")
	}
	if p.viewer == nil && !p.hasScope(auditkeep.ScopeRead) {
		return principal{}, p.lacks(auditkeep.ScopeRead)
	}
	return p, nil
}

// List returns a page as GET /v1/events would.
func (b consoleBackend) List(ctx context.Context, id *web.Identity, q url.Values) (web.Page, error) {
	p, err := principalOf(id)
	if err != nil {
		return web.Page{}, err
	}
	f, err := b.s.listFilter(&http.Request{URL: &url.URL{RawQuery: q.Encode()}})
	if err != nil {
		return web.Page{}, err
	}
	session := p.readSession()
	if id.Session != "" {
		session = "session:" + id.Session
	}
	b.s.noteRead(ctx, p.tenant(), session, actorOf(p), q)
	events, next, err := b.s.listFor(ctx, p, f)
	if err != nil {
		return web.Page{}, err
	}
	page := web.Page{Events: events}
	if a, err := b.s.access(ctx, p.tenant()); err == nil && a.RequireExportReason {
		page.ExportReason = maxExportReason
	}
	if next != nil {
		page.Next = next.Encode()
	}
	return page, nil
}

// Facets answers as GET /v1/facets would.
func (b consoleBackend) Facets(ctx context.Context, id *web.Identity, q url.Values) ([]auditkeep.Facet, bool, error) {
	p, err := principalOf(id)
	if err != nil {
		return nil, false, err
	}
	return b.s.facetsFor(ctx, p, q)
}

// Get returns an event as GET /v1/events/{id} would.
func (b consoleBackend) Get(ctx context.Context, id *web.Identity, eventID string) (*auditkeep.Event, error) {
	p, err := principalOf(id)
	if err != nil {
		return nil, err
	}
	return b.s.eventFor(ctx, p, eventID)
}

// Proof returns the event's inclusion proof as GET /v1/events/{id}/proof
// answers it, for keys; viewer tokens, like the API's, read no proofs.
func (b consoleBackend) Proof(ctx context.Context, id *web.Identity, eventID string) (*web.Proof, error) {
	p, err := principalOf(id)
	if err != nil {
		return nil, err
	}
	if p.viewer != nil {
		return nil, auditkeep.Errorf(auditkeep.EFORBIDDEN, "inclusion proofs need a key with the read scope")
	}
	if _, err := b.s.ledgerLog(); err != nil {
		return nil, err
	}
	e, err := b.s.eventFor(ctx, p, eventID)
	if err != nil {
		return nil, err
	}
	pb, err := b.s.inclusion(ctx, p.tenant(), e.Seq, 0)
	if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
		return &web.Proof{}, nil // not integrated yet
	}
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(pb)
	if err != nil {
		return nil, err
	}
	return &web.Proof{Integrated: true, LeafHash: pb.LeafHash, TreeSize: pb.TreeSize, JSON: append(raw, '\n')}, nil
}

// Export answers as GET /v1/export would, for the console's key.
func (b consoleBackend) Export(w http.ResponseWriter, r *http.Request, id *web.Identity, format string, q url.Values) {
	p, err := principalOf(id)
	r2 := r.Clone(context.WithValue(r.Context(), principalKey{}, p))
	q.Set("format", format)
	r2.URL.RawQuery = q.Encode()
	if err == nil {
		err = authorize(p, scopeExport, r2)
	}
	if err == nil {
		err = b.s.handleExport(w, r2)
	}
	if err != nil {
		b.s.writeError(w, r2, err)
	}
}

// Secret returns a server-wide secret.
// Status answers as the API's one table does.
func (b consoleBackend) Status(err error) int { return statusOf(auditkeep.ErrorCode(err)) }

func (b consoleBackend) Secret(ctx context.Context, name string) ([]byte, error) {
	return b.s.browser.secrets.get(ctx, b.s.store, name)
}
