package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Single sign-on: the console signs people in with the operator's OpenID
// provider (authorization code flow with PKCE, state and nonce; the ID
// token's signature, issuer, audience, expiry and nonce are verified), and
// the backend gives them a role per tenant from the token's claims (see the
// README, "People, roles and sign-in").

// CallbackPath is the path of the console's redirect URL.
const CallbackPath = "/signin/callback"

// Cookies of a sign-in in progress. They ride the provider's cross-site
// redirect back, so they are SameSite=Lax (the session cookie stays Strict);
// both are sealed like the session cookie and last ten minutes.
const (
	flowCookie   = "auditkeep_oidc"   // state, nonce and PKCE verifier
	chooseCookie = "auditkeep_choose" // who signed in, while they pick a tenant
	flowTTL      = 10 * time.Minute
)

// OIDCConfig is the console's client of the operator's OpenID provider.
type OIDCConfig struct {
	Issuer       string // the provider's issuer URL, as its discovery document names it
	ClientID     string
	ClientSecret string
	RedirectURL  string   // this console's CallbackPath, as the provider knows it
	Scopes       []string // asked beside openid; nil: profile and email
	// HTTPClient reaches the provider; nil: http.DefaultClient.
	HTTPClient *http.Client
}

// Validate checks the configuration, naming the setting at fault.
func (cfg OIDCConfig) Validate() error {
	for _, f := range []struct{ name, value string }{
		{"oidc-issuer", cfg.Issuer}, {"oidc-client-id", cfg.ClientID}, {"oidc-redirect-url", cfg.RedirectURL},
	} {
		if f.value == "" {
			return fmt.Errorf("--%s is required for single sign-on", f.name)
		}
	}
	if u, err := url.Parse(cfg.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--oidc-issuer %q is not an http(s) URL", cfg.Issuer)
	}
	u, err := url.Parse(cfg.RedirectURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != CallbackPath || u.RawQuery != "" {
		return fmt.Errorf("--oidc-redirect-url %q must be this server's URL with the path %s", cfg.RedirectURL, CallbackPath)
	}
	return nil
}

// oidcClient discovers the provider at first use, and again after a failed
// discovery, so that the console starts while the provider is away.
type oidcClient struct {
	cfg OIDCConfig

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// EnableOIDC turns on sign-in with the OpenID provider of cfg.
func (c *Console) EnableOIDC(cfg OIDCConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"profile", "email"}
	}
	c.oidc = &oidcClient{cfg: cfg}
	return nil
}

func (o *oidcClient) context(ctx context.Context) context.Context {
	if o.cfg.HTTPClient != nil {
		return oidc.ClientContext(ctx, o.cfg.HTTPClient)
	}
	return ctx
}

// client returns the OAuth 2 configuration and the ID token verifier,
// discovering the provider if it was not yet. Returns EUNAVAILABLE when the
// provider cannot be reached.
func (o *oidcClient) client(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.oauth != nil {
		return o.oauth, o.verifier, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(o.context(ctx), o.cfg.Issuer)
	if err != nil {
		return nil, nil, &auditkeep.Error{Code: auditkeep.EUNAVAILABLE, Message: "the identity provider cannot be reached; try again shortly", Err: err}
	}
	o.oauth = &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...)}
	// The verifier keeps the provider's keys fresh itself (a token signed
	// with a key it does not know makes it fetch the key set again).
	o.verifier = p.VerifierContext(o.context(context.Background()), &oidc.Config{ClientID: o.cfg.ClientID})
	return o.oauth, o.verifier, nil
}

// oidcFlow is the sealed content of the flow cookie.
type oidcFlow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"` // PKCE
	Next     string    `json:"x"`
	Expires  time.Time `json:"e"`
}

// Person is who the provider says signed in.
type Person struct {
	Subject string `json:"sub"`
	Name    string `json:"name"`
	Email   string `json:"email"`
}

// label is how the console names the person.
func (p Person) label() string {
	switch {
	case p.Name != "" && p.Email != "":
		return p.Name + " <" + p.Email + ">"
	case p.Name != "":
		return p.Name
	case p.Email != "":
		return p.Email
	}
	return p.Subject
}

// pendingChoice is the sealed content of the choose cookie: a person the
// provider signed in, with a role in several tenants, picking one.
type pendingChoice struct {
	Person  Person            `json:"p"`
	Roles   map[string]string `json:"r"`
	Next    string            `json:"x"`
	CSRF    string            `json:"c"`
	Expires time.Time         `json:"e"`
}

// sealValue encrypts v as JSON for the cookie called name.
func (c *Console) sealValue(ctx context.Context, name string, v any) (string, error) {
	a, err := c.aead(ctx)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(a.Seal(nonce, nonce, plain, []byte(name))), nil
}

