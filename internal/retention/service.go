// Package retention enforces each tenant's retention: events older than the
// tenant's retention (by occurred_at) are written to an archive
// (internal/archive) and, once the archive has confirmed them, removed from
// the live store in bounded batches; legal holds keep events whatever the
// retention says; reads never show an expired event, even before the job
// has run (Guard); late events already past retention are refused (Step).
//
// Holds, retention changes and purges are recorded as events in the
// tenant's own log (actions hold.create, hold.delete, retention.update,
// retention.purge), through the same ingest path as any event, so they get
// a seq and a leaf in the tenant's ledger.
package retention

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is what the retention service needs of a store.
type Store interface {
	auditkeep.RetentionStore
	GetTenant(ctx context.Context, id string) (*auditkeep.Tenant, error)
	ListEvents(ctx context.Context, tenant string, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error)
	GetSetting(ctx context.Context, tenant, name string) ([]byte, error)
	PutSetting(ctx context.Context, tenant, name string, value []byte) error
}

// Recorder ingests one event (a JSON object, as POST /v1/events takes it)
// into tenant's log; ingest.Service.Ingest fulfils it.
type Recorder func(ctx context.Context, tenant string, body []byte) error

// Appender commits validated events (Tenant and ReceivedAt set), as
// ingest.Service.Store does; restore uses it.
type Appender func(ctx context.Context, events []*auditkeep.Event) error

// Config configures a Service.
type Config struct {
	Store   Store            // required
	Archive *archive.Archive // required for the job and restore
	// Locker, when set, takes the store's retention locks, so that one node
	// at a time purges a tenant (the PostgreSQL store, which several nodes
	// share); nil: only this process's runs are kept apart, which is enough
	// for a store that one process owns (the embedded store). Within one
	// process the service serialises each tenant's runs itself either way.
	Locker auditkeep.RetentionLocker
	// Partitions, when set, is the store's monthly partitions (PostgreSQL):
	// the job drops a past month's partition whole when every tenant in it
	// lets it go, and drops the partitions its runs emptied; nil: expired
	// events are deleted row by row.
	Partitions auditkeep.PartitionStore
	// Tree, when set, is the ledger's storage: events are archived only
	// once integrated, each segment with its proof. When nil, segments
	// have no proof.
	Tree  archive.TreeSource
	Plans Plans // nil: DefaultPlans
	// Recorder records hold, retention and purge events; nil: not
	// recorded (purges then remove events with no record a verifier could
	// accept). A batch is removed only once its purge record is committed.
	Recorder Recorder
	Appender Appender // restore into a tenant; nil: restore into a tenant is refused
	// Streams, when set, keeps the events its streams have not delivered
	// from the job for up to StreamWait past their retention (0: not at
	// all).
	Streams    StreamHolder
	StreamWait time.Duration

	Interval  time.Duration // between runs; 0: 1h
	BatchSize int           // events archived and removed per transaction; 0: 5000
	Pause     time.Duration // pause between batches, so that ingest takes turns; 0: 20ms
	MaxSpan   int64         // most seqs one segment's range spans; 0: 4 × BatchSize
	CacheTTL  time.Duration // how long reads trust a tenant's cached retention; 0: 5s
	// IntegrationWait bounds how long a purge waits for its record to be
	// in a signed checkpoint (with Tree) before removing; 0: 30s.
	IntegrationWait time.Duration

	Now      func() time.Time      // the clock; nil: time.Now
	Logger   *slog.Logger          // nil: slog.Default()
	Registry prometheus.Registerer // nil: metrics are not registered
}

// Service runs retention: the purge job (Open/Close), holds, plans,
// the read guard's cutoffs, restore.
type Service struct {
	store      Store
	locker     auditkeep.RetentionLocker
	partitions auditkeep.PartitionStore
	arch       *archive.Archive
	tree       archive.TreeSource
	plans      Plans
	recorder   Recorder
	appender   Appender
	streams    StreamHolder
	streamWait time.Duration
	interval   time.Duration
	batch      int
	pause      time.Duration
	maxSpan    int64
	ttl        time.Duration
	waitTree   time.Duration
	now        func() time.Time
	log        *slog.Logger
	metrics    *metrics

	cacheMu sync.Mutex
	cache   map[string]cached

	lockMu  sync.Mutex
	running map[string]bool // tenants being purged by this process

	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type cached struct {
	days int
	held bool // any active hold
	at   time.Time
}

// New returns a service. Call Open to start the job.
func New(cfg Config) *Service {
	s := &Service{
		store: cfg.Store, locker: cfg.Locker, partitions: cfg.Partitions, arch: cfg.Archive, tree: cfg.Tree, plans: cfg.Plans,
		recorder: cfg.Recorder, appender: cfg.Appender, streams: cfg.Streams, streamWait: cfg.StreamWait,
		interval: cfg.Interval, batch: cfg.BatchSize, pause: cfg.Pause, maxSpan: cfg.MaxSpan, ttl: cfg.CacheTTL, waitTree: cfg.IntegrationWait,
		now: cfg.Now, log: cfg.Logger,
		cache: map[string]cached{}, running: map[string]bool{}, wake: make(chan struct{}, 1),
	}
	if s.plans == nil {
		s.plans = DefaultPlans()
	}
	if s.interval <= 0 {
		s.interval = time.Hour
	}
	if s.batch <= 0 {
		s.batch = 5000
	}
	if s.pause <= 0 {
		s.pause = 20 * time.Millisecond
	}
	if s.maxSpan <= 0 {
		s.maxSpan = 4 * int64(s.batch)
	}
	if s.ttl <= 0 {
		s.ttl = 5 * time.Second
	}
	if s.waitTree <= 0 {
		s.waitTree = 30 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.metrics = newMetrics(cfg.Registry)
	return s
}

// Plans returns the configured plans.
func (s *Service) Plans() Plans { return s.plans }

// Archive returns the archive (nil when none is configured).
func (s *Service) Archive() *archive.Archive { return s.arch }

// Open starts the job: a run at once, then one every Interval (and when
// Trigger is called) until Close.
func (s *Service) Open() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			rep, err := s.Run(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("retention run failed", "err", err)
			}
			// Events that wait for the ledger are due soon: look again
			// shortly rather than at the next interval.
			var soon <-chan time.Time
			if rep.Waiting > 0 {
				soon = time.After(min(s.interval, waitingRetry))
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-s.wake:
			case <-soon:
			}
		}
	}()
}

