package stream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/format"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

// worker delivers one stream while this node holds its lease.
type worker struct {
	e    *Engine
	key  streamKey
	wake chan struct{}

	// The open configuration, for the stream's Version.
	version int64
	tr      transport.Transport
	fm      format.Format
	filter  auditkeep.Filter
	openErr error // the configuration does not open (a secret sealed by another key)

	limit    int // events per batch now: BatchSize, halved on 413, grown back on success
	failures int // consecutive failed deliveries
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// sleep waits d or until poked; false when ctx ended.
func (w *worker) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-w.wake:
	}
	return true
}

// sleepFull waits d whatever pokes come (a backoff), or until ctx ends.
func sleepFull(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run delivers the stream until it is deleted or ctx ends.
func (w *worker) run(ctx context.Context) {
	e := w.e
	w.limit = e.cfg.BatchSize
	defer w.closeTransport()
	for ctx.Err() == nil {
		st, err := e.store.GetStream(ctx, w.key.tenant, w.key.id)
		if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
			e.metrics.forget(w.key)
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("streams: cannot read a stream", "tenant", w.key.tenant, "stream", w.key.id, "err", err)
			}
			w.sleep(ctx, e.cfg.Poll)
			continue
		}
		e.metrics.state(w.key, st.State)
		if st.State == auditkeep.StreamPaused || st.State == auditkeep.StreamAuthError {
			w.closeTransport()
			w.sleep(ctx, e.cfg.Poll)
			continue
		}
		held, err := e.store.LeaseStream(ctx, w.key.tenant, w.key.id, e.cfg.Owner, e.cfg.LeaseTTL)
		if err != nil || !held {
			if err != nil && ctx.Err() == nil {
				e.log.Warn("streams: cannot take a stream's lease", "tenant", w.key.tenant, "stream", w.key.id, "err", err)
			}
			w.closeTransport()
			w.sleep(ctx, e.cfg.LeaseTTL/3)
			continue
		}
		w.deliverHeld(ctx)
	}
	// Let another node take over at once.
	rctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e.store.ReleaseStream(rctx, w.key.tenant, w.key.id, e.cfg.Owner)
}

// deliverHeld delivers while the lease is held, renewing it, until the
// stream stops (paused, auth_error, deleted, lease lost) or ctx ends.
func (w *worker) deliverHeld(ctx context.Context) {
	e := w.e
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan struct{})
	go func() {
		// Renew the lease; losing it stops the delivery in progress.
		t := time.NewTicker(e.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			held, err := e.store.LeaseStream(ctx, w.key.tenant, w.key.id, e.cfg.Owner, e.cfg.LeaseTTL)
			if ctx.Err() != nil {
				return
			}
			if err != nil || !held {
				e.log.Warn("streams: lost a stream's lease", "tenant", w.key.tenant, "stream", w.key.id, "err", err)
				close(lost)
				cancel()
				return
			}
		}
	}()
	for ctx.Err() == nil {
		st, err := e.store.GetStream(ctx, w.key.tenant, w.key.id)
		if err != nil || st.State == auditkeep.StreamPaused || st.State == auditkeep.StreamAuthError {
			return
		}
		e.metrics.state(w.key, st.State)
		more, wait := w.step(ctx, st)
		select {
		case <-lost:
			return
		default:
		}
		switch {
		case wait > 0:
			if !sleepFull(ctx, wait) {
				return
			}
		case !more:
			if !w.sleep(ctx, e.cfg.Poll) {
				return
			}
		}
	}
}

