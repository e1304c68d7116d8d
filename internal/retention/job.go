package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
	"github.com/prometheus/client_golang/prometheus"
)

// Status is the outcome of the retention job for one tenant, as GET
// /v1/retention shows it. It is kept in the tenant's settings
// ("retention_status"), so that every node shows the same.
type Status struct {
	LastRunAt     time.Time `json:"last_run_at,omitzero"`
	LastSuccessAt time.Time `json:"last_success_at,omitzero"`
	Cutoff        time.Time `json:"cutoff,omitzero"`   // events before it were due at the last run
	HeldBy        []string  `json:"held_by,omitempty"` // hold ids that stopped the whole tenant's purge
	Archived      int64     `json:"archived_events"`   // events archived, all runs
	Removed       int64     `json:"removed_events"`    // events removed from the live store, all runs
	Segments      int64     `json:"segments"`          // segments written, all runs
	LastSegment   string    `json:"last_segment,omitempty"`
	Pending       bool      `json:"pending,omitempty"` // the last run stopped with events still due (errors, not yet integrated)
	// StreamsWaiting: the last run left expired events that a stream has
	// not delivered, within the operator's cap (see the README's Streams).
	StreamsWaiting bool `json:"streams_waiting,omitempty"`
	// Undelivered counts the events removed, all runs, that a stream had
	// not delivered when their wait reached the cap.
	Undelivered int64     `json:"undelivered_removed_events"`
	Errors      int64     `json:"errors"` // failed runs
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// statusSetting is the tenant setting holding its Status.
const statusSetting = "retention_status"

// Report sums up one Run.
type Report struct {
	Tenants  int // tenants with a limited retention looked at
	Archived int // events archived
	Removed  int // events removed
	Segments int
	Errors   int // tenants whose purge failed
	Waiting  int // tenants whose expired events wait to be integrated into the ledger
	// Undelivered counts the events removed that a stream had not
	// delivered, past the streams' wait cap.
	Undelivered int
	// Purged lists the seqs removed, as merged ranges [first, last] in seq
	// order (RunTenant only; Run leaves it empty). The retention.purge
	// records, written before the removal, list them (and any seq that a
	// legal hold created meanwhile kept): they are what `auditkeep verify`
	// accepts as missing.
	Purged [][2]int64
}

type metrics struct {
	errors, archived, removed, segments, runs prometheus.Counter
	duration                                  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		errors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "auditkeep_retention_errors_total", Help: "Tenant purges that failed (archive or store errors); the events stay and are retried at the next run."}),
		archived: prometheus.NewCounter(prometheus.CounterOpts{Name: "auditkeep_retention_archived_events_total", Help: "Events written to the archive."}),
		removed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "auditkeep_retention_removed_events_total", Help: "Expired events removed from the live store after their archive was confirmed."}),
		segments: prometheus.NewCounter(prometheus.CounterOpts{Name: "auditkeep_retention_segments_total", Help: "Archive segments written."}),
		runs:     prometheus.NewCounter(prometheus.CounterOpts{Name: "auditkeep_retention_runs_total", Help: "Retention job runs."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "auditkeep_retention_run_seconds", Help: "Duration of retention job runs.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.errors, m.archived, m.removed, m.segments, m.runs, m.duration} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err)
				}
			}
		}
	}
	return m
}

// Run runs the job once over every tenant whose retention is limited: for
// each, in bounded batches, it reads expired events that no hold covers,
// writes them to the archive and, once the archive has confirmed them,
// records their seqs in a retention.purge event (recordPurge) and only
// then removes them from the live store. On a store that keeps events in
// monthly partitions (Config.Partitions), it first drops, instead of deleting
// their rows, the partitions of past months that every tenant in them lets
// go.
// A tenant's failure is logged, counted and kept in its Status; its events
// stay and the next run tries again. The error is ctx's, or the store's
// when tenants cannot be listed.
func (s *Service) Run(ctx context.Context) (Report, error) {
	var rep Report
	if s.arch == nil {
		return rep, auditkeep.Errorf(auditkeep.EINVALID, "retention: no archive configured")
	}
	start := time.Now()
	s.metrics.runs.Inc()
	defer func() { s.metrics.duration.Observe(time.Since(start).Seconds()) }()
	tenants, err := s.store.RetentionTenants(ctx)
	if err != nil {
		return rep, err
	}
	// Whole partitions first: what they drop, no tenant deletes row by row.
	var failed map[string]bool
	if s.partitions != nil {
		var r Report
		r, failed, err = s.dropPartitions(ctx, s.partitions, s.now().UTC())
		rep.Archived += r.Archived
		rep.Removed += r.Removed
		rep.Segments += r.Segments
		rep.Errors += len(failed)
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			s.log.Warn("retention: dropping partitions; their expired events are deleted row by row instead", "err", err)
		}
	}
	for _, t := range tenants {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Tenants++
		if failed[t.ID] {
			continue // its archive failed just now: the next run tries again
		}
		r, err := s.RunTenant(ctx, t.ID)
		rep.Archived += r.Archived
		rep.Removed += r.Removed
		rep.Segments += r.Segments
		rep.Waiting += r.Waiting
		rep.Undelivered += r.Undelivered
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			rep.Errors++
		}
	}
	if s.partitions != nil && rep.Removed > 0 {
		if _, err := s.partitions.DropEmptyPartitions(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("retention: dropping emptied partitions", "err", err)
		}
	}
	return rep, nil
}

