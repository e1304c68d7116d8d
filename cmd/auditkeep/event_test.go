package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// TestEventAndDiff runs 'auditkeep event' and 'auditkeep diff' against the
// server: the event with its changes described and its place in the log,
// as a table and as JSON; two events' snapshots compared.
func TestEventAndDiff(t *testing.T) {
	base := testServer(t, Config{}).URL()
	key := setupTenant(t, base, "acme")
	first := envEvent("d1", "environment.create", "env_7", "production", map[string]any{
		"name": "production", "env": map[string]any{"DATABASE_URL": "postgres://a"},
		"services": []any{map[string]any{"id": "svc_1", "name": "api", "replicas": 2}}})
	second := envEvent("d2", "environment.update", "env_7", "production", map[string]any{
		"name": "production", "env": map[string]any{"DATABASE_URL": "postgres://b"},
		"services": []any{map[string]any{"id": "svc_1", "name": "api", "replicas": 3}, map[string]any{"id": "svc_2", "name": "worker"}}})
	ingestJSON(t, base, key, []any{first, second})
	waitIntegrated(t, base, key, 2)
	vars := map[string]string{"AUDITKEEP_SERVER": base, "AUDITKEEP_KEY": key, "TZ": "UTC"}

	code, out, errs := runCLI(t, vars, "event", "d2")
	if code != exitOK {
		t.Fatalf("event d2 = %d %q", code, errs)
	}
	for _, want := range []string{
		"ID           d2\n", "Action       environment.update (update)\n",
		"Actor        Alice Martin <alice@example.com> (user usr_42)\n",
		"Target       environment production (env_7)\n", "Scope        Shop / production\n",
		"Changes (3):\n",
		"environment variable DATABASE_URL changed (value hidden)",
		"replicas of service 'api' changed from 2 to 3",
		"service 'worker' added",
		"Leaf hash", "Included in  the tree of size 2, signed checkpoint\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("event d2 lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "postgres://") {
		t.Errorf("event d2 shows a hidden value:\n%s", out)
	}
	code, out, _ = runCLI(t, vars, "event", "d2", "--json")
	var detail struct {
		ID    string
		Proof struct {
			LeafHash string `json:"leaf_hash"`
			TreeSize uint64 `json:"tree_size"`
			Proof    []string
		}
	}
	if err := json.Unmarshal([]byte(out), &detail); code != exitOK || err != nil || detail.ID != "d2" || detail.Proof.TreeSize != 2 || len(detail.Proof.Proof) != 1 {
		t.Errorf("event d2 --json = %d %q (%v); want the event and its proof in a tree of 2", code, out, err)
	}
	code, _, errs = runCLI(t, vars, "event", "nope")
	if code != exitNegative || !strings.Contains(errs, "404") {
		t.Errorf("event nope = %d %q; want 1 and the 404", code, errs)
	}

	code, out, errs = runCLI(t, vars, "diff", "d1", "d2")
	if code != exitOK {
		t.Fatalf("diff d1 d2 = %d %q", code, errs)
	}
	for _, want := range []string{"From d1  ", "To   d2  ", "Changes (3):\n", "replicas of service 'api' changed from 2 to 3", "service 'worker' added"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff d1 d2 lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, vars, "diff", "d1", "d2", "--json")
	var d struct {
		From, To string
		Changes  []struct{ Field string }
	}
	if err := json.Unmarshal([]byte(out), &d); code != exitOK || err != nil || d.From != "d1" || d.To != "d2" || len(d.Changes) != 3 {
		t.Errorf("diff --json = %d %q (%v); want 3 changes from d1 to d2", code, out, err)
	}
	code, out, _ = runCLI(t, vars, "diff", "d2", "d2")
	if code != exitOK || !strings.Contains(out, "No difference") {
		t.Errorf("diff d2 d2 = %d %q; want no difference", code, out)
	}
	code, _, errs = runCLI(t, vars, "diff", "d1", "nope")
	if code != exitNegative || !strings.Contains(errs, "no event with id nope") {
		t.Errorf("diff d1 nope = %d %q; want 1 and which event is missing", code, errs)
	}
	for _, args := range [][]string{{"event"}, {"event", "a", "b"}, {"diff", "a"}} {
		if code, _, _ := runCLI(t, vars, args...); code != exitUsage {
			t.Errorf("auditkeep %s = %d; want %d", strings.Join(args, " "), code, exitUsage)
		}
	}

	// events --ids shows the IDs that event and diff take.
	code, out, _ = runCLI(t, vars, "events", "--ids")
	if lines := strings.Split(out, "\n"); code != exitOK || !strings.HasPrefix(lines[0], "ID  TIME") || !strings.HasPrefix(lines[1], "d2  ") {
		t.Errorf("events --ids = %d:\n%s\nwant an ID column first", code, out)
	}

	// A bundle's summary counts its events, not its lines.
	_, _, errs = runCLI(t, vars, "export", "--with-proofs", "-o", filepath.Join(t.TempDir(), "acme.bundle"))
	if !strings.Contains(errs, "Exported 2 events") {
		t.Errorf("export --with-proofs: %q; want 2 events", errs)
	}
}

// TestTailTable: tail prints a header, says it waits, and keeps its columns
// aligned however long the values, cutting them with ….
func TestTailTable(t *testing.T) {
	base := testServer(t, Config{}).URL()
	key := setupTenant(t, base, "acme")
	long := envEvent("t2", "environment.update", "env_8", strings.Repeat("very-long-environment-name-", 4), nil)
	long["actor"] = map[string]any{"type": "user", "id": "usr_7", "email": "someone.with.a.very.long.address@subsidiary.example.com"}
	ingestJSON(t, base, key, []any{envEvent("t1", "environment.create", "env_7", "production", nil), long})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	errs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"tail", "--server", base, "--key", key, "--since", "0", "--utc"},
			&env{stdout: pw, stderr: errs, getenv: func(string) string { return "" }})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var lines []string
	for len(lines) < 3 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	cancel()
	go io.Copy(io.Discard, pr)
	<-done
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("tail printed %q; want a header and two events", lines)
	}
	if !strings.Contains(errs.String(), "Waiting for events…") {
		t.Errorf("tail stderr %q; want that it waits for events", errs.String())
	}
	if !strings.Contains(lines[2], "…") || strings.Contains(lines[2], "subsidiary.example.com") {
		t.Errorf("tail row %q; want long values cut with …", lines[2])
	}
	// Every column starts where its title does.
	header := lines[0]
	for _, title := range []string{"ACTOR", "ACTION", "TARGET", "SCOPE", "SOURCE", "IP", "STATUS"} {
		at := utf8.RuneCountInString(header[:strings.Index(header, title)])
		for _, row := range lines[1:] {
			r := []rune(row)
			if len(r) <= at || r[at-1] != ' ' || r[at-2] != ' ' || r[at] == ' ' {
				t.Errorf("column %s (at %d) is not aligned in %q", title, at, row)
			}
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
