// Package web serves auditkeep's console: server-rendered pages (html/template)
// with a little JavaScript, embedded in the binary. Event content is
// attacker-controlled; it is only ever rendered as escaped text, and the
// script builds live rows with textContent.
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/auditkeep/auditkeep"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Identity is who a credential is, as the console needs to know it.
type Identity struct {
	Tenant  string
	KeyID   string   // the key's ID; "" for a viewer token
	Name    string   // the key's name; "" for a viewer token
	Scopes  []string // the key's scopes; none for a viewer token
	Viewer  bool     // a viewer token: read-only, Locked filters
	Locked  url.Values
	Expires time.Time // a viewer token's expiry
	// A person signed in through the identity provider: Name is theirs,
	// KeyID "", Scopes those of Role.
	Person bool
	Email  string
	Role   string
	// Session is the ID of the console session signed in with it; "" for a
	// viewer link.
	Session string
	// Handle is the backend's own record of the credential, passed back to it.
	Handle any
}

// HasScope reports whether the identity carries scope.
func (id *Identity) HasScope(scope string) bool { return slices.Contains(id.Scopes, scope) }

// Page is one page of events, newest first.
type Page struct {
	Events []*auditkeep.Event
	Next   string // cursor of the next page; "" on the last
	// ExportReason, when above 0, is the longest reason the tenant
	// requires with every export: the page asks for one beside its export
	// buttons.
	ExportReason int
}

// Proof is an event's inclusion proof in its tenant's tamper-evident log.
type Proof struct {
	// Integrated is false while the event is not in the log yet; the
	// other fields are then empty.
	Integrated bool
	LeafHash   string // hex
	TreeSize   uint64 // the size of the latest checkpoint, the tree the proof leads to
	// JSON is the proof as GET /v1/events/{id}/proof answers it.
	JSON []byte
}

