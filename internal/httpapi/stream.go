package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/web"
)

// StreamLimits tune GET /v1/stream. Zero fields take their defaults.
type StreamLimits struct {
	// Poll is how often an idle stream looks for events committed by other
	// nodes sharing the database (1 s). Commits of this node wake it at once.
	Poll time.Duration
	// Heartbeat is the interval of the comment lines that keep proxies from
	// closing an idle stream (15 s).
	Heartbeat time.Duration
	// WriteTimeout is the most one write to the client may block (10 s);
	// past it the client is stuck and the stream ends.
	WriteTimeout time.Duration
	// MaxBehind is how many events (counted by seq, matching or not) a client
	// may fall further behind the tenant's head than it has been before it is
	// told to reconnect (10,000).
	MaxBehind int64
	// PageSize is how many events are read from the store at a time, and so
	// bounds the memory of one stream (200).
	PageSize int
	// Recheck is how often an open stream reads its credential from the
	// store again (1 s), past the key cache: a key revoked through another
	// node ends the stream within this time. (A revocation through this
	// node ends it at once, a viewer token's expiry exactly.)
	Recheck time.Duration
}

func (l StreamLimits) withDefaults() StreamLimits {
	if l.Poll <= 0 {
		l.Poll = time.Second
	}
	if l.Heartbeat <= 0 {
		l.Heartbeat = 15 * time.Second
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = 10 * time.Second
	}
	if l.MaxBehind <= 0 {
		l.MaxBehind = 10000
	}
	if l.PageSize <= 0 {
		l.PageSize = 200
	}
	l.PageSize = min(l.PageSize, auditkeep.MaxLimit)
	if l.Recheck <= 0 {
		l.Recheck = time.Second
	}
	return l
}

// browserState holds what the live stream, viewer tokens and the console keep
// between requests.
type browserState struct {
	hub     streamHub
	limits  StreamLimits
	secrets secretCache
	console *web.Console
}

// SetStreamLimits replaces the live stream's limits. Call it before Serve.
func (s *Server) SetStreamLimits(l StreamLimits) { s.browser.limits = l.withDefaults() }

// notifyStream wakes the live streams of the tenants of stored events. The
// committer calls it (through ObserveCommit) after every commit.
func (s *Server) notifyStream(stored []*auditkeep.Event) {
	var last string
	for _, e := range stored {
		if e.Tenant != last {
			s.browser.hub.notify(e.Tenant)
			last = e.Tenant
		}
	}
}

// stopStreams ends every live stream; Shutdown calls it so that open streams
// do not hold the server up.
func (s *Server) stopStreams() { s.browser.hub.stop() }

// streamHub wakes the streams of a tenant when its events are committed. A
// stream takes the tenant's channel before it reads the store; notify closes
// the channel, so no commit between the read and the wait is missed. It
// also carries the revocation notices that end streams (credwatch.go).
type streamHub struct {
	mu          sync.Mutex
	waiters     map[string]chan struct{}
	done        chan struct{} // closed by stop
	stopped     bool
	revocations map[string]map[*revocation]struct{} // by credential name
}

// wait returns a channel closed at the tenant's next commit, and a channel
// closed when the server shuts down.
func (h *streamHub) wait(tenant string) (commit, stop <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters == nil {
		h.waiters = map[string]chan struct{}{}
	}
	if h.done == nil {
		h.done = make(chan struct{})
	}
	c, ok := h.waiters[tenant]
	if !ok {
		c = make(chan struct{})
		h.waiters[tenant] = c
	}
	return c, h.done
}

func (h *streamHub) notify(tenant string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.waiters[tenant]; ok {
		close(c)
		delete(h.waiters, tenant)
	}
}

func (h *streamHub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan struct{})
	}
	if !h.stopped {
		h.stopped = true
		close(h.done)
	}
}

// errTooFarBehind ends a stream whose client does not keep up.
var errTooFarBehind = errors.New("too far behind; reconnect with Last-Event-ID")

