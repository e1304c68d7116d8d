package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// runCLI runs a command in-process with the given environment variables.
func runCLI(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: testGetenv(t, vars)}
	code = Main(context.Background(), args, e)
	return code, out.String(), errb.String()
}

// testGetenv returns the environment of vars, with HOME and XDG_CONFIG_HOME
// in a temporary directory unless vars sets them: what a command keeps in
// the user's configuration (verify's state) stays out of the real one.
func testGetenv(t *testing.T, vars map[string]string) func(string) string {
	home := t.TempDir()
	return func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		switch k {
		case "HOME":
			return home
		case "XDG_CONFIG_HOME":
			return filepath.Join(home, ".config")
		}
		return ""
	}
}

// fakeAPI is a stand-in server that records requests and answers with h.
type fakeAPI struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
	srv  *httptest.Server
}

func newFakeAPI(t *testing.T, h http.HandlerFunc) *fakeAPI {
	f := &fakeAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.body = append(f.body, b)
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) vars() map[string]string {
	return map[string]string{"AUDITKEEP_SERVER": f.srv.URL, "AUDITKEEP_KEY": "test-key", "TZ": "UTC"}
}

func jsonReply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func TestUsageErrors(t *testing.T) {
	vars := map[string]string{"AUDITKEEP_KEY": "k"}
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"tenant"}, "Usage:"},
		{[]string{"tenant", "delete", "acme"}, `unknown subcommand "delete"`},
		{[]string{"tenant", "create"}, "give one tenant NAME"},
		{[]string{"tenant", "create", "Acme Corp"}, "lowercase letters"},
		{[]string{"tenant", "create", "acme", "--retention-days", "-1"}, "--retention-days must be 0 or more"},
		{[]string{"tenant", "create", "acme", "--retention-days", "ten"}, "invalid value"},
		{[]string{"tenant", "update", "acme"}, "nothing to update"},
		{[]string{"tenant", "create", "acme", "--server", "ftp://x"}, "is not an http:// or https:// URL"},
		{[]string{"key", "create", "--name", "ci", "--scopes", "ingest"}, "--tenant is required"},
		{[]string{"key", "create", "--tenant", "acme", "--scopes", "ingest"}, "--name is required"},
		{[]string{"key", "create", "--tenant", "acme", "--name", "ci"}, "--scopes is required"},
		{[]string{"key", "create", "--tenant", "acme", "--name", "ci", "--scopes", "ingest,write"}, `scope "write" is not one of`},
		{[]string{"key", "revoke", "--tenant", "acme"}, "give one KEY_ID"},
		{[]string{"key", "rotate"}, `unknown subcommand "rotate"`},
		{[]string{"events", "--type", "change"}, `--type "change" is not one of`},
		{[]string{"events", "--ip", "300.1.1.1"}, "is not an IP address"},
		{[]string{"events", "--status", "success,ok"}, `--status "ok" is not success or failure`},
		{[]string{"events", "--from", "yesterday"}, "--from \"yesterday\" is not an RFC 3339 time"},
		{[]string{"events", "--limit", "5000"}, "--limit must be from 1 to 1000"},
		{[]string{"events", "--order", "up"}, "--order must be asc or desc"},
		{[]string{"events", "--sort", "time"}, "--sort must be occurred_at or seq"},
		{[]string{"events", "alice"}, "a search goes in -q"},
		{[]string{"events", "--bogus"}, "auditkeep events: unknown flag --bogus; run 'auditkeep events -h' for usage\n"},
		{[]string{"events", "--limt", "5"}, "auditkeep events: unknown flag --limt (did you mean --limit?); run 'auditkeep events -h' for usage\n"},
		{[]string{"export", "--with-proof"}, "unknown flag --with-proof (did you mean --with-proofs?)"},
		{[]string{"events", "--target_id", "env_7"}, "unknown flag --target_id (did you mean --target-id?)"},
		{[]string{"serve", "--adr", ":0"}, "auditkeep serve: unknown flag --adr (did you mean --addr?); run 'auditkeep serve -h' for usage\n"},
		{[]string{"export", "--format", "xml"}, `--format "xml" is not csv or ndjson`},
		{[]string{"export", "out.csv"}, "the output file goes in -o"},
		{[]string{"demo", "--events", "0"}, "--events must be 1 or more"},
		{[]string{"demo", "--tenant", "Bad_Name"}, "lowercase letters"},
		{[]string{"demo", "--senders", "0"}, "--senders must be from 1 to 64"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runCLI(t, vars, tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("auditkeep %s = %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, stderr, exitUsage, tt.want)
		}
		if stdout != "" {
			t.Errorf("auditkeep %s printed %q on stdout; want nothing", strings.Join(tt.args, " "), stdout)
		}
	}
}

