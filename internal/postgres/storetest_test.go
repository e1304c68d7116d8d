package postgres_test

import (
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/storetest"
)

// TestStore runs the conformance suite, each store on a fresh schema.
func TestStore(t *testing.T) {
	t.Parallel()
	databaseURL(t)
	storetest.Run(t, func(t *testing.T) auditkeep.Store { return newStore(t) })
}

// TestFacetsOneByOne runs the facet cases with every filtered facet
// counted value by value, as for a filter matching many events.
func TestFacetsOneByOne(t *testing.T) {
	t.Parallel()
	databaseURL(t)
	s := newStore(t)
	postgres.SetFacetTallyMax(s, 0)
	storetest.Facets(t, s)
}
