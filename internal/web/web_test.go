package web_test

import (
	"context"
	"encoding/json"
	"html/template"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/search"
	"github.com/auditkeep/auditkeep/internal/web"
)

// fakeBackend serves fixed events to one key and one viewer token.
type fakeBackend struct {
	events   []*auditkeep.Event
	queries  []url.Values
	mu       sync.Mutex
	sessions map[string]auditkeep.Session
	proofs   map[string]*web.Proof // by event id; none: not integrated
	idle     time.Duration         // the session timeouts SessionTimeouts answers
	absolute time.Duration
	signIns  []string // the failure of each recorded sign-in; "" for a success
}

const (
	goodKey   = "ak_good"
	exportKey = "ak_export"
	viewerTok = "vt_good"
)

func (b *fakeBackend) IdentifyPerson(ctx context.Context, s *auditkeep.Session) (*web.Identity, error) {
	return nil, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "no people here")
}

func (b *fakeBackend) PersonSignedIn(r *http.Request, s *auditkeep.Session) {}

func (b *fakeBackend) PersonRoles(ctx context.Context, claims map[string]any) (map[string]string, error) {
	return nil, nil
}

func (b *fakeBackend) Identify(ctx context.Context, cred string) (*web.Identity, error) {
	switch cred {
	case goodKey:
		return &web.Identity{Tenant: "acme", KeyID: "key_good", Name: "laptop", Scopes: []string{"read"}}, nil
	case exportKey:
		return &web.Identity{Tenant: "acme", KeyID: "key_export", Name: "ops", Scopes: []string{"read", "export"}}, nil
	case viewerTok:
		return &web.Identity{Tenant: "acme", Viewer: true, Locked: url.Values{"target_id": {"env_7"}}, Expires: time.Now().Add(time.Hour)}, nil
	}
	return nil, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "unknown API key")
}

func (b *fakeBackend) List(ctx context.Context, id *web.Identity, q url.Values) (web.Page, error) {
	b.queries = append(b.queries, q)
	if q.Get("type") == "mutate" {
		return web.Page{}, auditkeep.FieldErrorf("type", "type %q is not valid", "mutate")
	}
	if q.Has("q") {
		if _, err := search.Parse(q.Get("q")); err != nil {
			return web.Page{}, err
		}
	}
	if q.Has("target_id") && q.Has("to") {
		// The target's events of a span of time, as the store lists them.
		var out []*auditkeep.Event
		for _, e := range b.events {
			if e.Target == nil || e.Target.Type != q.Get("target_type") || e.Target.ID != q.Get("target_id") {
				continue
			}
			if !within(e.OccurredAt, q.Get("from"), q.Get("to")) {
				continue
			}
			if id.Viewer && e.Target.ID != id.Locked.Get("target_id") {
				continue
			}
			out = append(out, e)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Seq > out[j].Seq })
		return web.Page{Events: out}, nil
	}
	return web.Page{Events: b.events, Next: "next-cursor"}, nil
}

// within reports whether t lies in [from, to] ("" bounds nothing).
func within(t time.Time, from, to string) bool {
	if f, err := time.Parse(time.RFC3339Nano, from); err == nil && t.Before(f) {
		return false
	}
	if u, err := time.Parse(time.RFC3339Nano, to); err == nil && t.After(u) {
		return false
	}
	return true
}

func (b *fakeBackend) Get(ctx context.Context, id *web.Identity, eventID string) (*auditkeep.Event, error) {
	for _, e := range b.events {
		if e.ID == eventID && (!id.Viewer || e.Target != nil && e.Target.ID == id.Locked.Get("target_id")) {
			return e, nil
		}
	}
	return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "event not found")
}

func (b *fakeBackend) Proof(ctx context.Context, id *web.Identity, eventID string) (*web.Proof, error) {
	if id.Viewer {
		return nil, auditkeep.Errorf(auditkeep.EFORBIDDEN, "inclusion proofs need a key with the read scope")
	}
	if _, err := b.Get(ctx, id, eventID); err != nil {
		return nil, err
	}
	if p := b.proofs[eventID]; p != nil {
		return p, nil
	}
	return &web.Proof{}, nil
}

// Facets lists the target types or targets of the fixed events.
func (b *fakeBackend) Facets(ctx context.Context, id *web.Identity, q url.Values) ([]auditkeep.Facet, bool, error) {
	b.queries = append(b.queries, q)
	counts := map[string]int64{}
	var out []auditkeep.Facet
	for _, e := range b.events {
		if e.Target == nil || (q.Has("target_type") && e.Target.Type != q.Get("target_type")) {
			continue
		}
		v, name := e.Target.Type, e.Target.Type
		if q.Get("field") == "target" {
			v, name = e.Target.ID, e.Target.Name
		}
		if counts[v]++; counts[v] == 1 {
			out = append(out, auditkeep.Facet{ID: v, Name: name})
		}
	}
	for i := range out {
		out[i].Count = counts[out[i].ID]
	}
	return out, false, nil
}

