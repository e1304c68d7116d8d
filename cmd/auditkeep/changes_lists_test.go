package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChangeTrackingLists: lists of services and of environment variables
// are diffed by identity at ingest and by GET /diff, and a variable's value
// is hidden while its name stays readable — in no stored byte in clear.
func TestChangeTrackingLists(t *testing.T) { forEachStore(t, testChangeTrackingLists) }

func testChangeTrackingLists(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	const secret, secret2 = "pg-pw-8f3a61c0", "pg-pw-2d77b9e4"

	services := func(names ...string) []any {
		var s []any
		for _, n := range names {
			s = append(s, map[string]any{"id": "svc_" + n, "name": n, "replicas": 2})
		}
		return s
	}
	sixteen := make([]string, 16)
	for i := range sixteen {
		sixteen[i] = fmt.Sprintf("s%02d", i)
	}
	withPayments := append(append(append([]string{}, sixteen[:5]...), "payments"), sixteen[5:]...)
	envEvent := func(id string, snapshot map[string]any) map[string]any {
		e := event(id, "environment.update", "usr_1")
		e["snapshot"] = snapshot
		return e
	}
	svcEvent := func(id string, before, snapshot map[string]any) map[string]any {
		e := event(id, "service.update", "usr_1")
		e["target"] = map[string]any{"type": "service", "id": "svc_api", "name": "api"}
		e["before"], e["snapshot"] = before, snapshot
		return e
	}
	vars := func(url string, extra ...string) []any {
		v := []any{map[string]any{"id": "var_1", "key": "DATABASE_URL", "value": "postgres://app:" + url + "@db/shop"},
			map[string]any{"id": "var_2", "key": "LOG_LEVEL", "value": "info"}}
		for _, k := range extra {
			v = append(v, map[string]any{"id": "var_" + k, "key": k, "value": "on-" + url})
		}
		return v
	}
	evs := []any{
		envEvent("l1", map[string]any{"name": "production", "services": services(sixteen...)}),
		// Only a snapshot: diffed against l1's.
		envEvent("l2", map[string]any{"name": "production", "services": services(withPayments...)}),
		svcEvent("l3", map[string]any{"environment_variables": vars(secret)},
			map[string]any{"environment_variables": vars(secret2, "FEATURE_X")}),
	}
	if r := call(t, "POST", base+"/v1/events", key, map[string]any{"events": evs}); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	get := func(id string) map[string]any {
		r := call(t, "GET", base+"/v1/events/"+id, key, nil)
		if r.status != 200 {
			t.Fatalf("get %s: %d %s", id, r.status, r.body)
		}
		return r.json(t)
	}
	fields := func(cs any) string {
		var out []string
		for _, c := range cs.([]any) {
			m := c.(map[string]any)
			out = append(out, m["op"].(string)+" "+m["field"].(string))
		}
		return strings.Join(out, ", ")
	}

	l2 := get("l2")
	if got := fields(l2["changes"]); got != "added services[id=svc_payments]" {
		t.Errorf("l2 changes = %s; want the one service added", got)
	}
	if d := l2["description"]; d != "Updated environment 'production' in project 'Shop': service 'payments' added" {
		t.Errorf("l2 description = %q", d)
	}

	l3 := get("l3")
	if got := fields(l3["changes"]); got != "changed environment_variables[key=DATABASE_URL].value, added environment_variables[key=FEATURE_X]" {
		t.Errorf("l3 changes = %s", got)
	}
	want := "Updated service 'api' in project 'Shop': environment variable DATABASE_URL changed (value hidden), environment variable FEATURE_X added"
	if d := l3["description"]; d != want {
		t.Errorf("l3 description = %q; want %q", d, want)
	}
	snap, _ := json.Marshal(l3["snapshot"])
	if !bytes.Contains(snap, []byte(`"key":"DATABASE_URL","value":"hmac-sha256:`)) {
		t.Errorf("l3 snapshot = %s; want the variable's name kept, its value hashed", snap)
	}

	// Compare any two events of the tenant, of one target or of two.
	diff := func(id, with string) (int, string) {
		r := call(t, "GET", base+"/v1/events/"+id+"/diff?with="+with, key, nil)
		if r.status != 200 {
			return r.status, string(r.body)
		}
		return r.status, fields(r.json(t)["changes"])
	}
	if s, got := diff("l1", "l2"); s != 200 || got != "added services[id=svc_payments]" {
		t.Errorf("diff l1..l2 = %d %s", s, got)
	}
	if s, got := diff("l2", "l1"); s != 200 || got != "removed services[id=svc_payments]" {
		t.Errorf("diff l2..l1 = %d %s", s, got)
	}
	if s, got := diff("l3", "l3"); s != 200 || got != "" {
		t.Errorf("diff l3..l3 = %d %s; want no changes", s, got)
	}
	if s, got := diff("l1", "l3"); s != 200 || !strings.Contains(got, "removed services") || !strings.Contains(got, "added environment_variables") {
		t.Errorf("diff l1..l3 (two targets) = %d %s", s, got)
	}
	other := setupTenant(t, base, "globex")
	if r := call(t, "GET", base+"/v1/events/l1/diff?with=l2", other, nil); r.status != 404 {
		t.Errorf("diff of another tenant's events = %d %s; want 404", r.status, r.body)
	}
	r := call(t, "GET", base+"/v1/events/l1/diff", key, nil)
	if code, field := r.errorOf(t); r.status != 400 || code != "invalid" || field != "with" {
		t.Errorf("diff without with = %d %s", r.status, r.body)
	}

	// The values are in no stored byte in clear; the names are.
	a.Close()
	var stored map[string][]byte
	if cfg.DatabaseURL != "" {
		stored = dumpTables(t, cfg.DatabaseURL)
	} else {
		stored = map[string][]byte{}
		files, _ := filepath.Glob(filepath.Join(cfg.DataDir, "*"))
		for _, f := range files {
			stored[filepath.Base(f)], _ = os.ReadFile(f)
		}
	}
	var all []byte
	for name, b := range stored {
		all = append(all, b...)
		for _, s := range []string{secret, secret2} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the clear value %s", name, s)
			}
		}
	}
	if !bytes.Contains(all, []byte("FEATURE_X")) {
		t.Errorf("the variable name FEATURE_X is stored nowhere")
	}
}
