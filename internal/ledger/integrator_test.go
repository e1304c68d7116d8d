package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
)

func leafHashes(t testing.TB, evs []*auditkeep.Event) [][]byte {
	t.Helper()
	var out [][]byte
	for _, e := range evs {
		h, err := ledger.LeafHash(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

func TestIntegrateBatchesAndResumes(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	all := ev.add("acme", 100)
	s, vkey := newKeys(t)
	st := ledger.NewMemoryStorage()
	cfg := ledger.IntegratorConfig{Storage: st, Events: ev, Signer: s, MaxBatch: 7}
	size, err := ledger.NewIntegrator(cfg).Integrate(ctx, "acme")
	if err != nil || size != 100 {
		t.Fatalf("Integrate() = %d, %v; want 100, nil", size, err)
	}
	// A new integrator (empty cache) resumes from the stored nodes.
	all = append(all, ev.add("acme", 37)...)
	in := ledger.NewIntegrator(cfg)
	if size, err := in.Integrate(ctx, "acme"); err != nil || size != 137 {
		t.Fatalf("Integrate() after 37 more = %d, %v; want 137, nil", size, err)
	}
	state, err := st.State(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	leaves := leafHashes(t, all)
	if want := referenceRoot(leaves); state.Size != 137 || !bytes.Equal(state.Root, want) {
		t.Errorf("State() = size %d root %x; want 137 %x", state.Size, state.Root, want)
	}
	cp, err := ledger.VerifyCheckpoint(state.Checkpoint, vkey)
	if err != nil || cp.Size != 137 || !bytes.Equal(cp.Root, state.Root) {
		t.Errorf("VerifyCheckpoint(latest) = %+v, %v; want size 137 and the state's root", cp, err)
	}
	stored, err := st.LeafHashes(ctx, "acme", 0, 137)
	if err != nil || len(stored) != 137 {
		t.Fatalf("LeafHashes(0, 137) = %d hashes, %v", len(stored), err)
	}
	for i := range stored {
		if !bytes.Equal(stored[i], leaves[i]) {
			t.Fatalf("LeafHashes()[%d] = %x; want %x", i, stored[i], leaves[i])
		}
	}
	// Steps of 7: checkpoints at 7, 14, …, 98, 100, then 107, …
	for _, size := range []uint64{7, 98, 100, 107, 135, 137} {
		if _, err := st.Checkpoint(ctx, "acme", size); err != nil {
			t.Errorf("Checkpoint(%d) = %v; want one stored", size, err)
		}
	}
	if _, err := st.Checkpoint(ctx, "acme", 99); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Checkpoint(99) error = %v; want %s (no step ended there)", err, auditkeep.ENOTFOUND)
	}
	if got := in.Stats(); got.Steps != 6 || got.Leaves != 37 || got.Errors != 0 {
		t.Errorf("Stats() = %+v; want 6 steps, 37 leaves, no error", got)
	}
	// Proofs need only the stored nodes, whatever sizes the steps ended at.
	l := ledger.NewLog(st)
	for _, m := range []uint64{1, 13, 64, 99, 100, 136} {
		p, err := l.ConsistencyProof(ctx, "acme", m, 137)
		if err != nil || ledger.VerifyConsistency(m, 137, p, referenceRoot(leaves[:m]), state.Root) != nil {
			t.Errorf("ConsistencyProof(%d, 137) = %x, %v; want a proof that verifies", m, p, err)
		}
		ts := max(m, 99+m%3)
		p, err = l.InclusionProof(ctx, "acme", int64(m), ts)
		if err != nil || ledger.VerifyInclusion(leaves[m-1], int64(m), ts, p, referenceRoot(leaves[:ts])) != nil {
			t.Errorf("InclusionProof(%d, %d) = %x, %v; want a proof that verifies", m, ts, p, err)
		}
	}
	// Nothing new: nothing stored.
	if size, err := in.Integrate(ctx, "acme"); err != nil || size != 137 || in.Stats().Steps != 6 {
		t.Errorf("Integrate() with nothing new = %d, %v, %d steps; want 137, nil, 6", size, err, in.Stats().Steps)
	}
}

func TestIntegrateStopsAtGap(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	ev.add("acme", 5)
	ev.events["acme"] = append(ev.events["acme"][:3], ev.events["acme"][4]) // seqs 1, 2, 3, 5
	s, _ := newKeys(t)
	st := ledger.NewMemoryStorage()
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: st, Events: ev, Signer: s})
	size, err := in.Integrate(ctx, "acme")
	var gap *ledger.GapError
	if !errors.As(err, &gap) || size != 3 || gap.Size != 3 || gap.Got != 5 || gap.Tenant != "acme" {
		t.Fatalf("Integrate(1,2,3,5) = %d, %v; want 3 and a gap after 3 at 5", size, err)
	}
	if state, _ := st.State(ctx, "acme"); state.Size != 3 {
		t.Errorf("State().Size after gap = %d; want 3", state.Size)
	}
	if got := in.Stats(); got.Errors != 1 || got.LastError == "" {
		t.Errorf("Stats() after gap = %+v; want 1 error", got)
	}
	// Once the missing event shows up, integration goes on.
	ev.events["acme"] = []*auditkeep.Event{sampleEvent("acme", 1), sampleEvent("acme", 2), sampleEvent("acme", 3), sampleEvent("acme", 4), sampleEvent("acme", 5)}
	if size, err := in.Integrate(ctx, "acme"); err != nil || size != 5 {
		t.Errorf("Integrate() after the gap is filled = %d, %v; want 5, nil", size, err)
	}
	// A repeated seq is a gap too.
	ev.add("acme", 1)
	ev.events["acme"] = append(ev.events["acme"], sampleEvent("acme", 6))
	if size, err := in.Integrate(ctx, "acme"); !errors.As(err, &gap) || size != 6 || gap.Got != 0 {
		t.Errorf("Integrate(…, 6, 6) = %d, %v; want 6 and a gap", size, err)
	}
}

func TestIntegrateBadEvent(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	ev.add("acme", 4)
	ev.events["acme"][2].Metadata = json.RawMessage(`{"n": 1e999}`)
	st, _ := newKeys(t)
	storage := ledger.NewMemoryStorage()
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: storage, Events: ev, Signer: st})
	if size, err := in.Integrate(ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.EINVALID || size != 0 {
		t.Errorf("Integrate(event 3 unencodable) = %d, %v; want 0, %s", size, err, auditkeep.EINVALID)
	}
	if state, _ := storage.State(ctx, "acme"); state.Size != 0 {
		t.Errorf("State().Size = %d; want 0: a failed step stores nothing", state.Size)
	}
}

