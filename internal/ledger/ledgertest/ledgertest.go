// Package ledgertest is the conformance suite of a store's ledger storage
// (ledger.Storage and ledger.Events): integration through the real
// Integrator, proofs checked with the library's verifiers, history,
// conflicts and the integrator lock.
//
//	func TestLedger(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T) (auditkeep.Store, ledgertest.Ledger) { … })
//	}
//
// open must return a new, empty store and its ledger storage each time.
package ledgertest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/auditkeep/auditkeep/internal/storetest"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Ledger is what a store provides to the ledger.
type Ledger interface {
	ledger.Storage
	ledger.Events
}

// Run runs every subtest against ledgers made by open.
func Run(t *testing.T, open func(t *testing.T) (auditkeep.Store, Ledger)) {
	t.Run("IntegrateAndProve", func(t *testing.T) { testIntegrate(t, open) })
	t.Run("Conflict", func(t *testing.T) { testConflict(t, open) })
	t.Run("Lock", func(t *testing.T) { testLock(t, open) })
	t.Run("Broken", func(t *testing.T) { testBroken(t, open) })
}

func signer(t *testing.T) (ledger.Signer, string) {
	t.Helper()
	skey, vkey, err := ledger.GenerateKey("test.example")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

func setup(t *testing.T, s auditkeep.Store, tenant string) []*auditkeep.Event {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: tenant, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	events := storetest.Fixture(tenant)
	for i := 0; i < len(events); i += 7 {
		if err := s.Append(ctx, events[i:min(i+7, len(events))]); err != nil {
			t.Fatal(err)
		}
	}
	return events
}

func testIntegrate(t *testing.T, open func(t *testing.T) (auditkeep.Store, Ledger)) {
	ctx := context.Background()
	s, l := open(t)
	events := setup(t, s, "acme")
	setup(t, s, "globex")
	n := uint64(len(events))

	tenants, err := l.Tenants(ctx)
	if err != nil || len(tenants) != 2 {
		t.Fatalf("Tenants() = %v, %v; want [acme globex]", tenants, err)
	}
	sgn, vkey := signer(t)
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: l, Events: l, Signer: sgn, MaxBatch: 10})
	size, err := in.Integrate(ctx, "acme")
	if err != nil || size != n {
		t.Fatalf("Integrate(acme) = %d, %v; want %d, nil", size, err, n)
	}
	if tenants, err := l.Tenants(ctx); err != nil || len(tenants) != 1 || tenants[0] != "globex" {
		t.Fatalf("Tenants() after integrating acme = %v, %v; want [globex]", tenants, err)
	}

	// The same events in the reference storage give the same tree.
	mem := ledger.NewMemoryStorage()
	ref := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: mem, Events: l, Signer: sgn, MaxBatch: 10})
	if _, err := ref.Integrate(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	st, err := l.State(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := mem.State(ctx, "acme")
	if st.Size != n || !bytes.Equal(st.Root, want.Root) {
		t.Fatalf("State(acme) = size %d root %x; want size %d root %x", st.Size, st.Root, n, want.Root)
	}
	cp, err := ledger.VerifyCheckpoint(st.Checkpoint, vkey)
	if err != nil || cp.Size != n || !bytes.Equal(cp.Root, st.Root) {
		t.Fatalf("VerifyCheckpoint(state) = %+v, %v; want size %d, the state's root", cp, err, n)
	}

	// Leaf hashes are those of the events as the store returns them.
	leaves, err := l.LeafHashes(ctx, "acme", 0, n)
	if err != nil || uint64(len(leaves)) != n {
		t.Fatalf("LeafHashes(0, %d) = %d hashes, %v", n, len(leaves), err)
	}
	log := ledger.NewLog(l)
	for i, e := range events {
		got, err := s.GetEvent(ctx, "acme", e.ID)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ledger.LeafHash(got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h, leaves[i]) {
			t.Fatalf("leaf %d = %x; want LeafHash(GetEvent(%s)) = %x", i+1, leaves[i], e.ID, h)
		}
		for _, size := range []uint64{0, uint64(got.Seq), n} {
			p, err := log.InclusionProof(ctx, "acme", got.Seq, size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", got.Seq, size, err)
			}
			root := st.Root
			if size != 0 && size != n {
				root = rootOf(t, leaves[:size])
			} else {
				size = n
			}
			if err := ledger.VerifyInclusion(h, got.Seq, size, p, root); err != nil {
				t.Fatalf("VerifyInclusion(seq %d, size %d): %v", got.Seq, size, err)
			}
		}
	}
	nodes, err := l.Nodes(ctx, "acme", []compact.NodeID{compact.NewNodeID(0, 2), compact.NewNodeID(1, 0), compact.NewNodeID(0, n)})
	if auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Nodes(leaf %d, beyond the tree) = %d, %v; want ENOTFOUND", n, len(nodes), err)
	}
	if _, err := l.LeafHashes(ctx, "acme", 0, n+1); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("LeafHashes(0, %d) error = %v; want ENOTFOUND", n+1, err)
	}
	if _, err := l.LeafHashes(ctx, "acme", 3, 2); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("LeafHashes(3, 2) error = %v; want EINVALID", err)
	}

	// History: a checkpoint per step of MaxBatch, consistent with the latest.
	for size := uint64(10); size < n; size += 10 {
		text, err := l.Checkpoint(ctx, "acme", size)
		if err != nil {
			t.Fatalf("Checkpoint(%d): %v", size, err)
		}
		old, err := ledger.VerifyCheckpoint(text, vkey)
		if err != nil || old.Size != size {
			t.Fatalf("Checkpoint(%d) = %+v, %v", size, old, err)
		}
		p, err := log.ConsistencyProof(ctx, "acme", size, n)
		if err != nil {
			t.Fatal(err)
		}
		if v := ledger.CompareCheckpoints(old, cp, p); !v.OK {
			t.Fatalf("CompareCheckpoints(%d, %d) = %v", size, n, v)
		}
	}
	if _, err := l.Checkpoint(ctx, "acme", 15); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Checkpoint(15) error = %v; want ENOTFOUND (no step ended there)", err)
	}
	var steps []uint64
	for size := uint64(10); size < n; size += 10 {
		steps = append(steps, size)
	}
	steps = append(steps, n)
	for _, tc := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 0, steps},
		{0, 2, steps[:2]},
		{10, 2, steps[1:3]},
		{15, 0, steps[1:]},
		{n, 0, nil},
	} {
		got, err := l.CheckpointSizes(ctx, "acme", tc.after, tc.limit)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("CheckpointSizes(acme, %d, %d) = %v, %v; want %v", tc.after, tc.limit, got, err, tc.want)
		}
	}
	if got, err := l.CheckpointSizes(ctx, "globex", 0, 0); err != nil || len(got) != 0 {
		t.Errorf("CheckpointSizes(globex) = %v, %v; want none (not integrated)", got, err)
	}

	// New events are integrated after the stored ones.
	more := storetest.Fixture("acme")[:3]
	for i, e := range more {
		e.ID += "-more"
		e.Seq = int64(i)
	}
	if err := s.Append(ctx, more); err != nil {
		t.Fatal(err)
	}
	in2 := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: l, Events: l, Signer: sgn}) // a fresh node: no cache
	if size, err := in2.Integrate(ctx, "acme"); err != nil || size != n+3 {
		t.Fatalf("Integrate after 3 more = %d, %v; want %d", size, err, n+3)
	}

	// The bundle verifies offline.
	var buf bytes.Buffer
	if _, err := ledger.WriteBundle(ctx, &buf, l, l, "acme"); err != nil {
		t.Fatal(err)
	}
	if v, err := ledger.VerifyBundle(&buf, vkey); err != nil || !v.OK || v.Size != n+3 {
		t.Fatalf("VerifyBundle() = %v, %v; want OK of size %d", v, err, n+3)
	}
	// Other tenants are untouched.
	if st, err := l.State(ctx, "globex"); err != nil || st.Size != 0 {
		t.Fatalf("State(globex) = %+v, %v; want size 0", st, err)
	}
}

