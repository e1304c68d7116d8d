package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/web"
)

// consoleStreams gives the console's Streams page the API's own stream
// endpoints: each action runs the endpoint's handler for the console's
// key, so that it is checked, done and recorded in the tenant's log
// exactly as over the API.
type consoleStreams struct{ s *Server }

var _ web.StreamBackend = consoleStreams{}

// admin returns the identity's principal when it may manage streams.
func (c consoleStreams) admin(id *web.Identity, r *http.Request) (principal, error) {
	p, err := principalOf(id)
	if err != nil {
		return principal{}, err
	}
	return p, authorize(p, scopeAdmin, r)
}

// Streams lists the tenant's streams as GET /v1/streams does.
func (c consoleStreams) Streams(ctx context.Context, id *web.Identity) ([]web.StreamStatus, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "/v1/streams", nil)
	if err != nil {
		return nil, err
	}
	body, err := c.call(r, id, "", nil, c.s.handleListStreams)
	if err != nil {
		return nil, err
	}
	var out struct {
		Streams []struct {
			auditkeep.Stream
			LagEvents  int64   `json:"lag_events"`
			LagSeconds float64 `json:"lag_seconds"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	list := make([]web.StreamStatus, 0, len(out.Streams))
	for _, st := range out.Streams {
		list = append(list, web.StreamStatus{Stream: st.Stream, LagEvents: st.LagEvents, LagSeconds: st.LagSeconds})
	}
	return list, nil
}

func (c consoleStreams) PauseStream(r *http.Request, id *web.Identity, streamID string) error {
	_, err := c.call(r, id, streamID, struct{}{}, c.s.handlePauseStream)
	return err
}

func (c consoleStreams) ResumeStream(r *http.Request, id *web.Identity, streamID string) error {
	_, err := c.call(r, id, streamID, struct{}{}, c.s.handleResumeStream)
	return err
}

func (c consoleStreams) ReplayStream(r *http.Request, id *web.Identity, streamID string, from web.StreamReplay) error {
	var body any = map[string]int64{"from_seq": from.FromSeq}
	if from.FromSeq == 0 {
		body = map[string]time.Time{"from_time": from.FromTime}
	}
	_, err := c.call(r, id, streamID, body, c.s.handleReplayStream)
	return err
}

// streamTestError is a receiver's refusal of a test event.
type streamTestError struct{ msg string }

func (e streamTestError) Error() string { return e.msg }

func (c consoleStreams) TestStream(r *http.Request, id *web.Identity, streamID string) error {
	body, err := c.call(r, id, streamID, struct{}{}, c.s.handleTestStream)
	if err != nil {
		return err
	}
	var out struct {
		Delivered bool   `json:"delivered"`
		Error     string `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return err
	}
	if !out.Delivered {
		return streamTestError{out.Error}
	}
	return nil
}

// call runs an API handler for the identity's key on a copy of r (its
// address and user agent kept for the record) with the stream's ID and a
// JSON body, and returns what the handler wrote.
func (c consoleStreams) call(r *http.Request, id *web.Identity, streamID string, body any, h func(http.ResponseWriter, *http.Request) error) ([]byte, error) {
	p, err := c.admin(id, r)
	if err != nil {
		return nil, err
	}
	method := r.Method
	if body != nil {
		method = http.MethodPost
	}
	return runAs(r, p, method, nil, streamID, body, h)
}

// runAs runs an API handler for the principal on a copy of r (its address
// and user agent kept for the record) with method, the query q (nil: r's
// own), the path's {id} and a JSON body (nil: none), and returns what the
// handler wrote.
func runAs(r *http.Request, p principal, method string, q url.Values, pathID string, body any, h func(http.ResponseWriter, *http.Request) error) ([]byte, error) {
	r2 := r.Clone(context.WithValue(r.Context(), principalKey{}, p))
	r2.SetPathValue("id", pathID)
	r2.Method = method
	if q != nil {
		u := *r2.URL
		u.RawQuery = q.Encode()
		r2.URL = &u
	}
	r2.Body, r2.ContentLength = http.NoBody, 0
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r2.Body, r2.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		r2.Header = r.Header.Clone()
		r2.Header.Set("Content-Type", "application/json")
	}
	w := &bufferedResponse{header: http.Header{}}
	if err := h(w, r2); err != nil {
		return nil, err
	}
	return w.body.Bytes(), nil
}

// bufferedResponse keeps what a handler writes.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
