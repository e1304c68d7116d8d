package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTail runs `auditkeep tail` against the server and sees events arrive,
// filtered, across a reconnection.
func TestTail(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	ingestJSON(t, base, key, []any{envEvent("t1", "environment.create", "env_7", "production", nil)})

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"tail", "--server", base, "--key", key, "--json", "--target-id", "env_7", "--since", "0"},
			&env{stdout: pw, stderr: &stderr, getenv: func(string) string { return "" }})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	read := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("tail ended early; stderr: %s", stderr.String())
		}
		var e struct{ ID string }
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("tail printed %q: %v", lines.Text(), err)
		}
		return e.ID
	}
	if got := read(); got != "t1" {
		t.Errorf("tail --since 0 printed %s first; want t1", got)
	}
	ingestJSON(t, base, key, []any{envEvent("t2", "environment.update", "env_8", "staging", nil),
		envEvent("t3", "environment.update", "env_7", "production", nil)})
	if got := read(); got != "t3" {
		t.Errorf("tail printed %s; want t3 (t2 is another target)", got)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("tail exit status %d after interrupt; want 0 (stderr %s)", code, stderr.String())
	}
	// A refused stream is a negative answer.
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"tail", "--server", base, "--key", "ak_wrong"}, &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }})
	if code != exitNegative || !strings.Contains(errOut.String(), "401") {
		t.Errorf("tail with a wrong key = %d %q; want 1 and the 401", code, errOut.String())
	}
	if code := Main(context.Background(), []string{"tail", "--server", base, "--key", key, "--type", "mutate"}, &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}); code != exitUsage {
		t.Errorf("tail --type mutate = %d; want 2", code)
	}
	// A stream whose key is revoked ends tail at once, saying why, without
	// a reconnection.
	r := call(t, "POST", base+"/v1/tenants/acme/keys", key, map[string]any{"name": "tail", "scopes": []string{"read"}})
	m := r.json(t)
	done = make(chan int, 1)
	var revokedErr bytes.Buffer
	pr, pw = io.Pipe()
	go func() {
		done <- Main(context.Background(), []string{"tail", "--server", base, "--key", m["key"].(string), "--json", "--since", "0"},
			&env{stdout: pw, stderr: &revokedErr, getenv: func(string) string { return "" }})
		pw.Close()
	}()
	// Once tail has printed an event its stream is open; then revoke.
	lines = bufio.NewScanner(pr)
	read()
	go io.Copy(io.Discard, pr)
	if r := call(t, "DELETE", base+"/v1/tenants/acme/keys/"+m["id"].(string), key, nil); r.status != 204 {
		t.Fatalf("revoke = %d %s", r.status, r.body)
	}
	select {
	case code := <-done:
		if msg := revokedErr.String(); code != exitNegative || !strings.Contains(msg, "revoked") || strings.Contains(msg, "reconnecting") {
			t.Errorf("tail after its key was revoked = %d %q; want 1 and why, without a reconnection", code, msg)
		}
	case <-time.After(30 * time.Second):
		t.Error("tail still runs 30 s after its key was revoked")
	}
}

// streamIDs opens GET /v1/stream on base and sends "seq=id" of its events.
func streamIDs(t *testing.T, base, key, query, lastEventID string) <-chan string {
	t.Helper()
	msgs := openSSE(t, base, key, query, lastEventID)
	out := make(chan string, 100)
	go func() {
		defer close(out)
		for m := range msgs {
			if m.event == "event" {
				var e struct{ ID string }
				json.Unmarshal([]byte(m.data), &e)
				out <- m.id + "=" + e.ID
			}
		}
	}()
	return out
}

func nextID(t *testing.T, c <-chan string) string {
	t.Helper()
	return nextMsg(t, c)
}

// TestStreamAcrossNodes: two servers on one PostgreSQL database; a stream on
// one sees the events committed through the other, in order, and resumes on
// either.
func TestStreamAcrossNodes(t *testing.T) {
	dbURL := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
	if dbURL == "" {
		t.Skip("set AUDITKEEP_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the two-node stream test")
	}
	cfg := DefaultConfig()
	cfg.DatabaseURL = dbURL
	a := testServer(t, cfg)
	b := testServer(t, cfg)
	tenant := fmt.Sprintf("stream-%d", time.Now().UnixNano())
	key := setupTenant(t, a.URL(), tenant)

	onB := streamIDs(t, b.URL(), key, "target_id=env_7", "0")
	ingestJSON(t, a.URL(), key, []any{envEvent("n1", "environment.create", "env_7", "production", nil),
		envEvent("n2", "environment.update", "env_8", "staging", nil)})
	ingestJSON(t, b.URL(), key, []any{envEvent("n3", "environment.update", "env_7", "production", nil)})
	ingestJSON(t, a.URL(), key, []any{envEvent("n4", "environment.delete", "env_7", "production", nil)})
	var got []string
	for range 3 {
		got = append(got, nextID(t, onB))
	}
	if strings.Join(got, ",") != "1=n1,3=n3,4=n4" {
		t.Errorf("stream on node B = %v; want 1=n1,3=n3,4=n4 (events of both nodes, in seq order)", got)
	}
	onA := streamIDs(t, a.URL(), key, "", "2")
	if g1, g2 := nextID(t, onA), nextID(t, onA); g1 != "3=n3" || g2 != "4=n4" {
		t.Errorf("resume on node A after 2 = %s,%s; want 3=n3,4=n4", g1, g2)
	}
}