// TestHelpHidesSecrets: usage messages say where the key comes from and
// whether it is set, never its value.
func TestHelpHidesSecrets(t *testing.T) {
	vars := map[string]string{"AUDITKEEP_KEY": "ak_user_secret", "AUDITKEEP_ROOT_KEY": "root_secret",
		"AUDITKEEP_DATABASE_URL": "postgres://audit:db_secret@db.example/audit"}
	for _, args := range [][]string{{"events", "-h"}, {"tail", "-h"}, {"export", "-h"}, {"demo", "-h"}, {"verify", "-h"},
		{"tenant", "create", "-h"}, {"key", "create", "-h"}, {"key", "revoke", "-h"}, {"ledger", "key", "-h"},
		{"archive", "list", "-h"}, {"serve", "-h"}, {"events", "--bogus"}} {
		_, stdout, stderr := runCLI(t, vars, args...)
		for _, secret := range []string{"ak_user_secret", "root_secret", "db_secret"} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("auditkeep %s printed the secret %s:\n%s%s", strings.Join(args, " "), secret, stdout, stderr)
			}
		}
	}
	for _, tt := range []struct {
		vars map[string]string
		args []string
		want string
	}{
		{vars, []string{"events", "-h"}, "API key (default $AUDITKEEP_KEY, set)"},
		{map[string]string{"AUDITKEEP_ROOT_KEY": "root_secret"}, []string{"tenant", "create", "-h"}, "API key (default $AUDITKEEP_ROOT_KEY, set)"},
		{nil, []string{"demo", "-h"}, "API key (default $AUDITKEEP_KEY or $AUDITKEEP_ROOT_KEY, not set)"},
		{nil, []string{"events", "-h"}, "API key (default $AUDITKEEP_KEY, not set)"},
		{vars, []string{"serve", "-h"}, "postgres://audit:xxxxx@db.example/audit"},
	} {
		code, _, stderr := runCLI(t, tt.vars, tt.args...)
		if code != exitOK || !strings.Contains(stderr, tt.want) {
			t.Errorf("auditkeep %s = %d:\n%s\nwant %q", strings.Join(tt.args, " "), code, stderr, tt.want)
		}
	}
	// A key given as a flag is used, and still not shown.
	f := newFakeAPI(t, jsonReply(200, `{"events":[]}`))
	runCLI(t, f.vars(), "events", "--key", "ak_flag")
	if got := f.reqs[0].Header.Get("Authorization"); got != "Bearer ak_flag" {
		t.Errorf("Authorization = %q; want the --key value", got)
	}
}

