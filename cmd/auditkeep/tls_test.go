package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

// testCert writes a new certificate for 127.0.0.1 and its key to certFile
// and keyFile (each beside, then renamed over, as renewal tools do), adds
// its CA to roots, and returns the certificate.
func testCert(t *testing.T, roots *x509.CertPool, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	c := receivertest.NewCerts(t)
	for path, data := range map[string]string{keyFile: c.Key, certFile: c.Cert} {
		if err := os.WriteFile(path+".new", []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	roots.AppendCertsFromPEM([]byte(c.CA))
	block, _ := pem.Decode([]byte(c.Cert))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// tlsClient trusts roots; h2 false keeps it to HTTP/1.1.
func tlsClient(roots *x509.CertPool, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr}
}

// tlsCall sends a request and reports whether it went over a connection
// already open, and with which certificate.
func tlsCall(t *testing.T, c *http.Client, method, u, key, body string) (res *http.Response, data []byte, reused bool) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	}))
	res, err = c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	data, _ = io.ReadAll(res.Body)
	return res, data, reused
}

// TestTLSReloadOnSIGHUP serves HTTPS from a generated certificate, checks
// HTTP/2, replaces the certificate's files and sends SIGHUP: new
// connections get the new certificate, while a live stream and keep-alive
// connections opened before stay open and keep working.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	roots := x509.NewCertPool()
	first := testCert(t, roots, certFile, keyFile)
	srv := startChild(t, nil, "--data", filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(srv.url, "https://127.0.0.1:") {
		t.Fatalf("server URL %q; want https://", srv.url)
	}
	h2, h1 := tlsClient(roots, true), tlsClient(roots, false)

	res, _, _ := tlsCall(t, h2, "GET", srv.url+"/healthz", "", "")
	if res.ProtoMajor != 2 || !res.TLS.PeerCertificates[0].Equal(first) {
		t.Fatalf("GET /healthz over TLS: %s, first certificate %v; want HTTP/2 and the first certificate", res.Proto, res.TLS.PeerCertificates[0].Equal(first))
	}
	if res, _, _ := tlsCall(t, h1, "GET", srv.url+"/healthz", "", ""); res.ProtoMajor != 1 {
		t.Fatalf("an HTTP/1.1 client: %s", res.Proto)
	}
	res, body, _ := tlsCall(t, h2, "POST", srv.url+"/v1/tenants", testRootKey, `{"name":"acme"}`)
	if res.StatusCode != 201 {
		t.Fatalf("create tenant over HTTP/2: %d %s", res.StatusCode, body)
	}
	res, body, _ = tlsCall(t, h2, "POST", srv.url+"/v1/tenants/acme/keys", testRootKey, `{"name":"k","scopes":["ingest","read"]}`)
	var k struct{ Key string }
	if json.Unmarshal(body, &k); res.StatusCode != 201 || k.Key == "" {
		t.Fatalf("create key: %d %s", res.StatusCode, body)
	}
	ingest := func(c *http.Client, id string) (reused bool, cert *x509.Certificate) {
		ev, _ := json.Marshal(event(id, "environment.update", "usr_1"))
		res, body, reused := tlsCall(t, c, "POST", srv.url+"/v1/events", k.Key, string(ev))
		if res.StatusCode != 200 {
			t.Fatalf("ingest %s: %d %s", id, res.StatusCode, body)
		}
		return reused, res.TLS.PeerCertificates[0]
	}
	ingest(h2, "before-reload")
	ingest(h1, "before-reload-h1")

	// A live stream on the HTTP/2 connection, from the start.
	req, _ := http.NewRequest("GET", srv.url+"/v1/stream?since=0&q=-source:auditkeep", nil) // not the key's creation
	req.Header.Set("Authorization", "Bearer "+k.Key)
	stream, err := h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	ids := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stream.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e struct{ ID string }
				json.Unmarshal([]byte(data), &e)
				ids <- e.ID
			}
		}
		close(ids)
	}()
	next := func() string {
		select {
		case id := <-ids:
			return id
		case <-time.After(30 * time.Second):
			t.Fatal("no event on the stream within 30 s")
			return ""
		}
	}
	if got := next(); got != "before-reload" {
		t.Fatalf("stream: first event %q; want before-reload", got)
	}
	if got := next(); got != "before-reload-h1" {
		t.Fatalf("stream: second event %q; want before-reload-h1", got)
	}

	second := testCert(t, roots, certFile, keyFile)
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, _, _ := tlsCall(t, tlsClient(roots, true), "GET", srv.url+"/healthz", "", "")
		if res.TLS.PeerCertificates[0].Equal(second) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connections still get the first certificate (%v) 30 s after SIGHUP", res.TLS.PeerCertificates[0].Equal(first))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The connections opened before are still open, with their certificate.
	for _, c := range []struct {
		name   string
		client *http.Client
		id     string
	}{{"HTTP/2", h2, "after-reload"}, {"HTTP/1.1", h1, "after-reload-h1"}} {
		reused, cert := ingest(c.client, c.id)
		if !reused || !cert.Equal(first) {
			t.Errorf("%s after the reload: reused connection %v, first certificate %v; want the connection opened before, with the first certificate", c.name, reused, cert.Equal(first))
		}
		if got := next(); got != c.id {
			t.Errorf("stream after the reload: %q; want %s", got, c.id)
		}
	}
	if fresh, cert := ingest(tlsClient(roots, true), "fresh"); fresh || !cert.Equal(second) {
		t.Errorf("a new connection: reused %v, second certificate %v; want a new one with the second certificate", fresh, cert.Equal(second))
	}
}

func TestTLSBadReloadKeepsCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := testCert(t, x509.NewCertPool(), certFile, keyFile)
	c, err := loadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = c.reload()
	if err == nil || !strings.Contains(err.Error(), "tls-cert (AUDITKEEP_TLS_CERT)") {
		t.Errorf("reload of a broken file: %v; want an error naming tls-cert", err)
	}
	if got, _ := c.get(nil); !bytes.Equal(got.Certificate[0], first.Raw) {
		t.Error("after a failed reload the certificate changed; want the one loaded before")
	}
	other := filepath.Join(t.TempDir(), "other.crt")
	testCert(t, x509.NewCertPool(), other, filepath.Join(t.TempDir(), "other.key"))
	if _, err := loadCertificate(other, keyFile); err == nil {
		t.Error("a certificate with another certificate's key loaded; want an error")
	}
}
