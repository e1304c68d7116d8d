package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Default settings of an Integrator.
const (
	DefaultInterval    = time.Second
	DefaultMaxBatch    = 10000
	DefaultMaxBuffered = 50000
)

// IntegratorConfig configures an Integrator.
type IntegratorConfig struct {
	Storage Storage // required
	Events  Events  // required
	Signer  Signer  // required: signs every new checkpoint
	// Verifier, when set, is the verifier of Signer's key. A tenant whose
	// latest checkpoint it does not verify because another key signed it
	// is then held: not extended, not signed (Held), since signing it with
	// this key would re-sign its history silently. Nil: not checked.
	Verifier Verifier
	// OriginPrefix is prefixed to the tenant to form a checkpoint's origin;
	// "" means DefaultOriginPrefix.
	OriginPrefix string
	// Interval is how often every tenant that Events.Tenants names is
	// checked, in case a Notify was missed (another node's commit); 0 means
	// DefaultInterval.
	Interval time.Duration
	// Coalesce is how long the integrator gathers Notify calls after the
	// first before it integrates the tenants named: one integration step
	// (one more fsynced write) per tenant per period rather than one per
	// group commit, which would double the writes. 0 integrates at once.
	Coalesce time.Duration
	// MaxBatch bounds the leaves of one integration step (one atomic write);
	// 0 means DefaultMaxBatch.
	MaxBatch int
	// MaxBuffered bounds the committed events handed over by Committed that
	// are kept in memory per tenant (the newest are kept); 0 means
	// DefaultMaxBuffered.
	MaxBuffered int
	// Logger receives errors and gaps; nil means slog.Default().
	Logger *slog.Logger
	// Observe, when set, is called after every stored step, from the
	// integrator's goroutine; it must not block. Feed Step.Lag to a histogram.
	Observe func(Step)
}

// Step describes one stored integration step.
type Step struct {
	Tenant           string
	OldSize, NewSize uint64
	// Lag is the time from the received_at of the step's oldest event to the
	// moment its checkpoint was stored: the integration lag (commit →
	// checkpoint), at its worst for this step.
	Lag time.Duration
	// Duration is how long the step took, reading events included.
	Duration time.Duration
	// Buffered is how many of the step's events came from memory
	// (Committed) rather than from a read of the store.
	Buffered int
}

// Stats are an Integrator's counters since Open.
type Stats struct {
	Steps       uint64    // integration steps stored
	Leaves      uint64    // leaves integrated
	Errors      uint64    // failed integration attempts (gaps included)
	LastError   string    // the latest error, "" if none
	LastErrorAt time.Time // when it happened
}

// GapError reports that a tenant's events are not contiguous: the event
// after Size has seq Got instead of Size+1 (Got 0 when the scan yielded an
// event that repeats or goes back). The integrator stops before the gap and
// never skips it.
type GapError struct {
	Tenant string
	Size   uint64
	Got    int64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("tenant %s: event after seq %d has seq %d: events are not contiguous", e.Tenant, e.Size, e.Got)
}

// Integrator appends every tenant's committed events to its Merkle tree, in
// seq order, and signs a checkpoint after each step. Several integrators
// (nodes) may run against one Storage: its lock lets one at a time work on a
// tenant. Open starts it, Close stops it.
type Integrator struct {
	cfg     IntegratorConfig
	factory *compact.RangeFactory
	logger  *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	mu      sync.Mutex
	pending map[string]struct{}
	ranges  map[string]*tree  // each tenant's stored tree as this integrator last stored or checked it, a cache
	held    map[string]string // tenants whose checkpoints another key signed, with the reasons (Held)
	heldAt  map[string][]byte // the checkpoint each tenant was held at
	// buffered holds, per tenant, events this process committed (Committed),
	// in seq order with no gap, not yet known to be integrated.
	buffered map[string][]*auditkeep.Event
	nbuf     int // events in buffered, all tenants
	stats    Stats
}

// NewIntegrator returns an Integrator; it does nothing until Open.
func NewIntegrator(cfg IntegratorConfig) *Integrator {
	if cfg.OriginPrefix == "" {
		cfg.OriginPrefix = DefaultOriginPrefix
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = DefaultMaxBuffered
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Integrator{
		cfg:      cfg,
		factory:  &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren},
		logger:   logger.With("component", "ledger"),
		wake:     make(chan struct{}, 1),
		pending:  map[string]struct{}{},
		ranges:   map[string]*tree{},
		held:     map[string]string{},
		heldAt:   map[string][]byte{},
		buffered: map[string][]*auditkeep.Event{},
	}
}

