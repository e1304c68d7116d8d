// Package clientip finds the address of the client that sent an HTTP
// request when reverse proxies stand between it and the server.
//
// The rule, which auditkeep's server and the client package's middleware
// both follow: the connection's peer is the client unless it is a trusted
// proxy. Only when it is one is the forwarding header read, from right to
// left (each proxy appends the address it received the request from), and
// the first address that is not a trusted proxy is the client's. What a
// client writes in the header itself is further left and never reached
// past an untrusted hop. A hop that is not an address (a forged or
// obfuscated value, "unknown") stops the walk at the last address known.
//
// One header is read, X-Forwarded-For by default or Forwarded (RFC 7239),
// never both: a client can send either, so only the one the proxies write
// can be believed.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The forwarding headers a Resolver reads.
const (
	XForwardedFor = "X-Forwarded-For"
	Forwarded     = "Forwarded"
)

// Resolver finds a request's client address.
type Resolver struct {
	// Trusted are the networks of the reverse proxies in front of the
	// server. With none, the client is always the connection's peer.
	Trusted []netip.Prefix
	// Header is the forwarding header the trusted proxies write:
	// XForwardedFor (when empty) or Forwarded.
	Header string
}

// Addr returns the client address of r (IPv4-mapped IPv6 as IPv4, without
// zone), and false when the peer's address is not an IP address (a Unix
// socket).
func (res Resolver) Addr(r *http.Request) (netip.Addr, bool) {
	addr, ok := ParseAddr(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !res.trusted(addr) {
		return addr, true
	}
	var hops []string
	if strings.EqualFold(res.Header, Forwarded) {
		hops = forwardedFor(r.Header.Values(Forwarded))
	} else {
		hops = strings.Split(strings.Join(r.Header.Values(XForwardedFor), ","), ",")
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := ParseAddr(strings.TrimSpace(hops[i]))
		if !ok {
			break
		}
		addr = a
		if !res.trusted(a) {
			break
		}
	}
	return addr, true
}

// String returns the client address of r as text, or "" when the peer's
// address is not an IP address.
func (res Resolver) String(r *http.Request) string {
	a, ok := res.Addr(r)
	if !ok {
		return ""
	}
	return a.String()
}

func (res Resolver) trusted(a netip.Addr) bool {
	for _, p := range res.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseAddr reads an IP address written alone, in brackets, or with a port
// (203.0.113.7, 2001:db8::1, [2001:db8::1], 203.0.113.7:443,
// [2001:db8::1]:443).
func ParseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// ParsePrefixes reads a comma-separated list of networks (10.0.0.0/8,
// fd00::/8) or single addresses (192.0.2.10, as /32 or /128).
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a network (10.0.0.0/8) or an address", f)
			}
			a = a.Unmap().WithZone("")
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network (10.0.0.0/8) or an address", f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// forwardedFor returns the for= value of each element of Forwarded
// headers, in order; an element without one gives "" (not an address, so
// a walk stops there).
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, elem := range splitQuoted(v, ',') {
			addr := ""
			for _, pair := range splitQuoted(elem, ';') {
				name, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "for") {
					continue
				}
				val = strings.TrimSpace(val)
				if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
					val = strings.ReplaceAll(val[1:len(val)-1], `\`, "")
				}
				addr = val
			}
			out = append(out, addr)
		}
	}
	return out
}

// splitQuoted splits s at sep outside quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, quoted, escaped := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
