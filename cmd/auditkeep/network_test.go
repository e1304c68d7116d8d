package main

import (
	"net"
	"net/http"
	"testing"
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
