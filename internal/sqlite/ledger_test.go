package sqlite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/auditkeep/auditkeep/internal/ledger/ledgertest"
	"github.com/auditkeep/auditkeep/internal/sqlite"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	_ "modernc.org/sqlite"
)

func TestLedger(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) (auditkeep.Store, ledgertest.Ledger) {
		s, err := sqlite.Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, sqlite.NewLedger(s)
	})
}

// TestLedgerRunsMigration: a database whose leaf hashes are one row per
// leaf (before migration 0004) is converted to runs; every leaf, node and
// proof reads as before, and integration goes on.
func TestLedgerRunsMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	l := sqlite.NewLedger(s)
	// 37 leaves integrated in steps of 1, 5 and 31.
	leaves := make([][]byte, 37)
	for i := range leaves {
		h := sha256.Sum256([]byte(fmt.Sprint("leaf ", i)))
		leaves[i] = h[:]
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng := rf.NewEmptyRange(0)
	size := uint64(0)
	for _, n := range []uint64{1, 5, 31} {
		u := &ledger.Update{OldSize: size, NewSize: size + n, Leaves: leaves[size : size+n], Checkpoint: []byte("cp")}
		for _, h := range u.Leaves {
			if err := rng.Append(h, func(id compact.NodeID, hash []byte) {
				if id.Level > 0 {
					u.Nodes = append(u.Nodes, ledger.Node{ID: id, Hash: hash})
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		if u.Root, err = rng.GetRootHash(nil); err != nil {
			t.Fatal(err)
		}
		if err := l.Integrate(ctx, "acme", u); err != nil {
			t.Fatal(err)
		}
		size += n
	}
	s.Close()

	// Rewrite the ledger as the old layout kept it: a row per leaf and every node.
	db, err := sql.Open("sqlite", filepath.Join(dir, "auditkeep.db"))
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE TABLE ledger_leaves (tenant TEXT NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (tenant, seq)) WITHOUT ROWID")
	for i, h := range leaves {
		exec("INSERT INTO ledger_leaves VALUES ('acme', ?, ?)", i+1, h)
	}
	full := rf.NewEmptyRange(0)
	for _, h := range leaves {
		full.Append(h, func(id compact.NodeID, hash []byte) {
			if id.Level > 0 && id.Level <= 3 {
				exec("INSERT INTO ledger_nodes VALUES ('acme', ?, ?, ?)", int(id.Level), int64(id.Index), hash)
			}
		})
	}
	exec("DROP TABLE ledger_leaf_runs")
	exec("DELETE FROM schema_migrations WHERE name LIKE '%0004_ledger_runs.sql'")
	db.Close()

	s, err = sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l = sqlite.NewLedger(s)
	got, err := l.LeafHashes(ctx, "acme", 0, 37)
	if err != nil || len(got) != 37 {
		t.Fatalf("LeafHashes(0, 37) after the migration = %d, %v", len(got), err)
	}
	for i := range got {
		if !bytes.Equal(got[i], leaves[i]) {
			t.Fatalf("leaf %d = %x; want %x", i, got[i], leaves[i])
		}
	}
	// Every node of the tree, stored or computed, reads as the range built it.
	var ids []compact.NodeID
	var want [][]byte
	full = rf.NewEmptyRange(0)
	for i, h := range leaves {
		ids = append(ids, compact.NewNodeID(0, uint64(i)))
		want = append(want, h)
		full.Append(h, func(id compact.NodeID, hash []byte) {
			if id.Level > 0 {
				ids = append(ids, id)
				want = append(want, hash)
			}
		})
	}
	nodes, err := l.Nodes(ctx, "acme", ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		if !bytes.Equal(nodes[i], want[i]) {
			t.Fatalf("node %+v = %x; want %x", ids[i], nodes[i], want[i])
		}
	}
	if _, err := l.Nodes(ctx, "acme", []compact.NodeID{compact.NewNodeID(2, 9)}); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Nodes(2/9) beyond size 37 = %v; want %s", err, auditkeep.ENOTFOUND)
	}
	// Integration continues on the converted tables.
	u := &ledger.Update{OldSize: 37, NewSize: 38, Leaves: [][]byte{leaves[0]}, Root: []byte("r"), Checkpoint: []byte("cp")}
	if err := l.Integrate(ctx, "acme", u); err != nil {
		t.Fatal(err)
	}
	if got, err := l.LeafHashes(ctx, "acme", 36, 38); err != nil || len(got) != 2 || !bytes.Equal(got[1], leaves[0]) {
		t.Fatalf("LeafHashes(36, 38) = %x, %v", got, err)
	}
}

// BenchmarkLedgerPageHashes reads the leaf hashes of a page of 50 events
// (newest first) through Nodes, as GET /v1/events does, in a tree of
// 100,000 leaves.
func BenchmarkLedgerPageHashes(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l := sqlite.NewLedger(s)
	const n = 100000
	for size := uint64(0); size < n; size += 10000 {
		u := &ledger.Update{OldSize: size, NewSize: size + 10000, Root: []byte("r"), Checkpoint: []byte("cp")}
		for i := range 10000 {
			h := sha256.Sum256([]byte(fmt.Sprint(size + uint64(i))))
			u.Leaves = append(u.Leaves, h[:])
		}
		if err := l.Integrate(ctx, "acme", u); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		top := uint64(n - (i*50)%(n-50))
		ids := make([]compact.NodeID, 50)
		for j := range ids {
			ids[j] = compact.NewNodeID(0, top-1-uint64(j))
		}
		if _, err := l.Nodes(ctx, "acme", ids); err != nil {
			b.Fatal(err)
		}
	}
}
