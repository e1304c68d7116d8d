package postgres_test

import (
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/storetest"
)

// TestStore runs the conformance suite, each store on a fresh schema.
func TestStore(t *testing.T) {
	t.Parallel()
	databaseURL(t)
	storetest.Run(t, func(t *testing.T) auditkeep.Store { return newStore(t) })
}