// RunTenant purges one tenant (see Run). It returns what it did and the
// error that stopped it, if any (also recorded in the tenant's Status and
// counted in auditkeep_retention_errors_total). A tenant another node is
// purging is skipped.
func (s *Service) RunTenant(ctx context.Context, tenant string) (Report, error) {
	var rep Report
	release, ok, err := s.acquire(ctx, tenant)
	if err != nil {
		return rep, s.failed(ctx, tenant, err)
	}
	if !ok {
		return rep, nil
	}
	defer release()
	st, err := s.loadStatus(ctx, tenant)
	if err != nil {
		return rep, s.statusUnreadable(ctx, tenant, err)
	}
	now := s.now().UTC()
	st.LastRunAt = now
	st.Pending, st.HeldBy, st.StreamsWaiting = false, nil, false
	rep, err = s.purge(ctx, tenant, now, st)
	st.Archived += int64(rep.Archived)
	st.Removed += int64(rep.Removed)
	st.Segments += int64(rep.Segments)
	st.Undelivered += int64(rep.Undelivered)
	if err != nil {
		st.Pending = true
		if ctx.Err() == nil {
			st.Errors++
			st.LastError, st.LastErrorAt = auditkeep.ErrorMessage(err)+detail(err), now
			s.metrics.errors.Inc()
			s.log.Error("retention: purge failed; the events stay and are retried at the next run", "tenant", tenant, "err", err)
		}
	} else {
		st.LastSuccessAt = now
	}
	s.saveStatus(ctx, tenant, st)
	if rep.Removed > 0 || rep.Archived > 0 {
		s.log.Info("retention: purged", "tenant", tenant, "archived", rep.Archived, "removed", rep.Removed, "segments", rep.Segments)
	}
	return rep, err
}

// acquire marks the tenants as being purged by this process and takes
// their locks in the store (Config.Locker), all or none; ok is false when a run of
// this process or of another node has any of them. release may be called
// more than once.
func (s *Service) acquire(ctx context.Context, tenants ...string) (release func(), ok bool, err error) {
	s.lockMu.Lock()
	for _, t := range tenants {
		if s.running[t] {
			s.lockMu.Unlock()
			return nil, false, nil
		}
	}
	for _, t := range tenants {
		s.running[t] = true
	}
	s.lockMu.Unlock()
	unmark := func() {
		s.lockMu.Lock()
		for _, t := range tenants {
			delete(s.running, t)
		}
		s.lockMu.Unlock()
	}
	if s.locker == nil || len(tenants) == 0 {
		return sync.OnceFunc(unmark), true, nil
	}
	unlock, ok, err := s.locker.RetentionLock(ctx, tenants...)
	if err != nil || !ok {
		unmark()
		return nil, false, err
	}
	return sync.OnceFunc(func() { unlock(); unmark() }), true, nil
}

// maxPurgeRanges is how many seq ranges one retention.purge event lists,
// so that its metadata stays well within ingest's 16 KiB: a batch whose
// seqs make more ranges (holes left by scoped holds) is recorded in several
// events, "part" and "parts" telling them apart.
const maxPurgeRanges = 400

// purgeBatch is a batch of events archived and about to be removed.
type purgeBatch struct {
	seqs     []int64 // confirmed by the archive
	segments int     // segments written for them
	last     string  // the last segment written
	cutoff   time.Time
}

