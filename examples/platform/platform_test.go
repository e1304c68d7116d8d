package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
)

const rootKey = "root-key-for-platform-tests-0123456789"

// startAuditkeep builds the auditkeep binary (or takes AUDITKEEP_TEST_BINARY)
// and runs it as a child process on a free port with a fresh embedded
// store. It returns the server's URL.
func startAuditkeep(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the auditkeep binary")
	}
	bin := os.Getenv("AUDITKEEP_TEST_BINARY")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "auditkeep")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/auditkeep/auditkeep/cmd/auditkeep").CombinedOutput()
		if err != nil {
			t.Fatalf("go build ./cmd/auditkeep: %v\n%s", err, out)
		}
	}
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--addr-file", addrFile, "--data", filepath.Join(dir, "data"), "--log-level", "warn")
	cmd.Env = append(os.Environ(), "AUDITKEEP_ROOT_KEY="+rootKey)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	deadline := time.After(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			return string(bytes.TrimSpace(b))
		}
		select {
		case <-exited:
			t.Fatalf("auditkeep exited: %s", stderr.String())
		case <-deadline:
			t.Fatal("auditkeep did not start within 30s")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// call is one request to the platform and what it should record.
type call struct {
	name           string
	token          string // bearer token; Alice's when empty
	method, path   string
	body           string
	header         http.Header
	wantStatus     int
	action, typ    string
	target         *auditkeep.Target // nil: no target
	scope          string
	actor          string // actor id; usr_alice when empty
	source         string
	status         string
	wantSnapshot   bool
	wantIP         string
	recordsNothing bool
}

const (
	aliceToken = "alice-secret-token"
	browserUA  = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
	terraUA    = "Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-platform/0.3.0"
)

// TestPlatformAuditTrail drives the example platform, audited through the
// client middleware into a real auditkeep server, and reads the trail back.
func TestPlatformAuditTrail(t *testing.T) {
	base := startAuditkeep(t)
	ctx := context.Background()
	root := client.New(base, rootKey)
	if _, err := root.CreateTenant(ctx, client.TenantParams{Name: "acme", RetentionDays: 30}); err != nil {
		t.Fatal(err)
	}
	k, err := root.CreateKey(ctx, "acme", "platform", []string{auditkeep.ScopeIngest, auditkeep.ScopeRead, auditkeep.ScopeExport})
	if err != nil {
		t.Fatal(err)
	}
	ak := client.New(base, k.Key)

	rec := client.NewRecorder(ak, client.RecorderOptions{FlushInterval: 10 * time.Millisecond})
	p := newPlatform(User{ID: "usr_alice", Name: "Alice Martin", Email: "alice@example.com", Token: aliceToken})
	var (
		mu         sync.Mutex
		recordErrs []error
	)
	h := p.handler(rec, client.MiddlewareOptions{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		OnError: func(r *http.Request, err error) {
			mu.Lock()
			defer mu.Unlock()
			recordErrs = append(recordErrs, err)
		},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	var ciToken string
	calls := []call{
		{name: "create project", method: "POST", path: "/projects", body: `{"name":"Shop"}`,
			header: hdr("User-Agent", terraUA, "X-Forwarded-For", "203.0.113.7"), wantStatus: 201,
			action: "project.create", typ: "create", target: &auditkeep.Target{Type: "project", ID: "prj_1", Name: "Shop"},
			scope: "project:prj_1", source: "terraform", status: "success", wantSnapshot: true, wantIP: "203.0.113.7"},
		{name: "list projects", method: "GET", path: "/projects", wantStatus: 200, recordsNothing: true},
		{name: "create environment", method: "POST", path: "/projects/prj_1/environments", body: `{"name":"prod"}`,
			header: hdr("User-Agent", browserUA), wantStatus: 201,
			action: "environment.create", typ: "create", target: &auditkeep.Target{Type: "environment", ID: "env_1", Name: "prod"},
			scope: "project:prj_1/environment:env_1", source: "console", status: "success", wantSnapshot: true, wantIP: "127.0.0.1"},
		{name: "set variable", method: "PUT", path: "/projects/prj_1/environments/env_1/variables/DATABASE_PASSWORD", body: `{"value":"hunter2"}`,
			header: hdr("User-Agent", "curl/8.5.0"), wantStatus: 200,
			action: "variable.update", typ: "update", target: &auditkeep.Target{Type: "variable", ID: "DATABASE_PASSWORD"},
			scope: "project:prj_1/environment:env_1/variable:DATABASE_PASSWORD", source: "cli", status: "success", wantSnapshot: true},
		{name: "change variable", method: "PUT", path: "/projects/prj_1/environments/env_1/variables/DATABASE_PASSWORD", body: `{"value":"correct-horse-battery"}`,
			header: hdr("User-Agent", "curl/8.5.0"), wantStatus: 200,
			action: "variable.update", typ: "update", target: &auditkeep.Target{Type: "variable", ID: "DATABASE_PASSWORD"},
			scope: "project:prj_1/environment:env_1/variable:DATABASE_PASSWORD", source: "cli", status: "success", wantSnapshot: true},
		{name: "rename environment", method: "PUT", path: "/projects/prj_1/environments/env_1", body: `{"name":"production"}`,
			header: hdr("User-Agent", "curl/8.5.0", "X-Audit-Source", "console"), wantStatus: 200,
			action: "environment.update", typ: "update", target: &auditkeep.Target{Type: "environment", ID: "env_1", Name: "production"},
			scope: "project:prj_1/environment:env_1", source: "console", status: "success", wantSnapshot: true},
		{name: "create service", method: "POST", path: "/projects/prj_1/services", body: `{"name":"api","image":"shop/api:1.0"}`,
			header: hdr("User-Agent", "Go-http-client/1.1"), wantStatus: 201,
			action: "service.create", typ: "create", target: &auditkeep.Target{Type: "service", ID: "svc_1", Name: "api", Deleted: true},
			scope: "project:prj_1/service:svc_1", source: "api", status: "success", wantSnapshot: true},
		{name: "restart service", method: "POST", path: "/projects/prj_1/services/svc_1/restart", wantStatus: 202,
			action: "service.restart", typ: "execute", target: &auditkeep.Target{Type: "service", ID: "svc_1", Name: "api", Deleted: true},
			scope: "project:prj_1/service:svc_1", source: "api", status: "success"},
		{name: "delete service", method: "DELETE", path: "/projects/prj_1/services/svc_1", wantStatus: 204,
			action: "service.delete", typ: "delete", target: &auditkeep.Target{Type: "service", ID: "svc_1", Name: "api", Deleted: true},
			scope: "project:prj_1/service:svc_1", source: "api", status: "success"},
		{name: "update a missing environment", method: "PUT", path: "/projects/prj_1/environments/env_404", body: `{"name":"x"}`,
			wantStatus: 404, action: "environment.update", typ: "update", target: &auditkeep.Target{Type: "environment", ID: "env_404"},
			scope: "project:prj_1/environment:env_404", source: "api", status: "failure"},
		{name: "create token", method: "POST", path: "/tokens", body: `{"name":"ci"}`, wantStatus: 201,
			action: "token.create", typ: "create", target: &auditkeep.Target{Type: "token", ID: "tok_1", Name: "ci"},
			scope: "token:tok_1", source: "api", status: "success", wantSnapshot: true},
		{name: "create project with the token", token: "ci", method: "POST", path: "/projects", body: `{"name":"Infra"}`, wantStatus: 201,
			action: "project.create", typ: "create", target: &auditkeep.Target{Type: "project", ID: "prj_2", Name: "Infra"},
			scope: "project:prj_2", actor: "tok_1", source: "api", status: "success", wantSnapshot: true},
		{name: "unauthenticated", token: "nope", method: "POST", path: "/projects", body: `{"name":"X"}`, wantStatus: 401, recordsNothing: true},
	}

	for i := range calls {
		c := &calls[i]
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		for k, v := range c.header {
			req.Header[k] = v
		}
		if c.header.Get("User-Agent") == "" {
			req.Header.Set("User-Agent", "Go-http-client/1.1")
		}
		switch c.token {
		case "":
			req.Header.Set("Authorization", "Bearer "+aliceToken)
		case "ci":
			req.Header.Set("Authorization", "Bearer "+ciToken)
		default:
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.wantStatus {
			t.Fatalf("%s: %s %s = %d %s; want %d", c.name, c.method, c.path, res.StatusCode, body, c.wantStatus)
		}
		if c.name == "create token" {
			var tok Token
			json.Unmarshal(body, &tok)
			ciToken = tok.Secret
		}
	}
	if ciToken == "" {
		t.Fatal("the token's secret was not shown")
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	mu.Lock()
	if len(recordErrs) > 0 {
		t.Fatalf("Record errors: %v", recordErrs)
	}
	mu.Unlock()

	var events []auditkeep.Event
	// The platform's events: auditkeep's own record of the key's creation aside.
	for e, err := range ak.Events(ctx, url.Values{"order": {"asc"}, "limit": {"1000"}, "q": {"-source:auditkeep"}}) {
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		events = append(events, e)
	}
	var want []call
	for _, c := range calls {
		if !c.recordsNothing {
			want = append(want, c)
		}
	}
	if len(events) != len(want) {
		for _, e := range events {
			t.Logf("event %s %s %s", e.Action, e.Status, e.Metadata)
		}
		t.Fatalf("%d events stored; want one per mutating call, %d", len(events), len(want))
	}
	for i, c := range want {
		e := events[i]
		actor := c.actor
		if actor == "" {
			actor = "usr_alice"
		}
		if e.Action != c.action || e.Type != c.typ || e.Status != c.status || e.Source != c.source || e.Actor.ID != actor {
			t.Errorf("%s: action, type, status, source, actor = %s, %s, %s, %s, %s; want %s, %s, %s, %s, %s",
				c.name, e.Action, e.Type, e.Status, e.Source, e.Actor.ID, c.action, c.typ, c.status, c.source, actor)
		}
		if !sameTarget(e.Target, c.target) {
			t.Errorf("%s: target = %+v; want %+v", c.name, e.Target, c.target)
		}
		if got := auditkeep.ScopePath(e.Scope); got != c.scope {
			t.Errorf("%s: scope = %s; want %s", c.name, got, c.scope)
		}
		if c.wantIP != "" && e.Context.IP != c.wantIP {
			t.Errorf("%s: ip = %q; want %q", c.name, e.Context.IP, c.wantIP)
		}
		if (len(e.Snapshot) > 0) != c.wantSnapshot {
			t.Errorf("%s: snapshot %s; want one: %v", c.name, e.Snapshot, c.wantSnapshot)
		}
		if e.Context.UserAgent == "" {
			t.Errorf("%s: no user agent", c.name)
		}
	}
	alice := events[0].Actor
	if alice != (auditkeep.Actor{Type: "user", ID: "usr_alice", Name: "Alice Martin", Email: "alice@example.com"}) {
		t.Errorf("actor = %+v; want Alice in full", alice)
	}
	if tok := events[len(events)-1].Actor; tok != (auditkeep.Actor{Type: "api_token", ID: "tok_1", Name: "ci"}) {
		t.Errorf("token actor = %+v; want the api_token tok_1 named ci", tok)
	}

	// Change tracking: the server diffs each snapshot against the target's
	// previous one, and redacts what must not be stored.
	rename := eventOf(t, events, "environment.update", "success")
	assertChange(t, rename, "name", `"prod"`, `"production"`)
	if !strings.Contains(rename.Description, "production") {
		t.Errorf("rename description = %q; want it to name the new name", rename.Description)
	}
	sets := eventsOf(events, "variable.update")
	var changed *auditkeep.Change
	for i, ch := range sets[1].Changes {
		if strings.Contains(ch.Field, "DATABASE_PASSWORD") {
			changed = &sets[1].Changes[i]
		}
	}
	if changed == nil {
		t.Errorf("second variable.update changes = %s; want the value of DATABASE_PASSWORD changed", jsonOf(sets[1].Changes))
	} else if !isHash(changed.Old) || !isHash(changed.New) || bytes.Equal(changed.Old, changed.New) {
		t.Errorf("variable change %s: old %s, new %s; want two different hmac-sha256 hashes", changed.Field, changed.Old, changed.New)
	}
	// Deleted targets keep their last state, given by the handler with
	// client.Annotate.
	del := eventOf(t, events, "service.delete", "success")
	var before Service
	if err := json.Unmarshal(del.Before, &before); err != nil || before.Image != "shop/api:1.0" {
		t.Errorf("service.delete before = %s; want the service as it was", del.Before)
	}

	// No secret reaches the store: not the variable's values, not the token.
	for _, format := range []string{"ndjson", "csv"} {
		var buf bytes.Buffer
		if _, err := ak.Export(ctx, format, nil, &buf); err != nil {
			t.Fatalf("Export %s: %v", format, err)
		}
		for _, secret := range []string{"hunter2", "correct-horse-battery", ciToken} {
			if bytes.Contains(buf.Bytes(), []byte(secret)) {
				t.Errorf("the %s export holds the secret %q", format, secret)
			}
		}
		if testing.Verbose() && format == "ndjson" {
			t.Logf("export:\n%s", buf.Bytes())
		}
		if !bytes.Contains(buf.Bytes(), []byte("DATABASE_PASSWORD")) {
			t.Errorf("the %s export does not name the variable DATABASE_PASSWORD", format)
		}
	}
	for _, e := range events {
		d, err := ak.GetEvent(ctx, e.ID)
		if err != nil {
			t.Fatalf("GetEvent(%s): %v", e.ID, err)
		}
		if b := jsonOf(d); strings.Contains(b, "hunter2") || strings.Contains(b, ciToken) {
			t.Errorf("GetEvent(%s) holds a secret: %s", e.ID, b)
		}
	}

	if err := rec.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s := rec.Stats(); s.Sent != uint64(len(want)) || s.Dropped+s.Rejected+s.Failed != 0 {
		t.Errorf("Stats() = %+v; want %d sent, none lost", s, len(want))
	}
}

func sameTarget(got, want *auditkeep.Target) bool {
	if got == nil || want == nil {
		return got == want
	}
	return *got == *want
}

func eventsOf(events []auditkeep.Event, action string) []auditkeep.Event {
	var out []auditkeep.Event
	for _, e := range events {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func eventOf(t *testing.T, events []auditkeep.Event, action, status string) auditkeep.Event {
	t.Helper()
	for _, e := range events {
		if e.Action == action && e.Status == status {
			return e
		}
	}
	t.Fatalf("no %s event with status %s", action, status)
	return auditkeep.Event{}
}

func assertChange(t *testing.T, e auditkeep.Event, field, old, new string) {
	t.Helper()
	for _, c := range e.Changes {
		if c.Field == field {
			if string(c.Old) != old || string(c.New) != new {
				t.Errorf("%s change of %s = %s → %s; want %s → %s", e.Action, field, c.Old, c.New, old, new)
			}
			return
		}
	}
	t.Errorf("%s changes = %s; want %s changed from %s to %s", e.Action, jsonOf(e.Changes), field, old, new)
}

func isHash(raw json.RawMessage) bool {
	var s string
	return json.Unmarshal(raw, &s) == nil && strings.HasPrefix(s, "hmac-sha256:")
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRunUsage checks the command's argument errors.
func TestRunUsage(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want int
	}{
		{nil, nil, 2}, // no key
		{[]string{"-key", "k", "-trusted-proxies", "10.0.0.0/33"}, nil, 2},
		{[]string{"-nope"}, nil, 2},
		{[]string{"-h"}, nil, 0},
		{[]string{"-addr", "256.0.0.1:1"}, map[string]string{"AUDITKEEP_KEY": "k"}, 1},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		getenv := func(k string) string { return tt.env[k] }
		if got := run(context.Background(), tt.args, getenv, &stderr); got != tt.want {
			t.Errorf("run(%q) = %d; want %d (%s)", tt.args, got, tt.want, stderr.String())
		}
	}
}
