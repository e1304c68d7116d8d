package receivertest

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// HECToken is the token an HEC collector takes.
const HECToken = "11111111-2222-3333-4444-555555555555"

// HEC is a Splunk HTTP Event Collector on loopback TLS: it reads a body of
// concatenated event objects as Splunk does (any whitespace between them,
// each with an event and a numeric time) and answers as Splunk does
// ({"text":…,"code":…}: 401 code 2 without a token, 403 code 4 for another,
// 400 code 6 for a body it cannot read, 200 code 0).
type HEC struct {
	srv *httptest.Server

	mu     sync.Mutex
	events []map[string]any
	fault  func(w http.ResponseWriter) bool
}

// StartHEC starts a collector, closed when the test ends.
func StartHEC(t testing.TB) *HEC {
	h := &HEC{}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

// URL is the collector's base URL.
func (h *HEC) URL() string { return h.srv.URL }

// CA is the collector's certificate as PEM, for settings.ca.
func (h *HEC) CA() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.srv.Certificate().Raw}))
}

// Settings are a splunk_hec stream's settings for the collector, with
// index audit and sourcetype auditkeep:json, and extra members (",…").
func (h *HEC) Settings(extra string) json.RawMessage {
	ca, _ := json.Marshal(h.CA())
	return json.RawMessage(fmt.Sprintf(`{"url":%q,"index":"audit","sourcetype":"auditkeep:json","ca":%s%s}`, h.srv.URL, ca, extra))
}

// SetFault makes f answer requests with a valid token instead of the
// collector while it returns true; nil restores the collector.
func (h *HEC) SetFault(f func(w http.ResponseWriter) bool) {
	h.mu.Lock()
	h.fault = f
	h.mu.Unlock()
}

// Restart closes every connection and stops listening, then listens on
// the same address again.
func (h *HEC) Restart(t testing.TB) {
	addr := h.srv.Listener.Addr().String()
	h.srv.CloseClientConnections()
	h.srv.Listener.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	srv.Listener = l
	srv.TLS = h.srv.TLS
	srv.StartTLS()
	h.srv = srv
	t.Cleanup(srv.Close)
}

// Events returns the event objects the collector has accepted.
func (h *HEC) Events() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.events...)
}

func (h *HEC) serve(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, text string, code int) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"text":%q,"code":%d}`, text, code)
	}
	if r.URL.Path != "/services/collector/event" || r.Method != http.MethodPost {
		answer(404, "The requested URL was not found on this server.", 404)
		return
	}
	switch auth := r.Header.Get("Authorization"); {
	case auth == "":
		answer(401, "Token is required", 2)
		return
	case auth != "Splunk "+HECToken:
		answer(403, "Invalid token", 4)
		return
	}
	h.mu.Lock()
	fault := h.fault
	h.mu.Unlock()
	if fault != nil && fault(w) {
		return
	}
	var got []map[string]any
	d := json.NewDecoder(r.Body)
	d.UseNumber()
	for {
		var ev map[string]any
		err := d.Decode(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			answer(400, "Invalid data format", 6)
			return
		}
		if ev["event"] == nil {
			answer(400, "Event field is required", 12)
			return
		}
		if n, ok := ev["time"].(json.Number); !ok {
			answer(400, "Invalid data format", 6)
			return
		} else if _, err := n.Float64(); err != nil {
			answer(400, "Invalid data format", 6)
			return
		}
		got = append(got, ev)
	}
	if len(got) == 0 {
		answer(400, "No data", 5)
		return
	}
	h.mu.Lock()
	h.events = append(h.events, got...)
	h.mu.Unlock()
	answer(200, "Success", 0)
}
