package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/format"
)

// NATSSettings are a nats stream's settings. The secret is the server's
// token, or with User the user's password; none for a server without
// authentication.
type NATSSettings struct {
	// URL is the server: nats://host:4222, or tls://host:4222 for TLS;
	// several, separated by commas, for a cluster.
	URL string `json:"url"`
	// Subject is the subject every record is published on; a JetStream
	// stream must take it.
	Subject string `json:"subject"`
	// Stream, when set, is the JetStream stream that must store the
	// records (the publish is refused by any other).
	Stream string `json:"stream,omitempty"`
	User   string `json:"user,omitempty"`
	TLSSettings
}

// natsTransport publishes each record as one JetStream message and counts
// a batch as delivered once JetStream acknowledged every message of it
// (stored in the stream). Each message has the header Nats-Msg-Id
// <stream_id>.<stream_seq>, the same however often the record is sent, so
// JetStream's duplicate window drops a record sent again after a failure;
// and headers Auditkeep-Tenant, Auditkeep-Seq, Auditkeep-Stream-Id,
// Auditkeep-Stream-Seq, Auditkeep-Prev-Stream-Seq (and Auditkeep-Test:
// true on a test delivery). The payload is the record in the stream's
// format.
type natsTransport struct {
	s       NATSSettings
	secret  string
	tls     bool
	opts    []nats.Option
	timeout time.Duration

	nc *nats.Conn
	js jetstream.JetStream
}

func init() { Register("nats", openNATS) }

func openNATS(raw json.RawMessage, secret string, opts Options) (Transport, error) {
	var s NATSSettings
	if err := decodeSettings(raw, &s); err != nil {
		return nil, err
	}
	if s.URL == "" {
		return nil, auditkeep.FieldErrorf("settings.url", "settings.url is required: the NATS server, such as nats://nats.example.com:4222")
	}
	t := &natsTransport{s: s, secret: secret, timeout: opts.timeout()}
	var host string
	for _, one := range strings.Split(s.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
			return nil, auditkeep.FieldErrorf("settings.url", "settings.url must be nats://host:port or tls://host:port (comma-separated for several), without credentials: the secret holds them")
		}
		if u.Scheme == "tls" {
			t.tls = true
		}
		host = u.Hostname()
	}
	if !natsSubject(s.Subject) {
		return nil, auditkeep.FieldErrorf("settings.subject", "settings.subject must be a NATS subject without wildcards, such as audit.acme")
	}
	if s.Stream != "" && strings.ContainsAny(s.Stream, " \t\r\n.*>/\\") {
		return nil, auditkeep.FieldErrorf("settings.stream", "settings.stream must be a JetStream stream name (no spaces, '.', '*', '>', '/' or '\\')")
	}
	if s.User != "" && secret == "" {
		return nil, auditkeep.FieldErrorf("secret", "secret is required with settings.user: the user's password")
	}
	t.opts = []nats.Option{nats.Name("auditkeep"), nats.Timeout(t.timeout), nats.NoReconnect()}
	switch {
	case s.User != "":
		t.opts = append(t.opts, nats.UserInfo(s.User, secret))
	case secret != "":
		t.opts = append(t.opts, nats.Token(secret))
	}
	if t.tls || s.CA != "" || s.ServerName != "" {
		if !t.tls {
			return nil, auditkeep.FieldErrorf("settings.url", "settings.ca and settings.server_name need a tls:// URL")
		}
		c, err := s.TLSSettings.config(host)
		if err != nil {
			return nil, err
		}
		t.opts = append(t.opts, nats.Secure(c))
	}
	return t, nil
}

// natsSubject reports whether s is a subject to publish on: dot-separated
// non-empty tokens of printable characters, no wildcards.
func natsSubject(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for _, c := range tok {
			if c <= ' ' || c == 0x7f {
				return false
			}
		}
	}
	return true
}