func (b *fakeBackend) Export(w http.ResponseWriter, r *http.Request, id *web.Identity, format string, q url.Values) {
	io.WriteString(w, format+" "+q.Encode())
}

// Status maps codes as the API's table does.
func (b *fakeBackend) Status(err error) int {
	switch auditkeep.ErrorCode(err) {
	case auditkeep.EINVALID:
		return http.StatusBadRequest
	case auditkeep.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case auditkeep.EFORBIDDEN:
		return http.StatusForbidden
	case auditkeep.ENOTFOUND:
		return http.StatusNotFound
	case auditkeep.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (b *fakeBackend) Secret(ctx context.Context, name string) ([]byte, error) {
	return []byte(strings.Repeat("s", 32)), nil
}

func (b *fakeBackend) CreateSession(ctx context.Context, s *auditkeep.Session) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sessions == nil {
		b.sessions = map[string]auditkeep.Session{}
	}
	b.sessions[s.ID] = *s
	return nil
}

func (b *fakeBackend) GetSession(ctx context.Context, id string) (*auditkeep.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.sessions[id]
	if !ok {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "session not found")
	}
	return &s, nil
}

func (b *fakeBackend) DeleteSession(ctx context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.sessions, id)
	return nil
}

func (b *fakeBackend) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.sessions)
	maps.DeleteFunc(b.sessions, func(_ string, s auditkeep.Session) bool { return s.ExpiresAt.Before(now) })
	return n - len(b.sessions), nil
}

func (b *fakeBackend) TouchSession(ctx context.Context, id string, seen, expires time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.sessions[id]
	if !ok {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "session not found")
	}
	s.LastSeenAt, s.ExpiresAt = seen.Truncate(time.Minute), expires
	b.sessions[id] = s
	return nil
}

// SessionTimeouts answers the tenant's timeouts: idle none, the console's
// own longest session, unless the test set others.
func (b *fakeBackend) SessionTimeouts(ctx context.Context, tenant string) (idle, absolute time.Duration, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.idle, b.absolute, nil
}

func (b *fakeBackend) SignedIn(r *http.Request, cred, failure string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.signIns = append(b.signIns, failure)
}

// The admin pages' backend: the console's own tests have no keys to list
// (cmd/auditkeep's console tests page through real ones).
func (b *fakeBackend) Keys(ctx context.Context, id *web.Identity) ([]*auditkeep.APIKey, error) {
	return nil, auditkeep.Errorf(auditkeep.EFORBIDDEN, "no admin here")
}

func (b *fakeBackend) Sessions(ctx context.Context, id *web.Identity) ([]web.SessionInfo, error) {
	return nil, auditkeep.Errorf(auditkeep.EFORBIDDEN, "no admin here")
}

func (b *fakeBackend) Revoke(r *http.Request, id *web.Identity, kind, targetID string) error {
	return auditkeep.Errorf(auditkeep.EFORBIDDEN, "no admin here")
}

// sessionCount returns how many sessions the backend holds.
func (b *fakeBackend) sessionCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

// hostile is an event whose every text field attacks the page.
func hostile(id string) *auditkeep.Event {
	x := `<script>window.__pwned=1</script><img src=x onerror="document.title='pwned'">`
	return &auditkeep.Event{
		Tenant: "acme", Seq: 7, ID: id, OccurredAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC),
		Action: "env.update", Type: "update", Status: "failure",
		Actor:  auditkeep.Actor{Type: "user", ID: "javascript:alert(1)", Name: x, Email: `"><svg onload=alert(1)>`},
		Target: &auditkeep.Target{Type: "environment", ID: "env_7", Name: x, Deleted: true},
		Scope:  []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1", Name: x}},
		Team:   x, Source: "javascript:alert(1)", Context: auditkeep.Context{IP: "203.0.113.7", UserAgent: x},
		Description: x,
		Changes: []auditkeep.Change{{Field: "env.SECRET", Op: "changed", Old: json.RawMessage(`"hmac-sha256:aa"`), New: json.RawMessage(`"hmac-sha256:bb"`)},
			{Field: x, Op: "changed", Old: json.RawMessage(`"` + strings.ReplaceAll(x, `"`, `\"`) + `"`), New: json.RawMessage(`1`)}},
		Snapshot: json.RawMessage(`{"name":"</pre><script>window.__pwned=1</script>"}`),
	}
}

func newConsole(t *testing.T, b *fakeBackend) *httptest.Server {
	t.Helper()
	return serveConsole(t, web.New(b, slog.New(slog.NewTextHandler(io.Discard, nil))))
}

