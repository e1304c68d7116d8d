package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Tail is the live stream's delivery latency: single events sent one after
// another while a client follows GET /v1/stream (Server-Sent Events).
type Tail struct {
	Probes         int     `json:"probes"`
	Delivered      int     `json:"delivered"`
	AckToDelivery  Summary `json:"ack_to_delivery"`  // negative when the event arrived before its acknowledgement
	SendToDelivery Summary `json:"send_to_delivery"` // from the start of the POST
	Ack            Summary `json:"ack"`
}

// Ledger is the tamper-evident ledger's cost: how long an acknowledged
// event waits for a signed checkpoint that covers it, and ingest with the
// ledger on and off on otherwise identical fresh servers.
type Ledger struct {
	LagProbes    int         `json:"lag_probes"`
	Lag          Summary     `json:"lag"` // acknowledgement → GET /v1/checkpoint size ≥ the event's seq (polled every 5 ms)
	LagUnderLoad string      `json:"lag_load"`
	On           []IngestRow `json:"on"`
	Off          []IngestRow `json:"off"`
	OnOverOff    []float64   `json:"on_over_off"` // events/s with the ledger over without, per row
}

const probeAction = "bench.probe"

// probeBody returns a single event made to be recognised.
func probeBody(id string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "action": probeAction, "actor": map[string]string{"type": "system", "id": "sys_bench", "name": "Benchmark"},
		"target": map[string]string{"type": "probe", "id": id}, "source": "bench",
		"description": "Benchmark probe " + id,
	})
	return b
}

func (r *runner) tail(ctx context.Context) error {
	s := r.loaded
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := s.api.do(ctx, http.MethodGet, "/v1/stream", url.Values{"action": {probeAction}}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.StatusCode, "stream"}
	}
	var mu sync.Mutex
	delivered := map[string]time.Time{}
	got := make(chan struct{}, 1)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "data:") {
				continue
			}
			at := time.Now()
			var e struct {
				ID string `json:"id"`
			}
			if json.Unmarshal([]byte(strings.TrimSpace(line[5:])), &e) == nil && e.ID != "" {
				mu.Lock()
				delivered[e.ID] = at
				mu.Unlock()
				select {
				case got <- struct{}{}:
				default:
				}
			}
		}
		readErr <- sc.Err()
	}()

	const probes = 200
	t := &Tail{Probes: probes}
	var ack, a2d, s2d recorder
	var n atomic.Int64
	r.pg.track("tail probes", &n, probes)
	for i := range probes {
		id := fmt.Sprintf("tail-%d-%d", r.cfg.Seed, i)
		t0 := time.Now()
		if err := postEvents(ctx, s.api, probeBody(id)); err != nil {
			return err
		}
		t1 := time.Now()
		ack.add(t1.Sub(t0))
		// Wait for the delivery (at most 5 s) before the next probe.
		deadline := time.After(5 * time.Second)
	wait:
		for {
			mu.Lock()
			at, ok := delivered[id]
			mu.Unlock()
			if ok {
				a2d.add(at.Sub(t1))
				s2d.add(at.Sub(t0))
				t.Delivered++
				break
			}
			select {
			case <-got:
			case <-deadline:
				break wait
			case err := <-readErr:
				return fmt.Errorf("stream ended: %v", err)
			}
		}
		n.Add(1)
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	t.Ack, t.AckToDelivery, t.SendToDelivery = ack.summary(), a2d.summary(), s2d.summary()
	r.rep.Tail = t
	r.pg.note("tail: ack → delivery p50 %.2f ms p99 %.2f ms (%d/%d delivered)", t.AckToDelivery.P50, t.AckToDelivery.P99, t.Delivered, probes)
	return nil
}

func (r *runner) ledger(ctx context.Context) error {
	plans := []ingestPlan{r.ingestPlans()[0], r.ingestPlans()[4]}
	l := &Ledger{}
	for _, on := range []bool{true, false} {
		s, err := r.startServer(ctx, on)
		if err != nil {
			return err
		}
		for _, p := range plans {
			row, err := r.measureIngest(ctx, s.api, r.requestsFor(p), p.clients)
			if err != nil {
				s.close()
				return err
			}
			row.Ledger = on
			if on {
				l.On = append(l.On, row)
			} else {
				l.Off = append(l.Off, row)
			}
			r.pg.note("ledger %-5v %-28s %9.0f events/s  ack p99 %.1f ms", on, row.Name, row.EventsPerSec, row.Ack.P99)
		}
		if on {
			if err := r.ledgerLag(ctx, s, l); err != nil {
				s.close()
				return err
			}
		}
		s.close()
	}
	for i := range l.On {
		l.OnOverOff = append(l.OnOverOff, ratio(l.On[i].EventsPerSec, l.Off[i].EventsPerSec))
	}
	r.rep.Ledger = l
	return nil
}

const steadyLoadText = "2 clients sending batches of 100 events, 20 ms apart"

// steadyLoad starts two clients sending batches of 100 events to s, 20 ms
// apart (a steady load, not a saturating one), until the returned stop is
// called.
func (r *runner) steadyLoad(ctx context.Context, s *server) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	load := r.requestsFor(r.ingestPlans()[2])
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(load.bodies) || postEvents(ctx, s.api, load.bodies[i]) != nil {
					return
				}
				if sleep(ctx, 20*time.Millisecond) != nil {
					return
				}
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

// ledgerLag measures, while two clients send batches of 100 events, how
// long after its acknowledgement each probe event is covered by the
// tenant's signed checkpoint.
func (r *runner) ledgerLag(ctx context.Context, s *server, l *Ledger) error {
	defer r.steadyLoad(ctx, s)()
	l.LagUnderLoad = steadyLoadText

	const probes = 40
	var lag recorder
	var n atomic.Int64
	r.pg.track("ledger lag probes", &n, probes)
	for i := range probes {
		id := fmt.Sprintf("lag-%d-%d", r.cfg.Seed, i)
		if err := postEvents(ctx, s.api, probeBody(id)); err != nil {
			return err
		}
		acked := time.Now()
		body, err := s.api.call(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id), nil, nil)
		if err != nil {
			return err
		}
		var e struct {
			Seq uint64 `json:"seq"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Seq == 0 {
			return fmt.Errorf("probe %s: no seq in %.200s", id, body)
		}
		for deadline := acked.Add(time.Minute); ; {
			var cp struct {
				Size uint64 `json:"size"`
			}
			b, err := s.api.call(ctx, http.MethodGet, "/v1/checkpoint", nil, nil)
			var se *statusError
			switch {
			case err == nil:
				if err := json.Unmarshal(b, &cp); err != nil {
					return err
				}
			case errors.As(err, &se) && se.status == http.StatusNotFound:
			default:
				return err
			}
			if cp.Size >= e.Seq {
				lag.add(time.Since(acked))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("probe %s (seq %d) not in a checkpoint after a minute", id, e.Seq)
			}
			if err := sleep(ctx, 5*time.Millisecond); err != nil {
				return err
			}
		}
		n.Add(1)
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	l.LagProbes = probes
	l.Lag = lag.summary()
	r.pg.note("ledger lag p50 %.0f ms p99 %.0f ms", l.Lag.P50, l.Lag.P99)
	return nil
}

// sleep waits d, or until ctx ends; it returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
