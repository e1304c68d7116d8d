package sqlite_test

import (
	"context"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger/ledgertest"
	"github.com/auditkeep/auditkeep/internal/sqlite"
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
