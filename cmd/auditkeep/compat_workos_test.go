package main

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// What WorkOS's SDKs send, copied from them: workos-go client.go request
// (Bearer key, JSON, User-Agent, an Idempotency-Key generated once per POST
// and kept on every retry of 429 and 5xx) and workos-node
// src/audit-logs/audit-logs.ts createEvent (the key "workos-node-<uuid>",
// the serialized event) and src/common/net (retries of 408, 429, 500, 502,
// 503, 504).

// workosCall sends one request as workos-go's client does, retrying with
// the same Idempotency-Key while the status is one it retries (at most
// three retries, as its default), and returns the last answer and how many
// attempts it took.
func workosCall(t *testing.T, method, u, key, idem string, body any) (response, int) {
	t.Helper()
	data, raw := body.([]byte)
	if body != nil && !raw {
		data, _ = json.Marshal(body)
	}
	if method == http.MethodPost && idem == "" {
		b := make([]byte, 16)
		rand.Read(b)
		idem = "workos-node-" + hex.EncodeToString(b)
	}
	var r response
	for attempt := 0; attempt <= 3; attempt++ {
		req, _ := http.NewRequest(method, u, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "workos-go/10.1.1")
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		r = roundTrip(t, req)
		switch r.status {
		case 408, 429, 500, 502, 503, 504:
			continue
		}
		return r, attempt + 1
	}
	return r, 4
}

