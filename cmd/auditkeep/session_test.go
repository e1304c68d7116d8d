package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep/internal/pgtest"
)

// noRedirect answers with the redirect itself, as the tests want to see it.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// consoleSignIn signs in to the console at base with key as a browser
// would, and returns the session cookie and the signed-in page's CSRF token.
func consoleSignIn(t *testing.T, base, key string) (*http.Cookie, string) {
	t.Helper()
	c, res := postSignIn(t, base, key)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in = %d; want 303", res.StatusCode)
	}
	var session *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "auditkeep_session" {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("sign in set no session cookie")
	}
	status, _, body := consoleGet(t, c, base+"/", nil)
	if status != 200 {
		t.Fatalf("signed in GET / = %d", status)
	}
	return session, formField(t, body, "csrf")
}

// consoleGet gets u, with cookie when it is not nil, and returns the
// status, the Location header and the body.
func consoleGet(t *testing.T, c *http.Client, u string, cookie *http.Cookie) (int, string, string) {
	t.Helper()
	if c == nil {
		c = &http.Client{CheckRedirect: noRedirect}
	}
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

func formField(t *testing.T, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s field in %s", name, body)
	}
	return m[1]
}

// consoleSignOut posts the sign-out form of the session to base.
func consoleSignOut(t *testing.T, base string, session *http.Cookie, csrf string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/signout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	res, err := (&http.Client{CheckRedirect: noRedirect}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/signin" {
		t.Fatalf("sign out = %d to %q; want 303 to /signin", res.StatusCode, res.Header.Get("Location"))
	}
}

// wantSignedOut checks that a saved session cookie opens neither the
// console (a redirect to sign in) nor the API (401) at base.
func wantSignedOut(t *testing.T, base string, session *http.Cookie, after string) {
	t.Helper()
	status, loc, _ := consoleGet(t, nil, base+"/", session)
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
		t.Errorf("%s, GET / with the saved cookie = %d to %q; want 303 to /signin", after, status, loc)
	}
	if status, _, body := consoleGet(t, nil, base+"/v1/events", session); status != http.StatusUnauthorized {
		t.Errorf("%s, GET /v1/events with the saved cookie = %d %s; want 401", after, status, body)
	}
}

// wantSignedIn checks that the session cookie opens the console and the API.
func wantSignedIn(t *testing.T, base string, session *http.Cookie) {
	t.Helper()
	if status, loc, _ := consoleGet(t, nil, base+"/", session); status != 200 {
		t.Fatalf("GET / with the session cookie = %d to %q; want 200", status, loc)
	}
	if status, _, body := consoleGet(t, nil, base+"/v1/events", session); status != 200 {
		t.Fatalf("GET /v1/events with the session cookie = %d %s; want 200", status, body)
	}
}

// openSessionStream opens the live stream at base as the console's page
// does: with the session cookie, no Authorization header.
func openSessionStream(t *testing.T, base string, session *http.Cookie) <-chan sseMsg {
	t.Helper()
	return openSessionStreamQuery(t, base, session, "since=0")
}

// sentOnly is the stream query of the sent events: without those
// auditkeep records of its own operations (the sign-ins).
const sentOnly = "since=0&q=-source:auditkeep"

// openSessionStreamQuery opens GET /v1/stream?query as openSessionStream does.
func openSessionStreamQuery(t *testing.T, base string, session *http.Cookie, query string) <-chan sseMsg {
	t.Helper()
	return openSSEWith(t, base, query, func(req *http.Request) {
		req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	})
}

func TestSignOutEndsSession(t *testing.T) { forEachStore(t, testSignOutEndsSession) }

// testSignOutEndsSession replays a session cookie saved before sign-out;
// the session's open live stream ends.
func testSignOutEndsSession(t *testing.T, cfg Config) {
	base := testServer(t, cfg).URL()
	key := setupTenant(t, base, "acme")
	session, csrf := consoleSignIn(t, base, key)
	other, _ := consoleSignIn(t, base, key)
	wantSignedIn(t, base, session)
	live := openSessionStreamQuery(t, base, session, sentOnly)
	ingestJSON(t, base, key, []any{event("before-signout", "environment.update", "usr_1")})
	if got := eventID(t, nextMsg(t, live)); got != "before-signout" {
		t.Fatalf("first event %s; want before-signout", got)
	}
	consoleSignOut(t, base, session, csrf)
	ingestJSON(t, base, key, []any{event("after-signout", "environment.update", "usr_1")})
	wantEnd(t, live, "session_ended")
	wantSignedOut(t, base, session, "after sign-out")
	// Signing out ends that session only.
	wantSignedIn(t, base, other)
}

func TestKeyRevocationEndsSessions(t *testing.T) { forEachStore(t, testKeyRevocationEndsSessions) }

func testKeyRevocationEndsSessions(t *testing.T, cfg Config) {
	base := testServer(t, cfg).URL()
	admin := setupTenant(t, base, "acme")
	r := call(t, "POST", base+"/v1/tenants/acme/keys", admin, map[string]any{"name": "laptop", "scopes": []string{"read"}})
	m := r.json(t)
	key, id := m["key"].(string), m["id"].(string)
	session, _ := consoleSignIn(t, base, key)
	kept, _ := consoleSignIn(t, base, admin)
	wantSignedIn(t, base, session)
	if r := call(t, "DELETE", base+"/v1/tenants/acme/keys/"+id, admin, nil); r.status != 204 {
		t.Fatalf("revoke = %d %s", r.status, r.body)
	}
	wantSignedOut(t, base, session, "after the key's revocation")
	wantSignedIn(t, base, kept)
}

// TestSignOutEndsSessionOnEveryNode signs out through one node of a
// PostgreSQL deployment and replays the cookie at another.
func TestSignOutEndsSessionOnEveryNode(t *testing.T) {
	db := pgtest.Schema(t, testDatabaseURL(t))
	node := func() string {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.DatabaseURL = db
		return testServer(t, cfg).URL()
	}
	a, b := node(), node()
	admin := setupTenant(t, a, "acme")
	r := call(t, "POST", a+"/v1/tenants/acme/keys", admin, map[string]any{"name": "laptop", "scopes": []string{"read"}})
	m := r.json(t)
	key, id := m["key"].(string), m["id"].(string)

	session, csrf := consoleSignIn(t, a, key)
	wantSignedIn(t, b, session)
	live := openSessionStreamQuery(t, b, session, sentOnly)
	ingestJSON(t, a, admin, []any{event("n1", "environment.update", "usr_1")})
	if got := eventID(t, nextMsg(t, live)); got != "n1" {
		t.Fatalf("first event on node B %s; want n1", got)
	}
	consoleSignOut(t, a, session, csrf)
	wantEnd(t, live, "session_ended")
	wantSignedOut(t, b, session, "after sign-out on the other node")

	session, _ = consoleSignIn(t, b, key)
	wantSignedIn(t, a, session)
	if r := call(t, "DELETE", b+"/v1/tenants/acme/keys/"+id, admin, nil); r.status != 204 {
		t.Fatalf("revoke = %d %s", r.status, r.body)
	}
	wantSignedOut(t, a, session, "after the key's revocation on the other node")
}
