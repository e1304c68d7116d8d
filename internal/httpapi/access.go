package httpapi

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
)

// accessSetting is the name of the tenant setting that holds its
// accessSettings.
const accessSetting = "access"

// accessSettings are the tenant's rules for the people and keys that read
// its log (README "Keys and sessions", "The audit of the audit").
type accessSettings struct {
	// SessionIdleMinutes ends a console session after this many minutes
	// without a request; 0: no idle timeout.
	SessionIdleMinutes int `json:"session_idle_minutes"`
	// SessionAbsoluteHours ends a console session this many hours after
	// sign-in, whatever its use; 0: the server's default (12).
	SessionAbsoluteHours int `json:"session_absolute_hours"`
	// RecordReads records lists and searches in the tenant's log, one event
	// per session (or key) and hour.
	RecordReads bool `json:"record_reads"`
	// RequireExportReason refuses an export without a stated reason.
	RequireExportReason bool `json:"require_export_reason"`
}

// Bounds of the session timeouts.
const (
	maxSessionIdleMinutes   = 7 * 24 * 60
	maxSessionAbsoluteHours = 90 * 24
	defaultSessionAbsolute  = 12 * time.Hour
)

// validate returns EINVALID naming the bad field.
func (a accessSettings) validate() error {
	if a.SessionIdleMinutes < 0 || a.SessionIdleMinutes > maxSessionIdleMinutes {
		return auditkeep.FieldErrorf("session_idle_minutes", "session_idle_minutes must be from 0 (no idle timeout) to %d", maxSessionIdleMinutes)
	}
	if a.SessionAbsoluteHours < 0 || a.SessionAbsoluteHours > maxSessionAbsoluteHours {
		return auditkeep.FieldErrorf("session_absolute_hours", "session_absolute_hours must be from 0 (the default, 12) to %d", maxSessionAbsoluteHours)
	}
	return nil
}

// idle is the idle timeout (0: none); absolute the longest session.
func (a accessSettings) idle() time.Duration {
	return time.Duration(a.SessionIdleMinutes) * time.Minute
}
func (a accessSettings) absolute() time.Duration {
	if a.SessionAbsoluteHours == 0 {
		return defaultSessionAbsolute
	}
	return time.Duration(a.SessionAbsoluteHours) * time.Hour
}

// accessCacheTTL is how long a node trusts a tenant's access settings read
// from the store: a change made through another node applies within it.
const accessCacheTTL = 5 * time.Second

// accessCache remembers tenants' access settings. The zero value is ready.
type accessCache struct {
	mu sync.Mutex
	m  map[string]cachedAccess
}

type cachedAccess struct {
	a  accessSettings
	at time.Time
}

// access returns the tenant's access settings (the defaults when never
// set). Returns EUNAVAILABLE when storage fails.
func (s *Server) access(ctx context.Context, tenant string) (accessSettings, error) {
	now := time.Now()
	c := &s.accessCache
	c.mu.Lock()
	ca, ok := c.m[tenant]
	c.mu.Unlock()
	if ok && now.Sub(ca.at) < accessCacheTTL && !now.Before(ca.at) {
		return ca.a, nil
	}
	var a accessSettings
	raw, err := s.store.GetSetting(ctx, tenant, accessSetting)
	switch {
	case auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND:
	case err != nil:
		return a, err
	default:
		if err := json.Unmarshal(raw, &a); err != nil {
			return a, err
		}
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= keyCacheMax {
		c.m = map[string]cachedAccess{}
	}
	c.m[tenant] = cachedAccess{a: a, at: now}
	c.mu.Unlock()
	return a, nil
}

// putAccess stores the tenant's access settings.
func (s *Server) putAccess(ctx context.Context, tenant string, a accessSettings) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := s.store.PutSetting(ctx, tenant, accessSetting, raw); err != nil {
		return err
	}
	s.accessCache.mu.Lock()
	delete(s.accessCache.m, tenant)
	s.accessCache.mu.Unlock()
	return nil
}
