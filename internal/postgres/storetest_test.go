package postgres_test

import (
	"context"
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

// TestFacetCountsKept: the facet counts kept by Append, then by
// DeleteEvents, are those the stored events give.
func TestFacetCountsKept(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, tenant := range []string{"acme", "globex"} {
		if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: tenant, CreatedAt: storetest.Base}); err != nil {
			t.Fatal(err)
		}
		events := storetest.Fixture(tenant)
		for i := 0; i < len(events); i += 7 {
			if err := s.Append(ctx, events[i:min(i+7, len(events))]); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(when string) {
		t.Helper()
		if n, err := s.FacetCountsDrift(ctx); n != 0 || err != nil {
			t.Errorf("%s: %d facet counts differ from the events' (%v)", when, n, err)
		}
	}
	check("after appends")
	if n, err := s.DeleteEvents(ctx, "acme", []int64{1, 2, 3, 5, 8, 13, 21}); err != nil || n == 0 {
		t.Fatalf("DeleteEvents = %d, %v", n, err)
	}
	check("after deletes")
}
