package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Stream is a stream's delivery to a webhook receiver on loopback (NDJSON
// batches, each line parsed): the rate of delivering a backlog, and the
// lag of each event (its acknowledgement to its arrival) under a steady
// ingest.
type Stream struct {
	BacklogEvents      int     `json:"backlog_events"`
	BacklogSeconds     float64 `json:"backlog_s"`
	DeliveryPerSec     float64 `json:"delivery_events_per_s"`
	Batches            int64   `json:"batches"`
	LagRate            int     `json:"lag_ingest_events_per_s"` // the steady ingest's target rate
	LagAchievedRate    float64 `json:"lag_achieved_events_per_s"`
	LagEvents          int     `json:"lag_events"`
	LagDelivered       int     `json:"lag_delivered"`
	Lag                Summary `json:"lag"` // acknowledgement → arrival at the receiver
	ReceiverDuplicates int     `json:"receiver_duplicates"`
}

// streamReceiver is a webhook receiver that notes when each event (by id)
// arrives.
type streamReceiver struct {
	srv     *http.Server
	url     string
	batches atomic.Int64
	n       atomic.Int64
	mu      sync.Mutex
	arrived map[string]time.Time
	dups    int
	notify  chan struct{}
}

func startStreamReceiver() (*streamReceiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sr := &streamReceiver{url: "http://" + l.Addr().String() + "/hook", arrived: map[string]time.Time{}, notify: make(chan struct{}, 1)}
	sr.srv = &http.Server{Handler: http.HandlerFunc(sr.serve), ReadHeaderTimeout: 10 * time.Second}
	go sr.srv.Serve(l)
	return sr, nil
}

