package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

// The Standard Webhooks reference libraries' own test vector: a receiver's
// library verifies what the webhook transport signs.
func TestWebhookSignatureVector(t *testing.T) {
	key, err := transport.WebhookKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := transport.WebhookSignature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("WebhookSignature = %s; want %s", got, want)
	}
}

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestWebhookSettings(t *testing.T) {
	for _, c := range []struct {
		settings, secret, field string
	}{
		{`{}`, testWebhookSecret, "settings.url"},
		{`{"url":"ftp://x"}`, testWebhookSecret, "settings.url"},
		{`{"url":"https://u:p@siem.example.com"}`, testWebhookSecret, "settings.url"},
		{`{"url":"https://siem.example.com","colour":1}`, testWebhookSecret, "settings.colour"},
		{`{"url":"https://siem.example.com","headers":{"webhook-id":"x"}}`, testWebhookSecret, "settings.headers.webhook-id"},
		{`{"url":"https://siem.example.com","headers":{"X-A":"a\nb"}}`, testWebhookSecret, "settings.headers.X-A"},
		{`{"url":"https://siem.example.com","ca":"not pem"}`, testWebhookSecret, "settings.ca"},
		{`{"url":"https://siem.example.com"}`, "", "secret"},
		{`{"url":"https://siem.example.com"}`, "plain", "secret"},
		{`{"url":"https://siem.example.com"}`, "whsec_c2hvcnQ=", "secret"},
		{`{"url":"https://siem.example.com"}`, "whsec_!!!", "secret"},
		{`{"url":"https://siem.example.com","headers":{"Authorization":"Bearer x"}}`, testWebhookSecret, ""},
	} {
		err := transport.Validate("webhook", json.RawMessage(c.settings), c.secret)
		var ae *auditkeep.Error
		switch {
		case c.field == "" && err != nil:
			t.Errorf("Validate(%s, %q) = %v; want nil", c.settings, c.secret, err)
		case c.field != "" && (!errors.As(err, &ae) || ae.Code != auditkeep.EINVALID || ae.Field != c.field):
			t.Errorf("Validate(%s, %q) = %v; want EINVALID naming %s", c.settings, c.secret, err, c.field)
		}
	}
}

// Each answer of a receiver is classified as the engine acts on it, and
// every request is signed over its exact body.
func TestWebhookAnswers(t *testing.T) {
	key, _ := transport.WebhookKey(testWebhookSecret)
	var status int
	var header http.Header
	var sleep time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		if r.Header.Get("webhook-signature") != transport.WebhookSignature(key, r.Header.Get("webhook-id"), ts, body) ||
			r.Header.Get("X-Tenant-Token") != "abc" || r.Header.Get("Content-Type") != "application/x-ndjson" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if strings.Count(string(body), "\n") != 3 {
			http.Error(w, "want 3 lines", http.StatusBadRequest)
			return
		}
		time.Sleep(sleep)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, `{"message":"said so"}`)
	}))
	defer srv.Close()
	settings, _ := json.Marshal(map[string]any{"url": srv.URL + "/in", "headers": map[string]string{"X-Tenant-Token": "abc"}})
	tr, err := transport.Open("webhook", settings, testWebhookSecret, transport.Options{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	b := testBatch(t, "native", 1, 3)
	for _, c := range []struct {
		status     int
		header     http.Header
		sleep      time.Duration
		kind       transport.Kind
		ok         bool
		retryAfter time.Duration
		message    string
	}{
		{status: 200, ok: true},
		{status: 204, ok: true},
		{status: 429, header: http.Header{"Retry-After": {"7"}}, kind: transport.Retry, retryAfter: 7 * time.Second, message: "429"},
		{status: 503, kind: transport.Retry, message: "said so"},
		{status: 500, kind: transport.Retry, message: "500"},
		{status: 413, kind: transport.TooLarge, message: "413"},
		{status: 401, kind: transport.Auth, message: "401"},
		{status: 403, kind: transport.Auth, message: "403"},
		{status: 422, kind: transport.Permanent, message: "422"},
		{status: 301, header: http.Header{"Location": {"https://elsewhere.example.com/"}}, kind: transport.Permanent, message: "301"},
		{status: 200, sleep: time.Second, kind: transport.Retry, message: "no answer within 300ms"},
	} {
		status, header, sleep = c.status, c.header, c.sleep
		err := tr.Send(context.Background(), b)
		var te *transport.Error
		switch {
		case c.ok && err != nil:
			t.Errorf("answer %d: Send = %v; want nil", c.status, err)
		case c.ok:
		case !errors.As(err, &te):
			t.Errorf("answer %d (after %v): Send = %v; want a *transport.Error", c.status, c.sleep, err)
		case te.Kind != c.kind || te.RetryAfter != c.retryAfter || !strings.Contains(te.Message, c.message):
			t.Errorf("answer %d (after %v): Send = %+v; want kind %d, retry after %v, message with %q", c.status, c.sleep, te, c.kind, c.retryAfter, c.message)
		}
	}
}

// A webhook is usable outside a stream: Post signs any body.
func TestWebhookPost(t *testing.T) {
	key, _ := transport.WebhookKey(testWebhookSecret)
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		if r.Header.Get("webhook-signature") == transport.WebhookSignature(key, "msg_1", ts, body) && r.Header.Get("webhook-id") == "msg_1" {
			got <- string(body)
		}
	}))
	defer srv.Close()
	w, err := transport.OpenWebhook(json.RawMessage(`{"url":"`+srv.URL+`"}`), testWebhookSecret, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Post(context.Background(), "msg_1", "application/json", []byte(`{"alert":"raised"}`)); err != nil {
		t.Fatalf("Post = %v", err)
	}
	select {
	case b := <-got:
		if b != `{"alert":"raised"}` {
			t.Errorf("receiver got %q", b)
		}
	default:
		t.Error("the receiver did not verify the signed message")
	}
}
