package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
)

// recorded is what the fake server saw of one request.
type recorded struct {
	method, path, query, auth, ua, ctype string
	body                                 []byte
}

// fake starts a server that records each request and answers with h.
func fake(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *[]recorded) {
	t.Helper()
	var reqs []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs = append(reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"),
			r.Header.Get("User-Agent"), r.Header.Get("Content-Type"), b})
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

func reply(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func TestCreateTenant(t *testing.T) {
	srv, reqs := fake(t, reply(201, `{"id":"acme","name":"acme","retention_days":30,"plan":"business","created_at":"2026-11-26T09:00:00Z"}`))
	c := client.New(srv.URL+"/", "root-key", client.WithUserAgent("test/1"))
	got, err := c.CreateTenant(context.Background(), client.TenantParams{Name: "acme", RetentionDays: 30, Plan: "business"})
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	r := (*reqs)[0]
	if r.method != "POST" || r.path != "/v1/tenants" || r.auth != "Bearer root-key" || r.ua != "test/1" || r.ctype != "application/json" {
		t.Errorf("request = %s %s auth=%q ua=%q ctype=%q; want POST /v1/tenants, Bearer root-key, test/1, application/json", r.method, r.path, r.auth, r.ua, r.ctype)
	}
	assertJSON(t, r.body, `{"name":"acme","retention_days":30,"plan":"business"}`)
	want := client.Tenant{Name: "acme", Tenant: auditkeep.Tenant{ID: "acme", RetentionDays: 30, Plan: "business",
		CreatedAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("CreateTenant = %+v; want %+v", *got, want)
	}
}

func TestUpdateTenantSendsOnlyGivenFields(t *testing.T) {
	srv, reqs := fake(t, reply(200, `{"id":"a-b","name":"a-b","retention_days":7}`))
	c := client.New(srv.URL, "k")
	days := 7
	got, err := c.UpdateTenant(context.Background(), "a-b", client.TenantUpdate{RetentionDays: &days})
	if err != nil {
		t.Fatalf("UpdateTenant: %v", err)
	}
	r := (*reqs)[0]
	if r.method != "PUT" || r.path != "/v1/tenants/a-b" {
		t.Errorf("request = %s %s; want PUT /v1/tenants/a-b", r.method, r.path)
	}
	assertJSON(t, r.body, `{"retention_days":7}`)
	if got.RetentionDays != 7 {
		t.Errorf("RetentionDays = %d; want 7", got.RetentionDays)
	}
}

func TestKeys(t *testing.T) {
	srv, reqs := fake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "DELETE" {
			w.WriteHeader(204)
			return
		}
		reply(201, `{"id":"key_1","key":"ak_secret","name":"ci","scopes":["ingest","read"],"tenant":"acme","created_at":"2026-11-26T09:00:00Z"}`)(w, r)
	})
	c := client.New(srv.URL, "k")
	k, err := c.CreateKey(context.Background(), "acme", "ci", []string{"ingest", "read"})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if k.Key != "ak_secret" || k.ID != "key_1" || k.Tenant != "acme" || !reflect.DeepEqual(k.Scopes, []string{"ingest", "read"}) {
		t.Errorf("CreateKey = %+v; want key ak_secret, id key_1, tenant acme, scopes [ingest read]", k)
	}
	assertJSON(t, (*reqs)[0].body, `{"name":"ci","scopes":["ingest","read"]}`)
	if p := (*reqs)[0].path; p != "/v1/tenants/acme/keys" {
		t.Errorf("CreateKey path = %q; want /v1/tenants/acme/keys", p)
	}
	if err := c.RevokeKey(context.Background(), "acme", "key/1"); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	if r := (*reqs)[1]; r.method != "DELETE" || r.path != "/v1/tenants/acme/keys/key%2F1" {
		t.Errorf("RevokeKey request = %s %s; want DELETE /v1/tenants/acme/keys/key%%2F1", r.method, r.path)
	}
}

