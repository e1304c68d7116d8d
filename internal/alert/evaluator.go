package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is what the evaluator needs of a store.
type Store interface {
	auditkeep.AlertStore
	ListEvents(ctx context.Context, tenant string, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error)
	ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error
}

// Config configures an Evaluator.
type Config struct {
	Store Store // required
	// Owner names this node in evaluator leases; "" picks a random name.
	Owner     string
	BatchSize int           // most events read per evaluation; 0: 500
	Poll      time.Duration // how often tenants and rules are looked at without a commit notice; 0: 1s
	LeaseTTL  time.Duration // how long a lease lasts unrenewed, so how soon another node takes over; 0: 5s
	// Defaults, when set, gives every tenant that gets events (or has
	// rules) the default rules (DefaultRules), once.
	Defaults bool
	// Raised, when set, is called with each alert once its evaluation is
	// committed (to record it in the tenant's log, to wake a notifier);
	// it is called for several alerts at once, so it must be safe for that.
	Raised func(ctx context.Context, a *auditkeep.Alert)

	Now      func() time.Time      // nil: time.Now
	Logger   *slog.Logger          // nil: slog.Default()
	Registry prometheus.Registerer // nil: metrics are not registered
}

// Evaluator evaluates every tenant's alert rules over its log: Open
// starts it, Close stops it. Each tenant's evaluation is a consumer of
// its log behind a durable cursor, committed with the alerts it raised
// (and their notifications) in one transaction, under a lease that makes
// one node of a deployment evaluate each tenant.
type Evaluator struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	mu      sync.Mutex
	workers map[string]*worker

	refresh chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New returns an evaluator; it evaluates nothing until Open.
func New(cfg Config) *Evaluator {
	if cfg.Owner == "" {
		b := make([]byte, 8)
		rand.Read(b)
		cfg.Owner = "node-" + hex.EncodeToString(b)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	cfg.BatchSize = min(cfg.BatchSize, auditkeep.MaxLimit)
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 5 * time.Second
	}
	ev := &Evaluator{cfg: cfg, store: cfg.Store, log: cfg.Logger, now: cfg.Now,
		workers: map[string]*worker{}, refresh: make(chan struct{}, 1)}
	if ev.log == nil {
		ev.log = slog.Default()
	}
	if ev.now == nil {
		ev.now = time.Now
	}
	ev.metrics = newMetrics(cfg.Registry)
	return ev
}

// Owner is the name of this node in evaluator leases.
func (ev *Evaluator) Owner() string { return ev.cfg.Owner }

// Open starts evaluating: the tenants with rules are looked at now and
// every Poll, and a tenant whose log grows (NotifyCommit) at once.
func (ev *Evaluator) Open() {
	ev.ctx, ev.cancel = context.WithCancel(context.Background())
	ev.wg.Add(1)
	go func() {
		defer ev.wg.Done()
		t := time.NewTicker(ev.cfg.Poll)
		defer t.Stop()
		for {
			ev.startWorkers()
			select {
			case <-ev.ctx.Done():
				return
			case <-t.C:
			case <-ev.refresh:
			}
		}
	}()
}

// Close stops evaluation and waits for every tenant's worker to end;
// leases are released so that another node takes over at once. What was
// evaluated but not committed is evaluated again by the next evaluator.
func (ev *Evaluator) Close() error {
	if ev.cancel == nil {
		return nil
	}
	ev.cancel()
	ev.wg.Wait()
	return nil
}

// startWorkers starts a worker for each tenant with rules that has none.
func (ev *Evaluator) startWorkers() {
	rules, err := ev.store.ListAlertRules(ev.ctx, "")
	if err != nil {
		if ev.ctx.Err() == nil {
			ev.log.Warn("alerts: cannot list rules", "err", err)
		}
		return
	}
	for _, r := range rules {
		ev.start(r.Tenant)
	}
}

