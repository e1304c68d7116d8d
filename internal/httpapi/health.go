package httpapi

import (
	"context"
	"net/http"
	"time"
)

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 503 while storage cannot be reached, and 503
// {"status": "ledger_broken", "broken_tenants": {tenant: reason}} while a
// tenant's ledger is broken (or, on this node, signed by another key): the
// ledger fails closed, and an operator must rebuild it.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	unavailable := func() {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	if err := s.store.Ping(ctx); err != nil {
		unavailable()
		return
	}
	if s.ledger != nil && s.ledger.Storage != nil {
		broken, err := s.ledger.Storage.BrokenTenants(ctx)
		if err != nil {
			unavailable()
			return
		}
		if s.ledger.Held != nil {
			for t, reason := range s.ledger.Held() {
				if _, ok := broken[t]; !ok {
					broken[t] = reason
				}
			}
		}
		if len(broken) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "ledger_broken", "broken_tenants": broken})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