// openCookie decrypts r's cookie called name into v. Returns errNoSession
// when the cookie is absent, forged or unreadable, EUNAVAILABLE when the
// server secret cannot be read.
func (c *Console) openCookie(r *http.Request, name string, v any) error {
	ck, err := r.Cookie(name)
	if err != nil || ck.Value == "" {
		return errNoSession
	}
	raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil {
		return errNoSession
	}
	a, err := c.aead(r.Context())
	if err != nil {
		return err
	}
	if len(raw) < a.NonceSize() {
		return errNoSession
	}
	plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], []byte(name))
	if err != nil || json.Unmarshal(plain, v) != nil {
		return errNoSession
	}
	return nil
}

func setFlowCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/signin", MaxAge: maxAge, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// handleOIDCStart serves GET /signin/oidc?next=…: it sends the browser to
// the provider with a fresh state, nonce and PKCE challenge, kept sealed in
// the flow cookie.
func (c *Console) handleOIDCStart(w http.ResponseWriter, r *http.Request) {
	if c.oidc == nil {
		c.fail(w, r, nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "single sign-on is not configured on this server"))
		return
	}
	cfg, _, err := c.oidc.client(r.Context())
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	f := oidcFlow{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(),
		Next: safeNext(r.URL.Query().Get("next")), Expires: c.Now().Add(flowTTL)}
	value, err := c.sealValue(r.Context(), flowCookie, f)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	setFlowCookie(w, r, flowCookie, value, int(flowTTL/time.Second))
	http.Redirect(w, r, cfg.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

// refusedPage explains why a sign-in did not open the console.
type refusedPage struct {
	base
	Status  int
	Heading string
	Message string
	Who     string // who the provider signed in, when it did
	Retry   bool   // offer to sign in again
}

func (c *Console) refuse(w http.ResponseWriter, r *http.Request, status int, heading, msg string, who *Person, retry bool) {
	p := refusedPage{base: c.base(nil, heading), Status: status, Heading: heading, Message: msg, Retry: retry}
	subject := ""
	if who != nil {
		p.Who, subject = who.label(), who.Subject
	}
	c.log.Info("console: sign-in refused", "status", status, "reason", msg, "subject", subject)
	c.render(w, r, status, "refused", p, false)
}

// handleOIDCCallback serves the redirect URL: it checks the state, trades
// the code (with the PKCE verifier) for tokens, verifies the ID token and
// its nonce, and asks the backend for the person's roles.
func (c *Console) handleOIDCCallback(w http.ResponseWriter, r *http.Request) {
	if c.oidc == nil {
		c.fail(w, r, nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "single sign-on is not configured on this server"))
		return
	}
	var f oidcFlow
	err := c.openCookie(r, flowCookie, &f)
	setFlowCookie(w, r, flowCookie, "", -1) // one use
	switch {
	case err != nil && !errors.Is(err, errNoSession):
		c.fail(w, r, nil, err)
		return
	case err != nil || !c.Now().Before(f.Expires):
		c.refuse(w, r, http.StatusBadRequest, "Sign-in expired",
			"This sign-in was started too long ago or in another browser. Start it again.", nil, true)
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		msg := "The identity provider did not sign you in (" + e + ")"
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		c.refuse(w, r, http.StatusUnauthorized, "Sign-in refused", msg+".", nil, true)
		return
	}
	if !tokensEqual(q.Get("state"), f.State) {
		c.refuse(w, r, http.StatusBadRequest, "Sign-in refused",
			"The answer from the identity provider does not belong to this browser's sign-in (state mismatch).", nil, true)
		return
	}
	who, claims, err := c.exchange(r.Context(), q.Get("code"), f)
	if err != nil {
		if auditkeep.ErrorCode(err) == auditkeep.EUNAUTHORIZED {
			c.refuse(w, r, http.StatusUnauthorized, "Sign-in refused", auditkeep.ErrorMessage(err)+".", nil, true)
			return
		}
		c.fail(w, r, nil, err)
		return
	}
	roles, err := c.b.PersonRoles(r.Context(), claims)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	switch len(roles) {
	case 0:
		c.refuse(w, r, http.StatusForbidden, "No access to the audit log",
			"Your identity provider signed you in, but no tenant gives you a role here. Ask your organization's "+
				"auditkeep administrator for one (viewer, auditor or admin).", &who, false)
	case 1:
		for tenant, role := range roles {
			c.signInPerson(w, r, who, tenant, role, f.Next)
		}
	default:
		ch := pendingChoice{Person: who, Roles: roles, Next: f.Next, CSRF: randomToken(), Expires: c.Now().Add(flowTTL)}
		value, err := c.sealValue(r.Context(), chooseCookie, ch)
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		setFlowCookie(w, r, chooseCookie, value, int(flowTTL/time.Second))
		c.renderChoice(w, r, ch)
	}
}

