package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/oidctest"
	"github.com/auditkeep/auditkeep/internal/pgtest"
	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

const ssoPassword = "correct horse battery staple"

// ssoUsers are the people of the test provider.
var ssoUsers = []oidctest.User{
	{ID: "u-vera", Username: "vera", Name: "Vera Viewer", Email: "vera@acme.example", Groups: []string{"acme:viewer", "staff"}},
	{ID: "u-audrey", Username: "audrey", Name: "Audrey Auditor", Email: "audrey@acme.example", Groups: []string{"acme:auditor"}},
	{ID: "u-adam", Username: "adam", Name: "Adam Admin", Email: "adam@acme.example", Groups: []string{"acme:admin"}},
	{ID: "u-nora", Username: "nora", Name: "Nora Nobody", Email: "nora@acme.example", Groups: []string{"staff", "acme:owner"}},
	{ID: "u-sam", Username: "sam", Name: "Sam Secops", Email: "sam@acme.example", Groups: []string{"secops"}},
	{ID: "u-emma", Username: "emma", Name: "Emma Email", Email: "emma@acme.example"},
	{ID: "u-ed", Username: "ed", Name: "Ed Unverified", Email: "emma@acme.example", EmailUnverified: true},
	{ID: "u-mia", Username: "mia", Name: "Mia Many", Email: "mia@example.com", Groups: []string{"acme:viewer", "globex:auditor"}},
}

// ssoUsername is the test provider's user holding role in acme.
var ssoUsername = map[string]string{"viewer": "vera", "auditor": "audrey", "admin": "adam"}

// freeAddr returns a loopback address nothing listens on, for a server
// whose redirect URL must be known before it starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// ssoServer starts the server with single sign-on through a real OpenID
// provider on loopback, whose groups "tenant:role" give roles.
func ssoServer(t *testing.T, cfg Config) (*app, *oidctest.Provider) {
	t.Helper()
	if cfg.Addr == "" {
		cfg = DefaultConfig()
	}
	cfg.Addr = freeAddr(t)
	users := append([]oidctest.User(nil), ssoUsers...)
	for i := range users {
		users[i].Password = ssoPassword
	}
	op := oidctest.Start(t, "http://"+cfg.Addr+"/signin/callback", users...)
	cfg.People.Issuer, cfg.People.ClientID, cfg.People.ClientSecret = op.Issuer, op.ClientID, op.ClientSecret
	cfg.People.RedirectURL = "http://" + cfg.Addr + "/signin/callback"
	cfg.People.Roles = `[{"claim": "groups", "value": "{tenant}:{role}"}]`
	if err := cfg.People.validate(); err != nil {
		t.Fatal(err)
	}
	return testServer(t, cfg), op
}

// ssoTenants starts ssoServer with the tenants acme and globex, and
// returns its URL and an all-scopes key of acme.
func ssoTenants(t *testing.T, cfg Config) (base, acmeKey string) {
	t.Helper()
	a, _ := ssoServer(t, cfg)
	base = a.URL()
	acmeKey = setupTenant(t, base, "acme")
	setupTenant(t, base, "globex")
	return base, acmeKey
}

// ssoSession is what a sign-in through the provider ended with.
type ssoSession struct {
	status  int    // of the last page
	body    string // the last page
	session *http.Cookie
	csrf    string // the signed-in page's
	client  *http.Client
}

// ssoSignIn signs in to the console at base through the provider as a
// browser would, following every redirect, with username's password.
func ssoSignIn(t *testing.T, base, username string) ssoSession {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Get(base + "/signin/oidc?next=/")
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, res)
	if res.StatusCode != 200 || !strings.Contains(page, "Test identity provider") {
		t.Fatalf("GET /signin/oidc ended at %s: %d %s", res.Request.URL, res.StatusCode, page)
	}
	login := *res.Request.URL
	login.RawQuery = ""
	res, err = c.PostForm(login.String(), url.Values{"id": {formField(t, page, "id")}, "username": {username}, "password": {ssoPassword}})
	if err != nil {
		t.Fatal(err)
	}
	s := ssoSession{status: res.StatusCode, body: readAll(t, res), client: c}
	s.session = sessionCookieOf(jar, base)
	return s
}

