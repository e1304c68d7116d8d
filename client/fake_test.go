package client_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

// fakeIngest is an in-memory POST /v1/events that validates events as the
// server does, stores each id once, and can be told to fail.
type fakeIngest struct {
	mu       sync.Mutex
	events   []auditkeep.Event
	seen     map[string]int
	requests int
	batches  []int // size of each request's batch
	// fail, when set, is asked before each request (numbered from 1)
	// whether to answer with an error status instead, and which headers.
	fail func(n int) (status int, header http.Header)
}

func newFakeIngest(t *testing.T) (*fakeIngest, *client.Client) {
	t.Helper()
	f := &fakeIngest{seen: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, client.New(srv.URL, "test-key")
}

func (f *fakeIngest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if f.fail != nil {
		if status, h := f.fail(f.requests); status != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			writeError(w, status, &auditkeep.Error{Code: "unavailable", Message: http.StatusText(status)})
			return
		}
	}
	lim := ingest.DefaultLimits()
	raws, _, err := ingest.DecodeBatch(body, lim)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	f.batches = append(f.batches, len(raws))
	var stored []*auditkeep.Event
	for i, raw := range raws {
		e, err := ingest.Validate(raw, fmt.Sprintf("events[%d]", i), time.Now(), lim)
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		stored = append(stored, e)
	}
	res := client.IngestResult{Accepted: len(stored)}
	for _, e := range stored {
		res.IDs = append(res.IDs, e.ID)
		if f.seen[e.ID] > 0 {
			res.Duplicates++
			continue
		}
		f.seen[e.ID]++
		f.events = append(f.events, *e)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

func statusOf(err error) int {
	if auditkeep.ErrorCode(err) == auditkeep.ETOOLARGE {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
		"code": auditkeep.ErrorCode(err), "message": auditkeep.ErrorMessage(err), "field": auditkeep.ErrorField(err)}})
}

// stored returns a copy of the events stored so far.
func (f *fakeIngest) stored() []auditkeep.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]auditkeep.Event(nil), f.events...)
}

func (f *fakeIngest) counts() (requests int, batches []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, append([]int(nil), f.batches...)
}

// newRecorder is client.NewRecorder with the log discarded unless opts has one.
func newRecorder(c *client.Client, opts client.RecorderOptions) *client.Recorder {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return client.NewRecorder(c, opts)
}
