package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Required credentials of a route.
const (
	scopeIngest      = auditkeep.ScopeIngest
	scopeRead        = auditkeep.ScopeRead
	scopeExport      = auditkeep.ScopeExport
	scopeAdmin       = auditkeep.ScopeAdmin
	scopeRoot        = "root"          // only the operator's root key
	scopeRootOrAdmin = "root_or_admin" // the root key, or an admin key of the tenant in the path
	// scopeExportOrAdmin: a key with the export or the admin scope, so
	// auditors and admins (the alerts)
	scopeExportOrAdmin = "export_or_admin"
)

// principal is who made a request.
type principal struct {
	root   bool
	key    *auditkeep.APIKey // nil for root, people and viewer tokens
	person *person           // set for a person's console session (people.go)
	viewer *viewerGrant      // set for a viewer token (viewer.go)
	// session is the ID of the console session whose cookie carried the
	// key; "" when the request sent its credential itself.
	session string
}

// tenant returns the tenant a key belongs to ("" for root).
func (p principal) tenant() string {
	if p.viewer != nil {
		return p.viewer.tenant
	}
	if p.person != nil {
		return p.person.tenant
	}
	if p.key == nil {
		return ""
	}
	return p.key.Tenant
}

// limitID names the rate-limit bucket of the principal: its key, or its
// viewer token; "" for the root key, which is not limited.
func (p principal) limitID() string {
	switch {
	case p.key != nil:
		return p.key.ID
	case p.person != nil:
		return "session:" + p.person.session
	case p.viewer != nil:
		return "viewer:" + p.viewer.tenant + "?" + p.viewer.params.Encode() + "@" + p.viewer.expires.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// readSession names the principal's session in the record of its reads
// (reads.go): its console session, else its key or viewer token.
func (p principal) readSession() string {
	if p.session != "" {
		return "session:" + p.session
	}
	return p.limitID()
}

type principalKey struct{}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// HashKey returns the SHA-256 hex digest under which a key is stored.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewKey returns a new random API key: "ak_" and 52 base32 characters (256 bits).
func NewKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "ak_" + strings.ToLower(keyEncoding.EncodeToString(b))
}

func newID(prefix string) string {
	b := make([]byte, 9)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// auth authenticates the bearer key and checks that it carries scope.
func (s *Server) auth(scope string, next func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, isPerson, err := s.personPrincipal(r)
		if !isPerson {
			var session string
			if scope == scopeReadOrViewer {
				r, session = s.withBrowserCredential(r)
			}
			p, err = s.authenticate(r)
			p.session = session
		}
		if err == nil {
			err = s.admit(w, r, p, scope)
		}
		if err == nil {
			err = next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	}
}

// admit checks that p may call a route needing scope and is within its
// rate limit (setting Retry-After when it is not).
func (s *Server) admit(w http.ResponseWriter, r *http.Request, p principal, scope string) error {
	if err := authorize(p, scope, r); err != nil {
		return err
	}
	if id := p.limitID(); id != "" {
		wait, err := s.limits.allow(id, s.Now())
		if wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(wait))
		}
		return err
	}
	return nil
}

func (s *Server) authenticate(r *http.Request) (principal, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return principal{}, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "missing credentials: send Authorization: Bearer <key>")
	}
	if strings.HasPrefix(token, viewerTokenPrefix) {
		return s.viewerPrincipal(r.Context(), strings.TrimSpace(token))
	}
	return s.keyPrincipal(r, token)
}

// keyPrincipal looks up an API key (or the root key) sent in any header:
// EUNAUTHORIZED when it is unknown or revoked.
func (s *Server) keyPrincipal(r *http.Request, token string) (principal, error) {
	hash := HashKey(strings.TrimSpace(token))
	if s.rootKey != "" && subtle.ConstantTimeCompare([]byte(hash), []byte(s.rootKey)) == 1 {
		return principal{root: true}, nil
	}
	now := time.Now() // the cache's age is real time, whatever the server's clock
	k := s.keys.get(hash, now)
	if k == nil {
		var err error
		k, err = s.store.KeyByHash(r.Context(), hash)
		if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
			return principal{}, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "unknown API key")
		}
		if err != nil {
			return principal{}, err
		}
		s.keys.put(hash, k, now)
	}
	if k.RevokedAt != nil {
		return principal{}, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "API key was revoked")
	}
	if k.Expired(s.Now()) {
		return principal{}, expiredKey(k)
	}
	s.touchKey(r.Context(), k, s.Now())
	return principal{key: k}, nil
}

func authorize(p principal, scope string, r *http.Request) error {
	if p.viewer != nil {
		if scope != scopeReadOrViewer {
			return auditkeep.Errorf(auditkeep.EFORBIDDEN, "a viewer token only reads events")
		}
		return nil
	}
	if scope == scopeReadOrViewer {
		scope = scopeRead
	}
	switch scope {
	case scopeRoot:
		if !p.root && p.person != nil {
			return auditkeep.Errorf(auditkeep.EFORBIDDEN, "this endpoint is the operator's (the root key); no role opens it")
		}
		if !p.root {
			return auditkeep.Errorf(auditkeep.EFORBIDDEN, "this endpoint needs the operator's root key")
		}
	case scopeRootOrAdmin:
		if p.root {
			return nil
		}
		if !p.hasScope(auditkeep.ScopeAdmin) {
			if p.person != nil {
				return p.lacks(auditkeep.ScopeAdmin)
			}
			return auditkeep.Errorf(auditkeep.EFORBIDDEN, "this endpoint needs a key with the admin scope")
		}
		if r.PathValue("tenant") != p.tenant() {
			if p.person != nil {
				return auditkeep.Errorf(auditkeep.EFORBIDDEN, "you are signed in to another tenant")
			}
			return auditkeep.Errorf(auditkeep.EFORBIDDEN, "this key belongs to another tenant")
		}
	case scopeExportOrAdmin:
		if p.root {
			return auditkeep.Errorf(auditkeep.EFORBIDDEN, "the root key only manages tenants and keys; use a tenant key with the export or admin scope")
		}
		if !p.hasScope(auditkeep.ScopeExport) && !p.hasScope(auditkeep.ScopeAdmin) {
			return p.lacks("export or admin")
		}
	default:
		if p.root {
			return auditkeep.Errorf(auditkeep.EFORBIDDEN, "the root key only manages tenants and keys; use a tenant key with the %s scope", scope)
		}
		if !p.hasScope(scope) {
			return p.lacks(scope)
		}
	}
	return nil
}
