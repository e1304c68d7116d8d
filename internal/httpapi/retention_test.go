package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/retention"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// newRetentionAPI serves the API over an embedded store with retention
// (plans team=7, business=30) and an archive directory; the clock is now.
func newRetentionAPI(t *testing.T, now time.Time) (*testAPI, *retention.Service, *sqlite.Store) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := archive.DirURL(t.TempDir())
	arch, err := archive.Open(context.Background(), u, quiet)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	c := ingest.NewCommitter(st)
	svc := ingest.NewService(c)
	svc.Now = clock
	ret := retention.New(capable(retention.Config{
		Store: st, Archive: arch, Plans: retention.Plans{"team": 7, "business": 30}, Now: clock, Logger: quiet,
		Recorder: func(ctx context.Context, tenant string, body []byte) error {
			_, err := svc.Ingest(auditkeep.AsServer(ctx), tenant, body)
			return err
		},
		Appender: func(ctx context.Context, events []*auditkeep.Event) error {
			_, err := svc.Store(ctx, events)
			return err
		},
	}))
	svc.Steps = []ingest.Step{ret.Step}
	s := httpapi.New(ret.Guard(st), svc, httpapi.Config{RootKeyHash: httpapi.HashKey(rootKey), Logger: quiet, Retention: ret})
	s.Now = clock
	c.OnCommit = s.ObserveCommit
	c.Open()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
		c.Close()
		st.Close()
	})
	return &testAPI{base: "http://" + ln.Addr().String(), api: s, store: st}, ret, st
}

func TestTenantPlans(t *testing.T) {
	a, _, _ := newRetentionAPI(t, time.Now())
	a.tenant(t, "acme", "admin")
	tests := []struct {
		body       map[string]any
		wantStatus int
		wantDays   int
		wantPlan   string
	}{
		{map[string]any{"plan": "team"}, 200, 7, "team"},
		{map[string]any{"plan": "business"}, 200, 30, "business"},
		{map[string]any{"retention_days": 45}, 200, 45, ""},
		{map[string]any{"retention_days": 0}, 200, 0, ""},
		{map[string]any{"plan": "gold"}, 400, 0, ""},
		{map[string]any{"retention_days": -1}, 400, 0, ""},
	}
	r := a.do(t, "POST", "/v1/tenants", rootKey, map[string]any{"name": "initech", "plan": "business", "retention_days": 0})
	if !strings.Contains(string(r.body), `"retention_days":30`) {
		t.Errorf("POST /v1/tenants on plan business = %d %s; want 30 days", r.status, r.body)
	}
	for _, tt := range tests {
		r := a.do(t, "PUT", "/v1/tenants/acme", rootKey, tt.body)
		if r.status != tt.wantStatus {
			t.Errorf("PUT /v1/tenants/acme %v = %d %s; want %d", tt.body, r.status, r.body, tt.wantStatus)
			continue
		}
		if r.status != 200 {
			var e struct{ Error struct{ Field string } }
			json.Unmarshal(r.body, &e)
			if _, ok := tt.body[e.Error.Field]; !ok {
				t.Errorf("PUT %v error names %q; want one of the fields sent", tt.body, e.Error.Field)
			}
			continue
		}
		var got auditkeep.Tenant
		json.Unmarshal(r.body, &got)
		if got.RetentionDays != tt.wantDays || got.Plan != tt.wantPlan {
			t.Errorf("PUT %v = retention %d plan %q; want %d %q", tt.body, got.RetentionDays, got.Plan, tt.wantDays, tt.wantPlan)
		}
	}
}

