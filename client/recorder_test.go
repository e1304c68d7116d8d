package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
	"github.com/google/uuid"
)

func ev(action string) auditkeep.Event {
	return auditkeep.Event{Action: action, Actor: auditkeep.Actor{ID: "usr_42", Name: "Alice Martin"}}
}

func closeRecorder(t *testing.T, r *client.Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// fastRetries are options that retry quickly, for tests.
func fastRetries(o client.RecorderOptions) client.RecorderOptions {
	o.MinBackoff, o.MaxBackoff = time.Millisecond, 5*time.Millisecond
	return o
}

func TestRecorderBatchesAndAssignsIDs(t *testing.T) {
	f, c := newFakeIngest(t)
	r := newRecorder(c, client.RecorderOptions{FlushInterval: time.Hour})
	given := ev("token.create")
	given.ID = "evt_given"
	if err := r.Record(context.Background(), given); err != nil {
		t.Fatalf("Record: %v", err)
	}
	for i := range 2499 {
		if err := r.Record(context.Background(), ev(fmt.Sprintf("token.create%d", i%3))); err != nil {
			t.Fatalf("Record #%d: %v", i, err)
		}
	}
	closeRecorder(t, r)

	_, batches := f.counts()
	if !slices.Equal(batches, []int{1000, 1000, 500}) {
		t.Errorf("batches = %v; want [1000 1000 500]", batches)
	}
	stored := f.stored()
	if len(stored) != 2500 {
		t.Fatalf("stored %d events; want 2500", len(stored))
	}
	if stored[0].ID != "evt_given" {
		t.Errorf("first id = %q; want the caller's evt_given", stored[0].ID)
	}
	for _, e := range stored[1:] {
		u, err := uuid.Parse(e.ID)
		if err != nil || u.Version() != 7 {
			t.Fatalf("id %q is not a UUIDv7 (%v)", e.ID, err)
		}
		if e.OccurredAt.IsZero() {
			t.Fatalf("event %s has no occurred_at", e.ID)
		}
	}
	if s := r.Stats(); s.Recorded != 2500 || s.Sent != 2500 || s.Pending != 0 || s.Dropped+s.Rejected+s.Failed != 0 {
		t.Errorf("Stats() = %+v; want 2500 recorded and sent, nothing lost", s)
	}
}

func TestRecorderFlushInterval(t *testing.T) {
	f, c := newFakeIngest(t)
	r := newRecorder(c, client.RecorderOptions{FlushInterval: 5 * time.Millisecond})
	defer closeRecorder(t, r)
	r.Record(context.Background(), ev("token.create"))
	deadline := time.Now().Add(10 * time.Second)
	for len(f.stored()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the event was not sent within 10s of a 5ms flush interval")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRecorderRetriesWithSameIDs(t *testing.T) {
	f, c := newFakeIngest(t)
	f.fail = func(n int) (int, http.Header) {
		switch n {
		case 1:
			return http.StatusServiceUnavailable, nil
		case 2:
			return http.StatusBadGateway, nil
		case 3:
			return http.StatusInternalServerError, nil
		}
		return 0, nil
	}
	r := newRecorder(c, fastRetries(client.RecorderOptions{}))
	for range 10 {
		r.Record(context.Background(), ev("token.create"))
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	closeRecorder(t, r)
	if n, _ := f.counts(); n != 4 {
		t.Errorf("requests = %d; want 4 (three failures, one success)", n)
	}
	if got := len(f.stored()); got != 10 {
		t.Errorf("stored %d events; want 10", got)
	}
	if s := r.Stats(); s.Retries != 3 || s.Sent != 10 {
		t.Errorf("Stats() = %+v; want 3 retries, 10 sent", s)
	}
}

func TestRecorderHonoursRetryAfter(t *testing.T) {
	f, c := newFakeIngest(t)
	var mu sync.Mutex
	var at []time.Time
	f.fail = func(n int) (int, http.Header) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		if n == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}
		}
		return 0, nil
	}
	r := newRecorder(c, client.RecorderOptions{MinBackoff: time.Millisecond, MaxBackoff: time.Minute})
	r.Record(context.Background(), ev("token.create"))
	closeRecorder(t, r)
	if len(at) != 2 {
		t.Fatalf("requests = %d; want 2", len(at))
	}
	if d := at[1].Sub(at[0]); d < time.Second {
		t.Errorf("retried %v after a 429 with Retry-After: 1; want at least 1s", d)
	}
	if got := len(f.stored()); got != 1 {
		t.Errorf("stored %d events; want 1", got)
	}
}

