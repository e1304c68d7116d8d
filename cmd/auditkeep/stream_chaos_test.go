package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

// delivered is one record as a receiver got it.
type delivered struct {
	Tenant                  string
	Seq, StreamSeq, PrevSeq int64
}

// chaosReceiver is a real receiver a chaos test streams to and restarts.
type chaosReceiver interface {
	// stream is the POST /v1/streams body's type, format, settings and
	// secret.
	stream() map[string]any
	restart(t *testing.T)
	received(t *testing.T) []delivered
}

// TestStreamChaosSyslog, TestStreamChaosHEC and TestStreamChaosNATS: while
// events are ingested, the server is killed with SIGKILL and the receiver
// restarted, over and over; at the end the receiver holds every event of
// the tenant's log that the stream matched, as (tenant, seq), each with
// the stream_seq it had at every delivery, stream_seqs 1…N with no gap
// and each prev_stream_seq the one before; a record is delivered twice
// only when a crash or a restart came between its delivery and its
// cursor's advance, so duplicates number at most one batch per crash.
// AUDITKEEP_CRASH_CYCLES sets the number of cycles (default 3).
func TestStreamChaosSyslog(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test builds and runs the binary")
	}
	forEachStore(t, func(t *testing.T, cfg Config) {
		testStreamChaos(t, cfg, &syslogChaos{r: receivertest.StartRsyslog(t, receivertest.RsyslogOptions{TLS: true})})
	})
}

func TestStreamChaosHEC(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test builds and runs the binary")
	}
	forEachStore(t, func(t *testing.T, cfg Config) { testStreamChaos(t, cfg, &hecChaos{h: receivertest.StartHEC(t)}) })
}

func TestStreamChaosNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test builds and runs the binary")
	}
	forEachStore(t, func(t *testing.T, cfg Config) {
		n := receivertest.StartNATS(t, "chaos-token")
		js := receivertest.JetStream(t, n.URL, nats.Token("chaos-token"), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		receivertest.CreateStream(t, js, "AUDIT", "audit.acme")
		testStreamChaos(t, cfg, &natsChaos{n: n})
	})
}

type syslogChaos struct{ r *receivertest.Rsyslog }

func (s *syslogChaos) stream() map[string]any {
	return map[string]any{"type": "syslog", "format": "cef",
		"settings": map[string]any{"address": s.r.Addr, "tls": true, "ca": s.r.Certs.CA}}
}

func (s *syslogChaos) restart(t *testing.T) { s.r.Restart() }

var sdParam = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

func (s *syslogChaos) received(t *testing.T) []delivered {
	var out []delivered
	for _, m := range s.r.Messages() {
		p := map[string]string{}
		for _, kv := range sdParam.FindAllStringSubmatch(m.SD, -1) {
			p[kv[1]] = kv[2]
		}
		out = append(out, delivered{p["tenant"], atoi(p["seq"]), atoi(p["stream_seq"]), atoi(p["prev_stream_seq"])})
	}
	return out
}

type hecChaos struct{ h *receivertest.HEC }

func (h *hecChaos) stream() map[string]any {
	var settings map[string]any
	json.Unmarshal(h.h.Settings(""), &settings)
	return map[string]any{"type": "splunk_hec", "format": "native", "settings": settings, "secret": receivertest.HECToken}
}

func (h *hecChaos) restart(t *testing.T) { h.h.Restart(t) }

func (h *hecChaos) received(t *testing.T) []delivered {
	var out []delivered
	for _, ev := range h.h.Events() {
		e, _ := ev["event"].(map[string]any)
		out = append(out, delivered{fmt.Sprint(e["tenant"]), num(e["seq"]), num(e["stream_seq"]), num(e["prev_stream_seq"])})
	}
	return out
}

type natsChaos struct{ n *receivertest.NATS }

func (n *natsChaos) stream() map[string]any {
	return map[string]any{"type": "nats", "format": "ecs", "secret": "chaos-token",
		"settings": map[string]any{"url": n.n.URL, "subject": "audit.acme", "stream": "AUDIT"}}
}

func (n *natsChaos) restart(t *testing.T) { n.n.Restart() }

func (n *natsChaos) received(t *testing.T) []delivered {
	js := receivertest.JetStream(t, n.n.URL, nats.Token("chaos-token"))
	var out []delivered
	for _, m := range receivertest.StreamMessages(t, js, "AUDIT") {
		h := m.Headers()
		out = append(out, delivered{h.Get("Auditkeep-Tenant"), atoi(h.Get("Auditkeep-Seq")), atoi(h.Get("Auditkeep-Stream-Seq")), atoi(h.Get("Auditkeep-Prev-Stream-Seq"))})
	}
	return out
}

func atoi(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func num(v any) int64 {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return i
	case float64:
		return int64(n)
	}
	return 0
}

// streamServerEnv is what a child server needs to deliver streams.
var streamServerEnv = []string{"AUDITKEEP_STREAM_KEY=" + strings.Repeat("5a", 32)}