// handleStream serves GET /v1/stream: the tenant's new events matching the
// filters, oldest first, as Server-Sent Events (id: seq, event: event, data:
// the event as JSON). The start is the Last-Event-ID header, the
// last_event_id or since parameter (events after that seq), or else the
// tenant's current head. Errors before the stream opens are the usual JSON
// errors (EINVALID for bad filters); afterwards an `event: error` ends it
// (reconnect), or an `event: end` when its credential no longer holds
// (credwatch.go: do not reconnect with it).
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	tenant := p.tenant()
	q := r.URL.Query()
	start, hasStart, err := streamStart(r.Header.Get("Last-Event-ID"), q)
	if err != nil {
		return err
	}
	for _, name := range []string{"cursor", "limit"} {
		if q.Has(name) {
			return auditkeep.FieldErrorf(name, "a stream takes no %s; resume with Last-Event-ID", name)
		}
	}
	if o := q.Get("order"); o != "" && o != auditkeep.OrderAsc {
		return auditkeep.FieldErrorf("order", "a stream is in seq order (order=asc)")
	}
	q.Del("last_event_id")
	q.Del("since")
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.RawQuery = q.Encode()
	r2.URL = &u
	f, err := s.filter(r2)
	if err != nil {
		return err
	}
	if err := seqOnly(f, "a stream"); err != nil {
		return err
	}
	if f, err = p.constrain(f); err != nil {
		return err
	}
	lim := s.browser.limits.withDefaults()
	f.Order = auditkeep.OrderAsc
	f.Limit = lim.PageSize
	if !hasStart {
		if start, err = s.headSeq(r.Context(), tenant); err != nil {
			return err
		}
	}
	watch := s.credentialWatch(p)
	revoked, unwatch := s.browser.hub.watchRevocations(watch.names)
	defer unwatch()
	st := &stream{s: s, tenant: tenant, f: f, lim: lim, last: start, lowLag: -1, watch: watch, revoked: revoked}
	// Subscribed first, checked second: no revocation is missed. A key the
	// cache still trusted is refused here, before the stream opens.
	if err := st.guard(r.Context()); err != nil {
		var end *streamEnd
		if errors.As(err, &end) {
			return auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "%s", end.Message)
		}
		return err
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// The server's read timeout would end a long stream: lift it. (A client
	// that goes away is still noticed by the failed write.)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Debug("stream: cannot lift the read deadline", "err", err)
	}
	sw := &sseWriter{w: w, rc: rc, timeout: lim.WriteTimeout}
	st.sw = sw
	err = st.run(r.Context())
	var end *streamEnd
	switch {
	case err == nil, r.Context().Err() != nil:
	case errors.As(err, &end):
		s.log.Info("stream: credential ended", "tenant", tenant, "reason", end.Reason)
		data, _ := json.Marshal(end)
		sw.event("end", "", data)
	case errors.Is(err, errTooFarBehind):
		s.log.Info("stream: client too far behind", "tenant", tenant, "last", st.last)
		sw.event("error", "", errorJSON(auditkeep.EUNAVAILABLE, err.Error()))
	case errors.Is(err, errStreamStopped):
		sw.event("error", "", errorJSON(auditkeep.EUNAVAILABLE, "server is shutting down; reconnect with Last-Event-ID"))
	case errors.Is(err, errClientStuck):
		s.log.Info("stream: client stuck", "tenant", tenant, "last", st.last, "err", err)
	default:
		s.log.Warn("stream ended", "tenant", tenant, "last", st.last, "err", err)
		sw.event("error", "", errorJSON(auditkeep.ErrorCode(err), auditkeep.ErrorMessage(err)+"; reconnect with Last-Event-ID"))
	}
	return nil
}

// streamStart reads where a stream starts: after the seq given by the
// Last-Event-ID header, else the last_event_id or since parameter.
func streamStart(header string, q map[string][]string) (int64, bool, error) {
	name, v := "Last-Event-ID", header
	for _, p := range []string{"last_event_id", "since"} {
		if v != "" {
			break
		}
		if vals := q[p]; len(vals) > 0 {
			name, v = p, vals[0]
		}
	}
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, auditkeep.FieldErrorf(name, "%s must be the seq of the last event received (a whole number)", name)
	}
	return n, true, nil
}

// headSeq returns the seq of the tenant's newest event, 0 when it has none.
func (s *Server) headSeq(ctx context.Context, tenant string) (int64, error) {
	events, _, err := s.store.ListEvents(ctx, tenant, auditkeep.Filter{Limit: 1, Order: auditkeep.OrderDesc})
	if err != nil || len(events) == 0 {
		return 0, err
	}
	return events[0].Seq, nil
}

var (
	errStreamStopped = errors.New("server is shutting down")
	errClientStuck   = errors.New("client does not read")
)

// stream is one client's live tail.
type stream struct {
	s      *Server
	sw     *sseWriter
	tenant string
	f      auditkeep.Filter
	lim    StreamLimits
	last   int64 // every matching event up to this seq was sent
	sentID int64 // the last id: line written
	lowLag int64 // the smallest lag seen, -1 before the first

	watch     credentialWatch
	revoked   *revocation
	nextCheck time.Time // when watch.checks run again (real time)
}