func TestRecorderDoesNotRetryRefusals(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusConflict} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f, c := newFakeIngest(t)
			f.fail = func(int) (int, http.Header) { return status, nil }
			var dropped []auditkeep.Event
			var dropErr error
			r := newRecorder(c, fastRetries(client.RecorderOptions{OnDrop: func(es []auditkeep.Event, err error) {
				dropped, dropErr = append(dropped, es...), err
			}}))
			for range 3 {
				r.Record(context.Background(), ev("token.create"))
			}
			err := r.Flush(context.Background())
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.Status != status {
				t.Errorf("Flush() = %v; want the %d *APIError", err, status)
			}
			closeRecorder(t, r)
			if n, _ := f.counts(); n != 1 {
				t.Errorf("requests = %d; want 1 (no retry of a %d)", n, status)
			}
			if s := r.Stats(); s.Rejected != 3 || s.Retries != 0 {
				t.Errorf("Stats() = %+v; want 3 rejected, no retry", s)
			}
			if len(dropped) != 3 || !errors.As(dropErr, &ae) {
				t.Errorf("OnDrop got %d events, err %v; want 3 with the *APIError", len(dropped), dropErr)
			}
		})
	}
}

func TestRecorderSetsAsideRefusedEvents(t *testing.T) {
	f, c := newFakeIngest(t)
	var dropped []string
	var mu sync.Mutex
	r := newRecorder(c, client.RecorderOptions{FlushInterval: time.Hour, OnDrop: func(es []auditkeep.Event, err error) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range es {
			dropped = append(dropped, e.ID)
		}
	}})
	var want []string
	for i := range 20 {
		e := ev("token.create")
		e.ID = fmt.Sprintf("evt_%02d", i)
		switch i {
		case 3:
			e.Context.IP = "not-an-ip" // refused with field events[3].context.ip
		case 11:
			e.Metadata = []byte(`{"big":"` + strings.Repeat("x", 70<<10) + `"}`) // over the event size limit
		default:
			want = append(want, e.ID)
		}
		if err := r.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	err := r.Flush(context.Background())
	if auditkeep.ErrorCode(err) != auditkeep.EINVALID && auditkeep.ErrorCode(err) != auditkeep.ETOOLARGE {
		t.Errorf("Flush() = %v; want the refusals", err)
	}
	closeRecorder(t, r)
	var got []string
	for _, e := range f.stored() {
		got = append(got, e.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("stored %v; want %v", got, want)
	}
	if !slices.Equal(dropped, []string{"evt_03", "evt_11"}) {
		t.Errorf("dropped %v; want [evt_03 evt_11]", dropped)
	}
	if s := r.Stats(); s.Rejected != 2 || s.Sent != 18 {
		t.Errorf("Stats() = %+v; want 2 rejected, 18 sent", s)
	}
}

func TestRecordValidates(t *testing.T) {
	_, c := newFakeIngest(t)
	for _, blocking := range []bool{false, true} {
		r := newRecorder(c, client.RecorderOptions{Blocking: blocking})
		for _, e := range []auditkeep.Event{
			{Action: "", Actor: auditkeep.Actor{ID: "u"}},
			{Action: "Token Create", Actor: auditkeep.Actor{ID: "u"}},
			{Action: "token.create"},
			{Action: "token.create", Actor: auditkeep.Actor{ID: "u"}, Metadata: []byte(`{"a":`)},
		} {
			if err := r.Record(context.Background(), e); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
				t.Errorf("Record(%q, actor %q) blocking=%v = %v; want EINVALID", e.Action, e.Actor.ID, blocking, err)
			}
		}
		closeRecorder(t, r)
		if s := r.Stats(); s.Recorded != 0 {
			t.Errorf("Stats().Recorded = %d after invalid events; want 0", s.Recorded)
		}
	}
}