// start starts the tenant's worker unless it runs.
func (ev *Evaluator) start(tenant string) *worker {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if w := ev.workers[tenant]; w != nil {
		return w
	}
	if ev.ctx == nil || ev.ctx.Err() != nil {
		return nil
	}
	w := &worker{ev: ev, tenant: tenant, wake: make(chan struct{}, 1)}
	ev.workers[tenant] = w
	ev.wg.Add(1)
	go func() {
		defer ev.wg.Done()
		w.run(ev.ctx)
		ev.mu.Lock()
		delete(ev.workers, tenant)
		ev.mu.Unlock()
	}()
	return w
}

// Notify tells the evaluator that the tenant's log grew (or its rules
// changed): its worker looks now rather than at the next Poll.
func (ev *Evaluator) Notify(tenant string) {
	if w := ev.start(tenant); w != nil {
		w.poke()
	}
}

// NotifyCommit is Notify for each tenant of a commit's events, as the
// committer's OnCommit hook gives them.
func (ev *Evaluator) NotifyCommit(stored []*auditkeep.Event) {
	seen := ""
	for _, e := range stored {
		if e.Tenant != seen {
			seen = e.Tenant
			ev.Notify(e.Tenant)
		}
	}
}

// worker evaluates one tenant's log while this node holds its lease.
type worker struct {
	ev     *Evaluator
	tenant string
	wake   chan struct{}
	stale  atomic.Bool // the rules changed: reload them

	// Held while evaluating: the state committed, the windows matching it.
	ready    bool
	state    auditkeep.AlertEvaluatorState
	tr       *tracker
	rulesAt  time.Time
	defaults bool
}

// Check checks a rule whole (Compile): its shape, its match parsed as q,
// its condition compiled as CEL. Returns EINVALID naming the field.
func (ev *Evaluator) Check(r *auditkeep.AlertRule) error {
	_, err := Compile(r)
	return err
}

// Backtest returns the alerts r would have raised over the tenant's events
// that occurred in [from, to] (the first MaxBacktestAlerts), oldest first;
// it stores nothing.
func (ev *Evaluator) Backtest(ctx context.Context, tenant string, r *auditkeep.AlertRule, from, to time.Time) ([]*auditkeep.Alert, error) {
	res, err := backtest(ctx, ev.store, tenant, r, from, to, MaxBacktestAlerts)
	if err != nil {
		return nil, err
	}
	return res.Examples, nil
}

// EnsureDefaults gives the tenant the default rules it never had.
func (ev *Evaluator) EnsureDefaults(ctx context.Context, tenant string) error {
	_, err := ev.store.EnsureDefaultAlertRules(ctx, tenant, DefaultRules(tenant, ev.now()))
	return err
}

// RulesChanged tells the evaluator that the tenant's rules changed: its
// worker reloads them before its next evaluation.
func (ev *Evaluator) RulesChanged(tenant string) {
	if w := ev.start(tenant); w != nil {
		w.stale.Store(true)
		w.poke()
	}
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-w.wake:
	}
}

