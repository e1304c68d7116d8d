package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRetentionArchiveCLI runs the real server: events older than a
// tenant's new retention are archived and removed by the job, then listed,
// verified, downloaded and restored with the archive command, through the
// server and directly from the archive directory.
func TestRetentionArchiveCLI(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Retention.Interval = time.Hour // runs come from the retention change
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	if r := call(t, "PUT", base+"/v1/tenants/acme", testRootKey, map[string]any{"retention_days": 0}); r.status != 200 {
		t.Fatalf("PUT retention 0: %d %s", r.status, r.body)
	}
	// Ten old events (backfilled while retention is unlimited), five recent.
	now := time.Now().UTC()
	var batch []any
	for i := 0; i < 15; i++ {
		ev := event(fmt.Sprintf("ev-%02d", i), "environment.update", "usr_42")
		days := 40 + i
		if i >= 10 {
			days = i - 10
		}
		ev["occurred_at"] = now.Add(-time.Duration(days) * 24 * time.Hour).Format(time.RFC3339Nano)
		batch = append(batch, ev)
	}
	if r := call(t, "POST", base+"/v1/events", key, map[string]any{"events": batch}); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	// The plan's 30 days make the old ones due; the change triggers a run.
	if r := call(t, "PUT", base+"/v1/tenants/acme", testRootKey, map[string]any{"plan": "business"}); r.status != 200 || !strings.Contains(string(r.body), `"retention_days":30`) {
		t.Fatalf("PUT plan business: %d %s", r.status, r.body)
	}
	var status struct {
		Status struct {
			Removed  int    `json:"removed_events"`
			Segments int    `json:"segments"`
			Last     string `json:"last_error"`
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := call(t, "GET", base+"/v1/retention", key, nil)
		json.Unmarshal(r.body, &status)
		if status.Status.Removed >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not remove the 10 old events in 30s: %s", r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status.Status.Removed != 10 || status.Status.Segments != 10 {
		t.Errorf("status = %+v; want 10 events removed in 10 segments (one per day)", status.Status)
	}
	if ids := listIDs(t, base, key, "action=environment.update&limit=100"); len(ids) != 5 {
		t.Errorf("after the purge the tenant lists %d events; want the 5 recent", len(ids))
	}

	server := map[string]string{"AUDITKEEP_SERVER": base, "AUDITKEEP_KEY": key}
	root := map[string]string{"AUDITKEEP_SERVER": base, "AUDITKEEP_KEY": testRootKey}
	dir := map[string]string{"AUDITKEEP_ARCHIVE_URL": "file://" + filepath.Join(cfg.DataDir, "archive")}
	run := func(vars map[string]string, want int, args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, vars, args...)
		if code != want {
			t.Fatalf("auditkeep %s = %d; want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout
	}

	out := run(server, exitOK, "archive", "list", "--tenant", "acme")
	if strings.Count(out, "\n") != 11 || !strings.Contains(out, "SEGMENT") {
		t.Errorf("archive list (server) =\n%s\nwant a header and 10 segments", out)
	}
	if off := run(dir, exitOK, "archive", "list", "--tenant", "acme"); off != out {
		t.Errorf("archive list from the directory =\n%s\nwant the same as through the server:\n%s", off, out)
	}
	seg := strings.Fields(strings.Split(out, "\n")[1])[0]

	pub := string(call(t, "GET", base+"/v1/ledger/key", "", nil).body)
	pub = strings.TrimSpace(pub)
	if strings.HasPrefix(pub, "{") {
		var k map[string]string
		json.Unmarshal([]byte(pub), &k)
		for _, v := range k {
			pub = v
		}
	}
	if out := run(server, exitOK, "archive", "verify", "--tenant", "acme", "--segment", seg, "--public-key", pub); !strings.HasPrefix(out, "ok:") {
		t.Errorf("archive verify = %q; want ok", out)
	}
	run(dir, exitOK, "archive", "verify", "--tenant", "acme", "--segment", seg, "--public-key", pub)

	// verify --bundle takes a segment file too, with its manifest beside it.
	segs, _ := filepath.Glob(filepath.Join(cfg.DataDir, "archive", "acme", "*", "*", "*", "*.ndjson.gz"))
	if len(segs) == 0 {
		t.Fatal("no segment file in the archive directory")
	}
	if out := run(nil, exitOK, "verify", "--bundle", segs[0], "--public-key", pub); !strings.HasPrefix(out, "ok:") {
		t.Errorf("verify --bundle on a segment = %q; want ok", out)
	}
	copyDir := t.TempDir()
	data, _ := os.ReadFile(segs[0])
	manifest, _ := os.ReadFile(strings.TrimSuffix(segs[0], ".ndjson.gz") + ".manifest.json")
	data[len(data)/2] ^= 0xff
	os.WriteFile(filepath.Join(copyDir, "s.ndjson.gz"), data, 0o644)
	os.WriteFile(filepath.Join(copyDir, "s.manifest.json"), manifest, 0o644)
	if out := run(nil, exitNegative, "verify", "--bundle", filepath.Join(copyDir, "s.ndjson.gz"), "--public-key", pub); !strings.HasPrefix(out, "FAILED") {
		t.Errorf("verify --bundle on an altered segment = %q; want FAILED", out)
	}

	file := filepath.Join(t.TempDir(), "seg.ndjson.gz")
	run(server, exitOK, "archive", "restore", "--tenant", "acme", "--segment", seg, "-o", file)
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
		t.Errorf("restore -o wrote %v, %v", fi, err)
	}
	run(root, exitOK, "archive", "restore", "--tenant", "acme", "--segment", seg, "--into-tenant", "acme-restore")
	rkey := createKey(t, base, testRootKey, "acme-restore", "read")
	if ids := listIDs(t, base, rkey, "limit=100"); len(ids) != 1 || !strings.HasPrefix(ids[0], "ev-") {
		t.Errorf("acme-restore lists %v; want the restored event", ids)
	}

	// Usage errors.
	run(server, exitUsage, "archive", "list")
	run(server, exitUsage, "archive", "restore", "--tenant", "acme", "--segment", seg)
	run(server, exitUsage, "archive", "verify", "--tenant", "acme", "--segment", "nope", "--public-key", pub)
	run(server, exitNegative, "archive", "restore", "--tenant", "acme", "--segment", "2020-01-01_1-1", "-o", file)
}