// connect opens the connection when there is none (first Send, or after
// one was lost).
func (t *natsTransport) connect() error {
	if t.nc != nil && t.nc.IsConnected() {
		return nil
	}
	t.closeConn()
	nc, err := nats.Connect(t.s.URL, t.opts...)
	if err != nil {
		return t.natsError("connecting to "+t.s.URL, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<16), jetstream.WithPublishAsyncTimeout(t.timeout))
	if err != nil {
		nc.Close()
		return t.natsError("connecting to "+t.s.URL, err)
	}
	t.nc, t.js = nc, js
	return nil
}

// MsgID is the Nats-Msg-Id of a record.
func MsgID(r format.Record, batchID string, i int) string {
	if r.Test || r.StreamSeq == 0 {
		return batchID + "." + strconv.Itoa(i)
	}
	return r.StreamID + "." + strconv.FormatInt(r.StreamSeq, 10)
}

func (t *natsTransport) Send(ctx context.Context, b *Batch) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if err := t.connect(); err != nil {
		return err
	}
	var popts []jetstream.PublishOpt
	if t.s.Stream != "" {
		popts = append(popts, jetstream.WithExpectStream(t.s.Stream))
	}
	futures := make([]jetstream.PubAckFuture, 0, len(b.Records))
	for i, r := range b.Records {
		f := format.FieldsOf(r)
		m := nats.NewMsg(t.s.Subject)
		m.Data = b.Payloads[i]
		m.Header.Set("Auditkeep-Tenant", f.Tenant)
		m.Header.Set("Auditkeep-Seq", strconv.FormatInt(f.Seq, 10))
		m.Header.Set("Auditkeep-Stream-Id", f.StreamID)
		m.Header.Set("Auditkeep-Stream-Seq", strconv.FormatInt(f.StreamSeq, 10))
		m.Header.Set("Auditkeep-Prev-Stream-Seq", strconv.FormatInt(f.PrevStreamSeq, 10))
		if f.Test {
			m.Header.Set("Auditkeep-Test", "true")
		}
		fut, err := t.js.PublishMsgAsync(m, append(popts, jetstream.WithMsgID(MsgID(r, b.ID, i)))...)
		if err != nil {
			t.closeConn()
			return t.natsError("publishing", err)
		}
		futures = append(futures, fut)
	}
	for _, fut := range futures {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			if t.nc != nil && !t.nc.IsConnected() {
				t.closeConn()
			}
			return t.natsError("publishing", err)
		case <-ctx.Done():
			t.closeConn()
			return retryf("nats: no acknowledgement from JetStream within %s", t.timeout)
		}
	}
	return nil
}

// jsErrStreamNotMatch is JetStream's error code for a publish that
// expected another stream.
const jsErrStreamNotMatch jetstream.ErrorCode = 10060

// natsError classifies a NATS failure: refused credentials or
// permissions are Auth; no stream taking the subject, or another stream
// than settings.stream, Permanent; a message larger than the server or
// the stream takes TooLarge; anything else Retry.
func (t *natsTransport) natsError(doing string, err error) *Error {
	msg := fmt.Sprintf("nats: %s: %v", doing, err)
	var api *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) ||
		errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(strings.ToLower(err.Error()), "authorization violation") ||
		strings.Contains(strings.ToLower(err.Error()), "permissions violation"):
		return &Error{Kind: Auth, Message: msg}
	case errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse):
		return &Error{Kind: Permanent, Message: fmt.Sprintf("nats: no JetStream stream takes subject %q", t.s.Subject)}
	case errors.As(err, &api) && api.ErrorCode == jsErrStreamNotMatch:
		return &Error{Kind: Permanent, Message: fmt.Sprintf("nats: subject %q is not stored by stream %q", t.s.Subject, t.s.Stream)}
	case errors.Is(err, nats.ErrMaxPayload) || (errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum):
		return &Error{Kind: TooLarge, Message: msg}
	}
	return &Error{Kind: Retry, Message: msg}
}

func (t *natsTransport) closeConn() {
	if t.nc != nil {
		t.nc.Close()
	}
	t.nc, t.js = nil, nil
}

func (t *natsTransport) Close() error {
	t.closeConn()
	return nil
}
