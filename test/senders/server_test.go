// Package senders tests auditkeep's drop-in receivers with the vendors' own
// senders, whose dependencies are too heavy for auditkeep's module: the
// Kubernetes API server's audit webhook backend (k8s.io/apiserver) and the
// CloudEvents Go SDK (github.com/cloudevents/sdk-go/v2). It
// runs the auditkeep binary built from the repository, as shipped, on a
// loopback port, on the embedded store and on PostgreSQL when
// AUDITKEEP_TEST_DATABASE_URL names a database. The module requires none
// of auditkeep's packages: the binary is built by auditkeep's own module.
package senders

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const rootKey = "root-key-for-sender-tests-0123456789"

// buildBinary compiles the auditkeep binary from the repository's own
// module, once per run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "auditkeep-senders")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "auditkeep")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/auditkeep")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// forEachStore runs test against a server on a fresh embedded store, then
// on a fresh PostgreSQL schema.
func forEachStore(t *testing.T, test func(t *testing.T, base string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, startServer(t)) })
	t.Run("postgres", func(t *testing.T) {
		db := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
		if db == "" {
			t.Skip("AUDITKEEP_TEST_DATABASE_URL is not set: set it to a PostgreSQL database to run the PostgreSQL half")
		}
		test(t, startServer(t, "--database-url", schema(t, db)))
	})
}

// schema creates a schema of the test's own in the database at base,
// dropped when the test ends, and returns base with it as the search path.
// (As internal/pgtest does: this module does not depend on auditkeep's, so
// that a change of auditkeep's dependencies never makes it untidy.)
func schema(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("AUDITKEEP_TEST_DATABASE_URL must be a URL: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "senders_" + hex.EncodeToString(b)
	exec := func(sql string) error {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(context.Background(), sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// startServer runs auditkeep serve and returns its URL.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--addr-file", addrFile, "--data", dir, "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "AUDITKEEP_ROOT_KEY="+rootKey)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("auditkeep did not start: %s", stderr.String())
	return ""
}

func call(t *testing.T, method, url, key string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// tenant creates a tenant keeping ten years and returns a key of it with
// the given scopes.
func tenant(t *testing.T, base, name string, scopes ...string) string {
	t.Helper()
	if status, b := call(t, "POST", base+"/v1/tenants", rootKey, map[string]any{"name": name, "retention_days": 3650}); status != 201 && status != 409 {
		t.Fatalf("create tenant: %d %s", status, b)
	}
	status, b := call(t, "POST", base+"/v1/tenants/"+name+"/keys", rootKey, map[string]any{"name": "sender", "scopes": scopes})
	if status != 201 {
		t.Fatalf("create key: %d %s", status, b)
	}
	var k struct{ Key string }
	json.Unmarshal(b, &k)
	return k.Key
}

// events reads a tenant's events through GET /v1/events.
func events(t *testing.T, base, key, query string) []map[string]any {
	t.Helper()
	status, b := call(t, "GET", base+"/v1/events?limit=1000&"+query, key, nil)
	if status != 200 {
		t.Fatalf("GET /v1/events?%s: %d %s", query, status, b)
	}
	var page struct{ Events []map[string]any }
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	return page.Events
}
