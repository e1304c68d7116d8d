package clientip_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/auditkeep/auditkeep/clientip"
)

var trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}

func TestResolver(t *testing.T) {
	const xff, fwd = clientip.XForwardedFor, clientip.Forwarded
	tests := []struct {
		header string
		remote string
		values []string
		want   string
	}{
		{xff, "203.0.113.7:5000", nil, "203.0.113.7"},
		{xff, "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},       // not from a trusted proxy: ignored
		{xff, "203.0.113.7:5000", []string{"10.0.0.9, 10.0.0.8"}, "203.0.113.7"}, // a forged trusted chain too
		{xff, "10.0.0.2:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{xff, "10.0.0.2:5000", []string{"6.6.6.6, 198.51.100.1, 10.0.0.3"}, "198.51.100.1"}, // the forged left part is skipped
		{xff, "10.0.0.2:5000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},         // several header lines
		{xff, "10.0.0.2:5000", []string{"10.0.0.5, 10.0.0.4"}, "10.0.0.5"},                  // all trusted: the farthest
		{xff, "10.0.0.2:5000", []string{"garbage, 10.0.0.4"}, "10.0.0.4"},                   // stop at garbage
		{xff, "10.0.0.2:5000", []string{"198.51.100.1, unknown"}, "10.0.0.2"},               // a hop not an address
		{xff, "10.0.0.2:5000", []string{""}, "10.0.0.2"},                                    // empty header
		{xff, "10.0.0.2:5000", nil, "10.0.0.2"},                                             // no header
		{xff, "[fd00::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},                      // IPv6
		{xff, "[::ffff:203.0.113.9]:80", nil, "203.0.113.9"},                                // mapped IPv4
		{xff, "[::ffff:10.0.0.2]:80", []string{"::ffff:198.51.100.4"}, "198.51.100.4"},      // mapped trusted peer
		{xff, "10.0.0.2:5000", []string{"[2001:db8::8]:1234"}, "2001:db8::8"},               // with a port
		{xff, "10.0.0.2:5000", []string{"198.51.100.1:1234"}, "198.51.100.1"},
		{xff, "10.0.0.2:5000", []string{"[2001:db8::9]"}, "2001:db8::9"},
		{xff, "@", []string{"198.51.100.1"}, ""},                               // not an address (unix socket)
		{fwd, "203.0.113.7:5000", []string{"for=198.51.100.1"}, "203.0.113.7"}, // not from a trusted proxy: ignored
		{fwd, "10.0.0.2:5000", []string{"for=198.51.100.1"}, "198.51.100.1"},
		{fwd, "10.0.0.2:5000", []string{"for=198.51.100.1;proto=https;by=10.0.0.2"}, "198.51.100.1"},
		{fwd, "10.0.0.2:5000", []string{"For=\"198.51.100.1:4711\""}, "198.51.100.1"},
		{fwd, "10.0.0.2:5000", []string{`for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{fwd, "10.0.0.2:5000", []string{"for=6.6.6.6, for=198.51.100.1, for=10.0.0.3"}, "198.51.100.1"},
		{fwd, "10.0.0.2:5000", []string{"for=6.6.6.6", "for=198.51.100.1"}, "198.51.100.1"},
		{fwd, "10.0.0.2:5000", []string{`for="6.6.6.6, for=7.7.7.7", for=198.51.100.1`}, "198.51.100.1"}, // a comma in quotes
		{fwd, "10.0.0.2:5000", []string{`for="7.7.7.7;x", for=10.0.0.4`}, "10.0.0.4"},                    // a forged quoted hop
		{fwd, "10.0.0.2:5000", []string{"for=198.51.100.1, for=_hidden"}, "10.0.0.2"},                    // obfuscated hop
		{fwd, "10.0.0.2:5000", []string{"for=198.51.100.1, proto=http"}, "10.0.0.2"},                     // a hop without for=
		{fwd, "10.0.0.2:5000", []string{"for=unknown"}, "10.0.0.2"},
		{fwd, "10.0.0.2:5000", nil, "10.0.0.2"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tt.remote
		for _, v := range tt.values {
			req.Header.Add(tt.header, v)
		}
		other := map[string]string{xff: fwd, fwd: xff}[tt.header]
		req.Header.Set(other, map[string]string{xff: "192.0.2.66", fwd: "for=192.0.2.66"}[other]) // not the header read
		res := clientip.Resolver{Trusted: trusted, Header: tt.header}
		if got := res.String(req); got != tt.want {
			t.Errorf("client of remote %s, %s %q = %q; want %q", tt.remote, tt.header, tt.values, got, tt.want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := clientip.ParsePrefixes(" 10.0.0.0/8, 192.0.2.10 ,fd00::/8,::1, 10.1.2.3/16,::ffff:172.16.0.0/108")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.10/32", "fd00::/8", "::1/128", "10.1.0.0/16", "172.16.0.0/12"}
	if len(got) != len(want) {
		t.Fatalf("ParsePrefixes = %v; want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("ParsePrefixes[%d] = %v; want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/8,nope"} {
		if _, err := clientip.ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) = nil error; want one", bad)
		}
	}
	if got, err := clientip.ParsePrefixes(""); err != nil || len(got) != 0 {
		t.Errorf(`ParsePrefixes("") = %v, %v; want none`, got, err)
	}
}
