package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/format"
)

// SyslogSDID is the SD-ID of the structured data element that carries a
// record's place in its log and stream. 32473 is the private enterprise
// number RFC 5612 reserves for examples and documentation.
const SyslogSDID = "auditkeep@32473"

// SyslogSettings are a syslog stream's settings. The secret, when set, is
// the PEM private key of ClientCert for receivers that authenticate their
// senders.
type SyslogSettings struct {
	// Address is the receiver's host:port.
	Address string `json:"address"`
	// TLS sends over TLS (RFC 5425) instead of plain TCP (RFC 6587).
	TLS bool `json:"tls,omitempty"`
	// Facility is the syslog facility, 0 to 23; 13 (log audit) when
	// absent.
	Facility *int `json:"facility,omitempty"`
	// AppName is the APP-NAME; "auditkeep" when empty.
	AppName string `json:"app_name,omitempty"`
	// Hostname overrides the server's name as the HOSTNAME.
	Hostname string `json:"hostname,omitempty"`
	// ClientCert is a PEM certificate (chain) to present to the
	// receiver, with the secret as its key. TLS only.
	ClientCert string `json:"client_cert,omitempty"`
	TLSSettings
}

// syslogTransport sends each record as one RFC 5424 message with
// octet-counting framing ("<length> <message>", RFC 6587 and RFC 5425):
//
//	<PRI>1 <occurred_at> <hostname> <app> - <msgid> [auditkeep@32473 tenant="…" seq="…" stream_id="…" stream_seq="…" prev_stream_seq="…"] <payload>
//
// PRI is the facility's with severity notice (5) for a success and warning
// (4) for a failure; MSGID is the action (printable ASCII, at most 32
// characters); the payload is the record in the stream's format, CEF by
// choice.
//
// Syslog has no acknowledgement, so a batch goes on its own connection and
// counts as accepted only when the receiver, after the sender closed its
// side (and, over TLS, sent close_notify), has closed its own: a receiver
// such as rsyslog closes a connection once it has read it to the end. A
// reset, a timeout or anything else is Retry.
type syslogTransport struct {
	s        SyslogSettings
	pri      int
	hostname string
	tls      *tls.Config
	timeout  time.Duration
	dialer   net.Dialer
}

func init() { Register("syslog", openSyslog) }