// guard returns a *streamEnd when the stream's credential no longer holds:
// revoked through this node, expired, or refused by its checks, which run
// when nextCheck has passed. It is called before every event is sent, so no
// event committed after a revocation through this node, or after the
// credential's expiry, is sent.
func (st *stream) guard(ctx context.Context) error {
	select {
	case <-st.revoked.c:
		end := st.revoked.end
		return &end
	default:
	}
	w := &st.watch
	if !w.expires.IsZero() && !st.s.Now().Before(w.expires) {
		end := w.expiry
		return &end
	}
	if now := time.Now(); !now.Before(st.nextCheck) {
		st.nextCheck = now.Add(st.lim.Recheck)
		for _, check := range w.checks {
			end, err := check(ctx)
			if err != nil {
				return err
			}
			if end != nil {
				return end
			}
		}
	}
	return nil
}

func (st *stream) run(ctx context.Context) error {
	if err := st.sw.raw(": auditkeep stream\nretry: 2000\n\n"); err != nil {
		return err
	}
	st.sentID = st.last
	poll := time.NewTimer(st.lim.Poll)
	defer poll.Stop()
	heartbeat := time.NewTicker(st.lim.Heartbeat)
	defer heartbeat.Stop()
	recheck := time.NewTimer(time.Until(st.nextCheck))
	defer recheck.Stop()
	var expiry <-chan time.Time
	if !st.watch.expires.IsZero() {
		t := time.NewTimer(st.watch.expires.Sub(st.s.Now()))
		defer t.Stop()
		expiry = t.C
	}
	for {
		commit, stop := st.s.browser.hub.wait(st.tenant)
		if err := st.drain(ctx); err != nil {
			return err
		}
		poll.Reset(st.lim.Poll)
		recheck.Reset(time.Until(st.nextCheck))
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return nil
			case <-stop:
				return errStreamStopped
			case <-st.revoked.c:
				return st.guard(ctx)
			case <-expiry:
				end := st.watch.expiry
				return &end
			case <-recheck.C:
				if err := st.guard(ctx); err != nil {
					return err
				}
				recheck.Reset(time.Until(st.nextCheck))
			case <-commit:
				waiting = false
			case <-poll.C:
				waiting = false
			case <-heartbeat.C:
				msg := ": keep-alive\n\n"
				if st.sentID != st.last {
					// Move the client's Last-Event-ID past events that did
					// not match, so a reconnect does not scan them again.
					msg = "id: " + strconv.FormatInt(st.last, 10) + "\n" + msg
				}
				if err := st.sw.raw(msg); err != nil {
					return err
				}
				st.sentID = st.last
			}
		}
	}
}

// drain sends every matching event after st.last, a page at a time.
func (st *stream) drain(ctx context.Context) error {
	s := st.s
	head, err := s.headSeq(ctx, st.tenant)
	if err != nil {
		return err
	}
	for {
		if err := st.checkLag(head); err != nil {
			return err
		}
		f := st.f
		f.Cursor = &auditkeep.Cursor{Seq: st.last, Order: auditkeep.OrderAsc}
		events, next, err := s.store.ListEvents(ctx, st.tenant, f)
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := st.guard(ctx); err != nil {
				return err
			}
			data, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := st.sw.event("event", strconv.FormatInt(e.Seq, 10), data); err != nil {
				return err
			}
			st.last, st.sentID = e.Seq, e.Seq
		}
		if next == nil || len(events) == 0 {
			// Every matching event up to head was in these pages.
			st.last = max(st.last, head)
			return nil
		}
		if head, err = s.headSeq(ctx, st.tenant); err != nil {
			return err
		}
	}
}

// checkLag fails when the client has fallen MaxBehind events further behind
// the head than it has been: a client resuming from far back may catch up,
// one that keeps losing ground is told to reconnect.
func (st *stream) checkLag(head int64) error {
	lag := max(head-st.last, 0)
	if st.lowLag < 0 || lag < st.lowLag {
		st.lowLag = lag
	}
	if lag > st.lowLag+st.lim.MaxBehind {
		return errTooFarBehind
	}
	return nil
}

// sseWriter writes Server-Sent Events, each flushed under a write deadline.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
}

// event writes one event; data must hold no newline (compact JSON).
func (sw *sseWriter) event(name, id string, data []byte) error {
	b := sw.buf[:0]
	if id != "" {
		b = append(append(append(b, "id: "...), id...), '\n')
	}
	b = append(append(append(b, "event: "...), name...), '\n')
	b = append(append(append(b, "data: "...), data...), "\n\n"...)
	sw.buf = b
	return sw.write(b)
}

func (sw *sseWriter) raw(s string) error { return sw.write([]byte(s)) }

func (sw *sseWriter) write(b []byte) error {
	if err := sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("%w: %v", errClientStuck, err)
	}
	if _, err := sw.w.Write(b); err != nil {
		return fmt.Errorf("%w: %v", errClientStuck, err)
	}
	if err := sw.rc.Flush(); err != nil {
		return fmt.Errorf("%w: %v", errClientStuck, err)
	}
	return nil
}

func errorJSON(code, message string) []byte {
	b, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Message: message}})
	return b
}
