package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// ownEvents returns the tenant's events that auditkeep recorded of its own
// operations with action, newest first.
func ownEvents(t *testing.T, base, key, action string) []map[string]any {
	t.Helper()
	r := call(t, "GET", base+"/v1/events?limit=100&q="+url.QueryEscape("source:auditkeep action:"+action), key, nil)
	if r.status != 200 {
		t.Fatalf("list %s: %d %s", action, r.status, r.body)
	}
	var page struct{ Events []map[string]any }
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	return page.Events
}

// wantOwn checks that the newest recorded event of action is by the actor
// id, from the test's loopback client, and returns it.
func wantOwn(t *testing.T, base, key, action, actor string) map[string]any {
	t.Helper()
	return wantOwnFrom(t, base, key, action, actor, "Go-http-client")
}

// wantOwnFrom is wantOwn for a client whose user agent starts with ua.
func wantOwnFrom(t *testing.T, base, key, action, actor, ua string) map[string]any {
	t.Helper()
	evs := ownEvents(t, base, key, action)
	if len(evs) == 0 {
		t.Fatalf("no %s event with source auditkeep in the log", action)
	}
	e := evs[0]
	a, _ := e["actor"].(map[string]any)
	c, _ := e["context"].(map[string]any)
	if a["id"] != actor || c["ip"] != "127.0.0.1" || !strings.HasPrefix(c["user_agent"].(string), ua) {
		t.Errorf("%s by %v from %v; want actor %s, the client's address and user agent", action, a, c, actor)
	}
	return e
}

func keyID(t *testing.T, base, admin, name string) string {
	t.Helper()
	r := call(t, "GET", base+"/v1/tenants/acme/keys", admin, nil)
	var body struct{ Keys []struct{ ID, Name string } }
	if r.status != 200 || json.Unmarshal(r.body, &body) != nil {
		t.Fatalf("GET keys = %d %s", r.status, r.body)
	}
	for _, k := range body.Keys {
		if k.Name == name {
			return k.ID
		}
	}
	t.Fatalf("no key %q listed in %s", name, r.body)
	return ""
}

// TestKeysListed: keys are listed with their scopes, creation, last use to
// the minute and expiry; an expired key is refused saying so.
func TestKeysListed(t *testing.T) { forEachStore(t, testKeysListed) }

func testKeysListed(t *testing.T, cfg Config) {
	base := testServer(t, cfg).URL()
	admin := setupTenant(t, base, "acme")
	setupTenant(t, base, "globex")
	expires := time.Now().Add(2 * time.Second).UTC()
	r := call(t, "POST", base+"/v1/tenants/acme/keys", admin, map[string]any{"name": "ci", "scopes": []string{"ingest", "read"},
		"expires_at": expires.Format(time.RFC3339Nano)})
	if r.status != 201 {
		t.Fatalf("create a key with expires_at = %d %s", r.status, r.body)
	}
	short := r.json(t)["key"].(string)
	for _, bad := range []map[string]any{
		{"name": "old", "scopes": []string{"read"}, "expires_at": time.Now().Add(-time.Minute).Format(time.RFC3339)},
		{"name": "bad", "scopes": []string{"read"}, "expires_at": "tomorrow"},
	} {
		if r := call(t, "POST", base+"/v1/tenants/acme/keys", admin, bad); r.status != 400 || !strings.Contains(string(r.body), `"field":"expires_at"`) {
			t.Errorf("create a key with expires_at %v = %d %s; want 400 naming expires_at", bad["expires_at"], r.status, r.body)
		}
	}
	if ids := listIDs(t, base, short, "limit=1"); len(ids) > 1 {
		t.Fatalf("the key reads %v", ids)
	}

	r = call(t, "GET", base+"/v1/tenants/acme/keys", admin, nil)
	var body struct {
		Keys []struct {
			ID, Name   string
			Scopes     []string
			CreatedAt  time.Time  `json:"created_at"`
			ExpiresAt  *time.Time `json:"expires_at"`
			LastUsedAt *time.Time `json:"last_used_at"`
			Hash       string
			Key        string
		}
	}
	if r.status != 200 || json.Unmarshal(r.body, &body) != nil || len(body.Keys) != 2 {
		t.Fatalf("GET /v1/tenants/acme/keys = %d %s; want acme's 2 keys", r.status, r.body)
	}
	if strings.Contains(string(r.body), short) || strings.Contains(string(r.body), admin) || strings.Contains(string(r.body), `"hash"`) {
		t.Errorf("the key list shows a key or its hash: %s", r.body)
	}
	ci := body.Keys[1]
	now := time.Now().UTC()
	if ci.Name != "ci" || strings.Join(ci.Scopes, ",") != "ingest,read" || ci.ExpiresAt == nil || !ci.ExpiresAt.Equal(expires) ||
		ci.LastUsedAt == nil || !ci.LastUsedAt.Equal(ci.LastUsedAt.Truncate(time.Minute)) || now.Sub(*ci.LastUsedAt) > 2*time.Minute {
		t.Errorf("listed ci key = %+v; want its scopes, expiry %v and last use this minute", ci, expires)
	}
	if r := call(t, "GET", base+"/v1/tenants/acme/keys", short, nil); r.status != 403 {
		t.Errorf("GET keys with a key without admin = %d; want 403", r.status)
	}
	if r := call(t, "GET", base+"/v1/tenants/globex/keys", admin, nil); r.status != 403 {
		t.Errorf("GET another tenant's keys = %d; want 403", r.status)
	}
	if r := call(t, "GET", base+"/v1/tenants/acme/keys", testRootKey, nil); r.status != 200 {
		t.Errorf("GET keys with the root key = %d; want 200", r.status)
	}

	live := openSSE(t, base, short, "since=0&q=-source:auditkeep", "")
	time.Sleep(time.Until(expires))
	wantEnd(t, live, "key_expired")
	r = call(t, "GET", base+"/v1/events", short, nil)
	if code, _ := r.errorOf(t); r.status != 401 || code != "unauthorized" || !strings.Contains(string(r.body), "the key expired at "+expires.Format(time.RFC3339)) {
		t.Errorf("an expired key: %d %s; want 401 saying when it expired", r.status, r.body)
	}
}

