package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/auditkeep/auditkeep/internal/pgtest"
	"github.com/auditkeep/auditkeep/internal/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// ingestN stores n events with ids prefix-1 .. prefix-n, in batches of 10.
func ingestN(t *testing.T, base, key, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i += 10 {
		var batch []any
		for j := i; j < min(i+10, n); j++ {
			e := event(fmt.Sprintf("%s-%d", prefix, j+1), "secret.update", "usr_1")
			e["metadata"] = map[string]any{"n": j, "note": "ünïcode \u2028 <b>"}
			batch = append(batch, e)
		}
		if r := call(t, "POST", base+"/v1/events", key, map[string]any{"events": batch}); r.status != 200 {
			t.Fatalf("ingest: %d %s", r.status, r.body)
		}
	}
}

// waitIntegrated waits until the tenant's latest checkpoint has size.
// integratedTenant starts a server with tenant acme holding n events, all
// integrated into its log, and returns the server's URL and a key of acme.
func integratedTenant(t *testing.T, n int) (base, key string) {
	t.Helper()
	base = testServer(t, Config{}).URL()
	key = setupTenant(t, base, "acme")
	ingestN(t, base, key, "a", n)
	waitIntegrated(t, base, key, uint64(n))
	return base, key
}

func waitIntegrated(t *testing.T, base, key string, size uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		r := call(t, "GET", base+"/v1/checkpoint", key, nil)
		if r.status == 200 {
			var cp struct{ Size uint64 }
			json.Unmarshal(r.body, &cp)
			if cp.Size == size {
				return
			}
			if cp.Size > size {
				t.Fatalf("checkpoint size %d; want %d", cp.Size, size)
			}
		}
		last = fmt.Sprintf("%d %s", r.status, r.body)
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the log did not reach size %d: last answer %s", size, last)
}

// verifierKey returns the server's published verifier key.
func verifierKey(t *testing.T, base string) string {
	t.Helper()
	r := call(t, "GET", base+"/v1/ledger/key", "", nil)
	if r.status != 200 {
		t.Fatalf("GET /v1/ledger/key: %d %s", r.status, r.body)
	}
	return r.json(t)["key"].(string)
}