// Open starts the integrator's goroutine, which first catches up every
// tenant Events.Tenants names. Returns EINVALID when the config lacks
// Storage, Events or Signer.
func (in *Integrator) Open() error {
	if in.cfg.Storage == nil || in.cfg.Events == nil || in.cfg.Signer == nil {
		return auditkeep.Errorf(auditkeep.EINVALID, "ledger integrator needs storage, events and a signer")
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		in.run(ctx)
	}()
	return nil
}

// Close stops the goroutine and waits for the step in progress to end.
func (in *Integrator) Close() error {
	if in.cancel != nil {
		in.cancel()
	}
	in.wg.Wait()
	return nil
}

// Notify tells the integrator that tenant has new committed events. It never
// blocks.
func (in *Integrator) Notify(tenant string) {
	in.mu.Lock()
	in.pending[tenant] = struct{}{}
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// Committed hands the integrator events this process has just committed,
// as stored (seq and received_at assigned), in commit order. The integrator
// then hashes them from memory instead of reading them back from the store
// when they continue a tenant's tree; whatever it cannot take from memory (a
// seq another node committed, a buffer over MaxBuffered) it reads from the
// store as before, so handing events over is an optimisation, never needed
// for correctness. The events must not be changed afterwards. Committed
// does not notify: call Notify for the tenants.
func (in *Integrator) Committed(events []*auditkeep.Event) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range events {
		buf := in.buffered[e.Tenant]
		if n := len(buf); n > 0 && buf[n-1].Seq+1 != e.Seq {
			in.nbuf -= n
			buf = buf[:0] // not contiguous: what came before is read from the store
		}
		if len(buf) >= in.cfg.MaxBuffered {
			// Keep the newest: the integrator reads the older ones from the
			// store, then continues from memory.
			in.nbuf -= len(buf) / 2
			buf = append(buf[:0], buf[len(buf)/2:]...)
		}
		in.buffered[e.Tenant] = append(buf, e)
		in.nbuf++
	}
	if in.nbuf > maxBufferedTenants*in.cfg.MaxBuffered {
		// Many tenants behind at once: let them all read the store.
		clear(in.buffered)
		in.nbuf = 0
	}
}

// maxBufferedTenants bounds the events all tenants keep in memory to this
// many times MaxBuffered.
const maxBufferedTenants = 4

// dropBuffered forgets tenant's buffered events: after a failed step, the
// next reads the store.
func (in *Integrator) dropBuffered(tenant string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.nbuf -= len(in.buffered[tenant])
	delete(in.buffered, tenant)
}

// fromMemory returns the buffered events of tenant that continue a tree of
// size leaves, at most max of them, and drops those already integrated.
func (in *Integrator) fromMemory(tenant string, size uint64, max int) []*auditkeep.Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	buf := in.buffered[tenant]
	i := 0
	for i < len(buf) && buf[i].Seq <= int64(size) {
		i++
	}
	if i > 0 {
		in.nbuf -= i
		buf = buf[i:]
		if len(buf) == 0 {
			delete(in.buffered, tenant)
		} else {
			in.buffered[tenant] = buf
		}
	}
	if len(buf) == 0 || buf[0].Seq != int64(size)+1 {
		return nil
	}
	// A copy: Committed reuses the buffer's array.
	return append([]*auditkeep.Event(nil), buf[:min(len(buf), max)]...)
}

// Stats returns the integrator's counters.
func (in *Integrator) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

func (in *Integrator) run(ctx context.Context) {
	ticker := time.NewTicker(in.cfg.Interval)
	defer ticker.Stop()
	in.integrateAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-in.wake:
			if !in.gather(ctx) {
				return
			}
			in.mu.Lock()
			tenants := make([]string, 0, len(in.pending))
			for t := range in.pending {
				tenants = append(tenants, t)
			}
			clear(in.pending)
			in.mu.Unlock()
			for _, t := range tenants {
				in.integrateLogged(ctx, t)
			}
		case <-ticker.C:
			in.integrateAll(ctx)
		}
	}
}