func TestIngestSendsSenderFieldsOnly(t *testing.T) {
	srv, reqs := fake(t, reply(200, `{"accepted":2,"ids":["e1","0191"],"duplicates":1}`))
	c := client.New(srv.URL, "k")
	events := []auditkeep.Event{
		{
			Tenant: "other", Seq: 9, Hash: "ff", ReceivedAt: time.Unix(1, 0),
			ID: "e1", OccurredAt: time.Date(2026, 11, 26, 9, 0, 0, 123e6, time.UTC), Action: "environment.update", Type: "update",
			Actor:    auditkeep.Actor{Type: "user", ID: "usr_42", Name: "Alice"},
			Target:   &auditkeep.Target{Type: "environment", ID: "env_7", Name: "production", Deleted: true},
			Scope:    []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1"}},
			Context:  auditkeep.Context{IP: "203.0.113.7"},
			Snapshot: json.RawMessage(`{"name":"production"}`),
		},
		{Action: "user.login", Actor: auditkeep.Actor{ID: "usr_1"}},
	}
	res, err := c.Ingest(context.Background(), events)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	want := client.IngestResult{Accepted: 2, IDs: []string{"e1", "0191"}, Duplicates: 1}
	if !reflect.DeepEqual(*res, want) {
		t.Errorf("Ingest = %+v; want %+v", *res, want)
	}
	r := (*reqs)[0]
	if r.method != "POST" || r.path != "/v1/events" {
		t.Errorf("request = %s %s; want POST /v1/events", r.method, r.path)
	}
	assertJSON(t, r.body, `{"events":[
		{"id":"e1","occurred_at":"2026-11-26T09:00:00.123Z","action":"environment.update","type":"update",
		 "actor":{"type":"user","id":"usr_42","name":"Alice"},
		 "target":{"type":"environment","id":"env_7","name":"production"},
		 "scope":[{"type":"project","id":"prj_1"}],"context":{"ip":"203.0.113.7"},"snapshot":{"name":"production"}},
		{"action":"user.login","actor":{"type":"","id":"usr_1"}}]}`)
	if !events[0].Target.Deleted {
		t.Error("Ingest modified the caller's target")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    string
		body      string
		want      client.APIError
		temporary bool
	}{
		{"invalid", 400, "", `{"error":{"code":"invalid","message":"action is required","field":"events[3].action"}}`,
			client.APIError{Status: 400, Code: "invalid", Message: "action is required", Field: "events[3].action"}, false},
		{"unauthorized", 401, "", `{"error":{"code":"unauthorized","message":"unknown key"}}`,
			client.APIError{Status: 401, Code: "unauthorized", Message: "unknown key"}, false},
		{"unavailable", 503, "7", `{"error":{"code":"unavailable","message":"storage unavailable"}}`,
			client.APIError{Status: 503, Code: "unavailable", Message: "storage unavailable", RetryAfter: 7 * time.Second}, true},
		{"rate limited", 429, "2", `{"error":{"code":"rate_limited","message":"slow down"}}`,
			client.APIError{Status: 429, Code: "rate_limited", Message: "slow down", RetryAfter: 2 * time.Second}, true},
		{"no body", 404, "", ``,
			client.APIError{Status: 404, Code: "not_found", Message: "not found"}, false},
		{"proxy text", 502, "", "upstream connect error\n",
			client.APIError{Status: 502, Code: "unavailable", Message: "upstream connect error"}, true},
		{"html page", 500, "", "<html><body>Internal Server Error</body></html>",
			client.APIError{Status: 500, Code: "internal", Message: "internal server error"}, false},
		{"too large", 413, "", `{"error":{"code":"too_large","message":"batch is larger than 5 MiB"}}`,
			client.APIError{Status: 413, Code: "too_large", Message: "batch is larger than 5 MiB"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, err := client.New(srv.URL, "k").ListEvents(context.Background(), nil)
			var ae *client.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("ListEvents error = %v (%T); want *client.APIError", err, err)
			}
			if *ae != tt.want {
				t.Errorf("ListEvents error = %+v; want %+v", *ae, tt.want)
			}
			if ae.Temporary() != tt.temporary {
				t.Errorf("Temporary() = %v; want %v", ae.Temporary(), tt.temporary)
			}
			if got := auditkeep.ErrorCode(err); got != tt.want.Code {
				t.Errorf("auditkeep.ErrorCode(err) = %q; want %q", got, tt.want.Code)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	e := &client.APIError{Status: 400, Code: "invalid", Message: "action is required", Field: "events[3].action"}
	if got, want := e.Error(), "action is required (events[3].action) [400 invalid]"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

func TestRetryAfterDate(t *testing.T) {
	srv, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
		w.WriteHeader(503)
	})
	_, err := client.New(srv.URL, "k").GetEvent(context.Background(), "x")
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("GetEvent error = %v; want *client.APIError", err)
	}
	// The date has one-second resolution; allow for it and for a slow machine.
	if ae.RetryAfter < 60*time.Second || ae.RetryAfter > 91*time.Second {
		t.Errorf("RetryAfter = %v; want about 90s", ae.RetryAfter)
	}
}

func TestTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	_, err := client.New(u, "k").ListEvents(context.Background(), nil)
	if err == nil {
		t.Fatal("ListEvents on a closed server: no error")
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		t.Errorf("ListEvents on a closed server = APIError %v; want a transport error", ae)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("ListEvents on a closed server = %v; want it to wrap *url.Error", err)
	}
	if !strings.Contains(err.Error(), "GET /v1/events") {
		t.Errorf("error %q does not name the request", err)
	}
}