// workosErrorOf reads WorkOS's error body.
func workosErrorOf(t *testing.T, r response) (msg, code string, errs []map[string]any) {
	t.Helper()
	var e struct {
		Message string           `json:"message"`
		Code    string           `json:"code"`
		Errors  []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Message == "" {
		t.Fatalf("status %d: body %s is not WorkOS's error shape", r.status, r.body)
	}
	return e.Message, e.Code, e.Errors
}

// workosEvent is an event as workos-node's serializeCreateAuditLogEventOptions writes it.
func workosEvent(org string) map[string]any {
	return map[string]any{
		"organization_id": org,
		"event": map[string]any{
			"action":      "document.updated",
			"version":     1,
			"occurred_at": "2026-11-25T10:00:00.000Z",
			"actor":       map[string]any{"id": "user_01GBNJC3MX9ZZJW1FSTF4C5938", "type": "user", "name": "Jon Smith", "metadata": map[string]any{"role": "admin"}},
			"targets": []any{
				map[string]any{"id": "document_39127", "type": "document", "name": "Q3 plan", "metadata": map[string]any{"cost": 12.5}},
				map[string]any{"id": "team_1", "type": "team"},
			},
			"context":  map[string]any{"location": "123.123.123.123", "user_agent": "Chrome/104.0.0.0"},
			"metadata": map[string]any{"transactionId": "trx_123", "successful": true},
		},
	}
}

func TestWorkOSAuditLogs(t *testing.T) { forEachStore(t, testWorkOSAuditLogs) }

func testWorkOSAuditLogs(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	const org = "org_01EHZNVPK3SFK441A1RGBFSHRT"
	tenant := "org-01ehznvpk3sfk441a1rgbfshrt"
	admin := setupTenant(t, base, tenant)
	setupTenant(t, base, "globex")
	ingestKey := createKey(t, base, testRootKey, tenant, "ingest")
	readKey := createKey(t, base, testRootKey, tenant, "read")
	globexKey := createKey(t, base, testRootKey, "globex", "ingest", "export")

	// The answer to the first attempt is lost (502 from a proxy after the
	// server committed); the SDK retries with the same key.
	var dropped atomic.Int32
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(res *http.Response) error {
		if dropped.Add(1) == 1 {
			res.StatusCode = http.StatusBadGateway
		}
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	r, attempts := workosCall(t, "POST", "http://"+ln.Addr().String()+"/audit_logs/events", ingestKey, "", workosEvent(org))
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"success":true}` || attempts != 2 {
		t.Fatalf("createEvent through a lossy proxy: %d %s after %d attempts; want 200 {\"success\":true} after 2", r.status, r.body, attempts)
	}
	if ids := listIDs(t, base, readKey, "limit=100"); len(ids) != 1 {
		t.Fatalf("after a retried createEvent /v1/events holds %v; want one event", ids)
	}
	// The same key with another event: 409, nothing stored.
	idem := "workos-node-fixed-key"
	if r, _ := workosCall(t, "POST", base+"/audit_logs/events", ingestKey, idem, workosEvent(org)); r.status != 200 {
		t.Fatalf("createEvent: %d %s", r.status, r.body)
	}
	other := workosEvent(org)
	other["event"].(map[string]any)["action"] = "document.deleted"
	r, _ = workosCall(t, "POST", base+"/audit_logs/events", ingestKey, idem, other)
	if _, code, _ := workosErrorOf(t, r); r.status != 409 || code == "" {
		t.Errorf("the same Idempotency-Key with another event: %d %s; want 409", r.status, r.body)
	}

	// Read back through /v1/events, field by field.
	got := call(t, "GET", base+"/v1/events?limit=1", readKey, nil)
	var page struct {
		Events []struct {
			ID, Action, Type string
			OccurredAt       time.Time `json:"occurred_at"`
			Actor            struct{ Type, ID, Name string }
			Target           struct{ Type, ID, Name string }
			Context          struct {
				IP        string `json:"ip"`
				UserAgent string `json:"user_agent"`
			}
			Metadata struct {
				WorkOS struct {
					Version       int
					Metadata      map[string]any
					ActorMetadata map[string]any `json:"actor_metadata"`
					Targets       []map[string]any
				} `json:"workos"`
			}
		}
	}
	json.Unmarshal(got.body, &page)
	if len(page.Events) != 1 {
		t.Fatalf("GET /v1/events: %s", got.body)
	}
	e := page.Events[0]
	x := e.Metadata.WorkOS
	if e.Action != "document.updated" || e.Type != "update" || !e.OccurredAt.Equal(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)) ||
		e.Actor.Type != "user" || e.Actor.ID != "user_01GBNJC3MX9ZZJW1FSTF4C5938" || e.Actor.Name != "Jon Smith" ||
		e.Target.Type != "document" || e.Target.ID != "document_39127" || e.Target.Name != "Q3 plan" ||
		e.Context.IP != "123.123.123.123" || e.Context.UserAgent != "Chrome/104.0.0.0" || x.Version != 1 ||
		x.Metadata["transactionId"] != "trx_123" || x.ActorMetadata["role"] != "admin" || len(x.Targets) != 2 {
		t.Errorf("stored event = %s; want the WorkOS event mapped field by field", got.body)
	}

	// Refusals in WorkOS's shapes, storing nothing.
	bad := workosEvent(org)
	delete(bad["event"].(map[string]any)["actor"].(map[string]any), "id")
	r, _ = workosCall(t, "POST", base+"/audit_logs/events", ingestKey, "", bad)
	if _, _, errs := workosErrorOf(t, r); r.status != 422 || len(errs) != 1 || errs[0]["field"] != "event.actor.id" || errs[0]["code"] == "" {
		t.Errorf("event without actor.id: %d %s; want 422 naming event.actor.id", r.status, r.body)
	}
	r, _ = workosCall(t, "POST", base+"/audit_logs/events", ingestKey, "", []byte(`{"organization_id":`))
	if workosErrorOf(t, r); r.status != 400 {
		t.Errorf("a body that is not JSON: %d %s; want 400", r.status, r.body)
	}
	r, _ = workosCall(t, "POST", base+"/audit_logs/events", "ak_unknown", "", workosEvent(org))
	if msg, _, _ := workosErrorOf(t, r); r.status != 401 || msg != "Unauthorized" {
		t.Errorf("an unknown key: %d %s; want 401 Unauthorized", r.status, r.body)
	}
	r, _ = workosCall(t, "POST", base+"/audit_logs/events", globexKey, "", workosEvent(org))
	if workosErrorOf(t, r); r.status != 403 {
		t.Errorf("another tenant's organization: %d %s; want 403", r.status, r.body)
	}

	// A schema, as workos-node's createSchema serializes it, becomes the
	// action's catalog schema: events must then fit it.
	schema := map[string]any{
		"targets":  []any{map[string]any{"type": "document", "metadata": map[string]any{"type": "object", "properties": map[string]any{"cost": map[string]any{"type": "number"}}}}, map[string]any{"type": "team"}},
		"actor":    map[string]any{"metadata": map[string]any{"type": "object", "properties": map[string]any{"role": map[string]any{"type": "string"}}}},
		"metadata": map[string]any{"type": "object", "properties": map[string]any{"transactionId": map[string]any{"type": "string"}}},
	}
	r, _ = workosCall(t, "POST", base+"/audit_logs/actions/document.updated/schemas", admin, "", schema)
	var sc struct {
		Object  string
		Version int
		Targets []map[string]any
	}
	if json.Unmarshal(r.body, &sc); r.status != 201 || sc.Object != "audit_log_schema" || sc.Version != 1 || len(sc.Targets) != 2 {
		t.Fatalf("createSchema: %d %s; want 201 audit_log_schema version 1", r.status, r.body)
	}
	if r := call(t, "GET", base+"/v1/actions/document.updated/schema", readKey, nil); r.status != 200 {
		t.Errorf("the catalog's schema of document.updated: %d %s", r.status, r.body)
	}
	misfit := workosEvent(org)
	misfit["event"].(map[string]any)["metadata"] = map[string]any{"transactionId": 42}
	r, _ = workosCall(t, "POST", base+"/audit_logs/events", ingestKey, "", misfit)
	if _, _, errs := workosErrorOf(t, r); r.status != 422 || len(errs) != 1 || errs[0]["field"] != "event.metadata.transactionId" {
		t.Errorf("an event against its schema: %d %s; want 422 naming event.metadata.transactionId", r.status, r.body)
	}
	if r, _ := workosCall(t, "POST", base+"/audit_logs/events", ingestKey, "", workosEvent(org)); r.status != 200 {
		t.Errorf("an event fitting its schema: %d %s; want 200", r.status, r.body)
	}
	if ids := listIDs(t, base, readKey, "limit=100"); len(ids) != 3 {
		t.Errorf("/v1/events holds %d events; want 3 (retried, keyed, fitting)", len(ids))
	}

	// Exports: pending, then ready with a URL that serves the CSV.
	r, _ = workosCall(t, "POST", base+"/audit_logs/exports", admin, "", map[string]any{
		"organization_id": org, "range_start": "2026-11-01T00:00:00.000Z", "range_end": "2026-12-01T00:00:00.000Z",
		"actions": []string{"document.updated"}, "actor_names": []string{"Jon Smith"}, "targets": []string{"document"}})
	var ex struct {
		Object, ID, State, URL string
		CreatedAt              string `json:"created_at"`
	}
	if json.Unmarshal(r.body, &ex); r.status != 201 || ex.Object != "audit_log_export" || ex.ID == "" || (ex.State != "pending" && ex.State != "ready") {
		t.Fatalf("createExport: %d %s; want 201 audit_log_export pending", r.status, r.body)
	}
	for deadline := time.Now().Add(30 * time.Second); ex.State == "pending" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r, _ = workosCall(t, "GET", base+"/audit_logs/exports/"+ex.ID, admin, "", nil)
		ex.State, ex.URL = "", ""
		json.Unmarshal(r.body, &ex)
	}
	if ex.State != "ready" || !strings.HasPrefix(ex.URL, base+"/audit_logs/exports/"+ex.ID+"/csv?") {
		t.Fatalf("getExport: %s; want ready with a URL on this server", r.body)
	}
	res, err := http.Get(ex.URL) // the URL is the credential, as WorkOS's are
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(res.Body).ReadAll()
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || len(rows) != 4 || rows[0][0] != "seq" || rows[1][4] != "document.updated" {
		t.Errorf("the export's CSV: %d, %d rows, %v; want a header and the 3 events", res.StatusCode, len(rows), err)
	}
	if r := call(t, "GET", strings.Replace(ex.URL, "signature=", "signature=00", 1), "", nil); r.status != 401 {
		t.Errorf("a tampered export URL: %d %s; want 401", r.status, r.body)
	}
	r, _ = workosCall(t, "GET", base+"/audit_logs/exports/"+ex.ID, globexKey, "", nil)
	if workosErrorOf(t, r); r.status != 404 {
		t.Errorf("another tenant's export: %d %s; want 404", r.status, r.body)
	}
	r, _ = workosCall(t, "POST", base+"/audit_logs/exports", admin, "", map[string]any{"organization_id": org, "range_start": "2026-11-01T00:00:00Z"})
	if _, _, errs := workosErrorOf(t, r); r.status != 422 || len(errs) != 1 || errs[0]["field"] != "range_end" {
		t.Errorf("createExport without range_end: %d %s; want 422 naming range_end", r.status, r.body)
	}
}

// TestDropInRateLimited: over the key's rate, both drop-in APIs answer 429
// with Retry-After in their vendor's shape (the WorkOS SDKs wait that long
// and retry with the same Idempotency-Key).
func TestDropInRateLimited(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.RateLimit, cfg.RateBurst = 0.001, 1
	a := testServer(t, cfg)
	base := a.URL()
	setupTenant(t, base, "acme")
	key := createKey(t, base, testRootKey, "acme", "ingest")
	send := func() response {
		req, _ := http.NewRequest("POST", base+"/audit_logs/events", bytes.NewReader([]byte("{}")))
		req.Header.Set("Authorization", "Bearer "+key)
		return roundTrip(t, req)
	}
	send() // the burst
	r := send()
	if _, code, _ := workosErrorOf(t, r); r.status != 429 || r.header.Get("Retry-After") == "" || code != "rate_limit_exceeded" {
		t.Errorf("WorkOS over the rate: %d %s Retry-After %q; want 429 rate_limit_exceeded with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	key2 := createKey(t, base, testRootKey, "acme", "ingest")
	one := `{"action":"user.create","crud":"c","actor":{"id":"usr_3"}}`
	retracedJSPost(t, base+"/auditlog/publisher/v1/project/acme/event", key2, one)
	r = retracedJSPost(t, base+"/auditlog/publisher/v1/project/acme/event", key2, one)
	if st, _, _ := retracedErrorOf(t, r); st != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("Retraced over the rate: %d %s; want 429 with Retry-After", r.status, r.body)
	}
}
