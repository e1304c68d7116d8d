package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/format"
	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

// testBatch is n records of tenant acme from seq first on, encoded in the
// format named.
func testBatch(t testing.TB, formatName string, first int64, n int) *transport.Batch {
	t.Helper()
	f := format.ByName(formatName)
	b := &transport.Batch{ID: fmt.Sprintf("batch-%d-%d", first, n)}
	at := time.Date(2026, 11, 26, 9, 30, 15, 123000000, time.UTC)
	for i := range n {
		seq := first + int64(i)
		e := &auditkeep.Event{Tenant: "acme", Seq: seq, ReceivedAt: at, OccurredAt: at.Add(time.Duration(i) * time.Millisecond),
			ID: fmt.Sprintf("evt_%d", seq), Action: "environment.update", Type: auditkeep.TypeUpdate, Status: auditkeep.StatusSuccess,
			Actor:       auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_42", Name: "Alice"},
			Description: "Updated 'x'\nwith | pipes = and \"quotes\" ] and \\",
		}
		r := format.Record{Event: e, StreamID: "str_1", StreamSeq: seq, PrevStreamSeq: seq - 1}
		p, err := f.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Records = append(b.Records, r)
		b.Payloads = append(b.Payloads, p)
	}
	return b
}

// TestHECDelivers: a batch in each format reaches the collector as event
// objects with time, host, source, sourcetype and index, JSON payloads as
// objects and CEF as a string, each carrying the record's stream fields.
func TestHECDelivers(t *testing.T) {
	h := receivertest.StartHEC(t)
	tr, err := transport.Open("splunk_hec", h.Settings(""), receivertest.HECToken, transport.Options{Host: "auditkeep-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var want int
	for i, name := range format.Names {
		b := testBatch(t, name, int64(1+i*50), 50)
		if err := tr.Send(context.Background(), b); err != nil {
			t.Fatalf("Send(%s): %v", name, err)
		}
		want += 50
		got := h.Events()
		if len(got) != want {
			t.Fatalf("collector has %d events after %s; want %d", len(got), name, want)
		}
		for j, ev := range got[want-50:] {
			r := b.Records[j]
			if ev["host"] != "auditkeep-1" || ev["source"] != "auditkeep" || ev["sourcetype"] != "auditkeep:json" || ev["index"] != "audit" {
				t.Errorf("%s event %d metadata = %v", name, j, ev)
			}
			if ev["time"].(json.Number).String() != fmt.Sprintf("%d.%03d", r.Event.OccurredAt.Unix(), r.Event.OccurredAt.Nanosecond()/1e6) {
				t.Errorf("%s event %d time = %v; want %v", name, j, ev["time"], r.Event.OccurredAt)
			}
			switch p := ev["event"].(type) {
			case string:
				if name != "cef" || p != string(b.Payloads[j]) {
					t.Errorf("%s event %d = string %q; want %s", name, j, p, b.Payloads[j])
				}
			case map[string]any:
				js, _ := json.Marshal(p)
				var a, w any
				json.Unmarshal(js, &a)
				json.Unmarshal(b.Payloads[j], &w)
				if name == "cef" || fmt.Sprint(a) != fmt.Sprint(w) {
					t.Errorf("%s event %d = %s; want %s", name, j, js, b.Payloads[j])
				}
			default:
				t.Errorf("%s event %d = %T", name, j, p)
			}
		}
	}
}

// TestHECFaults: each answer of the collector becomes the kind of error
// the engine acts on, and nothing is counted as delivered.
func TestHECFaults(t *testing.T) {
	h := receivertest.StartHEC(t)
	open := func(token string, extra string) transport.Transport {
		tr, err := transport.Open("splunk_hec", h.Settings(extra), token, transport.Options{Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	retryAt := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	block := make(chan struct{})
	defer close(block)
	cases := []struct {
		name       string
		token      string
		fault      func(w http.ResponseWriter) bool
		kind       transport.Kind
		status     int
		retryAfter time.Duration // at least
		message    string
	}{
		{name: "429 Retry-After seconds", fault: func(w http.ResponseWriter) bool {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			return true
		}, kind: transport.Retry, status: 429, retryAfter: 7 * time.Second},
		{name: "503 busy, Retry-After date", fault: func(w http.ResponseWriter) bool {
			w.Header().Set("Retry-After", retryAt)
			w.WriteHeader(503)
			io.WriteString(w, `{"text":"Server is busy","code":9}`)
			return true
		}, kind: transport.Retry, status: 503, retryAfter: 80 * time.Second, message: "Server is busy (code 9)"},
		{name: "500", fault: func(w http.ResponseWriter) bool { w.WriteHeader(500); return true }, kind: transport.Retry, status: 500},
		{name: "413", fault: func(w http.ResponseWriter) bool { w.WriteHeader(413); return true }, kind: transport.TooLarge, status: 413},
		{name: "400 incorrect index", fault: func(w http.ResponseWriter) bool {
			w.WriteHeader(400)
			io.WriteString(w, `{"text":"Incorrect index","code":7,"invalid-event-number":0}`)
			return true
		}, kind: transport.Permanent, status: 400, message: "Incorrect index (code 7)"},
		{name: "403 invalid token", token: "wrong", kind: transport.Auth, status: 403, message: "Invalid token"},
		{name: "timeout", fault: func(w http.ResponseWriter) bool { <-block; return true }, kind: transport.Retry},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.SetFault(c.fault)
			defer h.SetFault(nil)
			token := receivertest.HECToken
			if c.token != "" {
				token = c.token
			}
			before := len(h.Events())
			err := open(token, "").Send(context.Background(), testBatch(t, "native", 1, 3))
			var te *transport.Error
			if !errors.As(err, &te) {
				t.Fatalf("Send = %v; want a *transport.Error", err)
			}
			if te.Kind != c.kind || te.Status != c.status || te.RetryAfter < c.retryAfter || te.RetryAfter > c.retryAfter+15*time.Second ||
				!strings.HasPrefix(te.Message, "splunk_hec: ") || !strings.Contains(te.Message, c.message) {
				t.Errorf("Send = %+v; want kind %d status %d retry after %s, message with %q", te, c.kind, c.status, c.retryAfter, c.message)
			}
			if n := len(h.Events()); n != before {
				t.Errorf("collector took %d events on a failed send", n-before)
			}
		})
	}
	// A collector that is not listening: Retry.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	tr, err := transport.Open("splunk_hec", json.RawMessage(`{"url":"http://`+addr+`"}`), "t", transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var te *transport.Error
	if err := tr.Send(context.Background(), testBatch(t, "native", 1, 1)); !errors.As(err, &te) || te.Kind != transport.Retry {
		t.Errorf("Send to a closed port = %v; want Retry", err)
	}
	// An untrusted certificate: not delivered (Retry: the operator fixes
	// settings.ca and the stream carries on).
	tr, _ = transport.Open("splunk_hec", json.RawMessage(`{"url":"`+h.URL()+`"}`), receivertest.HECToken, transport.Options{})
	if err := tr.Send(context.Background(), testBatch(t, "native", 1, 1)); !errors.As(err, &te) || !strings.Contains(te.Message, "certificate") {
		t.Errorf("Send to an untrusted certificate = %v", err)
	}
}

// TestHECSettings: settings the transport refuses name their field.
func TestHECSettings(t *testing.T) {
	cases := []struct{ settings, secret, field string }{
		{`{}`, "t", "settings.url"},
		{`{"url":"ftp://x"}`, "t", "settings.url"},
		{`{"url":"https://u:p@x"}`, "t", "settings.url"},
		{`{"url":"https://x"}`, "", "secret"},
		{`{"url":"https://x"}`, "a\nb", "secret"},
		{`{"url":"https://x","ca":"not pem"}`, "t", "settings.ca"},
		{`{"url":"https://x","indx":"main"}`, "t", "settings.indx"},
		{`{"url":"https://x","index":7}`, "t", "settings.index"},
		{`[]`, "t", "settings"},
	}
	for _, c := range cases {
		err := transport.Validate("splunk_hec", json.RawMessage(c.settings), c.secret)
		var e *auditkeep.Error
		if !errors.As(err, &e) || e.Code != auditkeep.EINVALID || e.Field != c.field {
			t.Errorf("Validate(splunk_hec, %s, %q) = %v; want EINVALID naming %s", c.settings, c.secret, err, c.field)
		}
	}
	if err := transport.Validate("splunk_hec", json.RawMessage(`{"url":"https://splunk.example.com:8088"}`), "t"); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
}