func TestNoKey(t *testing.T) {
	code, _, stderr := runCLI(t, map[string]string{}, "events")
	if code != exitUsage || !strings.Contains(stderr, "no API key") {
		t.Errorf("events without a key = %d, %q; want %d and 'no API key'", code, stderr, exitUsage)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"events", "-h"}, {"export", "--help"}, {"key", "help"}, {"tenant", "create", "-h"}, {"demo", "-h"}} {
		code, _, stderr := runCLI(t, nil, args...)
		if code != exitOK || !strings.Contains(stderr, "Usage") {
			t.Errorf("auditkeep %s = %d, stderr %q; want 0 and a usage message", strings.Join(args, " "), code, stderr)
		}
	}
	code, stdout, _ := runCLI(t, nil, "help")
	for _, c := range []string{"tenant", "key", "events", "export", "demo"} {
		if code != exitOK || !strings.Contains(stdout, "\n  "+c+" ") {
			t.Errorf("auditkeep help does not list %s:\n%s", c, stdout)
		}
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args      []string
		wantPos   []string
		wantPlan  string
		wantDays  int
		wantError bool
	}{
		{[]string{"acme"}, []string{"acme"}, "", 0, false},
		{[]string{"acme", "--plan", "team", "--retention-days", "7"}, []string{"acme"}, "team", 7, false},
		{[]string{"--plan=team", "acme", "b"}, []string{"acme", "b"}, "team", 0, false},
		{[]string{"--plan", "team", "--", "--acme"}, []string{"--acme"}, "team", 0, false},
		{[]string{"acme", "--nope"}, nil, "", 0, true},
	}
	for _, tt := range tests {
		fs := newFlagSet(&env{stderr: io.Discard}, "t", "t")
		plan := fs.String("plan", "", "")
		days := fs.Int("retention-days", 0, "")
		pos, err := parseArgs(fs, tt.args)
		if (err != nil) != tt.wantError || strings.Join(pos, "|") != strings.Join(tt.wantPos, "|") || *plan != tt.wantPlan || *days != tt.wantDays {
			t.Errorf("parseArgs(%q) = %q, plan %q, days %d, err %v; want %q, %q, %d, error %v",
				tt.args, pos, *plan, *days, err, tt.wantPos, tt.wantPlan, tt.wantDays, tt.wantError)
		}
	}
}

func TestTenantCreate(t *testing.T) {
	f := newFakeAPI(t, jsonReply(201, `{"id":"acme","name":"acme","retention_days":30,"plan":"business","created_at":"2026-11-26T09:00:00Z"}`))
	vars := f.vars()
	delete(vars, "AUDITKEEP_KEY")
	vars["AUDITKEEP_ROOT_KEY"] = "root"
	code, stdout, stderr := runCLI(t, vars, "tenant", "create", "acme", "--retention-days", "30", "--plan", "business")
	if code != exitOK || stdout != "Created tenant acme: events kept 30 days, plan business\n" {
		t.Errorf("tenant create = %d, %q, %q; want 0 and the tenant", code, stdout, stderr)
	}
	if got := f.reqs[0].Header.Get("Authorization"); got != "Bearer root" {
		t.Errorf("Authorization = %q; want the root key from AUDITKEEP_ROOT_KEY", got)
	}
	if got := string(f.body[0]); got != `{"name":"acme","retention_days":30,"plan":"business"}` {
		t.Errorf("body = %s", got)
	}
}

func TestTenantUpdateSendsOnlyGivenFlags(t *testing.T) {
	f := newFakeAPI(t, jsonReply(200, `{"id":"acme","name":"acme","retention_days":0,"plan":"enterprise","created_at":"2026-11-26T09:00:00Z"}`))
	code, stdout, _ := runCLI(t, f.vars(), "tenant", "update", "acme", "--plan", "enterprise", "--json")
	if code != exitOK {
		t.Fatalf("tenant update = %d", code)
	}
	if got := string(f.body[0]); got != `{"plan":"enterprise"}` {
		t.Errorf("body = %s; want only the plan", got)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(stdout), &m); err != nil || m["plan"] != "enterprise" {
		t.Errorf("--json printed %q (%v); want the tenant as JSON", stdout, err)
	}
}

