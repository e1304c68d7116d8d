package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

// TestStreamChaosWebhook delivers a webhook stream while events are
// ingested, kill -9 the server and restarts the receiver mid-stream, three
// times; at the end the receiver's set of (tenant, seq) is the tenant's
// log, repeats aside, and its stream_seqs run 1, 2, 3, … each naming one
// seq. On PostgreSQL two nodes share the database and are killed in turn,
// so that the other takes the stream over.
func TestStreamChaosWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test builds and runs the binary")
	}
	forEachStore(t, testStreamChaosWebhook)
}

// crashNodes returns how many server processes a crash test runs on cfg's
// store (two sharing a PostgreSQL database, else one) and the arguments of
// each (node i from 0).
func crashNodes(cfg Config) (int, func(i int) []string) {
	args := []string{"--data", cfg.DataDir, "--retention=false"}
	if cfg.DatabaseURL == "" {
		return 1, func(int) []string { return args }
	}
	args = append(args, "--database-url", cfg.DatabaseURL)
	return 2, func(i int) []string {
		// Each node its own data directory (its ledger key file stays shared by the database).
		return append([]string{"--data", fmt.Sprintf("%s/node%d", cfg.DataDir, i)}, args[2:]...)
	}
}

func testStreamChaosWebhook(t *testing.T, cfg Config) {
	n, nodeArgs := crashNodes(cfg)
	env := []string{"AUDITKEEP_STREAM_KEY=stream-key-for-tests-0123456789"}
	var mu sync.Mutex
	nodes := make([]*child, n)
	for i := range nodes {
		nodes[i] = startChild(t, env, nodeArgs(i)...)
	}
	key := setupTenant(t, nodes[0].url, "acme")
	secret := newWebhookSecret()
	rc := receivertest.NewWebhook(t, secret)
	r := call(t, "POST", nodes[0].url+"/v1/streams", key, map[string]any{"name": "chaos", "type": "webhook",
		"settings": map[string]any{"url": rc.URL}, "secret": secret, "start": "beginning"})
	if r.status != 201 {
		t.Fatalf("create stream: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)

	stop := workers(4, func(w, i int) bool {
		mu.Lock()
		u := nodes[(w+i)%n].url
		mu.Unlock()
		var batch []any
		for j := range 1 + i%10 {
			batch = append(batch, event(fmt.Sprintf("w%d-%d-%d", w, i, j), "secret.update", "usr_1"))
		}
		res, err := http.DefaultClient.Do(mustReq("POST", u+"/v1/events", key, map[string]any{"events": batch}))
		if err != nil {
			time.Sleep(20 * time.Millisecond) // that node is down: another is tried next
			return true
		}
		res.Body.Close()
		time.Sleep(5 * time.Millisecond)
		return true
	})
	for cycle := range 3 {
		time.Sleep(700 * time.Millisecond)
		i := cycle % n
		mu.Lock()
		old := nodes[i]
		mu.Unlock()
		old.kill9(t)
		if n > 1 {
			// The other node goes on delivering, taking the stream over
			// if the killed one held it.
			killed, before := time.Now(), len(rc.Records())
			waitUntil(t, "delivery after the kill -9", func() bool { return len(rc.Records()) > before })
			t.Logf("cycle %d: delivery went on %v after node %d was killed", cycle, time.Since(killed).Round(10*time.Millisecond), i)
		} else {
			time.Sleep(200 * time.Millisecond)
		}
		rc.Stop() // the receiver goes down with batches in flight
		time.Sleep(300 * time.Millisecond)
		if err := rc.Start(); err != nil {
			t.Fatal(err)
		}
		c := startChild(t, env, nodeArgs(i)...)
		mu.Lock()
		nodes[i] = c
		mu.Unlock()
	}
	time.Sleep(500 * time.Millisecond)
	stop()

	_, head := storedLog(t, nodes[0].url, key)
	waitUntil(t, fmt.Sprintf("the stream's cursor at the log's head %d", head), func() bool {
		r := call(t, "GET", nodes[0].url+"/v1/streams/"+id, key, nil)
		return r.status == 200 && int64(r.json(t)["cursor"].(float64)) == head
	})
	r = call(t, "GET", nodes[0].url+"/v1/streams/"+id, key, nil)
	last := int64(r.json(t)["stream_seq"].(float64))

	recs := rc.Records()
	seqs := map[int64]int{}
	bySS := map[int64]int64{}
	for _, rec := range recs {
		if rec.Tenant != "acme" || rec.StreamID != id {
			t.Fatalf("record %+v: want tenant acme, stream %s", rec, id)
		}
		seqs[rec.Seq]++
		if s, ok := bySS[rec.StreamSeq]; ok && s != rec.Seq {
			t.Errorf("stream_seq %d names seq %d and seq %d", rec.StreamSeq, s, rec.Seq)
		}
		bySS[rec.StreamSeq] = rec.Seq
		if rec.PrevStreamSeq != rec.StreamSeq-1 {
			t.Errorf("record seq %d: stream_seq %d, prev_stream_seq %d", rec.Seq, rec.StreamSeq, rec.PrevStreamSeq)
		}
	}
	for s := int64(1); s <= head; s++ {
		if seqs[s] == 0 {
			t.Errorf("seq %d of the log never reached the receiver", s)
		}
	}
	if int64(len(seqs)) != head {
		t.Errorf("receiver holds %d distinct seqs; the log has %d", len(seqs), head)
	}
	for ss := int64(1); ss <= last; ss++ {
		if _, ok := bySS[ss]; !ok {
			t.Errorf("stream_seq %d never reached the receiver", ss)
		}
	}
	if int64(len(bySS)) != last || last != head {
		t.Errorf("receiver holds %d stream_seqs; the stream is at %d and the log at %d (no filters: one each)", len(bySS), last, head)
	}
	t.Logf("%d nodes, 3 kill -9 and receiver restarts: %d events, %d records received (%d repeats), %d requests", n, head, len(recs), len(recs)-len(seqs), rc.Requests())
}
