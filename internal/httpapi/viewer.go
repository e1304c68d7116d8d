package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ijson"
	"github.com/auditkeep/auditkeep/internal/search"
)

// Viewer tokens: short-lived, read-only credentials bound to one tenant and
// fixed filters, for embedding the console's viewer in another product.
//
// A token is "vt_" + base64url(payload) + "." + base64url(HMAC-SHA256(secret,
// payload)), where the payload is JSON holding the tenant, the filter
// parameters and the expiry, and the secret is the server-wide setting
// viewer_token_secret (the same on every node sharing a database).
const (
	viewerTokenPrefix  = "vt_"
	viewerSecretName   = "viewer_token_secret"
	maxViewerTTL       = 24 * time.Hour
	defaultViewerTTL   = time.Hour
	scopeReadOrViewer  = "read_or_viewer" // a read key, or a viewer token whose filters are enforced
	viewerTokenVersion = 1
)

// viewerGrant is what a valid viewer token allows.
type viewerGrant struct {
	tenant  string
	params  url.Values       // the fixed filter parameters, as given
	filter  auditkeep.Filter // params parsed
	expires time.Time
}

type viewerPayload struct {
	V int    `json:"v"`
	T string `json:"t"` // tenant
	F string `json:"f"` // filter parameters, URL-encoded
	E int64  `json:"e"` // expiry, Unix seconds
	N string `json:"n"` // nonce
}

// constrain returns f AND-ed with the principal's fixed filters: f itself for
// keys, f narrowed to the token's filters for a viewer token. Returns EINVALID
// naming "q" when f's time range lies outside the token's.
func (p principal) constrain(f auditkeep.Filter) (auditkeep.Filter, error) {
	if p.viewer == nil {
		return f, nil
	}
	return search.Merge(f, p.viewer.filter)
}

// parseViewerFilters validates fixed filter parameters (as GET /v1/events
// takes them, q included) and returns their filter. Paging parameters are
// refused. Returns EINVALID naming the parameter.
func parseViewerFilters(params url.Values) (auditkeep.Filter, error) {
	for name := range params {
		switch name {
		case "limit", "cursor", "order", "sort", "format", "viewer_token", "with_proofs":
			return auditkeep.Filter{}, auditkeep.FieldErrorf("filters."+name, "%s is not a filter a viewer token can fix", name)
		}
	}
	f, err := auditkeep.ParseFilterParams(params)
	if err != nil {
		if e, ok := err.(*auditkeep.Error); ok && e.Field != "" {
			e.Field = "filters." + e.Field
		}
		return f, err
	}
	if text := params.Get("q"); text != "" {
		g, err := search.Parse(text)
		if err != nil {
			return f, &auditkeep.Error{Code: auditkeep.EINVALID, Field: "filters.q", Message: auditkeep.ErrorMessage(err)}
		}
		if f, err = search.Merge(f, g); err != nil {
			return f, err
		}
	}
	return f, nil
}

// filterParams reads a body's "filters" object: each member a string or
// an array of strings, as the query parameters of GET /v1/events. Returns
// EINVALID naming "filters.<name>".
func filterParams(filters map[string]json.RawMessage) (url.Values, error) {
	params := url.Values{}
	for name, raw := range filters {
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			params.Add(name, one)
		case json.Unmarshal(raw, &many) == nil && len(many) > 0:
			params[name] = many
		default:
			return nil, auditkeep.FieldErrorf("filters."+name, "filters.%s must be a string or an array of strings", name)
		}
	}
	return params, nil
}

type viewerTokenRequest struct {
	Filters    map[string]json.RawMessage `json:"filters"`
	TTLSeconds *int64                     `json:"ttl_seconds"`
}

type viewerTokenResponse struct {
	Token     string            `json:"token"`
	ExpiresAt time.Time         `json:"expires_at"`
	Filters   map[string]string `json:"filters"`
}

// handleCreateViewerToken serves POST /v1/viewer-tokens (admin scope):
// {"filters": {...}, "ttl_seconds": N} → 201 {"token", "expires_at",
// "filters"}. Filter values are strings or arrays of strings; ttl_seconds is
// 1 to 86400 (3600 when absent). Returns EINVALID naming the field.
func (s *Server) handleCreateViewerToken(w http.ResponseWriter, r *http.Request) error {
	rd, err := limitBody(w, r, "body", 64<<10)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		return bodyError(err, "body", 64<<10)
	}
	var req viewerTokenRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return auditkeep.FieldErrorf("body", "body must be {\"filters\": {...}, \"ttl_seconds\": N}: %v", err)
	}
	if err := ijson.Check(body, ijson.SchemaOf(&req), ""); err != nil {
		return err
	}
	ttl := defaultViewerTTL
	if req.TTLSeconds != nil {
		if *req.TTLSeconds < 1 || *req.TTLSeconds > int64(maxViewerTTL/time.Second) {
			return auditkeep.FieldErrorf("ttl_seconds", "ttl_seconds must be from 1 to %d", int64(maxViewerTTL/time.Second))
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}
	params, err := filterParams(req.Filters)
	if err != nil {
		return err
	}
	if _, err := parseViewerFilters(params); err != nil {
		return err
	}
	tenant := principalFrom(r.Context()).tenant()
	expires := s.Now().Add(ttl).UTC().Truncate(time.Second)
	token, err := s.signViewerToken(r.Context(), tenant, params, expires)
	if err != nil {
		return err
	}
	shown := map[string]string{}
	for name, vals := range params {
		shown[name] = strings.Join(vals, ",")
	}
	s.recordLogged(r, tenant, Audit{Action: "viewer_token.create", Type: auditkeep.TypeCreate,
		Target:      &auditkeep.Target{Type: "viewer_token", ID: "vt_" + HashKey(token)[:16]},
		Description: "Created a viewer link valid until " + expires.Format(time.RFC3339),
		Metadata:    map[string]any{"filters": shown, "expires_at": expires}})
	writeJSON(w, http.StatusCreated, viewerTokenResponse{Token: token, ExpiresAt: expires, Filters: shown})
	return nil
}