// serveConsole serves c's routes on loopback.
func serveConsole(t *testing.T, c *web.Console) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for _, r := range c.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// client returns a browser-like client signed in with key.
func client(t *testing.T, srv *httptest.Server, key string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if key == "" {
		return c
	}
	res, err := c.Get(srv.URL + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	csrf := formValue(t, body, "csrf")
	res, err = c.PostForm(srv.URL+"/signin", url.Values{"csrf": {csrf}, "key": {key}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", res.StatusCode)
	}
	return c
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func formValue(t *testing.T, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s field in %s", name, body)
	}
	return m[1]
}

func TestHostileContentIsText(t *testing.T) {
	b := &fakeBackend{events: []*auditkeep.Event{hostile("e1")}}
	srv := newConsole(t, b)
	c := client(t, srv, goodKey)
	for _, path := range []string{"/", "/events/e1", "/?viewer_token=" + viewerTok, "/events/e1?viewer_token=" + viewerTok} {
		res, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, res)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s = %d", path, res.StatusCode)
		}
		for _, bad := range []string{"<script>window", "<img src=x", "<svg", `href="javascript:`, "</pre><script>"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: page holds %q unescaped", path, bad)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;window.__pwned=1&lt;/script&gt;") {
			t.Errorf("GET %s: the payload is not shown as escaped text", path)
		}
		// Every link is internal.
		for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(body, -1) {
			if m[1] != "#main" && (!strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//")) {
				t.Errorf("GET %s: link %q leaves the console", path, m[1])
			}
		}
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP %q allows inline code", path, csp)
		}
		viewer := strings.Contains(path, "viewer_token")
		if got := strings.Contains(csp, "frame-ancestors 'none'"); got == viewer {
			t.Errorf("GET %s: CSP %q; framing should be allowed only in viewer mode", path, csp)
		}
		if viewer == (res.Header.Get("X-Frame-Options") == "DENY") {
			t.Errorf("GET %s: X-Frame-Options %q", path, res.Header.Get("X-Frame-Options"))
		}
	}
	res, _ := c.Get(srv.URL + "/events/e1")
	body := readAll(t, res)
	if strings.Contains(body, "hmac-sha256:") || !strings.Contains(body, `class="hidden-value">hidden`) {
		t.Errorf("redacted change values are not shown as hidden")
	}
	if !strings.Contains(body, "deleted") {
		t.Errorf("the deleted target is not marked")
	}
}

func TestFilterParameters(t *testing.T) {
	b := &fakeBackend{}
	srv := newConsole(t, b)
	c := client(t, srv, goodKey)
	tests := []struct {
		query string
		want  url.Values // parameters the API gets (from checked separately)
	}{
		{"target_id=env_7", url.Values{"target_id": {"env_7"}}},
		{"s1=project:prj_1&s2=environment:env_7&type=update&q=actor:alice", url.Values{"scope": {"project:prj_1/environment:env_7"}, "type": {"update"}, "q": {"actor:alice"}}},
		{"scope=project:prj_1/environment:env_7", url.Values{"scope": {"project:prj_1/environment:env_7"}}},
		{"status=&ip=10.0.0.0/8&team=+platform+", url.Values{"ip": {"10.0.0.0/8"}, "team": {"platform"}}},
		{"range=custom&from=2026-11-01T10:00&to=2026-11-02", url.Values{"from": {"2026-11-01T10:00:00Z"}, "to": {"2026-11-02"}}},
		{"cursor=abc", url.Values{"cursor": {"abc"}}},
	}
	for _, tt := range tests {
		b.queries = nil
		res, err := c.Get(srv.URL + "/?" + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, res)
		if len(b.queries) == 0 {
			t.Fatalf("GET /?%s made no query", tt.query)
		}
		if got := b.queries[0]; got.Encode() != tt.want.Encode() {
			t.Errorf("GET /?%s queried %q; want %q", tt.query, got.Encode(), tt.want.Encode())
		}
	}
	b.queries = nil
	res, _ := c.Get(srv.URL + "/?range=24h")
	readAll(t, res)
	from, err := time.Parse(time.RFC3339, b.queries[0].Get("from"))
	if d := time.Since(from); err != nil || d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("range=24h queried from=%q; want about 24 hours ago", b.queries[0].Get("from"))
	}
	res, _ = c.Get(srv.URL + "/?type=mutate")
	if body := readAll(t, res); res.StatusCode != 400 || !strings.Contains(body, "type") {
		t.Errorf("bad filter: %d; want 400 naming the field", res.StatusCode)
	}
	// The field is named once, and the length error has no position.
	for _, tt := range []struct{ query, want string }{
		{"type=mutate", `<p class="error" role="alert" id="filter-error">type &#34;mutate&#34; is not valid</p>`},
		{"q=actr:alice", `<p class="error" role="alert" id="filter-error">Search: unknown key &#34;actr&#34; at 0; did you mean &#34;actor&#34;?</p>`},
		{"q=" + strings.Repeat("x", search.MaxQueryLen+1), `<p class="error" role="alert" id="filter-error">Search: query is longer than 2000 bytes</p>`},
	} {
		res, _ = c.Get(srv.URL + "/?" + tt.query)
		if body := readAll(t, res); !strings.Contains(body, tt.want) {
			t.Errorf("GET /?%.40s: no %s in the page", tt.query, tt.want)
		}
	}
	res, _ = c.Get(srv.URL + "/")
	if body := readAll(t, res); !strings.Contains(body, `maxlength="2000"`) {
		t.Errorf("the search box has no maxlength")
	}
	res, _ = c.Get(srv.URL + "/?range=custom&from=yesterday")
	if readAll(t, res); res.StatusCode != 400 {
		t.Errorf("bad custom time: %d; want 400", res.StatusCode)
	}
}

