package httpapi_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

func (a *testAPI) viewerToken(t *testing.T, key string, filters map[string]any, ttl int) string {
	t.Helper()
	r := a.do(t, "POST", "/v1/viewer-tokens", key, map[string]any{"filters": filters, "ttl_seconds": ttl})
	if r.status != 201 {
		t.Fatalf("viewer token: %d %s", r.status, r.body)
	}
	var v struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Token == "" || v.ExpiresAt.IsZero() {
		t.Fatalf("viewer token answer %s", r.body)
	}
	return v.Token
}

func (a *testAPI) listIDs(t *testing.T, key, query string) (int, string) {
	t.Helper()
	r := a.do(t, "GET", "/v1/events?"+query, key, nil)
	var page struct {
		Events []struct{ ID string } `json:"events"`
	}
	json.Unmarshal(r.body, &page)
	var ids []string
	for _, e := range page.Events {
		ids = append(ids, e.ID)
	}
	return r.status, strings.Join(ids, ",")
}

func TestViewerTokenEnforcesFilters(t *testing.T) {
	a := newTestAPI(t)
	admin := a.tenant(t, "acme", "ingest", "read", "export", "admin")
	other := a.tenant(t, "globex", "ingest", "read", "admin")
	a.ingest(t, admin, ev("e1", "env.create", "env_7"), ev("e2", "env.update", "env_8"), ev("e3", "env.update", "env_7"))
	a.ingest(t, other, ev("g1", "env.update", "env_7"))
	vt := a.viewerToken(t, admin, map[string]any{"target_id": "env_7"}, 3600)

	lists := []struct {
		query, want string
	}{
		{"", "e3,e1"},
		{"target_id=env_8", ""},     // ANDed: nothing is both
		{"action=env.update", "e3"}, // narrowed further
		{"q=target_id:env_8", ""},   // q cannot widen either
		{"viewer_token=" + url.QueryEscape(vt), "e3,e1"},
	}
	for _, tt := range lists {
		key := vt
		if strings.HasPrefix(tt.query, "viewer_token=") {
			key = ""
		}
		status, got := a.listIDs(t, key, tt.query)
		if status != 200 || got != tt.want {
			t.Errorf("viewer GET /v1/events?%s = %d %q; want 200 %q", tt.query, status, got, tt.want)
		}
	}
	gets := []struct {
		id     string
		status int
	}{{"e1", 200}, {"e2", 404}, {"g1", 404}, {"nope", 404}}
	for _, tt := range gets {
		if r := a.do(t, "GET", "/v1/events/"+tt.id, vt, nil); r.status != tt.status {
			t.Errorf("viewer GET /v1/events/%s = %d; want %d", tt.id, r.status, tt.status)
		}
	}
	// Read-only: nothing else is open to it.
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/events"}, {"GET", "/v1/export?format=csv"}, {"POST", "/v1/viewer-tokens"},
		{"POST", "/v1/tenants/acme/keys"},
	} {
		if r := a.do(t, c.method, c.path, vt, map[string]any{}); r.status != 403 {
			t.Errorf("viewer %s %s = %d; want 403", c.method, c.path, r.status)
		}
	}
	// The stream too is limited to the token's filters.
	s := a.openStream(t, "/v1/stream?since=0", vt)
	a.ingest(t, admin, ev("e4", "env.update", "env_8"), ev("e5", "env.update", "env_7"))
	// Seq 4 is the token's creation, recorded in acme's log.
	if got := s.ids(t, 3); got != "1=e1,3=e3,6=e5" {
		t.Errorf("viewer stream = %s; want 1=e1,3=e3,6=e5", got)
	}
}

func TestViewerTokenRejected(t *testing.T) {
	a := newTestAPI(t)
	admin := a.tenant(t, "acme", "ingest", "read", "admin")
	reader := a.tenant(t, "acme", "read")
	vt := a.viewerToken(t, admin, map[string]any{"target_id": []string{"env_7", "env_9"}, "q": "-status:failure"}, 60)

	forged := vt[:len(vt)-2] + "AA"
	if forged == vt {
		forged = vt[:len(vt)-2] + "BB"
	}
	payload, sig, _ := strings.Cut(strings.TrimPrefix(vt, "vt_"), ".")
	_ = payload
	otherPayload := "vt_eyJ2IjoxLCJ0IjoiZ2xvYmV4IiwiZiI6IiIsImUiOjQxMDI0NDQ4MDAsIm4iOiJ4In0." + sig
	for name, tok := range map[string]string{"forged signature": forged, "swapped payload": otherPayload, "garbage": "vt_x"} {
		if r := a.do(t, "GET", "/v1/events", tok, nil); r.status != 401 {
			t.Errorf("%s: GET /v1/events = %d; want 401", name, r.status)
		}
	}
	a.api.Now = func() time.Time { return time.Now().Add(61 * time.Second) }
	if r := a.do(t, "GET", "/v1/events", vt, nil); r.status != 401 || !strings.Contains(string(r.body), "expired") {
		t.Errorf("expired token: %d %s; want 401 saying expired", r.status, r.body)
	}
	a.api.Now = time.Now

	bad := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"filters": map[string]any{"type": "mutate"}}, "filters.type"},
		{map[string]any{"filters": map[string]any{"colour": "red"}}, "filters.colour"},
		{map[string]any{"filters": map[string]any{"limit": "5"}}, "filters.limit"},
		{map[string]any{"filters": map[string]any{"q": "actr:x"}}, "filters.q"},
		{map[string]any{"filters": map[string]any{"target_id": 7}}, "filters.target_id"},
		{map[string]any{"filters": map[string]any{}, "ttl_seconds": 0}, "ttl_seconds"},
		{map[string]any{"filters": map[string]any{}, "ttl_seconds": 86401}, "ttl_seconds"},
		{map[string]any{"filter": map[string]any{}}, "body"},
	}
	for _, tt := range bad {
		r := a.do(t, "POST", "/v1/viewer-tokens", admin, tt.body)
		var e struct{ Error struct{ Field string } }
		json.Unmarshal(r.body, &e)
		if r.status != 400 || e.Error.Field != tt.field {
			t.Errorf("POST /v1/viewer-tokens %v = %d field %q; want 400 field %q (%s)", tt.body, r.status, e.Error.Field, tt.field, r.body)
		}
	}
	if r := a.do(t, "POST", "/v1/viewer-tokens", reader, map[string]any{"filters": map[string]any{}}); r.status != 403 {
		t.Errorf("viewer token from a read key = %d; want 403", r.status)
	}
}
