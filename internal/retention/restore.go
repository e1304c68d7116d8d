package retention

import (
	"context"
	"fmt"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
)

// RestoreResult is the answer to a restore.
type RestoreResult struct {
	Segment    string `json:"segment"`
	IntoTenant string `json:"into_tenant"`
	Events     int    `json:"events"`     // events read from the segment
	Restored   int    `json:"restored"`   // events stored now
	Duplicates int    `json:"duplicates"` // events the tenant already had (a restore run twice)
}

// restoreBatch is how many events one restore commit holds.
const restoreBatch = 1000

// Restore copies the events of the tenant's archived segment into the
// tenant into, where they become queryable: each keeps its id, times and
// content, and gets a new seq (and leaf) in into's own log, so the original
// tenant's log, seqs and ledger stay as they are. Restoring the same
// segment twice stores nothing the second time (ids are idempotent).
// into must exist, differ from tenant, and have unlimited retention (else
// the restored events would be hidden and removed again). Records
// archive.restore in tenant's log.
//
// Returns EINVALID naming "segment" or "into_tenant", ENOTFOUND for an
// unknown segment, EUNAVAILABLE when the archive or the store fails.
func (s *Service) Restore(ctx context.Context, tenant, segment, into string, by Actor) (*RestoreResult, error) {
	if s.arch == nil {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "no archive is configured on this server")
	}
	if s.appender == nil {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "this server cannot restore into a tenant")
	}
	if into == "" {
		return nil, auditkeep.FieldErrorf("into_tenant", "into_tenant is required: the tenant that receives the events, e.g. %s-restore", tenant)
	}
	if into == tenant {
		return nil, auditkeep.FieldErrorf("into_tenant", "restore into another tenant (e.g. %s-restore): the original log keeps its seqs and ledger", tenant)
	}
	m, err := s.arch.Manifest(ctx, tenant, segment)
	if err != nil {
		return nil, err
	}
	t, err := s.store.GetTenant(ctx, into)
	if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
		return nil, auditkeep.FieldErrorf("into_tenant", "tenant %q does not exist; create it first with retention_days 0", into)
	}
	if err != nil {
		return nil, err
	}
	if t.RetentionDays != 0 {
		return nil, auditkeep.FieldErrorf("into_tenant", "tenant %q has a retention of %s: restored events would be removed again; set its retention_days to 0", into, daysText(t.RetentionDays))
	}
	res := &RestoreResult{Segment: m.Name, IntoTenant: into}
	var batch []*auditkeep.Event
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.appender(ctx, batch); err != nil {
			return err
		}
		for _, e := range batch {
			if e.Seq > 0 {
				res.Restored++
			} else {
				res.Duplicates++
			}
		}
		batch = batch[:0]
		return nil
	}
	err = s.arch.ReadEvents(ctx, m, func(e *auditkeep.Event) error {
		res.Events++
		c := *e
		c.Tenant, c.Seq, c.Hash = into, 0, ""
		if c.Target != nil {
			tg := *c.Target
			tg.Deleted = false
			c.Target = &tg
		}
		batch = append(batch, &c)
		if len(batch) == restoreBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return res, err
	}
	s.log.Info("archive segment restored", "tenant", tenant, "segment", m.Name, "into", into, "restored", res.Restored)
	s.record(ctx, tenant, by, "archive.restore", "execute", &auditkeep.Target{Type: "archive_segment", ID: m.Name},
		map[string]any{"into_tenant": into, "events": res.Events, "restored": res.Restored},
		fmt.Sprintf("Restored %d archived events of segment %s into tenant %s", res.Restored, m.Name, into))
	return res, nil
}

// Segments lists the tenant's archived segments (manifests without their
// proofs, which can be large). Returns EINVALID when no archive is
// configured, EUNAVAILABLE when it fails.
func (s *Service) Segments(ctx context.Context, tenant string) ([]*archive.Manifest, error) {
	if s.arch == nil {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "no archive is configured on this server")
	}
	ms, err := s.arch.List(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		m.Proof = nil
	}
	if ms == nil {
		ms = []*archive.Manifest{}
	}
	return ms, nil
}
