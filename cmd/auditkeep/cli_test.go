package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

const cliRootKey = "cli-test-root-key-0123456789abcdef"

// startCLIServer runs `auditkeep serve` in-process on a loopback port with a
// fresh embedded store and returns its URL.
func startCLIServer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &stderr,
		getenv: testGetenv(t, map[string]string{"AUDITKEEP_ROOT_KEY": cliRootKey})}
	go func() {
		done <- Main(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"),
			"--addr-file", addrFile, "--log-level", "warn", "--alerts=false"}, e)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
		select {
		case code := <-done:
			t.Fatalf("auditkeep serve exited with %d: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("auditkeep serve did not write %s: %s", addrFile, stderr.String())
		}
	}
}

// TestCLIAgainstServer runs the client commands against the real server.
func TestCLIAgainstServer(t *testing.T) {
	base := startCLIServer(t)
	root := map[string]string{"AUDITKEEP_SERVER": base, "AUDITKEEP_ROOT_KEY": cliRootKey, "TZ": "UTC"}

	must := func(want int, vars map[string]string, args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, vars, args...)
		if code != want {
			t.Fatalf("auditkeep %s = %d; want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout, stderr
	}

	// Tenants and keys with the root key.
	must(exitOK, root, "tenant", "create", "acme", "--retention-days", "30")
	_, stderr := must(exitNegative, root, "tenant", "create", "acme")
	if !strings.Contains(stderr, "409") {
		t.Errorf("second tenant create: stderr %q; want a 409 conflict", stderr)
	}
	stdout, _ := must(exitOK, root, "tenant", "update", "acme", "--plan", "business")
	if !strings.Contains(stdout, "events kept 30 days, plan business") {
		t.Errorf("tenant update kept %q; want retention 30 days and plan business", stdout)
	}
	stdout, _ = must(exitOK, root, "key", "create", "--tenant", "acme", "--name", "ci", "--scopes", "ingest,read,export")
	key := strings.TrimSpace(stdout)
	user := map[string]string{"AUDITKEEP_SERVER": base, "AUDITKEEP_KEY": key, "TZ": "UTC"}

	// Fill the tenant; the same seed again stores nothing new.
	const n = 3000
	stdout, _ = must(exitOK, user, "demo", "--events", "3000", "--seed", "7")
	if !strings.HasPrefix(stdout, "Sent 3,000 events (0 already stored) to tenant acme in ") {
		t.Errorf("demo: %q; want 3,000 events sent to tenant acme", stdout)
	}
	stdout, _ = must(exitOK, user, "demo", "--events", "3000", "--seed", "7")
	if !strings.HasPrefix(stdout, "Sent 3,000 events (3,000 already stored)") {
		t.Errorf("demo again: %q; want 3,000 duplicates", stdout)
	}

	// List and search.
	stdout, stderr = must(exitOK, user, "events", "--limit", "5")
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 6 || !strings.HasPrefix(lines[0], "TIME") {
		t.Errorf("events --limit 5 printed %d lines; want a header and 5 events:\n%s", len(lines), stdout)
	}
	if !strings.Contains(stderr, "--cursor") {
		t.Errorf("events --limit 5: stderr %q; want how to get the next page", stderr)
	}
	// The retention change and the key's creation above are recorded in
	// the tenant's own log too, committed before the demo's events.
	all := jsonLines(t, must2(t, user, "events", "--all", "--json", "--limit", "700", "--sort", "seq"))
	if len(all) != n+2 || all[len(all)-1].Action != "retention.update" || all[len(all)-2].Action != "key.create" {
		t.Errorf("events --all --sort seq returned %d events; want %d, the retention change and the key's creation first", len(all), n+2)
	}
	for _, q := range []struct {
		args  []string
		check func(auditkeep.Event) bool
	}{
		{[]string{"--type", "delete"}, func(e auditkeep.Event) bool { return e.Type == auditkeep.TypeDelete }},
		{[]string{"--status", "failure", "--actor-type", "user"}, func(e auditkeep.Event) bool {
			return e.Status == auditkeep.StatusFailure && e.Actor.Type == auditkeep.ActorUser
		}},
		{[]string{"-q", "action:token.*"}, func(e auditkeep.Event) bool { return strings.HasPrefix(e.Action, "token.") }},
		{[]string{"--source", "terraform,git"}, func(e auditkeep.Event) bool { return e.Source == "terraform" || e.Source == "git" }},
	} {
		args := append([]string{"events", "--all", "--json"}, q.args...)
		got := jsonLines(t, must2(t, user, args...))
		want := 0
		for _, e := range all {
			if q.check(e) {
				want++
			}
		}
		if len(got) != want || want == 0 {
			t.Errorf("auditkeep %s returned %d events; want %d (non-zero)", strings.Join(args, " "), len(got), want)
		}
		for _, e := range got {
			if !q.check(e) {
				t.Errorf("auditkeep %s returned a non-matching event %s (%s)", strings.Join(args, " "), e.ID, e.Action)
				break
			}
		}
	}
	_, stderr = must(exitNegative, user, "events", "--actor", "nobody@nowhere.example")
	if !strings.Contains(stderr, "No events matched") {
		t.Errorf("events matching nothing: stderr %q", stderr)
	}
	_, stderr = must(exitNegative, user, "events", "-q", `"unclosed`)
	if !strings.Contains(stderr, "400") {
		t.Errorf("events with bad search syntax: stderr %q; want the server's 400", stderr)
	}

	// Export.
	dir := t.TempDir()
	must(exitOK, user, "export", "--format", "ndjson", "-o", filepath.Join(dir, "all.ndjson"))
	b, _ := os.ReadFile(filepath.Join(dir, "all.ndjson"))
	// The export holds its own record too, made before it ran.
	if got := jsonLines(t, string(b)); len(got) != n+3 || got[0].Seq != 1 || got[n+2].Action != "export.run" {
		t.Errorf("export ndjson: %d events; want %d, oldest (seq 1) first, the export's record last", len(got), n+3)
	}
	_, stderr = must(exitOK, user, "export", "--format", "csv", "--type", "delete", "-o", filepath.Join(dir, "deletes.csv"))
	f, _ := os.Open(filepath.Join(dir, "deletes.csv"))
	records, err := csv.NewReader(f).ReadAll()
	f.Close()
	deletes := 0
	for _, e := range all {
		if e.Type == auditkeep.TypeDelete {
			deletes++
		}
	}
	if err != nil || len(records) != deletes+1 {
		t.Errorf("export csv --type delete: %d records (%v); want a header and %d", len(records), err, deletes)
	}
	if !strings.Contains(stderr, "Exported "+thousands(int64(deletes))+" events") {
		t.Errorf("export summary %q; want %d events", stderr, deletes)
	}

	// Revoke the key: it stops working.
	stdout, _ = must(exitOK, root, "key", "create", "--tenant", "acme", "--name", "short-lived", "--scopes", "read", "--json")
	var k struct{ ID, Key string }
	if err := json.Unmarshal([]byte(stdout), &k); err != nil || k.Key == "" {
		t.Fatalf("key create --json printed %q (%v)", stdout, err)
	}
	short := map[string]string{"AUDITKEEP_SERVER": base, "AUDITKEEP_KEY": k.Key}
	must(exitOK, short, "events", "--limit", "1")
	must(exitOK, root, "key", "revoke", "--tenant", "acme", k.ID)
	_, stderr = must(exitNegative, short, "events", "--limit", "1")
	if !strings.Contains(stderr, "401") {
		t.Errorf("events with a revoked key: stderr %q; want 401", stderr)
	}
	// An unknown key is refused.
	_, stderr = must(exitNegative, map[string]string{"AUDITKEEP_SERVER": base, "AUDITKEEP_KEY": key + "x"}, "demo", "--events", "10")
	if !strings.Contains(stderr, "401") {
		t.Errorf("demo with an unknown key: stderr %q; want 401", stderr)
	}
}

func must2(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, vars, args...)
	if code != exitOK {
		t.Fatalf("auditkeep %s = %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

func jsonLines(t *testing.T, s string) []auditkeep.Event {
	t.Helper()
	var out []auditkeep.Event
	for line := range strings.Lines(s) {
		var e auditkeep.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}
