package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/pgtest"
)

const testRootKey = "root-key-for-tests-0123456789"

// forEachStore runs test once on a fresh embedded store and once on a fresh
// PostgreSQL schema when AUDITKEEP_TEST_DATABASE_URL is set.
func forEachStore(t *testing.T, test func(t *testing.T, cfg Config)) {
	t.Run("sqlite", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		test(t, cfg)
	})
	t.Run("postgres", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir() // the ledger key file, the archive
		cfg.DatabaseURL = pgtest.Schema(t, testDatabaseURL(t))
		test(t, cfg)
	})
}

// testServer starts the real server in-process on a loopback port with
// cfg's store: the embedded one in a fresh directory by default. It
// evaluates no alert rules (the alerts it would raise are recorded in the
// tenants' logs, which most tests count exactly): testServerAlerts does.
func testServer(t *testing.T, cfg Config) *app {
	t.Helper()
	if cfg.Addr == "" {
		cfg = DefaultConfig()
	}
	cfg.Alerts = false
	return startTestServer(t, cfg)
}

// testServerAlerts is testServer evaluating alert rules.
func testServerAlerts(t *testing.T, cfg Config) *app {
	t.Helper()
	if cfg.Addr == "" {
		cfg = DefaultConfig()
	}
	cfg.Alerts = true
	return startTestServer(t, cfg)
}

func startTestServer(t *testing.T, cfg Config) *app {
	t.Helper()
	if cfg.Addr == DefaultConfig().Addr {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DataDir == "./data" || cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.RootKey == "" {
		cfg.RootKey = testRootKey
	}
	cfg.LogLevel = "warn"
	a := newApp(cfg, io.Discard)
	if err := a.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	testApps.Store(a.URL(), a)
	t.Cleanup(func() { testApps.Delete(a.URL()) })
	return a
}

// testApps holds the servers testServer started, by base URL.
var testApps sync.Map

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
	return m
}

// errorOf returns the code and field of an error answer.
func (r response) errorOf(t *testing.T) (code, field string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message, Field string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("status %d: body %q is not the error shape", r.status, r.body)
	}
	return e.Error.Code, e.Error.Field
}

func call(t *testing.T, method, u, key string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return roundTrip(t, req)
}

// roundTrip sends req and reads the whole answer.
func roundTrip(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, b}
}

// setupTenant creates a tenant and a key with every scope.
func setupTenant(t *testing.T, base, name string) string {
	t.Helper()
	return setupTenantDays(t, base, name, 30)
}

// setupTenantDays creates a tenant keeping days and a key with every scope.
func setupTenantDays(t *testing.T, base, name string, days int) string {
	t.Helper()
	r := call(t, "POST", base+"/v1/tenants", testRootKey, map[string]any{"name": name, "retention_days": days})
	if r.status != 201 {
		t.Fatalf("create tenant %s: %d %s", name, r.status, r.body)
	}
	if a, ok := testApps.Load(base); ok {
		return storeKey(t, a.(*app), name, "ingest", "read", "export", "admin")
	}
	return createKey(t, base, testRootKey, name, "ingest", "read", "export", "admin")
}

// storeKey creates a key of the tenant straight in the server's store, so
// that the tenant's log holds only what the test sends: creating it through
// the API records key.create in the log (keys_test.go checks that).
func storeKey(t *testing.T, a *app, tenant string, scopes ...string) string {
	t.Helper()
	key := httpapi.NewKey()
	k := &auditkeep.APIKey{ID: "key_" + key[3:21], Tenant: tenant, Name: "k", Scopes: scopes, Hash: httpapi.HashKey(key), CreatedAt: time.Now().UTC()}
	if err := a.store.CreateKey(context.Background(), k); err != nil {
		t.Fatalf("create key: %v", err)
	}
	return key
}