func TestIntegrateSkipsLockedTenant(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	ev.add("acme", 3)
	s, _ := newKeys(t)
	st := ledger.NewMemoryStorage()
	release, ok, err := st.TryLock(ctx, "acme")
	if err != nil || !ok {
		t.Fatalf("TryLock() = %v, %v", ok, err)
	}
	if _, ok, _ := st.TryLock(ctx, "acme"); ok {
		t.Fatal("TryLock() while held = true; want false")
	}
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: st, Events: ev, Signer: s})
	if size, err := in.Integrate(ctx, "acme"); err != nil || size != 0 {
		t.Errorf("Integrate() while locked elsewhere = %d, %v; want 0, nil", size, err)
	}
	release()
	release()
	if size, err := in.Integrate(ctx, "acme"); err != nil || size != 3 {
		t.Errorf("Integrate() after release = %d, %v; want 3, nil", size, err)
	}
}

func TestMemoryStorageIntegrateConflict(t *testing.T) {
	ctx := context.Background()
	st := ledger.NewMemoryStorage()
	h := make([]byte, 32)
	if err := st.Integrate(ctx, "acme", &ledger.Update{OldSize: 1, NewSize: 2, Leaves: [][]byte{h}}); auditkeep.ErrorCode(err) != auditkeep.ECONFLICT {
		t.Errorf("Integrate(from 1 on an empty tree) = %v; want %s", err, auditkeep.ECONFLICT)
	}
	if err := st.Integrate(ctx, "acme", &ledger.Update{OldSize: 0, NewSize: 2, Leaves: [][]byte{h}}); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("Integrate(2 leaves announced, 1 given) = %v; want %s", err, auditkeep.EINVALID)
	}
	if _, err := st.Nodes(ctx, "acme", nil); err != nil {
		t.Errorf("Nodes(none) = %v; want nil", err)
	}
	if _, err := st.LeafHashes(ctx, "acme", 0, 1); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("LeafHashes(0, 1) on an empty tree = %v; want %s", err, auditkeep.ENOTFOUND)
	}
}

