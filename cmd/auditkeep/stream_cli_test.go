package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

// waitHEC waits up to 30 s for the collector to hold n events, and
// returns those it holds.
func waitHEC(t *testing.T, h *receivertest.HEC, n int) []map[string]any {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d events at the collector", n), func() bool { return len(h.Events()) >= n })
	return h.Events()
}

// TestStreamCLI: auditkeep stream create, list, test, pause, resume and
// replay against the real server, delivering to an HEC collector.
func TestStreamCLI(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	h := receivertest.StartHEC(t)
	dir := t.TempDir()
	caFile, secretFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "token")
	os.WriteFile(caFile, []byte(h.CA()), 0o600)
	os.WriteFile(secretFile, []byte(receivertest.HECToken+"\n"), 0o600)
	vars := map[string]string{"AUDITKEEP_SERVER": base, "AUDITKEEP_KEY": key}

	code, out, errOut := runCLI(t, vars, "stream", "create", "siem", "--type", "splunk_hec", "--format", "ecs",
		"--set", "url="+h.URL(), "--set", "index=audit", "--set", "ca=@"+caFile, "--secret-file", secretFile,
		"--filter", "action=secret.update", "-q", "-status:failure")
	if code != exitOK {
		t.Fatalf("stream create = %d\n%s%s", code, out, errOut)
	}
	id := strings.TrimSpace(out)
	if !strings.Contains(errOut, "Created stream siem (splunk_hec, ecs, active)") {
		t.Errorf("stream create said %q", errOut)
	}
	r := call(t, "GET", base+"/v1/streams/"+id, key, nil)
	var st struct {
		Settings map[string]any      `json:"settings"`
		Filters  map[string][]string `json:"filters"`
	}
	json.Unmarshal(r.body, &st)
	if r.status != 200 || st.Settings["index"] != "audit" || st.Settings["ca"] != h.CA() || fmt.Sprint(st.Filters["action"]) != "[secret.update]" || fmt.Sprint(st.Filters["q"]) != "[-status:failure]" {
		t.Errorf("GET the created stream = %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), receivertest.HECToken) {
		t.Error("the API shows the stream's secret")
	}

	ingestJSON(t, base, key, []any{event("e1", "secret.update", "usr_1"), event("e2", "secret.read", "usr_1"), event("e3", "secret.update", "usr_1")})
	if evs := waitHEC(t, h, 2); len(evs) != 2 {
		t.Fatalf("the collector has %d events; want 2", len(evs))
	}

	code, out, _ = runCLI(t, vars, "stream", "list")
	if code != exitOK || !strings.Contains(out, id) || !strings.Contains(out, "siem") || !strings.Contains(out, "splunk_hec") || !strings.Contains(out, "active") {
		t.Errorf("stream list = %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, vars, "stream", "list", "--json")
	var list []map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0]["id"] != id || list[0]["stream_seq"] != float64(2) {
		t.Errorf("stream list --json = %d\n%s", code, out)
	}

	code, out, _ = runCLI(t, vars, "stream", "test", id)
	if evs := waitHEC(t, h, 3); code != exitOK || !strings.Contains(out, "accepted the test event") || len(evs) != 3 {
		t.Errorf("stream test = %d %q; the collector has %d events", code, out, len(evs))
	}

	code, out, _ = runCLI(t, vars, "stream", "pause", id)
	if code != exitOK || !strings.Contains(out, "paused") {
		t.Errorf("stream pause = %d %q", code, out)
	}
	ingestJSON(t, base, key, []any{event("e4", "secret.update", "usr_1")})
	time.Sleep(300 * time.Millisecond)
	if n := len(h.Events()); n != 3 {
		t.Errorf("a paused stream delivered: the collector has %d events", n)
	}
	code, out, _ = runCLI(t, vars, "stream", "resume", id)
	if evs := waitHEC(t, h, 4); code != exitOK || !strings.Contains(out, "active") || len(evs) != 4 {
		t.Errorf("stream resume = %d %q; the collector has %d events", code, out, len(evs))
	}

	code, out, errOut = runCLI(t, vars, "stream", "replay", id, "--from-seq", "1")
	if evs := waitHEC(t, h, 7); code != exitOK || len(evs) != 7 {
		t.Errorf("stream replay --from-seq 1 = %d %q %q; the collector has %d events; want 7", code, out, errOut, len(evs))
	}

	// Usage errors and refusals.
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"stream", "create", "x"}, exitUsage, "--type is required"},
		{[]string{"stream", "create", "x", "--type", "kafka"}, exitUsage, `--type "kafka" is not one of`},
		{[]string{"stream", "create", "x", "--type", "syslog", "--format", "xml"}, exitUsage, `--format "xml"`},
		{[]string{"stream", "create", "x", "--type", "syslog", "--set", "novalue"}, exitUsage, "must be KEY=VALUE"},
		{[]string{"stream", "create", "x", "--type", "splunk_hec", "--secret-file", secretFile}, exitNegative, "settings.url"},
		{[]string{"stream", "replay", id}, exitUsage, "give one of --from-seq and --from-time"},
		{[]string{"stream", "replay", id, "--from-seq", "1", "--from-time", "2026-11-01"}, exitUsage, "give one of"},
		{[]string{"stream", "replay", id, "--from-time", "yesterday"}, exitUsage, "not an RFC 3339 time"},
		{[]string{"stream", "pause", "str_nope"}, exitNegative, "404"},
		{[]string{"stream", "frobnicate"}, exitUsage, "unknown subcommand"},
	} {
		code, out, errOut := runCLI(t, vars, c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.says) {
			t.Errorf("%v = %d %q %q; want %d saying %q", c.args, code, out, errOut, c.code, c.says)
		}
	}
}