func TestSessionAndCSRF(t *testing.T) {
	b := &fakeBackend{}
	srv := newConsole(t, b)
	anon := client(t, srv, "")
	res, _ := anon.Get(srv.URL + "/?target_id=env_7")
	readAll(t, res)
	if loc := res.Header.Get("Location"); res.StatusCode != 303 || !strings.HasPrefix(loc, "/signin?next=") {
		t.Errorf("signed out GET / = %d %q; want a redirect to sign in", res.StatusCode, loc)
	}
	// No CSRF token, or a wrong one: refused.
	for _, form := range []url.Values{{"key": {goodKey}}, {"key": {goodKey}, "csrf": {"forged"}}} {
		res, _ = anon.PostForm(srv.URL+"/signin", form)
		readAll(t, res)
		if res.StatusCode != 403 {
			t.Errorf("sign in with %v = %d; want 403", form, res.StatusCode)
		}
	}
	res, _ = anon.Get(srv.URL + "/signin")
	csrf := formValue(t, readAll(t, res), "csrf")
	res, _ = anon.PostForm(srv.URL+"/signin", url.Values{"csrf": {csrf}, "key": {"ak_wrong"}})
	if body := readAll(t, res); res.StatusCode != 401 || !strings.Contains(body, "not valid") {
		t.Errorf("sign in with a wrong key = %d; want 401", res.StatusCode)
	}
	// A cross-site form is refused even with the token.
	req, _ := http.NewRequest("POST", srv.URL+"/signin", strings.NewReader(url.Values{"csrf": {csrf}, "key": {goodKey}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	res, _ = anon.Do(req)
	if readAll(t, res); res.StatusCode != 403 {
		t.Errorf("cross-site sign in = %d; want 403", res.StatusCode)
	}
	res, _ = anon.PostForm(srv.URL+"/signin", url.Values{"csrf": {csrf}, "key": {goodKey}, "next": {"//evil.example/"}})
	readAll(t, res)
	if res.StatusCode != 303 || res.Header.Get("Location") != "/" {
		t.Fatalf("sign in = %d to %q; want 303 to /", res.StatusCode, res.Header.Get("Location"))
	}
	var sess *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "auditkeep_session" {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || strings.Contains(sess.Value, goodKey) {
		t.Fatalf("session cookie %+v; want HttpOnly, SameSite=Strict, the key sealed", sess)
	}
	res, _ = anon.Get(srv.URL + "/")
	body := readAll(t, res)
	if res.StatusCode != 200 || !strings.Contains(body, "laptop") {
		t.Fatalf("signed in GET / = %d", res.StatusCode)
	}
	// A tampered cookie is no session.
	bad := &http.Client{CheckRedirect: anon.CheckRedirect}
	req, _ = http.NewRequest("GET", srv.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: "auditkeep_session", Value: sess.Value[:len(sess.Value)-3] + "AAA"})
	res, _ = bad.Do(req)
	if readAll(t, res); res.StatusCode != 303 {
		t.Errorf("tampered session cookie: %d; want a redirect to sign in", res.StatusCode)
	}
	// Sign out needs the session's token.
	res, _ = anon.PostForm(srv.URL+"/signout", url.Values{"csrf": {csrf}})
	if readAll(t, res); res.StatusCode != 403 {
		t.Errorf("sign out with the wrong token = %d; want 403", res.StatusCode)
	}
	if n := b.sessionCount(); n != 1 {
		t.Fatalf("signed in, the store holds %d sessions; want 1", n)
	}
	res, _ = anon.PostForm(srv.URL+"/signout", url.Values{"csrf": {formValue(t, body, "csrf")}})
	readAll(t, res)
	if res.StatusCode != 303 {
		t.Errorf("sign out = %d; want 303", res.StatusCode)
	}
	res, _ = anon.Get(srv.URL + "/")
	if readAll(t, res); res.StatusCode != 303 {
		t.Errorf("after sign out GET / = %d; want a redirect to sign in", res.StatusCode)
	}
	// The cookie saved before sign-out opens nothing: the store forgot it.
	if n := b.sessionCount(); n != 0 {
		t.Errorf("after sign out, the store holds %d sessions; want 0", n)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: "auditkeep_session", Value: sess.Value})
	res, _ = bad.Do(req)
	if readAll(t, res); res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/signin") {
		t.Errorf("the saved cookie after sign out: GET / = %d to %q; want a redirect to sign in", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestSessionExpires: a session past its TTL is refused, removed from the
// store, and the next sign-in sweeps the store's other expired sessions.
func TestSessionExpires(t *testing.T) {
	b := &fakeBackend{}
	c := web.New(b, slog.New(slog.DiscardHandler))
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	c.Now = func() time.Time { return now }
	srv := serveConsole(t, c)
	first, second := client(t, srv, goodKey), client(t, srv, goodKey)
	now = now.Add(c.SessionTTL - time.Second)
	for _, cl := range []*http.Client{first, second} {
		res, _ := cl.Get(srv.URL + "/")
		if readAll(t, res); res.StatusCode != 200 {
			t.Fatalf("a second before expiry GET / = %d; want 200", res.StatusCode)
		}
	}
	now = now.Add(time.Second)
	res, _ := first.Get(srv.URL + "/")
	readAll(t, res)
	if res.StatusCode != 303 || res.Header.Get("Location") != "/signin?expired=1" {
		t.Errorf("at expiry GET / = %d to %q; want 303 to /signin?expired=1", res.StatusCode, res.Header.Get("Location"))
	}
	if n := b.sessionCount(); n != 1 {
		t.Errorf("after an expired session was refused, the store holds %d sessions; want 1", n)
	}
	now = now.Add(time.Second)
	client(t, srv, exportKey)
	if n := b.sessionCount(); n != 1 {
		t.Errorf("after a sign-in, the store holds %d sessions; want 1 (the expired one swept)", n)
	}
	res, _ = second.Get(srv.URL + "/")
	if readAll(t, res); res.StatusCode != 303 {
		t.Errorf("the swept session: GET / = %d; want a redirect to sign in", res.StatusCode)
	}
}

func TestExport(t *testing.T) {
	b := &fakeBackend{}
	srv := newConsole(t, b)
	reader := client(t, srv, goodKey)
	res, _ := reader.Get(srv.URL + "/")
	if body := readAll(t, res); !strings.Contains(body, "lacks") || strings.Contains(body, `id="export-csv"`) {
		t.Errorf("a key without the export scope gets an export link or no explanation")
	}
	res, _ = reader.Get(srv.URL + "/export?format=csv")
	if readAll(t, res); res.StatusCode != 403 {
		t.Errorf("export without the scope = %d; want 403", res.StatusCode)
	}
	exporter := client(t, srv, exportKey)
	res, _ = exporter.Get(srv.URL + "/?target_id=env_7&s1=project:prj_1")
	body := readAll(t, res)
	m := regexp.MustCompile(`id="export-csv" href="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no export link")
	}
	href := strings.ReplaceAll(m[1], "&amp;", "&")
	res, _ = exporter.Get(srv.URL + href)
	if got := readAll(t, res); got != "csv scope=project%3Aprj_1&target_id=env_7" {
		t.Errorf("export of the view = %q; want csv of exactly its filters", got)
	}
}

// TestSignInNextStaysOnSite signs in with hostile next values: each one
// sends the browser to "/", both in the form and in the redirect.
func TestSignInNextStaysOnSite(t *testing.T) {
	srv := newConsole(t, &fakeBackend{})
	for _, tc := range []struct{ next, want string }{
		{"/events/e1?q=a", "/events/e1?q=a"},
		{"/x\\y", "/x\\y"},
		{"/%5Cevil.example", "/%5Cevil.example"},
		{"", "/"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\/evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"\t//evil.example", "/"},
		{" //evil.example", "/"},
		{" /x", "/"},
		{"/x ", "/"},
		{"/x\n", "/"},
		{"/x\x00", "/"},
		{"\x01//evil.example", "/"},
		{"/x\x7f", "/"},
		{"/\u00a0/evil.example", "/"},
		{"/\u3000/evil.example", "/"},
		{"/\ufeff/evil.example", "/"},
		{"/x\xff", "/"},
		{"https://evil.example", "/"},
		{"http:evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"/v1/events", "/"},
	} {
		c := client(t, srv, "")
		res, err := c.Get(srv.URL + "/signin?next=" + url.QueryEscape(tc.next))
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, res)
		if got := formValue(t, body, "next"); got != template.HTMLEscapeString(tc.want) {
			t.Errorf("GET /signin?next=%q: form next = %q; want %q", tc.next, got, tc.want)
		}
		res, err = c.PostForm(srv.URL+"/signin", url.Values{"csrf": {formValue(t, body, "csrf")}, "key": {goodKey}, "next": {tc.next}})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, res)
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != tc.want {
			t.Errorf("sign in with next %q = %d to %q; want 303 to %q", tc.next, res.StatusCode, loc, tc.want)
		}
	}
}

// TestSignInErrorTiedToField checks that a refused key marks the key field
// invalid and points it at the message, for screen readers.
func TestSignInErrorTiedToField(t *testing.T) {
	srv := newConsole(t, &fakeBackend{})
	anon := client(t, srv, "")
	res, _ := anon.Get(srv.URL + "/signin")
	body := readAll(t, res)
	if strings.Contains(body, "aria-invalid") {
		t.Errorf("the sign-in form is invalid before any attempt")
	}
	res, _ = anon.PostForm(srv.URL+"/signin", url.Values{"csrf": {formValue(t, body, "csrf")}, "key": {"ak_wrong"}})
	body = readAll(t, res)
	input := regexp.MustCompile(`<input id="key"[^>]*>`).FindString(body)
	if !strings.Contains(input, `aria-invalid="true"`) || !strings.Contains(input, `aria-describedby="signin-error"`) ||
		!strings.Contains(body, `id="signin-error"`) {
		t.Errorf("refused sign-in: key field %s; want aria-invalid and aria-describedby naming the message", input)
	}
}

// TestListNamesWrapAtDots: in the list, a long name or host may wrap after
// its dots rather than inside a word, and stays escaped text.
func TestListNamesWrapAtDots(t *testing.T) {
	e := hostile("e1")
	e.Target.Name = "api-58ef46.acme.example"
	b := &fakeBackend{events: []*auditkeep.Event{e}}
	srv := newConsole(t, b)
	res, _ := client(t, srv, goodKey).Get(srv.URL + "/")
	body := readAll(t, res)
	if !strings.Contains(body, `class="target" aria-describedby="card-e1">api-58ef46.<wbr>acme.<wbr>example</a>`) {
		t.Errorf("the target name offers no break after its dots")
	}
	if !strings.Contains(body, `&lt;script&gt;window.__<wbr>pwned=1&lt;/<wbr>script&gt;`) || strings.Contains(body, "<script>window") {
		t.Errorf("a hostile name is not escaped text with break points")
	}
}

// TestFilterErrorTiedToField: the field a filter error is about is marked
// invalid and described by the error; the others are not.
func TestFilterErrorTiedToField(t *testing.T) {
	srv := newConsole(t, &fakeBackend{})
	c := client(t, srv, goodKey)
	for _, tc := range []struct{ query, field string }{{"q=actr:alice", "q"}, {"type=mutate", "type"}, {"range=custom&from=someday", "from"}, {"range=forever", "range"}} {
		res, _ := c.Get(srv.URL + "/?" + tc.query)
		body := readAll(t, res)
		invalid := regexp.MustCompile(`<(input|select) id="(\w+)"[^>]*aria-invalid="true" aria-describedby="filter-error"`).FindAllStringSubmatch(body, -1)
		if len(invalid) != 1 || invalid[0][2] != tc.field || !strings.Contains(body, `id="filter-error"`) {
			t.Errorf("GET /?%s: fields marked invalid %v; want only #%s, described by the error", tc.query, invalid, tc.field)
		}
	}
}

// TestViewerBannerNames checks that the fixed filters of a viewer token
// read as names, not as raw ids.
func TestViewerBannerNames(t *testing.T) {
	b := &fakeBackend{events: []*auditkeep.Event{{
		Tenant: "acme", Seq: 3, ID: "e3", OccurredAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC),
		Action: "environment.update", Type: "update", Status: "success",
		Actor:  auditkeep.Actor{Type: "user", ID: "usr_1", Name: "Alice"},
		Target: &auditkeep.Target{Type: "environment", ID: "env_7", Name: "production"},
	}}}
	srv := newConsole(t, b)
	res, err := http.Get(srv.URL + "/?viewer_token=" + viewerTok)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	banner := regexp.MustCompile(`(?s)<section class="locked".*?</section>`).FindString(body)
	if !strings.Contains(banner, `<span class="chip-name">Target</span> environment production (env_7)`) {
		t.Errorf("viewer banner %q; want the target's name and type", banner)
	}
}

// TestEventProof: the event page tells an integrated event's leaf hash and
// checkpoint size and links its proof JSON; only an event outside the log
// reads "not yet integrated".
func TestEventProof(t *testing.T) {
	in, out := hostile("in"), hostile("out")
	proofJSON := `{"seq":7,"leaf_hash":"ab12","tree_size":9,"proof":["cd34"]}` + "\n"
	b := &fakeBackend{events: []*auditkeep.Event{in, out},
		proofs: map[string]*web.Proof{"in": {Integrated: true, LeafHash: "ab12", TreeSize: 9, JSON: []byte(proofJSON)}}}
	srv := newConsole(t, b)
	c := client(t, srv, goodKey)

	res, _ := c.Get(srv.URL + "/events/in")
	body := readAll(t, res)
	for _, want := range []string{`id="leaf-hash">ab12<`, `id="tree-size">tree size 9<`, `href="/events/in/proof" id="proof-link"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /events/in lacks %q", want)
		}
	}
	if strings.Contains(body, "Not yet integrated") {
		t.Errorf("GET /events/in says the integrated event is not integrated")
	}
	res, _ = c.Get(srv.URL + "/events/in/proof")
	if got := readAll(t, res); res.StatusCode != 200 || got != proofJSON || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /events/in/proof = %d %s %q; want 200 JSON %q", res.StatusCode, res.Header.Get("Content-Type"), got, proofJSON)
	}

	res, _ = c.Get(srv.URL + "/events/out")
	if body := readAll(t, res); !strings.Contains(body, "Not yet integrated") || strings.Contains(body, `id="leaf-hash"`) {
		t.Errorf("GET /events/out does not say the event is not integrated yet")
	}
	res, _ = c.Get(srv.URL + "/events/out/proof")
	if readAll(t, res); res.StatusCode != 404 {
		t.Errorf("GET /events/out/proof = %d; want 404", res.StatusCode)
	}
	res, _ = c.Get(srv.URL + "/events/nope/proof")
	if readAll(t, res); res.StatusCode != 404 {
		t.Errorf("GET /events/nope/proof = %d; want 404", res.StatusCode)
	}

	// A viewer token reads no proofs, and is told so rather than "not integrated".
	res, _ = c.Get(srv.URL + "/events/in?viewer_token=" + viewerTok)
	if body := readAll(t, res); strings.Contains(body, "Not yet integrated") || !strings.Contains(body, "read scope") {
		t.Errorf("viewer's event page does not explain why no proof is shown")
	}
	res, _ = c.Get(srv.URL + "/events/in/proof?viewer_token=" + viewerTok)
	if readAll(t, res); res.StatusCode != 403 {
		t.Errorf("viewer's GET /events/in/proof = %d; want 403", res.StatusCode)
	}
}

// envUpdate is an update of environment env at the given time, with seq.
func envUpdate(id string, seq int64, env string, at time.Time, snapshot string) *auditkeep.Event {
	return &auditkeep.Event{Tenant: "acme", Seq: seq, ID: id, OccurredAt: at, Action: "environment.update", Type: "update", Status: "success",
		Actor:       auditkeep.Actor{Type: "user", ID: "usr_1", Name: "Alice Martin"},
		Target:      &auditkeep.Target{Type: "environment", ID: env, Name: env},
		Description: "Updated environment " + id, Snapshot: json.RawMessage(snapshot)}
}

// compareRows returns the rows of the page's comparison table as
// "field | change | old | new" lines.
func compareRows(body string) []string {
	i := strings.Index(body, `id="compare-table"`)
	if i < 0 {
		return nil
	}
	table := body[i:]
	table = table[:strings.Index(table, "</table>")]
	tags := regexp.MustCompile(`<[^>]*>`)
	var out []string
	for _, tr := range strings.Split(table, "<tr>")[2:] {
		var cells []string
		for _, c := range regexp.MustCompile(`(?s)<t[hd][^>]*>(.*?)</t[hd]>`).FindAllStringSubmatch(tr, -1) {
			cells = append(cells, strings.TrimSpace(tags.ReplaceAllString(c[1], "")))
		}
		out = append(out, strings.Join(cells, " | "))
	}
	return out
}

// TestComparePreviousInTime: the event page compares with the target's
// previous event in time, not the one committed before it.
func TestComparePreviousInTime(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 11, 26, h, m, 0, 0, time.UTC) }
	b := &fakeBackend{events: []*auditkeep.Event{
		envUpdate("a", 1, "env_7", at(9, 0), `{"cpu":1}`),
		envUpdate("b", 2, "env_7", at(11, 0), `{"cpu":3}`), // committed before c, happened after it
		envUpdate("c", 3, "env_7", at(10, 0), `{"cpu":2}`),
		envUpdate("d", 4, "env_7", at(10, 0), `{"cpu":4}`), // the same time as c, committed after it
		envUpdate("x", 5, "env_8", at(9, 30), `{"cpu":9}`),
		envUpdate("old", 6, "env_8", at(9, 30).Add(-400*24*time.Hour), `{"cpu":8}`),
	}}
	srv := newConsole(t, b)
	c := client(t, srv, goodKey)
	for _, tc := range []struct {
		id, prev string
		rows     []string
	}{
		{"c", "a", []string{"cpu | cpu changed from 1 to 2 | 1 | 2"}},
		{"d", "c", []string{"cpu | cpu changed from 2 to 4 | 2 | 4"}},
		{"b", "d", []string{"cpu | cpu changed from 4 to 3 | 4 | 3"}},
		{"x", "old", []string{"cpu | cpu changed from 8 to 9 | 8 | 9"}},
		{"a", "", nil},
	} {
		res, _ := c.Get(srv.URL + "/events/" + tc.id)
		body := readAll(t, res)
		m := regexp.MustCompile(`href="/events/([^"]*)" id="prev-link"`).FindStringSubmatch(body)
		got := ""
		if m != nil {
			got = m[1]
		}
		if got != tc.prev {
			t.Errorf("event %s: previous event %q; want %q", tc.id, got, tc.prev)
		}
		if rows := compareRows(body); strings.Join(rows, "\n") != strings.Join(tc.rows, "\n") {
			t.Errorf("event %s: comparison %q; want %q", tc.id, rows, tc.rows)
		}
		if tc.prev == "" && !strings.Contains(body, "first event of this target") {
			t.Errorf("event %s: no note that it is the target's first event", tc.id)
		}
	}
}

