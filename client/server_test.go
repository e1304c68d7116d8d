package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
)

const rootKey = "root-key-for-client-tests-0123456789"

// buildServer compiles the auditkeep binary once per test run, or returns
// AUDITKEEP_TEST_BINARY when it names one already built.
var buildServer = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv("AUDITKEEP_TEST_BINARY"); bin != "" {
		return bin, nil
	}
	dir, err := os.MkdirTemp("", "auditkeep-client-test")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "auditkeep")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/auditkeep/auditkeep/cmd/auditkeep").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/auditkeep: %v\n%s", err, out)
	}
	return bin, nil
})

// serverProc is the real server running as a child process.
type serverProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	exited chan struct{} // closed once the process has exited
}

// startServer starts the server on a free loopback port with its embedded
// store in data, and stops it when the test ends.
func startServer(t *testing.T, data string) *serverProc {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the auditkeep binary")
	}
	bin, err := buildServer()
	if err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--addr-file", addrFile, "--data", data, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "AUDITKEEP_ROOT_KEY="+rootKey)
	p := &serverProc{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.kill)
	deadline := time.After(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			p.url = string(bytes.TrimSpace(b))
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("server exited: %s", p.stderr)
		case <-deadline:
			t.Fatalf("server did not start within 30s: %s", p.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// kill stops the server at once (SIGKILL) and waits for it to exit.
func (p *serverProc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// newTenant creates a tenant on the server and returns a key of every scope
// and a client with it.
func newTenant(t *testing.T, base, name string) (*client.Client, string) {
	t.Helper()
	ctx := context.Background()
	root := client.New(base, rootKey)
	if _, err := root.CreateTenant(ctx, client.TenantParams{Name: name, RetentionDays: 30}); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	k, err := root.CreateKey(ctx, name, "sdk", []string{auditkeep.ScopeIngest, auditkeep.ScopeRead, auditkeep.ScopeExport, auditkeep.ScopeAdmin})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return client.New(base, k.Key), k.Key
}

// switchProxy forwards to whichever server is current; with none, it drops
// the connection as a dead server would.
type switchProxy struct {
	target atomic.Pointer[url.URL]
	rp     *httputil.ReverseProxy
	URL    string
}

func newSwitchProxy(t *testing.T) *switchProxy {
	p := &switchProxy{}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(p.target.Load()) },
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			panic(http.ErrAbortHandler) // the backend died mid-request: so does the connection
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.target.Load() == nil {
			panic(http.ErrAbortHandler)
		}
		p.rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// point sends the proxy's requests to base, or nowhere when base is "".
func (p *switchProxy) point(t *testing.T, base string) {
	t.Helper()
	if base == "" {
		p.target.Store(nil)
		return
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	p.target.Store(u)
}

// exportIDs returns how many times each event id the test sent is stored,
// read through an NDJSON export.
func exportIDs(t *testing.T, c *client.Client) map[string]int {
	t.Helper()
	var buf bytes.Buffer
	// auditkeep's own records (the key's creation, this export) aside.
	if _, err := c.Export(context.Background(), "ndjson", url.Values{"order": {"asc"}, "q": {"-source:auditkeep"}}, &buf); err != nil {
		t.Fatalf("Export: %v", err)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		seen[e.ID]++
	}
	return seen
}
