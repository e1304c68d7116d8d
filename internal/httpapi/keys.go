package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
)

// keyUses remembers, per key, the minute of its latest use that this node
// wrote to the store, so that a key's use costs at most one write a minute
// (README "Keys and sessions"). The zero value is ready.
type keyUses struct {
	mu sync.Mutex
	m  map[string]time.Time // tenant/id → minute written
}

// due reports whether the use of the key at minute m is to be written, and
// if so remembers it as written.
func (u *keyUses) due(k *auditkeep.APIKey, m time.Time) bool {
	id := k.Tenant + "/" + k.ID
	u.mu.Lock()
	defer u.mu.Unlock()
	if last, ok := u.m[id]; ok && !m.After(last) {
		return false
	}
	if k.LastUsedAt != nil && !m.After(*k.LastUsedAt) {
		return false // the store holds this minute already (another node wrote it)
	}
	if u.m == nil || len(u.m) >= keyCacheMax {
		u.m = map[string]time.Time{}
	}
	u.m[id] = m
	return true
}

// touchKey writes the minute of k's use at now, at most once a minute per
// key; a failure is logged: the request goes on.
func (s *Server) touchKey(ctx context.Context, k *auditkeep.APIKey, now time.Time) {
	m := now.UTC().Truncate(time.Minute)
	if !s.keyUses.due(k, m) {
		return
	}
	if err := s.store.TouchKey(context.WithoutCancel(ctx), k.Tenant, k.ID, m); err != nil {
		s.log.Warn("could not record a key's last use", "tenant", k.Tenant, "key_id", k.ID, "err", err)
	}
}

// expiredKey is the refusal of a key past its expiry.
func expiredKey(k *auditkeep.APIKey) error {
	return auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "the key expired at %s", k.ExpiresAt.UTC().Format(time.RFC3339))
}

type keysBody struct {
	Keys []*auditkeep.APIKey `json:"keys"`
}

// handleListKeys serves GET /v1/tenants/{tenant}/keys (root or admin): the
// tenant's keys, revoked and expired ones too, oldest first, without their
// secrets.
func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.store.ListKeys(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, keysBody{Keys: keys})
	return nil
}
