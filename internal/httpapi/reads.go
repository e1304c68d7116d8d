package httpapi

import (
	"context"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Reads (lists and searches of events) are recorded when the tenant's
// record_reads setting is on: not one event per page, but one events.read
// per session (a console session, else the key or viewer token) and hour,
// with the count of reads and the distinct queries. The hour's event is
// written once the hour is over: at the session's next read, at the
// minute's sweep, or when the server shuts down; a node that crashes loses
// its open hours.

// Bounds of one hour's record.
const (
	readQueriesMax = 50   // distinct queries kept; past it, queries_truncated
	readQueryMax   = 2000 // bytes of one query kept
)

// readLog holds the hours of reads not yet recorded. The zero value is ready.
type readLog struct {
	mu    sync.Mutex
	hours map[string]*readHour // by tenant and session
	swept time.Time            // the last sweep of ended hours
	stop  func()               // ends the minute's sweep (startReadSweep)
}

// readHour is one session's reads in one hour.
type readHour struct {
	tenant    string
	session   string
	hour      time.Time
	actor     auditkeep.Actor
	origin    requestOrigin // of the hour's first read
	count     int
	queries   []string
	seen      map[string]bool
	truncated bool
}

// noteRead counts one read of the tenant's events with query (a list or
// search's parameters) by actor in session, when the tenant records reads.
func (s *Server) noteRead(ctx context.Context, tenant, session string, actor auditkeep.Actor, query url.Values) {
	a, err := s.access(ctx, tenant)
	if err != nil {
		s.log.Warn("could not read whether the tenant records reads", "tenant", tenant, "err", err)
		return
	}
	if !a.RecordReads {
		return
	}
	q := url.Values{}
	for k, v := range query {
		if k != "cursor" && k != "viewer_token" {
			q[k] = v
		}
	}
	qs := q.Encode()
	if len(qs) > readQueryMax {
		qs = qs[:readQueryMax]
	}
	now := s.Now().UTC()
	hour := now.Truncate(time.Hour)
	id := tenant + "\x00" + session
	var ended []*readHour
	l := &s.reads
	l.mu.Lock()
	h := l.hours[id]
	if h != nil && !h.hour.Equal(hour) {
		ended = append(ended, h)
		h = nil
	}
	if h == nil {
		if l.hours == nil {
			l.hours = map[string]*readHour{}
		}
		h = &readHour{tenant: tenant, session: session, hour: hour, actor: actor, origin: originFrom(ctx), seen: map[string]bool{}}
		l.hours[id] = h
	}
	h.count++
	if !h.seen[qs] {
		if len(h.queries) < readQueriesMax {
			h.seen[qs] = true
			h.queries = append(h.queries, qs)
		} else {
			h.truncated = true
		}
	}
	if now.Sub(l.swept) >= time.Minute {
		l.swept = now
		ended = append(ended, l.takeEnded(hour)...)
	}
	l.mu.Unlock()
	s.recordReads(ctx, ended)
}

// takeEnded removes and returns the hours before hour; l.mu is held.
func (l *readLog) takeEnded(hour time.Time) []*readHour {
	var out []*readHour
	for id, h := range l.hours {
		if h.hour.Before(hour) {
			out = append(out, h)
			delete(l.hours, id)
		}
	}
	return out
}

// flushReads records the hours of reads that ended before now, or every
// open hour when all is set (at shutdown).
func (s *Server) flushReads(ctx context.Context, all bool) {
	hour := s.Now().UTC().Truncate(time.Hour)
	if all {
		hour = hour.Add(time.Hour)
	}
	s.reads.mu.Lock()
	ended := s.reads.takeEnded(hour)
	s.reads.mu.Unlock()
	s.recordReads(ctx, ended)
}

// recordReads records each hour of reads as an events.read event.
func (s *Server) recordReads(ctx context.Context, hours []*readHour) {
	for _, h := range hours {
		meta := map[string]any{"count": h.count, "queries": h.queries,
			"from": h.hour, "to": h.hour.Add(time.Hour)}
		if h.truncated {
			meta["queries_truncated"] = true
		}
		desc := "Read the log 1 time in the hour"
		if h.count != 1 {
			desc = "Read the log " + strconv.Itoa(h.count) + " times in the hour"
		}
		err := s.recordFrom(ctx, h.origin, h.actor, h.tenant, Audit{Action: "events.read", Type: auditkeep.TypeRead,
			Description: desc + " from " + h.hour.Format("2006-01-02 15:04") + " UTC", Metadata: meta})
		if err != nil {
			s.log.Warn("could not record reads in the tenant's log", "tenant", h.tenant, "reads", h.count, "err", err)
		}
	}
}

// startReadSweep starts recording, every minute, the hours of reads that
// ended; stopReadSweep stops it and waits.
func (s *Server) startReadSweep() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.reads.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.flushReads(ctx, false)
			}
		}
	}()
}

func (s *Server) stopReadSweep() {
	if s.reads.stop != nil {
		s.reads.stop()
		s.reads.stop = nil
	}
}
