package receivertest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP is a real SMTP server on loopback (go-smtp) for the alerts'
// email channel: STARTTLS with a test certificate (unless made without
// TLS), and AUTH PLAIN of one user, after STARTTLS only.
type SMTP struct {
	Addr string         // host:port
	CA   string         // PEM of the CA that signed the server's certificate
	Pool *x509.CertPool // CA as a pool, for a client's RootCAs

	user, password string
	srv            *smtp.Server

	mu       sync.Mutex
	messages []SMTPMessage
	rcptErr  error
}

// SMTPMessage is one message the server accepted.
type SMTPMessage struct {
	From string
	To   []string
	TLS  bool   // it came over TLS
	Data []byte // the message as sent (RFC 5322)
}

// NewSMTP starts a server taking user and password; withTLS false makes
// one that offers no STARTTLS (and takes AUTH in the clear). It stops at
// the test's end.
func NewSMTP(t testing.TB, withTLS bool, user, password string) *SMTP {
	t.Helper()
	certs := NewCerts(t)
	s := &SMTP{CA: certs.CA, Pool: x509.NewCertPool(), user: user, password: password}
	s.Pool.AppendCertsFromPEM([]byte(certs.CA))
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s, c: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	if withTLS {
		cert, err := tls.X509KeyPair([]byte(certs.Cert), []byte(certs.Key))
		if err != nil {
			t.Fatal(err)
		}
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	} else {
		s.srv.AllowInsecureAuth = true
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// Messages returns the messages accepted so far.
func (s *SMTP) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.messages...)
}

// SetRcptError makes the server answer RCPT TO with err (an
// *smtp.SMTPError), or accept again with nil.
func (s *SMTP) SetRcptError(err error) {
	s.mu.Lock()
	s.rcptErr = err
	s.mu.Unlock()
}

type smtpSession struct {
	s    *SMTP
	c    *smtp.Conn
	auth bool
	msg  SMTPMessage
}

func (x *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.s.user || password != x.s.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		x.auth = true
		return nil
	}), nil
}

func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !x.auth {
		return smtp.ErrAuthRequired
	}
	_, x.msg.TLS = x.c.TLSConnectionState()
	x.msg.From = from
	return nil
}

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	err := x.s.rcptErr
	x.s.mu.Unlock()
	if err != nil {
		return err
	}
	x.msg.To = append(x.msg.To, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.msg.Data = b
	x.s.mu.Lock()
	x.s.messages = append(x.s.messages, x.msg)
	x.s.mu.Unlock()
	return nil
}

func (x *smtpSession) Reset()        { x.msg = SMTPMessage{} }
func (x *smtpSession) Logout() error { return nil }
