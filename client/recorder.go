package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/google/uuid"
)

// ErrBufferFull is returned by Record, in the default asynchronous mode,
// when the recorder's buffer holds BufferSize events waiting to be sent:
// the event is dropped (counted in Stats.Dropped and passed to OnDrop)
// rather than blocking the caller.
var ErrBufferFull = errors.New("auditkeep: recorder buffer full; event dropped")

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("auditkeep: recorder closed")

// Recorder defaults.
const (
	DefaultBufferSize    = 10_000
	DefaultFlushInterval = time.Second
	DefaultMinBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	// DefaultBlockingAttempts is MaxAttempts in Blocking mode when none is set.
	DefaultBlockingAttempts = 3
	DefaultAttemptTimeout   = 30 * time.Second
)

// RecorderOptions configure a Recorder. The zero value is usable: an
// asynchronous recorder with the defaults above.
type RecorderOptions struct {
	// BufferSize is the most events waiting to be sent (default
	// DefaultBufferSize). Beyond it Record drops the event and returns
	// ErrBufferFull.
	BufferSize int
	// BatchSize is the most events sent in one request (default and
	// maximum MaxBatch).
	BatchSize int
	// FlushInterval is the longest an event waits for its batch to fill
	// (default DefaultFlushInterval).
	FlushInterval time.Duration
	// MinBackoff and MaxBackoff bound the delay between two attempts to
	// send a batch: it doubles from MinBackoff up to MaxBackoff, with
	// jitter. A Retry-After answer (429, 503) sets the delay instead, still
	// capped at MaxBackoff. Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// AttemptTimeout bounds one request to the server, so that a server
	// that accepts connections but never answers is retried rather than
	// waited for (default DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	// MaxAttempts bounds the attempts to send one batch. Zero means: in the
	// asynchronous mode, retry until Close's context ends; in Blocking mode,
	// DefaultBlockingAttempts (each Record is also bounded by its context).
	MaxAttempts int
	// Blocking makes Record send its event itself and return only once the
	// server has acknowledged it durably, or with the error that prevented
	// it: the caller can then refuse the audited action (fail closed).
	Blocking bool
	// OnDrop, when set, is called with events that will not be stored and
	// the reason: ErrBufferFull (from Record's goroutine), an *APIError for
	// events the server refused, or the last error for events given up on
	// (from the sender's goroutine). It is not called in Blocking mode,
	// where Record returns the error. It must not block; the slice is the
	// callee's.
	OnDrop func(events []auditkeep.Event, err error)
	// Logger receives warnings about retries and lost events (default
	// slog.Default()).
	Logger *slog.Logger
}

// Stats are a recorder's counters since it was created.
type Stats struct {
	Recorded   uint64 // events Record accepted (returned nil for, or started sending in Blocking mode)
	Sent       uint64 // events the server acknowledged as durable
	Duplicates uint64 // of Sent, events the server had stored before (a retry whose first answer was lost)
	Dropped    uint64 // events Record refused with ErrBufferFull
	Rejected   uint64 // events the server refused (4xx other than 429): not stored, not retried
	Failed     uint64 // events given up on after MaxAttempts or at Close; they may have been stored
	Retries    uint64 // requests sent again after a temporary failure
	Pending    uint64 // events recorded and not yet acknowledged, rejected or failed
}

// Recorder sends events to auditkeep in the background, in batches, with
// retries. Each event gets its ID (a UUIDv7) and OccurredAt when Record
// accepts it, so a retry sends the same event again and the server, which
// acknowledges a known ID without storing it twice, never duplicates it.
//
// A Recorder is safe for concurrent use. Its one background goroutine ends
// with Close.
type Recorder struct {
	c    *Client
	opts RecorderOptions
	log  *slog.Logger

	mu     sync.RWMutex // guards closed and sends on queue against Close
	closed bool
	queue  chan auditkeep.Event
	flushc chan chan struct{}
	ctx    context.Context // ends the sender's attempts (Close's deadline)
	cancel context.CancelFunc
	done   chan struct{} // closed when the sender has returned

	recorded, sent, dups, dropped, rejected, failed, retries atomic.Uint64

	errMu   sync.Mutex
	lastErr error // the last reason events were lost
}