// signedIn finishes a sign-in that opened a session: it reads the console
// as the signed-in page's refresh does, and keeps the CSRF token.
func (s *ssoSession) signedIn(t *testing.T, base string) {
	t.Helper()
	if s.status != 200 || s.session == nil {
		t.Fatalf("sign-in = %d, session %v: %s", s.status, s.session != nil, s.body)
	}
	status, loc, body := consoleGet(t, nil, base+"/", s.session)
	if status != 200 {
		t.Fatalf("signed-in GET / = %d to %q", status, loc)
	}
	s.csrf = formField(t, body, "csrf")
}

func sessionCookieOf(jar http.CookieJar, base string) *http.Cookie {
	u, _ := url.Parse(base + "/")
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "auditkeep_session" {
			return ck
		}
	}
	return nil
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

// personCall calls the API as the console's pages do for a signed-in
// person: the session cookie, same origin, and the CSRF token when csrf.
func personCall(t *testing.T, method, u string, s ssoSession, body any, csrf bool) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: s.session.Name, Value: s.session.Value})
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if csrf {
		req.Header.Set("X-CSRF-Token", s.csrf)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b []byte
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		cancel() // a live stream: its status is the answer
	} else if b, err = io.ReadAll(res.Body); err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// roleTable reads the README's role × endpoint table: endpoint → role →
// allowed.
func roleTable(t *testing.T) (map[string]map[string]bool, []string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- roles table: start -->")
	table, _, ok2 := strings.Cut(rest, "<!-- roles table: end -->")
	if !ok || !ok2 {
		t.Fatal("README has no roles table")
	}
	cells := map[string]map[string]bool{}
	var order []string
	row := regexp.MustCompile("^\\| `([^`]+)` \\| (✓|–) \\| (✓|–) \\| (✓|–) \\|$")
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[2:] {
		m := row.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("README roles table: unreadable row %q", line)
		}
		cells[m[1]] = map[string]bool{"viewer": m[2] == "✓", "auditor": m[3] == "✓", "admin": m[4] == "✓"}
		order = append(order, m[1])
	}
	return cells, order
}

// roleRequest is a concrete call of one endpoint of the table, and the
// status it answers when allowed.
type roleRequest struct {
	ok int
	// prep returns the path (with query) and body; it may create what the
	// call acts on, with the admin key.
	prep func(t *testing.T) (string, any)
}

func fixed(path string, body any) func(*testing.T) (string, any) {
	return func(*testing.T) (string, any) { return path, body }
}

func TestRoleEndpoints(t *testing.T) { forEachStore(t, testRoleEndpoints) }

