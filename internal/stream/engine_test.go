package stream_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/sqlite"
	"github.com/auditkeep/auditkeep/internal/stream"
	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
	"github.com/prometheus/client_golang/prometheus"
)

var base = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

type fixture struct {
	t      testing.TB
	store  *sqlite.Store
	engine *stream.Engine
	next   int
}

func newFixture(t testing.TB, tenants ...string) *fixture {
	return newFixtureBatch(t, 100, tenants...)
}

// newFixtureBatch is newFixture with batches of size events.
func newFixtureBatch(t testing.TB, size int, tenants ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, t.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, tn := range tenants {
		if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: tn, CreatedAt: base}); err != nil {
			t.Fatal(err)
		}
	}
	e, err := stream.New(stream.Config{Store: s, Key: []byte("test stream key"), Owner: "node-1", BatchSize: size,
		Poll: 50 * time.Millisecond, LeaseTTL: time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Timeout: 2 * time.Second, Registry: prometheus.NewRegistry(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e.Open()
	t.Cleanup(func() { e.Close() })
	return &fixture{t: t, store: s, engine: e}
}

// ingest appends n events to tenant, actions alternating a.create and b.update.
func (f *fixture) ingest(tenant string, n int) {
	f.t.Helper()
	var evs []*auditkeep.Event
	for range n {
		f.next++
		action, typ := "a.create", "create"
		if f.next%2 == 0 {
			action, typ = "b.update", "update"
		}
		evs = append(evs, &auditkeep.Event{Tenant: tenant, ReceivedAt: time.Now().UTC(), ID: fmt.Sprintf("ev-%d", f.next), OccurredAt: base.Add(time.Duration(f.next) * time.Second),
			Action: action, Type: typ, Actor: auditkeep.Actor{Type: "user", ID: "usr_1", Name: "Alice"}, Status: auditkeep.StatusSuccess})
	}
	for i := 0; i < len(evs); i += 500 {
		if err := f.store.Append(context.Background(), evs[i:min(i+500, len(evs))]); err != nil {
			f.t.Fatal(err)
		}
	}
	f.engine.Notify(tenant)
}

func (f *fixture) createStream(tenant, id, url, secret string, filters map[string][]string) *auditkeep.Stream {
	f.t.Helper()
	sealed, err := f.engine.Seal(tenant, id, secret)
	if err != nil {
		f.t.Fatal(err)
	}
	settings, _ := json.Marshal(map[string]string{"url": url})
	st := &auditkeep.Stream{ID: id, Tenant: tenant, Name: id, Type: "webhook", Format: "native", Filters: filters, Settings: settings,
		Secret: sealed, State: auditkeep.StreamActive, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := f.store.CreateStream(context.Background(), st); err != nil {
		f.t.Fatal(err)
	}
	f.engine.Changed(tenant, id)
	return st
}

func (f *fixture) stream(tenant, id string) *auditkeep.Stream {
	f.t.Helper()
	st, err := f.store.GetStream(context.Background(), tenant, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkComplete checks that recs hold each of seqs (in order, each once
// unless dups), with stream_seq 1, 2, 3, … chained by prev_stream_seq.
func checkComplete(t *testing.T, recs []receivertest.Record, tenant, streamID string, seqs []int64) {
	t.Helper()
	if len(recs) != len(seqs) {
		t.Fatalf("receiver has %d records; want %d", len(recs), len(seqs))
	}
	for i, r := range recs {
		if r.Tenant != tenant || r.StreamID != streamID || r.Seq != seqs[i] || r.StreamSeq != int64(i+1) || r.PrevStreamSeq != int64(i) {
			t.Fatalf("record %d = %+v; want tenant %s, seq %d, stream %s, stream_seq %d, prev_stream_seq %d", i, r, tenant, seqs[i], streamID, i+1, i)
		}
	}
}

func seqRange(first, last int64) []int64 {
	var out []int64
	for s := first; s <= last; s++ {
		out = append(out, s)
	}
	return out
}

func TestDeliverAllInOrder(t *testing.T) {
	f := newFixture(t, "acme", "globex")
	secret := newSecret()
	rc := receivertest.NewWebhook(t, secret)
	f.ingest("acme", 250)
	f.ingest("globex", 10) // never in acme's stream
	f.createStream("acme", "str_all", rc.URL, secret, nil)
	f.ingest("acme", 1000)
	waitFor(t, "1250 records", func() bool { return len(rc.Records()) >= 1250 })
	recs, batches := rc.Records(), rc.Batches()
	checkComplete(t, recs, "acme", "str_all", seqRange(1, 1250))
	for i, n := range batches {
		if n > 100 {
			t.Errorf("batch %d has %d records; want at most the batch size 100", i, n)
		}
	}
	if rc.BadSignatures() != 0 {
		t.Errorf("%d requests with a bad signature", rc.BadSignatures())
	}
	if !strings.HasPrefix(rc.IDs()[0], "str_all-1-") {
		t.Errorf("first webhook-id = %q; want str_all-1-…", rc.IDs()[0])
	}
	waitFor(t, "the cursor at 1250", func() bool { st := f.stream("acme", "str_all"); return st.Cursor == 1250 && st.StreamSeq == 1250 })
	st := f.stream("acme", "str_all")
	if st.LastSuccessAt.IsZero() || st.State != auditkeep.StreamActive {
		t.Errorf("stream after delivery: state %s, last_success_at %v; want active, set", st.State, st.LastSuccessAt)
	}
	lag, err := f.engine.Lag(context.Background(), st)
	if err != nil || lag.Events != 0 {
		t.Errorf("Lag = %+v, %v; want 0 events", lag, err)
	}
}

// A stream's filters skip events, yet its stream_seq has no gap, and its
// cursor passes the events it skipped.
func TestDeliverThroughFilters(t *testing.T) {
	f := newFixture(t, "acme")
	secret := newSecret()
	rc := receivertest.NewWebhook(t, secret)
	f.createStream("acme", "str_b", rc.URL, secret, map[string][]string{"q": {"action:b.*"}})
	f.ingest("acme", 301) // seqs 2, 4, …, 300 are b.update
	waitFor(t, "150 records", func() bool { return len(rc.Records()) >= 150 })
	recs := rc.Records()
	var want []int64
	for s := int64(2); s <= 300; s += 2 {
		want = append(want, s)
	}
	checkComplete(t, recs, "acme", "str_b", want)
	waitFor(t, "the cursor past the last event", func() bool { return f.stream("acme", "str_b").Cursor == 301 })
}

func TestFault429RetryAfter(t *testing.T) {
	f := newFixture(t, "acme")
	secret := newSecret()
	rc := receivertest.NewWebhook(t, secret)
	var mu sync.Mutex
	var first, retried time.Time
	rc.SetFault(func(w http.ResponseWriter, n, _ int) bool {
		mu.Lock()
		defer mu.Unlock()
		switch n {
		case 1:
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		case 2:
			retried = time.Now()
		}
		return false
	})
	f.ingest("acme", 20)
	f.createStream("acme", "str_1", rc.URL, secret, nil)
	waitFor(t, "the failure recorded", func() bool { return f.stream("acme", "str_1").LastError != "" })
	st := f.stream("acme", "str_1")
	if !strings.Contains(st.LastError, "429") {
		t.Errorf("last_error = %q; want the 429", st.LastError)
	}
	waitFor(t, "20 records", func() bool { return len(rc.Records()) >= 20 })
	recs := rc.Records()
	checkComplete(t, recs, "acme", "str_1", seqRange(1, 20))
	mu.Lock()
	defer mu.Unlock()
	if wait := retried.Sub(first); wait < time.Second {
		t.Errorf("retried %v after the 429; want at least its Retry-After of 1s", wait)
	}
	waitFor(t, "state active", func() bool { return f.stream("acme", "str_1").State == auditkeep.StreamActive })
}

func TestFault500AndTimeout(t *testing.T) {
	f := newFixture(t, "acme")
	secret := newSecret()
	rc := receivertest.NewWebhook(t, secret)
	rc.SetFault(func(w http.ResponseWriter, n, _ int) bool {
		switch n {
		case 1, 2:
			http.Error(w, "boom", http.StatusInternalServerError)
			return true
		case 3:
			time.Sleep(3 * time.Second) // past the engine's timeout of 2s: not an acceptance
			http.Error(w, "late", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	f.ingest("acme", 30)
	f.createStream("acme", "str_1", rc.URL, secret, nil)
	var errs []string
	waitFor(t, "a failing state", func() bool {
		st := f.stream("acme", "str_1")
		if st.State == auditkeep.StreamFailing && (len(errs) == 0 || errs[len(errs)-1] != st.LastError) {
			errs = append(errs, st.LastError)
		}
		return len(rc.Records()) >= 30
	})
	recs, requests := rc.Records(), rc.Requests()
	checkComplete(t, recs, "acme", "str_1", seqRange(1, 30))
	if requests < 4 {
		t.Errorf("receiver saw %d requests; want at least 4 (500, 500, timeout, accepted)", requests)
	}
	waitFor(t, "the cursor at 30", func() bool { return f.stream("acme", "str_1").Cursor == 30 })
	st := f.stream("acme", "str_1")
	if st.State != auditkeep.StreamActive || !strings.Contains(st.LastError, "no answer within") {
		t.Errorf("stream: state %s, last_error %q; want active, the timeout kept as last error", st.State, st.LastError)
	}
}

// A receiver that refuses large bodies with 413 gets smaller batches.
func TestFault413Split(t *testing.T) {
	f := newFixture(t, "acme")
	secret := newSecret()
	rc := receivertest.NewWebhook(t, secret)
	rc.SetFault(func(w http.ResponseWriter, _, lines int) bool {
		if lines > 12 {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return true
		}
		return false
	})
	f.ingest("acme", 200)
	f.createStream("acme", "str_1", rc.URL, secret, nil)
	waitFor(t, "200 records", func() bool { return len(rc.Records()) >= 200 })
	recs, batches := rc.Records(), rc.Batches()
	checkComplete(t, recs, "acme", "str_1", seqRange(1, 200))
	for i, n := range batches {
		if n > 12 {
			t.Errorf("accepted batch %d has %d records; the receiver takes at most 12", i, n)
		}
	}
}

// 401 stops the stream in auth_error until an admin resumes it.
func TestFault401AuthError(t *testing.T) {
	f := newFixture(t, "acme")
	secret := newSecret()
	rc := receivertest.NewWebhook(t, secret)
	rc.SetFault(func(w http.ResponseWriter, _, _ int) bool {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return true
	})
	f.ingest("acme", 10)
	f.createStream("acme", "str_1", rc.URL, secret, nil)
	waitFor(t, "auth_error", func() bool { return f.stream("acme", "str_1").State == auditkeep.StreamAuthError })
	st := f.stream("acme", "str_1")
	if !strings.Contains(st.LastError, "401") || st.Cursor != 0 {
		t.Errorf("stream: last_error %q, cursor %d; want the 401, cursor 0", st.LastError, st.Cursor)
	}
	before := rc.Requests()
	f.ingest("acme", 5)
	time.Sleep(500 * time.Millisecond) // 10 polls: a stopped stream sends nothing
	if after := rc.Requests(); after != before {
		t.Errorf("receiver saw %d requests in auth_error; want none", after-before)
	}
	rc.SetFault(nil)
	st.State = auditkeep.StreamActive
	if err := f.store.UpdateStream(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	f.engine.Changed("acme", "str_1")
	waitFor(t, "15 records", func() bool { return len(rc.Records()) >= 15 })
	recs := rc.Records()
	checkComplete(t, recs, "acme", "str_1", seqRange(1, 15))
}
