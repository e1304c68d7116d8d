package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// hecPath is the HTTP Event Collector's endpoint for event objects.
const hecPath = "/services/collector/event"

// HECSettings are a splunk_hec stream's settings. The secret is the HEC
// token.
type HECSettings struct {
	// URL is the collector: https://splunk.example.com:8088, to which
	// /services/collector/event is added, or a full URL with its own path.
	URL string `json:"url"`
	// Index, Source and Sourcetype go into every event object; an empty
	// Index leaves the token's default index. Source defaults to
	// "auditkeep"; Sourcetype to "_json" for the JSON formats and
	// "auditkeep:cef" for CEF.
	Index      string `json:"index,omitempty"`
	Source     string `json:"source,omitempty"`
	Sourcetype string `json:"sourcetype,omitempty"`
	// Host overrides the server's name as the events' host.
	Host string `json:"host,omitempty"`
	TLSSettings
}

// hec sends a batch to Splunk's HTTP Event Collector as one POST of
// concatenated event objects, each
//
//	{"time":<occurred_at in seconds>,"host":…,"source":…,"sourcetype":…,"index":…,"event":<payload>}
//
// with the payload as a JSON object for the JSON formats and as a string
// for CEF. The batch is accepted when the collector answers 2xx; other
// answers are classified by HTTPError (Splunk's 503 "server is busy" is
// Retry, 403 "invalid token" Auth, 400 "incorrect index" Permanent).
type hec struct {
	url      string
	token    string
	settings HECSettings
	host     string
	client   *http.Client
	timeout  time.Duration
}

func init() { Register("splunk_hec", openHEC) }

func openHEC(raw json.RawMessage, secret string, opts Options) (Transport, error) {
	var s HECSettings
	if err := decodeSettings(raw, &s); err != nil {
		return nil, err
	}
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		return nil, auditkeep.FieldErrorf("settings.url", "settings.url is required: the collector's URL, such as https://splunk.example.com:8088")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil:
		return nil, auditkeep.FieldErrorf("settings.url", "settings.url must be an http or https URL with a host and no credentials")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = hecPath
	}
	if secret == "" {
		return nil, auditkeep.FieldErrorf("secret", "secret is required: the HEC token")
	}
	if strings.ContainsAny(secret, "\r\n") {
		return nil, auditkeep.FieldErrorf("secret", "secret must be one line")
	}
	tc, err := s.TLSSettings.config(u.Hostname())
	if err != nil {
		return nil, err
	}
	host := s.Host
	if host == "" {
		host = opts.Host
	}
	if host == "" {
		host, _ = os.Hostname()
	}
	if s.Source == "" {
		s.Source = "auditkeep"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.Proxy = nil
	return &hec{
		url: u.String(), token: secret, settings: s, host: host,
		client:  &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		timeout: opts.timeout(),
	}, nil
}

// hecEvent is one event object; Event is the payload's JSON.
type hecEvent struct {
	Time       json.Number     `json:"time"`
	Host       string          `json:"host"`
	Source     string          `json:"source"`
	Sourcetype string          `json:"sourcetype"`
	Index      string          `json:"index,omitempty"`
	Event      json.RawMessage `json:"event"`
}

func (h *hec) Send(ctx context.Context, b *Batch) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i, r := range b.Records {
		p := b.Payloads[i]
		ev := hecEvent{
			Time: hecTime(r.Event.OccurredAt), Host: h.host, Source: h.settings.Source,
			Sourcetype: h.settings.Sourcetype, Index: h.settings.Index, Event: p,
		}
		if !json.Valid(p) || p[0] != '{' {
			s, _ := json.Marshal(string(p))
			ev.Event = s
			if ev.Sourcetype == "" {
				ev.Sourcetype = "auditkeep:cef"
			}
		} else if ev.Sourcetype == "" {
			ev.Sourcetype = "_json"
		}
		if err := enc.Encode(ev); err != nil {
			return &Error{Kind: Permanent, Message: fmt.Sprintf("splunk_hec: encoding record %d: %v", i, err)}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, &body)
	if err != nil {
		return &Error{Kind: Permanent, Message: "splunk_hec: " + err.Error()}
	}
	req.Header.Set("Authorization", "Splunk "+h.token)
	req.Header.Set("Content-Type", "application/json")
	return post(h.client, req, "splunk_hec", h.timeout, hecText)
}

// hecText is the text of the collector's JSON answer ({"text":…,"code":…}),
// or the answer itself.
func hecText(body []byte) string {
	var a struct {
		Text string `json:"text"`
		Code *int   `json:"code"`
	}
	if json.Unmarshal(body, &a) == nil && a.Text != "" {
		if a.Code != nil {
			return a.Text + " (code " + strconv.Itoa(*a.Code) + ")"
		}
		return a.Text
	}
	return string(body)
}

// hecTime is t as HEC's time: seconds since the epoch with milliseconds.
func hecTime(t time.Time) json.Number {
	ms := t.UnixMilli()
	return json.Number(fmt.Sprintf("%d.%03d", ms/1000, ms%1000))
}

func (h *hec) Close() error {
	h.client.CloseIdleConnections()
	return nil
}