// SessionStore keeps the console's sessions where every node reads them
// (auditkeep.SessionStore's methods that the console calls).
type SessionStore interface {
	CreateSession(ctx context.Context, s *auditkeep.Session) error
	GetSession(ctx context.Context, id string) (*auditkeep.Session, error)
	DeleteSession(ctx context.Context, id string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	TouchSession(ctx context.Context, id string, seen, expires time.Time) error
}

// Backend is what the console needs of the API server.
type Backend interface {
	SessionStore
	// Identify returns who cred is: an API key or a viewer token. Returns
	// EUNAUTHORIZED for unknown, revoked, expired or forged credentials and
	// EFORBIDDEN for credentials that cannot read events (the root key).
	Identify(ctx context.Context, cred string) (*Identity, error)
	// IdentifyPerson returns who a person's console session is (see
	// oidc.go). Returns EUNAUTHORIZED when its role gives no read scope.
	IdentifyPerson(ctx context.Context, s *auditkeep.Session) (*Identity, error)
	// PersonRoles returns the role each tenant gives a person whose
	// verified ID token carries claims; none when no rule matches.
	PersonRoles(ctx context.Context, claims map[string]any) (map[string]string, error)
	// PersonSignedIn records in the tenant's log that the person of the
	// new session s signed in.
	PersonSignedIn(r *http.Request, s *auditkeep.Session)
	// List returns the page of events matching the API filter parameters q
	// (as GET /v1/events takes them), narrowed to a viewer's locked filters.
	// Returns EINVALID naming a bad parameter.
	List(ctx context.Context, id *Identity, q url.Values) (Page, error)
	// Get returns one event. Returns ENOTFOUND when the tenant has none with
	// eventID, or when it lies outside a viewer's locked filters.
	Get(ctx context.Context, id *Identity, eventID string) (*auditkeep.Event, error)
	// Proof returns the inclusion proof of eventID in the latest tree of
	// the tenant's log, or a Proof that is not Integrated while the event
	// is not in the log yet. Returns ENOTFOUND as Get does, or when the
	// server keeps no log, and EFORBIDDEN for a viewer token, which cannot
	// read proofs.
	Proof(ctx context.Context, id *Identity, eventID string) (*Proof, error)
	// Facets returns the distinct values of q's field among the events
	// matching q's filters, as GET /v1/facets does, and whether there are
	// more. Returns EINVALID naming a bad parameter.
	Facets(ctx context.Context, id *Identity, q url.Values) ([]auditkeep.Facet, bool, error)
	// Export answers r with every event matching q in format (csv or
	// ndjson), as GET /v1/export does; it writes its own errors.
	Export(w http.ResponseWriter, r *http.Request, id *Identity, format string, q url.Values)
	// Secret returns a random 32-byte server secret called name, the same on
	// every node. Returns EUNAVAILABLE when storage fails.
	Secret(ctx context.Context, name string) ([]byte, error)
	// Status returns the HTTP status the API answers err with, so that
	// pages and the API agree.
	Status(err error) int
	// SessionTimeouts returns the tenant's idle timeout of a console
	// session (0: none) and the longest a session lasts. Returns
	// EUNAVAILABLE when storage fails.
	SessionTimeouts(ctx context.Context, tenant string) (idle, absolute time.Duration, err error)
	AdminBackend
	// SignedIn records a sign-in to the console with cred in the log of
	// the credential's tenant, from r: refused for the reason failure, or
	// accepted when failure is "". A credential of no tenant is not recorded.
	SignedIn(r *http.Request, cred, failure string)
}

// Route is one of the console's endpoints.
type Route struct {
	Pattern string // a net/http ServeMux pattern
	Name    string // for metrics
	Handler http.HandlerFunc
}

// Console is the web console.
type Console struct {
	b    Backend
	log  *slog.Logger
	tmpl map[string]*template.Template

	// Now is the clock; tests replace it.
	Now func() time.Time
	// SessionTTL is how long a sign-in lasts (12 h), unless the user signs
	// out or the key is revoked before.
	SessionTTL time.Duration
	// Streams, when set, serves the Streams page (admin keys).
	Streams StreamBackend
	// Alerts, when set, serves the Alerts pages (auditors and admins).
	Alerts AlertBackend
	// SessionEnded, when set, is called with a session's ID once sign-out
	// has deleted it, so that what the session holds open (live streams)
	// ends at once.
	SessionEnded func(id string)
	// KeySignIn lets people sign in by pasting an API key (true unless the
	// operator switches it off); sessions opened so are refused while off.
	KeySignIn bool

	oidc *oidcClient // nil: no single sign-on (oidc.go)
}

// New returns the console over b.
func New(b Backend, log *slog.Logger) *Console {
	if log == nil {
		log = slog.Default()
	}
	c := &Console{b: b, log: log, Now: time.Now, SessionTTL: 12 * time.Hour, KeySignIn: true}
	c.tmpl = map[string]*template.Template{}
	for _, page := range []string{"events", "event", "compare", "signin", "error", "refused", "signedin", "choose", "streams", "keys", "sessions", "alerts", "alert_rules", "alert_rule"} {
		c.tmpl[page] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/"+page+".html"))
	}
	return c
}

// Routes returns the console's endpoints.
func (c *Console) Routes() []Route {
	return []Route{
		{"GET /{$}", "events", c.handleEvents},
		{"GET /events/{id}", "event", c.handleEvent},
		{"GET /events/{id}/proof", "event_proof", c.handleProof},
		{"GET /compare", "compare", c.handleCompare},
		{"GET /streams", "streams", c.handleStreams},
		{"POST /streams/{id}/{action}", "stream_action", c.handleStreamAction},
		{"GET /alerts", "alerts", c.handleAlerts},
		{"POST /alerts/{id}/{action}", "alert_action", c.handleAlertAction},
		{"GET /alerts/rules", "alert_rules", c.handleAlertRules},
		{"GET /alerts/rules/new", "alert_rule_new", c.handleRuleEditor},
		{"GET /alerts/rules/{id}", "alert_rule", c.handleRuleEditor},
		{"POST /alerts/rules", "alert_rule_create", c.handleRuleSave},
		{"POST /alerts/rules/test", "alert_rule_test", c.handleRuleSave},
		{"POST /alerts/rules/{id}", "alert_rule_save", c.handleRuleSave},
		{"POST /alerts/rules/{id}/{action}", "alert_rule_action", c.handleRuleAction},
		{"GET /rows", "rows", c.handleRows},
		{"GET /facets", "facets", c.handleFacets},
		{"GET /export", "export", c.handleExport},
		{"GET /signin", "signin_form", c.handleSignInForm},
		{"POST /signin", "signin", c.handleSignIn},
		{"POST /signout", "signout", c.handleSignOut},
		{"GET /signin/oidc", "signin_oidc", c.handleOIDCStart},
		{"GET " + CallbackPath, "signin_callback", c.handleOIDCCallback},
		{"POST /signin/tenant", "signin_tenant", c.handleChooseTenant},
		{"GET /keys", "keys", c.handleKeys},
		{"POST /keys/{id}/revoke", "key_revoke", c.handleRevoke("key")},
		{"GET /sessions", "sessions", c.handleSessions},
		{"POST /sessions/{id}/revoke", "session_revoke", c.handleRevoke("session")},
		{"GET /static/{name}", "static", c.handleStatic},
		{"GET /favicon.ico", "favicon", c.handleStatic},
	}
}

// viewer is the signed-in user of a page: a key's session, or a viewer token
// given in the URL.
type viewer struct {
	id          *Identity
	sess        *session // nil in viewer-token mode
	viewerToken string
}

// identify finds who is asking. It answers the request itself (a redirect to
// the sign-in page, or an error page) and returns false when nobody is.
func (c *Console) identify(w http.ResponseWriter, r *http.Request) (*viewer, bool) {
	if tok := r.URL.Query().Get("viewer_token"); tok != "" {
		id, err := c.b.Identify(r.Context(), tok)
		if err == nil && !id.Viewer {
			err = auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "viewer_token is not a viewer token")
		}
		if err != nil {
			c.fail(w, r, nil, err)
			return nil, false
		}
		return &viewer{id: id, viewerToken: tok}, true
	}
	sess, rec, err := c.readSession(r)
	switch {
	case errors.Is(err, errExpired):
		c.clearSession(w, r)
		http.Redirect(w, r, "/signin?expired=1", http.StatusSeeOther)
		return nil, false
	case errors.Is(err, errNoSession):
		if _, err := r.Cookie(sessionCookie); err == nil {
			c.clearSession(w, r)
		}
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return nil, false
	case err != nil:
		c.fail(w, r, nil, err)
		return nil, false
	}
	var id *Identity
	switch {
	case rec.Person():
		id, err = c.b.IdentifyPerson(r.Context(), rec)
	case !c.KeySignIn:
		err = auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "sign-in with an API key is switched off")
	default:
		id, err = c.b.Identify(r.Context(), sess.Cred)
		if err == nil && (id.Tenant != rec.Tenant || id.KeyID != rec.KeyID) {
			err = auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "the session belongs to another key")
		}
	}
	if err != nil {
		if code := auditkeep.ErrorCode(err); code == auditkeep.EUNAUTHORIZED || code == auditkeep.EFORBIDDEN {
			if err := c.endSession(w, r, rec.ID); err != nil {
				c.log.Warn("console: end session", "err", err)
			}
			http.Redirect(w, r, "/signin?expired=1", http.StatusSeeOther)
			return nil, false
		}
		c.fail(w, r, nil, err)
		return nil, false
	}
	id.Session = rec.ID
	return &viewer{id: id, sess: sess}, true
}