func TestRequestRefused(t *testing.T) {
	f := newFakeAPI(t, jsonReply(409, `{"error":{"code":"conflict","message":"tenant acme already exists","field":"name"}}`))
	code, stdout, stderr := runCLI(t, f.vars(), "tenant", "create", "acme")
	if code != exitNegative || stdout != "" || !strings.Contains(stderr, "tenant acme already exists (name) [409 conflict]") {
		t.Errorf("tenant create on a conflict = %d, %q, %q; want 1 and the server's message", code, stdout, stderr)
	}
	f = newFakeAPI(t, jsonReply(401, `{"error":{"code":"unauthorized","message":"unknown key \u001b[31m"}}`))
	code, _, stderr = runCLI(t, f.vars(), "events")
	if code != exitNegative || !strings.Contains(stderr, "Check --key") || strings.Contains(stderr, "\x1b") {
		t.Errorf("events with a bad key = %d, %q; want 1, a hint, no escape character", code, stderr)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	code, _, stderr := runCLI(t, map[string]string{"AUDITKEEP_SERVER": srv.URL, "AUDITKEEP_KEY": "k"}, "events")
	if code != exitNegative || !strings.Contains(stderr, "connect") || !strings.Contains(stderr, "--server or AUDITKEEP_SERVER") {
		t.Errorf("events on a closed port = %d, %q; want 1, a connection error and where the server is looked for", code, stderr)
	}
	code, _, stderr = runCLI(t, map[string]string{"AUDITKEEP_SERVER": srv.URL}, "ledger", "key")
	if code != exitNegative || !strings.Contains(stderr, "--server or AUDITKEEP_SERVER") {
		t.Errorf("ledger key on a closed port = %d, %q; want 1 and where the server is looked for", code, stderr)
	}
}

func TestKeyCreate(t *testing.T) {
	f := newFakeAPI(t, jsonReply(201, `{"id":"key_1","key":"ak_secret","name":"ci","scopes":["ingest","read"],"tenant":"acme","created_at":"2026-11-26T09:00:00Z"}`))
	code, stdout, stderr := runCLI(t, f.vars(), "key", "create", "--tenant", "acme", "--name", "ci", "--scopes", "ingest, read")
	if code != exitOK || stdout != "ak_secret\n" {
		t.Errorf("key create = %d, stdout %q; want 0 and the key alone", code, stdout)
	}
	if !strings.Contains(stderr, "not shown again") || !strings.Contains(stderr, "key_1") {
		t.Errorf("key create stderr = %q; want the key's id and a note that it is not shown again", stderr)
	}
	if got := string(f.body[0]); got != `{"name":"ci","scopes":["ingest","read"]}` {
		t.Errorf("body = %s", got)
	}
	if p := f.reqs[0].URL.Path; p != "/v1/tenants/acme/keys" {
		t.Errorf("path = %s", p)
	}
}

func TestKeyRevoke(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	code, stdout, _ := runCLI(t, f.vars(), "key", "revoke", "key_1", "--tenant", "acme")
	if code != exitOK || stdout != "Revoked key key_1 of tenant acme\n" {
		t.Errorf("key revoke = %d, %q", code, stdout)
	}
	if r := f.reqs[0]; r.Method != "DELETE" || r.URL.Path != "/v1/tenants/acme/keys/key_1" {
		t.Errorf("request = %s %s; want DELETE /v1/tenants/acme/keys/key_1", r.Method, r.URL.Path)
	}
}

const twoEvents = `{"events":[
 {"tenant":"acme","received_at":"2026-11-26T09:00:06Z","id":"e2","seq":2,"occurred_at":"2026-11-26T09:00:05.5Z","action":"environment.update","type":"update",
  "actor":{"type":"user","id":"usr_1","name":"Alice Martin","email":"alice@example.com"},
  "target":{"type":"environment","id":"env_7","name":"production","deleted":true},
  "scope":[{"type":"project","id":"prj_1","name":"Shop"},{"type":"environment","id":"env_7","name":"production"}],
  "source":"console","context":{"ip":"203.0.113.7"},"status":"success"},
 {"tenant":"acme","received_at":"2026-11-26T08:59:01Z","id":"e1","seq":1,"occurred_at":"2026-11-26T08:59:00Z","action":"token.create","type":"create",
  "actor":{"type":"api_token","id":"tok_1","name":"terraform-ci\u001b]0;pwned\u0007"},
  "target":{"type":"api_token","id":"tok_2"},"source":"terraform","context":{"ip":"2001:db8::1"},"status":"failure"}],
 "next_cursor":"CUR2"}`

func TestEventsTable(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "CUR2" {
			jsonReply(200, `{"events":[{"tenant":"acme","received_at":"2026-11-26T08:00:01Z","id":"e0","seq":0,"occurred_at":"2026-11-26T08:00:00Z","action":"user.login","type":"login","actor":{"type":"system","id":"sys"},"status":"success"}]}`)(w, r)
			return
		}
		jsonReply(200, twoEvents)(w, r)
	})
	code, stdout, stderr := runCLI(t, f.vars(), "events", "--actor", "alice@example.com", "--action", "environment.*,token.create", "-q", `"prod db"`, "--limit", "2")
	if code != exitOK {
		t.Fatalf("events = %d, %q", code, stderr)
	}
	want := "" +
		"TIME                     ACTOR                         ACTION              TARGET                            SCOPE              SOURCE     IP           STATUS\n" +
		"2026-11-26 09:00:05 UTC  alice@example.com             environment.update  environment production (deleted)  Shop / production  console    203.0.113.7  success\n" +
		"2026-11-26 08:59:00 UTC  token terraform-ci?]0;pwned?  token.create        api_token tok_2                   -                  terraform  2001:db8::1  FAILURE\n"
	if stdout != want {
		t.Errorf("events table:\n%s\nwant:\n%s", stdout, want)
	}
	if !strings.Contains(stderr, "--cursor CUR2") {
		t.Errorf("stderr %q; want the next cursor", stderr)
	}
	q := f.reqs[0].URL.Query()
	if q.Get("actor") != "alice@example.com" || q.Get("action") != "environment.*,token.create" || q.Get("q") != `"prod db"` || q.Get("limit") != "2" {
		t.Errorf("query = %v", q)
	}
	if len(f.reqs) != 1 {
		t.Errorf("events without --all made %d requests; want 1", len(f.reqs))
	}

	// --all follows the cursor, --json prints one event per line.
	f.reqs = nil
	code, stdout, _ = runCLI(t, f.vars(), "events", "--all", "--json")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitOK || len(lines) != 3 || len(f.reqs) != 2 {
		t.Fatalf("events --all --json = %d, %d lines, %d requests; want 0, 3, 2", code, len(lines), len(f.reqs))
	}
	var e auditkeep.Event
	if err := json.Unmarshal([]byte(lines[2]), &e); err != nil || e.ID != "e0" {
		t.Errorf("last line %q (%v); want event e0", lines[2], err)
	}
	if got := f.reqs[0].URL.Query().Get("limit"); got != "1000" {
		t.Errorf("--all page size = %q; want 1000", got)
	}
}