// step makes one delivery attempt: more reports that events may be
// waiting already, wait how long to back off after a failure.
func (w *worker) step(ctx context.Context, st *auditkeep.Stream) (more bool, wait time.Duration) {
	e := w.e
	if err := w.configure(st); err != nil {
		w.fail(ctx, st, auditkeep.StreamFailing, err.Error())
		return false, w.backoff(0)
	}
	head, err := headSeq(ctx, e.store, st.Tenant)
	if err != nil {
		return false, w.readFailed(err)
	}
	f := w.filter
	f.Order, f.Sort, f.Limit = auditkeep.OrderAsc, auditkeep.SortSeq, w.limit
	f.Cursor = &auditkeep.Cursor{Seq: st.Cursor, Order: auditkeep.OrderAsc}
	events, _, err := e.store.ListEvents(ctx, st.Tenant, f)
	if err != nil {
		return false, w.readFailed(err)
	}
	from := auditkeep.StreamPosition{Cursor: st.Cursor, StreamSeq: st.StreamSeq}
	to := from
	now := e.now()
	w.observeLag(ctx, st, head)
	if len(events) == 0 {
		if head > st.Cursor {
			// Nothing up to head matched the filters: the cursor passes it
			// (nothing was delivered: last_success_at stays).
			to.Cursor = head
			w.advance(ctx, st, from, to, st.LastSuccessAt, 0)
		}
		return false, 0
	}
	b := &transport.Batch{}
	size := 0
	full := len(events) == f.Limit
	for i, ev := range events {
		r := format.Record{Event: ev, StreamID: st.ID, StreamSeq: to.StreamSeq + 1, PrevStreamSeq: to.StreamSeq}
		p, err := w.fm.Encode(r)
		if err != nil {
			w.fail(ctx, st, auditkeep.StreamFailing, fmt.Sprintf("encoding event seq %d as %s: %v", ev.Seq, w.fm.Name(), err))
			return false, w.backoff(0)
		}
		if i > 0 && size+len(p) > e.cfg.MaxBatchBytes {
			full = true
			break
		}
		size += len(p) + 1
		b.Records = append(b.Records, r)
		b.Payloads = append(b.Payloads, p)
		to.StreamSeq = r.StreamSeq
		to.Cursor = ev.Seq
	}
	if !full {
		to.Cursor = max(to.Cursor, head)
	}
	b.ID = batchID(st, from.StreamSeq+1, to.StreamSeq)
	start := time.Now()
	err = w.tr.Send(ctx, b)
	if ctx.Err() != nil {
		return false, 0
	}
	if err != nil {
		return w.sendFailed(ctx, st, b, err)
	}
	e.metrics.sent(w.key, len(b.Records), size, time.Since(start))
	w.failures = 0
	if w.limit < e.cfg.BatchSize {
		w.limit = min(e.cfg.BatchSize, w.limit*2)
	}
	w.advance(ctx, st, from, to, now, len(b.Records))
	return true, 0
}

// batchID names a batch by its stream and stream_seq range: a batch sent
// again after a failure or a crash has the same records, so the same ID.
func batchID(st *auditkeep.Stream, first, last int64) string {
	return st.ID + "-" + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10)
}

// advance stores the new position; a conflict (a replay, another node)
// makes the next step read the stream again.
func (w *worker) advance(ctx context.Context, st *auditkeep.Stream, from, to auditkeep.StreamPosition, at time.Time, n int) {
	err := w.e.store.AdvanceStream(ctx, st.Tenant, st.ID, w.e.cfg.Owner, from, to, at)
	switch {
	case err == nil:
		st.Cursor, st.StreamSeq = to.Cursor, to.StreamSeq
	case auditkeep.ErrorCode(err) == auditkeep.ECONFLICT:
		w.e.log.Info("streams: the stream moved while a batch was sent; it is read again", "tenant", st.Tenant, "stream", st.ID, "events", n)
	case ctx.Err() == nil:
		w.e.log.Warn("streams: cannot store a stream's position; the batch will be sent again", "tenant", st.Tenant, "stream", st.ID, "err", err)
	}
}

// readFailed is a failure to read the log: wait and try again.
func (w *worker) readFailed(err error) time.Duration {
	if errors.Is(err, context.Canceled) {
		return 0
	}
	w.e.log.Warn("streams: cannot read events", "tenant", w.key.tenant, "stream", w.key.id, "err", err)
	return w.backoff(0)
}

