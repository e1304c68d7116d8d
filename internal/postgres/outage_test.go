package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/pgtest"
	"github.com/auditkeep/auditkeep/internal/postgres"
)

func batchOf(tenant, prefix string, n int) []*auditkeep.Event {
	var out []*auditkeep.Event
	for i := range n {
		out = append(out, event(tenant, fmt.Sprintf("%s-%d", prefix, i), i))
	}
	return out
}

// TestOutage cuts the database off while the store is in use and restores
// it: calls fail with EUNAVAILABLE meanwhile, no Append reports success for
// a batch that did not commit, and the same store works again afterwards.
func TestOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	direct := newSchema(t)
	proxied, p := pgtest.Through(t, direct)
	s := open(t, proxied, postgres.WithPartitionsAhead(0), quiet)
	check := open(t, direct, postgres.WithPartitionsAhead(0), quiet) // sees the database itself
	createTenant(t, s, "acme")

	if err := s.Append(ctx, batchOf("acme", "before", 5)); err != nil {
		t.Fatalf("Append before the outage: %v", err)
	}

	p.Cut()
	unavailable := func(what string, err error) {
		t.Helper()
		if code := auditkeep.ErrorCode(err); code != auditkeep.EUNAVAILABLE {
			t.Errorf("%s during the outage = %v (%s); want %s", what, err, code, auditkeep.EUNAVAILABLE)
		}
	}
	lost := batchOf("acme", "lost", 5)
	unavailable("Append", s.Append(ctx, lost))
	for _, e := range lost {
		if e.Seq != 0 {
			t.Errorf("event %s of a failed Append has seq %d; want 0", e.ID, e.Seq)
		}
	}
	unavailable("Ping", s.Ping(ctx))
	_, _, err := s.ListEvents(ctx, "acme", auditkeep.Filter{})
	unavailable("ListEvents", err)
	_, err = s.GetEvent(ctx, "acme", "before-1")
	unavailable("GetEvent", err)
	_, err = s.GetTenant(ctx, "acme")
	unavailable("GetTenant", err)
	unavailable("PutSetting", s.PutSetting(ctx, "acme", "x", []byte("y")))

	p.Restore()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after the outage: %v", err)
	}
	after := batchOf("acme", "after", 5)
	if err := s.Append(ctx, after); err != nil {
		t.Fatalf("Append after the outage: %v", err)
	}
	if after[0].Seq != 6 {
		t.Errorf("first seq after the outage = %d; want 6", after[0].Seq)
	}
	for _, e := range lost {
		if _, err := check.GetEvent(ctx, "acme", e.ID); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
			t.Errorf("event %s of the failed Append: GetEvent = %v; want %s", e.ID, err, auditkeep.ENOTFOUND)
		}
	}
}

// TestOutageDuringAppends cuts the connections while appends are in flight,
// several times. Every Append that reported success must be stored, with the
// seqs it reported; failures are EUNAVAILABLE.
func TestOutageDuringAppends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	direct := newSchema(t)
	proxied, p := pgtest.Through(t, direct)
	s := open(t, proxied, postgres.WithPartitionsAhead(0), quiet)
	check := open(t, direct, postgres.WithPartitionsAhead(0), quiet)
	createTenant(t, s, "acme")

	var (
		mu    sync.Mutex
		acked = map[string]int64{} // id → seq
		fails atomic.Int64
		done  atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				batch := batchOf("acme", fmt.Sprintf("w%d-b%d", w, i), 50)
				err := s.Append(ctx, batch)
				done.Add(1)
				if err != nil {
					if code := auditkeep.ErrorCode(err); code != auditkeep.EUNAVAILABLE {
						t.Errorf("Append = %v (%s); want success or %s", err, code, auditkeep.EUNAVAILABLE)
					}
					fails.Add(1)
					continue
				}
				mu.Lock()
				for _, e := range batch {
					acked[e.ID] = e.Seq
				}
				mu.Unlock()
			}
		})
	}
	// Cut after some appends have completed, and restore after some have
	// completed during the cut, a few times.
	poll := func(cond func() bool) {
		for !cond() {
			time.Sleep(time.Millisecond)
		}
	}
	waitFor := func(n int64) { poll(func() bool { return done.Load() >= n }) }
	for range 4 {
		waitFor(done.Load() + 3)
		p.Cut()
		before := fails.Load()
		poll(func() bool { return fails.Load() >= before+2 })
		p.Restore()
	}
	waitFor(done.Load() + 3)
	close(stop)
	wg.Wait()

	if len(acked) == 0 {
		t.Fatal("no Append succeeded")
	}
	stored := map[string]int64{}
	err := check.ScanEvents(ctx, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc}, func(e *auditkeep.Event) error {
		if e.Seq != int64(len(stored)+1) {
			return fmt.Errorf("event %s has seq %d; want %d (no gaps)", e.ID, e.Seq, len(stored)+1)
		}
		stored[e.ID] = e.Seq
		return nil
	})
	if err != nil {
		t.Fatalf("ScanEvents: %v", err)
	}
	for id, seq := range acked {
		if got, ok := stored[id]; !ok || got != seq {
			t.Errorf("acknowledged event %s (seq %d) is stored with seq %d (stored: %v)", id, seq, got, ok)
		}
	}
	t.Logf("%d events acknowledged, %d stored (a batch whose commit reply was lost is stored but not acknowledged), %d failed appends",
		len(acked), len(stored), fails.Load())
}