// TestComparePickedEvents compares two events a person picked, from the
// earlier to the later whatever the order picked, with the session's rights.
func TestComparePickedEvents(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 26, h, 0, 0, 0, time.UTC) }
	b := &fakeBackend{events: []*auditkeep.Event{
		envUpdate("e1", 1, "env_7", at(9), `{"name":"prod","services":[{"id":"svc_1","name":"api","replicas":2},{"id":"svc_2","name":"web"}]}`),
		envUpdate("e2", 2, "env_7", at(12), `{"name":"production","services":[{"id":"svc_1","name":"api","replicas":3},{"id":"svc_3","name":"worker"},{"id":"svc_2","name":"web"}]}`),
		envUpdate("e3", 3, "env_8", at(10), `{"name":"staging"}`),
	}}
	srv := newConsole(t, b)
	c := client(t, srv, goodKey)
	want := []string{
		"name | name changed from &#39;prod&#39; to &#39;production&#39; | prod | production",
		"services[id=svc_1].replicas | replicas of service &#39;api&#39; changed from 2 to 3 | 2 | 3",
		`services[id=svc_3] | service &#39;worker&#39; added | (absent) | {&#34;id&#34;:&#34;svc_3&#34;,&#34;name&#34;:&#34;worker&#34;}`,
	}
	for _, q := range []string{"id=e2&id=e1", "id=e1&id=e2"} {
		res, _ := c.Get(srv.URL + "/compare?" + q)
		body := readAll(t, res)
		if res.StatusCode != 200 {
			t.Fatalf("GET /compare?%s = %d", q, res.StatusCode)
		}
		rows := compareRows(body)
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("GET /compare?%s rows:\n%s\nwant:\n%s", q, strings.Join(rows, "\n"), strings.Join(want, "\n"))
		}
		earlier := strings.Index(body, "Updated environment e1")
		later := strings.Index(body, "Updated environment e2")
		if earlier < 0 || later < earlier {
			t.Errorf("GET /compare?%s does not show e1's description as the earlier, then e2's", q)
		}
	}
	for _, tc := range []struct {
		query, want string
		status      int
	}{
		{"", "Pick two events", 200},
		{"id=e1", "Enter the ID", 200},
		{"id=e1&id=nope", "No event with ID nope", 404},
		{"id=e1&id=e2&id=e3", "exactly two", 400},
		{"id=e1&id=e3", "different targets", 200},
	} {
		res, _ := c.Get(srv.URL + "/compare?" + tc.query)
		if body := readAll(t, res); res.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("GET /compare?%s = %d without %q; want %d", tc.query, res.StatusCode, tc.want, tc.status)
		}
	}
	// A viewer token compares what it may see, and nothing else.
	res, _ := c.Get(srv.URL + "/compare?id=e1&id=e2&viewer_token=" + viewerTok)
	if body := readAll(t, res); res.StatusCode != 200 || len(compareRows(body)) != len(want) {
		t.Errorf("viewer's compare = %d with %d rows; want 200 with %d", res.StatusCode, len(compareRows(body)), len(want))
	}
	res, _ = c.Get(srv.URL + "/compare?id=e1&id=e3&viewer_token=" + viewerTok)
	if body := readAll(t, res); res.StatusCode != 404 || strings.Contains(body, "staging") {
		t.Errorf("viewer's compare with an event outside its filters = %d; want 404 without its content", res.StatusCode)
	}
}
