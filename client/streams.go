package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Stream is a stream as the server returns it: its configuration (never
// its secret), its state and how far it has got.
type Stream struct {
	auditkeep.Stream
	LagEvents  int64   `json:"lag_events"`
	LagSeconds float64 `json:"lag_seconds"`
}

// StreamParams are a new stream's configuration (admin scope). Settings
// are the type's own (see the README's Stream formats and transports);
// Filters are GET /v1/events's filter parameters, q included.
type StreamParams struct {
	Name     string              `json:"name"`
	Type     string              `json:"type"`
	Format   string              `json:"format,omitempty"`
	Filters  map[string][]string `json:"filters,omitempty"`
	Settings json.RawMessage     `json:"settings,omitempty"`
	Secret   string              `json:"secret,omitempty"`
	// Start is "now" (the default: events committed from now on) or
	// "beginning" (every event the log holds).
	Start string `json:"start,omitempty"`
}

// ListStreams returns the key's tenant's streams (admin scope).
func (c *Client) ListStreams(ctx context.Context) ([]Stream, error) {
	var out struct {
		Streams []Stream `json:"streams"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/streams", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Streams, nil
}

// GetStream returns one stream. Returns ENOTFOUND.
func (c *Client) GetStream(ctx context.Context, id string) (*Stream, error) {
	return c.streamDo(ctx, http.MethodGet, id, "", nil)
}

// CreateStream creates a stream, delivering from p.Start. Returns EINVALID naming the field ("settings.url", "secret",
// "filters.action") for a configuration it refuses.
func (c *Client) CreateStream(ctx context.Context, p StreamParams) (*Stream, error) {
	var s Stream
	if err := c.do(ctx, http.MethodPost, "/v1/streams", nil, p, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// PauseStream stops a stream's delivery until ResumeStream. Returns
// ENOTFOUND.
func (c *Client) PauseStream(ctx context.Context, id string) (*Stream, error) {
	return c.streamDo(ctx, http.MethodPost, id, "/pause", nil)
}

// ResumeStream resumes a paused stream, or one in auth_error once its
// receiver takes its credentials again. Returns ENOTFOUND.
func (c *Client) ResumeStream(ctx context.Context, id string) (*Stream, error) {
	return c.streamDo(ctx, http.MethodPost, id, "/resume", nil)
}

// StreamTest is what a test delivery came to: Delivered, or the
// receiver's refusal in Error.
type StreamTest struct {
	Delivered bool   `json:"delivered"`
	Error     string `json:"error,omitempty"`
}

// TestStream sends the stream's receiver one marked test event now and
// says whether it accepted it. Returns ENOTFOUND.
func (c *Client) TestStream(ctx context.Context, id string) (*StreamTest, error) {
	var out StreamTest
	if err := c.do(ctx, http.MethodPost, "/v1/streams/"+url.PathEscape(id)+"/test", nil, struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Replay is where a replay starts: the event of seq FromSeq, or the first
// (in seq order) that occurred at or after FromTime (one of the two).
type Replay struct {
	FromSeq  int64     `json:"from_seq,omitempty"`
	FromTime time.Time `json:"from_time,omitzero"`
}

// ReplayStream delivers the tenant's matching events again from the
// replay's start, with new stream_seqs after the last delivered. Returns
// EINVALID naming from_seq or from_time.
func (c *Client) ReplayStream(ctx context.Context, id string, r Replay) (*Stream, error) {
	return c.streamDo(ctx, http.MethodPost, id, "/replay", r)
}

func (c *Client) streamDo(ctx context.Context, method, id, action string, body any) (*Stream, error) {
	var s Stream
	if err := c.do(ctx, method, "/v1/streams/"+url.PathEscape(id)+action, nil, body, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