// NewRecorder returns a recorder sending through c and, unless
// opts.Blocking is set, starts its sender goroutine: call Close to flush and
// stop it.
func NewRecorder(c *Client, opts RecorderOptions) *Recorder {
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultBufferSize
	}
	if opts.BatchSize <= 0 || opts.BatchSize > MaxBatch {
		opts.BatchSize = MaxBatch
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	if opts.Blocking && opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultBlockingAttempts
	}
	r := &Recorder{c: c, opts: opts, log: opts.Logger, done: make(chan struct{})}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if opts.Blocking {
		close(r.done)
		return r
	}
	r.queue = make(chan auditkeep.Event, opts.BufferSize)
	r.flushc = make(chan chan struct{})
	go r.run()
	return r
}

// Record hands e to the recorder. It first gives e an ID (a UUIDv7) when it
// has none and an OccurredAt (now) when it is zero; the recorder owns e's
// slices and raw documents from then on, so the caller must not modify them.
//
// In the default asynchronous mode Record never blocks: it returns nil once
// e is buffered, ErrBufferFull when the buffer is full (e is dropped), and
// the event is sent later; delivery failures reach OnDrop and Stats. In
// Blocking mode it sends e and returns nil only once the server has stored
// it durably; otherwise the error: an *APIError (EINVALID, EUNAUTHORIZED,
// EFORBIDDEN, ERATELIMITED, EUNAVAILABLE, …) or a transport or context
// error, after MaxAttempts.
//
// In both modes Record returns an EINVALID *auditkeep.Error, without sending,
// for an event without a valid Action or an Actor.ID, or whose documents
// (Before, Snapshot, Metadata, Changes) are not valid JSON; and ErrClosed
// after Close.
func (r *Recorder) Record(ctx context.Context, e auditkeep.Event) error {
	if err := prepare(&e); err != nil {
		return err
	}
	if r.opts.Blocking {
		r.mu.RLock()
		closed := r.closed
		r.mu.RUnlock()
		if closed {
			return ErrClosed
		}
		r.recorded.Add(1)
		if err := r.deliver(ctx, []auditkeep.Event{e}, false); err != nil {
			return fmt.Errorf("auditkeep: record %s: %w", e.ID, err)
		}
		return nil
	}
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return ErrClosed
	}
	select {
	case r.queue <- e:
		r.recorded.Add(1)
		r.mu.RUnlock()
		return nil
	default:
		r.mu.RUnlock()
	}
	r.dropped.Add(1)
	if r.opts.OnDrop != nil {
		r.opts.OnDrop([]auditkeep.Event{e}, ErrBufferFull)
	}
	return ErrBufferFull
}

// prepare checks what the server requires of every event and fixes the
// event's ID and time, so that retries resend the same event.
func prepare(e *auditkeep.Event) error {
	if !auditkeep.ValidAction(e.Action) {
		return auditkeep.FieldErrorf("action", "action %q is not a lowercase dotted name such as token.create", e.Action)
	}
	if e.Actor.ID == "" {
		return auditkeep.FieldErrorf("actor.id", "actor.id is required")
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
	}{{"before", e.Before}, {"snapshot", e.Snapshot}, {"metadata", e.Metadata}} {
		if len(d.raw) > 0 && !json.Valid(d.raw) {
			return auditkeep.FieldErrorf(d.name, "%s is not valid JSON", d.name)
		}
	}
	for i, c := range e.Changes {
		if len(c.Old) > 0 && !json.Valid(c.Old) || len(c.New) > 0 && !json.Valid(c.New) {
			return auditkeep.FieldErrorf(fmt.Sprintf("changes[%d]", i), "changes[%d] holds a value that is not valid JSON", i)
		}
	}
	if e.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("auditkeep: generate event id: %w", err)
		}
		e.ID = id.String()
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = time.Now().UTC()
	}
	return nil
}

