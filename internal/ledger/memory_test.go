package ledger_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
)

// countingEvents counts the events an integrator reads from the store.
type countingEvents struct {
	*memEvents
	read atomic.Int64
}

func (c *countingEvents) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	return c.memEvents.ScanEvents(ctx, tenant, f, func(e *auditkeep.Event) error {
		c.read.Add(1)
		return fn(e)
	})
}

// TestIntegrateFromMemory: events handed over by Committed are hashed from
// memory when they continue the tree; anything else (another node's seqs,
// a buffer that overflowed) is read from the store, and the tree is the
// same either way.
func TestIntegrateFromMemory(t *testing.T) {
	ctx := context.Background()
	ev := &countingEvents{memEvents: newMemEvents()}
	s, _ := newKeys(t)
	st := ledger.NewMemoryStorage()
	var buffered int
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: st, Events: ev, Signer: s, MaxBuffered: 30,
		Observe: func(s ledger.Step) { buffered += s.Buffered }})
	check := func(wantSize uint64, wantRead int64, wantBuffered int) {
		t.Helper()
		ev.read.Store(0)
		buffered = 0
		size, err := in.Integrate(ctx, "acme")
		if err != nil || size != wantSize {
			t.Fatalf("Integrate() = %d, %v; want %d, nil", size, err, wantSize)
		}
		if got := ev.read.Load(); got != wantRead || buffered != wantBuffered {
			t.Errorf("Integrate() to %d read %d events from the store and %d from memory; want %d and %d", wantSize, got, buffered, wantRead, wantBuffered)
		}
		state, err := st.State(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceRoot(leafHashes(t, ev.events["acme"][:wantSize])); !bytes.Equal(state.Root, want) {
			t.Fatalf("root at size %d = %x; want %x", wantSize, state.Root, want)
		}
	}

	// This node's commits continue the tree: nothing is read back.
	in.Committed(ev.add("acme", 20))
	check(20, 0, 20)
	// Already integrated events handed over again are dropped, not re-added.
	in.Committed(ev.events["acme"][10:20])
	check(20, 0, 0)
	// Another node committed 21..25, this one 26..40: all read from the store.
	ev.add("acme", 5)
	in.Committed(ev.add("acme", 15))
	check(40, 20, 0)
	// The buffer went on from 26..40; 41..45 continue it and come from memory.
	in.Committed(ev.add("acme", 5))
	check(45, 0, 5)
	// 60 more than the buffer holds: the oldest were dropped, so the store
	// is read.
	in.Committed(ev.add("acme", 60))
	check(105, 60, 0)
	// Another tenant's events are kept apart.
	in.Committed(ev.add("globex", 3))
	in.Committed(ev.add("acme", 2))
	check(107, 0, 2)
	if size, err := in.Integrate(ctx, "globex"); err != nil || size != 3 {
		t.Fatalf("Integrate(globex) = %d, %v; want 3, nil", size, err)
	}
	// Events another node committed after this node's are integrated by
	// the next step, from the store.
	in.Committed(ev.add("acme", 4))
	ev.add("acme", 3)
	check(111, 0, 4)
	check(114, 3, 0)
	// All tenants together keep at most 4 × MaxBuffered events: past that,
	// every buffer is dropped and the store is read.
	in.Committed(ev.add("acme", 25))
	for _, tenant := range []string{"t1", "t2", "t3", "t4"} {
		in.Committed(ev.add(tenant, 25))
	}
	check(139, 25, 0)
}
