package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

const rootKey = "root-key-for-httpapi-tests"

type testAPI struct {
	base  string
	api   *httpapi.Server
	store auditkeep.TenantStore
}

// newTestAPI serves the API on a loopback port over the embedded store in
// a temporary directory.
func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	st := openStore(t)
	c := ingest.NewCommitter(st)
	s := httpapi.New(st, ingest.NewService(c), httpapi.Config{RootKeyHash: httpapi.HashKey(rootKey), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c.OnCommit = s.ObserveCommit
	c.Open()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
		c.Close()
	})
	return &testAPI{base: "http://" + ln.Addr().String(), api: s, store: st}
}

// openStore opens the embedded store in a temporary directory, closed when
// the test ends.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (a *testAPI) do(t *testing.T, method, path, key string, body any, header ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, b}
}

// tenant creates a tenant and a key with scopes. The key goes straight to
// the store, so that the tenant's log holds only what the test sends (the
// API records its own key.create: keys_test.go).
func (a *testAPI) tenant(t *testing.T, name string, scopes ...string) string {
	t.Helper()
	if r := a.do(t, "POST", "/v1/tenants", rootKey, map[string]any{"name": name}); r.status != 201 && r.status != 409 {
		t.Fatalf("create tenant: %d %s", r.status, r.body)
	}
	key := httpapi.NewKey()
	k := &auditkeep.APIKey{ID: "key_" + key[3:15], Tenant: name, Name: "test", Scopes: scopes, Hash: httpapi.HashKey(key), CreatedAt: time.Now().UTC()}
	if err := a.store.CreateKey(context.Background(), k); err != nil {
		t.Fatalf("create key: %v", err)
	}
	return key
}

func ev(id, action, target string) map[string]any {
	return map[string]any{"id": id, "action": action, "actor": map[string]any{"id": "usr_1", "name": "Alice"},
		"target": map[string]any{"type": "environment", "id": target, "name": target + "-name"},
		"scope":  []any{map[string]any{"type": "project", "id": "prj_1"}, map[string]any{"type": "environment", "id": target}}}
}

func (a *testAPI) ingest(t *testing.T, key string, events ...map[string]any) {
	t.Helper()
	list := make([]any, len(events))
	for i, e := range events {
		list[i] = e
	}
	if r := a.do(t, "POST", "/v1/events", key, map[string]any{"events": list}); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
}

// sseEvent is one message of a stream.
type sseEvent struct {
	id, event, data string
}

// sseStream reads a stream in the background.
type sseStream struct {
	res    *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

// openStreamPaused opens GET path without reading it; it fails the test
// unless the answer is 200.
func (a *testAPI) openStreamPaused(t *testing.T, path, key string, header ...string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", a.base+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		t.Fatalf("GET %s = %d %s", path, res.StatusCode, b)
	}
	s := &sseStream{res: res, events: make(chan sseEvent, 1<<16), cancel: cancel}
	t.Cleanup(s.close)
	return s
}

// openStream opens a stream and reads it in the background.
func (a *testAPI) openStream(t *testing.T, path, key string, header ...string) *sseStream {
	t.Helper()
	s := a.openStreamPaused(t, path, key, header...)
	go s.read()
	return s
}

func (s *sseStream) read() {
	defer close(s.events)
	br := bufio.NewReader(s.res.Body)
	var cur sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if cur.event != "" || cur.data != "" {
				s.events <- cur
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
}

func (s *sseStream) close() {
	s.cancel()
	s.res.Body.Close()
}

// next returns the next message; it fails the test if the stream ends or
// nothing arrives for a long while (a hang guard, not a timing assertion).
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			t.Fatal("stream ended")
		}
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no message within 30 s")
	}
	return sseEvent{}
}

// ids reads n events and returns "id=eventID" pairs.
func (s *sseStream) ids(t *testing.T, n int) string {
	t.Helper()
	var out []string
	for range n {
		m := s.next(t)
		if m.event != "event" {
			t.Fatalf("message %+v; want an event", m)
		}
		var e struct {
			ID  string `json:"id"`
			Seq int64  `json:"seq"`
		}
		if err := json.Unmarshal([]byte(m.data), &e); err != nil {
			t.Fatalf("data %q: %v", m.data, err)
		}
		if m.id != fmt.Sprint(e.Seq) {
			t.Errorf("id: %s for an event of seq %d; want the seq", m.id, e.Seq)
		}
		out = append(out, m.id+"="+e.ID)
	}
	return strings.Join(out, ",")
}

