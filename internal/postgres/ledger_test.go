package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger/ledgertest"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/jackc/pgx/v5"
)

func TestLedger(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) (auditkeep.Store, ledgertest.Ledger) {
		s := newStore(t)
		return s, postgres.NewLedger(s)
	})
}

// TestLedgerLockAcrossNodes holds a tenant's integrator lock in one store (a
// node) and checks that another store on the same database cannot take it
// until the first releases it, or dies (its sessions end).
func TestLedgerLockAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	node1, err := postgres.Open(ctx, url, postgres.WithPartitionsAhead(0), quiet)
	if err != nil {
		t.Fatal(err)
	}
	node2 := open(t, url, postgres.WithPartitionsAhead(0), quiet)
	l1, l2 := postgres.NewLedger(node1), postgres.NewLedger(node2)

	release, ok, err := l1.TryLock(ctx, "acme")
	if err != nil || !ok {
		t.Fatalf("node1 TryLock(acme) = %v, %v; want true", ok, err)
	}
	if _, ok, err := l2.TryLock(ctx, "acme"); err != nil || ok {
		t.Fatalf("node2 TryLock(acme) while node1 holds it = %v, %v; want false", ok, err)
	}
	if rel, ok, err := l2.TryLock(ctx, "globex"); err != nil || !ok {
		t.Fatalf("node2 TryLock(globex) = %v, %v; want true (locks are per tenant)", ok, err)
	} else {
		rel()
	}
	release()
	release()
	rel2, ok, err := l2.TryLock(ctx, "acme")
	if err != nil || !ok {
		t.Fatalf("node2 TryLock(acme) after node1 released = %v, %v; want true", ok, err)
	}
	rel2()

	// node1 takes it again and its session dies (as when the node is
	// killed: the server ends the session when the connection drops).
	rel1, ok, err := l1.TryLock(ctx, "acme")
	if err != nil || !ok {
		t.Fatalf("node1 TryLock(acme) again = %v, %v", ok, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pid int32
	err = conn.QueryRow(ctx, `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2
		AND classid = (hashtext(current_schema())::bigint & 4294967295)::oid
		AND objid = (hashtext('auditkeep-ledger:acme')::bigint & 4294967295)::oid`).Scan(&pid)
	if err != nil {
		t.Fatalf("finding the lock holder's session: %v", err)
	}
	var ok2 bool
	if err := conn.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok2); err != nil || !ok2 {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok2, err)
	}
	// The session's locks are freed when its backend has exited.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %d still present 30 s after pg_terminate_backend", pid)
		}
	}
	rel3, ok, err := l2.TryLock(ctx, "acme")
	if err != nil || !ok {
		t.Fatalf("node2 TryLock(acme) after node1's session died = %v, %v; want true (take-over)", ok, err)
	}
	rel3()
	rel1() // unlocking fails on the dead session; the connection is dropped
	node1.Close()
}
