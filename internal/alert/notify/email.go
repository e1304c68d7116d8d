package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep/internal/stream/transport"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const defaultTimeout = 10 * time.Second

// Email sends notifications through one SMTP server (the operator's
// relay, such as a submission port 587), always over STARTTLS: a server
// that does not offer it is not sent to, so that neither the credentials
// nor the alert cross the network in the clear.
type Email struct {
	// Addr is the server's host:port.
	Addr string
	// From is the sender's address, such as auditkeep@example.com.
	From string
	// Username and Password authenticate with AUTH PLAIN when Username is
	// set (after STARTTLS only).
	Username, Password string
	// TLS is the TLS configuration; nil checks the server's certificate
	// for the host of Addr against the system's roots.
	TLS *tls.Config
	// Timeout bounds one send, from connecting to the server's answer to
	// the message; 0 means 10 s.
	Timeout time.Duration
}

// Check reports a configuration error: Addr as host:port, From an address.
func (e *Email) Check() error {
	if _, _, err := net.SplitHostPort(e.Addr); err != nil {
		return fmt.Errorf("smtp address %q must be host:port, such as smtp.example.com:587", e.Addr)
	}
	if a, err := mail.ParseAddress(e.From); err != nil || a.Name != "" {
		return fmt.Errorf("smtp sender %q must be an address, such as auditkeep@example.com", e.From)
	}
	return nil
}

// Send sends m to the recipients: nil once the server accepted the
// message, else a *transport.Error: Retry for a server not reached, a
// timeout or a 4xx answer; Auth for refused credentials (535) or a server
// without STARTTLS; Permanent for other 5xx answers.
func (e *Email) Send(ctx context.Context, to []string, m *Message) error {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return &transport.Error{Kind: transport.Permanent, Message: "email: " + err.Error()}
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return &transport.Error{Kind: transport.Retry, Message: "email: " + err.Error()}
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if e.TLS != nil {
		cfg = e.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
	}
	c, err := smtp.NewClientStartTLS(conn, cfg)
	if err != nil {
		conn.Close()
		if strings.Contains(err.Error(), "support STARTTLS") {
			return &transport.Error{Kind: transport.Auth, Message: "email: the SMTP server does not offer STARTTLS; nothing was sent"}
		}
		return smtpError(err, timeout)
	}
	defer c.Close()
	if e.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", e.Username, e.Password)); err != nil {
			return smtpError(err, timeout)
		}
	}
	if err := c.SendMail(e.From, to, bytes.NewReader(e.compose(to, m))); err != nil {
		return smtpError(err, timeout)
	}
	c.Quit()
	return nil
}

// smtpError classifies a failed SMTP exchange.
func smtpError(err error, timeout time.Duration) error {
	var se *smtp.SMTPError
	var ne net.Error
	switch {
	case errors.As(err, &se) && (se.Code == 535 || se.Code == 530 || se.Code == 534):
		return &transport.Error{Kind: transport.Auth, Message: fmt.Sprintf("email: the SMTP server refused the credentials: %d %s", se.Code, se.Message)}
	case errors.As(err, &se) && se.Code >= 400 && se.Code < 500:
		return &transport.Error{Kind: transport.Retry, Message: fmt.Sprintf("email: the SMTP server answered %d %s", se.Code, se.Message)}
	case errors.As(err, &se):
		return &transport.Error{Kind: transport.Permanent, Message: fmt.Sprintf("email: the SMTP server answered %d %s", se.Code, se.Message)}
	case errors.As(err, &ne) && ne.Timeout():
		return &transport.Error{Kind: transport.Retry, Message: fmt.Sprintf("email: no answer within %s", timeout)}
	}
	return &transport.Error{Kind: transport.Retry, Message: "email: " + err.Error()}
}

// compose returns the message as RFC 5322 text: a UTF-8 plain-text body
// in quoted-printable, the subject encoded as RFC 2047 words (so that no
// line break in a rule's name or an actor starts a header), and
// Auto-Submitted so that auto-responders do not answer.
func (e *Email) compose(to []string, m *Message) []byte {
	var b bytes.Buffer
	h := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	h("From", e.From)
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	h("Date", time.Now().UTC().Format(time.RFC1123Z))
	h("Message-ID", "<"+oneLine(m.ID)+"@auditkeep>")
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	h("Content-Type", `text/plain; charset="utf-8"`)
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := m.Text
	if m.Link != "" {
		body += "\n\nMatching events: " + m.Link
	}
	qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n") + "\r\n"))
	qp.Close()
	return b.Bytes()
}

// oneLine replaces control characters (CR and LF included) with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