func (sr *streamReceiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("webhook-id") == "" || r.Header.Get("webhook-signature") == "" {
		http.Error(w, "unsigned", http.StatusUnauthorized)
		return
	}
	at := time.Now()
	var ids []string
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			http.Error(w, "bad line", http.StatusBadRequest)
			return
		}
		ids = append(ids, e.ID)
	}
	if sc.Err() != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	sr.mu.Lock()
	for _, id := range ids {
		if _, ok := sr.arrived[id]; ok {
			sr.dups++
			continue
		}
		sr.arrived[id] = at
	}
	sr.mu.Unlock()
	sr.batches.Add(1)
	sr.n.Add(int64(len(ids)))
	select {
	case sr.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitFor waits until n distinct events have arrived, or the deadline.
func (sr *streamReceiver) waitFor(ctx context.Context, n int, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		sr.mu.Lock()
		have := len(sr.arrived)
		sr.mu.Unlock()
		if have >= n {
			return time.Now(), nil
		}
		select {
		case <-sr.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return time.Time{}, fmt.Errorf("the receiver has %d of %d events after %s", have, n, timeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

func (sr *streamReceiver) close() { sr.srv.Close() }

// webhookSecret is a Standard Webhooks secret.
func webhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// createStream creates a webhook stream of the bench tenant's events of
// action to the receiver.
func createStream(ctx context.Context, a *api, name, action, hook string) (string, error) {
	body, _ := json.Marshal(map[string]any{"name": name, "type": "webhook", "format": "native",
		"filters": map[string][]string{"action": {action}}, "settings": map[string]string{"url": hook}, "secret": webhookSecret()})
	out, err := a.call(ctx, http.MethodPost, "/v1/streams", nil, body)
	if err != nil {
		return "", fmt.Errorf("create stream: %w", err)
	}
	var s struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(out, &s) != nil || s.ID == "" {
		return "", fmt.Errorf("create stream: unexpected answer %.200s", out)
	}
	return s.ID, nil
}

// streamEvent is one event of a stream phase.
func streamEvent(id, action string) map[string]any {
	return map[string]any{"id": id, "action": action, "actor": map[string]string{"type": "user", "id": "usr_bench", "name": "Bench"},
		"target": map[string]string{"type": "environment", "id": "env_1", "name": "production"}, "source": "bench",
		"context": map[string]string{"ip": "203.0.113.7"}}
}

func (r *runner) stream(ctx context.Context) error {
	s, err := r.startServer(ctx, false)
	if err != nil {
		return err
	}
	defer s.close()
	rcv, err := startStreamReceiver()
	if err != nil {
		return err
	}
	defer rcv.close()
	st := &Stream{}
	r.rep.Stream = st

	// Backlog: a paused stream, then its events, then resume and time the
	// delivery of them all.
	const backlogAction = "bench.backlog"
	id, err := createStream(ctx, s.api, "backlog", backlogAction, rcv.url)
	if err != nil {
		return err
	}
	if _, err := s.api.call(ctx, http.MethodPost, "/v1/streams/"+id+"/pause", nil, []byte(`{}`)); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	n := min(max(r.cfg.IngestEvents, 1000), 200_000)
	var sent atomic.Int64
	r.pg.track("stream backlog ingest", &sent, int64(n))
	for i := 0; i < n; i += 1000 {
		var evs []any
		for j := i; j < min(n, i+1000); j++ {
			evs = append(evs, streamEvent(fmt.Sprintf("backlog-%d-%d", r.cfg.Seed, j), backlogAction))
		}
		body, _ := json.Marshal(map[string]any{"events": evs})
		if err := postEvents(ctx, s.api, body); err != nil {
			return err
		}
		sent.Add(int64(len(evs)))
	}
	start := time.Now()
	if _, err := s.api.call(ctx, http.MethodPost, "/v1/streams/"+id+"/resume", nil, []byte(`{}`)); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	r.pg.track("stream backlog delivery", &rcv.n, int64(n))
	end, err := rcv.waitFor(ctx, n, 10*time.Minute)
	if err != nil {
		return err
	}
	st.BacklogEvents = n
	st.BacklogSeconds = end.Sub(start).Seconds()
	st.DeliveryPerSec = float64(n) / end.Sub(start).Seconds()
	st.Batches = rcv.batches.Load()
	if _, err := s.api.call(ctx, http.MethodPost, "/v1/streams/"+id+"/pause", nil, []byte(`{}`)); err != nil {
		return fmt.Errorf("pause: %w", err)
	}

	// Lag: a second stream under a steady ingest (5,000 events/s by
	// default: 50 events every 10 ms) for the configured duration.
	const lagAction = "bench.lag"
	if _, err := createStream(ctx, s.api, "lag", lagAction, rcv.url); err != nil {
		return err
	}
	// 50 events a request, or fewer for a rate under 100/s.
	rate := r.cfg.StreamRate
	per := min(50, max(1, rate/100))
	tick := time.Second * time.Duration(per) / time.Duration(rate)
	dur := min(r.cfg.Duration, 30*time.Second)
	acks := map[string]time.Time{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	var lagSent atomic.Int64
	r.pg.track("stream lag ingest", &lagSent, int64(dur/tick)*int64(per))
	t0 := time.Now()
	tk := time.NewTicker(tick)
	for b := 0; time.Since(t0) < dur; b++ {
		<-tk.C
		ids := make([]string, per)
		evs := make([]any, per)
		for j := range per {
			ids[j] = fmt.Sprintf("lag-%d-%d-%d", r.cfg.Seed, b, j)
			evs[j] = streamEvent(ids[j], lagAction)
		}
		body, _ := json.Marshal(map[string]any{"events": evs})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := postEvents(ctx, s.api, body); err != nil {
				once.Do(func() { firstErr = err })
				return
			}
			at := time.Now()
			mu.Lock()
			for _, id := range ids {
				acks[id] = at
			}
			mu.Unlock()
			lagSent.Add(int64(per))
		}()
	}
	tk.Stop()
	wg.Wait()
	elapsed := time.Since(t0)
	if firstErr != nil {
		return firstErr
	}
	st.LagRate = rate
	st.LagEvents = len(acks)
	st.LagAchievedRate = float64(len(acks)) / elapsed.Seconds()
	if _, err := rcv.waitFor(ctx, n+len(acks), time.Minute); err != nil {
		return err
	}
	var lag recorder
	rcv.mu.Lock()
	for id, ack := range acks {
		if at, ok := rcv.arrived[id]; ok {
			lag.add(at.Sub(ack))
			st.LagDelivered++
		}
	}
	st.ReceiverDuplicates = rcv.dups
	rcv.mu.Unlock()
	st.Lag = lag.summary()
	return nil
}