// TestConnectionBreaksDuringAppend breaks Append's connection at each step
// of its transaction. Before COMMIT is sent, Append runs again on a new
// connection and succeeds; when COMMIT is lost or its reply is, Append
// fails with EUNAVAILABLE, and the batch is stored only in the second case.
// Whatever happens, Append never reports success for a batch not stored.
func TestConnectionBreaksDuringAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	direct := newSchema(t)
	proxied, p := pgtest.Through(t, direct)
	s := open(t, proxied, postgres.WithPartitionsAhead(0), quiet)
	check := open(t, direct, postgres.WithPartitionsAhead(0), quiet)
	createTenant(t, s, "acme")

	const (
		succeeds    = "succeeds"
		unavailable = "fails" // with EUNAVAILABLE
		either      = "succeeds or fails"
	)
	tests := []struct {
		name    string
		pattern string // the message that breaks the connection
		forward bool   // whether the server gets it
		want    string
		stored  bool // the batch is stored when Append fails
	}{
		{"begin lost", "begin\x00", false, succeeds, false},
		{"copy lost", "PGCOPY\n", false, succeeds, false},
		// Append may learn of the break before sending COMMIT (and run
		// again) or after (and fail): the COMMIT never reaches the server.
		{"copy sent", "PGCOPY\n", true, either, false},
		{"commit lost", "commit\x00", false, unavailable, false},
		{"commit sent, reply lost", "commit\x00", true, unavailable, true},
	}
	next := int64(1)
	for i, tt := range tests {
		sprung := p.Trap(tt.pattern, tt.forward)
		batch := batchOf("acme", fmt.Sprint("case", i), 3)
		err := s.Append(ctx, batch)
		select {
		case <-sprung:
		default:
			t.Fatalf("%s: the connection did not send %q", tt.name, tt.pattern)
		}
		switch {
		case tt.want == succeeds && err != nil:
			t.Errorf("%s: Append = %v; want success", tt.name, err)
		case tt.want == unavailable && err == nil,
			err != nil && auditkeep.ErrorCode(err) != auditkeep.EUNAVAILABLE:
			t.Errorf("%s: Append = %v; want %s", tt.name, err, auditkeep.EUNAVAILABLE)
		}
		stored := err == nil || tt.stored
		got, gerr := check.GetEvent(ctx, "acme", batch[0].ID)
		if stored && gerr != nil {
			// The server commits after the connection broke: wait for it.
			for try := 0; gerr != nil && try < 1000; try++ {
				time.Sleep(10 * time.Millisecond)
				got, gerr = check.GetEvent(ctx, "acme", batch[0].ID)
			}
		}
		switch {
		case stored && (gerr != nil || got.Seq != next):
			t.Errorf("%s: stored event = %+v, %v; want seq %d", tt.name, got, gerr, next)
		case !stored && auditkeep.ErrorCode(gerr) != auditkeep.ENOTFOUND:
			t.Errorf("%s: GetEvent = %+v, %v; want %s", tt.name, got, gerr, auditkeep.ENOTFOUND)
		}
		if err == nil && batch[0].Seq != next {
			t.Errorf("%s: Append gave seq %d; want %d", tt.name, batch[0].Seq, next)
		}
		if stored {
			next += int64(len(batch))
		}
		// Appending the batch again stores what is missing and nothing twice.
		if err := s.Append(ctx, batch); err != nil {
			t.Fatalf("%s: Append again: %v", tt.name, err)
		}
		if !stored {
			next += int64(len(batch))
		}
		if st, err := check.Stats(ctx, "acme"); err != nil || st.LastSeq != next-1 || st.Events != next-1 {
			t.Errorf("%s: Stats = %+v, %v; want %d events", tt.name, st, err, next-1)
		}
	}
}