// waitingRetry is how soon the job runs again when expired events wait to
// be integrated into the ledger (which takes about a second).
const waitingRetry = 2 * time.Second

// Trigger asks the job for a run now (without waiting for it).
func (s *Service) Trigger() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close stops the job, waiting for the batch in progress to end (a batch
// is archived, recorded and removed, or left in place; once recorded, its
// removal is not cancelled).
func (s *Service) Close() error {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	return nil
}

// TenantUpdated is called after a tenant's retention or plan changed: it
// forgets the cached retention and records retention.update in the
// tenant's log with the old and new values.
func (s *Service) TenantUpdated(ctx context.Context, old, updated *auditkeep.Tenant, by Actor) {
	s.invalidate(updated.ID)
	if old.RetentionDays == updated.RetentionDays && old.Plan == updated.Plan {
		return
	}
	s.log.Info("tenant retention changed", "tenant", updated.ID, "retention_days", updated.RetentionDays, "plan", updated.Plan)
	s.record(ctx, updated.ID, by, "retention.update", "update", &auditkeep.Target{Type: "tenant", ID: updated.ID},
		map[string]any{"old": map[string]any{"retention_days": old.RetentionDays, "plan": old.Plan},
			"new": map[string]any{"retention_days": updated.RetentionDays, "plan": updated.Plan}},
		"Changed retention from "+daysText(old.RetentionDays)+" to "+daysText(updated.RetentionDays))
	s.Trigger()
}

func daysText(d int) string {
	if d == 0 {
		return "unlimited"
	}
	b, _ := json.Marshal(d)
	if d == 1 {
		return "1 day"
	}
	return string(b) + " days"
}

func (s *Service) invalidate(tenant string) {
	s.cacheMu.Lock()
	delete(s.cache, tenant)
	s.cacheMu.Unlock()
}

// policy returns the tenant's retention days and whether any hold is
// active, cached for CacheTTL.
func (s *Service) policy(ctx context.Context, tenant string) (cached, error) {
	now := s.now()
	s.cacheMu.Lock()
	c, ok := s.cache[tenant]
	s.cacheMu.Unlock()
	if ok && now.Sub(c.at) < s.ttl && !now.Before(c.at) {
		return c, nil
	}
	t, err := s.store.GetTenant(ctx, tenant)
	if err != nil {
		return cached{}, err
	}
	c = cached{days: t.RetentionDays, at: now}
	if c.days > 0 {
		hs, err := s.store.ListHolds(ctx, tenant)
		if err != nil {
			return cached{}, err
		}
		c.held = len(hs) > 0
	}
	s.cacheMu.Lock()
	if len(s.cache) > 100000 {
		clear(s.cache)
	}
	s.cache[tenant] = c
	s.cacheMu.Unlock()
	return c, nil
}

// ReadCutoff returns the earliest occurred_at that reads of the tenant may
// show: now − retention. It is zero (no limit) when retention is unlimited
// or when a legal hold is active: held events stay readable for the
// investigation, and expired events that no hold covers leave at the next
// run. Unknown tenants have no limit (their reads find nothing anyway).
func (s *Service) ReadCutoff(ctx context.Context, tenant string) (time.Time, error) {
	if tenant == "" {
		return time.Time{}, nil
	}
	c, err := s.policy(ctx, tenant)
	if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
		return time.Time{}, nil
	}
	if err != nil || c.held {
		return time.Time{}, err
	}
	return auditkeep.RetentionCutoff(s.now(), c.days), nil
}

// Step is an ingest step: it refuses an event whose occurred_at is already
// past the tenant's retention (it would be removed at once and could not be
// archived with its proof yet), with EINVALID naming "occurred_at".
func (s *Service) Step(ctx context.Context, tenant string, e *auditkeep.Event) error {
	c, err := s.policy(ctx, tenant)
	if err != nil {
		if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
			return nil // the store reports the unknown tenant
		}
		return err
	}
	cut := auditkeep.RetentionCutoff(s.now(), c.days)
	if !cut.IsZero() && e.OccurredAt.Before(cut) {
		return auditkeep.FieldErrorf("occurred_at", "occurred_at %s is older than the tenant's retention of %s (events before %s are removed); such an event is refused, not stored",
			e.OccurredAt.UTC().Format(time.RFC3339), daysText(c.days), cut.UTC().Format(time.RFC3339))
	}
	return nil
}
