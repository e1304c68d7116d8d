package ledger_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/transparency-dev/merkle/compact"
)

// tamperedStorage is a MemoryStorage whose reads of tenant acme a test
// alters.
type tamperedStorage struct {
	*ledger.MemoryStorage
	mu        sync.Mutex
	state     func(ledger.State) ledger.State // alters what State returns
	extraLeaf bool                            // a leaf hash is stored beyond the size
}

func (s *tamperedStorage) set(state func(ledger.State) ledger.State, extraLeaf bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state, s.extraLeaf = state, extraLeaf
}

func (s *tamperedStorage) State(ctx context.Context, tenant string) (ledger.State, error) {
	st, err := s.MemoryStorage.State(ctx, tenant)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.state != nil && tenant == "acme" {
		st = s.state(st)
	}
	return st, err
}

func (s *tamperedStorage) Nodes(ctx context.Context, tenant string, ids []compact.NodeID) ([][]byte, error) {
	st, _ := s.MemoryStorage.State(ctx, tenant)
	s.mu.Lock()
	extra := s.extraLeaf
	s.mu.Unlock()
	if extra && tenant == "acme" && len(ids) == 1 && ids[0] == compact.NewNodeID(0, st.Size) {
		return [][]byte{bytes.Repeat([]byte{7}, 32)}, nil
	}
	return s.MemoryStorage.Nodes(ctx, tenant, ids)
}

// errorLog counts the error records of a logger.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errorLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		l.mu.Lock()
		l.msgs = append(l.msgs, r.Message)
		l.mu.Unlock()
	}
	return nil
}
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }
func (l *errorLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

// TestIntegrateFailsClosed damages a stored tree in each way the
// integrator checks, and expects the tenant marked broken, neither extended
// nor signed, its error logged once, and nothing of it served.
func TestIntegrateFailsClosed(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, s *tamperedStorage, ev *memEvents)
		reason string
	}{
		{"wiped", func(t *testing.T, s *tamperedStorage, ev *memEvents) { s.Wipe("acme") }, "none is stored"},
		{"root", func(t *testing.T, s *tamperedStorage, ev *memEvents) {
			s.set(func(st ledger.State) ledger.State { st.Root = bytes.Repeat([]byte{1}, 32); return st }, false)
		}, "do not build the stored root of size 20"},
		{"old checkpoint", func(t *testing.T, s *tamperedStorage, ev *memEvents) {
			old, err := s.Checkpoint(context.Background(), "acme", 14)
			if err != nil {
				t.Fatal(err)
			}
			s.set(func(st ledger.State) ledger.State { st.Checkpoint = old; return st }, false)
		}, "latest checkpoint (size 14) is not of the stored tree (size 20)"},
		{"signature", func(t *testing.T, s *tamperedStorage, ev *memEvents) {
			s.set(func(st ledger.State) ledger.State {
				c := bytes.Clone(st.Checkpoint)
				i := len(c) - 20 // inside the base64 signature, past the key hash
				if c[i] == 'A' {
					c[i] = 'B'
				} else {
					c[i] = 'A'
				}
				st.Checkpoint = c
				return st
			}, false)
		}, "signature of its latest checkpoint (size 20) does not verify"},
		{"leaf beyond", func(t *testing.T, s *tamperedStorage, ev *memEvents) { s.set(nil, true) }, "beyond the tree's size 20"},
		{"last event", func(t *testing.T, s *tamperedStorage, ev *memEvents) {
			ev.mu.Lock()
			ev.events["acme"][19].Action = "environment.delete"
			ev.mu.Unlock()
		}, "event of seq 20 does not match its leaf hash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ev := newMemEvents()
			ev.add("acme", 20)
			ev.add("globex", 5)
			sgn, vkey := newKeys(t)
			v, err := ledger.NewVerifier(vkey)
			if err != nil {
				t.Fatal(err)
			}
			s := &tamperedStorage{MemoryStorage: ledger.NewMemoryStorage()}
			logs := &errorLog{}
			cfg := ledger.IntegratorConfig{Storage: s, Events: ev, Signer: sgn, Verifier: v, MaxBatch: 7, Logger: slog.New(logs)}
			for _, tenant := range []string{"acme", "globex"} {
				if _, err := ledger.NewIntegrator(cfg).Integrate(ctx, tenant); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := s.MemoryStorage.State(ctx, "acme")
			tc.damage(t, s, ev)
			ev.add("acme", 3)

			in := ledger.NewIntegrator(cfg) // a restart: nothing cached
			for range 3 {
				size, err := in.Integrate(ctx, "acme")
				if auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN || auditkeep.ErrorField(err) != "ledger" ||
					!strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), "auditkeep ledger rebuild --tenant acme") {
					t.Fatalf("Integrate(acme) = %d, %v; want %s naming %q and the rebuild", size, err, auditkeep.ELEDGERBROKEN, tc.reason)
				}
			}
			if n := logs.count(); n != 1 {
				t.Errorf("%d errors logged for 3 attempts; want 1 (%q)", n, logs.msgs)
			}
			after, _ := s.MemoryStorage.State(ctx, "acme")
			if after.Size != before.Size && tc.name != "wiped" || tc.name == "wiped" && after.Size != 0 || !strings.Contains(after.Broken, tc.reason) {
				t.Errorf("State(acme) after = size %d, broken %q; want size %d unchanged (nothing signed), broken", after.Size, after.Broken, before.Size)
			}
			broken, err := s.BrokenTenants(ctx)
			if err != nil || len(broken) != 1 || !strings.Contains(broken["acme"], tc.reason) {
				t.Errorf("BrokenTenants() = %v, %v; want acme alone", broken, err)
			}
			if _, err := ledger.NewLog(s).Latest(ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN {
				t.Errorf("Latest(acme) error = %v; want %s", err, auditkeep.ELEDGERBROKEN)
			}
			if _, err := ledger.NewLog(s).InclusionProof(ctx, "acme", 1, 0); auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN {
				t.Errorf("InclusionProof(acme) error = %v; want %s", err, auditkeep.ELEDGERBROKEN)
			}
			// Other tenants go on.
			ev.add("globex", 2)
			if size, err := in.Integrate(ctx, "globex"); err != nil || size != 7 {
				t.Errorf("Integrate(globex) = %d, %v; want 7, nil", size, err)
			}
		})
	}
}

