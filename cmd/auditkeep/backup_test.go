package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/backup"
)

// storedLog exports the tenant's whole log in seq order and returns how
// many times each id is stored and the last seq; it fails the test on a
// half-written event or a gap in the seqs.
func storedLog(t *testing.T, base, key string) (seen map[string]int, lastSeq int64) {
	t.Helper()
	// Paged reads, not an export: an export is recorded in the log, which
	// would make this restored log part from the other restores.
	seen = map[string]int{}
	q := url.Values{"order": {"asc"}, "sort": {"seq"}, "limit": {"1000"}}
	for {
		r := call(t, "GET", base+"/v1/events?"+q.Encode(), key, nil)
		var page struct {
			Events []struct {
				ID  string `json:"id"`
				Seq int64  `json:"seq"`
			}
			NextCursor string `json:"next_cursor"`
		}
		if r.status != 200 || json.Unmarshal(r.body, &page) != nil {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		for _, e := range page.Events {
			if e.Seq != lastSeq+1 {
				t.Fatalf("seq %d follows %d; want no gaps", e.Seq, lastSeq)
			}
			lastSeq = e.Seq
			seen[e.ID]++
		}
		if page.NextCursor == "" {
			return seen, lastSeq
		}
		q.Set("cursor", page.NextCursor)
	}
}

// workers runs work(w, i) for i = 0, 1, … in each of n goroutines (w = 0
// … n-1) until work returns false or stop is called; stop waits for them.
func workers(n int, work func(w, i int) bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if !work(w, i) {
					return
				}
			}
		}()
	}
	return func() { close(done); wg.Wait() }
}

