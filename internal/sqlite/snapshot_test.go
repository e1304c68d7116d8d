package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// TestSnapshotUnderAppends snapshots while batches are appended: the copy
// holds every batch committed before it began, and whole batches only,
// with gapless seqs.
func TestSnapshotUnderAppends(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	const batch = 50
	var mu sync.Mutex
	committed := 0
	var stopped atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stopped.Load(); i++ {
			if err := s.Append(ctx, simpleEvents("acme", fmt.Sprintf("b%d", i), batch)); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			committed++
			mu.Unlock()
		}
	}()
	for {
		mu.Lock()
		n := committed
		mu.Unlock()
		if n >= 20 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	before := committed
	mu.Unlock()
	dir := t.TempDir()
	if err := s.Snapshot(ctx, filepath.Join(dir, sqlite.FileName)); err != nil {
		t.Fatal(err)
	}
	stopped.Store(true)
	wg.Wait()
	if err := s.Snapshot(ctx, filepath.Join(dir, sqlite.FileName)); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("Snapshot over an existing file = %v; want EINVALID", err)
	}

	cp, err := sqlite.Open(ctx, dir, sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var seqs []int64
	err = cp.ScanEvents(ctx, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc, Sort: auditkeep.SortSeq}, func(e *auditkeep.Event) error {
		seqs = append(seqs, e.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) < before*batch || len(seqs)%batch != 0 {
		t.Fatalf("snapshot holds %d events; want whole batches, at least the %d committed before it", len(seqs), before*batch)
	}
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("snapshot seq %d at position %d; want %d (no gaps)", seq, i, i+1)
		}
	}
}