// TestIntegrateChecksWhatItCached alters the stored state under a running
// integrator: the next step checks the tree again instead of trusting its
// cache.
func TestIntegrateChecksWhatItCached(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	ev.add("acme", 10)
	sgn, _ := newKeys(t)
	s := &tamperedStorage{MemoryStorage: ledger.NewMemoryStorage()}
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: s, Events: ev, Signer: sgn, Logger: slog.New(&errorLog{})})
	if _, err := in.Integrate(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	s.set(func(st ledger.State) ledger.State { st.Root = bytes.Repeat([]byte{2}, 32); return st }, false)
	ev.add("acme", 1)
	if size, err := in.Integrate(ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN {
		t.Fatalf("Integrate(acme) with its root changed = %d, %v; want %s", size, err, auditkeep.ELEDGERBROKEN)
	}
}

// TestIntegrateHoldsAnotherKeysTree starts an integrator with a new key on
// a tree another key signed: it neither extends nor signs it, and does not
// mark it broken (the data is whole; another node may hold the key); the
// integrator with the old key goes on.
func TestIntegrateHoldsAnotherKeysTree(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	ev.add("acme", 12)
	oldKey, oldV := newKeys(t)
	newKey, newV := newKeys(t)
	verifier := func(vkey string) ledger.Verifier {
		v, err := ledger.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	s := ledger.NewMemoryStorage()
	cfg := ledger.IntegratorConfig{Storage: s, Events: ev, Signer: oldKey, Verifier: verifier(oldV), Logger: slog.New(&errorLog{})}
	if _, err := ledger.NewIntegrator(cfg).Integrate(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	ev.add("acme", 3)
	logs := &errorLog{}
	rotated := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: s, Events: ev, Signer: newKey, Verifier: verifier(newV), Logger: slog.New(logs)})
	for range 2 {
		if size, err := rotated.Integrate(ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN || !strings.Contains(err.Error(), "signed by another key") {
			t.Fatalf("Integrate(acme) with another key = %d, %v; want %s: signed by another key", size, err, auditkeep.ELEDGERBROKEN)
		}
	}
	if held := rotated.Held(); len(held) != 1 || !strings.Contains(held["acme"], "another key") {
		t.Errorf("Held() = %v; want acme", held)
	}
	if n := logs.count(); n != 1 {
		t.Errorf("%d errors logged; want 1", n)
	}
	st, _ := s.State(ctx, "acme")
	if broken, _ := s.BrokenTenants(ctx); st.Size != 12 || st.Broken != "" || len(broken) != 0 {
		t.Errorf("State(acme) = size %d broken %q, BrokenTenants %v; want size 12, not broken", st.Size, st.Broken, broken)
	}
	if _, err := ledger.VerifyCheckpoint(st.Checkpoint, oldV); err != nil {
		t.Errorf("latest checkpoint: %v; want the old key's", err)
	}
	// With the old key configured again, integration goes on.
	if size, err := ledger.NewIntegrator(cfg).Integrate(ctx, "acme"); err != nil || size != 15 {
		t.Errorf("Integrate(acme) with the old key = %d, %v; want 15, nil", size, err)
	}
}

// TestRebuild rebuilds a wiped tree from the stored events, with the record
// of the rebuild integrated; a log with a seq missing is not rebuilt.
func TestRebuild(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	ev.add("acme", 20)
	sgn, vkey := newKeys(t)
	s := ledger.NewMemoryStorage()
	cfg := ledger.IntegratorConfig{Storage: s, Events: ev, Signer: sgn, MaxBatch: 6, Logger: slog.New(&errorLog{})}
	in := ledger.NewIntegrator(cfg)
	if _, err := in.Integrate(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	s.Wipe("acme")
	ev.add("acme", 3)
	if _, err := in.Integrate(ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN {
		t.Fatalf("Integrate(wiped) = %v; want %s", err, auditkeep.ELEDGERBROKEN)
	}
	var recorded int64
	size, err := in.Rebuild(ctx, "acme", func(ctx context.Context, n int64) error {
		recorded = n
		ev.add("acme", 1) // the record
		return nil
	})
	if err != nil || size != 24 || recorded != 23 {
		t.Fatalf("Rebuild(acme) = %d, %v (record told %d events); want 24, nil (23)", size, err, recorded)
	}
	st, _ := s.State(ctx, "acme")
	cp, err := ledger.VerifyCheckpoint(st.Checkpoint, vkey)
	if err != nil || cp.Size != 24 || st.Broken != "" || !st.Started {
		t.Errorf("after Rebuild: checkpoint %+v, %v, broken %q, started %v; want size 24 signed, not broken", cp, err, st.Broken, st.Started)
	}
	if want := referenceRoot(leafHashes(t, ev.events["acme"])); !bytes.Equal(st.Root, want) {
		t.Errorf("root after Rebuild = %x; want %x", st.Root, want)
	}
	ev.add("acme", 2)
	if size, err := ledger.NewIntegrator(cfg).Integrate(ctx, "acme"); err != nil || size != 26 {
		t.Errorf("Integrate after Rebuild = %d, %v; want 26", size, err)
	}

	// A seq missing: nothing changes, nothing is recorded.
	ev.mu.Lock()
	ev.events["acme"] = append(ev.events["acme"][:4], ev.events["acme"][5:]...)
	ev.mu.Unlock()
	called := false
	if _, err := in.Rebuild(ctx, "acme", func(context.Context, int64) error { called = true; return nil }); auditkeep.ErrorCode(err) != auditkeep.ECONFLICT || !strings.Contains(err.Error(), "seq 5 is not stored") || called {
		t.Errorf("Rebuild(seq 5 missing) = %v, recorded %v; want %s naming seq 5, no record", err, called, auditkeep.ECONFLICT)
	}
	if after, _ := s.State(ctx, "acme"); after.Size != 26 {
		t.Errorf("State after a refused Rebuild = size %d; want 26", after.Size)
	}
}