// Flush waits until every event recorded before the call has been sent, or
// refused or given up on, and returns an error counting the events lost
// meanwhile (with the last reason) if any were. It returns ctx's error when
// ctx ends first; the events are still sent afterwards. In Blocking mode,
// and after Close has finished, it returns nil at once.
func (r *Recorder) Flush(ctx context.Context) error {
	if r.opts.Blocking {
		return nil
	}
	before := r.lost()
	done := make(chan struct{})
	select {
	case r.flushc <- done:
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := r.lost() - before; n > 0 {
		return fmt.Errorf("auditkeep: flush: %d events not stored: %w", n, r.lastError())
	}
	return nil
}

// Close stops accepting events (Record then returns ErrClosed), sends every
// buffered event, and stops the sender goroutine. When ctx ends first, it
// abandons the attempt in flight and the events still buffered (counted in
// Stats.Failed and passed to OnDrop) and returns an error that wraps ctx's.
// It also returns an error when events were lost while closing. Calling it
// again returns nil once the sender has stopped.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	first := !r.closed
	if first {
		r.closed = true
		if r.queue != nil {
			close(r.queue)
		}
	}
	r.mu.Unlock()
	if !first {
		<-r.done
		return nil
	}
	before := r.lost()
	var err error
	select {
	case <-r.done:
	case <-ctx.Done():
		err = ctx.Err()
		r.cancel()
		<-r.done
	}
	r.cancel()
	if n := r.lost() - before; n > 0 {
		if err == nil {
			err = r.lastError()
		}
		return fmt.Errorf("auditkeep: close: %d events not stored: %w", n, err)
	}
	return nil
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	s := Stats{
		Sent:       r.sent.Load(),
		Duplicates: r.dups.Load(),
		Dropped:    r.dropped.Load(),
		Rejected:   r.rejected.Load(),
		Failed:     r.failed.Load(),
		Retries:    r.retries.Load(),
	}
	// Loaded last, so that Pending never underflows.
	s.Recorded = r.recorded.Load()
	if done := s.Sent + s.Rejected + s.Failed; s.Recorded > done {
		s.Pending = s.Recorded - done
	}
	return s
}

func (r *Recorder) lost() uint64 { return r.rejected.Load() + r.failed.Load() }

func (r *Recorder) lastError() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.lastErr
}

// run is the sender goroutine: it batches the queue and sends each batch
// when it is full, when its oldest event has waited FlushInterval, on Flush,
// and at Close, when the queue is closed.
func (r *Recorder) run() {
	defer close(r.done)
	var batch []auditkeep.Event
	size := 0 // estimated bytes of batch as sent
	timer := time.NewTimer(r.opts.FlushInterval)
	timer.Stop()
	defer timer.Stop()
	send := func() {
		timer.Stop()
		if len(batch) > 0 {
			r.deliver(r.ctx, batch, true)
			batch, size = nil, 0
		}
	}
	add := func(e auditkeep.Event) {
		n := estimateSize(&e)
		if len(batch) > 0 && size+n > maxBatchBytes {
			send()
		}
		batch = append(batch, e)
		size += n
		if len(batch) == 1 {
			timer.Reset(r.opts.FlushInterval)
		}
		if len(batch) >= r.opts.BatchSize {
			send()
		}
	}
	for {
		select {
		case e, ok := <-r.queue:
			if !ok {
				send()
				return
			}
			add(e)
		case <-timer.C:
			send()
		case done := <-r.flushc:
			for n := len(r.queue); n > 0; n-- {
				e, ok := <-r.queue
				if !ok {
					break
				}
				add(e)
			}
			send()
			close(done)
		}
	}
}