func TestRecordAfterClose(t *testing.T) {
	_, c := newFakeIngest(t)
	for _, blocking := range []bool{false, true} {
		r := newRecorder(c, client.RecorderOptions{Blocking: blocking})
		closeRecorder(t, r)
		if err := r.Record(context.Background(), ev("token.create")); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Record after Close (blocking=%v) = %v; want ErrClosed", blocking, err)
		}
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("second Close = %v; want nil", err)
		}
		if err := r.Flush(context.Background()); err != nil {
			t.Errorf("Flush after Close = %v; want nil", err)
		}
	}
}

func TestCloseGivesUpAtDeadline(t *testing.T) {
	f, c := newFakeIngest(t)
	f.fail = func(int) (int, http.Header) { return http.StatusServiceUnavailable, nil }
	var lost int
	var mu sync.Mutex
	r := newRecorder(c, fastRetries(client.RecorderOptions{BatchSize: 2, OnDrop: func(es []auditkeep.Event, err error) {
		mu.Lock()
		lost += len(es)
		mu.Unlock()
	}}))
	for range 5 {
		if err := r.Record(context.Background(), ev("token.create")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := r.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close() = %v; want an error wrapping context.DeadlineExceeded", err)
	}
	if s := r.Stats(); s.Failed != 5 || s.Pending != 0 {
		t.Errorf("Stats() = %+v; want 5 failed, none pending", s)
	}
	if lost != 5 {
		t.Errorf("OnDrop got %d events; want 5", lost)
	}
}

func TestBlockingMaxAttempts(t *testing.T) {
	f, c := newFakeIngest(t)
	f.fail = func(n int) (int, http.Header) {
		if n <= 3 {
			return http.StatusServiceUnavailable, nil
		}
		return 0, nil
	}
	r := newRecorder(c, fastRetries(client.RecorderOptions{Blocking: true}))
	err := r.Record(context.Background(), ev("token.create"))
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Errorf("Record() = %v; want the 503 after %d attempts", err, client.DefaultBlockingAttempts)
	}
	if n, _ := f.counts(); n != client.DefaultBlockingAttempts {
		t.Errorf("requests = %d; want %d", n, client.DefaultBlockingAttempts)
	}
	if err := r.Record(context.Background(), ev("token.create")); err != nil {
		t.Errorf("Record() once the server answers = %v; want nil", err)
	}
	if s := r.Stats(); s.Recorded != 2 || s.Sent != 1 || s.Failed != 1 {
		t.Errorf("Stats() = %+v; want 2 recorded, 1 sent, 1 failed", s)
	}
}

func TestRecorderAttemptTimeout(t *testing.T) {
	f := &fakeIngest{seen: map[string]int{}}
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-release // a server that accepted the request and hangs
			return
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(release)
	r := newRecorder(client.New(srv.URL, "k"), fastRetries(client.RecorderOptions{AttemptTimeout: 50 * time.Millisecond}))
	r.Record(context.Background(), ev("token.create"))
	closeRecorder(t, r)
	if got := len(f.stored()); got != 1 || calls.Load() != 2 {
		t.Errorf("stored %d events in %d requests; want 1 in 2 (the hung one abandoned)", got, calls.Load())
	}
}

func TestRecorderBatchesByBytes(t *testing.T) {
	f, c := newFakeIngest(t)
	r := newRecorder(c, client.RecorderOptions{FlushInterval: time.Hour})
	snapshot := []byte(`{"blob":"` + strings.Repeat("x", 40<<10) + `"}`) // 300 events weigh 12 MiB
	for range 300 {
		e := ev("blob.update")
		e.Snapshot = snapshot
		if err := r.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	closeRecorder(t, r)
	requests, batches := f.counts()
	if len(f.stored()) != 300 || requests != len(batches) || len(batches) < 3 {
		t.Errorf("stored %d in %d requests, batches %v; want 300 in batches under 5 MiB, none refused", len(f.stored()), requests, batches)
	}
}
