package main

import (
	"strings"
	"testing"
)

// TestStrictMembers sends every document the API takes with a repeated
// member or a member spelled in another case than the API's: each is
// refused naming the member, and nothing is stored or changed.
func TestStrictMembers(t *testing.T) { forEachStore(t, testStrictMembers) }

func testStrictMembers(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	ev := `"action":"a.create","actor":{"id":"u"}`
	for _, tc := range []struct {
		method, path, key, body string
		field, msg              string
	}{
		{"POST", "/v1/events", key, `{"action":"a.create","action":"a.delete","actor":{"id":"u"}}`, "action", "duplicate member"},
		{"POST", "/v1/events", key, `{"events":[{` + ev + `},{"action":"a.create","action":"a.delete","actor":{"id":"u"}}]}`, "events[1].action", "duplicate member"},
		{"POST", "/v1/events", key, `{"events":[{"ACTION":"a.create","actor":{"id":"u"}}]}`, "events[0].ACTION", `unknown member "ACTION" (did you mean "action"?)`},
		{"POST", "/v1/events", key, `{"Action":"a.create","actor":{"id":"u"}}`, "Action", `did you mean "action"?`},
		{"POST", "/v1/events", key, `{"ID":"x",` + ev + `}`, "ID", `did you mean "id"?`},
		{"POST", "/v1/events", key, `{"events":[{"action":"a.create","actor":{"id":"u","ID":"v"}}]}`, "events[0].actor.ID", `did you mean "id"?`},
		{"POST", "/v1/events", key, `{"events":[{` + ev + `,"target":{"type":"t","id":"1","Type":"u"}}]}`, "events[0].target.Type", `did you mean "type"?`},
		{"POST", "/v1/events", key, `{"events":[{` + ev + `,"scope":[{"type":"p","id":"1","Name":"x"}]}]}`, "events[0].scope[0].Name", `did you mean "name"?`},
		{"POST", "/v1/events", key, `{"events":[{` + ev + `,"changes":[{"field":"a","Old":1}]}]}`, "events[0].changes[0].Old", `did you mean "old"?`},
		{"POST", "/v1/events", key, `{"events":[{` + ev + `,"metadata":{"x":1,"x":2}}]}`, "events[0].metadata.x", "duplicate member"},
		{"POST", "/v1/events", key, `{"events":[{` + ev + `}],"events":[{` + ev + `}]}`, "events", "duplicate member"},
		{"POST", "/v1/tenants", testRootKey, `{"name":"beta","Name":"gamma"}`, "Name", `did you mean "name"?`},
		{"POST", "/v1/tenants", testRootKey, `{"name":"beta","name":"gamma"}`, "name", "duplicate member"},
		{"PUT", "/v1/tenants/acme", testRootKey, `{"retention_days":30,"retention_days":1}`, "retention_days", "duplicate member"},
		{"PUT", "/v1/tenants/acme", testRootKey, `{"Retention_Days":1}`, "Retention_Days", `did you mean "retention_days"?`},
		{"POST", "/v1/tenants/acme/keys", testRootKey, `{"name":"k","scopes":["read"],"scopes":["admin"]}`, "scopes", "duplicate member"},
		{"POST", "/v1/tenants/acme/keys", testRootKey, `{"name":"k","SCOPES":["admin"]}`, "SCOPES", `did you mean "scopes"?`},
		{"PUT", "/v1/settings", key, `{"redaction":{"Paths":["a.b"]}}`, "redaction.Paths", `did you mean "paths"?`},
		{"PUT", "/v1/settings", key, `{"redaction":{"paths":["a.b"],"paths":[]}}`, "redaction.paths", "duplicate member"},
		{"POST", "/v1/holds", key, `{"reason":"audit","Reason":"x"}`, "Reason", `did you mean "reason"?`},
		{"POST", "/v1/hash", key, `{"value":"a","value":"b"}`, "value", "duplicate member"},
		{"POST", "/v1/viewer-tokens", key, `{"filters":{"action":"a.create","action":"a.delete"}}`, "filters.action", "duplicate member"},
		{"POST", "/v1/viewer-tokens", key, `{"filters":{"action":"a.create"},"TTL_Seconds":60}`, "TTL_Seconds", `did you mean "ttl_seconds"?`},
		{"PUT", "/v1/actions/a.create/schema", key, `{"type":"object","type":"array"}`, "schema.type", "duplicate member"},
	} {
		r := call(t, tc.method, base+tc.path, tc.key, tc.body)
		if r.status != 400 {
			t.Errorf("%s %s %s: status %d %s; want 400", tc.method, tc.path, tc.body, r.status, r.body)
			continue
		}
		code, field := r.errorOf(t)
		if code != "invalid" || field != tc.field || !strings.Contains(string(r.body), strings.ReplaceAll(tc.msg, `"`, `\"`)) {
			t.Errorf("%s %s %s: %s; want invalid naming %s with %q", tc.method, tc.path, tc.body, r.body, tc.field, tc.msg)
		}
	}
	if ids := listIDs(t, base, key, "limit=100"); len(ids) != 0 {
		t.Errorf("%d events stored; want none", len(ids))
	}
	if r := call(t, "GET", base+"/v1/settings", key, nil); !strings.Contains(string(r.body), `"retention_days":30`) {
		t.Errorf("settings after refused updates: %s; want retention_days 30", r.body)
	}
	if r := call(t, "POST", base+"/v1/tenants", testRootKey, `{"name":"beta"}`); r.status != 201 {
		t.Errorf("create beta = %d %s; want 201 (the refused creations made nothing)", r.status, r.body)
	}
}
