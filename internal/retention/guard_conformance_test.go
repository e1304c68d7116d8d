package retention_test

import (
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/retention"
	"github.com/auditkeep/auditkeep/internal/storetest"
)

// guarded is a store read through a retention guard, as the HTTP API reads
// events; streams and alerts, which the guard does not serve, are the
// store's own.
type guarded struct {
	*retention.Guard
	auditkeep.StreamStore
	auditkeep.AlertStore
	s store
}

func (g guarded) Close() error { return g.s.Close() }

// TestGuardConformance runs the store suite through the read guard, on a
// clock at which the suite's events are within retention: the guard keeps
// the store's contract.
func TestGuardConformance(t *testing.T) {
	now := storetest.Base.Add(24 * time.Hour)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) auditkeep.Store {
				s, _ := b.open(t)
				ret := retention.New(retention.Config{Store: s, Logger: quiet, Now: func() time.Time { return now }})
				return guarded{Guard: ret.Guard(s), StreamStore: s.(auditkeep.StreamStore), AlertStore: s.(auditkeep.AlertStore), s: s}
			})
		})
	}
}
