package catalog_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/catalog"
	"github.com/auditkeep/auditkeep/internal/pgtest"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// countingStore is a store that counts actions.
type countingStore interface {
	auditkeep.Store
	catalog.ActionCounter
}

var (
	_ catalog.ActionCounter = (*sqlite.Store)(nil)
	_ catalog.ActionCounter = (*postgres.Store)(nil)
	_ catalog.Store         = (auditkeep.Store)(nil)
)

// stores returns the stores to test: SQLite always, PostgreSQL when
// AUDITKEEP_TEST_DATABASE_URL is set (each on a fresh schema).
func stores(t *testing.T) map[string]func(t *testing.T) countingStore {
	m := map[string]func(t *testing.T) countingStore{
		"sqlite": func(t *testing.T) countingStore {
			s, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	base := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
	if base == "" {
		t.Log("PostgreSQL not tested: set AUDITKEEP_TEST_DATABASE_URL=postgres://... to run these tests on it too")
		return m
	}
	m["postgres"] = func(t *testing.T) countingStore {
		u := pgtest.Schema(t, base)
		s, err := postgres.Open(context.Background(), u, postgres.WithPartitionsAhead(0), postgres.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return m
}

func storedEvent(tenant, id, action string) *auditkeep.Event {
	now := time.Now().UTC()
	return &auditkeep.Event{Tenant: tenant, ID: id, ReceivedAt: now, OccurredAt: now, Action: action, Type: auditkeep.TypeInfo,
		Actor: auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_1"}, Status: auditkeep.StatusSuccess}
}

func TestActionCounts(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			for _, id := range []string{"acme", "globex", "initech"} {
				if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: id, CreatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			batches := [][]*auditkeep.Event{
				{storedEvent("acme", "e1", "env.update"), storedEvent("acme", "e2", "env.update"), storedEvent("acme", "e3", "user.login")},
				// e2 again: a duplicate is not stored, so not counted.
				{storedEvent("acme", "e2", "env.update"), storedEvent("acme", "e4", "env.update")},
				{storedEvent("globex", "e1", "env.update"), storedEvent("globex", "e2", "db.restore")},
			}
			for _, b := range batches {
				if err := s.Append(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				tenant string
				want   map[string]int64
			}{
				{"acme", map[string]int64{"env.update": 3, "user.login": 1}},
				{"globex", map[string]int64{"env.update": 1, "db.restore": 1}},
				{"initech", map[string]int64{}},
				{"nobody", map[string]int64{}},
			} {
				got, err := s.ActionCounts(ctx, tc.tenant)
				if err != nil || !maps.Equal(got, tc.want) {
					t.Errorf("ActionCounts(%q) = %v, %v; want %v", tc.tenant, got, err, tc.want)
				}
			}
		})
	}
}

// TestCatalogOnStores runs the catalog on each store, as two nodes.
func TestCatalogOnStores(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(ctx, []*auditkeep.Event{storedEvent("acme", "e1", "env.update")}); err != nil {
				t.Fatal(err)
			}
			a, b := catalog.New(s, s), catalog.New(s, s)

			const n = 12
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				c := a
				if i%2 == 1 {
					c = b
				}
				wg.Go(func() {
					_, _, err := c.Register(ctx, "acme", "env.update", fmt.Appendf(nil, `{"required":["f%d"]}`, i))
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			vs, err := b.Versions(ctx, "acme", "env.update")
			if err != nil || len(vs) != n || vs[n-1].Version != n {
				t.Fatalf("Versions = %+v, %v; want 1..%d", vs, err, n)
			}
			latest, err := a.Schema(ctx, "acme", "env.update", 0)
			if err != nil {
				t.Fatal(err)
			}
			// Both nodes enforce the latest version.
			for _, c := range []*catalog.Catalog{a, b} {
				err := c.Step(ctx, "acme", ev("env.update", `{}`))
				if auditkeep.ErrorCode(err) != auditkeep.EINVALID {
					t.Errorf("Step without the field %s requires = %v; want invalid", latest.Schema, err)
				}
			}

			as, err := a.Actions(ctx, "acme")
			if err != nil || len(as) != 1 || as[0].Count != 1 || !as[0].Registered || as[0].Version != n {
				t.Errorf("Actions = %+v, %v; want env.update counted once, registered at version %d", as, err, n)
			}
		})
	}
}