// sendFailed handles a refused batch: split on 413, stop on refused
// credentials, back off otherwise.
func (w *worker) sendFailed(ctx context.Context, st *auditkeep.Stream, b *transport.Batch, err error) (bool, time.Duration) {
	e := w.e
	te := &transport.Error{Kind: transport.Retry, Message: err.Error()}
	errors.As(err, &te)
	e.metrics.failed(w.key, te.Kind)
	switch {
	case te.Kind == transport.TooLarge && len(b.Records) > 1:
		w.limit = max(1, len(b.Records)/2)
		e.log.Info("streams: the receiver refused a batch as too large; sending smaller ones", "tenant", st.Tenant, "stream", st.ID, "events", len(b.Records), "now", w.limit)
		return true, 0
	case te.Kind == transport.Auth:
		e.log.Warn("streams: the receiver refused the credentials; the stream stops until changed or resumed", "tenant", st.Tenant, "stream", st.ID, "err", te.Message)
		w.fail(ctx, st, auditkeep.StreamAuthError, te.Message)
		return false, 0
	}
	msg := te.Message
	if te.Kind == transport.TooLarge {
		msg += " (a single event)"
	}
	w.fail(ctx, st, auditkeep.StreamFailing, msg)
	return false, w.backoff(te.RetryAfter)
}

// fail records a failed delivery in the stream.
func (w *worker) fail(ctx context.Context, st *auditkeep.Stream, state, msg string) {
	w.failures++
	if err := w.e.store.FailStream(ctx, st.Tenant, st.ID, w.e.cfg.Owner, state, msg, w.e.now()); err != nil && ctx.Err() == nil &&
		auditkeep.ErrorCode(err) != auditkeep.ECONFLICT {
		w.e.log.Warn("streams: cannot record a failed delivery", "tenant", st.Tenant, "stream", st.ID, "err", err)
	}
}

// backoff is the wait after the latest failure: the receiver's
// Retry-After when it sent one (up to MaxRetryAfter), else exponential
// from MinBackoff to MaxBackoff, each with up to a fifth added at random so
// that streams failing together do not retry together.
func (w *worker) backoff(retryAfter time.Duration) time.Duration {
	c := w.e.cfg
	if retryAfter > 0 {
		d := min(retryAfter, c.MaxRetryAfter)
		return d + rand.N(d/5+1)
	}
	d := c.MinBackoff
	for i := 1; i < w.failures && d < c.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// configure opens the stream's format, filter and transport for its
// Version.
func (w *worker) configure(st *auditkeep.Stream) error {
	if w.tr != nil && w.version == st.Version {
		return nil
	}
	if w.openErr != nil && w.version == st.Version {
		return w.openErr
	}
	w.closeTransport()
	w.version = st.Version
	w.openErr = func() error {
		fm := format.ByName(st.Format)
		if fm == nil {
			return fmt.Errorf("unknown format %q", st.Format)
		}
		f, err := ParseFilters(st.Filters)
		if err != nil {
			return fmt.Errorf("filters: %s", auditkeep.ErrorMessage(err))
		}
		tr, err := w.e.openTransport(st)
		if err != nil {
			return err
		}
		w.fm, w.filter, w.tr = fm, f, tr
		return nil
	}()
	return w.openErr
}

func (w *worker) closeTransport() {
	if w.tr != nil {
		w.tr.Close()
		w.tr = nil
	}
}

// headSeq is the seq of the tenant's latest event, 0 when it has none.
func headSeq(ctx context.Context, s Store, tenant string) (int64, error) {
	evs, _, err := s.ListEvents(ctx, tenant, auditkeep.Filter{Order: auditkeep.OrderDesc, Sort: auditkeep.SortSeq, Limit: 1})
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return evs[0].Seq, nil
}