func rootOf(t *testing.T, leaves [][]byte) []byte {
	t.Helper()
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, h := range leaves {
		if err := r.Append(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func testConflict(t *testing.T, open func(t *testing.T) (auditkeep.Store, Ledger)) {
	ctx := context.Background()
	s, l := open(t)
	setup(t, s, "acme")
	sgn, _ := signer(t)
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: l, Events: l, Signer: sgn, MaxBatch: 5})
	if _, err := in.Integrate(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	st, _ := l.State(ctx, "acme")
	h := bytes.Repeat([]byte{1}, 32)
	u := &ledger.Update{OldSize: st.Size - 1, NewSize: st.Size, Leaves: [][]byte{h}, Root: h, Checkpoint: []byte("x")}
	if err := l.Integrate(ctx, "acme", u); auditkeep.ErrorCode(err) != auditkeep.ECONFLICT {
		t.Errorf("Integrate(OldSize %d, stored size %d) = %v; want ECONFLICT", u.OldSize, st.Size, err)
	}
	u = &ledger.Update{OldSize: st.Size, NewSize: st.Size + 2, Leaves: [][]byte{h}, Root: h, Checkpoint: []byte("x")}
	if err := l.Integrate(ctx, "acme", u); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("Integrate(2 new, 1 leaf) = %v; want EINVALID", err)
	}
	if after, _ := l.State(ctx, "acme"); after.Size != st.Size || !bytes.Equal(after.Root, st.Root) {
		t.Errorf("State after refused updates = %d %x; want %d %x", after.Size, after.Root, st.Size, st.Root)
	}
}

func testLock(t *testing.T, open func(t *testing.T) (auditkeep.Store, Ledger)) {
	ctx := context.Background()
	_, l := open(t)
	release, ok, err := l.TryLock(ctx, "acme")
	if err != nil || !ok {
		t.Fatalf("TryLock(acme) = %v, %v; want true, nil", ok, err)
	}
	if _, ok, err := l.TryLock(ctx, "acme"); err != nil || ok {
		t.Fatalf("TryLock(acme) while held = %v, %v; want false, nil", ok, err)
	}
	rel2, ok, err := l.TryLock(ctx, "globex")
	if err != nil || !ok {
		t.Fatalf("TryLock(globex) = %v, %v; want true (locks are per tenant)", ok, err)
	}
	rel2()
	release()
	release() // twice is fine
	rel3, ok, err := l.TryLock(ctx, "acme")
	if err != nil || !ok {
		t.Fatalf("TryLock(acme) after release = %v, %v; want true", ok, err)
	}
	rel3()
}

func testBroken(t *testing.T, open func(t *testing.T) (auditkeep.Store, Ledger)) {
	ctx := context.Background()
	s, l := open(t)
	events := setup(t, s, "acme")
	setup(t, s, "globex")
	if st, err := l.State(ctx, "acme"); err != nil || st.Started || st.Broken != "" {
		t.Fatalf("State(acme) before any step = %+v, %v; want not started, not broken", st, err)
	}
	if st, err := l.State(ctx, "nobody"); err != nil || st.Size != 0 || st.Started || st.Broken != "" {
		t.Fatalf("State(unknown tenant) = %+v, %v; want the zero state", st, err)
	}
	sgn, _ := signer(t)
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: l, Events: l, Signer: sgn})
	if _, err := in.Integrate(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if st, err := l.State(ctx, "acme"); err != nil || !st.Started || st.Size != uint64(len(events)) {
		t.Fatalf("State(acme) after a step = %+v, %v; want started", st, err)
	}
	if broken, err := l.BrokenTenants(ctx); err != nil || broken == nil || len(broken) != 0 {
		t.Fatalf("BrokenTenants() = %#v, %v; want an empty map", broken, err)
	}
	if err := l.MarkBroken(ctx, "acme", "first reason"); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkBroken(ctx, "acme", "second reason"); err != nil {
		t.Fatal(err)
	}
	st, err := l.State(ctx, "acme")
	if err != nil || st.Broken != "first reason" || !st.Started || st.Size != uint64(len(events)) {
		t.Fatalf("State(acme) after MarkBroken = %+v, %v; want broken for the first reason, the tree kept", st, err)
	}
	if broken, err := l.BrokenTenants(ctx); err != nil || len(broken) != 1 || broken["acme"] != "first reason" {
		t.Fatalf("BrokenTenants() = %v, %v; want acme: first reason", broken, err)
	}
	if st, _ := l.State(ctx, "globex"); st.Broken != "" {
		t.Errorf("State(globex) = broken %q; want only acme broken", st.Broken)
	}
	// A broken tenant with new events is not listed for integration, and
	// the integrator does not extend it.
	more := storetest.Fixture("acme")[:2]
	for i, e := range more {
		e.ID += "-more"
		e.Seq = int64(i)
	}
	if err := s.Append(ctx, more); err != nil {
		t.Fatal(err)
	}
	tenants, err := l.Tenants(ctx)
	if err != nil || len(tenants) != 1 || tenants[0] != "globex" {
		t.Errorf("Tenants() with acme broken = %v, %v; want [globex]", tenants, err)
	}
	if size, err := in.Integrate(ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN || size != uint64(len(events)) {
		t.Errorf("Integrate(broken acme) = %d, %v; want %d, %s", size, err, len(events), auditkeep.ELEDGERBROKEN)
	}

	// Reset deletes the tree and the marks; the tree is then built anew.
	if _, err := in.Integrate(ctx, "globex"); err != nil {
		t.Fatal(err)
	}
	globex, _ := l.State(ctx, "globex")
	if err := l.Reset(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if st, err := l.State(ctx, "acme"); err != nil || st.Size != 0 || st.Root != nil || st.Checkpoint != nil || st.Started || st.Broken != "" {
		t.Fatalf("State(acme) after Reset = %+v, %v; want the zero state", st, err)
	}
	if _, err := l.Nodes(ctx, "acme", []compact.NodeID{compact.NewNodeID(0, 0)}); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Nodes(leaf 0) after Reset = %v; want ENOTFOUND", err)
	}
	if _, err := l.Checkpoint(ctx, "acme", uint64(len(events))); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Checkpoint(%d) after Reset = %v; want ENOTFOUND", len(events), err)
	}
	if broken, err := l.BrokenTenants(ctx); err != nil || len(broken) != 0 {
		t.Errorf("BrokenTenants() after Reset = %v, %v; want none", broken, err)
	}
	if st, _ := l.State(ctx, "globex"); st.Size != globex.Size || !bytes.Equal(st.Root, globex.Root) {
		t.Errorf("State(globex) after Reset(acme) = size %d; want %d, untouched", st.Size, globex.Size)
	}
	fresh := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: l, Events: l, Signer: sgn, MaxBatch: 9})
	if size, err := fresh.Integrate(ctx, "acme"); err != nil || size != uint64(len(events))+2 {
		t.Errorf("Integrate(acme) after Reset = %d, %v; want %d", size, err, len(events)+2)
	}
	if leaves, err := l.LeafHashes(ctx, "acme", 0, uint64(len(events))+2); err != nil || len(leaves) != len(events)+2 {
		t.Errorf("LeafHashes after the new tree = %d, %v", len(leaves), err)
	}
}