// TestIntegratorsConcurrent runs several integrators (nodes) on one storage
// while events are appended; the lock keeps them from conflicting.
func TestIntegratorsConcurrent(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	s, _ := newKeys(t)
	st := ledger.NewMemoryStorage()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	done := make(chan struct{})
	for range 3 {
		in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: st, Events: ev, Signer: s, MaxBatch: 5})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := in.Integrate(ctx, "acme"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var all []*auditkeep.Event
	for range 50 {
		all = append(all, ev.add("acme", 3)...)
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Integrate() from a concurrent integrator = %v", err)
	}
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: st, Events: ev, Signer: s})
	if size, err := in.Integrate(ctx, "acme"); err != nil || size != 150 {
		t.Fatalf("final Integrate() = %d, %v; want 150", size, err)
	}
	state, _ := st.State(ctx, "acme")
	if want := referenceRoot(leafHashes(t, all)); !bytes.Equal(state.Root, want) {
		t.Errorf("root after concurrent integration = %x; want %x", state.Root, want)
	}
}

// TestIntegratorRuns checks Open, Notify, the interval fallback, Observe
// and Close.
func TestIntegratorRuns(t *testing.T) {
	ctx := context.Background()
	ev := newMemEvents()
	ev.addAt("early", 4, time.Now()) // integrated at Open
	s, _ := newKeys(t)
	st := ledger.NewMemoryStorage()
	steps := make(chan ledger.Step, 100)
	in := ledger.NewIntegrator(ledger.IntegratorConfig{
		Storage: st, Events: ev, Signer: s, Interval: 20 * time.Millisecond,
		Observe: func(s ledger.Step) { steps <- s },
	})
	if err := in.Open(); err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	waitSize := func(tenant string, size uint64) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case s := <-steps:
				if s.Tenant == tenant && s.NewSize == size {
					if s.Lag < 0 || s.OldSize >= s.NewSize {
						t.Errorf("Step = %+v; want a positive lag and growth", s)
					}
					return
				}
			case <-deadline:
				t.Fatalf("tenant %s never reached size %d", tenant, size)
			}
		}
	}
	waitSize("early", 4)
	ev.addAt("acme", 10, time.Now())
	in.Notify("acme")
	waitSize("acme", 10)
	ev.addAt("acme", 5, time.Now()) // no Notify: the interval finds it
	waitSize("acme", 15)
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if state, _ := st.State(ctx, "acme"); state.Size != 15 {
		t.Errorf("State(acme).Size = %d; want 15", state.Size)
	}
	if err := ledger.NewIntegrator(ledger.IntegratorConfig{}).Open(); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("Open() without storage = %v; want %s", err, auditkeep.EINVALID)
	}
}

func TestIntegratorCoalesces(t *testing.T) {
	ev := newMemEvents()
	ev.addAt("early", 1, time.Now()) // integrated at Open, before the commits below
	s, _ := newKeys(t)
	steps := make(chan ledger.Step, 100)
	in := ledger.NewIntegrator(ledger.IntegratorConfig{
		Storage: ledger.NewMemoryStorage(), Events: ev, Signer: s,
		Interval: time.Hour, Coalesce: 3 * time.Second,
		Observe: func(s ledger.Step) { steps <- s },
	})
	if err := in.Open(); err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if s := <-steps; s.Tenant != "early" {
		t.Fatalf("first step = %+v; want the catch-up of early", s)
	}
	// Five commits a little apart, well within one coalescing period: one
	// step integrates them all. Integrating at each Notify would store a
	// step of size 1 first.
	for range 5 {
		ev.addAt("acme", 1, time.Now())
		in.Notify("acme")
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case s := <-steps:
		if s.Tenant != "acme" || s.OldSize != 0 || s.NewSize != 5 {
			t.Errorf("first step = %+v; want acme 0 → 5 in one step", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no integration step")
	}
}
