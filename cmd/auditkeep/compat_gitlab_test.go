package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestGitLabStreaming(t *testing.T) { forEachStore(t, testGitLabStreaming) }

// testGitLabStreaming: GitLab's streamed audit events, posted with the
// headers GitLab sends (form content type, verification token, event type)
// and each posted twice as GitLab may, are stored once each, read back
// through /v1/events with GitLab's fields mapped; a refusal names GitLab's
// member and stores nothing.
func testGitLabStreaming(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupLongTenant(t, base, "acme")
	other := setupLongTenant(t, base, "globex")
	readOnly := createKey(t, base, key, "acme", "read")

	gitlab := func(header http.Header, body []byte) response {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "User-Agent": {"GitLab/17.1.0"}}
		for k, v := range header {
			h[k] = v
		}
		return request(t, "POST", base+"/gitlab/audit", h, body)
	}
	files, _ := filepath.Glob("../../internal/compat/gitlab/testdata/*.json")
	if len(files) < 5 {
		t.Fatalf("GitLab payloads: %v", files)
	}
	for i, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			EventType string `json:"event_type"`
		}
		json.Unmarshal(body, &ev)
		// The verification token, or GitLab's own token with the key in a custom header.
		h := http.Header{"X-Gitlab-Event-Streaming-Token": {key}, "X-Gitlab-Audit-Event-Type": {ev.EventType}}
		if i%2 == 1 {
			h = http.Header{"X-Gitlab-Event-Streaming-Token": {"gitlab-made-token-123"}, "Authorization": {"Bearer " + key}, "X-Gitlab-Audit-Event-Type": {ev.EventType}}
		}
		for try, dup := range []float64{0, 1} {
			r := gitlab(h, body)
			if r.status != 200 || r.json(t)["duplicates"] != dup {
				t.Fatalf("%s, try %d: %d %s; want 200 with %v duplicates", f, try, r.status, r.body, dup)
			}
		}
	}
	got := storedEvents(t, base, key, "source=gitlab")
	if len(got) != len(files) {
		t.Fatalf("stored %d events; want %d, once each", len(got), len(files))
	}
	byID := map[string]map[string]any{}
	for _, e := range got {
		byID[e["id"].(string)] = e
	}
	e := byID["gitlab:104"]
	for field, want := range map[string]any{
		"action":      "group_visibility_level_updated",
		"type":        "update",
		"occurred_at": "2022-03-09T06:53:11.181Z",
		"actor":       map[string]any{"type": "user", "id": "7", "name": "Jane Doe", "email": "jane@example.com"},
		"target":      map[string]any{"type": "Group", "id": "6", "name": "example-group"},
		"scope":       []any{map[string]any{"type": "group", "id": "6", "name": "example-group"}},
		"context":     map[string]any{"ip": "2001:db8::1"},
		"changes":     []any{map[string]any{"field": "visibility_level", "op": "changed", "old": "private", "new": "public"}},
	} {
		if !reflect.DeepEqual(e[field], want) {
			t.Errorf("gitlab:104 %s = %#v; want %#v", field, e[field], want)
		}
	}
	if d, _ := e["description"].(string); d == "" {
		t.Errorf("gitlab:104 has no description (auditkeep writes one from the change)")
	}
	if e := byID["gitlab:105"]; e["status"] != "failure" || e["type"] != "login" {
		t.Errorf("failed login = %v; want a failed login", e)
	}
	if ids := listIDs(t, base, key, "scope=project:29&type=update"); !reflect.DeepEqual(ids, []string{"gitlab:101"}) {
		t.Errorf("pushes to project 29 = %v; want the SSH push", ids)
	}
	if n := len(storedEvents(t, base, other, "")); n != 0 {
		t.Errorf("globex holds %d events", n)
	}

	valid := `{"id":200,"author_id":1,"author_name":"a","event_type":"project_created","created_at":"2022-03-09T06:53:11Z"}`
	tests := []struct {
		name   string
		header http.Header
		body   string
		status int
		field  string
	}{
		{"no token", nil, valid, 401, ""},
		{"unknown token", http.Header{"X-Gitlab-Event-Streaming-Token": {"0123456789abcdef0123"}}, valid, 401, ""},
		{"read-only key", http.Header{"X-Gitlab-Event-Streaming-Token": {readOnly}}, valid, 403, ""},
		{"bad time", http.Header{"X-Gitlab-Event-Streaming-Token": {key}}, `{"id":201,"author_id":1,"event_type":"project_created","created_at":"today"}`, 400, "created_at"},
		{"bad ip", http.Header{"X-Gitlab-Event-Streaming-Token": {key}}, `{"id":202,"author_id":1,"event_type":"project_created","ip_address":"localhost"}`, 400, "ip_address"},
		{"bad type", http.Header{"X-Gitlab-Event-Streaming-Token": {key}}, `{"id":203,"author_id":1,"event_type":"Project Created"}`, 400, "event_type"},
		{"no type", http.Header{"X-Gitlab-Event-Streaming-Token": {key}}, `{"id":204,"author_id":1}`, 400, "event_type"},
		{"not JSON", http.Header{"X-Gitlab-Event-Streaming-Token": {key}}, `id=205&author_id=1`, 400, "body"},
	}
	for _, tt := range tests {
		r := gitlab(tt.header, []byte(tt.body))
		if r.status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.name, r.status, r.body, tt.status)
			continue
		}
		if _, field := r.errorOf(t); field != tt.field {
			t.Errorf("%s: field %q; want %q (%s)", tt.name, field, tt.field, r.body)
		}
	}
	if n := len(storedEvents(t, base, key, "source=gitlab")); n != len(files) {
		t.Errorf("after the refusals %d events; want %d", n, len(files))
	}
}