func openSyslog(raw json.RawMessage, secret string, opts Options) (Transport, error) {
	var s SyslogSettings
	if err := decodeSettings(raw, &s); err != nil {
		return nil, err
	}
	if s.Address == "" {
		return nil, auditkeep.FieldErrorf("settings.address", "settings.address is required: the receiver's host:port")
	}
	host, port, err := net.SplitHostPort(s.Address)
	if err != nil || host == "" {
		return nil, auditkeep.FieldErrorf("settings.address", "settings.address must be host:port")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return nil, auditkeep.FieldErrorf("settings.address", "settings.address must have a port from 1 to 65535")
	}
	facility := 13
	if s.Facility != nil {
		facility = *s.Facility
	}
	if facility < 0 || facility > 23 {
		return nil, auditkeep.FieldErrorf("settings.facility", "settings.facility must be from 0 to 23")
	}
	if s.AppName == "" {
		s.AppName = "auditkeep"
	}
	if !syslogToken(s.AppName, 48) {
		return nil, auditkeep.FieldErrorf("settings.app_name", "settings.app_name must be 1 to 48 printable ASCII characters without spaces")
	}
	hostname := s.Hostname
	if hostname == "" {
		hostname = opts.Host
	}
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	if s.Hostname != "" && !syslogToken(s.Hostname, 255) {
		return nil, auditkeep.FieldErrorf("settings.hostname", "settings.hostname must be 1 to 255 printable ASCII characters without spaces")
	}
	t := &syslogTransport{s: s, pri: facility * 8, hostname: syslogClean(hostname, 255), timeout: opts.timeout()}
	if !s.TLS {
		switch {
		case s.CA != "" || s.ServerName != "":
			return nil, auditkeep.FieldErrorf("settings.tls", "settings.ca and settings.server_name need settings.tls")
		case s.ClientCert != "" || secret != "":
			return nil, auditkeep.FieldErrorf("settings.tls", "a client certificate and its key need settings.tls")
		}
		return t, nil
	}
	if t.tls, err = s.TLSSettings.config(host); err != nil {
		return nil, err
	}
	switch {
	case s.ClientCert != "" && secret == "":
		return nil, auditkeep.FieldErrorf("secret", "secret is required with settings.client_cert: its PEM private key")
	case s.ClientCert == "" && secret != "":
		return nil, auditkeep.FieldErrorf("settings.client_cert", "settings.client_cert is required with a secret: the certificate of the secret's key")
	case s.ClientCert != "":
		cert, err := tls.X509KeyPair([]byte(s.ClientCert), []byte(secret))
		if err != nil {
			return nil, auditkeep.FieldErrorf("settings.client_cert", "settings.client_cert and the secret are not a PEM certificate and its key: %v", err)
		}
		t.tls.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// syslogToken reports whether s is 1 to max PRINTUSASCII characters.
func syslogToken(s string, max int) bool {
	return s != "" && len(s) <= max && syslogClean(s, max) == s
}

// syslogClean is s as a header field: PRINTUSASCII only (others as '_'),
// at most max characters, "-" when empty.
func syslogClean(s string, max int) string {
	if s == "" {
		return "-"
	}
	b := []byte(s)
	if len(b) > max {
		b = b[:max]
	}
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	return string(b)
}

// sdValue appends an SD-PARAM value with ", \ and ] escaped.
func sdValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c == ']' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return b
}

// message appends the record's framed message: its length, a space and
// the RFC 5424 message.
func (t *syslogTransport) message(b []byte, r format.Record, payload []byte) []byte {
	severity := 5
	if r.Event.Status == auditkeep.StatusFailure {
		severity = 4
	}
	m := make([]byte, 0, 256+len(payload))
	m = append(m, '<')
	m = strconv.AppendInt(m, int64(t.pri+severity), 10)
	m = append(m, ">1 "...)
	m = r.Event.OccurredAt.UTC().AppendFormat(m, "2006-01-02T15:04:05.999999Z07:00")
	m = append(m, ' ')
	m = append(m, t.hostname...)
	m = append(m, ' ')
	m = append(m, t.s.AppName...)
	m = append(m, " - "...)
	m = append(m, syslogClean(r.Event.Action, 32)...)
	f := format.FieldsOf(r)
	m = append(m, " ["+SyslogSDID+" tenant=\""...)
	m = sdValue(m, f.Tenant)
	m = append(m, `" seq="`...)
	m = strconv.AppendInt(m, f.Seq, 10)
	m = append(m, `" stream_id="`...)
	m = sdValue(m, f.StreamID)
	m = append(m, `" stream_seq="`...)
	m = strconv.AppendInt(m, f.StreamSeq, 10)
	m = append(m, `" prev_stream_seq="`...)
	m = strconv.AppendInt(m, f.PrevStreamSeq, 10)
	if f.Test {
		m = append(m, `" test="true`...)
	}
	m = append(m, `"] `...)
	m = append(m, payload...)
	b = strconv.AppendInt(b, int64(len(m)), 10)
	b = append(b, ' ')
	return append(b, m...)
}

func (t *syslogTransport) Send(ctx context.Context, b *Batch) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	raw, err := t.dialer.DialContext(ctx, "tcp", t.s.Address)
	if err != nil {
		return retryf("syslog: %v", err)
	}
	tcp := raw.(*net.TCPConn)
	defer tcp.Close()
	tcp.SetDeadline(deadline)
	var conn net.Conn = tcp
	var tc *tls.Conn
	if t.tls != nil {
		tc = tls.Client(tcp, t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return retryf("syslog: TLS handshake with %s: %v", t.s.Address, err)
		}
		conn = tc
	}
	w := bufio.NewWriterSize(conn, 64<<10)
	var frame []byte
	for i, r := range b.Records {
		frame = t.message(frame[:0], r, b.Payloads[i])
		if _, err := w.Write(frame); err != nil {
			return t.netError("sending", err)
		}
	}
	if err := w.Flush(); err != nil {
		return t.netError("sending", err)
	}
	// Close our side, then wait for the receiver to close its own: it has
	// then read the whole batch.
	if tc != nil {
		if err := tc.CloseWrite(); err != nil {
			return t.netError("closing", err)
		}
	}
	if err := tcp.CloseWrite(); err != nil {
		return t.netError("closing", err)
	}
	if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return t.netError("waiting for the receiver to read the batch", err)
	}
	return nil
}

func (t *syslogTransport) netError(doing string, err error) *Error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return retryf("syslog: %s %s: no answer within %s", doing, t.s.Address, t.timeout)
	}
	return retryf("syslog: %s %s: %v", doing, t.s.Address, err)
}

func (t *syslogTransport) Close() error { return nil }