func (w *worker) run(ctx context.Context) {
	ev := w.ev
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ev.store.ReleaseAlertEvaluator(rctx, w.tenant, ev.cfg.Owner)
	}()
	for ctx.Err() == nil {
		if ev.cfg.Defaults && !w.defaults {
			if _, err := ev.store.EnsureDefaultAlertRules(ctx, w.tenant, DefaultRules(w.tenant, ev.now())); err != nil {
				if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
					return
				}
				ev.log.Warn("alerts: cannot create the default rules", "tenant", w.tenant, "err", err)
			} else {
				w.defaults = true
			}
		}
		held, st, err := ev.store.LeaseAlertEvaluator(ctx, w.tenant, ev.cfg.Owner, ev.cfg.LeaseTTL)
		if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
			return
		}
		if err != nil || !held {
			if err != nil && ctx.Err() == nil {
				ev.log.Warn("alerts: cannot take the evaluator's lease", "tenant", w.tenant, "err", err)
			}
			w.ready = false
			w.sleep(ctx, ev.cfg.LeaseTTL/3)
			continue
		}
		if !w.ready || st != w.state {
			if err := w.rebuild(ctx, st); err != nil {
				if ctx.Err() == nil {
					ev.log.Warn("alerts: cannot rebuild the windows", "tenant", w.tenant, "err", err)
				}
				w.ready = false
				w.sleep(ctx, ev.cfg.Poll)
				continue
			}
		}
		more, err := w.evaluate(ctx)
		if err != nil {
			if ctx.Err() == nil {
				ev.log.Warn("alerts: evaluation failed; starting again from the stored cursor", "tenant", w.tenant, "err", err)
			}
			w.ready = false
			w.sleep(ctx, ev.cfg.Poll)
			continue
		}
		if !more {
			w.sleep(ctx, min(ev.cfg.Poll, ev.cfg.LeaseTTL/3))
		}
	}
}

// loadRules compiles the tenant's enabled rules into the tracker. A rule
// that no longer compiles (stored before a stricter check) is logged and
// left out.
func (w *worker) loadRules(ctx context.Context) error {
	list, err := w.ev.store.ListAlertRules(ctx, w.tenant)
	if err != nil {
		return err
	}
	var rules []*Rule
	for _, r := range list {
		if !r.Enabled {
			continue
		}
		c, err := Compile(r)
		if err != nil {
			w.ev.metrics.ruleErrors.Inc()
			w.ev.log.Warn("alerts: a stored rule does not compile; it is not evaluated", "tenant", w.tenant, "rule", r.ID, "err", err)
			continue
		}
		rules = append(rules, c)
	}
	w.tr.setRules(rules)
	w.rulesAt = w.ev.now()
	return nil
}

// loadAlerts gives the tracker the tenant's unresolved alerts and, for a
// rebuild, those holding events after seq after.
func (w *worker) loadAlerts(ctx context.Context, holdingAfter int64) error {
	active, err := w.listAlerts(ctx, auditkeep.AlertFilter{States: []string{auditkeep.AlertOpen, auditkeep.AlertAcknowledged}})
	if err != nil {
		return err
	}
	var holding []*auditkeep.Alert
	if holdingAfter >= 0 {
		if holding, err = w.listAlerts(ctx, auditkeep.AlertFilter{LastSeqAfter: holdingAfter}); err != nil {
			return err
		}
	}
	w.tr.setActive(active, holding)
	return nil
}

func (w *worker) listAlerts(ctx context.Context, f auditkeep.AlertFilter) ([]*auditkeep.Alert, error) {
	var out []*auditkeep.Alert
	f.Limit = auditkeep.MaxLimit
	for {
		page, next, err := w.ev.store.ListAlerts(ctx, w.tenant, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		f.Cursor = next
	}
}

// rebuild refills the windows from the log as the committed state st
// left them: the events (st.RebuildFrom, st.Cursor] are read again,
// without raising or extending anything.
func (w *worker) rebuild(ctx context.Context, st auditkeep.AlertEvaluatorState) error {
	w.tr = newTracker(w.ev.now)
	if err := w.loadRules(ctx); err != nil {
		return err
	}
	if err := w.loadAlerts(ctx, st.RebuildFrom); err != nil {
		return err
	}
	cursor := st.RebuildFrom
	for cursor < st.Cursor && len(w.tr.rules) > 0 {
		page, err := w.read(ctx, cursor, st.Cursor)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			w.apply(e, true)
			cursor = e.Seq
		}
	}
	for _, rs := range w.tr.rules {
		rs.held = map[string]bool{}
	}
	w.tr.take() // a rebuild raises nothing
	w.state, w.ready = st, true
	return nil
}