func (s *Server) signViewerToken(ctx context.Context, tenant string, params url.Values, expires time.Time) (string, error) {
	secret, err := s.browser.secrets.get(ctx, s.store, viewerSecretName)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, 9)
	rand.Read(nonce)
	payload, err := json.Marshal(viewerPayload{V: viewerTokenVersion, T: tenant, F: params.Encode(), E: expires.Unix(),
		N: base64.RawURLEncoding.EncodeToString(nonce)})
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return viewerTokenPrefix + p + "." + base64.RawURLEncoding.EncodeToString(viewerMAC(secret, p)), nil
}

func viewerMAC(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("auditkeep viewer token\n"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// viewerPrincipal checks a viewer token. Returns EUNAUTHORIZED when it is
// malformed, forged or expired, EUNAVAILABLE when the secret cannot be read.
func (s *Server) viewerPrincipal(ctx context.Context, token string) (principal, error) {
	bad := auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "viewer token is not valid")
	rest := strings.TrimPrefix(token, viewerTokenPrefix)
	p, sig, ok := strings.Cut(rest, ".")
	if !ok || len(token) > 8<<10 {
		return principal{}, bad
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return principal{}, bad
	}
	secret, err := s.browser.secrets.get(ctx, s.store, viewerSecretName)
	if err != nil {
		return principal{}, err
	}
	if !hmac.Equal(mac, viewerMAC(secret, p)) {
		return principal{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return principal{}, bad
	}
	var pl viewerPayload
	if err := json.Unmarshal(raw, &pl); err != nil || pl.V != viewerTokenVersion || pl.T == "" {
		return principal{}, bad
	}
	expires := time.Unix(pl.E, 0)
	if !s.Now().Before(expires) {
		return principal{}, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "viewer token expired at %s", expires.UTC().Format(time.RFC3339))
	}
	params, err := url.ParseQuery(pl.F)
	if err != nil {
		return principal{}, bad
	}
	f, err := parseViewerFilters(params)
	if err != nil {
		return principal{}, bad
	}
	return principal{viewer: &viewerGrant{tenant: pl.T, params: params, filter: f, expires: expires}}, nil
}

// withBrowserCredential lets the console's browser requests authenticate
// without an Authorization header: a viewer_token query parameter, or the
// console's session cookie on a same-origin request. It returns r with the
// credential as a bearer header, or r unchanged, and the ID of the console
// session whose cookie gave the credential ("" when none did).
func (s *Server) withBrowserCredential(r *http.Request) (*http.Request, string) {
	if r.Header.Get("Authorization") != "" || r.Method != http.MethodGet {
		return r, ""
	}
	cred := r.URL.Query().Get("viewer_token")
	if cred != "" && !strings.HasPrefix(cred, viewerTokenPrefix) {
		return r, ""
	}
	var session string
	if cred == "" && s.browser.console != nil && sameOrigin(r) {
		cred, session, _ = s.browser.console.Credential(r)
	}
	if cred == "" {
		return r, ""
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+cred)
	return r2, session
}

// sameOrigin reports whether a browser sent r from this origin: by
// Sec-Fetch-Site where the browser sends it, else by Origin.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a cross-origin fetch: browsers send Origin on those
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// secretCache holds server-wide secrets, generated once per database with
// InitSetting so that every node agrees.
type secretCache struct {
	mu     sync.Mutex
	values map[string][]byte
}

// get returns the 32-byte secret called name, creating it on first use.
// Returns EUNAVAILABLE when storage fails (and tries again next time).
func (c *secretCache) get(ctx context.Context, store Store, name string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.values[name]; ok {
		return v, nil
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	v, err := store.InitSetting(ctx, "", name, []byte(base64.RawStdEncoding.EncodeToString(fresh)))
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	secret, err := base64.RawStdEncoding.DecodeString(string(v))
	if err != nil || len(secret) < 32 {
		return nil, fmt.Errorf("secret %s is malformed in storage", name)
	}
	if c.values == nil {
		c.values = map[string][]byte{}
	}
	c.values[name] = secret
	return secret, nil
}

// viewerParams returns a copy of a viewer grant's fixed filter parameters.
func (g *viewerGrant) viewerParams() url.Values {
	out := url.Values{}
	for k, v := range g.params {
		out[k] = slices.Clone(v)
	}
	return out
}