func TestStreamResume(t *testing.T) {
	a := newTestAPI(t)
	key := a.tenant(t, "acme", "ingest", "read")
	a.ingest(t, key, ev("e1", "env.create", "env_7"), ev("e2", "env.update", "env_7"), ev("e3", "env.update", "env_7"))

	s := a.openStream(t, "/v1/stream?since=0", key)
	if got := s.ids(t, 3); got != "1=e1,2=e2,3=e3" {
		t.Errorf("since=0 gave %s; want 1=e1,2=e2,3=e3", got)
	}
	s.close()

	a.ingest(t, key, ev("e4", "env.update", "env_7"), ev("e5", "env.delete", "env_7"))
	s = a.openStream(t, "/v1/stream", key, "Last-Event-ID", "3")
	if got := s.ids(t, 2); got != "4=e4,5=e5" {
		t.Errorf("Last-Event-ID: 3 gave %s; want 4=e4,5=e5", got)
	}
	a.ingest(t, key, ev("e6", "env.create", "env_8"))
	if got := s.ids(t, 1); got != "6=e6" {
		t.Errorf("live event = %s; want 6=e6", got)
	}

	// Without a start position the stream begins at the head: only new events.
	s2 := a.openStream(t, "/v1/stream", key)
	a.ingest(t, key, ev("e7", "env.create", "env_9"))
	if got := s2.ids(t, 1); got != "7=e7" {
		t.Errorf("stream from head = %s; want 7=e7", got)
	}
	// The query parameter works as the header does.
	s3 := a.openStream(t, "/v1/stream?last_event_id=5", key)
	if got := s3.ids(t, 2); got != "6=e6,7=e7" {
		t.Errorf("last_event_id=5 gave %s; want 6=e6,7=e7", got)
	}
}

func TestStreamFilters(t *testing.T) {
	a := newTestAPI(t)
	key := a.tenant(t, "acme", "ingest", "read")
	other := a.tenant(t, "globex", "ingest", "read")
	s := a.openStream(t, "/v1/stream?since=0&target_id=env_7&q=action:env.update", key)
	all := a.openStream(t, "/v1/stream?since=0", key)
	a.ingest(t, other, ev("x1", "env.update", "env_7"))
	a.ingest(t, key, ev("e1", "env.create", "env_7"), ev("e2", "env.update", "env_8"), ev("e3", "env.update", "env_7"))
	a.ingest(t, key, ev("e4", "env.update", "env_7"))
	if got := s.ids(t, 2); got != "3=e3,4=e4" {
		t.Errorf("filtered stream = %s; want 3=e3,4=e4", got)
	}
	if got := all.ids(t, 4); got != "1=e1,2=e2,3=e3,4=e4" {
		t.Errorf("unfiltered stream = %s; want only acme's four events", got)
	}
}

func TestStreamBadRequests(t *testing.T) {
	a := newTestAPI(t)
	key := a.tenant(t, "acme", "read")
	tests := []struct {
		path, header string
		status       int
		field        string
	}{
		{"/v1/stream?cursor=abc", "", 400, "cursor"},
		{"/v1/stream?limit=5", "", 400, "limit"},
		{"/v1/stream?order=desc", "", 400, "order"},
		{"/v1/stream?since=-1", "", 400, "since"},
		{"/v1/stream", "x", 400, "Last-Event-ID"},
		{"/v1/stream?type=mutate", "", 400, "type"},
		{"/v1/stream?q=actr:x", "", 400, "q"},
	}
	for _, tt := range tests {
		var h []string
		if tt.header != "" {
			h = []string{"Last-Event-ID", tt.header}
		}
		r := a.do(t, "GET", tt.path, key, nil, h...)
		var e struct{ Error struct{ Field string } }
		json.Unmarshal(r.body, &e)
		if r.status != tt.status || e.Error.Field != tt.field {
			t.Errorf("GET %s (Last-Event-ID %q) = %d field %q; want %d field %q", tt.path, tt.header, r.status, e.Error.Field, tt.status, tt.field)
		}
	}
	if r := a.do(t, "GET", "/v1/stream", "", nil); r.status != 401 {
		t.Errorf("stream without credentials = %d; want 401", r.status)
	}
	ingestOnly := a.tenant(t, "acme", "ingest")
	if r := a.do(t, "GET", "/v1/stream", ingestOnly, nil); r.status != 403 {
		t.Errorf("stream with an ingest key = %d; want 403", r.status)
	}
}

