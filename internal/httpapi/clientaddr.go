package httpapi

import (
	"math"
	"net"
	"net/http"
	"strconv"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/clientip"
)

// withClientAddr sets each request's RemoteAddr to its client's address,
// found by the configured rule (package clientip; "Behind a proxy" in
// README.md): the connection's peer, or, from a trusted proxy, the address
// its forwarding header names. Everything that records or limits by
// address (clientIP, the rate limit of refused credentials) reads it
// there. A forwarded address carries port 0.
//
// With a rate limit set, requests refused as unauthenticated (401: an
// unknown, revoked or missing key, a failed console sign-in) also take a
// token of their client address's bucket; while it is empty, that address
// is answered 429 before its credential is looked at.
func (s *Server) withClientAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr, ok := s.clientIP.Addr(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		port := "0"
		if peer, _ := clientip.ParseAddr(r.RemoteAddr); peer == addr {
			if _, p, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				port = p
			}
		}
		r2 := *r
		r2.RemoteAddr = net.JoinHostPort(addr.String(), port)
		if s.refusals == nil {
			next.ServeHTTP(w, &r2)
			return
		}
		now := s.Now()
		l := s.refusals.limiter(addr.String(), now)
		if tokens := l.TokensAt(now); tokens < 1 {
			secs := max(1, int(math.Ceil((1-tokens)/float64(l.Limit()))))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			s.writeError(w, &r2, &auditkeep.Error{Code: auditkeep.ERATELIMITED,
				Message: "too many refused credentials from this address; retry after " + strconv.Itoa(secs) + "s"})
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, &r2)
		if sw.status == http.StatusUnauthorized {
			l.AllowN(s.Now(), 1)
		}
	})
}
