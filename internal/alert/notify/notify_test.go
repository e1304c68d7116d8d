package notify_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert/notify"
	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
	"github.com/emersion/go-smtp"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func testMessage() *notify.Message {
	return &notify.Message{
		ID:      "ntf_1",
		Subject: "[high] Failed logins: actor <!channel>\r\nBcc: victim@example.com",
		Text:    "5 failed logins by <!channel> in 10 minutes.\nFirst: 2026-12-06T20:00:00Z",
		Fields:  []notify.Field{{"Actor", "<!channel> & <http://evil.example|click>"}, {"Count", "5"}},
		Link:    "https://audit.example.com/?q=actor:u_42",
		Body:    []byte(`{"type":"alert.open","alert":{"id":"alt_1"}}`),
	}
}

func kindOf(t *testing.T, err error) transport.Kind {
	t.Helper()
	var te *transport.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *transport.Error", err, err)
	}
	return te.Kind
}

// checkAnswers makes the receiver answer each status in turn (under mu)
// and checks the kind of failure Send reports.
func checkAnswers(t *testing.T, s *notify.Sender, ch *auditkeep.AlertChannel, secret string, mu *sync.Mutex, status *int, want map[int]transport.Kind) {
	t.Helper()
	for code, kind := range want {
		mu.Lock()
		*status = code
		mu.Unlock()
		if k := kindOf(t, s.Send(context.Background(), ch, secret, testMessage())); k != kind {
			t.Errorf("answer %d: kind %v; want %v", code, k, kind)
		}
	}
}

// A webhook channel signs its body as Standard Webhooks do, with the
// notification's id as webhook-id, and a receiver's answers are classified
// as a stream's are.
func TestWebhookChannel(t *testing.T) {
	key, _ := transport.WebhookKey(testSecret)
	var mu sync.Mutex
	status := http.StatusNoContent
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		if r.Header.Get("webhook-id") != "ntf_1" || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("webhook-signature") != transport.WebhookSignature(key, "ntf_1", ts, body) {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got = body
		w.WriteHeader(status)
	}))
	defer srv.Close()
	s := &notify.Sender{}
	ch := &auditkeep.AlertChannel{Type: auditkeep.ChannelWebhook, URL: srv.URL}
	m := testMessage()
	if err := s.Send(context.Background(), ch, testSecret, m); err != nil {
		t.Fatalf("Send = %v", err)
	}
	if string(got) != string(m.Body) {
		t.Errorf("receiver got %s; want %s", got, m.Body)
	}
	checkAnswers(t, s, ch, testSecret, &mu, &status, map[int]transport.Kind{503: transport.Retry, 429: transport.Retry, 401: transport.Auth, 404: transport.Permanent})
	// Another secret: the receiver refuses the signature.
	if k := kindOf(t, s.Send(context.Background(), ch, "whsec_"+strings.Repeat("QUJD", 8), m)); k != transport.Permanent {
		t.Errorf("wrong signature: kind %v; want Permanent (400)", k)
	}
}

// A Slack channel posts text and blocks; what comes from events cannot
// mention @channel or hide a link.
func TestSlackChannel(t *testing.T) {
	var mu sync.Mutex
	status := http.StatusOK
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "invalid_payload", 400)
			return
		}
		got = nil
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			http.Error(w, "invalid_payload", 400)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	s := &notify.Sender{}
	ch := &auditkeep.AlertChannel{Type: auditkeep.ChannelSlack, URL: srv.URL + "/services/T0/B0/x"}
	if err := s.Send(context.Background(), ch, "", testMessage()); err != nil {
		t.Fatalf("Send = %v", err)
	}
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	enc.Encode(got["blocks"].([]any)[1:])
	raw := sb.String()
	text, _ := got["text"].(string)
	if !strings.HasPrefix(text, "[high] Failed logins") || !strings.Contains(text, "<https://audit.example.com/?q=actor:u_42|Matching events>") {
		t.Errorf("text = %q; want the subject and the link", text)
	}
	if strings.Contains(raw+text, "<!channel>") || strings.Contains(raw, "<http://evil") {
		t.Errorf("message holds an unescaped control sequence: %s %s", text, raw)
	}
	if !strings.Contains(raw, `&lt;!channel&gt; &amp; &lt;http://evil.example|click&gt;`) {
		t.Errorf("message does not hold the escaped field value: %s", raw)
	}
	blocks, _ := got["blocks"].([]any)
	if strings.ContainsAny(text, "\r\n") {
		t.Errorf("text = %q; want one line", text)
	}
	if len(blocks) != 3 {
		t.Fatalf("blocks = %s; want header, fields, link", raw)
	}
	if h := blocks[0].(map[string]any); h["type"] != "header" || h["text"].(map[string]any)["type"] != "plain_text" {
		t.Errorf("first block = %v; want a plain_text header", h)
	}
	if f := blocks[1].(map[string]any)["fields"].([]any); len(f) != 2 {
		t.Errorf("fields = %v; want 2", f)
	}
	checkAnswers(t, s, ch, "", &mu, &status, map[int]transport.Kind{500: transport.Retry, 403: transport.Auth, 404: transport.Permanent, 410: transport.Permanent})
}

