package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
)

// TestRecorderBufferFullWhileServerDown fills a tiny buffer while the server
// is unreachable: Record must return ErrBufferFull at once and count each
// drop, and the events it accepted must all be stored once the server is
// back.
func TestRecorderBufferFullWhileServerDown(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c, key := newTenant(t, srv.url, "acme")
	proxy := newSwitchProxy(t)
	pc := client.New(proxy.URL, key)

	var onDrop atomic.Int64
	rec := newRecorder(pc, client.RecorderOptions{
		BufferSize: 3, BatchSize: 2, FlushInterval: time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		OnDrop: func(es []auditkeep.Event, err error) {
			if errors.Is(err, client.ErrBufferFull) {
				onDrop.Add(int64(len(es)))
			}
		},
	})
	var accepted []string
	full := 0
	for i := range 100 {
		e := ev("token.create")
		e.ID = fmt.Sprintf("evt_%03d", i)
		start := time.Now()
		switch err := rec.Record(context.Background(), e); {
		case err == nil:
			accepted = append(accepted, e.ID)
		case errors.Is(err, client.ErrBufferFull):
			full++
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("Record blocked %v with a full buffer; want an immediate ErrBufferFull", d)
			}
		default:
			t.Fatalf("Record #%d = %v; want nil or ErrBufferFull", i, err)
		}
	}
	// The sender holds at most one batch (2) while retrying, the buffer 3.
	if len(accepted) < 3 || len(accepted) > 5 || full != 100-len(accepted) {
		t.Errorf("accepted %d, ErrBufferFull %d; want 3 to 5 accepted, the rest refused", len(accepted), full)
	}
	if s := rec.Stats(); s.Dropped != uint64(full) || onDrop.Load() != int64(full) || s.Pending != uint64(len(accepted)) {
		t.Errorf("Stats() = %+v, OnDrop saw %d; want %d dropped and %d pending", s, onDrop.Load(), full, len(accepted))
	}
	waitFor(t, "a retry", func() bool { return rec.Stats().Retries > 0 })

	proxy.point(t, srv.url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("Close once the server is back: %v", err)
	}
	seen := exportIDs(t, c)
	for _, id := range accepted {
		if seen[id] != 1 {
			t.Errorf("accepted %s stored %d times; want 1", id, seen[id])
		}
	}
	if len(seen) != len(accepted) {
		t.Errorf("stored %d events; want the %d accepted", len(seen), len(accepted))
	}
}

// TestRecorderSurvivesServerRestart records a steady stream while the
// server is killed with SIGKILL and restarted on the same data; in the end
// every recorded event is stored exactly once.
func TestRecorderSurvivesServerRestart(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data)
	_, key := newTenant(t, srv.url, "acme")
	proxy := newSwitchProxy(t)
	proxy.point(t, srv.url)
	rec := newRecorder(client.New(proxy.URL, key), client.RecorderOptions{
		BatchSize: 50, FlushInterval: 5 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	})

	// Record assigns the ids; the export below must hold 3000 distinct
	// ones, each once, and nothing else.
	record := func(n int) {
		for range n {
			if err := rec.Record(context.Background(), ev("secret.update")); err != nil {
				t.Errorf("Record: %v", err)
				return
			}
		}
	}
	record(500)
	waitFor(t, "the first events to be sent", func() bool { return rec.Stats().Sent > 0 })

	srv.kill()
	proxy.point(t, "")
	record(500) // while the server is down
	waitFor(t, "a failed attempt", func() bool { return rec.Stats().Retries > 0 })
	srv2 := startServer(t, data)
	proxy.point(t, srv2.url)
	record(500)

	// Kill again with requests in flight: the answer to a committed batch
	// may be lost, and its retry must not store it twice.
	done := make(chan struct{})
	go func() { defer close(done); record(1500) }()
	waitFor(t, "more events to be sent", func() bool { return rec.Stats().Sent > 1000 })
	srv2.kill()
	srv3 := startServer(t, data)
	proxy.point(t, srv3.url)
	<-done

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s := rec.Stats()
	if s.Recorded != 3000 || s.Sent != 3000 || s.Dropped+s.Rejected+s.Failed != 0 {
		t.Errorf("Stats() = %+v; want 3000 recorded and sent, none lost", s)
	}
	seen := exportIDs(t, client.New(srv3.url, key))
	if len(seen) != 3000 {
		t.Errorf("stored %d distinct events; want 3000", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times; want once", id, n)
		}
	}
	t.Logf("stats: %+v", s)
}

// TestRecorderBlockingAgainstServer checks the fail-closed mode: Record
// returns the error while the server is down and nil once the event is
// durable.
func TestRecorderBlockingAgainstServer(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c, key := newTenant(t, srv.url, "acme")
	proxy := newSwitchProxy(t)
	rec := newRecorder(client.New(proxy.URL, key), client.RecorderOptions{
		Blocking: true, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	})
	ctx := context.Background()

	down := ev("token.create")
	down.ID = "evt_down"
	if err := rec.Record(ctx, down); err == nil {
		t.Fatal("Record with the server down = nil; want an error")
	}

	proxy.point(t, srv.url)
	up := ev("token.create")
	up.ID = "evt_up"
	if err := rec.Record(ctx, up); err != nil {
		t.Fatalf("Record with the server up = %v; want nil", err)
	}
	if got, err := c.GetEvent(ctx, "evt_up"); err != nil || got.Action != "token.create" {
		t.Errorf("GetEvent(evt_up) right after Record = %v, %v; want the event", got, err)
	}
	if _, err := c.GetEvent(ctx, "evt_down"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("GetEvent(evt_down) = %v; want not_found", err)
	}

	bad := ev("token.create")
	bad.Context.IP = "999.1.1.1"
	err := rec.Record(ctx, bad)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Code != auditkeep.EINVALID || ae.Field != "events[0].context.ip" {
		t.Errorf("Record(invalid ip) = %v; want EINVALID naming events[0].context.ip", err)
	}
	if s := rec.Stats(); s.Sent != 1 || s.Failed != 1 || s.Rejected != 1 {
		t.Errorf("Stats() = %+v; want 1 sent, 1 failed, 1 rejected", s)
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