func TestHoldsAndArchiveEndpoints(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a, ret, st := newRetentionAPI(t, now)
	admin := a.tenant(t, "acme", "admin", "read", "ingest")
	other := a.tenant(t, "globex", "admin")
	if r := a.do(t, "PUT", "/v1/tenants/acme", rootKey, map[string]any{"plan": "team"}); r.status != 200 {
		t.Fatalf("PUT plan: %d %s", r.status, r.body)
	}
	// Events of the last 10 days, stored directly (ingest refuses those past retention).
	var events []*auditkeep.Event
	for i := 10; i >= 1; i-- {
		events = append(events, &auditkeep.Event{Tenant: "acme", ID: fmt.Sprintf("e%02d", i), ReceivedAt: now,
			OccurredAt: now.Add(-time.Duration(i) * 24 * time.Hour), Action: "user.login", Type: "login", Status: "success",
			Actor: auditkeep.Actor{Type: "user", ID: "usr_1"}})
	}
	if err := st.Append(context.Background(), events); err != nil {
		t.Fatal(err)
	}

	// Reads hide what is past the 7 days.
	r := a.do(t, "GET", "/v1/events?action=user.login&limit=100", admin, nil)
	var page struct{ Events []auditkeep.Event }
	json.Unmarshal(r.body, &page)
	if len(page.Events) != 7 {
		t.Errorf("GET /v1/events = %d events; want the 7 within 7 days", len(page.Events))
	}
	if r := a.do(t, "GET", "/v1/events/e09", admin, nil); r.status != 404 {
		t.Errorf("GET expired event = %d; want 404", r.status)
	}
	// A late event past retention is refused, naming the field.
	r = a.do(t, "POST", "/v1/events", admin, map[string]any{"events": []any{
		map[string]any{"action": "user.login", "actor": map[string]any{"id": "u"}, "occurred_at": now.Add(-8 * 24 * time.Hour)}}})
	if r.status != 400 || !strings.Contains(string(r.body), `"field":"events[0].occurred_at"`) {
		t.Errorf("POST an event past retention = %d %s; want 400 naming events[0].occurred_at", r.status, r.body)
	}

	// Holds.
	if r := a.do(t, "POST", "/v1/holds", admin, map[string]any{"scope": "project:prj_1"}); r.status != 400 {
		t.Errorf("POST /v1/holds without reason = %d; want 400", r.status)
	}
	if r := a.do(t, "POST", "/v1/holds", admin, map[string]any{"scope": "not a scope", "reason": "x"}); r.status != 400 {
		t.Errorf("POST /v1/holds with a bad scope = %d; want 400", r.status)
	}
	r = a.do(t, "POST", "/v1/holds", admin, map[string]any{"reason": "case 42"})
	var h auditkeep.Hold
	if json.Unmarshal(r.body, &h); r.status != 201 || h.ID == "" || h.Tenant != "acme" {
		t.Fatalf("POST /v1/holds = %d %s", r.status, r.body)
	}
	if r := a.do(t, "GET", "/v1/holds", other, nil); r.status != 200 || strings.Contains(string(r.body), h.ID) {
		t.Errorf("another tenant's GET /v1/holds = %d %s; want its own (none)", r.status, r.body)
	}
	if r := a.do(t, "DELETE", "/v1/holds/"+h.ID, other, nil); r.status != 404 {
		t.Errorf("another tenant's DELETE of the hold = %d; want 404", r.status)
	}
	if _, err := ret.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = a.do(t, "GET", "/v1/retention", admin, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"held_by":["`+h.ID+`"]`) || !strings.Contains(string(r.body), `"retention_days":7`) {
		t.Errorf("GET /v1/retention under a hold = %d %s", r.status, r.body)
	}
	if r := a.do(t, "DELETE", "/v1/holds/"+h.ID, admin, nil); r.status != 204 {
		t.Errorf("DELETE /v1/holds/%s = %d %s", h.ID, r.status, r.body)
	}
	rep, err := ret.Run(context.Background())
	if err != nil || rep.Removed != 3 {
		t.Errorf("Run after the hold = %+v, %v; want 3 removed (8, 9 and 10 days old)", rep, err)
	}

	// The archive.
	r = a.do(t, "GET", "/v1/tenants/acme/archive", admin, nil)
	var list struct{ Segments []archive.Manifest }
	if json.Unmarshal(r.body, &list); r.status != 200 || len(list.Segments) != 3 {
		t.Fatalf("GET archive = %d %s; want 3 segments (one per day)", r.status, r.body)
	}
	if r := a.do(t, "GET", "/v1/tenants/acme/archive", other, nil); r.status != 403 {
		t.Errorf("another tenant's GET of acme's archive = %d; want 403", r.status)
	}
	seg := list.Segments[0].Name
	if r := a.do(t, "GET", "/v1/tenants/acme/archive/"+seg, admin, nil); r.status != 200 || !strings.Contains(string(r.body), `"sha256"`) {
		t.Errorf("GET segment = %d %s", r.status, r.body)
	}
	if r := a.do(t, "GET", "/v1/tenants/acme/archive/"+seg+"/data", admin, nil); r.status != 200 || r.header.Get("Content-Type") != "application/gzip" {
		t.Errorf("GET segment data = %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r := a.do(t, "GET", "/v1/tenants/acme/archive/nope", admin, nil); r.status != 400 {
		t.Errorf("GET a bad segment name = %d; want 400", r.status)
	}
	if r := a.do(t, "POST", "/v1/tenants/acme/archive/"+seg+"/restore", admin, map[string]any{"into_tenant": "acme-restore"}); r.status != 403 {
		t.Errorf("restore with an admin key = %d; want 403 (root only)", r.status)
	}
	a.do(t, "POST", "/v1/tenants", rootKey, map[string]any{"name": "acme-restore"})
	r = a.do(t, "POST", "/v1/tenants/acme/archive/"+seg+"/restore", rootKey, map[string]any{"into_tenant": "acme-restore"})
	if r.status != 200 || !strings.Contains(string(r.body), `"restored":1`) {
		t.Errorf("restore = %d %s; want 1 restored", r.status, r.body)
	}
}