// gather waits Coalesce, so that the commits of that period are integrated
// in one step per tenant; it reports false when ctx ended meanwhile.
func (in *Integrator) gather(ctx context.Context) bool {
	if in.cfg.Coalesce <= 0 {
		return true
	}
	t := time.NewTimer(in.cfg.Coalesce)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (in *Integrator) integrateAll(ctx context.Context) {
	tenants, err := in.cfg.Events.Tenants(ctx)
	if err != nil {
		if ctx.Err() == nil {
			in.fail(err)
			in.logger.Error("list tenants to integrate", "err", err)
		}
		return
	}
	for _, t := range tenants {
		if ctx.Err() != nil {
			return
		}
		in.integrateLogged(ctx, t)
	}
}

func (in *Integrator) integrateLogged(ctx context.Context, tenant string) {
	// A broken or held tenant was logged once, when found.
	if _, err := in.Integrate(ctx, tenant); err != nil && ctx.Err() == nil && auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN {
		in.logger.Error("integrate", "tenant", tenant, "err", err)
	}
}

func (in *Integrator) fail(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stats.Errors++
	in.stats.LastError = err.Error()
	in.stats.LastErrorAt = time.Now()
}

// Integrate integrates every committed event of tenant not yet in its tree,
// in steps of at most MaxBatch leaves, and returns the tree size reached. It
// needs no Open; Open's goroutine calls it. When another integrator holds the
// tenant's lock it returns at once with the stored size. On a gap it stores
// the events before the gap and returns a *GapError (code EINTERNAL). Other
// errors: EUNAVAILABLE from storage, EINVALID for an event that cannot be
// encoded, ECONFLICT when the tree moved under it (the lock was lost).
//
// Before it extends a tree it has not stored or checked itself, it checks
// the stored one (see checkStored). A tenant whose tree is missing or does
// not match itself is marked broken (Storage.MarkBroken, logged once at
// error level) and a broken tenant is neither extended nor signed: the
// error is ELEDGERBROKEN (BrokenError). So is the error of a tenant whose
// latest checkpoint another key signed (see IntegratorConfig.Verifier).
func (in *Integrator) Integrate(ctx context.Context, tenant string) (uint64, error) {
	size, err := in.integrate(ctx, tenant)
	if err != nil && auditkeep.ErrorCode(err) != auditkeep.ELEDGERBROKEN {
		in.fail(err)
	}
	return size, err
}

func (in *Integrator) integrate(ctx context.Context, tenant string) (uint64, error) {
	release, ok, err := in.cfg.Storage.TryLock(ctx, tenant)
	if err != nil {
		return 0, err
	}
	if !ok {
		st, err := in.cfg.Storage.State(ctx, tenant)
		if err == nil && st.Broken != "" {
			err = BrokenError(tenant, st.Broken)
		}
		return st.Size, err
	}
	defer release()
	return in.integrateLocked(ctx, tenant)
}

// integrateLocked is integrate under the tenant's lock.
func (in *Integrator) integrateLocked(ctx context.Context, tenant string) (uint64, error) {
	for {
		size, n, _, err := in.step(ctx, tenant)
		if err != nil {
			in.dropBuffered(tenant)
			return size, err
		}
		// A full step may have left more. Events other nodes committed
		// after a step from memory wait for the next one (a notification
		// or the interval): reading the store after every step would
		// turn the coalesced steps into a busy loop under load.
		if n < in.cfg.MaxBatch {
			return size, nil
		}
	}
}

// errBatchFull stops a scan after MaxBatch events.
var errBatchFull = errors.New("batch full")

// step stores one integration step and returns the size reached, the
// number of leaves added and whether they came from memory.
func (in *Integrator) step(ctx context.Context, tenant string) (uint64, int, bool, error) {
	start := time.Now()
	st, err := in.cfg.Storage.State(ctx, tenant)
	if err != nil {
		return 0, 0, false, err
	}
	if st.Broken != "" {
		return st.Size, 0, false, BrokenError(tenant, st.Broken)
	}
	rng, err := in.rangeAt(ctx, tenant, st)
	var d *damage
	if errors.As(err, &d) {
		if d.keyChanged {
			in.hold(tenant, d.reason, st.Checkpoint)
			return st.Size, 0, false, heldError(tenant, d.reason)
		}
		in.fail(err)
		return st.Size, 0, false, in.markBroken(ctx, tenant, d.reason)
	}
	if err != nil {
		return st.Size, 0, false, err
	}
	u := &Update{OldSize: st.Size, NewSize: st.Size}
	var oldest time.Time
	var gap error
	var hasher leafHasher
	add := func(e *auditkeep.Event) error {
		if want := int64(u.NewSize) + 1; e.Seq != want {
			got := e.Seq
			if e.Seq < want {
				got = 0
			}
			gap = &auditkeep.Error{Code: auditkeep.EINTERNAL, Message: "ledger gap", Err: &GapError{Tenant: tenant, Size: u.NewSize, Got: got}}
			return gap
		}
		h, err := hasher.hash(e)
		if err != nil {
			return fmt.Errorf("seq %d: %w", e.Seq, err)
		}
		if err := rng.Append(h, func(id compact.NodeID, hash []byte) {
			if id.Level > 0 {
				u.Nodes = append(u.Nodes, Node{ID: id, Hash: hash})
			}
		}); err != nil {
			return fmt.Errorf("append leaf %d: %w", e.Seq, err)
		}
		u.Leaves = append(u.Leaves, h)
		u.NewSize++
		if oldest.IsZero() || e.ReceivedAt.Before(oldest) {
			oldest = e.ReceivedAt
		}
		if len(u.Leaves) >= in.cfg.MaxBatch {
			return errBatchFull
		}
		return nil
	}
	mem := in.fromMemory(tenant, st.Size, in.cfg.MaxBatch)
	if len(mem) > 0 {
		for _, e := range mem {
			if err = add(e); err != nil {
				break
			}
		}
	} else {
		f := auditkeep.Filter{Order: auditkeep.OrderAsc, Cursor: &auditkeep.Cursor{Seq: int64(st.Size), Order: auditkeep.OrderAsc}}
		err = in.cfg.Events.ScanEvents(ctx, tenant, f, add)
	}
	if err != nil && !errors.Is(err, errBatchFull) && (gap == nil || !errors.Is(err, gap)) {
		in.forget(tenant)
		return st.Size, 0, false, err
	}
	if len(u.Leaves) > 0 {
		if err := in.store(ctx, tenant, rng, u); err != nil {
			return st.Size, 0, false, err
		}
		now := time.Now()
		in.mu.Lock()
		in.stats.Steps++
		in.stats.Leaves += uint64(len(u.Leaves))
		in.mu.Unlock()
		if in.cfg.Observe != nil {
			in.cfg.Observe(Step{Tenant: tenant, OldSize: u.OldSize, NewSize: u.NewSize, Lag: now.Sub(oldest), Duration: now.Sub(start), Buffered: len(mem)})
		}
	}
	if gap != nil {
		return u.NewSize, 0, false, gap
	}
	return u.NewSize, len(u.Leaves), len(mem) > 0, nil
}

// store signs and stores u; rng holds the range of u.NewSize leaves.
func (in *Integrator) store(ctx context.Context, tenant string, rng *compact.Range, u *Update) error {
	root, err := rng.GetRootHash(nil)
	if err != nil {
		in.forget(tenant)
		return err
	}
	u.Root = root
	u.Checkpoint, err = SignCheckpoint(in.cfg.Signer, in.cfg.OriginPrefix+tenant, u.NewSize, root)
	if err != nil {
		in.forget(tenant)
		return err
	}
	if err := in.cfg.Storage.Integrate(ctx, tenant, u); err != nil {
		in.forget(tenant)
		return err
	}
	in.mu.Lock()
	in.ranges[tenant] = &tree{rng: rng, root: root, checkpoint: u.Checkpoint}
	in.mu.Unlock()
	in.logger.Debug("integrated", "tenant", tenant, "size", u.NewSize, "root", hex.EncodeToString(root))
	return nil
}

func (in *Integrator) forget(tenant string) {
	in.mu.Lock()
	delete(in.ranges, tenant)
	in.mu.Unlock()
}

// tree is a tenant's tree as an integrator stored or checked it.
type tree struct {
	rng        *compact.Range
	root       []byte
	checkpoint []byte
}

// rangeAt returns a fresh copy of the compact range of the tenant's stored
// tree: from the cache when st is the tree this integrator last stored or
// checked, else from the O(log n) stored perfect-subtree nodes, after
// checkStored. A held tenant whose checkpoint has not changed is not
// checked again.
func (in *Integrator) rangeAt(ctx context.Context, tenant string, st State) (*compact.Range, error) {
	in.mu.Lock()
	cached := in.ranges[tenant]
	reason, held := in.held[tenant]
	heldAt := in.heldAt[tenant]
	in.mu.Unlock()
	if cached != nil && cached.rng.End() == st.Size && equal(cached.root, st.Root) && equal(cached.checkpoint, st.Checkpoint) {
		hashes := append([][]byte(nil), cached.rng.Hashes()...)
		return in.factory.NewRange(0, st.Size, hashes)
	}
	if held && equal(heldAt, st.Checkpoint) {
		return nil, &damage{keyChanged: true, reason: reason}
	}
	rng, err := in.checkStored(ctx, tenant, st)
	if err != nil {
		in.forget(tenant)
		return nil, err
	}
	in.mu.Lock()
	delete(in.held, tenant)
	delete(in.heldAt, tenant)
	in.ranges[tenant] = &tree{rng: rng, root: st.Root, checkpoint: st.Checkpoint}
	in.mu.Unlock()
	hashes := append([][]byte(nil), rng.Hashes()...)
	return in.factory.NewRange(0, st.Size, hashes)
}