// exchange trades the code for tokens and returns who the verified ID token
// names, and its claims. Returns EUNAUTHORIZED when the provider refuses the
// code or the token does not verify, EUNAVAILABLE when it cannot be reached.
func (c *Console) exchange(ctx context.Context, code string, f oidcFlow) (Person, map[string]any, error) {
	cfg, verifier, err := c.oidc.client(ctx)
	if err != nil {
		return Person{}, nil, err
	}
	if code == "" {
		return Person{}, nil, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "the identity provider sent no authorization code")
	}
	ctx = c.oidc.context(ctx)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Person{}, nil, &auditkeep.Error{Code: auditkeep.EUNAUTHORIZED, Message: "the identity provider refused the authorization code", Err: err}
		}
		return Person{}, nil, &auditkeep.Error{Code: auditkeep.EUNAVAILABLE, Message: "the identity provider cannot be reached; try again shortly", Err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Person{}, nil, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "the identity provider sent no ID token")
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return Person{}, nil, &auditkeep.Error{Code: auditkeep.EUNAUTHORIZED, Message: "the ID token did not verify", Err: err}
	}
	if !tokensEqual(idt.Nonce, f.Nonce) {
		return Person{}, nil, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "the ID token is not this sign-in's (nonce mismatch)")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return Person{}, nil, &auditkeep.Error{Code: auditkeep.EUNAUTHORIZED, Message: "the ID token's claims cannot be read", Err: err}
	}
	who := Person{Subject: idt.Subject}
	who.Email, _ = claims["email"].(string)
	who.Name, _ = claims["name"].(string)
	if who.Name == "" {
		who.Name, _ = claims["preferred_username"].(string)
	}
	return who, claims, nil
}

// signInPerson starts the person's session in the tenant. The answer is a
// page that moves on to next by itself: the session cookie is SameSite=
// Strict, so a browser arriving from the provider's site would not send it
// along a redirect; a navigation from this page is same-site.
func (c *Console) signInPerson(w http.ResponseWriter, r *http.Request, who Person, tenant, role, next string) {
	rec := &auditkeep.Session{Tenant: tenant, Subject: who.Subject, Name: who.Name, Email: who.Email, Role: role}
	value, ttl, err := c.startSession(r, "", rec)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	setCookie(w, r, sessionCookie, value, int(ttl/time.Second))
	setFlowCookie(w, r, chooseCookie, "", -1)
	c.log.Info("console: signed in through the identity provider", "tenant", tenant, "subject", who.Subject, "role", role)
	c.b.PersonSignedIn(r, rec)
	b := c.base(nil, "Signed in")
	c.render(w, r, http.StatusOK, "signedin", signedInPage{base: b, Next: safeNext(next), Who: who.label(), InTenant: tenant, AsRole: role}, false)
}

// The pages of a sign-in name the person Who: base's Person and Role are
// the header's, for pages of a session.
type signedInPage struct {
	base
	Next, Who, InTenant, AsRole string
}

type choicePage struct {
	base
	Who     string
	Tenants []tenantRole
}

type tenantRole struct{ Tenant, Role string }

func (c *Console) renderChoice(w http.ResponseWriter, r *http.Request, ch pendingChoice) {
	p := choicePage{base: c.base(nil, "Choose a tenant"), Who: ch.Person.label()}
	p.CSRF = ch.CSRF
	for t, role := range ch.Roles {
		p.Tenants = append(p.Tenants, tenantRole{t, role})
	}
	sort.Slice(p.Tenants, func(i, j int) bool { return p.Tenants[i].Tenant < p.Tenants[j].Tenant })
	c.render(w, r, http.StatusOK, "choose", p, false)
}

// handleChooseTenant serves POST /signin/tenant: a person with roles in
// several tenants signs in to the one picked.
func (c *Console) handleChooseTenant(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, nil, auditkeep.FieldErrorf("body", "the form could not be read"))
		return
	}
	var ch pendingChoice
	err := c.openCookie(r, chooseCookie, &ch)
	switch {
	case err != nil && !errors.Is(err, errNoSession):
		c.fail(w, r, nil, err)
		return
	case err != nil || !c.Now().Before(ch.Expires) || crossSite(r) || !tokensEqual(ch.CSRF, r.PostForm.Get("csrf")):
		c.refuse(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in was started too long ago or in another browser. Start it again.", nil, true)
		return
	}
	tenant := r.PostForm.Get("tenant")
	role, ok := ch.Roles[tenant]
	if !ok {
		c.fail(w, r, nil, auditkeep.FieldErrorf("tenant", "tenant: you have no role in %q", tenant))
		return
	}
	c.signInPerson(w, r, ch.Person, tenant, role, ch.Next)
}

// PersonSession returns r's console session when it is a person's, with
// the session's CSRF token, for the API's endpoints (a person has no key to
// send). ok is false when r carries no such session.
func (c *Console) PersonSession(r *http.Request) (rec *auditkeep.Session, csrf string, ok bool) {
	s, rec, err := c.readSession(r)
	if err != nil || !rec.Person() {
		return nil, "", false
	}
	return rec, s.CSRF, true
}

// PersonRoleNote says what a role may not do, for pages that offer it.
func roleLacks(role, what string) string {
	var can []string
	for _, r := range auditkeep.Roles {
		if slices.Contains(auditkeep.RoleScopes(r), what) {
			can = append(can, r)
		}
	}
	return fmt.Sprintf("needs the %s role; yours is %s", strings.Join(can, " or "), role)
}