// setHeaders sets the console's security headers: a CSP without inline
// scripts, and framing allowed only in viewer-token mode.
func setHeaders(w http.ResponseWriter, embeddable bool) {
	h := w.Header()
	ancestors := "'none'"
	if embeddable {
		ancestors = "*"
		h.Del("X-Frame-Options")
	} else {
		h.Set("X-Frame-Options", "DENY")
	}
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors "+ancestors)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	h.Set("Cache-Control", "no-store")
}

// render writes a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data any, embeddable bool) {
	setHeaders(w, embeddable)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	t := c.tmpl[page]
	var buf bytesBuffer
	if err := t.Execute(&buf, data); err != nil {
		c.log.Error("console: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeBody(w, r, status, buf.b)
}

// renderPart renders one named template of a page's set, alone.
func (c *Console) renderPart(w http.ResponseWriter, page, name string, data any) {
	setHeaders(w, false)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var buf bytesBuffer
	if err := c.tmpl[page].ExecuteTemplate(&buf, name, data); err != nil {
		c.log.Error("console: render", "page", page, "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Write(buf.b)
}

type bytesBuffer struct{ b []byte }

func (b *bytesBuffer) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }

type errorPage struct {
	base
	Status  int
	Message string
}

// fail renders an error page. Internal errors are logged and shown as
// "internal error".
func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	status := c.b.Status(err)
	if status == http.StatusInternalServerError {
		c.log.Error("console", "path", r.URL.Path, "err", err)
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	c.render(w, r, status, "error", errorPage{base: c.base(v, "Error"), Status: status, Message: auditkeep.ErrorMessage(err)}, v != nil && v.viewerToken != "")
}