func createKey(t *testing.T, base, auth, tenant string, scopes ...string) string {
	t.Helper()
	if a, ok := testApps.Load(base); ok {
		return storeKey(t, a.(*app), tenant, scopes...)
	}
	r := call(t, "POST", base+"/v1/tenants/"+tenant+"/keys", auth, map[string]any{"name": "k", "scopes": scopes})
	if r.status != 201 {
		t.Fatalf("create key: %d %s", r.status, r.body)
	}
	return r.json(t)["key"].(string)
}

// event returns a realistic event; an empty id is left out (the server makes one).
func event(id, action, actor string) map[string]any {
	e := map[string]any{"action": action, "actor": map[string]any{"id": actor, "name": "Alice Martin", "email": "alice@example.com"},
		"target": map[string]any{"type": "environment", "id": "env_7", "name": "production"},
		"scope":  []any{map[string]any{"type": "project", "id": "prj_1", "name": "Shop"}},
		"source": "console", "context": map[string]any{"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"}}
	if id != "" {
		e["id"] = id
	}
	return e
}

func listIDs(t *testing.T, base, key, query string) []string {
	t.Helper()
	r := call(t, "GET", base+"/v1/events?"+query, key, nil)
	if r.status != 200 {
		t.Fatalf("list %s: %d %s", query, r.status, r.body)
	}
	var page struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	json.Unmarshal(r.body, &page)
	var ids []string
	for _, e := range page.Events {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestStatusCodes(t *testing.T) { forEachStore(t, testStatusCodes) }

func testStatusCodes(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	readOnly := createKey(t, base, key, "acme", "read")

	tests := []struct {
		name, method, path, key string
		body                    any
		status                  int
		code, field             string
	}{
		{"tenant exists", "POST", "/v1/tenants", testRootKey, map[string]any{"name": "acme"}, 409, "conflict", ""},
		{"tenant bad name", "POST", "/v1/tenants", testRootKey, map[string]any{"name": "Acme Corp"}, 400, "invalid", "name"},
		{"tenant unknown field", "POST", "/v1/tenants", testRootKey, map[string]any{"name": "x", "retention": 3}, 400, "invalid", "retention"},
		{"tenant by tenant key", "POST", "/v1/tenants", key, map[string]any{"name": "other"}, 403, "forbidden", ""},
		{"tenant update unknown", "PUT", "/v1/tenants/nope", testRootKey, map[string]any{"retention_days": 7}, 404, "not_found", ""},
		{"no credentials", "GET", "/v1/events", "", nil, 401, "unauthorized", ""},
		{"unknown key", "GET", "/v1/events", "ak_nope", nil, 401, "unauthorized", ""},
		{"wrong scope", "POST", "/v1/events", readOnly, event("", "a.create", "u"), 403, "forbidden", ""},
		{"root reads no events", "GET", "/v1/events", testRootKey, nil, 403, "forbidden", ""},
		{"missing field", "POST", "/v1/events", key, map[string]any{"events": []any{event("", "a.create", "u"), map[string]any{"action": "a.b", "actor": map[string]any{}}}}, 400, "invalid", "events[1].actor.id"},
		{"bad JSON", "POST", "/v1/events", key, `{"action":`, 400, "invalid", "body"},
		{"body too large", "POST", "/v1/events", key, `{"x":"` + strings.Repeat("a", 6<<20) + `"}`, 413, "too_large", "body"},
		{"bad filter", "GET", "/v1/events?type=mutate", key, nil, 400, "invalid", "type"},
		{"bad cursor", "GET", "/v1/events?cursor=zzz", key, nil, 400, "invalid", "cursor"},
		{"bad limit", "GET", "/v1/events?limit=5000", key, nil, 400, "invalid", "limit"},
		{"bad sort", "GET", "/v1/events?sort=time", key, nil, 400, "invalid", "sort"},
		{"seq cursor by time", "GET", "/v1/events?cursor=" + auditkeep.Cursor{Seq: 3, Order: "desc"}.Encode(), key, nil, 400, "invalid", "cursor"},
		{"time cursor by seq", "GET", "/v1/events?sort=seq&cursor=" + auditkeep.Cursor{Seq: 3, Order: "desc", Sort: "occurred_at", At: 1}.Encode(), key, nil, 400, "invalid", "cursor"},
		{"export by time", "GET", "/v1/export?format=csv&sort=occurred_at", key, nil, 400, "invalid", "sort"},
		{"stream by time", "GET", "/v1/stream?sort=occurred_at", key, nil, 400, "invalid", "sort"},
		{"bad q", "GET", "/v1/events?q=actr:alice", key, nil, 400, "invalid", "q"},
		{"q word without letters", "GET", "/v1/events?q=%25", key, nil, 400, "invalid", "q"},
		{"q word underscore", "GET", "/v1/events?q=prod+_", key, nil, 400, "invalid", "q"},
		{"event not found", "GET", "/v1/events/nope", key, nil, 404, "not_found", ""},
		{"export bad format", "GET", "/v1/export?format=xml", key, nil, 400, "invalid", "format"},
		{"export needs scope", "GET", "/v1/export?format=csv", readOnly, nil, 403, "forbidden", ""},
		{"key bad scope", "POST", "/v1/tenants/acme/keys", key, map[string]any{"name": "x", "scopes": []string{"god"}}, 400, "invalid", "scopes"},
		{"key by read key", "POST", "/v1/tenants/acme/keys", readOnly, map[string]any{"name": "x", "scopes": []string{"read"}}, 403, "forbidden", ""},
		{"revoke unknown", "DELETE", "/v1/tenants/acme/keys/key_nope", key, nil, 404, "not_found", ""},
		{"unknown endpoint", "GET", "/v1/nothing", key, nil, 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, base+tt.path, tt.key, tt.body)
			if r.status != tt.status {
				t.Fatalf("%s %s = %d %s; want %d", tt.method, tt.path, r.status, r.body, tt.status)
			}
			code, field := r.errorOf(t)
			if code != tt.code || field != tt.field {
				t.Errorf("%s %s: error %q field %q; want %q field %q (%s)", tt.method, tt.path, code, field, tt.code, tt.field, r.body)
			}
		})
	}
	// The search error says where the word without letters is.
	if r := call(t, "GET", base+"/v1/events?q=prod+_", key, nil); !strings.Contains(string(r.body), `no letter or digit to search for at 5`) {
		t.Errorf("GET /v1/events?q=prod+_ = %s; want the position of \"_\"", r.body)
	}
	// Nothing of the rejected batches was stored.
	if ids := listIDs(t, base, key, ""); len(ids) != 0 {
		t.Errorf("after rejected requests the tenant holds %v; want nothing", ids)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := call(t, "GET", base+p, "", nil); r.status != 200 {
			t.Errorf("GET %s = %d", p, r.status)
		}
	}
}

