package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"testing"
)

// request sends body with exactly the headers given, as a vendor's client
// or server does.
func request(t *testing.T, method, u string, header http.Header, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return roundTrip(t, req)
}

// setupLongTenant creates a tenant keeping ten years, so that the vendors'
// documented sample events (some from 2020) are within its retention, and
// a key with every scope.
func setupLongTenant(t *testing.T, base, name string) string {
	t.Helper()
	return setupTenantDays(t, base, name, 3650)
}

// storedEvents reads every event of query through GET /v1/events.
func storedEvents(t *testing.T, base, key, query string) []map[string]any {
	t.Helper()
	r := call(t, "GET", base+"/v1/events?limit=1000&"+query, key, nil)
	if r.status != 200 {
		t.Fatalf("GET /v1/events?%s = %d %s", query, r.status, r.body)
	}
	var page struct{ Events []map[string]any }
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	return page.Events
}

func TestHECGitHub(t *testing.T) { forEachStore(t, testHECGitHub) }

// testHECGitHub: GitHub's audit-log stream, as it posts to a Splunk HEC,
// is stored once however often it is retried, read back through
// /v1/events with GitHub's fields mapped, and every refusal is HEC's
// answer with nothing stored.
func testHECGitHub(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupLongTenant(t, base, "acme")
	other := setupLongTenant(t, base, "globex")
	readOnly := createKey(t, base, key, "acme", "read")

	stream, err := os.ReadFile("../../internal/compat/github/testdata/stream.hec")
	if err != nil {
		t.Fatal(err)
	}
	hec := func(path, auth string, body []byte, gz bool) response {
		h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"GitHub-Hookshot/streaming"}}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(body)
			zw.Close()
			body = b.Bytes()
			h.Set("Content-Encoding", "gzip")
		}
		return request(t, "POST", base+path, h, body)
	}
	answer := func(r response) (text string, code int, invalid any) {
		t.Helper()
		m := r.json(t)
		c, ok := m["code"].(float64)
		if !ok {
			t.Fatalf("answer %s has no HEC code", r.body)
		}
		return m["text"].(string), int(c), m["invalid-event-number"]
	}

	if r := request(t, "GET", base+"/services/collector/health", nil, nil); r.status != 200 {
		t.Fatalf("health = %d %s", r.status, r.body)
	}

	// The stream, then the same again (an at-least-once retry), gzipped on another path.
	for i, path := range []string{"/services/collector/event", "/services/collector"} {
		r := hec(path, "Splunk "+key, stream, i == 1)
		if text, code, _ := answer(r); r.status != 200 || text != "Success" || code != 0 {
			t.Fatalf("POST %s = %d %s; want 200 Success", path, r.status, r.body)
		}
	}
	got := storedEvents(t, base, key, "source=github&sort=seq")
	if len(got) != 5 {
		t.Fatalf("stored %d events after a retry; want 5", len(got))
	}
	byID := map[string]map[string]any{}
	for _, e := range got {
		byID[e["id"].(string)] = e
	}
	e := byID["github:xJJFlFOhQ6b-5vaAFy9Rjw"]
	if e == nil {
		t.Fatalf("no event github:xJJFlFOhQ6b-5vaAFy9Rjw in %v", got)
	}
	for field, want := range map[string]any{
		"action":      "team.add_member",
		"type":        "update",
		"occurred_at": "2020-12-02T17:24:34.512Z",
		"actor":       map[string]any{"type": "user", "id": "octocat", "name": "octocat"},
		"target":      map[string]any{"type": "user", "id": "monalisa", "name": "monalisa"},
		"context":     map[string]any{"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"},
		"status":      "success",
		"source":      "github",
	} {
		if !reflect.DeepEqual(e[field], want) {
			t.Errorf("%s = %#v; want %#v", field, e[field], want)
		}
	}
	if md := e["metadata"].(map[string]any); md["team"] != "octo-corp/example-team" || md["actor_id"] != float64(583231) {
		t.Errorf("metadata = %v; want GitHub's other fields as sent", md)
	}
	if login := byID["github:e7cc27a98f4e088a576a21f4e8797beadfcb47e4d5afca40b977750c606aaaa5"]; login == nil ||
		login["type"] != "login" || login["context"].(map[string]any)["ip"] != "198.51.100.4" {
		t.Errorf("the login (no document id) = %v; want type login from 198.51.100.4", login)
	}
	waitIntegrated(t, base, key, 5) // in the tenant's ledger, as every event
	// Search by GitHub's own words.
	if ids := listIDs(t, base, key, "scope=organization:octo-corp&target_type=repository"); len(ids) != 2 {
		t.Errorf("repositories in octo-corp = %v; want 2", ids)
	}
	if n := len(storedEvents(t, base, other, "")); n != 0 {
		t.Errorf("globex holds %d events; want none", n)
	}

	// Refusals: HEC's code and text, auditkeep's error naming the field, nothing stored.
	valid := `{"event":{"_document_id":"ok-1","action":"repo.destroy","actor":"octocat","repo":"octo-corp/x"}}`
	tests := []struct {
		name, path, auth, body string
		status, code           int
		invalid                any
		field                  string
	}{
		{"no token", "/services/collector/event", "", valid, 401, 2, nil, ""},
		{"not Splunk", "/services/collector/event", "Bearer " + key, valid, 401, 3, nil, ""},
		{"unknown token", "/services/collector/event", "Splunk ak_nope", valid, 403, 4, nil, ""},
		{"read-only key", "/services/collector/event", "Splunk " + readOnly, valid, 403, 4, nil, ""},
		{"no data", "/services/collector/event", "Splunk " + key, "", 400, 5, nil, "body"},
		{"second not JSON", "/services/collector/event", "Splunk " + key, valid + `{"event":`, 400, 6, float64(1), "events[1]"},
		{"second without event", "/services/collector/event", "Splunk " + key, valid + `{"time":1}`, 400, 12, float64(1), "events[1].event"},
		{"blank event", "/services/collector/event", "Splunk " + key, valid + `{"event":""}`, 400, 13, float64(1), "events[1].event"},
		{"second bad action", "/services/collector/event", "Splunk " + key, valid + `{"event":{"action":"Repo Create","actor":"x"}}`, 400, 6, float64(1), "events[1].event.action"},
		{"second bad ip", "/services/collector/event/1.0", "Splunk " + key, valid + `{"event":{"action":"repo.create","actor":"x","actor_ip":"nowhere"}}`, 400, 6, float64(1), "events[1].event.actor_ip"},
	}
	for _, tt := range tests {
		r := hec(tt.path, tt.auth, []byte(tt.body), false)
		text, code, invalid := answer(r)
		if r.status != tt.status || code != tt.code || text == "" || !reflect.DeepEqual(invalid, tt.invalid) {
			t.Errorf("%s: %d %s; want %d code %d invalid-event-number %v", tt.name, r.status, r.body, tt.status, tt.code, tt.invalid)
			continue
		}
		if _, field := r.errorOf(t); field != tt.field {
			t.Errorf("%s: field %q; want %q (%s)", tt.name, field, tt.field, r.body)
		}
	}
	if n := len(storedEvents(t, base, key, "source=github")); n != 5 {
		t.Errorf("after the refusals %d events; want still 5 (a refused body stores nothing)", n)
	}
	if r := hec("/services/collector/raw", "Splunk "+key, []byte(valid), false); r.status != 404 {
		t.Errorf("raw endpoint = %d; want 404 (only event envelopes are taken)", r.status)
	}
}
