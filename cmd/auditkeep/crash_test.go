package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles the auditkeep binary once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "auditkeep-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "auditkeep")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// child is the server running as a separate process.
type child struct {
	cmd *exec.Cmd
	url string
}

func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--addr-file", addrFile, "--log-level", "warn"}, args...)...)
	// No alert evaluation unless env asks for it (AUDITKEEP_ALERTS=true):
	// the alerts would be recorded in the logs tests count.
	cmd.Env = append(os.Environ(), append(append([]string{"AUDITKEEP_ALERTS=false"}, env...), "AUDITKEEP_ROOT_KEY="+testRootKey)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil {
			return &child{cmd: cmd, url: string(b)}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server did not start: %s", stderr.String())
	return nil
}

func (c *child) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}

// TestCrashKeepsAcknowledged runs the server as a child process under
// concurrent ingest, kills it with SIGKILL, restarts it, and checks that every
// acknowledged event is present exactly once, nothing is half-written, and
// the log verifies (auditkeep verify). AUDITKEEP_CRASH_CYCLES sets the
// number of kill -9 cycles (default 3): AUDITKEEP_CRASH_CYCLES=20 go test
// -run TestCrashKeepsAcknowledged ./cmd/auditkeep.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and runs the binary")
	}
	forEachStore(t, testCrashKeepsAcknowledged)
}

// childStoreArgs are the flags that give a child server cfg's store.
func childStoreArgs(cfg Config) []string {
	args := []string{"--data", cfg.DataDir}
	if cfg.DatabaseURL != "" {
		args = append(args, "--database-url", cfg.DatabaseURL)
	}
	return args
}

// crashCycles is the number of kill -9 cycles: AUDITKEEP_CRASH_CYCLES, 3
// by default.
func crashCycles(t *testing.T) int {
	cycles := 3
	if v := os.Getenv("AUDITKEEP_CRASH_CYCLES"); v != "" {
		if n, err := fmt.Sscan(v, &cycles); n != 1 || err != nil || cycles < 1 {
			t.Fatalf("AUDITKEEP_CRASH_CYCLES=%q: want a number of kill -9 cycles, 1 or more", v)
		}
	}
	return cycles
}

func testCrashKeepsAcknowledged(t *testing.T, cfg Config) {
	storeArgs := childStoreArgs(cfg)
	cycles := crashCycles(t)
	var key string
	acked := map[string]bool{}
	var mu sync.Mutex
	for cycle := range cycles {
		c := startChild(t, nil, storeArgs...)
		if cycle == 0 {
			key = setupTenant(t, c.url, "acme")
		}
		stop := workers(8, func(w, i int) bool {
			var batch []any
			ids := []string{}
			for j := range 1 + (i % 3 * 20) {
				id := fmt.Sprintf("c%d-w%d-%d-%d", cycle, w, i, j)
				ids = append(ids, id)
				batch = append(batch, event(id, "secret.update", "usr_1"))
			}
			r, err := http.DefaultClient.Do(mustReq("POST", c.url+"/v1/events", key, map[string]any{"events": batch}))
			if err != nil {
				return false // the server died: this batch is not acknowledged
			}
			r.Body.Close()
			if r.StatusCode == 200 {
				mu.Lock()
				for _, id := range ids {
					acked[id] = true
				}
				mu.Unlock()
			}
			return true
		})
		time.Sleep(300 * time.Millisecond)
		c.kill9(t)
		stop()
	}
	c := startChild(t, nil, storeArgs...)
	seen, lastSeq := storedLog(t, c.url, key)
	for id := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged %s found %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged: the test proved nothing")
	}

	// The log the crashes left verifies: every stored event is in the
	// signed tree, in seq order, unaltered.
	awaitCheckpoint(t, c.url, key, lastSeq)
	code, stdout, stderr := runCLI(t, map[string]string{"HOME": t.TempDir()}, "verify", "--server", c.url, "--key", key)
	if want := fmt.Sprintf("OK: tree size %d,", lastSeq); code != exitOK || !strings.HasPrefix(stdout, want) {
		t.Fatalf("verify after %d crashes: exit %d, %q; want exit 0 and %q\nstderr: %s", cycles, code, stdout, want, stderr)
	}
	t.Logf("%d cycles: %d acknowledged, %d stored; the log verifies", cycles, len(acked), len(seen))
}