// Email goes over STARTTLS to a real SMTP server, authenticated, with
// headers no event content can add to.
func TestEmailChannel(t *testing.T) {
	srv := receivertest.NewSMTP(t, true, "alerts", "s3cret")
	email := &notify.Email{Addr: srv.Addr, From: "auditkeep@example.com", Username: "alerts", Password: "s3cret",
		TLS: &tls.Config{RootCAs: srv.Pool}}
	if err := email.Check(); err != nil {
		t.Fatal(err)
	}
	s := &notify.Sender{Email: email}
	ch := &auditkeep.AlertChannel{Type: auditkeep.ChannelEmail, To: []string{"security@example.com", "oncall@example.com"}}
	if err := s.Send(context.Background(), ch, "", testMessage()); err != nil {
		t.Fatalf("Send = %v", err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages; want 1", len(got))
	}
	m := got[0]
	if !m.TLS || m.From != "auditkeep@example.com" || strings.Join(m.To, ",") != "security@example.com,oncall@example.com" {
		t.Errorf("envelope: tls %v, from %q, to %q", m.TLS, m.From, m.To)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, m.Data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || !strings.HasPrefix(subject, "[high] Failed logins: actor <!channel>") {
		t.Errorf("Subject = %q (%v)", subject, err)
	}
	if bcc := msg.Header.Get("Bcc"); bcc != "" {
		t.Errorf("a subject's line break added a header: Bcc %q", bcc)
	}
	if msg.Header.Get("Message-ID") != "<ntf_1@auditkeep>" || msg.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("headers: %v", msg.Header)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if !strings.Contains(string(body), "5 failed logins by <!channel> in 10 minutes.") || !strings.Contains(string(body), "Matching events: https://audit.example.com/?q=actor:u_42") {
		t.Errorf("body = %q", body)
	}

	// Refused credentials, a 4xx answer, an unreachable server.
	bad := *email
	bad.Password = "wrong"
	if k := kindOf(t, (&notify.Sender{Email: &bad}).Send(context.Background(), ch, "", testMessage())); k != transport.Auth {
		t.Errorf("wrong password: kind %v; want Auth", k)
	}
	srv.SetRcptError(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"})
	if k := kindOf(t, s.Send(context.Background(), ch, "", testMessage())); k != transport.Retry {
		t.Errorf("451: kind %v; want Retry", k)
	}
	srv.SetRcptError(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	if k := kindOf(t, s.Send(context.Background(), ch, "", testMessage())); k != transport.Permanent {
		t.Errorf("550: kind %v; want Permanent", k)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server received %d messages; want still 1", n)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := l.Addr().String()
	l.Close()
	off := *email
	off.Addr = gone
	if k := kindOf(t, (&notify.Sender{Email: &off}).Send(context.Background(), ch, "", testMessage())); k != transport.Retry {
		t.Errorf("unreachable: kind %v; want Retry", k)
	}
	// An untrusted certificate is not sent to.
	untrusted := *email
	untrusted.TLS = nil
	if err := (&notify.Sender{Email: &untrusted}).Send(context.Background(), ch, "", testMessage()); err == nil {
		t.Error("Send to a server whose certificate is not trusted = nil; want an error")
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server received %d messages; want still 1", n)
	}
}

// A server without STARTTLS gets neither the credentials nor the message.
func TestEmailRequiresSTARTTLS(t *testing.T) {
	srv := receivertest.NewSMTP(t, false, "alerts", "s3cret")
	email := &notify.Email{Addr: srv.Addr, From: "auditkeep@example.com", Username: "alerts", Password: "s3cret"}
	err := (&notify.Sender{Email: email}).Send(context.Background(), &auditkeep.AlertChannel{Type: auditkeep.ChannelEmail, To: []string{"a@example.com"}}, "", testMessage())
	if k := kindOf(t, err); k != transport.Auth || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("Send = %v (kind %v); want Auth naming STARTTLS", err, k)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages; want 0", n)
	}
	if err := (&notify.Sender{}).Send(context.Background(), &auditkeep.AlertChannel{Type: auditkeep.ChannelEmail, To: []string{"a@example.com"}}, "", testMessage()); err == nil ||
		!strings.Contains(err.Error(), "--smtp-addr") {
		t.Errorf("Send without SMTP configured = %v; want an error naming --smtp-addr", err)
	}
}
