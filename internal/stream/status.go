package stream

import (
	"context"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/format"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
	"github.com/google/uuid"
)

// Lag is how far a stream is behind its tenant's log.
type Lag struct {
	Events  int64   `json:"lag_events"`  // events of the log after the stream's cursor
	Seconds float64 `json:"lag_seconds"` // since the first of them was received; 0 when none
}

// Lag returns the stream's lag now.
func (e *Engine) Lag(ctx context.Context, st *auditkeep.Stream) (Lag, error) {
	head, err := headSeq(ctx, e.store, st.Tenant)
	if err != nil {
		return Lag{}, err
	}
	return e.lag(ctx, st, head)
}

func (e *Engine) lag(ctx context.Context, st *auditkeep.Stream, head int64) (Lag, error) {
	if head <= st.Cursor {
		return Lag{}, nil
	}
	l := Lag{Events: head - st.Cursor}
	evs, _, err := e.store.ListEvents(ctx, st.Tenant, auditkeep.Filter{Order: auditkeep.OrderAsc, Sort: auditkeep.SortSeq, Limit: 1,
		Cursor: &auditkeep.Cursor{Seq: st.Cursor, Order: auditkeep.OrderAsc}})
	if err != nil {
		return l, err
	}
	if len(evs) > 0 {
		l.Seconds = max(0, e.now().Sub(evs[0].ReceivedAt).Seconds())
	}
	return l, nil
}

// observeLag sets the stream's lag gauges.
func (w *worker) observeLag(ctx context.Context, st *auditkeep.Stream, head int64) {
	l, err := w.e.lag(ctx, st, head)
	if err == nil {
		w.e.metrics.lag(w.key, l)
	}
}

// Head returns the seq of the tenant's latest event (0 when it has none):
// where a new stream starts.
func (e *Engine) Head(ctx context.Context, tenant string) (int64, error) {
	return headSeq(ctx, e.store, tenant)
}

// TestAction is the action of the event a test delivery sends.
const TestAction = "auditkeep.stream.test"

// Test sends the stream one test record now, whatever its state: an event
// made up for it (action auditkeep.stream.test, seq 0), marked test, with
// stream_seq 0. It returns the receiver's refusal, or nil once accepted. The
// stream's position does not move.
func (e *Engine) Test(ctx context.Context, st *auditkeep.Stream, actor auditkeep.Actor) error {
	fm := format.ByName(st.Format)
	if fm == nil {
		return auditkeep.FieldErrorf("format", "unknown format %q", st.Format)
	}
	tr, err := e.openTransport(st)
	if err != nil {
		return err
	}
	defer tr.Close()
	now := e.now().UTC()
	id, _ := uuid.NewV7()
	ev := &auditkeep.Event{Tenant: st.Tenant, ReceivedAt: now, ID: id.String(), OccurredAt: now, Action: TestAction, Type: auditkeep.TypeInfo,
		Actor: actor, Target: &auditkeep.Target{Type: "stream", ID: st.ID, Name: st.Name}, Source: "auditkeep", Status: auditkeep.StatusSuccess,
		Description: "Test delivery of stream '" + st.Name + "'"}
	r := format.Record{Event: ev, StreamID: st.ID, Test: true}
	p, err := fm.Encode(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout+time.Second)
	defer cancel()
	return tr.Send(ctx, &transport.Batch{ID: st.ID + "-test-" + id.String(), Records: []format.Record{r}, Payloads: [][]byte{p}})
}
