package web

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
)

// Cookies of the console. The session cookie holds the session's secret,
// with the API key and the session's CSRF token, sealed (AES-GCM under a
// server secret); the browser's script can read none of it (HttpOnly). The
// session itself lives in the store, under the secret's SHA-256: every
// request reads it there, so that signing out, or revoking the key, ends
// the session on every node at once, whatever copies of the cookie exist.
const (
	sessionCookie = "auditkeep_session"
	csrfCookie    = "auditkeep_csrf" // before sign-in: the sign-in form's CSRF token
	sessionSecret = "console_session_secret"
)

// session is the sealed content of one browser's session cookie.
type session struct {
	Secret string `json:"s"` // 256 random bits; the store keeps its SHA-256 and expiry
	Cred   string `json:"k"` // the API key
	CSRF   string `json:"c"` // token every state-changing form carries
}

// id returns the ID under which the store keeps the session.
func (s *session) id() string {
	sum := sha256.Sum256([]byte(s.Secret))
	return hex.EncodeToString(sum[:])
}

var errNoSession = errors.New("no session")

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) aead(ctx context.Context) (cipher.AEAD, error) {
	key, err := c.b.Secret(ctx, sessionSecret)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key[:32])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts a session into a cookie value.
func (c *Console) seal(ctx context.Context, s session) (string, error) {
	return c.sealValue(ctx, sessionCookie, s)
}

// readSession returns the request's session when the store still holds it
// unexpired; errNoSession when there is none (absent, forged, signed out,
// revoked, expired), or EUNAVAILABLE.
func (c *Console) readSession(r *http.Request) (*session, *auditkeep.Session, error) {
	var s session
	if err := c.openCookie(r, sessionCookie, &s); err != nil {
		return nil, nil, err
	}
	if s.Secret == "" || s.CSRF == "" {
		return nil, nil, errNoSession
	}
	rec, err := c.storedSession(r.Context(), s.id())
	if err != nil {
		return nil, nil, err
	}
	// A key's session holds its key; a person's holds none.
	if (s.Cred == "") != rec.Person() {
		return nil, nil, errNoSession
	}
	return &s, rec, nil
}

// storedSession returns the store's session with the ID if it has not
// expired; it deletes an expired one. Returns errNoSession or EUNAVAILABLE.
func (c *Console) storedSession(ctx context.Context, id string) (*auditkeep.Session, error) {
	rec, err := c.b.GetSession(ctx, id)
	if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	now := c.Now()
	if !now.Before(rec.ExpiresAt) {
		if err := c.b.DeleteSession(ctx, id); err != nil {
			c.log.Warn("console: delete expired session", "err", err)
		}
		return nil, errExpired
	}
	if now.Sub(rec.LastSeenAt) >= time.Minute {
		c.touch(ctx, rec, now)
	}
	return rec, nil
}

// touch writes the session's latest request, at most once a minute, and
// moves its expiry by the tenant's timeouts: now plus the idle timeout,
// never past sign-in plus the longest a session lasts. A failure is logged.
func (c *Console) touch(ctx context.Context, rec *auditkeep.Session, now time.Time) {
	idle, absolute, err := c.b.SessionTimeouts(ctx, rec.Tenant)
	if err != nil {
		c.log.Warn("console: session timeouts", "err", err)
		return
	}
	if absolute <= 0 {
		absolute = c.SessionTTL
	}
	expires := sessionExpiry(rec.CreatedAt, now, idle, absolute)
	if err := c.b.TouchSession(ctx, rec.ID, now, expires); err != nil {
		c.log.Warn("console: touch session", "err", err)
		return
	}
	rec.LastSeenAt, rec.ExpiresAt = now.UTC().Truncate(time.Minute), expires
}

// sessionExpiry is when a session signed in at created and seen at now
// ends: idle after now (0: no idle timeout), and absolute after created at
// the latest.
func sessionExpiry(created, now time.Time, idle, absolute time.Duration) time.Time {
	end := created.Add(absolute)
	if idle > 0 && now.Add(idle).Before(end) {
		end = now.Add(idle)
	}
	return end.UTC()
}

