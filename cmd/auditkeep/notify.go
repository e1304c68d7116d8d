package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/url"
	"os"

	"github.com/auditkeep/auditkeep/internal/alert/notify"
	"github.com/prometheus/client_golang/prometheus"
)

// NotifyConfig is the alert notifications' part of the server's
// configuration.
type NotifyConfig struct {
	PublicURL    string // --public-url, AUDITKEEP_PUBLIC_URL: the console's address, for links
	SMTPAddr     string // --smtp-addr, AUDITKEEP_SMTP_ADDR: host:port of the SMTP server
	SMTPFrom     string // --smtp-from, AUDITKEEP_SMTP_FROM: the sender address
	SMTPUsername string // --smtp-username, AUDITKEEP_SMTP_USERNAME
	SMTPPassword string // AUDITKEEP_SMTP_PASSWORD (environment only: flags show in ps)
	SMTPCA       string // --smtp-ca, AUDITKEEP_SMTP_CA: a PEM file of the roots to trust instead of the system's
}

var notifySettings = []configSetting{
	{"public-url", "AUDITKEEP_PUBLIC_URL", "the console's address as people reach it (https://audit.example.com), for the links in alert notifications"},
	{"smtp-addr", "AUDITKEEP_SMTP_ADDR", "the SMTP server alert emails go through, host:port; always over STARTTLS"},
	{"smtp-from", "AUDITKEEP_SMTP_FROM", "the sender address of alert emails"},
	{"smtp-username", "AUDITKEEP_SMTP_USERNAME", "the SMTP user (AUTH PLAIN after STARTTLS); its password is AUDITKEEP_SMTP_PASSWORD"},
	{"", "AUDITKEEP_SMTP_PASSWORD", "the SMTP user's password"},
	{"smtp-ca", "AUDITKEEP_SMTP_CA", "a PEM file of the certificates to trust for the SMTP server instead of the system's roots"},
}

func init() { configSettings = append(configSettings, notifySettings...) }

func (c *NotifyConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "the console's address as people reach it, for links in alert notifications (AUDITKEEP_PUBLIC_URL)")
	fs.StringVar(&c.SMTPAddr, "smtp-addr", c.SMTPAddr, "host:port of the SMTP server alert emails go through, over STARTTLS (AUDITKEEP_SMTP_ADDR)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", c.SMTPFrom, "the sender address of alert emails (AUDITKEEP_SMTP_FROM)")
	fs.StringVar(&c.SMTPUsername, "smtp-username", c.SMTPUsername, "the SMTP user; the password is read from AUDITKEEP_SMTP_PASSWORD (AUDITKEEP_SMTP_USERNAME)")
	fs.StringVar(&c.SMTPCA, "smtp-ca", c.SMTPCA, "PEM file of the certificates to trust for the SMTP server instead of the system's roots (AUDITKEEP_SMTP_CA)")
}

func (c *NotifyConfig) fromEnv(getenv func(string) string) {
	for _, s := range []struct {
		env string
		dst *string
	}{{"AUDITKEEP_PUBLIC_URL", &c.PublicURL}, {"AUDITKEEP_SMTP_ADDR", &c.SMTPAddr}, {"AUDITKEEP_SMTP_FROM", &c.SMTPFrom},
		{"AUDITKEEP_SMTP_USERNAME", &c.SMTPUsername}, {"AUDITKEEP_SMTP_PASSWORD", &c.SMTPPassword}, {"AUDITKEEP_SMTP_CA", &c.SMTPCA}} {
		if v := getenv(s.env); v != "" {
			*s.dst = v
		}
	}
}

func (c *NotifyConfig) validate() error {
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
			return fmt.Errorf("public-url (AUDITKEEP_PUBLIC_URL): %q is not an http or https URL such as https://audit.example.com", c.PublicURL)
		}
	}
	if e, err := c.email(); err != nil {
		return err
	} else if e != nil {
		if err := e.Check(); err != nil {
			return fmt.Errorf("smtp-addr (AUDITKEEP_SMTP_ADDR), smtp-from (AUDITKEEP_SMTP_FROM): %v", err)
		}
	} else if c.SMTPFrom != "" || c.SMTPUsername != "" || c.SMTPPassword != "" || c.SMTPCA != "" {
		return fmt.Errorf("smtp-addr (AUDITKEEP_SMTP_ADDR): required with smtp-from, smtp-username or AUDITKEEP_SMTP_PASSWORD")
	}
	if c.SMTPPassword != "" && c.SMTPUsername == "" {
		return fmt.Errorf("smtp-username (AUDITKEEP_SMTP_USERNAME): required with AUDITKEEP_SMTP_PASSWORD")
	}
	return nil
}

// email is the SMTP sender, nil when no server is set.
func (c *NotifyConfig) email() (*notify.Email, error) {
	if c.SMTPAddr == "" {
		return nil, nil
	}
	e := &notify.Email{Addr: c.SMTPAddr, From: c.SMTPFrom, Username: c.SMTPUsername, Password: c.SMTPPassword}
	if c.SMTPCA != "" {
		b, err := os.ReadFile(c.SMTPCA)
		if err != nil {
			return nil, fmt.Errorf("smtp-ca (AUDITKEEP_SMTP_CA): %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("smtp-ca (AUDITKEEP_SMTP_CA): %s holds no PEM certificate", c.SMTPCA)
		}
		e.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return e, nil
}

// openNotifier makes the alert notifier (not started), its channel
// secrets sealed under the stream key.
func (a *app) openNotifier(ctx context.Context, reg prometheus.Registerer) (*notify.Notifier, error) {
	ns, ok := a.store.(notify.Store)
	if !ok {
		return nil, fmt.Errorf("alerts: the store keeps no alert notifications")
	}
	key, err := a.streamKey(ctx)
	if err != nil {
		return nil, err
	}
	email, err := a.cfg.Notify.email()
	if err != nil {
		return nil, err
	}
	return notify.New(notify.Config{Store: ns, Key: key, Owner: a.streams.Owner(), Email: email,
		PublicURL: a.cfg.Notify.PublicURL, Logger: a.log, Registry: reg})
}
