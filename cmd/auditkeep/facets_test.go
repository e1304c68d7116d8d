package main

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
)

func TestFacets(t *testing.T) { forEachStore(t, testFacets) }

// testFacets: GET /v1/facets answers distinct values with ids, unique names
// and counts under the filters of GET /v1/events, q and viewer tokens
// included, and refuses a bad field naming it.
func testFacets(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	scoped := func(id, project, projectName, env string) map[string]any {
		e := event(id, "environment.update", "usr_1")
		e["scope"] = []any{map[string]any{"type": "project", "id": project, "name": projectName},
			map[string]any{"type": "environment", "id": env, "name": "production"}}
		e["target"] = map[string]any{"type": "environment", "id": env, "name": "production"}
		return e
	}
	batch := []any{scoped("f1", "prj_1", "Shop", "env_1"), scoped("f2", "prj_1", "Shop", "env_1"),
		scoped("f3", "prj_2", "Shop", "env_2"), event("f4", "user.login", "usr_2")}
	if r := call(t, "POST", base+"/v1/events", key, map[string]any{"events": batch}); r.status != 200 {
		t.Fatalf("POST /v1/events = %d %s", r.status, r.body)
	}
	type value struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Count int64  `json:"count"`
	}
	facets := func(cred, query string) []value {
		t.Helper()
		r := call(t, "GET", base+"/v1/facets?"+query, cred, nil)
		if r.status != 200 {
			t.Fatalf("GET /v1/facets?%s = %d %s", query, r.status, r.body)
		}
		var body struct{ Values []value }
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("GET /v1/facets?%s: %v in %s", query, err, r.body)
		}
		return body.Values
	}
	readOnly := createKey(t, base, key, "acme", "read")
	tests := []struct {
		query string
		want  []value
	}{
		{"field=project", []value{{"prj_1", "Shop (prj_1)", 3}, {"prj_2", "Shop (prj_2)", 1}}},
		{"field=environment&scope=project:prj_1", []value{{"env_1", "production", 2}}},
		{"field=target&q=" + url.QueryEscape("target_type:environment -actor:usr_2"), []value{{"env_1", "production (env_1)", 2}, {"env_2", "production (env_2)", 1}}},
		{"field=action", []value{{"environment.update", "environment.update", 3}, {"user.login", "user.login", 1}}},
		{"field=actor&action=user.login", []value{{"usr_2", "Alice Martin", 1}}},
	}
	for _, tt := range tests {
		if got := facets(readOnly, tt.query); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("GET /v1/facets?%s = %+v; want %+v", tt.query, got, tt.want)
		}
	}

	// A viewer token's filters apply.
	r := call(t, "POST", base+"/v1/viewer-tokens", key, map[string]any{"filters": map[string]any{"scope": "project:prj_2"}, "ttl_seconds": 60})
	if r.status != 201 && r.status != 200 {
		t.Fatalf("POST /v1/viewer-tokens = %d %s", r.status, r.body)
	}
	viewer := r.json(t)["token"].(string)
	if got, want := facets(viewer, "field=environment"), []value{{"env_2", "production", 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("GET /v1/facets?field=environment with a viewer token = %+v; want %+v", got, want)
	}

	for _, tt := range []struct {
		query, field string
	}{
		{"field=colour", "field"},
		{"", "field"},
		{"field=project&field=team", "field"},
		{"field=project&type=mutate", "type"},
		{"field=project&q=%25", "q"},
	} {
		r := call(t, "GET", base+"/v1/facets?"+tt.query, key, nil)
		if r.status != 400 {
			t.Errorf("GET /v1/facets?%s = %d %s; want 400", tt.query, r.status, r.body)
			continue
		}
		if code, field := r.errorOf(t); code != "invalid" || field != tt.field {
			t.Errorf("GET /v1/facets?%s: error %q field %q; want invalid field %q", tt.query, code, field, tt.field)
		}
	}
	ingestOnly := createKey(t, base, key, "acme", "ingest")
	if r := call(t, "GET", base+"/v1/facets?field=project", ingestOnly, nil); r.status != 403 {
		t.Errorf("GET /v1/facets with an ingest key = %d; want 403", r.status)
	}
}
