package transport

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// WebhookSettings are a webhook stream's settings. The secret is the
// signing secret, as Standard Webhooks give it: "whsec_" and the base64 of
// 24 to 64 random bytes.
type WebhookSettings struct {
	// URL is where batches are POSTed: https://, or http:// to a loopback
	// or private receiver.
	URL string `json:"url"`
	// Headers are added to every request (an Authorization the receiver
	// wants, say). The webhook-* and Content-Type headers cannot be set.
	Headers map[string]string `json:"headers,omitempty"`
	TLSSettings
}

// Webhook posts signed bodies to one URL as Standard Webhooks
// (standardwebhooks.com) do: webhook-id, webhook-timestamp and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>". It is
// usable on its own, outside a stream (Post), and is the webhook stream's
// transport (Send: one NDJSON body per batch).
type Webhook struct {
	url     string
	headers http.Header
	key     []byte
	client  *http.Client
	timeout time.Duration
	// Now is the clock of webhook-timestamp; tests replace it.
	Now func() time.Time
}

func init() {
	Register("webhook", func(raw json.RawMessage, secret string, opts Options) (Transport, error) {
		return OpenWebhook(raw, secret, opts)
	})
}

// OpenWebhook returns a webhook from its settings and secret. Returns
// EINVALID naming "settings.<field>" or "secret".
func OpenWebhook(raw json.RawMessage, secret string, opts Options) (*Webhook, error) {
	var s WebhookSettings
	if err := decodeSettings(raw, &s); err != nil {
		return nil, err
	}
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		return nil, auditkeep.FieldErrorf("settings.url", "settings.url is required: the receiver's URL, such as https://siem.example.com/auditkeep")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil:
		return nil, auditkeep.FieldErrorf("settings.url", "settings.url must be an http or https URL with a host and no credentials")
	}
	h := http.Header{}
	for name, v := range s.Headers {
		switch cn := http.CanonicalHeaderKey(name); {
		case strings.HasPrefix(cn, "Webhook-") || cn == "Content-Type" || cn == "Content-Length" || cn == "Host":
			return nil, auditkeep.FieldErrorf("settings.headers."+name, "settings.headers cannot set %s", cn)
		case !validHeaderName(name) || strings.ContainsAny(v, "\r\n"):
			return nil, auditkeep.FieldErrorf("settings.headers."+name, "settings.headers.%s is not a valid header", name)
		default:
			h.Set(cn, v)
		}
	}
	key, err := WebhookKey(secret)
	if err != nil {
		return nil, err
	}
	tc, err := s.TLSSettings.config(u.Hostname())
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.Proxy = nil
	return &Webhook{
		url: u.String(), headers: h, key: key, timeout: opts.timeout(), Now: time.Now,
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

// WebhookKey returns the HMAC key of a Standard Webhooks secret,
// "whsec_<base64>" of 24 to 64 bytes. Returns EINVALID naming "secret".
func WebhookKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, auditkeep.FieldErrorf("secret", `secret is required: "whsec_" and the base64 of 24 to 64 random bytes, as Standard Webhooks give it (such as whsec_%s)`,
			base64.StdEncoding.EncodeToString(make([]byte, 24)))
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, auditkeep.FieldErrorf("secret", `secret must be "whsec_" and the base64 of 24 to 64 bytes`)
	}
	return key, nil
}

// WebhookSignature returns the webhook-signature value of a message:
// "v1," and the base64 HMAC-SHA256, under key, of id, ".", the Unix
// timestamp in seconds, ".", and body.
func WebhookSignature(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Send posts the batch as NDJSON (one payload a line), with the batch's ID
// as webhook-id.
func (w *Webhook) Send(ctx context.Context, b *Batch) error {
	n := 0
	for _, p := range b.Payloads {
		n += len(p) + 1
	}
	body := make([]byte, 0, n)
	for _, p := range b.Payloads {
		body = append(body, p...)
		body = append(body, '\n')
	}
	return w.Post(ctx, b.ID, "application/x-ndjson", body)
}

// Post sends one signed message: nil when the receiver answered 2xx, else
// an *Error classified by HTTPError, or Retry for a failure to reach it or
// a timeout. A message sent again keeps its id, so that a receiver drops
// the repeat.
func (w *Webhook) Post(ctx context.Context, id, contentType string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &Error{Kind: Permanent, Message: "webhook: " + err.Error()}
	}
	for name, v := range w.headers {
		req.Header[name] = v
	}
	ts := w.Now().Unix()
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", WebhookSignature(w.key, id, ts, body))
	return post(w.client, req, "webhook", w.timeout, printable)
}

// printable is the start of a receiver's answer as one line of text.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, string(b))
	return strings.Join(strings.Fields(s), " ")
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