func TestMalformedResponse(t *testing.T) {
	srv, _ := fake(t, reply(200, `{"events":[`))
	_, err := client.New(srv.URL, "k").ListEvents(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "decode response") {
		t.Errorf("ListEvents with a truncated body = %v; want a decode error", err)
	}
}

func TestEventsFollowsCursors(t *testing.T) {
	pages := map[string]string{
		"":   `{"events":[{"id":"e3","seq":3},{"id":"e2","seq":2}],"next_cursor":"c2"}`,
		"c2": `{"events":[{"id":"e1","seq":1}],"next_cursor":""}`,
	}
	srv, reqs := fake(t, func(w http.ResponseWriter, r *http.Request) {
		reply(200, pages[r.URL.Query().Get("cursor")])(w, r)
	})
	c := client.New(srv.URL, "k")
	q := url.Values{"action": {"token.*"}, "limit": {"2"}}
	var ids []string
	for e, err := range c.Events(context.Background(), q) {
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		ids = append(ids, e.ID)
	}
	if want := []string{"e3", "e2", "e1"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("Events ids = %v; want %v", ids, want)
	}
	if len(*reqs) != 2 {
		t.Fatalf("Events made %d requests; want 2", len(*reqs))
	}
	if got, want := (*reqs)[1].query, "action=token.%2A&cursor=c2&limit=2"; got != want {
		t.Errorf("second query = %q; want %q", got, want)
	}
	if q.Get("cursor") != "" {
		t.Error("Events modified the caller's query")
	}
}

func TestEventsStopsAtError(t *testing.T) {
	srv, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			reply(200, `{"events":[{"id":"e2"}],"next_cursor":"c"}`)(w, r)
			return
		}
		reply(400, `{"error":{"code":"invalid","message":"cursor is not valid","field":"cursor"}}`)(w, r)
	})
	var ids []string
	var gotErr error
	for e, err := range client.New(srv.URL, "k").Events(context.Background(), nil) {
		if err != nil {
			gotErr = err
			break
		}
		ids = append(ids, e.ID)
	}
	if !reflect.DeepEqual(ids, []string{"e2"}) || auditkeep.ErrorField(gotErr) != "cursor" {
		t.Errorf("Events = %v, %v; want [e2] then an error naming cursor", ids, gotErr)
	}
}

