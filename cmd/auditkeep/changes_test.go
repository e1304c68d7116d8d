package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestChangeTracking: diffs from before/snapshot and from the previous
// snapshot, generated descriptions, redaction of secrets everywhere on disk,
// the keyed hash, compare, and deleted targets.
func TestChangeTracking(t *testing.T) { forEachStore(t, testChangeTracking) }

func testChangeTracking(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	const secret = "hunter2-very-secret"
	env := func(id, action string, snapshot map[string]any, before map[string]any) map[string]any {
		e := event(id, action, "usr_1")
		e["snapshot"] = snapshot
		if before != nil {
			e["before"] = before
		}
		return e
	}
	evs := []any{
		env("c1", "environment.create", map[string]any{"name": "prod", "env": map[string]any{"DATABASE_PASSWORD": secret}, "cpu": 1}, nil),
		env("c2", "environment.update", map[string]any{"name": "production", "env": map[string]any{"DATABASE_PASSWORD": secret + "!"}, "cpu": 2}, nil),
	}
	if r := call(t, "POST", base+"/v1/events", key, map[string]any{"events": evs}); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	// c3 carries before and snapshot; c4 only a snapshot (diffed against c2's, stored earlier).
	c3 := env("c3", "service.update", map[string]any{"replicas": 3, "token": secret}, map[string]any{"replicas": 2, "token": secret})
	c3["target"] = map[string]any{"type": "service", "id": "svc_1", "name": "api"}
	if r := call(t, "POST", base+"/v1/events", key, c3); r.status != 200 {
		t.Fatalf("ingest c3: %d %s", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/events", key, env("c4", "environment.update", map[string]any{"name": "production", "env": map[string]any{"DATABASE_PASSWORD": secret + "!"}, "cpu": 4}, nil)); r.status != 200 {
		t.Fatalf("ingest c4: %d %s", r.status, r.body)
	}

	get := func(id string) map[string]any {
		r := call(t, "GET", base+"/v1/events/"+id, key, nil)
		if r.status != 200 {
			t.Fatalf("get %s: %d %s", id, r.status, r.body)
		}
		return r.json(t)
	}
	c2 := get("c2")
	changes, _ := json.Marshal(c2["changes"])
	if !strings.Contains(string(changes), `"field":"cpu"`) || !strings.Contains(string(changes), `"field":"name"`) ||
		!strings.Contains(string(changes), `"field":"env.DATABASE_PASSWORD"`) {
		t.Errorf("c2 changes (against c1's snapshot in the same batch) = %s", changes)
	}
	desc := c2["description"].(string)
	if !strings.Contains(desc, "name changed from 'prod' to 'production'") || !strings.Contains(desc, "hidden") {
		t.Errorf("c2 description = %q", desc)
	}
	if ch, _ := json.Marshal(get("c3")["changes"]); string(ch) != `[{"field":"replicas","new":3,"old":2,"op":"changed"}]` {
		t.Errorf("c3 changes = %s; want only replicas (the token did not change)", ch)
	}
	if ch, _ := json.Marshal(get("c4")["changes"]); string(ch) != `[{"field":"cpu","new":4,"old":2,"op":"changed"}]` {
		t.Errorf("c4 changes = %s; want cpu 2 → 4 against c2's stored snapshot", ch)
	}

	// The keyed hash finds the redacted value.
	r := call(t, "POST", base+"/v1/hash", key, map[string]any{"value": secret})
	hash := r.json(t)["hash"].(string)
	if !strings.HasPrefix(hash, "hmac-sha256:") {
		t.Fatalf("hash = %q", hash)
	}
	snap, _ := json.Marshal(get("c1")["snapshot"])
	if !strings.Contains(string(snap), hash) {
		t.Errorf("c1 snapshot %s does not hold the hash %s of the secret", snap, hash)
	}

	// Compare two events' snapshots.
	r = call(t, "GET", base+"/v1/events/c1/diff?with=c4", key, nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"field":"cpu","op":"changed","old":1,"new":4`)) {
		t.Errorf("diff c1..c4 = %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/v1/events/c1/diff?with=nope", key, nil); r.status != 404 {
		t.Errorf("diff with unknown = %d", r.status)
	}

	// Settings: rules are validated and apply to later events.
	if r := call(t, "PUT", base+"/v1/settings", key, map[string]any{"redaction": map[string]any{"paths": []string{"**.password", "a..b"}}}); r.status != 400 {
		t.Errorf("bad rule = %d %s", r.status, r.body)
	} else if _, f := r.errorOf(t); f != "redaction.paths[1]" {
		t.Errorf("bad rule field = %q", f)
	}
	if r := call(t, "PUT", base+"/v1/settings", key, map[string]any{"redaction": map[string]any{"paths": []string{"**.cpu"}}}); r.status != 200 {
		t.Errorf("put settings = %d %s", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/events", key, env("c5", "environment.update", map[string]any{"cpu": 8}, map[string]any{"cpu": 4})); r.status != 200 {
		t.Fatal(r.status)
	}
	if ch, _ := json.Marshal(get("c5")["changes"]); !strings.Contains(string(ch), "hmac-sha256:") || strings.Contains(string(ch), `"new":8`) {
		t.Errorf("c5 changes under the new rule = %s", ch)
	}
	// c5b carries only a snapshot: its changes come from c4's snapshot,
	// stored in clear before the rule, and are redacted under today's rules
	// (which replaced the defaults: c5b's snapshot holds no secret).
	if r := call(t, "POST", base+"/v1/events", key, env("c5b", "environment.update", map[string]any{"name": "production", "cpu": 16}, nil)); r.status != 200 {
		t.Fatal(r.status)
	}
	if ch, _ := json.Marshal(get("c5b")["changes"]); !strings.Contains(string(ch), `"field":"cpu"`) || strings.Contains(string(ch), `"old":4`) || strings.Contains(string(ch), `"new":16`) {
		t.Errorf("c5b changes against an older snapshot = %s; want cpu changed, both values hashed", ch)
	}

	// Deleted targets: every event of env_7 reads as deleted afterwards.
	del := event("c6", "environment.delete", "usr_1")
	if r := call(t, "POST", base+"/v1/events", key, del); r.status != 200 {
		t.Fatal(r.status)
	}
	if tg := get("c1")["target"].(map[string]any); tg["deleted"] != true || tg["name"] != "production" {
		t.Errorf("c1 target after delete = %v; want deleted, name kept", tg)
	}

	// The clear secret is in no stored byte.
	a.Close()
	if cfg.DatabaseURL != "" {
		for table, b := range dumpTables(t, cfg.DatabaseURL) {
			if bytes.Contains(b, []byte("hunter2")) {
				t.Errorf("table %s holds the clear secret", table)
			}
		}
		return
	}
	files, _ := filepath.Glob(filepath.Join(cfg.DataDir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("hunter2")) {
			t.Errorf("%s holds the clear secret", filepath.Base(f))
		}
	}
}

// dumpTables returns every table of the URL's schema as COPY text.
func dumpTables(t *testing.T, url string) map[string][]byte {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		t.Fatalf("list tables: %v (%d)", err, len(tables))
	}
	out := map[string][]byte{}
	for _, table := range tables {
		var buf bytes.Buffer
		if _, err := conn.PgConn().CopyTo(ctx, &buf, "COPY (SELECT * FROM "+table+") TO STDOUT"); err != nil {
			t.Fatalf("copy %s: %v", table, err)
		}
		out[table] = buf.Bytes()
	}
	return out
}