// TestSessionsListed: the tenant's console sessions are listed (who,
// since, from where) and revocable; revoking one signs it out.
func TestSessionsListed(t *testing.T) { forEachStore(t, testSessionsListed) }

func testSessionsListed(t *testing.T, cfg Config) {
	base := testServer(t, cfg).URL()
	admin := setupTenant(t, base, "acme")
	other := setupTenant(t, base, "globex")
	one, _ := consoleSignIn(t, base, admin)
	two, _ := consoleSignIn(t, base, admin)
	theirs, _ := consoleSignIn(t, base, other)
	list := func(key, tenant string) []map[string]any {
		t.Helper()
		r := call(t, "GET", base+"/v1/tenants/"+tenant+"/sessions", key, nil)
		var body struct{ Sessions []map[string]any }
		if r.status != 200 || json.Unmarshal(r.body, &body) != nil {
			t.Fatalf("GET sessions = %d %s", r.status, r.body)
		}
		return body.Sessions
	}
	ss := list(admin, "acme")
	if len(ss) != 2 {
		t.Fatalf("acme lists %d sessions; want 2", len(ss))
	}
	for _, s := range ss {
		if s["ip"] != "127.0.0.1" || !strings.HasPrefix(s["user_agent"].(string), "Go-http-client") || s["key_name"] != "k" ||
			s["created_at"] == nil || s["last_seen_at"] == nil || s["expires_at"] == nil {
			t.Errorf("listed session %v; want who, since and from where", s)
		}
	}
	if r := call(t, "GET", base+"/v1/tenants/acme/sessions", other, nil); r.status != 403 {
		t.Errorf("GET another tenant's sessions = %d; want 403", r.status)
	}
	newest := ss[0]["id"].(string)
	theirID := list(other, "globex")[0]["id"].(string)
	if r := call(t, "DELETE", base+"/v1/tenants/acme/sessions/"+theirID, admin, nil); r.status != 404 {
		t.Errorf("revoke another tenant's session through one's own = %d; want 404", r.status)
	}
	if r := call(t, "DELETE", base+"/v1/tenants/acme/sessions/"+newest, admin, nil); r.status != 204 {
		t.Fatalf("revoke a session = %d %s", r.status, r.body)
	}
	if r := call(t, "DELETE", base+"/v1/tenants/acme/sessions/"+newest, admin, nil); r.status != 404 {
		t.Errorf("revoke it again = %d; want 404", r.status)
	}
	wantSignedOut(t, base, two, "after its revocation")
	wantSignedIn(t, base, one)
	wantSignedIn(t, base, theirs)
	if ss := list(admin, "acme"); len(ss) != 1 || ss[0]["id"] == newest {
		t.Errorf("after the revocation acme lists %v; want the other session", ss)
	}
	e := wantOwn(t, base, admin, "session.revoke", keyID(t, base, admin, "k"))
	if tg, _ := e["target"].(map[string]any); tg["id"] != newest {
		t.Errorf("session.revoke target %v; want the session %s", e["target"], newest)
	}

	// Timeouts are settings, checked.
	r := call(t, "PUT", base+"/v1/settings", admin, map[string]any{"session_idle_minutes": 30, "session_absolute_hours": 8})
	if r.status != 200 || r.json(t)["session_idle_minutes"] != 30.0 || r.json(t)["session_absolute_hours"] != 8.0 {
		t.Errorf("PUT session timeouts = %d %s", r.status, r.body)
	}
	for field, v := range map[string]any{"session_idle_minutes": -1, "session_absolute_hours": 100000} {
		if r := call(t, "PUT", base+"/v1/settings", admin, map[string]any{field: v}); r.status != 400 || !strings.Contains(string(r.body), `"field":"`+field+`"`) {
			t.Errorf("PUT %s %v = %d %s; want 400 naming it", field, v, r.status, r.body)
		}
	}
	three, _ := consoleSignIn(t, base, admin)
	wantSignedIn(t, base, three)
	newest3 := list(admin, "acme")[0]
	created, _ := time.Parse(time.RFC3339Nano, newest3["created_at"].(string))
	expiry, _ := time.Parse(time.RFC3339Nano, newest3["expires_at"].(string))
	if d := expiry.Sub(created); d != 30*time.Minute {
		t.Errorf("a session signed in under a 30-minute idle timeout expires %v after sign-in", d)
	}
}