// read returns the next events of the log after seq after, up to seq
// upTo when it is above 0, oldest first.
func (w *worker) read(ctx context.Context, after, upTo int64) ([]*auditkeep.Event, error) {
	page, _, err := w.ev.store.ListEvents(ctx, w.tenant, auditkeep.Filter{Sort: auditkeep.SortSeq, Order: auditkeep.OrderAsc,
		Limit: w.ev.cfg.BatchSize, Cursor: &auditkeep.Cursor{Seq: after, Order: auditkeep.OrderAsc}})
	if err != nil {
		return nil, err
	}
	if upTo > 0 {
		for i, e := range page {
			if e.Seq > upTo {
				return page[:i], nil
			}
		}
	}
	return page, nil
}

// apply runs every rule on e.
func (w *worker) apply(e *auditkeep.Event, replay bool) {
	if alertRecord(e) {
		return
	}
	var in Input
	for _, rs := range w.tr.rules {
		ok, err := rs.rule.Matches(e, &in)
		if err != nil {
			if !replay {
				w.ev.metrics.ruleErrors.Inc()
				w.ev.log.Warn("alerts: a rule failed on an event; the event is skipped for it", "tenant", w.tenant, "rule", rs.rule.ID, "event", e.ID, "err", err)
			}
			continue
		}
		if ok {
			w.tr.add(rs, e, replay)
		}
	}
}

// raisedAtOnce bounds the Raised calls of one batch that run at once.
const raisedAtOnce = 64

// evaluate reads the next batch of the log, evaluates it and commits.
// It reports whether more events may be waiting.
func (w *worker) evaluate(ctx context.Context) (bool, error) {
	ev := w.ev
	if w.stale.Swap(false) || ev.now().Sub(w.rulesAt) >= ev.cfg.Poll {
		if err := w.loadRules(ctx); err != nil {
			return false, err
		}
	}
	page, err := w.read(ctx, w.state.Cursor, 0)
	if err != nil || len(page) == 0 {
		if err == nil {
			ev.metrics.behind.Set(0)
		}
		return false, err
	}
	if len(w.tr.rules) > 0 {
		if err := w.loadAlerts(ctx, -1); err != nil {
			return false, err
		}
	}
	for _, e := range page {
		w.apply(e, false)
	}
	last := page[len(page)-1]
	raised, extended := w.tr.take()
	to := auditkeep.AlertEvaluatorState{Cursor: last.Seq, RebuildFrom: last.Seq}
	if low := w.tr.lowestSeq(); low > 0 {
		to.RebuildFrom = low - 1
	}
	if err := ev.store.CommitAlertEvaluation(ctx, w.tenant, ev.cfg.Owner, &auditkeep.AlertEvaluation{
		From: w.state, To: to, Raised: raised, Extended: extended}); err != nil {
		return false, err
	}
	w.state = to
	w.tr.prune()
	now := ev.now()
	ev.metrics.evaluated.Add(float64(len(page)))
	ev.metrics.extended.Add(float64(len(extended)))
	if !last.ReceivedAt.IsZero() {
		ev.metrics.lag.Observe(max(now.Sub(last.ReceivedAt), 0).Seconds())
		ev.metrics.behind.Set(max(now.Sub(last.ReceivedAt), 0).Seconds())
	}
	// Raised is called for the batch's alerts side by side (at most
	// raisedAtOnce at a time): recording each in the log waits for a
	// commit, and concurrent records share commits.
	var wg sync.WaitGroup
	sem := make(chan struct{}, raisedAtOnce)
	for _, a := range raised {
		ev.metrics.raised.WithLabelValues(a.Severity).Inc()
		ev.log.Info("alerts: alert raised", "tenant", w.tenant, "rule", a.RuleID, "alert", a.ID, "severity", a.Severity, "count", a.Count)
		if ev.cfg.Raised != nil {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				ev.cfg.Raised(ctx, a)
			})
		}
	}
	wg.Wait()
	return len(page) == ev.cfg.BatchSize, nil
}