var errExpired = fmt.Errorf("%w: expired", errNoSession)

// SessionValid reports whether the console session with the ID (as
// Credential returns it) is still signed in, and if not, why. It reads the
// store each time, so a sign-out or a key's revocation on any node is seen
// at the next call. Returns EUNAVAILABLE when the store cannot tell.
func (c *Console) SessionValid(ctx context.Context, id string) (ok bool, reason string, err error) {
	_, err = c.storedSession(ctx, id)
	switch {
	case errors.Is(err, errExpired):
		return false, "the console session expired", nil
	case errors.Is(err, errNoSession):
		return false, "the console session ended: signed out, or its key was revoked", nil
	case err != nil:
		return false, "", err
	}
	return true, "", nil
}

// Credential returns the API key of r's console session, for the API's
// endpoints that a signed-in browser may call (GET /v1/events, /v1/stream),
// and the session's ID, for SessionValid.
func (c *Console) Credential(r *http.Request) (cred, sessionID string, ok bool) {
	s, rec, err := c.readSession(r)
	if err != nil || rec.Person() || !c.KeySignIn {
		return "", "", false
	}
	return s.Cred, rec.ID, true
}

// endSession deletes r's session from the store and clears its cookie.
func (c *Console) endSession(w http.ResponseWriter, r *http.Request, id string) error {
	if err := c.b.DeleteSession(r.Context(), id); err != nil {
		return err
	}
	c.clearSession(w, r)
	if c.SessionEnded != nil {
		c.SessionEnded(id)
	}
	return nil
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (c *Console) clearSession(w http.ResponseWriter, r *http.Request) {
	setCookie(w, r, sessionCookie, "", -1)
}

// crossSite reports whether a browser sent a form from another site: the
// second line of CSRF defence, after the token.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return true
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		return err != nil || u.Host != r.Host
	}
	return false
}

func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

type signInPage struct {
	base
	Next      string
	Message   string
	KeySignIn bool // the form for an API key
	OIDC      bool // the button for single sign-on
}

// safeNext keeps a post-sign-in redirect on this site's console: next must
// be a path of this origin, one "/" followed by neither "/" nor "\", with no
// control character or whitespace anywhere, else the redirect goes to "/".
// Browsers strip tabs and newlines from a URL, trim control characters and
// spaces from its ends and read "\" as "/", so "/\t/evil.example" or
// " //evil.example" would leave the site; refusing every such character
// before looking at the start leaves nothing for that normalisation to change.
func safeNext(next string) string {
	if !utf8.ValidString(next) || strings.IndexFunc(next, func(r rune) bool {
		return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.IsSpace(r) || r == '\uFEFF'
	}) >= 0 {
		return "/"
	}
	if len(next) < 1 || next[0] != '/' || (len(next) > 1 && (next[1] == '/' || next[1] == '\\')) ||
		strings.HasPrefix(next, "/v1/") {
		return "/"
	}
	return next
}

func (c *Console) signInForm(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := ""
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
		token = ck.Value
	} else {
		token = randomToken()
		setCookie(w, r, csrfCookie, token, 3600)
	}
	b := c.base(nil, "Sign in")
	b.CSRF = token
	next := r.FormValue("next")
	if r.Method == http.MethodGet {
		next = r.URL.Query().Get("next")
	}
	if r.URL.Query().Get("expired") != "" && msg == "" {
		msg = "Your session ended or the key was revoked. Sign in again."
	}
	c.render(w, r, status, "signin", signInPage{base: b, Next: safeNext(next), Message: msg, KeySignIn: c.KeySignIn, OIDC: c.oidc != nil}, false)
}

func (c *Console) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	c.signInForm(w, r, http.StatusOK, "")
}