func testStreamChaos(t *testing.T, cfg Config, rcv chaosReceiver) {
	storeArgs := childStoreArgs(cfg)
	cycles := crashCycles(t)
	c := startChild(t, streamServerEnv, storeArgs...)
	key := setupTenant(t, c.url, "acme")
	body := rcv.stream()
	body["name"] = "siem"
	body["filters"] = map[string]any{"action": []string{"secret.update"}}
	r := call(t, "POST", c.url+"/v1/streams", key, body)
	if r.status != 201 {
		t.Fatalf("create stream: %d %s", r.status, r.body)
	}
	streamID := r.json(t)["id"].(string)

	// Events of another action are not the stream's.
	call(t, "POST", c.url+"/v1/events", key, event("", "secret.read", "usr_1"))
	var acked sync.Map
	ingest := func(url string, cycle int, stop chan struct{}, wg *sync.WaitGroup) {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var batch []any
					for j := range 1 + i%3*30 {
						action := "secret.update"
						if j%7 == 3 {
							action = "secret.read"
						}
						batch = append(batch, event(fmt.Sprintf("c%d-w%d-%d-%d", cycle, w, i, j), action, "usr_1"))
					}
					res, err := http.DefaultClient.Do(mustReq("POST", url+"/v1/events", key, map[string]any{"events": batch}))
					if err != nil {
						return // the server died
					}
					res.Body.Close()
					if res.StatusCode == 200 {
						acked.Store(fmt.Sprintf("c%d-w%d-%d", cycle, w, i), true)
					}
					time.Sleep(2 * time.Millisecond)
				}
			}()
		}
	}
	for cycle := range cycles {
		if cycle > 0 {
			c = startChild(t, streamServerEnv, storeArgs...)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		ingest(c.url, cycle, stop, &wg)
		time.Sleep(400 * time.Millisecond)
		rcv.restart(t) // mid-stream, while the server delivers
		time.Sleep(400 * time.Millisecond)
		c.kill9(t)
		close(stop)
		wg.Wait()
	}
	c = startChild(t, streamServerEnv, storeArgs...)

	// The emitted set: every stored event the stream matches.
	ex := call(t, "GET", c.url+"/v1/export?format=ndjson&order=asc&action=secret.update", key, nil)
	if ex.status != 200 {
		t.Fatalf("export: %d %s", ex.status, ex.body)
	}
	emitted := map[int64]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(ex.body)), "\n") {
		var e struct{ Seq int64 }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		emitted[e.Seq] = true
	}
	if len(emitted) < 100 {
		t.Fatalf("only %d events emitted: the test proved little", len(emitted))
	}

	// Wait (at most 2 minutes) for the receiver to have them all.
	var got []delivered
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got = rcv.received(t)
		have := map[int64]bool{}
		for _, d := range got {
			have[d.Seq] = true
		}
		missing := 0
		for s := range emitted {
			if !have[s] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			st := call(t, "GET", c.url+"/v1/streams/"+streamID, key, nil)
			t.Fatalf("the receiver misses %d of %d events two minutes after the last restart; stream: %s", missing, len(emitted), st.body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The set is the emitted set; each seq has one stream_seq; stream_seqs
	// are 1…N with each prev the one before.
	streamSeqOf := map[int64]int64{}
	seqOf := map[int64]int64{}
	dups := 0
	for _, d := range got {
		if d.Tenant != "acme" {
			t.Fatalf("record of tenant %q", d.Tenant)
		}
		if !emitted[d.Seq] {
			t.Errorf("seq %d delivered but not emitted (another action, or unknown)", d.Seq)
		}
		if d.PrevSeq != d.StreamSeq-1 {
			t.Errorf("seq %d: stream_seq %d after prev_stream_seq %d; want consecutive", d.Seq, d.StreamSeq, d.PrevSeq)
		}
		if ss, ok := streamSeqOf[d.Seq]; ok {
			dups++
			if ss != d.StreamSeq {
				t.Errorf("seq %d delivered as stream_seq %d and %d", d.Seq, ss, d.StreamSeq)
			}
			continue
		}
		streamSeqOf[d.Seq] = d.StreamSeq
		if other, ok := seqOf[d.StreamSeq]; ok && other != d.Seq {
			t.Errorf("stream_seq %d is seq %d and %d", d.StreamSeq, other, d.Seq)
		}
		seqOf[d.StreamSeq] = d.Seq
	}
	streamSeqs := make([]int64, 0, len(seqOf))
	for ss := range seqOf {
		streamSeqs = append(streamSeqs, ss)
	}
	sort.Slice(streamSeqs, func(i, j int) bool { return streamSeqs[i] < streamSeqs[j] })
	for i, ss := range streamSeqs {
		if ss != int64(i+1) {
			t.Fatalf("stream_seqs are not 1…%d: %d at %d", len(streamSeqs), ss, i)
		}
	}
	// Each crash and each restart may cost at most a batch (500) again.
	if limit := 2 * cycles * 500; dups > limit {
		t.Errorf("%d duplicates after %d crashes and %d receiver restarts; want at most %d", dups, cycles, cycles, limit)
	}
	n := 0
	acked.Range(func(any, any) bool { n++; return true })
	t.Logf("%d cycles: %d batches acknowledged, %d events emitted, %d records received, %d duplicates", cycles, n, len(emitted), len(got), dups)
}
