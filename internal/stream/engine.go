// Package stream delivers each tenant's events to its streams (SIEM
// destinations): one cursor per stream in the tenant's log, advanced only
// once the receiver accepted a batch; a stream_seq per delivered event, so
// that a receiver proves it has every event the stream matched; retries with
// jittered backoff that honour Retry-After, batches split on 413, and a
// stream stopped on refused credentials (auth_error). On a store shared by
// several nodes one node at a time delivers each stream, under a lease that
// another node takes over once it expires.
package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/format"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is what the engine needs of a store.
type Store interface {
	auditkeep.StreamStore
	ListEvents(ctx context.Context, tenant string, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error)
}

// Config configures an Engine.
type Config struct {
	Store Store // required
	// Key is the server's stream key, which seals streams' secrets
	// (required; every node of a deployment needs the same).
	Key []byte
	// Owner names this node in stream leases; "" picks a random name.
	Owner string
	// Host is the name the server reports itself as to receivers.
	Host string

	BatchSize     int           // most events per batch; 0: 500
	MaxBatchBytes int           // most payload bytes per batch; 0: 1 MiB
	Poll          time.Duration // how often streams and their events are looked at without a commit notice; 0: 1s
	LeaseTTL      time.Duration // how long a lease lasts unrenewed, so how soon another node takes over; 0: 5s
	MinBackoff    time.Duration // first wait after a failure; 0: 500ms
	MaxBackoff    time.Duration // longest wait after failures; 0: 1m
	MaxRetryAfter time.Duration // longest Retry-After honoured; 0: 1h
	Timeout       time.Duration // one send's deadline; 0: 10s

	Now      func() time.Time      // nil: time.Now
	Logger   *slog.Logger          // nil: slog.Default()
	Registry prometheus.Registerer // nil: metrics are not registered
}

// Engine runs the delivery of every stream: Open starts it, Close stops it.
type Engine struct {
	cfg     Config
	store   Store
	seal    *Sealer
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	mu      sync.Mutex
	workers map[streamKey]*worker

	refresh chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type streamKey struct{ tenant, id string }

// New returns an engine; it delivers nothing until Open.
func New(cfg Config) (*Engine, error) {
	seal, err := newSealer(cfg.Key)
	if err != nil {
		return nil, err
	}
	if cfg.Owner == "" {
		b := make([]byte, 8)
		rand.Read(b)
		cfg.Owner = "node-" + hex.EncodeToString(b)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	cfg.BatchSize = min(cfg.BatchSize, auditkeep.MaxLimit)
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = 1 << 20
	}
	def(&cfg.Poll, time.Second)
	def(&cfg.LeaseTTL, 5*time.Second)
	def(&cfg.MinBackoff, 500*time.Millisecond)
	def(&cfg.MaxBackoff, time.Minute)
	def(&cfg.MaxRetryAfter, time.Hour)
	def(&cfg.Timeout, 10*time.Second)
	e := &Engine{cfg: cfg, store: cfg.Store, seal: seal, log: cfg.Logger, now: cfg.Now,
		workers: map[streamKey]*worker{}, refresh: make(chan struct{}, 1)}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.metrics = newMetrics(cfg.Registry)
	return e, nil
}

// Owner is the name of this node in stream leases.
func (e *Engine) Owner() string { return e.cfg.Owner }

// Open starts delivering: the streams of every tenant are looked at now and
// every Poll.
func (e *Engine) Open() {
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(e.cfg.Poll)
		defer t.Stop()
		for {
			e.startWorkers(e.ctx)
			select {
			case <-e.ctx.Done():
				return
			case <-t.C:
			case <-e.refresh:
			}
		}
	}()
}

// Close stops delivery and waits for every stream's worker to end; a batch
// being sent is abandoned (it is sent again by the next deliverer) and
// leases are released so that another node takes over at once.
func (e *Engine) Close() error {
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	e.wg.Wait()
	return nil
}

// startWorkers starts a worker for each stream that has none.
func (e *Engine) startWorkers(ctx context.Context) {
	list, err := e.store.ListStreams(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("streams: cannot list streams", "err", err)
		}
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range list {
		k := streamKey{st.Tenant, st.ID}
		if _, ok := e.workers[k]; ok {
			continue
		}
		w := &worker{e: e, key: k, wake: make(chan struct{}, 1)}
		e.workers[k] = w
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			w.run(ctx)
			e.mu.Lock()
			delete(e.workers, k)
			e.mu.Unlock()
		}()
	}
}

// Notify tells the engine that the tenant's log grew: its streams look for
// the new events now rather than at the next Poll.
func (e *Engine) Notify(tenant string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, w := range e.workers {
		if k.tenant == tenant {
			w.poke()
		}
	}
}

// NotifyCommit is Notify for each tenant of a commit's events, as the
// committer's OnCommit hook gives them.
func (e *Engine) NotifyCommit(stored []*auditkeep.Event) {
	seen := ""
	for _, ev := range stored {
		if ev.Tenant != seen {
			seen = ev.Tenant
			e.Notify(ev.Tenant)
		}
	}
}

// Changed tells the engine that a stream was created, changed or deleted:
// its worker reloads it now.
func (e *Engine) Changed(tenant, id string) {
	e.mu.Lock()
	w := e.workers[streamKey{tenant, id}]
	e.mu.Unlock()
	if w != nil {
		w.poke()
		return
	}
	select {
	case e.refresh <- struct{}{}:
	default:
	}
}

// Seal returns the stream's secret sealed for storage.
func (e *Engine) Seal(tenant, id, secret string) ([]byte, error) {
	return e.seal.Seal(tenant, id, secret)
}

// openTransport opens the stream's transport with its secret.
func (e *Engine) openTransport(st *auditkeep.Stream) (transport.Transport, error) {
	secret, err := e.seal.Open(st.Tenant, st.ID, st.Secret)
	if err != nil {
		return nil, err
	}
	return transport.Open(st.Type, st.Settings, secret, transport.Options{Timeout: e.cfg.Timeout, Host: e.cfg.Host})
}

// Store is the engine's store of streams.
func (e *Engine) Store() auditkeep.StreamStore { return e.store }

// Prepare checks a stream's configuration before it is stored: its format,
// filters, and its type's settings with the secret (the new one when
// secret is not nil, else the stream's own); a new secret is sealed into
// st.Secret. Returns EINVALID naming the field ("format", "filters.<name>",
// "type", "settings.<name>", "secret").
func (e *Engine) Prepare(st *auditkeep.Stream, secret *string) error {
	if format.ByName(st.Format) == nil {
		return auditkeep.FieldErrorf("format", "format must be one of %s", strings.Join(format.Names, ", "))
	}
	if !slices.Contains(transport.Types, st.Type) {
		return auditkeep.FieldErrorf("type", "type must be one of %s", strings.Join(transport.Types, ", "))
	}
	if _, err := ParseFilters(st.Filters); err != nil {
		return err
	}
	var plain string
	if secret != nil {
		plain = *secret
	} else {
		var err error
		if plain, err = e.seal.Open(st.Tenant, st.ID, st.Secret); err != nil {
			return err
		}
	}
	if err := transport.Validate(st.Type, st.Settings, plain); err != nil {
		if auditkeep.ErrorCode(err) == auditkeep.EINVALID {
			return err
		}
		return auditkeep.FieldErrorf("type", "%s", err.Error())
	}
	if secret != nil {
		sealed, err := e.seal.Seal(st.Tenant, st.ID, plain)
		if err != nil {
			return err
		}
		st.Secret = sealed
	}
	return nil
}