// handleSignIn checks the pasted key (it needs the read scope) and starts a
// session. The form's CSRF token must match the csrf cookie.
func (c *Console) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.signInForm(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	ck, err := r.Cookie(csrfCookie)
	if err != nil || crossSite(r) || !tokensEqual(ck.Value, r.PostForm.Get("csrf")) {
		c.signInForm(w, r, http.StatusForbidden, "The form expired; try again.")
		return
	}
	if !c.KeySignIn {
		c.signInForm(w, r, http.StatusForbidden, "Sign-in with an API key is switched off on this server.")
		return
	}
	key := strings.TrimSpace(r.PostForm.Get("key"))
	if key == "" {
		c.signInForm(w, r, http.StatusBadRequest, "Paste an API key with the read scope.")
		return
	}
	id, err := c.b.Identify(r.Context(), key)
	switch {
	case err != nil && (auditkeep.ErrorCode(err) == auditkeep.EUNAUTHORIZED || auditkeep.ErrorCode(err) == auditkeep.EFORBIDDEN):
		c.b.SignedIn(r, key, auditkeep.ErrorMessage(err))
		c.signInForm(w, r, http.StatusUnauthorized, "That key is not valid here: "+auditkeep.ErrorMessage(err)+".")
		return
	case err != nil:
		c.fail(w, r, nil, err)
		return
	case id.Viewer:
		c.signInForm(w, r, http.StatusUnauthorized, "A viewer token opens its own link; paste an API key here.")
		return
	case !id.HasScope(auditkeep.ScopeRead):
		c.b.SignedIn(r, key, "the key lacks the read scope")
		c.signInForm(w, r, http.StatusUnauthorized, "That key lacks the read scope.")
		return
	}
	value, ttl, err := c.startSession(r, key, &auditkeep.Session{Tenant: id.Tenant, KeyID: id.KeyID})
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.b.SignedIn(r, key, "")
	setCookie(w, r, sessionCookie, value, int(ttl/time.Second))
	setCookie(w, r, csrfCookie, "", -1)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// startSession stores rec, a new session of the key (or of the person rec
// names, key ""), signed in by r, and returns its cookie's value and the
// longest it lasts. It sweeps the store's expired sessions on the way.
func (c *Console) startSession(r *http.Request, key string, rec *auditkeep.Session) (string, time.Duration, error) {
	ctx := r.Context()
	now := c.Now()
	idle, absolute, err := c.b.SessionTimeouts(ctx, rec.Tenant)
	if err != nil {
		return "", 0, err
	}
	if absolute <= 0 {
		absolute = c.SessionTTL
	}
	s := session{Secret: randomSecret(), Cred: key, CSRF: randomToken()}
	rec.ID, rec.CreatedAt, rec.ExpiresAt = s.id(), now.UTC(), sessionExpiry(now, now, idle, absolute)
	rec.LastSeenAt, rec.IP, rec.UserAgent = now.UTC().Truncate(time.Minute), remoteIP(r), truncate(r.UserAgent(), 512)
	if err := c.b.CreateSession(ctx, rec); err != nil {
		return "", 0, err
	}
	if n, err := c.b.DeleteExpiredSessions(ctx, now); err != nil {
		c.log.Warn("console: delete expired sessions", "err", err)
	} else if n > 0 {
		c.log.Debug("console: deleted expired sessions", "count", n)
	}
	value, err := c.seal(ctx, s)
	return value, absolute, err
}

// remoteIP is the address of r's peer.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// randomSecret returns 256 random bits, base64url.
func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// handleSignOut ends the session, in the store (for every copy of the
// cookie) and in the browser; the form carries the session's CSRF token.
func (c *Console) handleSignOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, nil, auditkeep.FieldErrorf("body", "the form could not be read"))
		return
	}
	s, rec, err := c.readSession(r)
	if errors.Is(err, errNoSession) {
		c.clearSession(w, r)
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	if crossSite(r) || !tokensEqual(s.CSRF, r.PostForm.Get("csrf")) {
		c.fail(w, r, nil, auditkeep.Errorf(auditkeep.EFORBIDDEN, "the sign-out form expired; reload the page and try again"))
		return
	}
	if err := c.endSession(w, r, rec.ID); err != nil {
		c.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