func TestIngestQueryExport(t *testing.T) { forEachStore(t, testIngestQueryExport) }

func testIngestQueryExport(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")

	r := call(t, "POST", base+"/v1/events", key, event("e1", "user.login", "usr_1"))
	if r.status != 200 || r.json(t)["accepted"].(float64) != 1 {
		t.Fatalf("single event: %d %s", r.status, r.body)
	}
	formula := event("e3", "environment.update", "usr_2")
	formula["target"] = map[string]any{"type": "environment", "id": "env_8", "name": "=HYPERLINK(\"http://evil\")"}
	formula["description"] = "+cmd|' /C calc'!A0"
	batch := map[string]any{"events": []any{event("e2", "token.create", "usr_1"), formula, event("e1", "user.login", "usr_1")}}
	r = call(t, "POST", base+"/v1/events", key, batch)
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	if m := r.json(t); m["accepted"].(float64) != 3 || m["duplicates"].(float64) != 1 {
		t.Errorf("batch answer %s; want accepted 3, duplicates 1", r.body)
	}
	if ids := listIDs(t, base, key, ""); strings.Join(ids, ",") != "e3,e2,e1" {
		t.Errorf("list = %v; want e3,e2,e1 (newest first, e1 once)", ids)
	}
	if ids := listIDs(t, base, key, "order=asc&actor=alice@example.com&type=create,login"); strings.Join(ids, ",") != "e1,e2" {
		t.Errorf("filtered list = %v; want e1,e2", ids)
	}
	if ids := listIDs(t, base, key, "q=action:environment.*"); strings.Join(ids, ",") != "e3" {
		t.Errorf("q list = %v; want e3", ids)
	}

	// Paging by cursor.
	r = call(t, "GET", base+"/v1/events?limit=2", key, nil)
	next := r.json(t)["next_cursor"].(string)
	if ids := listIDs(t, base, key, "limit=2&cursor="+url.QueryEscape(next)); strings.Join(ids, ",") != "e1" {
		t.Errorf("second page = %v; want e1", ids)
	}

	r = call(t, "GET", base+"/v1/events/e2", key, nil)
	if r.status != 200 {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if m := r.json(t); m["seq"].(float64) != 2 || m["tenant"] != "acme" || m["type"] != "create" || m["received_at"] == nil {
		t.Errorf("get e2 = %s", r.body)
	}

	// NDJSON export: the three events, and the export's own record
	// (README "The audit of the audit"), made before it ran.
	r = call(t, "GET", base+"/v1/export?format=ndjson&order=asc", key, nil)
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if r.status != 200 || len(lines) != 4 || !strings.Contains(r.header.Get("Content-Type"), "ndjson") ||
		!strings.Contains(lines[3], `"action":"export.run"`) || !strings.Contains(lines[3], `"source":"auditkeep"`) {
		t.Fatalf("ndjson export: %d %q", r.status, r.body)
	}
	// CSV export: fixed columns, UTC, formulas neutralised.
	r = call(t, "GET", base+"/v1/export?format=csv&target_id=env_8", key, nil)
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("csv export: %v %q", err, r.body)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	if got := rows[1][col["target_name"]]; got != `'=HYPERLINK("http://evil")` {
		t.Errorf("target_name cell = %q; want the formula neutralised", got)
	}
	if got := rows[1][col["description"]]; !strings.HasPrefix(got, "'+") {
		t.Errorf("description cell = %q; want the formula neutralised", got)
	}
	if got := rows[1][col["occurred_at"]]; !strings.HasSuffix(got, "Z") {
		t.Errorf("occurred_at cell = %q; want UTC", got)
	}
	if r := call(t, "GET", base+"/metrics", "", nil); !bytes.Contains(r.body, []byte("auditkeep_events_ingested_total 3")) {
		t.Errorf("metrics lack the ingest counter at 3")
	}
}

// TestTenantIsolation calls every endpoint with another tenant's key.
func TestTenantIsolation(t *testing.T) { forEachStore(t, testTenantIsolation) }

func testTenantIsolation(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	keyA := setupTenant(t, base, "acme")
	keyB := setupTenant(t, base, "globex")
	if r := call(t, "POST", base+"/v1/events", keyA, event("secret-1", "user.login", "usr_a")); r.status != 200 {
		t.Fatal(r.status)
	}
	r := call(t, "POST", base+"/v1/tenants/acme/keys", keyA, map[string]any{"name": "x", "scopes": []string{"read"}})
	idA := r.json(t)["id"].(string)

	if r := call(t, "GET", base+"/v1/events/secret-1", keyB, nil); r.status != 404 {
		t.Errorf("GET another tenant's event = %d; want 404", r.status)
	}
	if ids := listIDs(t, base, keyB, ""); len(ids) != 0 {
		t.Errorf("list with another tenant's key = %v", ids)
	}
	if ids := listIDs(t, base, keyB, "actor=usr_a"); len(ids) != 0 {
		t.Errorf("filtered list with another tenant's key = %v", ids)
	}
	if r := call(t, "GET", base+"/v1/export?format=ndjson&q=-source:auditkeep", keyB, nil); r.status != 200 || len(r.body) != 0 {
		t.Errorf("export with another tenant's key = %d %q; want none of its events but its own records", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/tenants/acme/keys", keyB, map[string]any{"name": "x", "scopes": []string{"read"}}); r.status != 403 {
		t.Errorf("create key in another tenant = %d; want 403", r.status)
	}
	if r := call(t, "DELETE", base+"/v1/tenants/acme/keys/"+idA, keyB, nil); r.status != 403 {
		t.Errorf("revoke another tenant's key = %d; want 403", r.status)
	}
	if r := call(t, "DELETE", base+"/v1/tenants/globex/keys/"+idA, keyB, nil); r.status != 404 {
		t.Errorf("revoke another tenant's key through one's own tenant = %d; want 404", r.status)
	}
	// Ingest with B's key lands in B: the same id is B's own event.
	if r := call(t, "POST", base+"/v1/events", keyB, event("secret-1", "user.login", "usr_b")); r.status != 200 || r.json(t)["duplicates"].(float64) != 0 {
		t.Errorf("same id in another tenant: %d %s; want stored, not a duplicate", r.status, r.body)
	}
	if r := call(t, "GET", base+"/v1/events/secret-1", keyA, nil); !bytes.Contains(r.body, []byte("usr_a")) {
		t.Errorf("tenant A's event changed: %s", r.body)
	}
}

func TestRevokedKey(t *testing.T) { forEachStore(t, testRevokedKey) }

func testRevokedKey(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	admin := setupTenant(t, base, "acme")
	r := call(t, "POST", base+"/v1/tenants/acme/keys", admin, map[string]any{"name": "ci", "scopes": []string{"read"}})
	m := r.json(t)
	key, id := m["key"].(string), m["id"].(string)
	if listIDs(t, base, key, "") == nil && call(t, "GET", base+"/v1/events", key, nil).status != 200 {
		t.Fatal("new key does not work")
	}
	if r := call(t, "DELETE", base+"/v1/tenants/acme/keys/"+id, admin, nil); r.status != 204 {
		t.Fatalf("revoke = %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/v1/events", key, nil); r.status != 401 {
		t.Errorf("revoked key = %d; want 401", r.status)
	}
}

func TestGeneratedRootKey(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	cfg := DefaultConfig()
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", dir
	a := newApp(cfg, &out)
	if err := a.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	var root string
	for _, f := range strings.Fields(out.String()) {
		if strings.HasPrefix(f, "ak_") {
			root = f
		}
	}
	if root == "" {
		t.Fatalf("no root key printed: %q", out.String())
	}
	if r := call(t, "POST", a.URL()+"/v1/tenants", root, map[string]any{"name": "acme"}); r.status != 201 {
		t.Errorf("printed root key: %d", r.status)
	}
	a.Close()
	b, _ := os.ReadFile(dir + "/auditkeep.db")
	if bytes.Contains(b, []byte(root)) {
		t.Error("the root key is stored in clear")
	}
	// A second start prints nothing and keeps the key.
	out.Reset()
	a = newApp(cfg, &out)
	if err := a.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if strings.Contains(out.String(), "ak_") {
		t.Errorf("second start printed a key: %q", out.String())
	}
	if r := call(t, "POST", a.URL()+"/v1/tenants", root, map[string]any{"name": "globex"}); r.status != 201 {
		t.Errorf("root key after restart: %d", r.status)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--addr", "nope"}, "addr (AUDITKEEP_ADDR)"},
		{map[string]string{"AUDITKEEP_DATABASE_URL": "mysql://x"}, nil, "database-url (AUDITKEEP_DATABASE_URL)"},
		{map[string]string{"AUDITKEEP_SHUTDOWN_TIMEOUT": "soon"}, nil, "AUDITKEEP_SHUTDOWN_TIMEOUT"},
		{map[string]string{"AUDITKEEP_LOG_LEVEL": "loud"}, nil, "log-level"},
		{nil, []string{"--max-group-events", "10"}, "max-group-events"},
		{map[string]string{"AUDITKEEP_ROOT_KEY": "short"}, nil, "AUDITKEEP_ROOT_KEY"},
		{nil, []string{"--trusted-proxies", "10.0.0.0/8,proxy.internal"}, "trusted-proxies (AUDITKEEP_TRUSTED_PROXIES)"},
		{map[string]string{"AUDITKEEP_TRUSTED_PROXIES": "10.0.0.0/40"}, nil, "trusted-proxies (AUDITKEEP_TRUSTED_PROXIES)"},
		{nil, []string{"--client-ip-header", "X-Real-IP"}, "client-ip-header (AUDITKEEP_CLIENT_IP_HEADER)"},
		{nil, []string{"--public-url", "audit.example.com"}, "public-url (AUDITKEEP_PUBLIC_URL)"},
		{nil, []string{"--smtp-addr", "smtp.example.com"}, "smtp-addr (AUDITKEEP_SMTP_ADDR)"},
		{nil, []string{"--smtp-addr", "smtp.example.com:587"}, "smtp-from (AUDITKEEP_SMTP_FROM)"},
		{map[string]string{"AUDITKEEP_SMTP_FROM": "a@example.com"}, nil, "smtp-addr (AUDITKEEP_SMTP_ADDR): required"},
		{map[string]string{"AUDITKEEP_SMTP_ADDR": "smtp.example.com:587", "AUDITKEEP_SMTP_FROM": "a@example.com", "AUDITKEEP_SMTP_PASSWORD": "pw"}, nil, "smtp-username (AUDITKEEP_SMTP_USERNAME)"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		e := &env{stdout: io.Discard, stderr: &stderr, getenv: func(k string) string { return tt.env[k] }}
		code := Main(context.Background(), append([]string{"serve"}, tt.args...), e)
		if code != exitUsage || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("serve %v with %v = %d %q; want exit 2 naming %q", tt.args, tt.env, code, stderr.String(), tt.want)
		}
	}
}

// TestConcurrentIngestSharesCommits: concurrent requests share group
// commits, as /metrics counts them: N requests of one event each from 16
// clients take fewer than N commits, some of them taken by two requests or
// more. With group commit off (one event per commit) the same counts show
// no sharing, so the assertion is one the server can fail.
func TestConcurrentIngestSharesCommits(t *testing.T) {
	forEachStore(t, func(t *testing.T, cfg Config) {
		commits, shared := concurrentIngestCommits(t, cfg)
		if shared < 1 || commits >= clientRequests {
			t.Errorf("%v commits for %d concurrent requests, %v of them shared; want fewer commits than requests, some shared", commits, clientRequests, shared)
		}
		cfg.MaxGroupEvents = 1 // below what Validate accepts: group commit off
		commits, shared = concurrentIngestCommits(t, cfg)
		if shared != 0 || commits != clientRequests {
			t.Errorf("with group commit off: %v commits for %d requests, %v shared; want one commit per request", commits, clientRequests, shared)
		}
	})
}

// clientRequests is the number of requests concurrentIngestCommits sends.
const clientRequests = 16 * 25

// concurrentIngestCommits starts a server with cfg, sends clientRequests
// requests of one event each from 16 concurrent clients, checks that every
// event was stored, and returns the group commits /metrics counts for
// those requests: how many, and how many of them took two requests or more.
func concurrentIngestCommits(t *testing.T, cfg Config) (commits, shared float64) {
	t.Helper()
	if cfg.DatabaseURL == "" {
		cfg.DataDir = t.TempDir()
	} else {
		cfg.DatabaseURL = pgtest.Schema(t, testDatabaseURL(t))
	}
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	// The counts before, should the set-up have committed events.
	type counts struct{ commits, requests, single float64 }
	read := func() counts {
		m := string(call(t, "GET", base+"/metrics", "", nil).body)
		v := func(name string) float64 { return max(0, metricValue(m, name)) } // absent before the first commit
		return counts{v(`auditkeep_commits_total{result="ok"}`), v("auditkeep_commit_requests_sum"), v(`auditkeep_commit_requests_bucket{le="1"}`)}
	}
	before := read()
	const clients, per = 16, clientRequests / 16
	errs := make(chan error, clients)
	for c := range clients {
		go func() {
			for i := range per {
				r, err := http.DefaultClient.Do(mustReq("POST", base+"/v1/events", key, event(fmt.Sprintf("c%d-%d", c, i), "a.create", "u")))
				if err != nil {
					errs <- err
					return
				}
				r.Body.Close()
				if r.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", r.StatusCode)
					return
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Each request carries one event and is counted by the one commit
	// that took it; a commit that took two requests or more is shared.
	// (The export below is recorded in the log: it commits too.) The
	// committer answers a commit's requests before it counts the
	// commit: the last one may be counted a moment after its answer.
	after := read()
	for i := 0; i < 100 && after.requests-before.requests < clientRequests; i++ {
		time.Sleep(10 * time.Millisecond)
		after = read()
	}
	if got := after.requests - before.requests; got != clientRequests {
		t.Fatalf("the commits took %v requests; want the %d sent", got, clientRequests)
	}
	r := call(t, "GET", base+"/v1/export?format=ndjson&order=asc", key, nil)
	seen := map[float64]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(r.body)), "\n") {
		var e struct{ Seq float64 }
		json.Unmarshal([]byte(line), &e)
		seen[e.Seq] = true
	}
	for s := 1; s <= clientRequests; s++ {
		if !seen[float64(s)] {
			t.Fatalf("seq %d missing; want 1..%d without gaps", s, clientRequests)
		}
	}
	commits = after.commits - before.commits
	shared = commits - (after.single - before.single)
	t.Logf("max-group-events %d: %d requests in %v commits, %v of them shared", cfg.MaxGroupEvents, clientRequests, commits, shared)
	return commits, shared
}

func mustReq(method, u, key string, body any) *http.Request {
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, u, bytes.NewReader(j))
	req.Header.Set("Authorization", "Bearer "+key)
	return req
}

func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}

func TestGracefulShutdownFinishesCommits(t *testing.T) {
	forEachStore(t, testGracefulShutdownFinishesCommits)
}

func testGracefulShutdownFinishesCommits(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	done := make(chan int, 8)
	for c := range 8 {
		go func() {
			ok := 0
			for i := range 50 {
				r, err := http.DefaultClient.Do(mustReq("POST", base+"/v1/events", key, event(fmt.Sprintf("g%d-%d", c, i), "a.create", "u")))
				if err != nil {
					break
				}
				r.Body.Close()
				if r.StatusCode == 200 {
					ok++
				}
			}
			done <- ok
		}()
	}
	time.Sleep(50 * time.Millisecond)
	a.Close()
	acked := 0
	for range 8 {
		acked += <-done
	}
	// Reopen the same data and count.
	cfg.Addr, cfg.RootKey, cfg.LogLevel = "127.0.0.1:0", testRootKey, "warn"
	b := newApp(cfg, io.Discard)
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r := call(t, "GET", b.URL()+"/v1/export?format=ndjson", key, nil)
	stored := strings.Count(string(r.body), "\n")
	if stored < acked {
		t.Errorf("after shutdown %d events stored; %d were acknowledged", stored, acked)
	}
}

// TestREADMEDocumentsSettings keeps the README's configuration table in step
// with the settings the server reads.
func TestREADMEDocumentsSettings(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range configSettings {
		if s.flag != "" && !bytes.Contains(b, []byte("`--"+s.flag+"`")) {
			t.Errorf("README does not document --%s", s.flag)
		}
		if !bytes.Contains(b, []byte("`"+s.env+"`")) {
			t.Errorf("README does not document %s", s.env)
		}
	}
}
