package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPurgeCrash kills the server with SIGKILL while the retention job
// purges a large backlog, restarts it with the job off, and checks that
// `auditkeep verify` passes: every seq missing from the log is listed by a
// signed retention.purge record, whatever the instant of the crash. The
// job, back on, then finishes the purge and the log verifies without a
// warning.
func TestPurgeCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and runs the binary")
	}
	forEachStore(t, testPurgeCrash)
}

func testPurgeCrash(t *testing.T, cfg Config) {
	storeArgs := []string{"--data", cfg.DataDir}
	if cfg.DatabaseURL != "" {
		storeArgs = append(storeArgs, "--database-url", cfg.DatabaseURL)
	}
	job := append([]string{"--retention-batch", "100"}, storeArgs...)
	frozen := append([]string{"--retention=false"}, storeArgs...)

	// 6000 events, 200 a day from 70 to 40 days ago, backfilled while
	// the retention is unlimited; 30 days then make them all due: 60
	// batches of 100.
	const n = 6000
	c := startChild(t, nil, job...)
	key := setupTenant(t, c.url, "acme")
	if r := call(t, "PUT", c.url+"/v1/tenants/acme", testRootKey, map[string]any{"retention_days": 0}); r.status != 200 {
		t.Fatalf("PUT retention 0: %d %s", r.status, r.body)
	}
	now := time.Now().UTC()
	for i := 0; i < n; i += 1000 {
		var batch []any
		for j := i; j < i+1000; j++ {
			ev := event(fmt.Sprintf("old-%05d", j), "environment.update", "usr_42")
			ev["occurred_at"] = now.Add(-70*24*time.Hour + time.Duration(j)*(30*24*time.Hour/n)).Format(time.RFC3339Nano)
			batch = append(batch, ev)
		}
		if r := call(t, "POST", c.url+"/v1/events", key, map[string]any{"events": batch}); r.status != 200 {
			t.Fatalf("ingest: %d %s", r.status, r.body)
		}
	}
	if r := call(t, "PUT", c.url+"/v1/tenants/acme", testRootKey, map[string]any{"retention_days": 30}); r.status != 200 {
		t.Fatalf("PUT retention 30: %d %s", r.status, r.body)
	}

	left := n
	for cycle, more := range []int{2, 5, 9} {
		if cycle > 0 {
			c = startChild(t, nil, job...) // the job runs at once
		}
		// Kill it a few segments into the purge.
		from := manifests(t, cfg.DataDir)
		deadline := time.Now().Add(time.Minute)
		for manifests(t, cfg.DataDir) < from+more {
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: the archive did not grow by %d segments in a minute", cycle, more)
			}
			time.Sleep(2 * time.Millisecond)
		}
		c.kill9(t)

		c = startChild(t, nil, frozen...)
		out := verifyAfterCrash(t, c.url, key)
		left = oldEvents(t, c.url, key)
		t.Logf("cycle %d: %d of %d events left; verify: %s", cycle, left, n, strings.SplitN(out, "\n", 2)[0])
		c.kill9(t)
		if left == 0 {
			break
		}
	}
	if left == n || left == 0 {
		t.Fatalf("%d of %d events left after the crashes; want the purge stopped part way, or the test proved nothing", left, n)
	}

	// The job, back on, removes what is left; the log then verifies with
	// every old seq purged and no claim on a seq present.
	c = startChild(t, nil, job...)
	deadline := time.Now().Add(2 * time.Minute)
	for oldEvents(t, c.url, key) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the purge did not end within 2 minutes of the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.kill9(t)
	c = startChild(t, nil, frozen...)
	if out := verifyAfterCrash(t, c.url, key); strings.Contains(out, "warning:") {
		t.Errorf("verify after the purge ended = %q; want no warning", out)
	}
}

// manifests counts the segments in the archive under dir.
func manifests(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "archive"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if d == nil {
				return nil // not created yet
			}
			return err
		}
		if strings.HasSuffix(path, ".manifest.json") {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// verifyAfterCrash waits until the ledger has integrated every stored
// event, then runs `auditkeep verify` against the server: it must pass
// (exit 0, OK), every missing seq listed by a purge record. It returns the
// output.
func verifyAfterCrash(t *testing.T, base, key string) string {
	t.Helper()
	r := call(t, "GET", base+"/v1/events?order=desc&limit=1", key, nil)
	var page struct {
		Events []struct {
			Seq uint64 `json:"seq"`
		} `json:"events"`
	}
	if err := json.Unmarshal(r.body, &page); r.status != 200 || err != nil || len(page.Events) != 1 {
		t.Fatalf("latest event: %d %s", r.status, r.body)
	}
	size := page.Events[0].Seq
	waitIntegrated(t, base, key, size)
	code, stdout, stderr := runCLI(t, map[string]string{"HOME": t.TempDir()}, "verify", "--server", base, "--key", key)
	if want := fmt.Sprintf("OK: tree size %d,", size); code != exitOK || !strings.HasPrefix(stdout, want) {
		t.Fatalf("verify after a crash during a purge: exit %d, %q; want exit 0 and %q\nstderr: %s", code, stdout, want, stderr)
	}
	return stdout
}

// oldEvents counts the backfilled events still stored: the bundle holds
// every stored event, the expired ones included.
func oldEvents(t *testing.T, base, key string) int {
	t.Helper()
	r := call(t, "GET", base+"/v1/export?format=bundle", key, nil)
	if r.status != 200 {
		t.Fatalf("export bundle: %d %s", r.status, r.body)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"id":"old-`)) {
			n++
		}
	}
	return n
}