// awaitCheckpoint waits, a minute at most, for the tenant's latest signed
// checkpoint to reach size.
func awaitCheckpoint(t *testing.T, base, key string, size int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		cp := call(t, "GET", base+"/v1/checkpoint", key, nil)
		if cp.status == 200 && int64(cp.json(t)["size"].(float64)) >= size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint does not reach size %d within a minute: %d %s", size, cp.status, cp.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBackupUnderIngest backs the embedded store up twice while clients
// keep ingesting (once without the ledger key to a file, once with it to a
// file:// bucket URL), restores each into a fresh directory, starts a
// server there, and checks that every event acknowledged before the backup
// began is present once, seqs have no gaps, and 'auditkeep verify' passes
// against the checkpoint it remembered before the backup.
func TestBackupUnderIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	srcData := filepath.Join(dir, "data")
	src := startChild(t, nil, "--data", srcData)
	key := setupTenant(t, src.url, "acme")
	post := func(ids []string) bool {
		batch := make([]any, len(ids))
		for i, id := range ids {
			batch[i] = event(id, "secret.update", "usr_1")
		}
		r, err := http.DefaultClient.Do(mustReq("POST", src.url+"/v1/events", key, map[string]any{"events": batch}))
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	}
	var first []string
	for i := range 100 {
		first = append(first, fmt.Sprintf("first-%d", i))
	}
	if !post(first) {
		t.Fatal("first batch refused")
	}
	awaitCheckpoint(t, src.url, key, 100)
	pub := filepath.Join(dir, "key.pub")
	if code, _, stderr := runCLI(t, nil, "ledger", "key", "--server", src.url, "-o", pub); code != exitOK {
		t.Fatalf("ledger key: %d %s", code, stderr)
	}
	state := filepath.Join(dir, "verify-state.json")
	verify := func(base string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, nil, "verify", "--server", base, "--key", key, "--public-key", pub, "--state", state)
		if code != exitOK || !strings.HasPrefix(stdout, "OK: ") {
			t.Fatalf("verify %s: exit %d %q %s", base, code, stdout, stderr)
		}
		return stdout
	}
	verify(src.url) // remembers the checkpoint

	var mu sync.Mutex
	acked := map[string]bool{}
	stop := workers(4, func(w, i int) bool {
		var ids []string
		for j := range 1 + i%25 {
			ids = append(ids, fmt.Sprintf("w%d-%d-%d", w, i, j))
		}
		if post(ids) {
			mu.Lock()
			for _, id := range ids {
				acked[id] = true
			}
			mu.Unlock()
		}
		return true
	})
	ackedBefore := func() map[string]bool {
		// Wait for some concurrent ingest, then copy what is acknowledged
		// before the backup begins.
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= 300 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		m := map[string]bool{}
		for id := range acked {
			m[id] = true
		}
		for _, id := range first {
			m[id] = true
		}
		return m
	}
	root := map[string]string{"AUDITKEEP_ROOT_KEY": testRootKey}
	plain := filepath.Join(dir, "plain.tar.gz")
	beforePlain := ackedBefore()
	if code, _, stderr := runCLI(t, root, "backup", "--server", src.url, "-o", plain); code != exitOK || !strings.Contains(stderr, "without the ledger key") {
		t.Fatalf("backup -o %s: exit %d %s", plain, code, stderr)
	}
	bucket := filepath.Join(dir, "bucket")
	bucketURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(bucket) + "/nightly/with-key.tar.gz"}).String()
	beforeKeyed := ackedBefore()
	if code, _, stderr := runCLI(t, root, "backup", "--server", src.url, "-o", bucketURL, "--with-ledger-key"); code != exitOK || !strings.Contains(stderr, "with the ledger key") {
		t.Fatalf("backup -o %s --with-ledger-key: exit %d %s", bucketURL, code, stderr)
	}
	// Ingest went on: more is acknowledged now than before the backups.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n+len(first) > len(beforeKeyed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no event acknowledged in the 30 s after the backups")
		}
	}
	stop()
	t.Logf("%d events acknowledged during the test", len(acked)+len(first))
	if left, _ := filepath.Glob(filepath.Join(srcData, ".backup-*")); len(left) > 0 {
		t.Errorf("the server left its snapshots: %v", left)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".plain*")); len(leftovers) > 0 {
		t.Errorf("backup left %v", leftovers)
	}
	f, err := os.Open(plain)
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.Check(f)
	f.Close()
	if err != nil || m.LedgerKey {
		t.Fatalf("backup without --with-ledger-key: %+v, %v; want a sound backup without the key", m, err)
	}
	if err := src.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	src.cmd.Wait()
	signer, err := os.ReadFile(filepath.Join(srcData, "ledger.key"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, from string
		before     map[string]bool
		copyKey    bool // the operator puts the key kept apart in place
	}{
		{"without the key", plain, beforePlain, true},
		{"with the key, from a bucket", bucketURL, beforeKeyed, false},
	} {
		restored := filepath.Join(t.TempDir(), "restored")
		code, _, stderr := runCLI(t, nil, "restore", tt.from, "--data", restored)
		if code != exitOK {
			t.Fatalf("restore %s: exit %d %s", tt.name, code, stderr)
		}
		if tt.copyKey != strings.Contains(stderr, "holds no ledger key") {
			t.Errorf("restore %s: %q; want a word about the ledger key only when it is missing", tt.name, stderr)
		}
		if tt.copyKey {
			if err := os.WriteFile(filepath.Join(restored, "ledger.key"), signer, 0o600); err != nil {
				t.Fatal(err)
			}
		} else if got, _ := os.ReadFile(filepath.Join(restored, "ledger.key")); string(got) != string(signer) {
			t.Errorf("restore %s: ledger key %q; want the server's", tt.name, got)
		}
		if code, _, stderr := runCLI(t, nil, "restore", tt.from, "--data", restored); code == exitOK || !strings.Contains(stderr, "restore into a new directory") {
			t.Errorf("restore over a restored store: exit %d %s; want a refusal", code, stderr)
		}

		c := startChild(t, nil, "--data", restored)
		seen, lastSeq := storedLog(t, c.url, key)
		missing := 0
		for id := range tt.before {
			if seen[id] != 1 {
				missing++
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s: %s stored %d times", tt.name, id, n)
			}
		}
		if missing > 0 {
			t.Errorf("%s: %d of the %d events acknowledged before the backup began are missing", tt.name, missing, len(tt.before))
		}
		awaitCheckpoint(t, c.url, key, lastSeq)
		if out := verify(c.url); !strings.HasPrefix(out, fmt.Sprintf("OK: tree size %d,", lastSeq)) {
			t.Errorf("verify the restored log: %q; want tree size %d", out, lastSeq)
		}
		t.Logf("%s: %d acknowledged before the backup began; %d restored; the log verifies against the remembered checkpoint", tt.name, len(tt.before), lastSeq)
		c.cmd.Process.Signal(syscall.SIGTERM)
		c.cmd.Wait()
	}
}

// TestBackupEndpoint: the root key only; a bad parameter is named; on
// PostgreSQL the answer says how to back it up instead.
func TestBackupEndpoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, cfg Config) {
		a := testServer(t, cfg)
		key := setupTenant(t, a.URL(), "acme")
		if r := call(t, "POST", a.URL()+"/v1/backup", key, nil); r.status != 403 {
			t.Errorf("backup with a tenant's admin key: %d %s; want 403", r.status, r.body)
		}
		r := call(t, "POST", a.URL()+"/v1/backup?with_ledger_key=maybe", testRootKey, nil)
		if cfg.DatabaseURL != "" {
			if r.status != 404 || !strings.Contains(string(r.body), "pg_dump") {
				t.Errorf("backup on PostgreSQL: %d %s; want 404 pointing at pg_dump", r.status, r.body)
			}
			return
		}
		if code, field := r.errorOf(t); r.status != 400 || code != "invalid" || field != "with_ledger_key" {
			t.Errorf("with_ledger_key=maybe: %d %s; want 400 naming with_ledger_key", r.status, r.body)
		}
		r = call(t, "POST", a.URL()+"/v1/backup", testRootKey, nil)
		m, err := backup.Check(bytes.NewReader(r.body))
		if r.status != 200 || r.header.Get("Content-Type") != "application/gzip" || err != nil || m.LedgerKey {
			t.Errorf("backup: %d %s, %+v, %v; want a sound gzip backup without the key", r.status, r.header.Get("Content-Type"), m, err)
		}
	})
}
