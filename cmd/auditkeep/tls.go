package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// certificate is the server's TLS certificate, read from its files at start
// and again on each reload. A handshake takes the one loaded last; a
// connection keeps the one it shook hands with.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the certificate chain and key, PEM-encoded.
func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again. On an error the certificate in use stays.
func (c *certificate) reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls-cert (AUDITKEEP_TLS_CERT) and tls-key (AUDITKEEP_TLS_KEY): %w", err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("tls-cert (AUDITKEEP_TLS_CERT): %w", err)
		}
	}
	c.current.Store(&pair)
	return nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}

// listener serves TLS on ln with the certificate, HTTP/2 offered first.
func (c *certificate) listener(ln net.Listener) net.Listener {
	return tls.NewListener(ln, &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.get,
		NextProtos:     []string{"h2", "http/1.1"},
	})
}

// reloadTLS reads the TLS certificate's files again (SIGHUP): new
// connections get the new certificate; open ones keep theirs and are not
// closed. A certificate that cannot be read is logged and the old one kept.
func (a *app) reloadTLS() {
	if a.cert == nil {
		return
	}
	if err := a.cert.reload(); err != nil {
		a.log.Error("TLS certificate not reloaded; the previous one stays in use", "err", err)
		return
	}
	leaf := a.cert.current.Load().Leaf
	a.log.Info("TLS certificate reloaded", slog.String("subject", leaf.Subject.String()), slog.Time("not_after", leaf.NotAfter))
}

// reloadSignal returns the channel of SIGHUP, which reloads the TLS
// certificate, when TLS is configured; nil otherwise (SIGHUP then keeps its
// usual effect). Called before Open, so that no SIGHUP that comes once the
// server listens is lost.
func (a *app) reloadSignal() chan os.Signal {
	if a.cfg.Network.TLSCert == "" {
		return nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// awaitStop returns when ctx ends, reloading the TLS certificate at each
// signal on reload meanwhile.
func (a *app) awaitStop(ctx context.Context, reload chan os.Signal) {
	if reload != nil {
		defer signal.Stop(reload)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			a.reloadTLS()
		}
	}
}