// deliver sends events until the server has acknowledged each of them, or
// refused it, or the attempts are exhausted, and returns the error that lost
// events, if any. Temporary failures (transport errors, 429, 5xx) are
// retried with the same events after a backoff; a refused batch is atomic
// (nothing of it was stored), so the event it names is set aside and the
// rest is sent again. notify passes lost events to OnDrop.
func (r *Recorder) deliver(ctx context.Context, events []auditkeep.Event, notify bool) error {
	var errs []error
	attempt := 0
	for len(events) > 0 {
		if err := ctx.Err(); err != nil {
			r.lose(&r.failed, events, err, notify)
			return errors.Join(append(errs, err)...)
		}
		actx, cancel := context.WithTimeout(ctx, r.opts.AttemptTimeout)
		res, err := r.c.Ingest(actx, events)
		cancel()
		if err == nil {
			r.sent.Add(uint64(len(events)))
			r.dups.Add(uint64(res.Duplicates))
			return errors.Join(errs...)
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusTooManyRequests {
			// Refused: nothing of the batch was stored.
			splittable := ae.Status == http.StatusBadRequest || ae.Status == http.StatusRequestEntityTooLarge
			if i, ok := batchIndex(ae.Field, len(events)); ok && splittable && len(events) > 1 {
				r.lose(&r.rejected, []auditkeep.Event{events[i]}, err, notify)
				errs = append(errs, err)
				rest := make([]auditkeep.Event, 0, len(events)-1)
				events = append(append(rest, events[:i]...), events[i+1:]...)
				continue
			}
			if splittable && len(events) > 1 {
				// The error names no event: find the bad ones by halves.
				mid := len(events) / 2
				errs = append(errs, r.deliver(ctx, events[:mid], notify), r.deliver(ctx, events[mid:], notify))
				return errors.Join(errs...)
			}
			r.lose(&r.rejected, events, err, notify)
			if notify {
				r.log.Error("auditkeep: events refused", "events", len(events), "err", err)
			}
			return errors.Join(append(errs, err)...)
		}
		attempt++
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		} else if r.opts.MaxAttempts > 0 && attempt >= r.opts.MaxAttempts {
			err = fmt.Errorf("after %d attempts: %w", attempt, err)
		} else {
			wait := r.backoff(attempt)
			if ae != nil && ae.RetryAfter > 0 {
				wait = min(ae.RetryAfter, r.opts.MaxBackoff)
			}
			r.retries.Add(1)
			r.log.Warn("auditkeep: sending events failed; retrying", "events", len(events), "attempt", attempt, "retry_in", wait, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				err = fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			}
		}
		r.lose(&r.failed, events, err, notify)
		if notify {
			r.log.Error("auditkeep: events given up on", "events", len(events), "err", err)
		}
		return errors.Join(append(errs, err)...)
	}
	return errors.Join(errs...)
}

// lose counts events as lost in counter, keeps err as the last reason, and
// passes them to OnDrop when notify is set.
func (r *Recorder) lose(counter *atomic.Uint64, events []auditkeep.Event, err error, notify bool) {
	r.errMu.Lock()
	r.lastErr = err
	r.errMu.Unlock()
	counter.Add(uint64(len(events)))
	if notify && r.opts.OnDrop != nil {
		r.opts.OnDrop(append([]auditkeep.Event(nil), events...), err)
	}
}

// backoff is the delay before attempt+1: MinBackoff doubled attempt-1
// times, capped at MaxBackoff, of which a random half is taken off.
func (r *Recorder) backoff(attempt int) time.Duration {
	d := r.opts.MaxBackoff
	if attempt-1 < 32 {
		if e := r.opts.MinBackoff << (attempt - 1); e > 0 && e < d {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// maxBatchBytes is the most a batch is meant to weigh, estimated, below the
// server's 5 MiB per request; a batch refused as too large anyway is split.
const maxBatchBytes = 4 << 20

// estimateSize is roughly the size of e's JSON encoding.
func estimateSize(e *auditkeep.Event) int {
	n := 300 + len(e.ID) + len(e.Action) + len(e.Actor.ID) + len(e.Actor.Name) + len(e.Actor.Email) +
		len(e.Team) + len(e.Source) + len(e.Context.IP) + len(e.Context.UserAgent) + len(e.Description) +
		len(e.Before) + len(e.Snapshot) + len(e.Metadata)
	if e.Target != nil {
		n += 40 + len(e.Target.Type) + len(e.Target.ID) + len(e.Target.Name)
	}
	for _, s := range e.Scope {
		n += 40 + len(s.Type) + len(s.ID) + len(s.Name)
	}
	for _, c := range e.Changes {
		n += 40 + len(c.Field) + len(c.Old) + len(c.New)
	}
	return n
}

// batchIndex returns i from a field such as "events[3].actor.id" when it
// names an event of a batch of n.
func batchIndex(field string, n int) (int, bool) {
	rest, ok := strings.CutPrefix(field, "events[")
	if !ok {
		return 0, false
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return 0, false
	}
	i, err := strconv.Atoi(rest[:end])
	if err != nil || i < 0 || i >= n {
		return 0, false
	}
	return i, true
}