// TestLedgerAPI checks checkpoints, proofs and hashes served by the API
// with the library's verifiers.
func TestLedgerAPI(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	ingestN(t, base, key, "a", 25)
	waitIntegrated(t, base, key, 25)
	vkey := verifierKey(t, base)

	r := call(t, "GET", base+"/v1/checkpoint", key, nil)
	var cpb struct {
		Checkpoint, Origin, Root string
		Size                     uint64
	}
	if err := json.Unmarshal(r.body, &cpb); err != nil || r.status != 200 {
		t.Fatalf("GET /v1/checkpoint = %d %s", r.status, r.body)
	}
	cp, err := ledger.VerifyCheckpoint([]byte(cpb.Checkpoint), vkey)
	if err != nil || cp.Size != 25 || cp.Origin != "auditkeep/acme" || hex.EncodeToString(cp.Root) != cpb.Root {
		t.Fatalf("VerifyCheckpoint(GET /v1/checkpoint) = %+v, %v; want size 25 of auditkeep/acme, root %s", cp, err, cpb.Root)
	}
	req, _ := http.NewRequest("GET", base+"/v1/checkpoint", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/plain")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var note bytes.Buffer
	note.ReadFrom(res.Body)
	res.Body.Close()
	if note.String() != cpb.Checkpoint || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET /v1/checkpoint (Accept: text/plain) = %q, %s; want the note", note.String(), res.Header.Get("Content-Type"))
	}

	// Every event: hash and proof in GET /v1/events/{id}, checked against the checkpoint.
	for i := 1; i <= 25; i++ {
		r := call(t, "GET", fmt.Sprintf("%s/v1/events/a-%d", base, i), key, nil)
		var got struct {
			auditkeep.Event
			Proof *struct {
				Seq        int64
				LeafHash   string `json:"leaf_hash"`
				TreeSize   uint64 `json:"tree_size"`
				Proof      []string
				Checkpoint string
			} `json:"proof"`
		}
		if err := json.Unmarshal(r.body, &got); err != nil || got.Proof == nil {
			t.Fatalf("GET /v1/events/a-%d = %d %s; want a proof", i, r.status, r.body)
		}
		leaf, err := ledger.LeafHash(&got.Event)
		if err != nil {
			t.Fatal(err)
		}
		if got.Hash != hex.EncodeToString(leaf) || got.Proof.LeafHash != got.Hash || got.Proof.Checkpoint != cpb.Checkpoint {
			t.Fatalf("event a-%d: hash %s, proof leaf %s; want LeafHash %x and the latest checkpoint", i, got.Hash, got.Proof.LeafHash, leaf)
		}
		if err := ledger.VerifyInclusion(leaf, got.Seq, got.Proof.TreeSize, mustUnhex(t, got.Proof.Proof), cp.Root); err != nil {
			t.Fatalf("event a-%d: %v", i, err)
		}
	}

	// A proof in an older tree, and consistency between two sizes.
	r = call(t, "GET", base+"/v1/events/a-3/proof?tree_size=10", key, nil)
	var p struct {
		Seq      int64
		TreeSize uint64 `json:"tree_size"`
		LeafHash string `json:"leaf_hash"`
		Proof    []string
	}
	if err := json.Unmarshal(r.body, &p); err != nil || r.status != 200 || p.TreeSize != 10 || p.Seq != 3 {
		t.Fatalf("GET /v1/events/a-3/proof?tree_size=10 = %d %s", r.status, r.body)
	}
	leaves := leafHashesOf(t, base, key, 10)
	if err := ledger.VerifyInclusion(mustUnhex(t, []string{p.LeafHash})[0], 3, 10, mustUnhex(t, p.Proof), rootOf(leaves)); err != nil {
		t.Errorf("inclusion of seq 3 in tree 10: %v", err)
	}
	r = call(t, "GET", base+"/v1/consistency?first=10&second=25", key, nil)
	var c struct {
		First, Second uint64
		Proof         []string
	}
	if err := json.Unmarshal(r.body, &c); err != nil || r.status != 200 || c.First != 10 || c.Second != 25 {
		t.Fatalf("GET /v1/consistency = %d %s", r.status, r.body)
	}
	if err := ledger.VerifyConsistency(10, 25, mustUnhex(t, c.Proof), rootOf(leaves), cp.Root); err != nil {
		t.Errorf("consistency 10 → 25: %v", err)
	}

	// The history: every signed size, paged, each served and consistent.
	var sizes []uint64
	for after := uint64(0); ; {
		r := call(t, "GET", fmt.Sprintf("%s/v1/checkpoints?limit=2&after=%d", base, after), key, nil)
		var page struct {
			Sizes     []uint64
			NextAfter uint64 `json:"next_after"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil || r.status != 200 || len(page.Sizes) == 0 || len(page.Sizes) > 2 {
			t.Fatalf("GET /v1/checkpoints?limit=2&after=%d = %d %s", after, r.status, r.body)
		}
		sizes = append(sizes, page.Sizes...)
		if page.NextAfter == 0 {
			break
		}
		if page.NextAfter != page.Sizes[len(page.Sizes)-1] {
			t.Fatalf("GET /v1/checkpoints: next_after %d; want the page's last size %d", page.NextAfter, page.Sizes[len(page.Sizes)-1])
		}
		after = page.NextAfter
	}
	if !slices.IsSorted(sizes) || len(slices.Compact(slices.Clone(sizes))) != len(sizes) || sizes[len(sizes)-1] != 25 {
		t.Fatalf("GET /v1/checkpoints, all pages: %v; want ascending sizes up to 25", sizes)
	}
	for _, size := range sizes {
		r := call(t, "GET", fmt.Sprintf("%s/v1/checkpoint?size=%d", base, size), key, nil)
		old, err := ledger.VerifyCheckpoint([]byte(r.json(t)["checkpoint"].(string)), vkey)
		if err != nil || old.Size != size {
			t.Fatalf("GET /v1/checkpoint?size=%d = %+v, %v", size, old, err)
		}
		if size == 25 {
			continue
		}
		var c struct{ Proof []string }
		json.Unmarshal(call(t, "GET", fmt.Sprintf("%s/v1/consistency?first=%d&second=25", base, size), key, nil).body, &c)
		if err := ledger.VerifyConsistency(size, 25, mustUnhex(t, c.Proof), old.Root, cp.Root); err != nil {
			t.Errorf("consistency %d → 25: %v", size, err)
		}
	}
	if r := call(t, "GET", base+"/v1/checkpoints?after=25", key, nil); r.status != 200 || !strings.Contains(string(r.body), `"sizes":[]`) {
		t.Errorf("GET /v1/checkpoints?after=25 = %d %s; want no sizes", r.status, r.body)
	}
	for _, q := range []string{"after=x", "after=-1", "limit=0", "limit=10001", "limit=x"} {
		r := call(t, "GET", base+"/v1/checkpoints?"+q, key, nil)
		field, _, _ := strings.Cut(q, "=")
		if _, got := r.errorOf(t); r.status != 400 || got != field {
			t.Errorf("GET /v1/checkpoints?%s = %d %s; want 400 naming %s", q, r.status, r.body, field)
		}
	}

	// Errors.
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v1/events/a-3/proof?tree_size=26", 400},
		{"/v1/events/a-3/proof?tree_size=x", 400},
		{"/v1/events/nope/proof", 404},
		{"/v1/consistency?first=26&second=25", 400},
		{"/v1/consistency?first=3&second=99", 400},
		{"/v1/checkpoint?size=0", 400},
		{"/v1/export?format=bundle&action=x", 400},
	} {
		if r := call(t, "GET", base+tc.path, key, nil); r.status != tc.status {
			t.Errorf("GET %s = %d %s; want %d", tc.path, r.status, r.body, tc.status)
		}
	}
	other := setupTenant(t, base, "globex")
	if r := call(t, "GET", base+"/v1/checkpoint", other, nil); r.status != 404 {
		t.Errorf("GET /v1/checkpoint of a tenant with no events = %d %s; want 404", r.status, r.body)
	}
	if r := call(t, "GET", base+"/v1/events/a-3/proof", other, nil); r.status != 404 {
		t.Errorf("another tenant's GET /v1/events/a-3/proof = %d; want 404", r.status)
	}
	if r := call(t, "GET", base+"/v1/checkpoint", "", nil); r.status != 401 {
		t.Errorf("GET /v1/checkpoint without a key = %d; want 401", r.status)
	}

	// Hashes on list and export reads (of the sent events: the records of
	// the bundles read above may not be integrated yet).
	r = call(t, "GET", base+"/v1/events?limit=5&q=-source:auditkeep", key, nil)
	var page struct{ Events []auditkeep.Event }
	json.Unmarshal(r.body, &page)
	for _, e := range page.Events {
		if h, _ := ledger.LeafHash(&e); e.Hash != hex.EncodeToString(h) {
			t.Errorf("list: event %s hash %q; want %x", e.ID, e.Hash, h)
		}
	}
	r = call(t, "GET", base+"/v1/export?format=ndjson&q=-source:auditkeep", key, nil)
	n := 0
	for _, line := range bytes.Split(bytes.TrimSpace(r.body), []byte("\n")) {
		var e auditkeep.Event
		json.Unmarshal(line, &e)
		if h, _ := ledger.LeafHash(&e); e.Hash != hex.EncodeToString(h) {
			t.Errorf("export: event %s hash %q; want %x", e.ID, e.Hash, h)
		}
		n++
	}
	if n != 25 {
		t.Errorf("export: %d events; want 25", n)
	}
	if out := metricsText(t, base); !strings.Contains(out, "auditkeep_ledger_lag_seconds_count") {
		t.Errorf("/metrics has no auditkeep_ledger_lag_seconds")
	}
	if fi, err := os.Stat(filepath.Join(a.cfg.DataDir, "ledger.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ledger.key: %v, %v; want a file of mode 0600", fi, err)
	}
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	return string(call(t, "GET", base+"/metrics", "", nil).body)
}

func mustUnhex(t *testing.T, ss []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// leafHashesOf recomputes the leaf hashes of seqs 1..n from the events the
// server exports.
func leafHashesOf(t *testing.T, base, key string, n int) [][]byte {
	t.Helper()
	r := call(t, "GET", base+"/v1/export?format=ndjson&order=asc", key, nil)
	var out [][]byte
	for _, line := range bytes.Split(bytes.TrimSpace(r.body), []byte("\n"))[:n] {
		var e auditkeep.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		h, err := ledger.LeafHash(&e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

func rootOf(leaves [][]byte) []byte {
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, h := range leaves {
		r.Append(h, nil)
	}
	root, _ := r.GetRootHash(nil)
	return root
}

// tamperer changes a tenant's stored log behind the server's back.
type tamperer interface {
	body(seq int64) map[string]any
	put(seq int64, body map[string]any)
	move(from, to int64)
	del(seq int64)
	insertLike(template, seq int64, body map[string]any)
	setLastSeq(n int64)
	rollbackLedger(size int64, checkpoint []byte)
	wipeLedger()
	// setLeaf rewrites the stored leaf hash of seq.
	setLeaf(seq int64, hash []byte)
	checkpoints() int // the tenant's stored checkpoints
	close()
}

// tamperCase is one way of changing the log, and what verify must say.
type tamperCase struct {
	name   string
	tamper func(tm tamperer)
	want   string
}

var tamperCases = []tamperCase{
	{"alter", func(tm tamperer) {
		b := tm.body(7)
		b["action"] = "secret.read"
		tm.put(7, b)
	}, "seq 7 altered"},
	{"delete", func(tm tamperer) { tm.del(12) }, "seq 12 removed"},
	{"swap", func(tm tamperer) {
		b20, b21 := tm.body(20), tm.body(21)
		tm.put(20, b21)
		tm.put(21, b20)
	}, "seq 20 reordered"},
	{"insert", func(tm tamperer) {
		for s := int64(41); s >= 15; s-- {
			b := tm.body(s)
			b["seq"] = s + 1
			tm.move(s, s+1)
			tm.put(s+1, b)
		}
		b := tm.body(16)
		b["id"], b["seq"], b["action"] = "forged-1", 15, "secret.delete"
		tm.insertLike(16, 15, b)
		tm.setLastSeq(42)
	}, "seq 15 inserted"},
	{"truncate", func(tm tamperer) {
		for s := int64(36); s <= 40; s++ {
			tm.del(s)
		}
	}, "seq 36 removed"},
}

// runTamperSuite runs every tamper case, plus rollback and fork, on servers
// made by start (restarted on the same storage) with open giving direct
// access to that storage.
func runTamperSuite(t *testing.T, start func(t *testing.T, storage string) *app, newStorage func(t *testing.T) string, open func(t *testing.T, storage string) tamperer) {
	ctx := context.Background()
	verify := func(t *testing.T, args ...string) (int, string) {
		t.Helper()
		var out, errb bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
		code := Main(ctx, append([]string{"verify"}, args...), e)
		return code, out.String() + errb.String()
	}
	// setup fills a new log with 40 events, verifies it once (remembering
	// its checkpoint), waits for the record of the bundle that read (seq
	// 41) to be integrated and stops the server.
	setup := func(t *testing.T) (storage, key, state string) {
		storage = newStorage(t)
		a := start(t, storage)
		key = setupTenant(t, a.URL(), "acme")
		ingestN(t, a.URL(), key, "e", 40)
		waitIntegrated(t, a.URL(), key, 40)
		state = filepath.Join(t.TempDir(), "state.json")
		if code, out := verify(t, "--server", a.URL(), "--key", key, "--state", state); code != 0 || !strings.Contains(out, "OK: tree size 40") {
			t.Fatalf("verify before tampering = %d %s; want OK", code, out)
		}
		waitIntegrated(t, a.URL(), key, 41)
		a.Close()
		return storage, key, state
	}
	check := func(t *testing.T, a *app, key, state, want string) {
		t.Helper()
		code, out := verify(t, "--server", a.URL(), "--key", key, "--state", state)
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("verify (live) = %d %q; want 1 and %q", code, out, want)
		}
		bundle := filepath.Join(t.TempDir(), "bundle.ndjson")
		var out2, errb bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &out2, stderr: &errb, getenv: func(string) string { return "" }}
		if code := Main(ctx, []string{"export", "--server", a.URL(), "--key", key, "--format", "ndjson", "--with-proofs", "-o", bundle}, e); code != 0 {
			t.Fatalf("export --with-proofs = %d %s", code, errb.String())
		}
		code, out = verify(t, "--bundle", bundle, "--public-key", verifierKey(t, a.URL()))
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("verify --bundle = %d %q; want 1 and %q", code, out, want)
		}
	}
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			storage, key, state := setup(t)
			tm := open(t, storage)
			tc.tamper(tm)
			tm.close()
			a := start(t, storage)
			check(t, a, key, state, tc.want)
		})
	}
	t.Run("rollback", func(t *testing.T) {
		storage, key, state := setup(t)
		a := start(t, storage)
		note := call(t, "GET", a.URL()+"/v1/checkpoint", key, nil).json(t)["checkpoint"].(string)
		ingestN(t, a.URL(), key, "more", 10)
		waitIntegrated(t, a.URL(), key, 51)
		if code, out := verify(t, "--server", a.URL(), "--key", key, "--state", state); code != 0 {
			t.Fatalf("verify after growing = %d %s; want OK", code, out)
		}
		a.Close()
		tm := open(t, storage)
		for s := int64(42); s <= 52; s++ { // and the record of the bundle read at 51
			tm.del(s)
		}
		tm.setLastSeq(41)
		tm.rollbackLedger(41, []byte(note))
		tm.close()
		a = start(t, storage)
		code, out := verify(t, "--server", a.URL(), "--key", key, "--state", state)
		if code != 1 || !strings.Contains(out, "seq 42 rollback") {
			t.Errorf("verify after a rollback = %d %q; want 1 and seq 42 rollback", code, out)
		}
		// The rolled-back log is self-consistent: only the remembered state
		// tells. A bundle of it verifies.
	})
	t.Run("rehashed", func(t *testing.T) { testRehashed(t, start, newStorage, open, verify) })
	// A number's text edited to another that reads as the same double (and
	// so gives the same leaf) is not what the log signed: ingest never
	// stores such text.
	t.Run("number", func(t *testing.T) {
		storage, key, state := setup(t)
		a := start(t, storage)
		body := `{"action":"a.create","actor":{"id":"u"},"metadata":{"big":9007199254740992,"zero":0}}`
		if r := call(t, "POST", a.URL()+"/v1/events", key, body); r.status != 200 {
			t.Fatalf("ingest: %d %s", r.status, r.body)
		}
		waitIntegrated(t, a.URL(), key, 42)
		if code, out := verify(t, "--server", a.URL(), "--key", key, "--state", state); code != 0 {
			t.Fatalf("verify before the edit = %d %s; want OK", code, out)
		}
		a.Close()
		for _, edit := range []struct{ member, to string }{{"big", "9007199254740993"}, {"zero", "-0"}} {
			t.Run(edit.member, func(t *testing.T) {
				tm := open(t, storage)
				b := tm.body(42)
				md := b["metadata"].(map[string]any)
				was := md[edit.member]
				md[edit.member] = json.Number(edit.to)
				tm.put(42, b)
				tm.close()
				a := start(t, storage)
				if r := call(t, "GET", a.URL()+"/v1/events?limit=1&action=a.create", key, nil); !strings.Contains(string(r.body), `"`+edit.member+`":`+edit.to) {
					t.Fatalf("the edit is not served: %s", r.body)
				}
				check(t, a, key, state, "seq 42 altered")
				a.Close()
				tm = open(t, storage)
				md[edit.member] = was
				tm.put(42, b)
				tm.close()
			})
		}
	})
	t.Run("wiped", func(t *testing.T) {
		storage, key, state := setup(t)
		tm := open(t, storage)
		b := tm.body(5)
		b["status"] = "failure"
		tm.put(5, b)
		tm.wipeLedger() // as if to have the tree rebuilt over the altered log and signed anew
		tm.close()
		a := start(t, storage)
		// The server neither rebuilds nor signs the tree: it reports it broken.
		waitReady(t, a.URL(), 503)
		if size, err := a.ledger.integrator.Integrate(ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN {
			t.Fatalf("Integrate(acme) of a wiped ledger = %d, %v; want %s", size, err, auditkeep.ELEDGERBROKEN)
		}
		checkBroken(t, a.URL(), key, "acme", "ledger's rows are gone")
		if code, out := verify(t, "--server", a.URL(), "--key", key, "--state", state); code != 1 || !strings.Contains(out, "ledger_broken") && !strings.Contains(out, "broken") {
			t.Errorf("verify of a broken ledger = %d %q; want 1, broken", code, out)
		}
		a.Close()
		tm = open(t, storage)
		n := tm.checkpoints()
		tm.close()
		if n != 0 {
			t.Errorf("%d checkpoints stored after the restart; want 0: nothing signed", n)
		}

		// Only an explicit rebuild, with a reason, signs the log again.
		a = start(t, storage)
		waitReady(t, a.URL(), 503)
		checkRebuild(t, a.URL(), key, "acme", 41)
		code, out := verify(t, "--server", a.URL(), "--key", key, "--state", state)
		if code != 1 || !strings.Contains(out, "fork") {
			t.Errorf("verify of the rebuilt log = %d %q; want 1 and fork (seq 5 was altered)", code, out)
		}
	})
}

// testRehashed alters the event of seq 7 and rewrites its stored leaf hash
// to match, in a log with a signed checkpoint every 5 events: the stored
// tree then proves nothing about any one event. verify must bound the
// altered seq with the checkpoints (6–10), and never name another seq;
// sampled runs report the stored tree inconsistent, or the proven range.
func testRehashed(t *testing.T, start func(t *testing.T, storage string) *app, newStorage func(t *testing.T) string, open func(t *testing.T, storage string) tamperer, verify func(t *testing.T, args ...string) (int, string)) {
	storage := newStorage(t)
	a := start(t, storage)
	key := setupTenant(t, a.URL(), "acme")
	vkey := verifierKey(t, a.URL())
	state := filepath.Join(t.TempDir(), "state.json")
	read := 0 // the bundles read so far, each recorded in the log
	for size := 5; size <= 40; size += 5 {
		ingestN(t, a.URL(), key, fmt.Sprintf("e%d", size), 5)
		waitIntegrated(t, a.URL(), key, uint64(size+read))
		if size == 20 { // remembered by a run at size 20
			if code, out := verify(t, "--server", a.URL(), "--key", key, "--public-key", vkey, "--state", state); code != 0 {
				t.Fatalf("verify at size 20 = %d %s; want OK", code, out)
			}
			read++
			waitIntegrated(t, a.URL(), key, uint64(size+read))
		}
	}
	a.Close()
	tm := open(t, storage)
	b := tm.body(7)
	b["status"] = "failure"
	tm.put(7, b)
	tm.close()
	a = start(t, storage)
	var e auditkeep.Event
	if r := call(t, "GET", a.URL()+"/v1/events/e10-2", key, nil); r.status != 200 || json.Unmarshal(r.body, &e) != nil || e.Seq != 7 {
		t.Fatalf("GET the event of seq 7 = %d %s", r.status, r.body)
	}
	leaf, err := ledger.LeafHash(&e)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	tm = open(t, storage)
	tm.setLeaf(7, leaf)
	tm.close()
	a = start(t, storage)

	seqs := regexp.MustCompile(`seqs? [0-9][0-9–-]*`)
	named := func(out string) []string { return seqs.FindAllString(out, -1) }
	want := "FAILED: an event in seqs 6–10 was altered: the checkpoint of size 10 does not match the events served, that of size 5 does"
	for _, args := range [][]string{
		{"--state", state},                           // remembering size 20
		{"--state", filepath.Join(t.TempDir(), "s")}, // a first run
	} {
		code, out := verify(t, append([]string{"--server", a.URL(), "--key", key, "--public-key", vkey}, args...)...)
		t.Logf("verify %v: %d %s", args, code, out)
		if code != exitNegative || !strings.Contains(out, want) || !slices.Equal(named(out), []string{"seqs 6–10"}) {
			t.Errorf("verify %v = %d %q; want %d and %q, naming no other seq", args, code, out, exitNegative, want)
		}
	}
	// A failed run does not move the remembered checkpoint.
	if st, err := loadVerifyState(state); err != nil || st == nil {
		t.Errorf("state after the failed run: %v", err)
	} else if cp, err := ledger.ParseCheckpoint([]byte(st.Checkpoint)); err != nil || cp.Size != 20 {
		t.Errorf("state after the failed run: %+v, %v; want the checkpoint of size 20 still", cp, err)
	}
	for _, n := range []string{"40", "4", "4", "4", "12"} {
		code, out := verify(t, "--server", a.URL(), "--key", key, "--public-key", vkey, "--state", state, "--sample", n)
		t.Logf("verify --sample %s: %d %s", n, code, out)
		ok := code == exitOK && strings.Contains(out, "OK: tree size 4") // 41 and the bundles the failed runs read
		tree := code == exitNegative && strings.Contains(out, "FAILED: inconsistent tree:") && len(named(out)) == 0
		if n == "40" && !tree || !ok && !tree && !(code == exitNegative && slices.Equal(named(out), []string{"seqs 6–10"})) {
			t.Errorf("verify --sample %s = %d %q; want a failure of the stored tree naming no seq (or OK when the sample missed it)", n, code, out)
		}
	}
}

// checkRebuild rebuilds the broken ledger of tenant, holding n events,
// through the CLI, after the refusals of a rebuild without a reason or
// without the root key, and checks the ledger.rebuild record.
func checkRebuild(t *testing.T, base, key, tenant string, n int) {
	t.Helper()
	path := base + "/v1/tenants/" + tenant + "/ledger/rebuild"
	if r := call(t, "POST", path, testRootKey, map[string]any{"reason": "  "}); r.status != 400 || !strings.Contains(string(r.body), `"field":"reason"`) {
		t.Errorf("rebuild with a blank reason = %d %s; want 400 naming reason", r.status, r.body)
	}
	if r := call(t, "POST", path, key, map[string]any{"reason": "x"}); r.status != 403 && r.status != 401 {
		t.Errorf("rebuild with a tenant's key = %d %s; want 403", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/tenants/nobody/ledger/rebuild", testRootKey, map[string]any{"reason": "x"}); r.status != 404 {
		t.Errorf("rebuild of an unknown tenant = %d %s; want 404", r.status, r.body)
	}
	if code, _, errs := runCLI(t, nil, "ledger", "rebuild", "--server", base, "--key", testRootKey, "--tenant", tenant); code != 2 || !strings.Contains(errs, "--reason") {
		t.Errorf("ledger rebuild without --reason = %d %s; want 2", code, errs)
	}
	ev := event("forged-rebuild", ledger.RebuildAction, "usr_1")
	if r := call(t, "POST", base+"/v1/events", key, ev); r.status != 400 || !strings.Contains(string(r.body), "reserved") {
		t.Errorf("a sender's %s event = %d %s; want 400 reserved", ledger.RebuildAction, r.status, r.body)
	}
	forged := event("forged-source", "key.create", "usr_1")
	forged["source"] = "auditkeep"
	if r := call(t, "POST", base+"/v1/events", key, forged); r.status != 400 || !strings.Contains(string(r.body), `"field":"source"`) {
		t.Errorf("a sender's event with source auditkeep = %d %s; want 400 naming source", r.status, r.body)
	}
	const reason = "restored after incident INC-42"
	code, out, errs := runCLI(t, nil, "ledger", "rebuild", "--server", base, "--key", testRootKey, "--tenant", tenant, "--reason", reason)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("tree size %d", n+1)) {
		t.Fatalf("ledger rebuild = %d %s %s; want 0, tree size %d", code, out, errs, n+1)
	}
	waitReady(t, base, 200)
	waitIntegrated(t, base, key, uint64(n+1))
	r := call(t, "GET", base+"/v1/checkpoint", key, nil)
	if _, err := ledger.VerifyCheckpoint([]byte(r.json(t)["checkpoint"].(string)), verifierKey(t, base)); err != nil {
		t.Errorf("checkpoint after the rebuild: %v", err)
	}
	r = call(t, "GET", base+"/v1/events?action="+ledger.RebuildAction, key, nil)
	var page struct{ Events []auditkeep.Event }
	if err := json.Unmarshal(r.body, &page); err != nil || len(page.Events) != 1 {
		t.Fatalf("GET /v1/events?action=%s = %d %s; want one event", ledger.RebuildAction, r.status, r.body)
	}
	e := page.Events[0]
	var meta map[string]any
	json.Unmarshal(e.Metadata, &meta)
	if e.Seq != int64(n+1) || e.Source != "system" || e.Actor.ID != "root" || meta["reason"] != reason || !strings.Contains(e.Description, reason) {
		t.Errorf("the %s event = seq %d, source %q, actor %+v, metadata %s, description %q; want seq %d by root, the reason", ledger.RebuildAction, e.Seq, e.Source, e.Actor, e.Metadata, e.Description, n+1)
	}
}

// waitReady waits until /readyz answers status.
func waitReady(t *testing.T, base string, status int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var r response
	for time.Now().Before(deadline) {
		if r = call(t, "GET", base+"/readyz", "", nil); r.status == status {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GET /readyz = %d %s; want %d", r.status, r.body, status)
}

// checkBroken checks that the server reports tenant's ledger broken for
// a reason holding reason: GET /v1/checkpoint 500 ledger_broken, /readyz 503.
func checkBroken(t *testing.T, base, key, tenant, reason string) {
	t.Helper()
	r := call(t, "GET", base+"/v1/checkpoint", key, nil)
	var e struct {
		Error struct{ Code, Message, Field string }
	}
	if json.Unmarshal(r.body, &e); r.status != 500 || e.Error.Code != auditkeep.ELEDGERBROKEN || e.Error.Field != "ledger" ||
		!strings.Contains(e.Error.Message, reason) || !strings.Contains(e.Error.Message, "auditkeep ledger rebuild --tenant "+tenant) {
		t.Errorf("GET /v1/checkpoint of a broken ledger = %d %s; want 500 %s naming %q and the rebuild", r.status, r.body, auditkeep.ELEDGERBROKEN, reason)
	}
	r = call(t, "GET", base+"/readyz", "", nil)
	var ready struct {
		Status        string
		BrokenTenants map[string]string `json:"broken_tenants"`
	}
	if json.Unmarshal(r.body, &ready); r.status != 503 || ready.Status != "ledger_broken" || !strings.Contains(ready.BrokenTenants[tenant], reason) {
		t.Errorf("GET /readyz with a broken ledger = %d %s; want 503 ledger_broken naming %s", r.status, r.body, tenant)
	}
}

// TestTamperEvidenceSQLite tampers with the embedded store's file.
func TestTamperEvidenceSQLite(t *testing.T) {
	start := func(t *testing.T, dir string) *app {
		cfg := DefaultConfig()
		cfg.DataDir = dir
		return testServer(t, cfg)
	}
	newStorage := func(t *testing.T) string { return t.TempDir() }
	runTamperSuite(t, start, newStorage, openSQLiteTamperer)
}

// sqliteTamperer writes the database file directly; it reads events
// through the store's own decoding (bodies are compressed) and writes them
// back as plain JSON bodies, which the store reads too.
type sqliteTamperer struct {
	t   *testing.T
	st  *sqlite.Store
	db  *sql.DB
	num int64
}

func openSQLiteTamperer(t *testing.T, dir string) tamperer {
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), dir, sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	tm := &sqliteTamperer{t: t, st: st, db: db}
	if err := db.QueryRow("SELECT num FROM tenants WHERE id = 'acme'").Scan(&tm.num); err != nil {
		t.Fatal(err)
	}
	return tm
}

func (s *sqliteTamperer) k(seq int64) int64 { return s.num<<40 | seq }

func (s *sqliteTamperer) exec(q string, args ...any) {
	s.t.Helper()
	if _, err := s.db.Exec(q, args...); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
}

func (s *sqliteTamperer) body(seq int64) map[string]any {
	var m map[string]any
	stop := fmt.Errorf("found")
	f := auditkeep.Filter{Order: auditkeep.OrderAsc, Cursor: &auditkeep.Cursor{Seq: seq - 1, Order: auditkeep.OrderAsc}}
	err := s.st.ScanEvents(context.Background(), "acme", f, func(e *auditkeep.Event) error {
		if e.Seq != seq {
			return fmt.Errorf("event of seq %d is missing", seq)
		}
		b, _ := json.Marshal(e)
		return errors.Join(json.Unmarshal(b, &m), stop)
	})
	if m == nil {
		s.t.Fatalf("body of seq %d: %v", seq, err)
	}
	delete(m, "hash")
	return m
}

func (s *sqliteTamperer) put(seq int64, m map[string]any) {
	b, _ := json.Marshal(m)
	s.exec("UPDATE events SET body = ? WHERE k = ?", b, s.k(seq))
}
func (s *sqliteTamperer) move(from, to int64) {
	s.exec("UPDATE events SET k = ? WHERE k = ?", s.k(to), s.k(from))
}
func (s *sqliteTamperer) del(seq int64) { s.exec("DELETE FROM events WHERE k = ?", s.k(seq)) }
func (s *sqliteTamperer) insertLike(template, seq int64, m map[string]any) {
	b, _ := json.Marshal(m)
	s.exec("INSERT INTO events (k, occurred_at, id_hash, body) SELECT ?, occurred_at, id_hash + 1, ? FROM events WHERE k = ?", s.k(seq), b, s.k(template))
}
func (s *sqliteTamperer) setLastSeq(n int64) {
	s.exec("UPDATE tenants SET last_seq = ? WHERE id = 'acme'", n)
}
func (s *sqliteTamperer) rollbackLedger(size int64, note []byte) {
	cp, err := ledger.ParseCheckpoint(note)
	if err != nil {
		s.t.Fatal(err)
	}
	// Leaf hashes are kept in runs of consecutive leaves: cut the run that
	// crosses size, drop those after it.
	s.exec("DELETE FROM ledger_leaf_runs WHERE tenant = 'acme' AND first > ?", size)
	s.exec("UPDATE ledger_leaf_runs SET hashes = substr(hashes, 1, (? - first + 1) * 32) WHERE tenant = 'acme' AND first + length(hashes) / 32 - 1 > ?", size, size)
	s.exec("DELETE FROM ledger_nodes WHERE tenant = 'acme' AND ((idx + 1) << level) > ?", size)
	s.exec("DELETE FROM ledger_checkpoints WHERE tenant = 'acme' AND size > ?", size)
	s.exec("UPDATE ledger_state SET size = ?, root = ?, checkpoint = ? WHERE tenant = 'acme'", size, cp.Root, note)
}
func (s *sqliteTamperer) wipeLedger() {
	for _, table := range []string{"ledger_leaf_runs", "ledger_nodes", "ledger_checkpoints", "ledger_state"} {
		s.exec("DELETE FROM " + table)
	}
}
func (s *sqliteTamperer) setLeaf(seq int64, hash []byte) {
	s.t.Helper()
	var first int64
	var run []byte
	if err := s.db.QueryRow("SELECT first, hashes FROM ledger_leaf_runs WHERE tenant = 'acme' AND first <= ? ORDER BY first DESC LIMIT 1", seq).Scan(&first, &run); err != nil {
		s.t.Fatal(err)
	}
	copy(run[(seq-first)*32:], hash)
	s.exec("UPDATE ledger_leaf_runs SET hashes = ? WHERE tenant = 'acme' AND first = ?", run, first)
}
func (s *sqliteTamperer) checkpoints() int {
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM ledger_checkpoints WHERE tenant = 'acme'").Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}
func (s *sqliteTamperer) close() {
	s.db.Close()
	s.st.Close()
}

// testDatabaseURL returns AUDITKEEP_TEST_DATABASE_URL, or skips the test.
func testDatabaseURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
	if u == "" {
		t.Skip("set AUDITKEEP_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL ledger tests")
	}
	return u
}

// TestTamperEvidencePostgres tampers with the events in PostgreSQL (a
// schema per case).
func TestTamperEvidencePostgres(t *testing.T) {
	base := testDatabaseURL(t)
	start := func(t *testing.T, url string) *app {
		cfg := DefaultConfig()
		cfg.DatabaseURL = url
		return testServer(t, cfg)
	}
	newStorage := func(t *testing.T) string { return pgtest.Schema(t, base) }
	runTamperSuite(t, start, newStorage, openPostgresTamperer)
}

type pgTamperer struct {
	t    *testing.T
	conn *pgx.Conn
	no   int32
}

func openPostgresTamperer(t *testing.T, url string) tamperer {
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	tm := &pgTamperer{t: t, conn: conn}
	if err := conn.QueryRow(context.Background(), "SELECT no FROM tenants WHERE id = 'acme'").Scan(&tm.no); err != nil {
		t.Fatal(err)
	}
	return tm
}

func (p *pgTamperer) exec(q string, args ...any) {
	p.t.Helper()
	if _, err := p.conn.Exec(context.Background(), q, args...); err != nil {
		p.t.Fatalf("%s: %v", q, err)
	}
}

func (p *pgTamperer) body(seq int64) map[string]any {
	var b []byte
	if err := p.conn.QueryRow(context.Background(), "SELECT body FROM events WHERE tenant_no = $1 AND seq = $2", p.no, seq).Scan(&b); err != nil {
		p.t.Fatalf("body of seq %d: %v", seq, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		p.t.Fatal(err)
	}
	return m
}

func (p *pgTamperer) put(seq int64, m map[string]any) {
	b, _ := json.Marshal(m)
	p.exec("UPDATE events SET body = $1 WHERE tenant_no = $2 AND seq = $3", b, p.no, seq)
}
func (p *pgTamperer) move(from, to int64) {
	p.exec("UPDATE events SET seq = $1 WHERE tenant_no = $2 AND seq = $3", to, p.no, from)
}
func (p *pgTamperer) del(seq int64) {
	p.exec("DELETE FROM events WHERE tenant_no = $1 AND seq = $2", p.no, seq)
}
func (p *pgTamperer) insertLike(template, seq int64, m map[string]any) {
	b, _ := json.Marshal(m)
	cols := "received_at, occurred_at, occurred_nsec, action, type, status, actor_type, actor_id, actor_email, actor_name, target_type, target_id, target_name, scope_path, team, source, ip, tsv"
	p.exec("INSERT INTO events (tenant_no, seq, id, "+cols+", body) SELECT tenant_no, $1, $2, "+cols+", $3 FROM events WHERE tenant_no = $4 AND seq = $5",
		seq, m["id"], b, p.no, template)
}
func (p *pgTamperer) setLastSeq(n int64) {
	p.exec("UPDATE tenants SET last_seq = $1 WHERE id = 'acme'", n)
}
func (p *pgTamperer) rollbackLedger(size int64, note []byte) {
	cp, err := ledger.ParseCheckpoint(note)
	if err != nil {
		p.t.Fatal(err)
	}
	p.exec("DELETE FROM ledger_leaves WHERE tenant = 'acme' AND seq > $1", size)
	p.exec("DELETE FROM ledger_nodes WHERE tenant = 'acme' AND ((idx + 1) << level) > $1", size)
	p.exec("DELETE FROM ledger_checkpoints WHERE tenant = 'acme' AND size > $1", size)
	p.exec("UPDATE ledger_state SET size = $1, root = $2, checkpoint = $3 WHERE tenant = 'acme'", size, cp.Root, note)
}
func (p *pgTamperer) wipeLedger() {
	p.exec("TRUNCATE ledger_leaves, ledger_nodes, ledger_checkpoints, ledger_state")
}
func (p *pgTamperer) setLeaf(seq int64, hash []byte) {
	p.exec("UPDATE ledger_leaves SET hash = $1 WHERE tenant = 'acme' AND seq = $2", hash, seq)
}
func (p *pgTamperer) checkpoints() int {
	var n int
	if err := p.conn.QueryRow(context.Background(), "SELECT count(*) FROM ledger_checkpoints WHERE tenant = 'acme'").Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	return n
}
func (p *pgTamperer) close() { p.conn.Close(context.Background()) }

// TestLedgerTwoNodesPostgres runs two server processes on one database,
// ingests through both at once, and verifies the log through each; then one
// node is killed and the other takes over the integration.
func TestLedgerTwoNodesPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	url := pgtest.Schema(t, testDatabaseURL(t))
	data := t.TempDir() // never the package directory's ./data
	n1 := startChild(t, nil, "--database-url", url, "--ledger-interval", "200ms", "--data", data)
	n2 := startChild(t, nil, "--database-url", url, "--ledger-interval", "200ms", "--data", data)
	key := setupTenant(t, n1.url, "acme")
	if k1, k2 := verifierKey(t, n1.url), verifierKey(t, n2.url); k1 != k2 {
		t.Fatalf("the nodes sign with different keys: %s and %s", k1, k2)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := []*child{n1, n2}[w%2]
			ingestN(t, node.url, key, fmt.Sprintf("w%d", w), 100)
		}()
	}
	wg.Wait()
	// 400 events and the record of the key's creation; each full
	// verification's bundle is recorded once sent.
	size := uint64(401)
	waitIntegrated(t, n1.url, key, size)
	waitIntegrated(t, n2.url, key, size)
	state := filepath.Join(t.TempDir(), "state.json")
	for _, node := range []*child{n1, n2} {
		code, out, _ := runCLI(t, nil, "verify", "--server", node.url, "--key", key, "--state", state)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("OK: tree size %d,", size)) {
			t.Fatalf("verify through %s = %d %s", node.url, code, out)
		}
		size++
		waitIntegrated(t, node.url, key, size)
	}
	// Node 1 dies; node 2 integrates what follows (take-over of any lock).
	n1.kill9(t)
	ingestN(t, n2.url, key, "after", 30)
	size += 30
	waitIntegrated(t, n2.url, key, size)
	code, out, _ := runCLI(t, nil, "verify", "--server", n2.url, "--key", key, "--state", state, "--sample", "20")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("OK: tree size %d,", size)) {
		t.Fatalf("verify --sample 20 after node 1 died = %d %s", code, out)
	}
}

// TestLedgerKeyChanged restarts a server with another signing key: it
// neither extends nor re-signs the log another key signed, says so on
// /readyz, and goes on after an explicit rebuild.
func TestLedgerKeyChanged(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	a := testServer(t, cfg)
	key := setupTenant(t, a.URL(), "acme")
	ingestN(t, a.URL(), key, "e", 12)
	waitIntegrated(t, a.URL(), key, 12)
	oldKey := verifierKey(t, a.URL())
	a.Close()
	skey, _, err := ledger.GenerateKey("auditkeep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, ledgerKeyFile), []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	a = testServer(t, cfg)
	base := a.URL()
	ingestN(t, base, key, "f", 2)
	waitReady(t, base, 503)
	r := call(t, "GET", base+"/readyz", "", nil)
	if !strings.Contains(string(r.body), "acme") || !strings.Contains(string(r.body), "another key") {
		t.Errorf("GET /readyz = %d %s; want acme held: signed by another key", r.status, r.body)
	}
	if size, err := a.ledger.integrator.Integrate(context.Background(), "acme"); auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN || size != 12 {
		t.Errorf("Integrate(acme) with another key = %d, %v; want 12, %s", size, err, auditkeep.ELEDGERBROKEN)
	}
	// The stored checkpoint is whole: it is still served, as the old key signed it.
	r = call(t, "GET", base+"/v1/checkpoint", key, nil)
	if r.status != 200 {
		t.Fatalf("GET /v1/checkpoint = %d %s; want 200", r.status, r.body)
	}
	if cp, err := ledger.VerifyCheckpoint([]byte(r.json(t)["checkpoint"].(string)), oldKey); err != nil || cp.Size != 12 {
		t.Errorf("the served checkpoint = %+v, %v; want size 12 signed by the old key", cp, err)
	}
	checkRebuild(t, base, key, "acme", 14)
	if newKey := verifierKey(t, base); newKey == oldKey {
		t.Errorf("the server publishes the old key")
	}
}
