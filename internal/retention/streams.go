package retention

import (
	"context"
	"time"
)

// StreamHolder tells the retention job which of a tenant's streams still
// hold its events: every stream that is not paused, with its cursor (the
// seq up to which it has delivered). The stream engine fulfils it.
type StreamHolder interface {
	StreamHolds(ctx context.Context, tenant string) ([]StreamHold, error)
}

// StreamHold is one stream that keeps the events after its cursor from
// the retention job, up to the operator's StreamWait past their retention.
type StreamHold struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	State  string `json:"state"`
	Cursor int64  `json:"cursor"`
}

// StreamWaitStatus is what GET /v1/retention says of the streams: the
// operator's cap, the streams that hold events now, and whether the last
// run left expired events for them.
type StreamWaitStatus struct {
	// WaitCap is how long past its retention an event waits for the
	// streams (--stream-retention-wait); after it, it is removed delivered
	// or not.
	WaitCap        string `json:"wait_cap"`
	WaitCapSeconds int64  `json:"wait_cap_seconds"`
	// Holding are the tenant's streams that keep events (not paused),
	// with their cursors; events after the lowest wait.
	Holding []StreamHold `json:"holding"`
	// Waiting: the last run left expired events that a stream has not
	// delivered (Status.StreamsWaiting).
	Waiting bool `json:"waiting"`
}

// streamBound is how far the tenant's streams let expired events go:
// bound is the lowest cursor of the streams that hold events (-1: none
// hold any, or the service waits for no stream), and events that occurred
// before force have waited the cap and go delivered or not.
func (s *Service) streamBound(ctx context.Context, tenant string, cut time.Time) (bound int64, force time.Time, err error) {
	if s.streams == nil || s.streamWait <= 0 || cut.IsZero() {
		return -1, time.Time{}, nil
	}
	holds, err := s.streams.StreamHolds(ctx, tenant)
	if err != nil || len(holds) == 0 {
		return -1, time.Time{}, err
	}
	bound = holds[0].Cursor
	for _, h := range holds[1:] {
		bound = min(bound, h.Cursor)
	}
	return bound, cut.Add(-s.streamWait), nil
}

// streamStatus is the StreamWaitStatus of the tenant, nil when the service
// waits for no stream.
func (s *Service) streamStatus(ctx context.Context, tenant string, st *Status) (*StreamWaitStatus, error) {
	if s.streams == nil {
		return nil, nil
	}
	holds, err := s.streams.StreamHolds(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if holds == nil {
		holds = []StreamHold{}
	}
	return &StreamWaitStatus{WaitCap: s.streamWait.String(), WaitCapSeconds: int64(s.streamWait / time.Second), Holding: holds, Waiting: st.StreamsWaiting}, nil
}