func TestFilterEvents(t *testing.T) {
	srv, reqs := fake(t, reply(200, `{"events":[]}`))
	f := auditkeep.Filter{
		From:  time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		Terms: []auditkeep.Term{{Field: "status", Values: []string{"failure"}}},
		Limit: 10, Order: "asc",
	}
	p, err := client.New(srv.URL, "k").FilterEvents(context.Background(), f)
	if err != nil {
		t.Fatalf("FilterEvents: %v", err)
	}
	if len(p.Events) != 0 || p.NextCursor != "" {
		t.Errorf("FilterEvents = %+v; want an empty last page", p)
	}
	if got, want := (*reqs)[0].query, "from=2026-11-01T00%3A00%3A00Z&limit=10&order=asc&status=failure"; got != want {
		t.Errorf("query = %q; want %q", got, want)
	}
}

func TestGetEvent(t *testing.T) {
	srv, reqs := fake(t, reply(200, `{"id":"e 1","seq":4,"action":"pod.restart","actor":{"type":"system","id":"sys"},"proof":{"tree_size":9}}`))
	e, err := client.New(srv.URL, "k").GetEvent(context.Background(), "e 1")
	if err != nil {
		t.Fatalf("GetEvent: %v", err)
	}
	if e.ID != "e 1" || e.Seq != 4 || e.Action != "pod.restart" || string(e.Proof) != `{"tree_size":9}` {
		t.Errorf("GetEvent = %+v; want id 'e 1', seq 4, action pod.restart, proof {\"tree_size\":9}", e)
	}
	if p := (*reqs)[0].path; p != "/v1/events/e%201" {
		t.Errorf("path = %q; want /v1/events/e%%201", p)
	}
}

func TestExport(t *testing.T) {
	body := strings.Repeat(`{"id":"e"}`+"\n", 1000)
	srv, reqs := fake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, body)
	})
	var buf bytes.Buffer
	n, err := client.New(srv.URL, "k").Export(context.Background(), "ndjson", url.Values{"type": {"delete"}}, &buf)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if n != int64(len(body)) || buf.String() != body {
		t.Errorf("Export wrote %d bytes (%d in buffer); want %d", n, buf.Len(), len(body))
	}
	if got, want := (*reqs)[0].query, "format=ndjson&type=delete"; got != want || (*reqs)[0].path != "/v1/export" {
		t.Errorf("request = %s?%s; want /v1/export?%s", (*reqs)[0].path, got, want)
	}
}

func TestExportError(t *testing.T) {
	srv, _ := fake(t, reply(400, `{"error":{"code":"invalid","message":"format must be csv or ndjson","field":"format"}}`))
	var buf bytes.Buffer
	n, err := client.New(srv.URL, "k").Export(context.Background(), "xml", nil, &buf)
	if auditkeep.ErrorField(err) != "format" || n != 0 || buf.Len() != 0 {
		t.Errorf("Export(xml) = %d, %v, wrote %q; want 0 and an error naming format, nothing written", n, err, buf.String())
	}
}

func TestNoKeyNoHeader(t *testing.T) {
	srv, reqs := fake(t, reply(200, `{"events":[]}`))
	if _, err := client.New(srv.URL, "").ListEvents(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if r := (*reqs)[0]; r.auth != "" || r.ua != client.DefaultUserAgent {
		t.Errorf("auth = %q, ua = %q; want no Authorization and %q", r.auth, r.ua, client.DefaultUserAgent)
	}
}

func assertJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("request body %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("request body = %s; want %s", got, want)
	}
}

func TestMarshalEventSendsSenderFieldsOnly(t *testing.T) {
	e := auditkeep.Event{Tenant: "acme", Seq: 7, Hash: "ab", Action: "a.create", Actor: auditkeep.Actor{ID: "u"},
		Target: &auditkeep.Target{Type: "t", ID: "1", Deleted: true}}
	b, err := client.MarshalEvent(&e)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"action":"a.create","actor":{"type":"","id":"u"},"target":{"type":"t","id":"1"}}`; got != want {
		t.Errorf("MarshalEvent = %s; want %s", got, want)
	}
}