// testRoleEndpoints calls every cell of the README's role × endpoint table
// as a person of that role, signed in through the provider.
func testRoleEndpoints(t *testing.T, cfg Config) {
	base, admin := ssoTenants(t, cfg)
	ingestJSON(t, base, admin, []any{event("rt-1", "environment.update", "usr_1"), event("rt-2", "environment.update", "usr_2")})
	if r := call(t, "PUT", base+"/v1/actions/environment.update/schema", admin, map[string]any{"type": "object"}); r.status != 201 {
		t.Fatalf("register schema = %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := call(t, "GET", base+"/v1/checkpoint", admin, nil)
		if r.status == 200 && r.json(t)["size"].(float64) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of both events: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	secret := newWebhookSecret()
	receiver := receivertest.NewWebhook(t, secret)
	newStream := func(name string) map[string]any {
		return map[string]any{"name": name, "type": "webhook", "format": "native", "settings": map[string]any{"url": receiver.URL}, "secret": secret}
	}
	stream := func(suffix string) func(t *testing.T) (string, any) {
		return func(t *testing.T) (string, any) {
			r := call(t, "POST", base+"/v1/streams", admin, newStream("made for a call"))
			if r.status != 201 {
				t.Fatalf("create stream = %d %s", r.status, r.body)
			}
			path := "/v1/streams/" + r.json(t)["id"].(string) + suffix
			switch suffix {
			case "":
				return path, map[string]any{"name": "renamed"}
			case "/replay":
				return path, map[string]any{"from_seq": 1}
			}
			return path, nil
		}
	}
	alertRule := func(name string) map[string]any {
		return map[string]any{"name": name, "match": "action:role.check", "severity": "low"}
	}
	ruleOf := func(t *testing.T) string {
		r := call(t, "POST", base+"/v1/alert-rules", admin, alertRule("made for a call"))
		if r.status != 201 {
			t.Fatalf("create alert rule = %d %s", r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	// raised returns the path of a new open alert (stored: this server
	// evaluates no rules).
	raised := func(suffix string) func(t *testing.T) (string, any) {
		return func(t *testing.T) (string, any) {
			return "/v1/alerts/" + storeAlert(t, base, "acme", ruleOf(t)) + suffix, nil
		}
	}
	rulePath := func(t *testing.T) (string, any) {
		return "/v1/alert-rules/" + ruleOf(t), map[string]any{"name": "renamed"}
	}
	reqs := map[string]roleRequest{
		"POST /v1/alert-rules":                                {201, fixed("/v1/alert-rules", alertRule("by a person"))},
		"GET /v1/alert-rules":                                 {200, fixed("/v1/alert-rules", nil)},
		"POST /v1/alert-rules/test":                           {200, fixed("/v1/alert-rules/test", map[string]any{"rule": alertRule("backtest")})},
		"GET /v1/alert-rules/{id}":                            {200, rulePath},
		"PATCH /v1/alert-rules/{id}":                          {200, rulePath},
		"DELETE /v1/alert-rules/{id}":                         {204, rulePath},
		"GET /v1/alerts":                                      {200, fixed("/v1/alerts", nil)},
		"GET /v1/alerts/{id}":                                 {200, raised("")},
		"POST /v1/alerts/{id}/acknowledge":                    {200, raised("/acknowledge")},
		"POST /v1/alerts/{id}/resolve":                        {200, raised("/resolve")},
		"GET /v1/tenants/{tenant}/archive/{segment}":          {404, fixed("/v1/tenants/acme/archive/2026-11-02_1-500", nil)},
		"GET /v1/tenants/{tenant}/archive/{segment}/data":     {404, fixed("/v1/tenants/acme/archive/2026-11-02_1-500/data", nil)},
		"POST /v1/streams":                                    {201, fixed("/v1/streams", newStream("SIEM"))},
		"GET /v1/streams":                                     {200, fixed("/v1/streams", nil)},
		"GET /v1/streams/{id}":                                {200, stream("")},
		"PATCH /v1/streams/{id}":                              {200, stream("")},
		"DELETE /v1/streams/{id}":                             {204, stream("")},
		"POST /v1/streams/{id}/pause":                         {200, stream("/pause")},
		"POST /v1/streams/{id}/resume":                        {200, stream("/resume")},
		"POST /v1/streams/{id}/test":                          {200, stream("/test")},
		"POST /v1/streams/{id}/replay":                        {200, stream("/replay")},
		"POST /cloudevents":                                   {200, fixed("/cloudevents", map[string]any{"specversion": "1.0", "id": "ce-1", "source": "/x", "type": "x.y"})},
		"POST /k8s/audit":                                     {200, fixed("/k8s/audit", map[string]any{"kind": "EventList", "items": []any{}})},
		"POST /v1/backup":                                     {200, fixed("/v1/backup", nil)},
		"POST /v1/events":                                     {200, fixed("/v1/events", event("", "environment.update", "usr_3"))},
		"GET /v1/events":                                      {200, fixed("/v1/events", nil)},
		"GET /v1/events/{id}":                                 {200, fixed("/v1/events/rt-1", nil)},
		"GET /v1/events/{id}/diff":                            {200, fixed("/v1/events/rt-1/diff?with=rt-2", nil)},
		"GET /v1/events/{id}/proof":                           {200, fixed("/v1/events/rt-1/proof?tree_size=2", nil)},
		"GET /v1/checkpoint":                                  {200, fixed("/v1/checkpoint", nil)},
		"GET /v1/checkpoints":                                 {200, fixed("/v1/checkpoints", nil)},
		"GET /v1/consistency":                                 {200, fixed("/v1/consistency?first=1&second=2", nil)},
		"GET /v1/facets":                                      {200, fixed("/v1/facets?field=action", nil)},
		"GET /v1/stream":                                      {200, fixed("/v1/stream?since=0", nil)},
		"GET /v1/actions":                                     {200, fixed("/v1/actions", nil)},
		"GET /v1/actions/{action}/schema":                     {200, fixed("/v1/actions/environment.update/schema", nil)},
		"PUT /v1/actions/{action}/schema":                     {201, fixed("/v1/actions/user.login/schema", map[string]any{"type": "object"})},
		"GET /v1/export?format=csv":                           {200, fixed("/v1/export?format=csv", nil)},
		"GET /v1/export?format=ndjson":                        {200, fixed("/v1/export?format=ndjson", nil)},
		"GET /v1/export?format=bundle":                        {200, fixed("/v1/export?format=bundle", nil)},
		"POST /v1/viewer-tokens":                              {201, fixed("/v1/viewer-tokens", map[string]any{"filters": map[string]any{"action": "environment.update"}, "ttl_seconds": 60})},
		"GET /v1/settings":                                    {200, fixed("/v1/settings", nil)},
		"PUT /v1/settings":                                    {200, fixed("/v1/settings", map[string]any{"redaction": map[string]any{"paths": []string{}}})},
		"GET /v1/settings/roles":                              {200, fixed("/v1/settings/roles", nil)},
		"PUT /v1/settings/roles":                              {200, fixed("/v1/settings/roles", map[string]any{"rules": []any{}})},
		"POST /v1/hash":                                       {200, fixed("/v1/hash", map[string]any{"value": "hunter2"})},
		"POST /v1/holds":                                      {201, fixed("/v1/holds", map[string]any{"reason": "litigation"})},
		"GET /v1/holds":                                       {200, fixed("/v1/holds", nil)},
		"GET /v1/retention":                                   {200, fixed("/v1/retention", nil)},
		"POST /v1/tenants/{tenant}/keys":                      {201, fixed("/v1/tenants/acme/keys", map[string]any{"name": "ci", "scopes": []string{"read"}})},
		"GET /v1/tenants/{tenant}/archive":                    {200, fixed("/v1/tenants/acme/archive", nil)},
		"POST /v1/tenants":                                    {201, fixed("/v1/tenants", map[string]any{"name": "initech"})},
		"PUT /v1/tenants/{tenant}":                            {200, fixed("/v1/tenants/acme", map[string]any{"retention_days": 31})},
		"POST /v1/tenants/{tenant}/ledger/rebuild":            {200, fixed("/v1/tenants/acme/ledger/rebuild", map[string]any{"reason": "test"})},
		"POST /v1/tenants/{tenant}/archive/{segment}/restore": {200, fixed("/v1/tenants/acme/archive/s1/restore", map[string]any{"into_tenant": "globex"})},
		"DELETE /v1/holds/{id}": {204, func(t *testing.T) (string, any) {
			r := call(t, "POST", base+"/v1/holds", admin, map[string]any{"reason": "to lift"})
			if r.status != 201 {
				t.Fatalf("create hold = %d %s", r.status, r.body)
			}
			return "/v1/holds/" + r.json(t)["id"].(string), nil
		}},
		"GET /v1/tenants/{tenant}/keys":     {200, fixed("/v1/tenants/acme/keys", nil)},
		"GET /v1/tenants/{tenant}/sessions": {200, fixed("/v1/tenants/acme/sessions", nil)},
		"DELETE /v1/tenants/{tenant}/sessions/{id}": {204, func(t *testing.T) (string, any) {
			consoleSignIn(t, base, admin)
			r := call(t, "GET", base+"/v1/tenants/acme/sessions", admin, nil)
			var body struct{ Sessions []struct{ ID string } }
			if r.status != 200 || json.Unmarshal(r.body, &body) != nil || len(body.Sessions) == 0 {
				t.Fatalf("list sessions = %d %s", r.status, r.body)
			}
			return "/v1/tenants/acme/sessions/" + body.Sessions[0].ID, nil
		}},
		"DELETE /v1/tenants/{tenant}/keys/{id}": {204, func(t *testing.T) (string, any) {
			r := call(t, "POST", base+"/v1/tenants/acme/keys", admin, map[string]any{"name": "old", "scopes": []string{"read"}})
			if r.status != 201 {
				t.Fatalf("create key = %d %s", r.status, r.body)
			}
			return "/v1/tenants/acme/keys/" + r.json(t)["id"].(string), nil
		}},
	}
	cells, order := roleTable(t)
	for endpoint := range reqs {
		if cells[endpoint] == nil {
			t.Errorf("the README's roles table lacks %s", endpoint)
		}
	}
	people := map[string]ssoSession{}
	for role, user := range ssoUsername {
		s := ssoSignIn(t, base, user)
		s.signedIn(t, base)
		people[role] = s
	}
	for _, endpoint := range order {
		req, ok := reqs[endpoint]
		if !ok {
			t.Errorf("no test request for the README's %s", endpoint)
			continue
		}
		method, _, _ := strings.Cut(endpoint, " ")
		for _, role := range []string{"viewer", "auditor", "admin"} {
			path, body := req.prep(t)
			r := personCall(t, method, base+path, people[role], body, true)
			want := req.ok
			if !cells[endpoint][role] {
				want = 403
			}
			if r.status != want {
				t.Errorf("%s as %s: %s %s = %d %s; want %d", endpoint, role, method, path, r.status, r.body, want)
				continue
			}
			if want == 403 {
				if e, _ := r.json(t)["error"].(map[string]any); e == nil || e["code"] != "forbidden" {
					t.Errorf("%s as %s: 403 body %s; want a forbidden error", endpoint, role, r.body)
				}
			}
		}
	}

	// Another tenant's paths are refused to every role, even its admin's.
	for _, role := range []string{"viewer", "auditor", "admin"} {
		r := personCall(t, "POST", base+"/v1/tenants/globex/keys", people[role], map[string]any{"name": "x", "scopes": []string{"read"}}, true)
		if r.status != 403 {
			t.Errorf("POST /v1/tenants/globex/keys as acme's %s = %d %s; want 403", role, r.status, r.body)
		}
	}
	// A person's change needs the session's CSRF token, and the session
	// is taken only from this site.
	adminP := people["admin"]
	if r := personCall(t, "POST", base+"/v1/hash", adminP, map[string]any{"value": "x"}, false); r.status != 403 ||
		!strings.Contains(string(r.body), "X-CSRF-Token") {
		t.Errorf("POST /v1/hash without the CSRF token = %d %s; want 403 naming X-CSRF-Token", r.status, r.body)
	}
	req, _ := http.NewRequest("GET", base+"/v1/events", nil)
	req.AddCookie(&http.Cookie{Name: adminP.session.Name, Value: adminP.session.Value})
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 403 {
		t.Errorf("cross-site GET /v1/events with a person's cookie = %d %s; want 403", res.StatusCode, body)
	}
	// What a person does is theirs in the log: a hold records its creator.
	r := personCall(t, "POST", base+"/v1/holds", adminP, map[string]any{"reason": "by a person"}, true)
	if r.status != 201 {
		t.Fatalf("create hold as admin = %d %s", r.status, r.body)
	}
	if by := r.json(t)["created_by"]; by != "u-adam" {
		t.Errorf("hold created by %v; want the person u-adam", by)
	}
}

func TestSignInRoles(t *testing.T) { forEachStore(t, testSignInRoles) }

// testSignInRoles: who has no role is refused with a page saying so; a
// tenant's own rule gives a role; several tenants are chosen between.
func testSignInRoles(t *testing.T, cfg Config) {
	base, admin := ssoTenants(t, cfg)

	// nora's groups map to nothing ("acme:owner" is no role).
	s := ssoSignIn(t, base, "nora")
	if s.status != 403 || s.session != nil || !strings.Contains(s.body, "no tenant gives you a role") ||
		!strings.Contains(s.body, "Nora Nobody &lt;nora@acme.example&gt;") {
		t.Errorf("sign-in without a role = %d, session %v: %s; want 403 naming nora and no session", s.status, s.session != nil, s.body)
	}

	// sam's group "secops" means nothing until acme's admins map it.
	if s := ssoSignIn(t, base, "sam"); s.status != 403 || s.session != nil {
		t.Errorf("sam before acme's rule = %d, session %v; want 403", s.status, s.session != nil)
	}
	adam := ssoSignIn(t, base, "adam")
	adam.signedIn(t, base)
	for _, bad := range []struct {
		body  any
		field string
	}{
		{map[string]any{"rules": []any{map[string]any{"claim": "groups", "value": "secops", "role": "owner"}}}, "rules[0].role"},
		{map[string]any{"rules": []any{map[string]any{"claim": "groups", "value": "secops", "tenant": "globex", "role": "admin"}}}, "rules[0].tenant"},
		{map[string]any{"rules": []any{map[string]any{"claim": "groups", "value": "{tenant}:{role}"}}}, "rules[0].value"},
		{map[string]any{}, "rules"},
	} {
		r := personCall(t, "PUT", base+"/v1/settings/roles", adam, bad.body, true)
		if e, _ := r.json(t)["error"].(map[string]any); r.status != 400 || e == nil || e["field"] != bad.field {
			t.Errorf("PUT /v1/settings/roles %v = %d %s; want 400 naming %s", bad.body, r.status, r.body, bad.field)
		}
	}
	rules := map[string]any{"rules": []any{map[string]any{"claim": "groups", "value": "secops", "role": "auditor"},
		map[string]any{"claim": "email", "value": "emma@acme.example", "role": "viewer"}}}
	if r := personCall(t, "PUT", base+"/v1/settings/roles", adam, rules, true); r.status != 200 {
		t.Fatalf("PUT /v1/settings/roles = %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/v1/settings/roles", admin, nil); r.status != 200 || !strings.Contains(string(r.body), `{"claim":"groups","value":"secops","role":"auditor"}`) {
		t.Errorf("GET /v1/settings/roles = %d %s; want the rule", r.status, r.body)
	}
	sam := ssoSignIn(t, base, "sam")
	sam.signedIn(t, base)
	if !strings.Contains(sam.body, "auditor in acme") {
		t.Errorf("sam's signed-in page: %s; want auditor in acme", sam.body)
	}
	if r := personCall(t, "GET", base+"/v1/export?format=ndjson", sam, nil, false); r.status != 200 {
		t.Errorf("sam's export = %d %s; want 200", r.status, r.body)
	}
	// A rule on the email holds only where the provider verified it.
	emma := ssoSignIn(t, base, "emma")
	emma.signedIn(t, base)
	if ed := ssoSignIn(t, base, "ed"); ed.status != 403 || ed.session != nil {
		t.Errorf("an unverified email's sign-in = %d, session %v; want 403", ed.status, ed.session != nil)
	}
	// The sign-in is in the tenant's own log, by the person.
	r := call(t, "GET", base+"/v1/events?source=auditkeep&action=console.sign_in&actor=u-sam", admin, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"id":"u-sam"`) || !strings.Contains(string(r.body), `"role":"auditor"`) {
		t.Errorf("sam's sign-in in acme's log: %d %s; want a console.sign_in by u-sam", r.status, r.body)
	}
	// The rule gives nothing in another tenant.
	if r := personCall(t, "GET", base+"/v1/events", sam, nil, false); r.status != 200 {
		t.Errorf("sam's GET /v1/events = %d", r.status)
	}

	// mia has roles in acme and globex: she picks globex.
	mia := ssoSignIn(t, base, "mia")
	if mia.status != 200 || mia.session != nil || !strings.Contains(mia.body, "Choose a tenant") {
		t.Fatalf("mia's sign-in = %d, session %v: %s; want the choice", mia.status, mia.session != nil, mia.body)
	}
	form := url.Values{"csrf": {formField(t, mia.body, "csrf")}, "tenant": {"initech"}}
	res, err := mia.client.PostForm(base+"/signin/tenant", form)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 400 || !strings.Contains(body, "no role in") {
		t.Errorf("choosing a tenant without a role = %d %s; want 400", res.StatusCode, body)
	}
	form.Set("tenant", "globex")
	res, err = mia.client.PostForm(base+"/signin/tenant", form)
	if err != nil {
		t.Fatal(err)
	}
	mia.status, mia.body, mia.session = res.StatusCode, readAll(t, res), sessionCookieOf(mia.client.Jar, base)
	mia.signedIn(t, base)
	if !strings.Contains(mia.body, "auditor in globex") {
		t.Errorf("mia's signed-in page: %s; want auditor in globex", mia.body)
	}
	r = personCall(t, "GET", base+"/v1/events", mia, nil, false)
	if r.status != 200 {
		t.Fatalf("mia's GET /v1/events = %d %s", r.status, r.body)
	}
	ingestJSON(t, base, admin, []any{event("acme-only", "environment.update", "usr_1")})
	if r := personCall(t, "GET", base+"/v1/events/acme-only", mia, nil, false); r.status != 404 {
		t.Errorf("mia in globex reads acme's event: %d %s; want 404", r.status, r.body)
	}
}

func TestSignInFlowChecks(t *testing.T) {
	a, _ := ssoServer(t, Config{})
	base := a.URL()
	setupTenant(t, base, "acme")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: noRedirect}

	// Start a flow: the provider is sent the PKCE challenge, state and nonce.
	res, err := c.Get(base + "/signin/oidc?next=/events/x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	auth, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != 302 || err != nil {
		t.Fatalf("GET /signin/oidc = %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	q := auth.Query()
	for _, name := range []string{"state", "nonce", "code_challenge", "client_id", "redirect_uri"} {
		if q.Get(name) == "" {
			t.Errorf("authorization request lacks %s: %s", name, auth)
		}
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("response_type") != "code" || !strings.Contains(q.Get("scope"), "openid") {
		t.Errorf("authorization request %s; want code flow with S256 and openid", auth)
	}
	for _, tc := range []struct {
		name, query string
		jar         bool
		status      int
		says        string
	}{
		{"state mismatch", "code=abc&state=forged", true, 400, "state mismatch"},
		{"provider error", "error=access_denied&error_description=no+way&state=" + q.Get("state"), true, 401, "access_denied"},
		{"no flow cookie", "code=abc&state=" + q.Get("state"), false, 400, "Start it again"},
		{"forged code", "code=forged&state=" + q.Get("state"), true, 401, "refused the authorization code"},
	} {
		// Each case starts a fresh flow (the callback's cookie is single-use).
		client := &http.Client{CheckRedirect: noRedirect}
		if tc.jar {
			j, _ := cookiejar.New(nil)
			client.Jar = j
			res, err := client.Get(base + "/signin/oidc")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			loc, _ := url.Parse(res.Header.Get("Location"))
			tc.query = strings.Replace(tc.query, q.Get("state"), loc.Query().Get("state"), 1)
		}
		res, err := client.Get(base + "/signin/callback?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, res)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: callback = %d %s; want %d saying %q", tc.name, res.StatusCode, body, tc.status, tc.says)
		}
		for _, ck := range res.Cookies() {
			if ck.Name == "auditkeep_session" && ck.Value != "" {
				t.Errorf("%s: a session cookie was set", tc.name)
			}
		}
	}
}

func TestKeySignInSwitchedOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.People.KeySignIn = false
	a, _ := ssoServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	status, _, body := consoleGet(t, c, base+"/signin", nil)
	if status != 200 || strings.Contains(body, `name="key"`) || !strings.Contains(body, "Sign in with single sign-on") {
		t.Errorf("GET /signin = %d %s; want single sign-on only", status, body)
	}
	u, _ := url.Parse(base + "/signin")
	var csrf string
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "auditkeep_csrf" {
			csrf = ck.Value
		}
	}
	res, err := c.PostForm(base+"/signin", url.Values{"csrf": {csrf}, "key": {key}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); csrf == "" || res.StatusCode != 403 || !strings.Contains(body, "switched off") {
		t.Errorf("key sign-in = %d %s; want 403 switched off", res.StatusCode, body)
	}
	if sessionCookieOf(jar, base) != nil {
		t.Error("a refused key sign-in set a session cookie")
	}
	// Keys still work on the API, and people still sign in.
	if r := call(t, "GET", base+"/v1/events", key, nil); r.status != 200 {
		t.Errorf("GET /v1/events with the key = %d %s", r.status, r.body)
	}
	s := ssoSignIn(t, base, "vera")
	s.signedIn(t, base)
}

// TestPersonSignOutEndsStream: a person's live stream ends when they sign
// out, and their saved cookie opens nothing after.
func TestPersonSignOutEndsStream(t *testing.T) {
	base, key := ssoTenants(t, Config{})
	s := ssoSignIn(t, base, "vera")
	s.signedIn(t, base)
	live := openSessionStream(t, base, s.session)
	ingestJSON(t, base, key, []any{event("p-1", "environment.update", "usr_1")})
	if got := eventID(t, nextMsg(t, live)); got == "p-1" {
		t.Fatal("the stream's first event is p-1; want her sign-in before it")
	}
	if got := eventID(t, nextMsg(t, live)); got != "p-1" {
		t.Fatalf("second event %s; want p-1", got)
	}
	consoleSignOut(t, base, s.session, s.csrf)
	wantEnd(t, live, "session_ended")
	wantSignedOut(t, base, s.session, "after the person's sign-out")
}

// TestKeySessionsEndWhenKeySignInIsOff: a key's console session opened
// before key sign-in was switched off (here: on a node that still takes it)
// is refused, and ended, by a node that does not.
func TestKeySessionsEndWhenKeySignInIsOff(t *testing.T) {
	db := pgtest.Schema(t, testDatabaseURL(t))
	node := func(keySignIn bool) string {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.DatabaseURL = db
		cfg.People.KeySignIn = keySignIn
		return testServer(t, cfg).URL()
	}
	on, off := node(true), node(false)
	key := setupTenant(t, on, "acme")
	session, _ := consoleSignIn(t, on, key)
	if status, _, body := consoleGet(t, nil, off+"/v1/events", session); status != http.StatusUnauthorized {
		t.Errorf("GET /v1/events with a key session where key sign-in is off = %d %s; want 401", status, body)
	}
	if status, loc, _ := consoleGet(t, nil, off+"/", session); status != http.StatusSeeOther || loc != "/signin?expired=1" {
		t.Errorf("GET / with a key session where key sign-in is off = %d to %q; want 303 to /signin?expired=1", status, loc)
	}
	wantSignedOut(t, on, session, "once a node without key sign-in refused it")
	if r := call(t, "GET", off+"/v1/events", key, nil); r.status != 200 {
		t.Errorf("the key itself on the API = %d %s; want 200", r.status, r.body)
	}
}

func TestPeopleConfigValidate(t *testing.T) {
	roles := t.TempDir() + "/roles.json"
	if err := os.WriteFile(roles, []byte(`[{"claim": "groups", "value": "ops", "tenant": "acme", "role": "owner"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	sso := []string{"--oidc-issuer", "https://login.example.com", "--oidc-client-id", "auditkeep"}
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, sso, "oidc-redirect-url (AUDITKEEP_OIDC_REDIRECT_URL): required"},
		{map[string]string{"AUDITKEEP_OIDC_CLIENT_ID": "auditkeep"}, nil, "oidc-issuer (AUDITKEEP_OIDC_ISSUER): required"},
		{nil, append(sso, "--oidc-redirect-url", "https://audit.example.com/callback"), "/signin/callback"},
		{nil, append(sso, "--oidc-issuer", "login.example.com", "--oidc-redirect-url", "https://audit.example.com/signin/callback"), "not an http(s) URL"},
		{map[string]string{"AUDITKEEP_OIDC_ROLES": `{"claim": "groups"}`}, nil, "oidc-roles (AUDITKEEP_OIDC_ROLES): not a JSON list"},
		{nil, []string{"--oidc-roles", `[{"claim": "groups", "value": "{tenant}:{role}", "role": "admin"}]`}, "oidc-roles[0].role"},
		{nil, []string{"--oidc-roles", "@" + roles}, `oidc-roles[0].role: "owner" is not a role`},
		{nil, []string{"--oidc-roles", "@" + roles + ".missing"}, "oidc-roles (AUDITKEEP_OIDC_ROLES): open"},
		{map[string]string{"AUDITKEEP_KEY_SIGN_IN": "maybe"}, nil, "AUDITKEEP_KEY_SIGN_IN"},
	} {
		var stderr bytes.Buffer
		e := &env{stdout: io.Discard, stderr: &stderr, getenv: func(k string) string { return tt.env[k] }}
		code := Main(context.Background(), append([]string{"serve"}, tt.args...), e)
		if code != exitUsage || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("serve %v with %v = %d %q; want exit 2 naming %q", tt.args, tt.env, code, stderr.String(), tt.want)
		}
	}
}

// TestRoleTableCoversRoutes: every endpoint that checks a credential's
// scope has its row in the README's role × endpoint table (and so its
// calls in TestRoleEndpoints).
func TestRoleTableCoversRoutes(t *testing.T) {
	cells, _ := roleTable(t)
	files, err := filepath.Glob("../../internal/httpapi/*.go")
	if err != nil {
		t.Fatal(err)
	}
	route := regexp.MustCompile(`route\("([A-Z]+ /[^"]*)", "[^"]+", s\.auth\(`)
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range route.FindAllStringSubmatch(string(b), -1) {
			seen++
			covered := cells[m[1]] != nil
			for endpoint := range cells {
				covered = covered || strings.HasPrefix(endpoint, m[1]+"?")
			}
			if !covered {
				t.Errorf("%s (%s) has no row in the README's roles table: add one, and its request to TestRoleEndpoints", m[1], filepath.Base(f))
			}
		}
	}
	if seen < 40 {
		t.Errorf("found %d routes with a scope check; the pattern no longer reads routes.go", seen)
	}
}
