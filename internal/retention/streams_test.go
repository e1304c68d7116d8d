package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/retention"
)

// storeStreams is the streams of the store, as the server tells them to
// the retention job: every stream not paused, with its cursor.
type storeStreams struct{ s auditkeep.StreamStore }

func (h storeStreams) StreamHolds(ctx context.Context, tenant string) ([]retention.StreamHold, error) {
	list, err := h.s.ListStreams(ctx, tenant)
	var out []retention.StreamHold
	for _, st := range list {
		if st.State != auditkeep.StreamPaused {
			out = append(out, retention.StreamHold{ID: st.ID, Name: st.Name, State: st.State, Cursor: st.Cursor})
		}
	}
	return out, err
}

// An expired event that a stream has not delivered stays until the
// stream delivers it, or until it has waited the operator's cap.
func TestStreamsHoldExpired(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, nil)
			e.tenant("acme", 30)
			all := e.fill("acme", 100) // seq s occurred (101-s)×12h ago: seqs 1..40 are past 30 days
			ss := e.s.(auditkeep.StreamStore)
			st := &auditkeep.Stream{ID: "str_1", Tenant: "acme", Name: "SIEM", Type: "webhook", Format: "native",
				State: auditkeep.StreamActive, Cursor: 10, CreatedAt: now0, UpdatedAt: now0}
			if err := ss.CreateStream(e.ctx, st); err != nil {
				t.Fatal(err)
			}
			// A cap of 10 days: events more than 40 days old (seqs 1..20) go delivered or not.
			ret := retention.New(capable(retention.Config{Store: e.s, Archive: e.arch, Tree: e.tree, Now: e.clock.Now, Logger: quiet,
				BatchSize: 40, Pause: time.Millisecond, Recorder: e.record, Streams: storeStreams{ss}, StreamWait: 10 * 24 * time.Hour}))
			rep, err := ret.Run(e.ctx)
			if err != nil || rep.Removed != 20 || rep.Undelivered != 10 {
				t.Fatalf("Run with a stream at cursor 10 = %+v, %v; want 20 removed, 10 of them undelivered", rep, err)
			}
			live := seqSet(e.live("acme"))
			for _, ev := range all[:40] {
				if want := ev.Seq > 20; live[ev.Seq] != want {
					t.Errorf("expired seq %d live = %v; want %v", ev.Seq, live[ev.Seq], want)
				}
			}
			ts, err := ret.TenantStatus(e.ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if !ts.Status.StreamsWaiting || ts.Status.Undelivered != 10 || ts.Streams == nil || !ts.Streams.Waiting ||
				ts.Streams.WaitCapSeconds != 10*24*3600 || len(ts.Streams.Holding) != 1 || ts.Streams.Holding[0].Cursor != 10 {
				t.Errorf("GET /v1/retention says status %+v, streams %+v; want waiting for str_1 at cursor 10, cap 10 days, 10 undelivered", ts.Status, ts.Streams)
			}

			// Once the stream delivered them, they go.
			if err := ss.ReplayStream(e.ctx, "acme", "str_1", 100, now0); err != nil {
				t.Fatal(err)
			}
			rep, err = ret.Run(e.ctx)
			if err != nil || rep.Removed != 20 || rep.Undelivered != 0 {
				t.Errorf("Run with the stream caught up = %+v, %v; want the other 20 removed", rep, err)
			}
			ts, _ = ret.TenantStatus(e.ctx, "acme")
			if ts.Status.StreamsWaiting || ts.Streams.Waiting {
				t.Errorf("after the stream caught up: status waiting %v; want not", ts.Status.StreamsWaiting)
			}
		})
	}
}