// errNotRecorded is the error of a batch whose retention.purge record
// could not be written: its events stay, and the next run tries again.
func errNotRecorded(err error) error {
	return &auditkeep.Error{Code: auditkeep.EUNAVAILABLE, Message: "retention: the purge record could not be written to the tenant's log, so no event was removed", Err: err}
}

// recordPurge records, in the tenant's log and before they are removed,
// the batch's seqs (sorted first) as merged ranges, with the counts and the
// cutoff; it returns once the record is committed. The event is signed like
// any other, so a deletion cannot be excused without an append-only record
// saying so, and a removal can never be committed without its record: a
// crash between the two leaves recorded events still present, which a
// verifier notes with a warning and the next run removes. The record lists
// the seqs archived and to be removed; those that a hold created meanwhile
// keeps stay (the job's status, metrics and log count what was removed).
// Returns the recorder's error, wrapped (errNotRecorded): then nothing of
// the batch may be removed (some parts of a batch beyond maxPurgeRanges
// may have been recorded already; their claims are noted by a verifier as
// seqs present).
func (s *Service) recordPurge(ctx context.Context, tenant string, b purgeBatch) error {
	slices.Sort(b.seqs)
	rs := addRanges(nil, b.seqs)
	parts := (len(rs) + maxPurgeRanges - 1) / maxPurgeRanges
	for p := range parts {
		ranges := rs[p*maxPurgeRanges : min(len(rs), (p+1)*maxPurgeRanges)]
		meta := map[string]any{"archived": len(b.seqs), "segments": b.segments, "cutoff": b.cutoff, "last_segment": b.last,
			"seqs": ranges}
		desc := fmt.Sprintf("Archived %d events that occurred before %s; they are removed from the live store once this is recorded", len(b.seqs), b.cutoff.Format(time.RFC3339))
		if parts > 1 {
			meta["part"], meta["parts"] = p+1, parts
			desc += fmt.Sprintf(" (part %d of %d of their seqs)", p+1, parts)
		}
		if err := s.recordEvent(ctx, tenant, SystemActor, auditkeep.PurgeAction, "delete", nil, meta, desc); err != nil {
			return errNotRecorded(err)
		}
	}
	if err := s.awaitSigned(ctx, tenant); err != nil {
		return &auditkeep.Error{Code: auditkeep.EUNAVAILABLE, Message: "retention: the purge record is committed but not yet in a signed checkpoint, so no event was removed", Err: err}
	}
	return nil
}

