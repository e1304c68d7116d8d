package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/catalog"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

// newCatalogAPI serves the API with an action catalog (nil: none).
func newCatalogAPI(t *testing.T, withCatalog bool) *testAPI {
	t.Helper()
	st := openStore(t)
	c := ingest.NewCommitter(st)
	svc := ingest.NewService(c)
	cfg := httpapi.Config{RootKeyHash: httpapi.HashKey(rootKey), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if withCatalog {
		cfg.Catalog = catalog.New(st, st)
		svc.Steps = []ingest.Step{cfg.Catalog.Step}
	}
	s := httpapi.New(st, svc, cfg)
	c.OnCommit = s.ObserveCommit
	c.Open()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
		c.Close()
	})
	return &testAPI{base: "http://" + ln.Addr().String(), api: s, store: st}
}

// putSchema sends schema as the body, byte for byte (json.RawMessage).
func (a *testAPI) putSchema(t *testing.T, key, action, schema string) reply {
	t.Helper()
	return a.do(t, "PUT", "/v1/actions/"+action+"/schema", key, json.RawMessage(schema))
}

func TestActionsEndpoints(t *testing.T) {
	a := newCatalogAPI(t, true)
	key := a.tenant(t, "acme", "ingest", "read", "admin")
	a.ingest(t, key, ev("e1", "user.login", "env_1"), ev("e2", "user.login", "env_1"))

	r := a.putSchema(t, key, "env.update", `{"type":"object","required":["region"]}`)
	if r.status != 201 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("PUT schema: %d %s %s; want 201 JSON", r.status, r.header.Get("Content-Type"), r.body)
	}
	var v struct {
		Action    string          `json:"action"`
		Version   int             `json:"version"`
		Schema    json.RawMessage `json:"schema"`
		CreatedAt time.Time       `json:"created_at"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Action != "env.update" || v.Version != 1 || v.CreatedAt.IsZero() ||
		string(v.Schema) != `{"type":"object","required":["region"]}` {
		t.Errorf("PUT schema = %s; want env.update version 1 with the schema as sent", r.body)
	}
	if r := a.putSchema(t, key, "env.update", `{"required": ["region"], "type": "object"}`); r.status != 200 {
		t.Errorf("PUT the same schema, keys reordered: %d %s; want 200", r.status, r.body)
	}

	// The listing's shape: every field present for registered actions,
	// registered false and no version for the others.
	r = a.do(t, "GET", "/v1/actions", key, nil)
	var list struct {
		Actions []map[string]any `json:"actions"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil || r.status != 200 || len(list.Actions) != 2 {
		t.Fatalf("GET /v1/actions: %d %s", r.status, r.body)
	}
	reg, seen := list.Actions[0], list.Actions[1]
	if reg["action"] != "env.update" || reg["count"] != 0.0 || reg["registered"] != true || reg["version"] != 1.0 || reg["updated_at"] == nil {
		t.Errorf("actions[0] = %v; want env.update, count 0, registered at version 1", reg)
	}
	if _, hasVersion := seen["version"]; seen["action"] != "user.login" || seen["count"] != 2.0 || seen["registered"] != false || hasVersion {
		t.Errorf("actions[1] = %v; want user.login, count 2, not registered, no version", seen)
	}

	// Metadata is validated on ingest.
	bad := ev("e3", "env.update", "env_1")
	if r := a.do(t, "POST", "/v1/events", key, bad); r.status != 400 || !strings.Contains(string(r.body), `"field":"metadata.region"`) {
		t.Errorf("ingest without the required region: %d %s; want 400 naming metadata.region", r.status, r.body)
	}
}

func TestActionsWithoutCatalog(t *testing.T) {
	a := newCatalogAPI(t, false)
	key := a.tenant(t, "acme", "ingest", "read", "admin")
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/actions"},
		{"GET", "/v1/actions/env.update/schema"},
		{"PUT", "/v1/actions/env.update/schema"},
	} {
		if r := a.do(t, c.method, c.path, key, map[string]any{}); r.status != 404 || !strings.Contains(string(r.body), "no action catalog") {
			t.Errorf("%s %s without a catalog: %d %s; want 404", c.method, c.path, r.status, r.body)
		}
	}
}