func TestEventsNothingMatched(t *testing.T) {
	f := newFakeAPI(t, jsonReply(200, `{"events":[]}`))
	code, stdout, stderr := runCLI(t, f.vars(), "events", "--status", "failure")
	if code != exitNegative || stdout != "" || !strings.Contains(stderr, "No events matched") {
		t.Errorf("events with no match = %d, %q, %q; want 1 and a note", code, stdout, stderr)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct{ in, want string }{
		{"2026-11-01", "2026-11-01"},
		{"2026-11-01T09:00:00+01:00", "2026-11-01T09:00:00+01:00"},
		{"24h", "2026-11-25T12:00:00Z"},
		{"90m", "2026-11-26T10:30:00Z"},
		{"7d", "2026-11-19T12:00:00Z"},
		{"1.5d", "2026-11-25T00:00:00Z"},
		{"2w", "2026-11-12T12:00:00Z"},
		{"yesterday", ""},
		{"-3d", ""},
	}
	for _, tt := range tests {
		got, err := parseWhen(tt.in, now)
		if (tt.want == "") != (err != nil) || got != tt.want {
			t.Errorf("parseWhen(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCell(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"", 5, "-"},
		{"abc", 5, "abc"},
		{"abcdef", 5, "abcd…"},
		{"a\tb\nc\x1b[2J", 20, "a?b?c?[2J"},
		{"évé\u202enemo", 20, "évé?nemo"},
		{"ééééééé", 4, "ééé…"},
	}
	for _, tt := range tests {
		if got := cell(tt.in, tt.max); got != tt.want {
			t.Errorf("cell(%q, %d) = %q; want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestRecordCounter(t *testing.T) {
	tests := []struct {
		csv, bundle bool
		chunks      []string
		want        int64
	}{
		{false, false, []string{`{"id":"a"}` + "\n" + `{"id":"b"}`, "\n"}, 2},
		{true, false, []string{"id,description\n", `e1,"two` + "\n" + `lines"` + "\n", `e2,"say ""hi""` + "\n", `"` + "\n"}, 2},
		{true, false, []string{"id\n"}, 0},
		// A bundle: its checkpoint and leaves lines are not events, however split.
		{false, true, []string{`{"type":"checkpoint","checkpoint":"x"}` + "\n" + `{"type":"leaves","start":1,"hashes":["ab"]}` + "\n",
			`{"type":"ev`, `ent","event":{"id":"a","description":"{\"type\":\"event\"}"}}` + "\n" + `{"type":"event","event":{"id":"b"}}` + "\n"}, 2},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		c := &recordCounter{w: &buf, csv: tt.csv, bundle: tt.bundle}
		for _, ch := range tt.chunks {
			c.Write([]byte(ch))
		}
		if c.Records() != tt.want || c.Bytes() != int64(buf.Len()) {
			t.Errorf("recordCounter(csv=%v, %q) = %d records, %d bytes; want %d, %d", tt.csv, tt.chunks, c.Records(), c.Bytes(), tt.want, buf.Len())
		}
	}
}

func TestExportToFile(t *testing.T) {
	body := "id,action\ne1,user.login\ne2,\"x\ny\"\n"
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		io.WriteString(w, body)
	})
	out := filepath.Join(t.TempDir(), "audit.csv")
	code, stdout, stderr := runCLI(t, f.vars(), "export", "--format", "csv", "--type", "delete", "-o", out, "--progress")
	if code != exitOK {
		t.Fatalf("export = %d, %q", code, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil || string(got) != body {
		t.Errorf("file = %q, %v; want %q", got, err, body)
	}
	if stdout != "" || !strings.Contains(stderr, "\r2 events") || !strings.Contains(stderr, "Exported 2 events") {
		t.Errorf("export stdout %q, stderr %q; want nothing, and progress then a summary of 2 events", stdout, stderr)
	}
	q := f.reqs[0].URL.Query()
	if q.Get("format") != "csv" || q.Get("type") != "delete" || q.Get("order") != "asc" {
		t.Errorf("query = %v", q)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("export left %d files; want only the export", len(entries))
	}
}

func TestExportFailureLeavesNoFile(t *testing.T) {
	f := newFakeAPI(t, jsonReply(403, `{"error":{"code":"forbidden","message":"key lacks the export scope"}}`))
	out := filepath.Join(t.TempDir(), "audit.ndjson")
	code, _, stderr := runCLI(t, f.vars(), "export", "-o", out)
	if code != exitNegative || !strings.Contains(stderr, "export scope") {
		t.Errorf("export refused = %d, %q; want 1 and the reason", code, stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Errorf("a refused export left %d files", len(entries))
	}
}

func TestExportStdout(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, "{\"id\":\"e1\"}\n")
	})
	code, stdout, stderr := runCLI(t, f.vars(), "export")
	if code != exitOK || stdout != "{\"id\":\"e1\"}\n" || strings.Contains(stderr, "\r") {
		t.Errorf("export to stdout = %d, %q, %q; want the body and no progress (stderr is not a terminal)", code, stdout, stderr)
	}
}

func TestDemoSendsBatches(t *testing.T) {
	var mu sync.Mutex
	ids := map[string]bool{}
	var batches []int
	calls := 0
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 2 { // one refusal the sender must retry
			w.Header().Set("Retry-After", "0")
			jsonReply(503, `{"error":{"code":"unavailable","message":"storage unavailable"}}`)(w, r)
			return
		}
		var body struct{ Events []map[string]any }
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		dups := 0
		for _, e := range body.Events {
			id := e["id"].(string)
			if ids[id] {
				dups++
			}
			ids[id] = true
			if _, ok := e["seq"]; ok {
				t.Errorf("demo sent a server field: %v", e)
			}
			at, _ := time.Parse(time.RFC3339Nano, e["occurred_at"].(string))
			if at.After(time.Now()) {
				t.Errorf("demo sent an event from the future: %v", at)
			}
		}
		batches = append(batches, len(body.Events))
		jsonReply(200, `{"accepted":`+strconv.Itoa(len(body.Events))+`,"ids":[],"duplicates":`+strconv.Itoa(dups)+`,"tenant":"acme"}`)(w, r)
	})
	code, stdout, stderr := runCLI(t, f.vars(), "demo", "--events", "2500", "--seed", "42", "--senders", "2")
	if code != exitOK {
		t.Fatalf("demo = %d, %q", code, stderr)
	}
	if len(ids) != 2500 || !strings.HasPrefix(stdout, "Sent 2,500 events (0 already stored) to tenant acme in ") {
		t.Errorf("demo sent %d distinct events, stdout %q; want 2500", len(ids), stdout)
	}
	total := 0
	for _, n := range batches {
		if n > 1000 {
			t.Errorf("batch of %d events; want at most 1000", n)
		}
		total += n
	}
	if total != 2500 || len(batches) != 3 {
		t.Errorf("batches %v; want 1000+1000+500 in some order", batches)
	}
	// The same seed sends the same events again.
	code, stdout, _ = runCLI(t, f.vars(), "demo", "--events", "2500", "--seed", "42")
	if code != exitOK || !strings.Contains(stdout, "(2,500 already stored)") {
		t.Errorf("demo with the same seed = %d, %q; want every event a duplicate", code, stdout)
	}
}

func TestDemoWithTenant(t *testing.T) {
	var auth []string
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/v1/tenants":
			jsonReply(409, `{"error":{"code":"conflict","message":"exists"}}`)(w, r)
		case "/v1/tenants/shop/keys":
			jsonReply(201, `{"id":"key_9","key":"ak_demo","name":"demo","scopes":["export","ingest","read"],"tenant":"shop","created_at":"2026-11-26T09:00:00Z"}`)(w, r)
		default:
			jsonReply(200, `{"accepted":10,"ids":[],"duplicates":0,"tenant":"shop"}`)(w, r)
		}
	})
	code, stdout, stderr := runCLI(t, f.vars(), "demo", "--tenant", "shop", "--events", "10")
	if code != exitOK {
		t.Fatalf("demo --tenant = %d, %q", code, stderr)
	}
	want := []string{"POST /v1/tenants Bearer test-key", "POST /v1/tenants/shop/keys Bearer test-key", "POST /v1/events Bearer ak_demo"}
	if strings.Join(auth, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(auth, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(stdout, "ak_demo") || !strings.Contains(stdout, "to tenant shop in") {
		t.Errorf("stdout %q; want the tenant filled and the new key", stdout)
	}
}

// TestDefaultStatePath: verify's state goes in the user's configuration
// directory, and nowhere when the environment names none.
func TestDefaultStatePath(t *testing.T) {
	for _, tt := range []struct {
		vars map[string]string
		want string // "" for an error
	}{
		{map[string]string{"HOME": "/home/ann"}, "/home/ann/.config/auditkeep/verify-audit.example_8443-acme.json"},
		{map[string]string{"HOME": "/home/ann", "XDG_CONFIG_HOME": "/cfg"}, "/cfg/auditkeep/verify-audit.example_8443-acme.json"},
		{map[string]string{"HOME": "/home/ann", "XDG_CONFIG_HOME": "cfg"}, "/home/ann/.config/auditkeep/verify-audit.example_8443-acme.json"},
		{map[string]string{}, ""},
		{map[string]string{"HOME": "relative"}, ""},
	} {
		e := &env{getenv: func(k string) string { return tt.vars[k] }}
		got, err := defaultStatePath(e, "https://audit.example:8443", "acme")
		if got != tt.want || (tt.want == "") != (err != nil) || err != nil && !strings.Contains(err.Error(), "--state") {
			t.Errorf("defaultStatePath(%v) = %q, %v; want %q (or an error suggesting --state)", tt.vars, got, err, tt.want)
		}
	}
}
