package ingest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Step transforms a validated event before it is stored (redaction, diff,
// description, schema checks). It returns EINVALID naming the field for an
// event it refuses.
type Step func(ctx context.Context, tenant string, e *auditkeep.Event) error

// Service ingests request bodies for tenants.
type Service struct {
	Limits Limits
	Now    func() time.Time
	// Steps run in order on every event of a batch after validation.
	Steps []Step
	// Reserved lists actions only the server itself records (see
	// AsServer); a sender's event with one of them is refused.
	Reserved []string

	committer *Committer
}

// NewService returns a service committing through c.
func NewService(c *Committer) *Service {
	return &Service{Limits: DefaultLimits(), Now: time.Now, committer: c}
}

// Result is the answer to an accepted batch.
type Result struct {
	Accepted   int      `json:"accepted"`
	IDs        []string `json:"ids"`
	Duplicates int      `json:"duplicates"`
	Tenant     string   `json:"tenant"` // the tenant that stored the events: the key's
}

// Ingest decodes, validates and durably stores a request body for tenant.
// The batch is atomic: any invalid event refuses the whole batch (EINVALID or
// ETOOLARGE naming "events[i].field") and nothing is stored. It returns only
// after the commit is synced. Events whose id the tenant already stored are
// acknowledged and counted as duplicates.
func (s *Service) Ingest(ctx context.Context, tenant string, body []byte) (*Result, error) {
	raws, isBatch, err := DecodeBatch(body, s.Limits)
	if err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	events := make([]*auditkeep.Event, len(raws))
	for i, raw := range raws {
		prefix := ""
		if isBatch {
			prefix = fmt.Sprintf("events[%d]", i)
		}
		e, err := Validate(raw, prefix, now, s.Limits)
		if err != nil {
			return nil, err
		}
		if slices.Contains(s.Reserved, e.Action) && !auditkeep.FromServer(ctx) {
			f := "action"
			if prefix != "" {
				f = prefix + ".action"
			}
			return nil, auditkeep.FieldErrorf(f, "%s %q is reserved: only the server records it", f, e.Action)
		}
		if e.Source == SourceServer && !auditkeep.FromServer(ctx) {
			f := "source"
			if prefix != "" {
				f = prefix + ".source"
			}
			return nil, auditkeep.FieldErrorf(f, "%s %q is reserved: only the server records it", f, e.Source)
		}
		e.Tenant = tenant
		e.ReceivedAt = now
		for _, step := range s.Steps {
			if err := step(ctx, tenant, e); err != nil {
				return nil, prefixError(err, prefix)
			}
		}
		events[i] = e
	}
	res, err := s.Store(ctx, events)
	if err != nil {
		return nil, err
	}
	res.Tenant = tenant
	return res, nil
}

// Store commits already validated events (Tenant and ReceivedAt set).
func (s *Service) Store(ctx context.Context, events []*auditkeep.Event) (*Result, error) {
	if err := s.committer.Commit(ctx, events); err != nil {
		return nil, err
	}
	res := &Result{Accepted: len(events), IDs: make([]string, len(events))}
	for i, e := range events {
		res.IDs[i] = e.ID
		if e.Seq == 0 {
			res.Duplicates++
		}
	}
	return res, nil
}

// prefixError adds the batch prefix to the field of a step's error.
func prefixError(err error, prefix string) error {
	e, ok := err.(*auditkeep.Error)
	if !ok || prefix == "" || e.Field == "" {
		return err
	}
	c := *e
	c.Field = prefix + "." + e.Field
	c.Message = prefix + "." + e.Message
	return &c
}

// SourceServer is the source of the events the server records of its own
// operations; a sender's event may not claim it.
const SourceServer = "auditkeep"
