package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

func newWebhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// waitUntil polls cond for up to 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestStreamsAPI(t *testing.T) { forEachStore(t, testStreamsAPI) }

func testStreamsAPI(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	readKey := createKey(t, base, testRootKey, "acme", "read")
	secret := newWebhookSecret()
	rc := receivertest.NewWebhook(t, secret)
	ingestN(t, base, key, "a", 5)

	valid := func() map[string]any {
		return map[string]any{"name": "SIEM", "type": "webhook", "format": "native", "filters": map[string]any{"source": "console"},
			"settings": map[string]any{"url": rc.URL}, "secret": secret, "start": "beginning"}
	}
	for _, c := range []struct {
		change func(m map[string]any)
		field  string
	}{
		{func(m map[string]any) { delete(m, "name") }, "name"},
		{func(m map[string]any) { m["name"] = "a\nb" }, "name"},
		{func(m map[string]any) { m["type"] = "carrier_pigeon" }, "type"},
		{func(m map[string]any) { m["format"] = "xml" }, "format"},
		{func(m map[string]any) { m["filters"] = map[string]any{"q": "actor:"} }, "filters.q"},
		{func(m map[string]any) { m["filters"] = map[string]any{"status": "maybe"} }, "filters.status"},
		{func(m map[string]any) { m["filters"] = map[string]any{"limit": "5"} }, "filters.limit"},
		{func(m map[string]any) { m["filters"] = map[string]any{"team": 5} }, "filters.team"},
		{func(m map[string]any) { m["settings"] = map[string]any{} }, "settings.url"},
		{func(m map[string]any) { m["settings"] = map[string]any{"url": rc.URL, "port": 1} }, "settings.port"},
		{func(m map[string]any) { m["secret"] = "hunter2" }, "secret"},
		{func(m map[string]any) { m["start"] = "yesterday" }, "start"},
		{func(m map[string]any) { m["colour"] = "red" }, "colour"},
	} {
		m := valid()
		c.change(m)
		r := call(t, "POST", base+"/v1/streams", key, m)
		if code, field := r.errorOf(t); r.status != 400 || code != "invalid" || field != c.field {
			t.Errorf("POST /v1/streams %v: %d %s; want 400 invalid naming %s", m, r.status, r.body, c.field)
		}
	}
	if r := call(t, "POST", base+"/v1/streams", readKey, valid()); r.status != 403 {
		t.Errorf("POST /v1/streams with a read key: %d; want 403", r.status)
	}
	if r := call(t, "GET", base+"/v1/streams", key, nil); r.status != 200 || !strings.Contains(string(r.body), `"streams":[]`) {
		t.Fatalf("GET /v1/streams after refused creations: %d %s; want none", r.status, r.body)
	}

	r := call(t, "POST", base+"/v1/streams", key, valid())
	if r.status != 201 {
		t.Fatalf("POST /v1/streams: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), strings.TrimPrefix(secret, "whsec_")) || !strings.Contains(string(r.body), `"secret_set":true`) {
		t.Errorf("created stream %s: shows its secret, or not that it has one", r.body)
	}
	st := r.json(t)
	id := st["id"].(string)
	waitUntil(t, "5 records", func() bool { return len(rc.Records()) >= 5 })
	recs := rc.Records()
	for i, rec := range recs {
		if rec.Tenant != "acme" || rec.Seq != int64(i+1) || rec.StreamID != id || rec.StreamSeq != int64(i+1) || rec.PrevStreamSeq != int64(i) {
			t.Errorf("record %d = %+v; want seq %d, stream_seq %d", i, rec, i+1, i+1)
		}
	}

	get := func() map[string]any {
		t.Helper()
		r := call(t, "GET", base+"/v1/streams/"+id, key, nil)
		if r.status != 200 {
			t.Fatalf("GET stream: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	waitUntil(t, "the stream caught up", func() bool { g := get(); return g["stream_seq"].(float64) == 5 && g["lag_events"].(float64) == 0 })
	g := get()
	if g["state"] != "active" || g["last_success_at"] == nil || g["type"] != "webhook" {
		t.Errorf("GET stream = %v; want active with last_success_at", g)
	}

	if r := call(t, "PATCH", base+"/v1/streams/"+id, key, map[string]any{"name": "Splunk via webhook"}); r.status != 200 || r.json(t)["name"] != "Splunk via webhook" {
		t.Errorf("PATCH name: %d %s", r.status, r.body)
	}
	if r := call(t, "PATCH", base+"/v1/streams/"+id, key, map[string]any{"settings": map[string]any{"url": "gopher://x"}}); r.status != 400 {
		t.Errorf("PATCH bad settings: %d %s; want 400", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/streams/"+id+"/pause", key, nil); r.status != 200 || r.json(t)["state"] != "paused" {
		t.Errorf("pause: %d %s", r.status, r.body)
	}
	ingestN(t, base, key, "b", 3)
	if r := call(t, "POST", base+"/v1/streams/"+id+"/test", key, nil); r.status != 200 || r.json(t)["delivered"] != true {
		t.Errorf("test: %d %s", r.status, r.body)
	}
	waitUntil(t, "the test record", func() bool {
		return slices.ContainsFunc(rc.Records(), func(r receivertest.Record) bool { return r.Test })
	})
	if r := call(t, "POST", base+"/v1/streams/"+id+"/resume", key, nil); r.status != 200 || r.json(t)["state"] != "active" {
		t.Errorf("resume: %d %s", r.status, r.body)
	}
	waitUntil(t, "the events ingested while paused", func() bool { return get()["stream_seq"].(float64) == 8 })

	// A replay delivers again, with new stream seqs after the last.
	if r := call(t, "POST", base+"/v1/streams/"+id+"/replay", key, map[string]any{"from_seq": 2, "from_time": time.Now()}); r.status != 400 {
		t.Errorf("replay with both: %d; want 400", r.status)
	}
	if r := call(t, "POST", base+"/v1/streams/"+id+"/replay", key, map[string]any{"from_seq": 2}); r.status != 200 {
		t.Errorf("replay: %d %s", r.status, r.body)
	}
	waitUntil(t, "the replay", func() bool { return get()["stream_seq"].(float64) == 15 })
	var delivered []receivertest.Record
	for _, rec := range rc.Records() {
		if !rec.Test {
			delivered = append(delivered, rec)
		}
	}
	if len(delivered) != 15 {
		t.Fatalf("receiver has %d records; want 8 and 7 replayed", len(delivered))
	}
	// The stream's own records (source auditkeep, seqs 6 to 8) are not in
	// its filter; the events ingested while paused are 9 to 11.
	wantSeqs := []int64{1, 2, 3, 4, 5, 9, 10, 11, 2, 3, 4, 5, 9, 10, 11}
	for i, rec := range delivered {
		if rec.Seq != wantSeqs[i] || rec.StreamSeq != int64(i+1) || rec.PrevStreamSeq != int64(i) {
			t.Errorf("record %d: seq %d stream_seq %d prev %d; want %d, %d, %d", i, rec.Seq, rec.StreamSeq, rec.PrevStreamSeq, wantSeqs[i], i+1, i)
		}
	}

	m := call(t, "GET", base+"/metrics", "", nil)
	if !strings.Contains(string(m.body), `auditkeep_stream_lag_events{stream="`+id+`",tenant="acme"}`) ||
		!strings.Contains(string(m.body), `auditkeep_stream_state{state="active",stream="`+id+`",tenant="acme"} 1`) {
		t.Errorf("/metrics lacks the stream's lag or state")
	}

	if r := call(t, "DELETE", base+"/v1/streams/"+id, key, nil); r.status != 204 {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/v1/streams/"+id, key, nil); r.status != 404 {
		t.Errorf("GET deleted stream: %d; want 404", r.status)
	}

	// Every change is in the tenant's own log, by the key that made it.
	r = call(t, "GET", base+"/v1/events?source=auditkeep&action=stream.*&order=asc&sort=seq", key, nil)
	var page struct {
		Events []struct {
			Action string `json:"action"`
			Status string `json:"status"`
			Actor  struct {
				ID string `json:"id"`
			} `json:"actor"`
			Target struct {
				ID string `json:"id"`
			} `json:"target"`
			Metadata map[string]any `json:"metadata"`
		} `json:"events"`
	}
	json.Unmarshal(r.body, &page)
	var actions []string
	for _, e := range page.Events {
		actions = append(actions, e.Action)
		if e.Target.ID != id || !strings.HasPrefix(e.Actor.ID, "key_") || e.Status != "success" {
			t.Errorf("record %s: target %s actor %s status %s; want %s, the admin key, success", e.Action, e.Target.ID, e.Actor.ID, e.Status, id)
		}
		if strings.Contains(fmt.Sprint(e.Metadata), strings.TrimPrefix(secret, "whsec_")) {
			t.Errorf("record %s shows the secret", e.Action)
		}
	}
	want := []string{"stream.create", "stream.update", "stream.pause", "stream.test", "stream.resume", "stream.replay", "stream.delete"}
	if !slices.Equal(actions, want) {
		t.Errorf("records of stream changes = %v; want %v", actions, want)
	}
}
