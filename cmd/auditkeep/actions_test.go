package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep/internal/pgtest"
)

// TestActionCatalog: registering schemas and their versions, validation of
// events on ingest (the batch refused whole), the listing with counts,
// tenant isolation and bad schemas — on the embedded store, and on
// PostgreSQL when AUDITKEEP_TEST_DATABASE_URL is set.
func TestActionCatalog(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		testActionCatalog(t, cfg)
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
		if base == "" {
			t.Skip("set AUDITKEEP_TEST_DATABASE_URL=postgres://... to run this test on PostgreSQL")
		}
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.DatabaseURL = pgtest.Schema(t, base)
		testActionCatalog(t, cfg)
	})
}

func testActionCatalog(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	acme := setupTenant(t, base, "acme")
	globex := setupTenant(t, base, "globex")
	acmeRead := createKey(t, base, testRootKey, "acme", "read")
	acmeIngest := createKey(t, base, testRootKey, "acme", "ingest")

	schemaURL := base + "/v1/actions/environment.update/schema"
	v1 := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"region": map[string]any{"enum": []any{"eu", "us"}},
			"token":  map[string]any{"type": "string", "pattern": "^tok_"},
		},
		"required": []any{"region"},
	}

	// Register: 201 and version 1; the same schema again: 200, still 1.
	r := call(t, "PUT", schemaURL, acme, v1)
	if r.status != 201 {
		t.Fatalf("PUT schema: %d %s; want 201", r.status, r.body)
	}
	if m := r.json(t); m["action"] != "environment.update" || m["version"] != 1.0 || m["created_at"] == nil || m["schema"] == nil {
		t.Errorf("PUT schema = %s; want action, version 1, schema, created_at", r.body)
	}
	if r := call(t, "PUT", schemaURL, acme, v1); r.status != 200 || r.json(t)["version"] != 1.0 {
		t.Errorf("PUT the same schema: %d %s; want 200, version 1", r.status, r.body)
	}

	// A valid event is stored; the schema sees the token before redaction.
	ok := event("ok1", "environment.update", "usr_1")
	ok["metadata"] = map[string]any{"region": "eu", "token": "tok_abc"}
	if r := call(t, "POST", base+"/v1/events", acmeIngest, ok); r.status != 200 {
		t.Fatalf("ingest a valid event: %d %s", r.status, r.body)
	}
	got := call(t, "GET", base+"/v1/events/ok1", acme, nil).json(t)
	if tok, _ := got["metadata"].(map[string]any)["token"].(string); !strings.HasPrefix(tok, "hmac-sha256:") {
		t.Errorf("stored metadata.token = %q; want it redacted", tok)
	}

	// A batch with one bad event is refused whole, naming the event and field.
	other := event("b0", "user.login", "usr_1")
	good := event("b1", "environment.update", "usr_1")
	good["metadata"] = map[string]any{"region": "us"}
	bad := event("b2", "environment.update", "usr_1")
	bad["metadata"] = map[string]any{"region": "mars"}
	r = call(t, "POST", base+"/v1/events", acmeIngest, map[string]any{"events": []any{other, good, bad}})
	if code, field := r.errorOf(t); r.status != 400 || code != "invalid" || field != "events[2].metadata.region" {
		t.Errorf("ingest a batch with a bad event: %d %s; want 400 naming events[2].metadata.region", r.status, r.body)
	}
	if msg := errorMessage(t, r); !strings.HasPrefix(msg, "events[2].metadata.region: value must be one of") || !strings.Contains(msg, "version 1") {
		t.Errorf("refusal message = %q; want the schema's message for events[2].metadata.region and the version", msg)
	}
	for _, id := range []string{"b0", "b1", "b2"} {
		if r := call(t, "GET", base+"/v1/events/"+id, acme, nil); r.status != 404 {
			t.Errorf("GET %s after a refused batch: %d; want 404 (nothing stored)", id, r.status)
		}
	}
	// Metadata absent: the required region is missing.
	r = call(t, "POST", base+"/v1/events", acmeIngest, event("n1", "environment.update", "usr_1"))
	if _, field := r.errorOf(t); r.status != 400 || field != "metadata.region" {
		t.Errorf("ingest without metadata: %d %s; want 400 naming metadata.region", r.status, r.body)
	}

	// Version 2 applies at once on this node.
	v2 := map[string]any{"type": "object", "properties": map[string]any{"region": map[string]any{"type": "string"}}}
	if r := call(t, "PUT", schemaURL, acme, v2); r.status != 201 || r.json(t)["version"] != 2.0 {
		t.Fatalf("PUT a changed schema: %d %s; want 201, version 2", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/events", acmeIngest, map[string]any{"events": []any{other, good, bad}}); r.status != 200 {
		t.Errorf("ingest the batch under version 2: %d %s; want 200", r.status, r.body)
	}

	// GET shows the latest, any version, and the list of versions.
	r = call(t, "GET", schemaURL, acmeRead, nil)
	var sb struct {
		Action   string          `json:"action"`
		Version  int             `json:"version"`
		Schema   json.RawMessage `json:"schema"`
		Versions []struct {
			Version int `json:"version"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(r.body, &sb); err != nil || r.status != 200 || sb.Version != 2 || len(sb.Versions) != 2 || strings.Contains(string(sb.Schema), "required") {
		t.Errorf("GET schema: %d %s; want version 2 of 2", r.status, r.body)
	}
	r = call(t, "GET", schemaURL+"?version=1", acmeRead, nil)
	if err := json.Unmarshal(r.body, &sb); err != nil || r.status != 200 || sb.Version != 1 || !strings.Contains(string(sb.Schema), `"required":["region"]`) {
		t.Errorf("GET schema?version=1: %d %s; want version 1", r.status, r.body)
	}

	// The listing: seen actions with counts, registered ones with versions, by name.
	if r := call(t, "PUT", base+"/v1/actions/db.restore/schema", acme, map[string]any{"type": "object"}); r.status != 201 {
		t.Fatalf("PUT db.restore: %d %s", r.status, r.body)
	}
	r = call(t, "GET", base+"/v1/actions", acmeRead, nil)
	var list struct {
		Actions []struct {
			Action     string `json:"action"`
			Count      int64  `json:"count"`
			Registered bool   `json:"registered"`
			Version    int    `json:"version"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil || r.status != 200 {
		t.Fatalf("GET /v1/actions: %d %s", r.status, r.body)
	}
	type row struct {
		action     string
		count      int64
		registered bool
		version    int
	}
	want := []row{{"db.restore", 0, true, 1}, {"environment.update", 3, true, 2}, {"user.login", 1, false, 0}}
	var have []row
	for _, x := range list.Actions {
		have = append(have, row{x.Action, x.Count, x.Registered, x.Version})
	}
	if len(have) != len(want) {
		t.Fatalf("GET /v1/actions = %+v; want %+v", have, want)
	}
	for i := range want {
		if have[i] != want[i] {
			t.Errorf("actions[%d] = %+v; want %+v", i, have[i], want[i])
		}
	}

	// Another tenant sees nothing of acme's catalog and is not bound by it.
	r = call(t, "GET", base+"/v1/actions", globex, nil)
	if err := json.Unmarshal(r.body, &list); err != nil || r.status != 200 || len(list.Actions) != 0 {
		t.Errorf("globex GET /v1/actions: %d %s; want an empty list", r.status, r.body)
	}
	if r := call(t, "GET", schemaURL, globex, nil); r.status != 404 {
		t.Errorf("globex GET acme's schema: %d %s; want 404", r.status, r.body)
	}
	globexEvent := event("g1", "environment.update", "usr_9")
	globexEvent["metadata"] = map[string]any{"region": 5}
	if r := call(t, "POST", base+"/v1/events", globex, globexEvent); r.status != 200 {
		t.Errorf("globex ingest under no schema: %d %s; want 200", r.status, r.body)
	}
	// globex registering the same action makes its own version 1 and leaves acme's alone.
	if r := call(t, "PUT", schemaURL, globex, map[string]any{"required": []any{"zone"}}); r.status != 201 || r.json(t)["version"] != 1.0 {
		t.Errorf("globex PUT: %d %s; want 201, version 1", r.status, r.body)
	}
	if r := call(t, "GET", schemaURL, acmeRead, nil); r.json(t)["version"] != 2.0 {
		t.Errorf("acme's schema after globex's PUT: %s; want still version 2", r.body)
	}

	// Scopes.
	for _, tc := range []struct {
		method, u, key string
		want           int
	}{
		{"PUT", schemaURL, acmeRead, 403},
		{"PUT", schemaURL, acmeIngest, 403},
		{"PUT", schemaURL, testRootKey, 403},
		{"GET", base + "/v1/actions", acmeIngest, 403},
		{"GET", base + "/v1/actions", "", 401},
		{"GET", schemaURL, acmeIngest, 403},
	} {
		if r := call(t, tc.method, tc.u, tc.key, map[string]any{"type": "object"}); r.status != tc.want {
			t.Errorf("%s %s with key %.8s: %d %s; want %d", tc.method, tc.u, tc.key, r.status, r.body, tc.want)
		}
	}

	// Bad input.
	for _, tc := range []struct {
		method, u string
		body      any
		status    int
		field     string
	}{
		{"PUT", schemaURL, `{"type": "strin"}`, 400, "schema"},
		{"PUT", schemaURL, `{"$ref": "https://example.com/schema.json"}`, 400, "schema"},
		{"PUT", schemaURL, `{"type":`, 400, "schema"},
		{"PUT", schemaURL, `[]`, 400, "schema"},
		{"PUT", schemaURL, ``, 400, "schema"},
		{"PUT", schemaURL, `{"description":"` + strings.Repeat("x", 70000) + `"}`, 413, "schema"},
		{"PUT", base + "/v1/actions/Not%20An%20Action/schema", `{}`, 400, "action"},
		{"GET", base + "/v1/actions/Not%20An%20Action/schema", nil, 400, "action"},
		{"GET", schemaURL + "?version=0", nil, 400, "version"},
		{"GET", schemaURL + "?version=x", nil, 400, "version"},
		{"GET", schemaURL + "?version=9", nil, 404, "version"},
		{"GET", base + "/v1/actions/never.registered/schema", nil, 404, ""},
	} {
		r := call(t, tc.method, tc.u, acme, tc.body)
		if _, field := r.errorOf(t); r.status != tc.status || field != tc.field {
			t.Errorf("%s %s %.40v: %d %s; want %d naming %q", tc.method, tc.u, tc.body, r.status, r.body, tc.status, tc.field)
		}
	}
	// None of the refused schemas made a version.
	if r := call(t, "GET", schemaURL, acme, nil); r.json(t)["version"] != 2.0 {
		t.Errorf("after refused schemas: %s; want still version 2", r.body)
	}
}

func errorMessage(t *testing.T, r response) string {
	t.Helper()
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	json.Unmarshal(r.body, &e)
	return e.Error.Message
}
