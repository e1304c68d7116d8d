package retention

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/auditkeep/auditkeep"
)

// monthStart returns the first instant of t's month (UTC).
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// partitionPolicy is what one tenant lets go of partitions at a run.
type partitionPolicy struct {
	cut  time.Time // zero: nothing (unlimited retention, or a hold)
	size uint64    // the ledger's tree size
	// bound and force are the streams' (streamBound): bound -1 when no
	// stream holds events.
	bound int64
	force time.Time
}

// lets reports whether the policy lets t's events in a partition go.
func (p partitionPolicy) lets(t auditkeep.PartitionTenant, ledger bool) bool {
	return !p.cut.IsZero() && t.Last.Before(p.cut) && (!ledger || uint64(t.LastSeq) <= p.size) &&
		(p.bound < 0 || t.LastSeq <= p.bound || t.Last.Before(p.force))
}

func (s *Service) partitionPolicy(ctx context.Context, tenant string, now time.Time) (partitionPolicy, error) {
	t, err := s.store.GetTenant(ctx, tenant)
	if err != nil {
		return partitionPolicy{}, err
	}
	// A tenant whose status cannot be read is not purged: its totals could
	// not be kept.
	if _, err := s.loadStatus(ctx, tenant); err != nil {
		return partitionPolicy{}, s.statusUnreadable(ctx, tenant, err)
	}
	p := partitionPolicy{cut: auditkeep.RetentionCutoff(now, t.RetentionDays), bound: -1}
	if p.cut.IsZero() {
		return p, nil
	}
	if p.bound, p.force, err = s.streamBound(ctx, tenant, p.cut); err != nil {
		return partitionPolicy{}, err
	}
	holds, err := s.store.ListHolds(ctx, tenant)
	if err != nil {
		return partitionPolicy{}, err
	}
	if len(holds) > 0 {
		return partitionPolicy{}, nil
	}
	if s.tree != nil {
		st, err := s.tree.State(ctx, tenant)
		if err != nil {
			return partitionPolicy{}, err
		}
		p.size = st.Size
	}
	return p, nil
}

// dropPartitions drops, instead of deleting their rows, the partitions of
// months before now's that every tenant in them lets go (dropPartition).
// It returns what it did and the tenants whose purge failed (their events
// wait for the next run), and the errors of partitions left in place.
func (s *Service) dropPartitions(ctx context.Context, ps auditkeep.PartitionStore, now time.Time) (Report, map[string]bool, error) {
	var rep Report
	failed := map[string]bool{}
	parts, err := ps.Partitions(ctx, monthStart(now))
	if err != nil {
		return rep, failed, err
	}
	policies := map[string]partitionPolicy{}
	var errs []error
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return rep, failed, err
		}
		r, err := s.dropPartition(ctx, ps, p, now, policies, failed)
		rep.Archived += r.Archived
		rep.Removed += r.Removed
		rep.Segments += r.Segments
		if err != nil {
			errs = append(errs, fmt.Errorf("partition %s: %w", p.Name, err))
		}
	}
	return rep, failed, errors.Join(errs...)
}

// partitionShare is one tenant's share of a partition being dropped.
type partitionShare struct {
	t   auditkeep.PartitionTenant
	rep Report
	b   purgeBatch // what the archive confirmed (its seqs), with the tenant's cutoff
	err error      // what stopped its archive or its removal
}

