package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyPublicKeyAsServed checks that verify takes the verifier key
// exactly as GET /v1/ledger/key serves it, as a value or a file, and as
// 'auditkeep ledger key -o' saves it.
func TestVerifyPublicKeyAsServed(t *testing.T) {
	base, key := integratedTenant(t, 5)
	vkey := verifierKey(t, base)
	dir := t.TempDir()

	pub := filepath.Join(dir, "key.pub")
	code, out, errs := runCLI(t, nil, "ledger", "key", "--server", base, "-o", pub)
	if b, err := os.ReadFile(pub); code != 0 || err != nil || string(b) != vkey+"\n" {
		t.Fatalf("ledger key -o key.pub = %d %q %q, file %q, %v; want the key %s", code, out, errs, b, err, vkey)
	}
	if !strings.Contains(errs, "Compare it with the key the operator published") {
		t.Errorf("ledger key -o: stderr %q; want the advice to compare the key", errs)
	}
	if code, out, _ := runCLI(t, nil, "ledger", "key", "--server", base); code != 0 || out != vkey+"\n" {
		t.Errorf("ledger key = %d %q; want %s", code, out, vkey)
	}

	served := string(call(t, "GET", base+"/v1/ledger/key", "", nil).body)
	asServed := filepath.Join(dir, "served.json")
	if err := os.WriteFile(asServed, []byte(served), 0o644); err != nil {
		t.Fatal(err)
	}
	size := uint64(5)
	for _, pk := range []string{pub, asServed, served, vkey} {
		state := filepath.Join(dir, "state.json")
		os.Remove(state)
		code, out, errs := runCLI(t, nil, "verify", "--server", base, "--key", key, "--state", state, "--public-key", pk)
		if code != 0 || !strings.HasPrefix(out, fmt.Sprintf("OK: tree size %d,", size)) {
			t.Errorf("verify --public-key %q = %d %q %q; want OK, tree size %d", pk, code, out, errs, size)
		}
		size++ // the bundle it read, recorded in the log once sent
		waitIntegrated(t, base, key, size)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"key": "not a key"}`), 0o644)
	if code, _, errs := runCLI(t, nil, "verify", "--server", base, "--key", key, "--public-key", bad); code != exitUsage || !strings.Contains(errs, "holds neither a verifier key") {
		t.Errorf("verify --public-key %s = %d %q; want a usage error", bad, code, errs)
	}
}

// TestVerifyReadKeySuggestsSample checks that a full verification with a
// key lacking the export scope points to --sample, which works with it.
func TestVerifyReadKeySuggestsSample(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	setupTenant(t, base, "acme")
	key := createKey(t, base, testRootKey, "acme", "ingest", "read")
	ingestN(t, base, key, "a", 5)
	waitIntegrated(t, base, key, 5)
	state := filepath.Join(t.TempDir(), "state.json")
	vkey := verifierKey(t, base)
	code, out, errs := runCLI(t, nil, "verify", "--server", base, "--key", key, "--state", state, "--public-key", vkey)
	want := "hint: a full verification reads the whole log, which needs a key with the export scope; with a read key, check random events with inclusion proofs instead: auditkeep verify --sample 200\n"
	if code != exitNegative || !strings.Contains(errs, "lacks the export scope") || !strings.HasSuffix(errs, want) {
		t.Errorf("verify with a read key = %d %q %q; want 1 and the hint %q", code, out, errs, want)
	}
	if code, out, errs := runCLI(t, nil, "verify", "--server", base, "--key", key, "--state", state, "--public-key", vkey, "--sample", "3"); code != 0 || !strings.HasPrefix(out, "OK: tree size 5") {
		t.Errorf("verify --sample 3 with a read key = %d %q %q; want OK", code, out, errs)
	}
}

// TestVerifyStateNeedsAHome: without --state, verify keeps its state under
// $XDG_CONFIG_HOME or $HOME; with neither set it refuses, writing nothing,
// rather than writing a relative .config where it runs.
func TestVerifyStateNeedsAHome(t *testing.T) {
	base, key := integratedTenant(t, 3)
	code, _, errs := runCLI(t, map[string]string{"HOME": "", "XDG_CONFIG_HOME": ""}, "verify", "--server", base, "--key", key)
	if code != exitNegative || !strings.Contains(errs, "give --state FILE") {
		t.Errorf("verify with no HOME = %d %q; want 1 and a suggestion of --state", code, errs)
	}
	home := t.TempDir()
	code, out, errs := runCLI(t, map[string]string{"HOME": home, "XDG_CONFIG_HOME": ""}, "verify", "--server", base, "--key", key)
	if code != exitOK || !strings.HasPrefix(out, "OK: tree size 3") {
		t.Fatalf("verify with a HOME = %d %q %q; want OK", code, out, errs)
	}
	if files, _ := filepath.Glob(filepath.Join(home, ".config", "auditkeep", "verify-*.json")); len(files) != 1 {
		t.Errorf("verify kept its state in %v; want one file under $HOME/.config/auditkeep", files)
	}
}
