package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/clientip"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

const testRoot = "root-key-for-client-address-tests"

// proxyTestServer serves s's handler, or h when given, on loopback over a
// fresh embedded store, trusting 127.0.0.2 as a proxy that writes header.
func proxyTestServer(t *testing.T, header string, rateLimit float64, burst int, h func(*Server) http.Handler) (*Server, *sqlite.Store, string) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	c := ingest.NewCommitter(st)
	s := New(st, ingest.NewService(c), Config{RootKeyHash: HashKey(testRoot), Logger: quiet, RateLimit: rateLimit, RateBurst: burst,
		ClientIP: clientip.Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Header: header}})
	c.OnCommit = s.ObserveCommit
	c.Open()
	handler := s.Handler()
	if h != nil {
		handler = h(s)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		srv.Close()
		c.Close()
		st.Close()
	})
	if err := st.CreateTenant(context.Background(), &auditkeep.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	return s, st, srv.URL
}

// from returns a client whose connections come from the loopback address src.
func from(t *testing.T, src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func send(t *testing.T, c *http.Client, method, url, key string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// TestRecordedAddressBehindProxy: the events auditkeep records of its own
// operations carry the client's address, forwarded only by a trusted
// proxy; a header a client forges is ignored.
func TestRecordedAddressBehindProxy(t *testing.T) {
	for _, header := range []string{clientip.XForwardedFor, clientip.Forwarded} {
		t.Run(header, func(t *testing.T) {
			_, st, base := proxyTestServer(t, header, 0, 0, func(s *Server) http.Handler {
				return s.withClientAddr(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					err := s.record(r, "acme", Audit{Action: "thing.run", Type: "execute", Actor: &auditkeep.Actor{Type: "system", ID: "test"},
						Description: r.URL.Query().Get("case")})
					if err != nil {
						t.Errorf("record: %v", err)
					}
				}))
			})
			fwd := func(addrs ...string) string {
				if header == clientip.XForwardedFor {
					return strings.Join(addrs, ", ")
				}
				for i, a := range addrs {
					addrs[i] = `for="` + a + `"`
				}
				return strings.Join(addrs, ", ")
			}
			tests := []struct {
				name, src, value, want string
			}{
				{"untrusted-forged", "127.0.0.3", fwd("198.51.100.1"), "127.0.0.3"},
				{"untrusted-forged-proxy", "127.0.0.3", fwd("198.51.100.1", "127.0.0.2"), "127.0.0.3"},
				{"trusted", "127.0.0.2", fwd("198.51.100.7"), "198.51.100.7"},
				{"trusted-forged-left", "127.0.0.2", fwd("6.6.6.6", "198.51.100.8"), "198.51.100.8"},
				{"trusted-hops", "127.0.0.2", fwd("198.51.100.9", "127.0.0.2"), "198.51.100.9"},
				{"trusted-none", "127.0.0.2", "", "127.0.0.2"},
			}
			for _, tt := range tests {
				var h []string
				if tt.value != "" {
					h = []string{header, tt.value}
				}
				if res := send(t, from(t, tt.src), "POST", base+"/?case="+tt.name, "", h...); res.StatusCode != 200 {
					t.Fatalf("%s: status %d", tt.name, res.StatusCode)
				}
			}
			events, _, err := st.ListEvents(context.Background(), "acme", auditkeep.Filter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, e := range events {
				got[e.Description] = e.Context.IP
			}
			for _, tt := range tests {
				if got[tt.name] != tt.want {
					t.Errorf("%s (from %s, %s: %q): context.ip = %q; want %q", tt.name, tt.src, header, tt.value, got[tt.name], tt.want)
				}
			}
		})
	}
}

// TestRefusedCredentialsLimitedByClient: with a rate limit, refused
// credentials empty their client's bucket: the client behind the proxy,
// not the proxy, and a client that forges the header is limited as itself.
func TestRefusedCredentialsLimitedByClient(t *testing.T) {
	_, _, base := proxyTestServer(t, "", 0.001, 2, nil)
	key := "ak_" + strings.Repeat("x", 52) // unknown
	proxy, attacker := from(t, "127.0.0.2"), from(t, "127.0.0.3")
	for i := range 2 {
		if res := send(t, proxy, "GET", base+"/v1/events", key, "X-Forwarded-For", "198.51.100.1"); res.StatusCode != 401 {
			t.Fatalf("bad key %d behind the proxy: %d; want 401", i, res.StatusCode)
		}
	}
	res := send(t, proxy, "GET", base+"/v1/events", key, "X-Forwarded-For", "198.51.100.1")
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("third bad key from 198.51.100.1: %d (Retry-After %q); want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res := send(t, proxy, "GET", base+"/healthz", "", "X-Forwarded-For", "198.51.100.2"); res.StatusCode != 200 {
		t.Errorf("another client behind the same proxy: %d; want 200", res.StatusCode)
	}
	if res := send(t, proxy, "GET", base+"/v1/events", key, "X-Forwarded-For", "198.51.100.2"); res.StatusCode != 401 {
		t.Errorf("another client's bad key behind the same proxy: %d; want 401", res.StatusCode)
	}
	// The attacker forges a new address with each request: ignored.
	for i, forged := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		want := 401
		if i == 2 {
			want = 429
		}
		if res := send(t, attacker, "GET", base+"/v1/events", key, "X-Forwarded-For", forged); res.StatusCode != want {
			t.Errorf("bad key %d from 127.0.0.3 claiming %s: %d; want %d", i, forged, res.StatusCode, want)
		}
	}
	if res := send(t, attacker, "GET", base+"/healthz", ""); res.StatusCode != 429 {
		t.Errorf("127.0.0.3 once limited: %d; want 429", res.StatusCode)
	}
}
