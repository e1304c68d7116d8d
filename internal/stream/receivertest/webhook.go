package receivertest

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

// Record is one record as a receiver read it: the members that place it in
// its tenant's log and its stream.
type Record struct {
	Tenant        string `json:"tenant"`
	Seq           int64  `json:"seq"`
	Action        string `json:"action"`
	StreamID      string `json:"stream_id"`
	StreamSeq     int64  `json:"stream_seq"`
	PrevStreamSeq int64  `json:"prev_stream_seq"`
	Test          bool   `json:"test"`
}

// Fault answers a request instead of the receiver when it returns true; n
// counts the requests from 1, lines are the body's records.
type Fault func(w http.ResponseWriter, n, lines int) bool

// Webhook is a webhook receiver on loopback, as a SIEM runs one: it checks
// each request's Standard Webhooks signature (refusing a bad one with 400),
// reads the NDJSON body of native records, and keeps the records of every
// request it accepted. It can stop and start again on the same address
// while keeping what it received.
type Webhook struct {
	// URL is where it listens.
	URL string

	t    testing.TB
	key  []byte
	addr string

	mu       sync.Mutex
	srv      *http.Server
	fault    Fault
	requests int
	records  []Record
	batches  []int
	ids      []string
	badSigs  int
}

// NewWebhook starts a receiver for the signing secret, stopped when the
// test ends.
func NewWebhook(t testing.TB, secret string) *Webhook {
	t.Helper()
	key, err := transport.WebhookKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	w := &Webhook{t: t, key: key, addr: "127.0.0.1:0"}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	w.URL = "http://" + w.addr
	t.Cleanup(w.Stop)
	return w
}

// Start listens again on the receiver's address (retrying for a few
// seconds while the port is released).
func (w *Webhook) Start() error {
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", w.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.addr = ln.Addr().String()
	w.srv = &http.Server{Handler: http.HandlerFunc(w.serve)}
	srv := w.srv
	w.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.t.Logf("webhook receiver: %v", err)
		}
	}()
	return nil
}

// Stop closes the listener and every connection at once, as a receiver
// that crashed.
func (w *Webhook) Stop() {
	w.mu.Lock()
	srv := w.srv
	w.srv = nil
	w.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	id := r.Header.Get("webhook-id")
	want := transport.WebhookSignature(w.key, id, ts, body)
	lines := bytes.Count(body, []byte("\n"))
	w.mu.Lock()
	w.requests++
	n, fault := w.requests, w.fault
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("webhook-signature"))) || r.Header.Get("Content-Type") != "application/x-ndjson" {
		w.badSigs++
		w.mu.Unlock()
		http.Error(rw, "bad signature", http.StatusBadRequest)
		return
	}
	w.mu.Unlock()
	if fault != nil && fault(rw, n, lines) {
		return
	}
	var recs []Record
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			w.t.Errorf("webhook receiver: line %q: %v", sc.Text(), err)
		}
		recs = append(recs, rec)
	}
	w.mu.Lock()
	w.records = append(w.records, recs...)
	w.batches = append(w.batches, len(recs))
	w.ids = append(w.ids, id)
	w.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

// SetFault sets (nil: clears) the fault that answers requests.
func (w *Webhook) SetFault(f Fault) {
	w.mu.Lock()
	w.fault = f
	w.mu.Unlock()
}

// Records returns the records of the accepted requests, in the order
// accepted.
func (w *Webhook) Records() []Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Record(nil), w.records...)
}

// Count returns how many records the accepted requests held.
func (w *Webhook) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.records)
}

// Batches returns the number of records of each accepted request.
func (w *Webhook) Batches() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.batches...)
}

// IDs returns the webhook-id of each accepted request.
func (w *Webhook) IDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.ids...)
}

// Requests counts every request, refused or not.
func (w *Webhook) Requests() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.requests
}

// BadSignatures counts the requests refused for their signature.
func (w *Webhook) BadSignatures() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.badSigs
}