// dropPartition archives the events of p and drops it, when every tenant
// in p lets it go (else it leaves p to the tenants' runs). The archive is
// written as purge writes it: per tenant and UTC day, in batches, each
// segment with its proof. Then each tenant's retention.purge record, listing
// the seqs its archive confirmed, is committed (recordPurge) before anything
// is removed. Only when every write and every record is done, and each
// tenant's archived seqs reach its last seq in p, does the store drop p (and
// re-check, under its locks, that nothing changed). When a write fails, or p
// is not dropped, the recorded events are deleted row by row instead, as
// purge deletes them; a tenant whose record failed keeps its events.
func (s *Service) dropPartition(ctx context.Context, ps auditkeep.PartitionStore, p *auditkeep.Partition, now time.Time, policies map[string]partitionPolicy, failed map[string]bool) (Report, error) {
	var rep Report
	shares := make([]*partitionShare, 0, len(p.Tenants))
	ids := make([]string, 0, len(p.Tenants))
	for _, t := range p.Tenants {
		pol, ok := policies[t.Tenant]
		if !ok {
			var err error
			if pol, err = s.partitionPolicy(ctx, t.Tenant, now); err != nil {
				return rep, err
			}
			policies[t.Tenant] = pol
		}
		if failed[t.Tenant] || !pol.lets(t, s.tree != nil) {
			return rep, nil // its rows are deleted by the tenants' runs
		}
		shares = append(shares, &partitionShare{t: t, b: purgeBatch{cutoff: pol.cut}})
		ids = append(ids, t.Tenant)
	}
	release, ok, err := s.acquire(ctx, ids...)
	if err != nil || !ok {
		return rep, err // another run purges one of them: next time
	}
	defer release()

	var archErr error
	for _, sh := range shares {
		if sh.err = s.archivePartition(ctx, ps, p.Name, sh); sh.err != nil {
			archErr = sh.err
			break
		}
	}
	// What the archive confirmed is recorded, then leaves the live store,
	// even if the run is being stopped: archived events are not left behind.
	fin := context.WithoutCancel(ctx)
	whole := archErr == nil
	for _, sh := range shares {
		if len(sh.b.seqs) == 0 {
			whole = false // nothing archived, nothing recorded: it stays
			continue
		}
		if err := s.recordPurge(fin, sh.t.Tenant, sh.b); err != nil {
			sh.err = errors.Join(sh.err, err)
			sh.b.seqs = nil // not recorded: not removed
			whole = false
		} else if sh.b.seqs[len(sh.b.seqs)-1] != sh.t.LastSeq {
			whole = false // the record would not cover every event dropped
		}
	}
	var dropErr error
	dropped := false
	if whole {
		if dropped, dropErr = ps.DropPartition(fin, p, now); dropped {
			for _, sh := range shares {
				sh.rep.Removed = len(sh.b.seqs)
				sh.rep.Purged = addRanges(nil, sh.b.seqs)
				s.metrics.removed.Add(float64(len(sh.b.seqs)))
			}
		}
	}
	if !dropped {
		for _, sh := range shares {
			sh.err = errors.Join(sh.err, s.deleteBatches(fin, sh))
		}
	}
	for _, sh := range shares {
		s.partitionDone(ctx, sh, now, failed)
		rep.Archived += sh.rep.Archived
		rep.Removed += sh.rep.Removed
		rep.Segments += sh.rep.Segments
	}
	if dropped {
		s.log.Info("retention: partition dropped", "partition", p.Name, "tenants", len(shares), "removed", rep.Removed)
	}
	return rep, dropErr
}

// archivePartition writes sh's events in the partition to the archive, a
// batch at a time, and collects their seqs (ascending) in sh.b.
func (s *Service) archivePartition(ctx context.Context, ps auditkeep.PartitionStore, partition string, sh *partitionShare) error {
	defer func() { slices.Sort(sh.b.seqs) }() // segments are written day by day
	var after int64
	for {
		batch, err := ps.PartitionEvents(ctx, partition, sh.t, after, s.batch)
		if err != nil || len(batch) == 0 {
			return err
		}
		if err := s.writeSegments(ctx, sh.t.Tenant, batch, &sh.b, &sh.rep); err != nil {
			return err
		}
		after = batch[len(batch)-1].Seq
		if len(batch) < s.batch {
			return nil
		}
	}
}

// deleteBatches deletes sh's archived events row by row, a batch per
// transaction with a pause between, as purge does.
func (s *Service) deleteBatches(ctx context.Context, sh *partitionShare) error {
	for i := 0; i < len(sh.b.seqs); i += s.batch {
		if i > 0 {
			if err := s.takeTurns(ctx); err != nil {
				return err
			}
		}
		if err := s.deleteEvents(ctx, sh.t.Tenant, sh.b.seqs[i:min(len(sh.b.seqs), i+s.batch)], &sh.rep); err != nil {
			return err
		}
	}
	return nil
}

// partitionDone keeps what a partition's drop did for one tenant in its
// Status and its log (dropPartition wrote its retention.purge record), and
// reports its failure as a failed run does.
func (s *Service) partitionDone(ctx context.Context, sh *partitionShare, now time.Time, failed map[string]bool) {
	tenant := sh.t.Tenant
	fin := context.WithoutCancel(ctx)
	worked := sh.rep.Archived > 0 || sh.rep.Removed > 0
	stopped := sh.err != nil && ctx.Err() != nil // the run is being stopped: not a failure
	if !worked && (sh.err == nil || stopped) {
		return
	}
	st, err := s.loadStatus(fin, tenant)
	if err != nil {
		failed[tenant] = true
		s.statusUnreadable(fin, tenant, err)
		if sh.err != nil && !stopped {
			s.log.Error("retention: purge failed; the events stay and are retried at the next run", "tenant", tenant, "err", sh.err)
		}
		return
	}
	st.Archived += int64(sh.rep.Archived)
	st.Removed += int64(sh.rep.Removed)
	st.Segments += int64(sh.rep.Segments)
	st.Cutoff = sh.b.cutoff
	if sh.b.last != "" {
		st.LastSegment = sh.b.last
	}
	if sh.err != nil && !stopped {
		failed[tenant] = true
		st.LastRunAt, st.Pending = now, true
		st.Errors++
		st.LastError, st.LastErrorAt = auditkeep.ErrorMessage(sh.err)+detail(sh.err), now
		s.metrics.errors.Inc()
		s.log.Error("retention: purge failed; the events stay and are retried at the next run", "tenant", tenant, "err", sh.err)
	}
	s.saveStatus(fin, tenant, st)
	if worked {
		s.log.Info("retention: purged", "tenant", tenant, "archived", sh.rep.Archived, "removed", sh.rep.Removed, "segments", sh.rep.Segments)
	}
}
