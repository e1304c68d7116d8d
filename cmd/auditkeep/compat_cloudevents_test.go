package main

import (
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestCloudEvents(t *testing.T) { forEachStore(t, testCloudEvents) }

// testCloudEvents: CloudEvents in the three modes of the HTTP binding are
// stored once per source and id however often and in whichever mode they
// are re-sent, read back through /v1/events with their attributes and data
// mapped; a batch is atomic; refusals name the attribute.
func testCloudEvents(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupLongTenant(t, base, "acme")
	other := setupLongTenant(t, base, "globex")
	readOnly := createKey(t, base, key, "acme", "read")
	post := func(cred string, h http.Header, body string) response {
		t.Helper()
		hh := http.Header{"Authorization": {"Bearer " + cred}}
		for k, v := range h {
			hh[k] = v
		}
		return request(t, "POST", base+"/cloudevents", hh, []byte(body))
	}
	structured := http.Header{"Content-Type": {"application/cloudevents+json; charset=UTF-8"}}
	batch := http.Header{"Content-Type": {"application/cloudevents-batch+json"}}
	read := func(name string) string {
		b, err := os.ReadFile("../../internal/compat/cloudevents/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// The abuse-protection handshake of CloudEvents' webhook spec.
	r := request(t, "OPTIONS", base+"/cloudevents", http.Header{"WebHook-Request-Origin": {"eventemitter.example.com"}}, nil)
	if r.status != 200 || r.header.Get("WebHook-Allowed-Origin") != "eventemitter.example.com" {
		t.Fatalf("OPTIONS = %d %v", r.status, r.header)
	}

	for try := range 2 {
		dup := float64(try)
		if r := post(key, structured, read("audit_shaped.ce.json")); r.status != 200 || r.json(t)["duplicates"] != dup {
			t.Fatalf("structured, try %d: %d %s", try, r.status, r.body)
		}
		if r := post(key, batch, read("two.batch.json")); r.status != 200 || r.json(t)["duplicates"] != 2*dup {
			t.Fatalf("batch, try %d: %d %s", try, r.status, r.body)
		}
		binary := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Type": {"com.example.user.login"}, "Ce-Source": {"https://sso.example.com"},
			"Ce-Id": {"9f8e-1"}, "Ce-Time": {"2026-11-30T17:31:00Z"}, "Ce-Authtype": {"user"}, "Ce-Authid": {"usr_42"},
			"Ce-Comment": {"caf%C3%A9"}, "Content-Type": {"application/json"}}
		if r := post(key, binary, `{"method":"password","mfa":true}`); r.status != 200 || r.json(t)["duplicates"] != dup {
			t.Fatalf("binary, try %d: %d %s", try, r.status, r.body)
		}
	}
	// The binary login again, now in structured mode: the same source and id, the same event.
	again := `{"specversion":"1.0","type":"com.example.user.login","source":"https://sso.example.com","id":"9f8e-1","data":{}}`
	if r := post(key, structured, again); r.status != 200 || r.json(t)["duplicates"] != float64(1) {
		t.Fatalf("the login in structured mode: %d %s; want a duplicate", r.status, r.body)
	}
	got := storedEvents(t, base, key, "source=cloudevents")
	if len(got) != 4 {
		t.Fatalf("stored %d events; want 4", len(got))
	}
	byAction := map[string]map[string]any{}
	for _, e := range got {
		byAction[e["action"].(string)] = e
	}
	env := byAction["com.example.environment.updated"]
	for field, want := range map[string]any{
		"type":        "update",
		"occurred_at": "2026-11-30T17:00:00Z",
		"actor":       map[string]any{"type": "user", "id": "usr_42", "name": "Alice Martin", "email": "alice@example.com"},
		"target":      map[string]any{"type": "environment", "id": "env_7", "name": "production"},
		"changes":     []any{map[string]any{"field": "replicas", "op": "changed", "old": float64(2), "new": float64(3)}},
	} {
		if !reflect.DeepEqual(env[field], want) {
			t.Errorf("environment.updated %s = %#v; want %#v", field, env[field], want)
		}
	}
	md := env["metadata"].(map[string]any)
	if md["ticket"] != "OPS-12" || md["cloudevents"].(map[string]any)["source"] != "/platform/api" || md["data"].(map[string]any)["request_id"] != "req_9" {
		t.Errorf("metadata = %v; want data's metadata, the attributes and the rest of data", md)
	}
	if pod := byAction["io.k8s.pod.deleted"]; pod["type"] != "delete" || !reflect.DeepEqual(pod["actor"], map[string]any{"type": "service", "id": "system:serviceaccount:kube-system:cron"}) ||
		!reflect.DeepEqual(pod["target"], map[string]any{"type": "pod", "id": "default/web-0", "deleted": true}) {
		t.Errorf("pod.deleted = %v", pod)
	}
	if login := byAction["com.example.user.login"]; login["type"] != "login" || login["metadata"].(map[string]any)["cloudevents"].(map[string]any)["comment"] != "café" {
		t.Errorf("login = %v; want type login and the percent-decoded extension", login)
	}
	if n := len(storedEvents(t, base, other, "")); n != 0 {
		t.Errorf("globex holds %d events", n)
	}

	ok := `"specversion":"1.0","source":"/s","type":"com.example.thing.created"`
	tests := []struct {
		name   string
		cred   string
		header http.Header
		body   string
		status int
		field  string
	}{
		{"read-only key", readOnly, structured, `{` + ok + `,"id":"r1"}`, 403, ""},
		{"no id", key, structured, `{` + ok + `}`, 400, "id"},
		{"bad time", key, structured, `{` + ok + `,"id":"r2","time":"noon"}`, 400, "time"},
		{"bad actor", key, structured, `{` + ok + `,"id":"r3","data":{"actor":{"id":"u","type":"robot"}}}`, 400, "data.actor.type"},
		{"bad ip", key, structured, `{` + ok + `,"id":"r4","data":{"context":{"ip":"here"}}}`, 400, "data.context.ip"},
		{"batch, second bad", key, batch, `[{` + ok + `,"id":"r5"},{` + ok + `,"id":"r6","time":"noon"}]`, 400, "events[1].time"},
		{"binary, no type", key, http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"r7"}, "Ce-Source": {"/s"}}, ``, 400, "ce-type"},
		{"binary, bad type", key, http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"r8"}, "Ce-Source": {"/s"}, "Ce-Type": {"a b"}}, ``, 400, "ce-type"},
		{"not a batch", key, batch, `{` + ok + `,"id":"r9"}`, 400, "body"},
	}
	for _, tt := range tests {
		r := post(tt.cred, tt.header, tt.body)
		if r.status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.name, r.status, r.body, tt.status)
			continue
		}
		if _, field := r.errorOf(t); field != tt.field {
			t.Errorf("%s: field %q; want %q (%s)", tt.name, field, tt.field, r.body)
		}
	}
	if n := len(storedEvents(t, base, key, "source=cloudevents")); n != 4 {
		t.Errorf("after the refusals %d events; want 4 (the refused batch's valid first event is not stored)", n)
	}
	if r := post(key, batch, `[]`); r.status != 200 || !strings.Contains(string(r.body), `"accepted":0`) {
		t.Errorf("an empty batch = %d %s; want 200 with nothing accepted", r.status, r.body)
	}
}
