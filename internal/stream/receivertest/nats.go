package receivertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SharedNATSURL is the NATS server with JetStream that the machines
// running auditkeep's tests have.
const SharedNATSURL = "nats://127.0.0.1:4222"

// SharedNATS returns SharedNATSURL when a server answers there; it skips
// the test otherwise (and fails it under CI=true).
func SharedNATS(t testing.TB) string {
	t.Helper()
	nc, err := nats.Connect(SharedNATSURL, nats.Timeout(2*time.Second), nats.NoReconnect())
	if err == nil {
		nc.Close()
		return SharedNATSURL
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("a NATS server with JetStream is required at %s under CI=true: %v", SharedNATSURL, err)
	}
	t.Skipf("no NATS server at %s (%v)", SharedNATSURL, err)
	return ""
}

// NATSServerPath is the nats-server binary StartNATS runs.
const NATSServerPath = "/usr/sbin/nats-server"

// NATS is a nats-server with JetStream of a test's own, on a loopback
// port, its store in the test's temporary directory, to restart or to
// give credentials.
type NATS struct {
	URL string
	// Certs are its TLS certificates (StartNATSTLS).
	Certs Certs

	t    testing.TB
	args []string
	proc process
	port int
}

// StartNATS starts nats-server with JetStream; token, when not empty, is
// the token it requires. It skips the test when nats-server is not
// installed (and fails it under CI=true).
func StartNATS(t testing.TB, token string) *NATS {
	t.Helper()
	return startNATS(t, token, false)
}

// StartNATSTLS starts nats-server as StartNATS does, requiring TLS with
// the certificate of n.Certs; its URL is tls://.
func StartNATSTLS(t testing.TB, token string) *NATS {
	t.Helper()
	return startNATS(t, token, true)
}

func startNATS(t testing.TB, token string, useTLS bool) *NATS {
	t.Helper()
	if _, err := os.Stat(NATSServerPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nats-server is required under CI=true: %v", err)
		}
		t.Skipf("nats-server not installed: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n := &NATS{t: t, port: port, URL: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	n.args = []string{"-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", t.TempDir()}
	if token != "" {
		n.args = append(n.args, "--auth", token)
	}
	if useTLS {
		n.Certs = NewCerts(t)
		dir := t.TempDir()
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if os.WriteFile(cert, []byte(n.Certs.Cert), 0o600) != nil || os.WriteFile(key, []byte(n.Certs.Key), 0o600) != nil {
			t.Fatal("cannot write the server's certificate")
		}
		n.args = append(n.args, "--tls", "--tlscert", cert, "--tlskey", key)
		n.URL = fmt.Sprintf("tls://127.0.0.1:%d", port)
	}
	n.start()
	t.Cleanup(n.Stop)
	return n
}

func (n *NATS) start() {
	n.t.Helper()
	n.proc.start(n.t, func() bool { return listening(fmt.Sprintf("127.0.0.1:%d", n.port)) }, NATSServerPath, n.args...)
}

// Stop stops nats-server (SIGTERM) and waits for it.
func (n *NATS) Stop() { n.proc.stop() }

// Restart stops nats-server and starts it again on the same port and
// store.
func (n *NATS) Restart() {
	n.t.Helper()
	n.Stop()
	n.start()
}

// JetStream connects to url with the options and returns its JetStream
// context; the connection closes when the test ends.
func JetStream(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// CreateStream creates a file-stored JetStream stream named name taking
// subject, deleted when the test ends.
func CreateStream(t testing.TB, js jetstream.JetStream, name, subject string) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), name) })
	return s
}

// StreamMessages reads every message the stream holds, in order.
func StreamMessages(t testing.TB, js jetstream.JetStream, name string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := int(info.State.Msgs)
	if total == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for len(msgs) < total {
		if ctx.Err() != nil {
			t.Fatalf("read %d of the %d messages of stream %s", len(msgs), total, name)
		}
		batch, err := c.Fetch(min(total-len(msgs), 1000), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			t.Fatal(err)
		}
	}
	return msgs
}
