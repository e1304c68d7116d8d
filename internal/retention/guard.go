package retention

import (
	"context"

	"github.com/auditkeep/auditkeep"
)

// Guarded is the store that the HTTP API reads through.
type Guarded interface {
	auditkeep.EventStore
	auditkeep.TenantStore
	auditkeep.SessionStore
	auditkeep.FacetStore
	auditkeep.EventJSONScanner
	Ping(ctx context.Context) error
}

// Guard wraps a store so that no read returns an event past its tenant's
// retention, even before the job has removed it: ListEvents, ScanEvents,
// ScanEventJSON and Facets raise Filter.From to the tenant's ReadCutoff,
// GetEvent answers ENOTFOUND for an expired event. Writes and every other
// method pass through.
type Guard struct {
	Guarded
	s *Service
}

var (
	_ Guarded                    = (*Guard)(nil)
	_ auditkeep.FacetStore       = (*Guard)(nil)
	_ auditkeep.EventJSONScanner = (*Guard)(nil)
)

// Guard returns store guarded by the service's retention.
func (s *Service) Guard(store Guarded) *Guard { return &Guard{Guarded: store, s: s} }

func (g *Guard) narrow(ctx context.Context, tenant string, f *auditkeep.Filter) error {
	cut, err := g.s.ReadCutoff(ctx, tenant)
	if err != nil {
		return err
	}
	if !cut.IsZero() && cut.After(f.From) {
		f.From = cut
	}
	return nil
}

// ListEvents implements auditkeep.EventStore, without expired events.
func (g *Guard) ListEvents(ctx context.Context, tenant string, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error) {
	if err := g.narrow(ctx, tenant, &f); err != nil {
		return nil, nil, err
	}
	return g.Guarded.ListEvents(ctx, tenant, f)
}

// ScanEvents implements auditkeep.EventStore, without expired events.
func (g *Guard) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	if err := g.narrow(ctx, tenant, &f); err != nil {
		return err
	}
	return g.Guarded.ScanEvents(ctx, tenant, f, fn)
}

// ScanEventJSON implements auditkeep.EventJSONScanner, without expired
// events.
func (g *Guard) ScanEventJSON(ctx context.Context, tenant string, f auditkeep.Filter, fn func(seq int64, js []byte, hashAt int) error) error {
	if err := g.narrow(ctx, tenant, &f); err != nil {
		return err
	}
	return g.Guarded.ScanEventJSON(ctx, tenant, f, fn)
}

// Facets implements auditkeep.FacetStore, without expired events.
func (g *Guard) Facets(ctx context.Context, tenant, field string, f auditkeep.Filter) ([]auditkeep.Facet, bool, error) {
	if err := g.narrow(ctx, tenant, &f); err != nil {
		return nil, false, err
	}
	return g.Guarded.Facets(ctx, tenant, field, f)
}

// GetEvent implements auditkeep.EventStore: an expired event is ENOTFOUND.
func (g *Guard) GetEvent(ctx context.Context, tenant, id string) (*auditkeep.Event, error) {
	e, err := g.Guarded.GetEvent(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	cut, err := g.s.ReadCutoff(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if !cut.IsZero() && e.OccurredAt.Before(cut) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "event %q not found", id)
	}
	return e, nil
}
