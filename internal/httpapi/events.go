package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/search"
)

func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) error {
	max := int64(s.ingest.Limits.MaxBatchBytes)
	rd, err := limitBody(w, r, "body", max)
	if err != nil {
		return err
	}
	body, err := readBody(rd, r.ContentLength, max)
	if err != nil {
		return bodyError(err, "body", max)
	}
	res, err := s.ingest.Ingest(r.Context(), principalFrom(r.Context()).tenant(), body)
	if err != nil {
		return err
	}
	s.metrics.ingested.Add(float64(res.Accepted - res.Duplicates))
	writeJSON(w, http.StatusOK, res)
	return nil
}

// readBody reads rd to its end, into one buffer of the announced length
// (size, when it is within max) rather than one that doubles as it fills.
// A wrong announced length costs copies, never bytes.
func readBody(rd io.Reader, size, max int64) ([]byte, error) {
	if size <= 0 || size > max {
		return io.ReadAll(rd)
	}
	b := make([]byte, 0, size+1) // +1: the end is seen without growing
	for {
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

type pageBody struct {
	Events     []*auditkeep.Event `json:"events"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// handleList serves GET /v1/events for keys and viewer tokens; a viewer
// token's filters are AND-ed with the request's. Integrated events carry
// their leaf hash, whoever reads them.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	s.noteRead(r.Context(), p.tenant(), p.readSession(), actorOf(p), r.URL.Query())
	f, err := s.listFilter(r)
	if err != nil {
		return err
	}
	events, next, err := s.listFor(r.Context(), p, f)
	if err != nil {
		return err
	}
	s.fillHashes(r.Context(), p.tenant(), events)
	page := pageBody{Events: events}
	if page.Events == nil {
		page.Events = []*auditkeep.Event{}
	}
	if next != nil {
		page.NextCursor = next.Encode()
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// handleGet serves GET /v1/events/{id} for keys and viewer tokens: the event
// with its inclusion proof once it is integrated. An event outside a viewer
// token's filters is ENOTFOUND.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	e, err := s.eventFor(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withProof(r.Context(), p.tenant(), e))
	return nil
}

// listFor lists the principal's events matching f, within a viewer token's filters.
func (s *Server) listFor(ctx context.Context, p principal, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error) {
	f, err := p.constrain(f)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	events, next, err := s.store.ListEvents(ctx, p.tenant(), f)
	s.storeMetrics.observeQuery("list", start)
	return events, next, err
}

// eventFor returns the principal's event with id. For a viewer token the
// event must match the token's filters, which the store decides: the event is
// visible when it is the first match at or below its own seq. Returns
// ENOTFOUND otherwise.
func (s *Server) eventFor(ctx context.Context, p principal, id string) (*auditkeep.Event, error) {
	start := time.Now()
	e, err := s.store.GetEvent(ctx, p.tenant(), id)
	s.storeMetrics.observeQuery("get", start)
	if err != nil || p.viewer == nil {
		return e, err
	}
	f := p.viewer.filter
	f.Limit = 1
	f.Order = auditkeep.OrderDesc
	f.Cursor = &auditkeep.Cursor{Seq: e.Seq + 1, Order: auditkeep.OrderDesc}
	got, _, err := s.store.ListEvents(ctx, p.tenant(), f)
	if err != nil {
		return nil, err
	}
	if len(got) == 0 || got[0].Seq != e.Seq {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "event %q not found", id)
	}
	return e, nil
}

// filter reads the filter query parameters and q.
func (s *Server) filter(r *http.Request) (auditkeep.Filter, error) {
	return parseFilter(r.URL.Query())
}

// listFilter reads the filter of GET /v1/events: sorted by occurred_at
// unless sort says otherwise.
func (s *Server) listFilter(r *http.Request) (auditkeep.Filter, error) {
	f, err := s.filter(r)
	if err != nil {
		return f, err
	}
	if f.Sort == "" {
		f.Sort = auditkeep.SortTime
	}
	return f, f.Validate()
}

// seqOnly refuses a filter sorted by time where events are read in seq
// order (what, for the message).
func seqOnly(f auditkeep.Filter, what string) error {
	if f.ByTime() {
		return auditkeep.FieldErrorf("sort", "%s is in seq order (sort=seq), so that it resumes without missing events", what)
	}
	return nil
}

// parseFilter reads the filter parameters and q of q.
func parseFilter(q url.Values) (auditkeep.Filter, error) {
	f, err := auditkeep.ParseFilterParams(q)
	if err != nil {
		return f, err
	}
	if text := q.Get("q"); text != "" {
		g, err := search.Parse(text)
		if err != nil {
			return f, err
		}
		if f, err = search.Merge(f, g); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, auditkeep.Errorf(auditkeep.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
}
