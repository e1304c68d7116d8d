package main

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"

	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

// TestTrustedProxiesServe runs the server with --trusted-proxies and a rate
// limit: refused keys sent through the trusted proxy count against the
// forwarded client, those from an untrusted peer against the peer, whatever
// header it forges.
func TestTrustedProxiesServe(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit, cfg.RateBurst = 0.001, 1
	getenv := func(k string) string {
		return map[string]string{"AUDITKEEP_TRUSTED_PROXIES": "127.0.0.2", "AUDITKEEP_CLIENT_IP_HEADER": "forwarded"}[k]
	}
	cfg.Network.fromEnv(getenv)
	if err := cfg.Network.validate(); err != nil {
		t.Fatal(err)
	}
	a := testServer(t, cfg)
	do := func(src, forwarded string) int {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		req, _ := http.NewRequest("GET", a.URL()+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer ak_unknown")
		req.Header.Set("Forwarded", forwarded)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	steps := []struct {
		src, forwarded string
		want           int
	}{
		{"127.0.0.2", "for=198.51.100.1", 401},
		{"127.0.0.2", "for=198.51.100.1", 429}, // that client's bucket is empty
		{"127.0.0.2", "for=198.51.100.2", 401}, // another client behind the proxy
		{"127.0.0.3", "for=198.51.100.3", 401},
		{"127.0.0.3", "for=198.51.100.4", 429}, // the forged header changes nothing
	}
	for i, s := range steps {
		if got := do(s.src, s.forwarded); got != s.want {
			t.Errorf("step %d: from %s, Forwarded %q: %d; want %d", i, s.src, s.forwarded, got, s.want)
		}
	}
}

// TestRecordedAddressServe: an operation auditkeep records in the tenant's
// log (here stream.create) carries the client's address: the one the
// trusted proxy forwarded, or the peer's when a client forges the header.
func TestRecordedAddressServe(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Network.TrustedProxies = "127.0.0.2"
	a := testServer(t, cfg)
	key := setupTenant(t, a.URL(), "acme")
	secret := newWebhookSecret()
	rc := receivertest.NewWebhook(t, secret)
	create := func(src, name, xff string) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		req := mustReq("POST", a.URL()+"/v1/streams", key, map[string]any{"name": name, "type": "webhook", "format": "native",
			"settings": map[string]any{"url": rc.URL}, "secret": secret})
		req.Header.Set("X-Forwarded-For", xff)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 201 {
			t.Fatalf("create stream %s from %s: %d", name, src, res.StatusCode)
		}
	}
	create("127.0.0.2", "behind-proxy", "203.0.113.9, 198.51.100.20")
	create("127.0.0.3", "forged", "198.51.100.21")
	r := call(t, "GET", a.URL()+"/v1/events?action=stream.create&source=auditkeep", key, nil)
	var page struct {
		Events []struct {
			Target  struct{ Name string }
			Context struct{ IP string }
		}
	}
	if err := json.Unmarshal(r.body, &page); err != nil || r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	got := map[string]string{}
	for _, e := range page.Events {
		got[e.Target.Name] = e.Context.IP
	}
	if got["behind-proxy"] != "198.51.100.20" || got["forged"] != "127.0.0.3" {
		t.Errorf("recorded addresses %v; want behind-proxy 198.51.100.20 (forwarded by the trusted proxy) and forged 127.0.0.3 (the peer)", got)
	}
}