// TestAuditOfTheAudit: each of auditkeep's own operations is an event of
// the tenant's log, source auditkeep, by its actor, from its client.
func TestAuditOfTheAudit(t *testing.T) { forEachStore(t, testAuditOfTheAudit) }

func testAuditOfTheAudit(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	admin := setupTenant(t, base, "acme")
	adminID := keyID(t, base, admin, "k")
	ingestJSON(t, base, admin, []any{event("e1", "environment.update", "usr_1")})

	// Keys: created and revoked by the admin key.
	r := call(t, "POST", base+"/v1/tenants/acme/keys", admin, map[string]any{"name": "laptop", "scopes": []string{"read"}})
	laptop, laptopID := r.json(t)["key"].(string), r.json(t)["id"].(string)
	e := wantOwn(t, base, admin, "key.create", adminID)
	if tg, _ := e["target"].(map[string]any); tg["id"] != laptopID || tg["name"] != "laptop" || e["type"] != "create" {
		t.Errorf("key.create = %v; want the laptop key as its target", e)
	}
	if r := call(t, "DELETE", base+"/v1/tenants/acme/keys/"+laptopID, admin, nil); r.status != 204 {
		t.Fatal(r.status)
	}
	wantOwn(t, base, admin, "key.revoke", adminID)
	// A key created with the root key is the root key's doing.
	createViaAPI := call(t, "POST", base+"/v1/tenants/acme/keys", testRootKey, map[string]any{"name": "ops", "scopes": []string{"read", "export"}})
	ops := createViaAPI.json(t)["key"].(string)
	wantOwn(t, base, admin, "key.create", "root")

	// Settings: old and new values.
	if r := call(t, "PUT", base+"/v1/settings", admin, map[string]any{"record_reads": true, "require_export_reason": true}); r.status != 200 {
		t.Fatalf("PUT settings = %d %s", r.status, r.body)
	}
	e = wantOwn(t, base, admin, "settings.update", adminID)
	md, _ := e["metadata"].(map[string]any)
	if n, _ := md["new"].(map[string]any); n["record_reads"] != true || n["require_export_reason"] != true {
		t.Errorf("settings.update metadata %v; want the new values", md)
	}

	// Exports need a reason now; it is recorded with them.
	if r := call(t, "GET", base+"/v1/export?format=csv", ops, nil); r.status != 400 || !strings.Contains(string(r.body), `"field":"reason"`) {
		t.Errorf("an export without a reason = %d %s; want 400 naming reason", r.status, r.body)
	}
	if r := call(t, "GET", base+"/v1/export?format=csv&action=environment.update&reason="+url.QueryEscape("case 42"), ops, nil); r.status != 200 ||
		!strings.Contains(string(r.body), "\n1,e1,") {
		t.Errorf("an export with a reason = %d %s; want the export", r.status, r.body)
	}
	opsID := keyID(t, base, admin, "ops")
	e = wantOwn(t, base, admin, "export.run", opsID)
	if md, _ := e["metadata"].(map[string]any); md["reason"] != "case 42" || md["format"] != "csv" || md["query"] != "action=environment.update" {
		t.Errorf("export.run metadata %v; want the reason, format and filters", md)
	}
	if len(ownEvents(t, base, admin, "export.run")) != 1 {
		t.Errorf("the refused export was recorded")
	}
	waitIntegrated(t, base, admin, uint64(len(listIDs(t, base, admin, "limit=100"))))
	if r := call(t, "GET", base+"/v1/export?format=bundle&reason=audit", ops, nil); r.status != 200 {
		t.Fatalf("bundle = %d %s", r.status, r.body)
	}
	wantOwn(t, base, admin, "bundle.download", opsID)

	// Viewer links, holds.
	if r := call(t, "POST", base+"/v1/viewer-tokens", admin, map[string]any{"filters": map[string]any{"target_id": "env_7"}}); r.status != 201 {
		t.Fatal(r.status)
	}
	wantOwn(t, base, admin, "viewer_token.create", adminID)
	r = call(t, "POST", base+"/v1/holds", admin, map[string]any{"reason": "case 42"})
	if r.status != 201 {
		t.Fatalf("hold = %d %s", r.status, r.body)
	}
	wantOwn(t, base, admin, "hold.create", adminID)
	if r := call(t, "DELETE", base+"/v1/holds/"+r.json(t)["id"].(string), admin, nil); r.status != 204 {
		t.Fatal(r.status)
	}
	wantOwn(t, base, admin, "hold.delete", adminID)

	// Console sign-ins, accepted and refused with the reason.
	consoleSignIn(t, base, admin)
	e = wantOwn(t, base, admin, "console.sign_in", adminID)
	if e["status"] != "success" || e["type"] != "login" {
		t.Errorf("console.sign_in = %v; want a successful login", e)
	}
	if _, res := postSignIn(t, base, laptop); res.StatusCode != 401 {
		t.Errorf("sign-in with a revoked key = %d; want 401", res.StatusCode)
	}
	e = wantOwn(t, base, admin, "console.sign_in", laptopID)
	if md, _ := e["metadata"].(map[string]any); e["status"] != "failure" || md["reason"] != "API key was revoked" {
		t.Errorf("refused console.sign_in = %v; want status failure and the reason", e)
	}

	// Reads: one event per key and hour, with the count and the queries,
	// written when the hour ends or the server stops.
	for _, q := range []string{"action=environment.update", "q=usr_1", "action=environment.update"} {
		listIDs(t, base, ops, q)
	}
	a.Close()
	a = testServer(t, cfg)
	base = a.URL()
	reads := ownEvents(t, base, admin, "events.read")
	var mine map[string]any
	for _, e := range reads {
		if ac, _ := e["actor"].(map[string]any); ac["id"] == opsID {
			mine = e
		}
	}
	if mine == nil {
		t.Fatalf("no events.read of the ops key among %v", reads)
	}
	md, _ = mine["metadata"].(map[string]any)
	if qs, _ := md["queries"].([]any); md["count"] != 3.0 || len(qs) != 2 || qs[0] != "action=environment.update" || qs[1] != "q=usr_1" {
		t.Errorf("events.read metadata %v; want count 3 and the 2 distinct queries", md)
	}
}

// postSignIn posts the sign-in form with key as a new browser and returns
// its client and the answer (its body closed).
func postSignIn(t *testing.T, base, key string) (*http.Client, *http.Response) {
	t.Helper()
	c, body := signInForm(t, base)
	res, err := c.PostForm(base+"/signin", url.Values{"csrf": {formField(t, body, "csrf")}, "key": {key}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return c, res
}

// signInForm opens the sign-in page as a new browser: its client (with a
// cookie jar) and the page.
func signInForm(t *testing.T, base string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	status, _, body := consoleGet(t, c, base+"/signin", nil)
	if status != 200 {
		t.Fatalf("GET /signin = %d", status)
	}
	return c, body
}