// awaitSigned waits, when there is a ledger, until the tenant's newest
// event (a purge record just committed, or later) is in a signed
// checkpoint: a verifier accepts a record only from then on, so removing
// the events before would show them as removed unannounced meanwhile.
// Returns EUNAVAILABLE after IntegrationWait.
func (s *Service) awaitSigned(ctx context.Context, tenant string) error {
	if s.tree == nil || s.recorder == nil {
		return nil
	}
	newest, _, err := s.store.ListEvents(ctx, tenant, auditkeep.Filter{Limit: 1})
	if err != nil || len(newest) == 0 {
		return err
	}
	deadline := time.Now().Add(s.waitTree)
	for {
		st, err := s.tree.State(ctx, tenant)
		if err != nil {
			return err
		}
		if st.Size >= uint64(newest[0].Seq) {
			return nil
		}
		if time.Now().After(deadline) {
			return auditkeep.Errorf(auditkeep.EUNAVAILABLE, "the purge record (seq %d or before) is not in a signed checkpoint after %s (size %d): the ledger is not integrating", newest[0].Seq, s.waitTree, st.Size)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// remove records the batch (recordPurge), then removes its events
// (deleteEvents). When the record fails, nothing is removed. The removal
// is not cancelled with ctx: once recorded, the batch is removed whole
// (holds aside) unless storage fails.
func (s *Service) remove(ctx context.Context, tenant string, b purgeBatch, rep *Report) error {
	if len(b.seqs) == 0 {
		return nil
	}
	if err := s.recordPurge(ctx, tenant, b); err != nil {
		return err
	}
	return s.deleteEvents(context.WithoutCancel(ctx), tenant, b.seqs, rep)
}

// addRanges adds seqs (ascending) to the merged ranges rs.
func addRanges(rs [][2]int64, seqs []int64) [][2]int64 {
	for _, q := range seqs {
		if n := len(rs); n > 0 && rs[n-1][1]+1 == q {
			rs[n-1][1] = q
		} else if n == 0 || q > rs[n-1][1] {
			rs = append(rs, [2]int64{q, q})
		}
	}
	return rs
}

// deleteEvents removes seqs (recorded by recordPurge) from the live store
// and adds those it removed to rep. It sorts seqs first: segments are
// written day by day, so a batch's seqs come in day order, and the ranges
// need them ascending. DeleteEvents keeps events that a hold created since
// they were read covers, and may stop part way on error: when it removed
// fewer than asked, the ones still stored are read back so that rep.Purged
// holds exactly the removed seqs. Should that read fail, rep.Purged leaves
// out the batch and the read's error is returned (the record lists the
// batch either way: a verifier excuses the seqs removed and notes those
// present).
func (s *Service) deleteEvents(ctx context.Context, tenant string, seqs []int64, rep *Report) error {
	slices.Sort(seqs)
	n, err := s.store.DeleteEvents(ctx, tenant, seqs)
	rep.Removed += n
	s.metrics.removed.Add(float64(n))
	if n == len(seqs) {
		rep.Purged = addRanges(rep.Purged, seqs)
		return err
	}
	if err == nil {
		s.log.Warn("retention: a legal hold keeps events that the purge record lists; they stay", "tenant", tenant, "recorded", len(seqs), "removed", n)
	}
	if n == 0 {
		return err
	}
	left, rerr := s.stored(context.WithoutCancel(ctx), tenant, seqs[0], seqs[len(seqs)-1])
	if rerr != nil {
		s.log.Error("retention: cannot tell which recorded events were removed", "tenant", tenant, "first", seqs[0], "last", seqs[len(seqs)-1], "err", rerr)
		return errors.Join(err, rerr)
	}
	gone := seqs[:0:0]
	for _, q := range seqs {
		if !left[q] {
			gone = append(gone, q)
		}
	}
	rep.Purged = addRanges(rep.Purged, gone)
	return err
}

// stored returns the seqs from first to last that the live store holds.
func (s *Service) stored(ctx context.Context, tenant string, first, last int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	f := auditkeep.Filter{Order: auditkeep.OrderAsc, Limit: auditkeep.MaxLimit, Cursor: &auditkeep.Cursor{Seq: first - 1, Order: auditkeep.OrderAsc}}
	for {
		page, next, err := s.store.ListEvents(ctx, tenant, f)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if e.Seq > last {
				return out, nil
			}
			out[e.Seq] = true
		}
		if next == nil || len(page) == 0 {
			return out, nil
		}
		f.Cursor = &auditkeep.Cursor{Seq: page[len(page)-1].Seq, Order: auditkeep.OrderAsc}
	}
}

// detail returns ": cause" for errors whose cause an operator needs to see
// (archive and storage failures), "" otherwise.
func detail(err error) string {
	var e *auditkeep.Error
	if errors.As(err, &e) && e.Err != nil {
		return ": " + e.Err.Error()
	}
	return ""
}

func (s *Service) failed(ctx context.Context, tenant string, err error) error {
	if ctx.Err() != nil {
		return err
	}
	st, lerr := s.loadStatus(ctx, tenant)
	if lerr != nil {
		s.statusUnreadable(ctx, tenant, lerr)
		s.log.Error("retention: purge failed", "tenant", tenant, "err", err)
		return err
	}
	s.metrics.errors.Inc()
	st.Errors++
	st.LastError, st.LastErrorAt = auditkeep.ErrorMessage(err)+detail(err), s.now().UTC()
	s.saveStatus(ctx, tenant, st)
	s.log.Error("retention: purge failed", "tenant", tenant, "err", err)
	return err
}

func (s *Service) purge(ctx context.Context, tenant string, now time.Time, st *Status) (Report, error) {
	var rep Report
	t, err := s.store.GetTenant(ctx, tenant)
	if err != nil {
		return rep, err
	}
	cut := auditkeep.RetentionCutoff(now, t.RetentionDays)
	st.Cutoff = cut
	if cut.IsZero() {
		return rep, nil
	}
	holds, err := s.store.ListHolds(ctx, tenant)
	if err != nil {
		return rep, err
	}
	f := auditkeep.Filter{To: cut.Add(-time.Nanosecond), Order: auditkeep.OrderAsc, Limit: auditkeep.MaxLimit}
	var held []string
	for _, h := range holds {
		if h.Scope == "" {
			st.HeldBy = append(st.HeldBy, h.ID)
		}
		held = append(held, h.Scope)
	}
	if len(st.HeldBy) > 0 {
		return rep, nil // the whole tenant is held
	}
	// Purge records are kept whatever their age: they are what lets a
	// verifier tell the seqs they list from events removed unannounced.
	f.Terms = []auditkeep.Term{{Field: auditkeep.FieldAction, Values: []string{auditkeep.PurgeAction}, Negate: true}}
	if len(held) > 0 {
		f.Terms = append(f.Terms, auditkeep.Term{Field: auditkeep.FieldScope, Values: held, Negate: true})
	}
	var treeSize uint64
	if s.tree != nil {
		ts, err := s.tree.State(ctx, tenant)
		if err != nil {
			return rep, err
		}
		treeSize = ts.Size
	}
	bound, force, err := s.streamBound(ctx, tenant, cut)
	if err != nil {
		return rep, err
	}
	w := window{treeSize: treeSize, ledger: s.tree != nil, bound: bound, force: force}
	for {
		batch, more, err := s.expired(ctx, tenant, &f, &w)
		if err != nil {
			return rep, err
		}
		rep.Undelivered += w.undelivered
		w.undelivered = 0
		if len(batch) == 0 {
			switch {
			case w.streams:
				st.StreamsWaiting = true // expired events wait for a stream
			case more:
				st.Pending = true // expired events wait for the ledger
				rep.Waiting = 1
			}
			return rep, nil
		}
		b := purgeBatch{cutoff: cut}
		err = s.writeSegments(ctx, tenant, batch, &b, &rep)
		if b.last != "" {
			st.LastSegment = b.last
		}
		if err != nil {
			// Remove what the archive has confirmed; the rest stays.
			return rep, errors.Join(err, s.remove(ctx, tenant, b, &rep))
		}
		if err := s.remove(ctx, tenant, b, &rep); err != nil {
			return rep, err
		}
		if !more {
			return rep, nil
		}
		if err := s.takeTurns(ctx); err != nil {
			return rep, err
		}
	}
}

// takeTurns pauses between batches, so that ingest takes its turn; it
// returns ctx's error if ctx ends first.
func (s *Service) takeTurns(ctx context.Context) error {
	t := time.NewTimer(s.pause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// writeSegments writes events (in seq order) to the archive as segments
// (split), each with its proof when there is a ledger, and adds each
// segment written to b (its seqs, the archive has confirmed them) and rep.
// It stops at the first error; the segments written before stay in b.
func (s *Service) writeSegments(ctx context.Context, tenant string, events []*auditkeep.Event, b *purgeBatch, rep *Report) error {
	for _, seg := range split(events, s.maxSpan) {
		var proof *archive.Proof
		if s.tree != nil {
			var err error
			if proof, err = archive.BuildProof(ctx, s.tree, tenant, seg[0].Seq, seg[len(seg)-1].Seq); err != nil {
				return err
			}
		}
		m, err := s.arch.Write(ctx, seg, proof)
		if err != nil {
			return err
		}
		rep.Segments++
		rep.Archived += len(seg)
		s.metrics.segments.Inc()
		s.metrics.archived.Add(float64(len(seg)))
		b.segments++
		b.last = m.Name
		for _, e := range seg {
			b.seqs = append(b.seqs, e.Seq)
		}
	}
	return nil
}

// window is what lets expired events go at a run: the ledger (only
// integrated events, up to treeSize) and the tenant's streams (only events
// up to bound, the lowest stream cursor, unless they occurred before force;
// bound -1 when no stream holds any).
type window struct {
	treeSize    uint64
	ledger      bool
	bound       int64
	force       time.Time
	streams     bool // set by expired: it stopped at an event a stream has not delivered
	undelivered int  // set by expired: events of the batch a stream had not delivered (past the cap)
}

// expired reads the next batch of expired events after f's cursor (at
// most BatchSize, only those the window lets go) and advances the cursor.
// more reports whether events are left after the batch.
func (s *Service) expired(ctx context.Context, tenant string, f *auditkeep.Filter, w *window) (batch []*auditkeep.Event, more bool, err error) {
	for len(batch) < s.batch {
		f.Limit = min(auditkeep.MaxLimit, s.batch-len(batch))
		page, next, err := s.store.ListEvents(ctx, tenant, *f)
		if err != nil {
			return nil, false, err
		}
		for _, e := range page {
			if w.ledger && uint64(e.Seq) > w.treeSize {
				return batch, true, nil // not integrated yet: archived at a later run with its proof
			}
			if w.bound >= 0 && e.Seq > w.bound {
				if !e.OccurredAt.Before(w.force) {
					w.streams = true
					return batch, true, nil // a stream has not delivered it yet: kept, up to the cap
				}
				w.undelivered++
			}
			batch = append(batch, e)
		}
		if len(page) > 0 {
			f.Cursor = &auditkeep.Cursor{Seq: page[len(page)-1].Seq, Order: auditkeep.OrderAsc}
		}
		if next == nil {
			return batch, false, nil
		}
	}
	return batch, true, nil
}

// split groups events (in seq order) into segments: one UTC day of
// occurred_at each, in seq order, a new segment when the seq range would
// span more than maxSpan seqs.
func split(events []*auditkeep.Event, maxSpan int64) [][]*auditkeep.Event {
	byDay := map[string][]*auditkeep.Event{}
	var days []string
	for _, e := range events {
		d := e.OccurredAt.UTC().Format(time.DateOnly)
		if _, ok := byDay[d]; !ok {
			days = append(days, d)
		}
		byDay[d] = append(byDay[d], e)
	}
	var out [][]*auditkeep.Event
	for _, d := range days {
		evs := byDay[d]
		start := 0
		for i := 1; i <= len(evs); i++ {
			if i == len(evs) || evs[i].Seq-evs[start].Seq >= maxSpan {
				out = append(out, evs[start:i])
				start = i
			}
		}
	}
	return out
}

// loadStatus reads the tenant's Status. Only a status never stored
// (ENOTFOUND) starts empty; a failed read, or a stored status that cannot be
// decoded (EINTERNAL), is returned, so that no run saves an empty status
// over the totals.
func (s *Service) loadStatus(ctx context.Context, tenant string) (*Status, error) {
	st := &Status{}
	b, err := s.store.GetSetting(ctx, tenant, statusSetting)
	switch {
	case auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND:
		return st, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINTERNAL, Message: fmt.Sprintf("the retention status of tenant %s cannot be read", tenant), Err: err}
	}
	return st, nil
}

// statusUnreadable reports a status that loadStatus could not read: the
// run that needed it stops, and nothing is saved over the status.
func (s *Service) statusUnreadable(ctx context.Context, tenant string, err error) error {
	if ctx.Err() == nil {
		s.metrics.errors.Inc()
		s.log.Error("retention: the job's status cannot be read; the tenant is not purged until it can", "tenant", tenant, "err", err)
	}
	return err
}

func (s *Service) saveStatus(ctx context.Context, tenant string, st *Status) {
	b, _ := json.Marshal(st)
	if err := s.store.PutSetting(context.WithoutCancel(ctx), tenant, statusSetting, b); err != nil {
		s.log.Warn("retention: could not store the status", "tenant", tenant, "err", err)
	}
}

// TenantStatus is a tenant's retention as GET /v1/retention shows it.
type TenantStatus struct {
	Tenant        string            `json:"tenant"`
	RetentionDays int               `json:"retention_days"`
	Plan          string            `json:"plan,omitempty"`
	Holds         []*auditkeep.Hold `json:"holds"`
	Archive       string            `json:"archive,omitempty"` // the archive URL, without credentials
	Status        *Status           `json:"status"`
	// Streams says how the tenant's streams hold expired events (absent
	// when the server runs no streams).
	Streams *StreamWaitStatus `json:"streams,omitempty"`
}

// TenantStatus returns the tenant's retention, holds and the job's status
// for it. Returns ENOTFOUND for an unknown tenant.
func (s *Service) TenantStatus(ctx context.Context, tenant string) (*TenantStatus, error) {
	t, err := s.store.GetTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	hs, err := s.ListHolds(ctx, tenant)
	if err != nil {
		return nil, err
	}
	st, err := s.loadStatus(ctx, tenant)
	if err != nil {
		return nil, err
	}
	ts := &TenantStatus{Tenant: t.ID, RetentionDays: t.RetentionDays, Plan: t.Plan, Holds: hs, Status: st}
	if ts.Streams, err = s.streamStatus(ctx, tenant, st); err != nil {
		return nil, err
	}
	if s.arch != nil {
		ts.Archive = s.arch.URL()
	}
	return ts, nil
}