// TestStreamSlowConsumer: a client that does not keep up is cut off, never
// skipped, and resumes from its Last-Event-ID without a gap.
func TestStreamSlowConsumer(t *testing.T) {
	a := newTestAPI(t)
	a.api.SetStreamLimits(httpapi.StreamLimits{MaxBehind: 300, PageSize: 50, WriteTimeout: 5 * time.Second})
	key := a.tenant(t, "acme", "ingest", "read")
	pad := strings.Repeat("x", 2000)
	s := a.openStreamPaused(t, "/v1/stream?since=0", key)
	// The client reads nothing while 30 MB of events pile up: far more than
	// the connection's buffers hold, so the server falls behind the head.
	const total = 15000
	for n := 0; n < total; n += 250 {
		var batch []map[string]any
		for i := range 250 {
			e := ev(fmt.Sprintf("e%06d", n+i), "env.update", "env_7")
			e["description"] = pad
			batch = append(batch, e)
		}
		a.ingest(t, key, batch...)
	}
	go s.read()
	// Now read: consecutive seqs from 1, then the end of the stream (with an
	// error event when the server could still write one) before the head.
	var last int64
	sawError := false
	for m := range s.events {
		switch m.event {
		case "event":
			var seq int64
			fmt.Sscan(m.id, &seq)
			if seq != last+1 {
				t.Fatalf("after seq %d came %d: a gap", last, seq)
			}
			last = seq
			if last == total {
				t.Fatalf("the server sent all %d events to a client that fell behind; want it cut off", total)
			}
		case "error":
			sawError = true
			if !strings.Contains(m.data, "Last-Event-ID") {
				t.Errorf("error event %q does not say how to resume", m.data)
			}
		}
	}
	t.Logf("slow client: got %d of %d events before the cut; error event: %v", last, total, sawError)
	// Resume: the next event is last+1.
	s2 := a.openStream(t, "/v1/stream", key, "Last-Event-ID", fmt.Sprint(last))
	if got, want := s2.ids(t, 3), fmt.Sprintf("%d=e%06d,%d=e%06d,%d=e%06d", last+1, last, last+2, last+1, last+3, last+2); got != want {
		t.Errorf("resumed with %s; want %s", got, want)
	}
}

// TestStreamRechecksItsKey: a key revoked in storage without this node
// being told (as through another node) ends its open stream with `event:
// end` when the stream re-reads the key, past the key cache.
func TestStreamRechecksItsKey(t *testing.T) {
	a := newTestAPI(t)
	a.api.SetStreamLimits(httpapi.StreamLimits{Recheck: 50 * time.Millisecond})
	key := a.tenant(t, "acme", "ingest", "read")
	s := a.openStream(t, "/v1/stream?since=0", key)
	a.ingest(t, key, ev("e1", "env.create", "env_7"))
	if got := s.ids(t, 1); got != "1=e1" {
		t.Fatalf("stream = %s; want 1=e1", got)
	}
	k, err := a.store.KeyByHash(context.Background(), httpapi.HashKey(key))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.RevokeKey(context.Background(), "acme", k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	m := s.next(t)
	if m.event != "end" || !strings.Contains(m.data, `"reason":"key_revoked"`) {
		t.Fatalf("after the revocation came %+v; want event: end with reason key_revoked", m)
	}
	select {
	case m, ok := <-s.events:
		if ok {
			t.Errorf("after the end came %+v; want the stream closed", m)
		}
	case <-time.After(30 * time.Second):
		t.Error("the stream stayed open after its end event")
	}
}
