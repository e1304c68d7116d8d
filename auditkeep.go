// Package auditkeep holds the domain of the auditkeep audit log service: the
// event model, filters, tenants and keys, the error type, and the contracts
// that stores fulfil. It knows nothing of SQL, HTTP or HTML.
package auditkeep

import (
	"context"
	"regexp"
	"time"
)

// Key scopes.
const (
	ScopeIngest = "ingest"
	ScopeRead   = "read"
	ScopeExport = "export"
	ScopeAdmin  = "admin"
)

// KeyScopes lists every valid key scope.
var KeyScopes = []string{ScopeIngest, ScopeRead, ScopeExport, ScopeAdmin}

// Tenant is one customer organization; its events are isolated from every other's.
type Tenant struct {
	ID            string    `json:"id"`             // the name given at creation: lowercase letters, digits and '-'
	RetentionDays int       `json:"retention_days"` // 0 means unlimited
	Plan          string    `json:"plan,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

var tenantRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidTenantID reports whether s may name a tenant.
func ValidTenantID(s string) bool { return tenantRe.MatchString(s) }

// APIKey is a tenant's credential. The key itself is shown once at creation;
// only its SHA-256 (Hash) is stored.
type APIKey struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	Hash      string     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// ExpiresAt is when the key stops working on its own; nil: never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// LastUsedAt is the minute of the key's latest use (truncated to the
	// minute: a key's use is written at most once a minute); nil: never used.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Expired reports whether the key has expired at now.
func (k *APIKey) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// HasScope reports whether the key carries scope.
func (k *APIKey) HasScope(scope string) bool {
	for _, s := range k.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// EventStore keeps events. Every method is scoped to one tenant; no call ever
// reads or counts another tenant's events.
type EventStore interface {
	// Append stores events atomically: all of them or, on error, none. Each
	// event has Tenant set and has been validated and normalised. An event
	// whose (Tenant, ID) is already stored, or repeated earlier in events, is
	// not stored again. An event whose ReceivedAt is zero is given the time
	// of the append (SetReceived), on the caller's event as on the stored
	// one; a ReceivedAt that is set is kept. On return, stored events carry
	// their Seq (1, 2, 3, … per tenant, with no gaps, in commit order; the
	// events of one call in the order of events) and duplicates carry Seq
	// 0; nothing else of the events is changed. A successful delete event
	// (Event.DeletesTarget) marks its target deleted on every read of the
	// tenant's events (Target.Deleted). Returns EUNAVAILABLE when storage
	// cannot be reached, ENOTFOUND when a tenant does not exist; on error
	// (a cancelled ctx too) nothing is stored.
	Append(ctx context.Context, events []*Event) error

	// ListEvents returns one page of the tenant's events matching f, in f's
	// order, and the cursor of the next page (nil when this is the last).
	// Returns EINVALID, naming the field as f.Validate does, for every
	// filter f.Validate refuses, and reads nothing then; every other filter
	// runs (see Filter.Validate for what it leaves open). An unknown tenant
	// has no events.
	ListEvents(ctx context.Context, tenant string, f Filter) ([]*Event, *Cursor, error)

	// ScanEvents calls fn for every event matching f, in f's order, ignoring
	// f.Limit, in constant memory; it stops at fn's first error and returns it.
	// Returns EINVALID as ListEvents does, before calling fn.
	ScanEvents(ctx context.Context, tenant string, f Filter, fn func(*Event) error) error

	// GetEvent returns the tenant's event with id. Returns ENOTFOUND, for
	// an unknown tenant too.
	GetEvent(ctx context.Context, tenant, id string) (*Event, error)
}

// DeletesTarget reports whether e, once stored, marks its target deleted
// (Target.Deleted, on every read of the tenant's events naming the same
// target type and id): a delete event with a target that did not fail.
func (e *Event) DeletesTarget() bool {
	return e.Type == TypeDelete && e.Target != nil && e.Status != StatusFailure
}

// TenantStats is a tenant's event count and last seq.
type TenantStats struct {
	Events  int64 // events stored now
	LastSeq int64 // seq of the newest event ever appended (0 when none)
}

// StatsStore counts a tenant's events.
type StatsStore interface {
	// Stats returns the tenant's counts. Returns ENOTFOUND for an unknown
	// tenant, EUNAVAILABLE when storage fails.
	Stats(ctx context.Context, tenant string) (TenantStats, error)
}

// SetReceived gives each event whose ReceivedAt is zero the time now, in
// UTC: what EventStore.Append does to the events it is given.
func SetReceived(events []*Event, now time.Time) {
	now = now.UTC()
	for _, e := range events {
		if e.ReceivedAt.IsZero() {
			e.ReceivedAt = now
		}
	}
}

// TenantStore keeps tenants, keys and settings.
type TenantStore interface {
	// CreateTenant stores a new tenant. Returns ECONFLICT if the ID is taken.
	CreateTenant(ctx context.Context, t *Tenant) error
	// GetTenant returns ENOTFOUND for an unknown tenant.
	GetTenant(ctx context.Context, id string) (*Tenant, error)
	// UpdateTenant stores the tenant's retention and plan. Returns ENOTFOUND.
	UpdateTenant(ctx context.Context, t *Tenant) error
	// CreateKey stores a key (its hash). Returns ENOTFOUND for an unknown tenant.
	CreateKey(ctx context.Context, k *APIKey) error
	// KeyByHash returns the key with the SHA-256 hex hash, revoked or not.
	// Returns ENOTFOUND.
	KeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// RevokeKey marks a key revoked. Returns ENOTFOUND when the tenant has no such key.
	RevokeKey(ctx context.Context, tenant, id string, at time.Time) error
	// ListKeys returns the tenant's keys, revoked and expired ones too,
	// oldest first (by creation, then ID). Returns ENOTFOUND for an unknown tenant.
	ListKeys(ctx context.Context, tenant string) ([]*APIKey, error)
	// TouchKey sets the key's LastUsedAt to at truncated to the minute,
	// unless it holds a later minute already. Returns ENOTFOUND when the
	// tenant has no such key.
	TouchKey(ctx context.Context, tenant, id string, at time.Time) error
	// GetSetting returns a setting's value; tenant "" holds the server's own.
	// Returns ENOTFOUND when it was never set.
	GetSetting(ctx context.Context, tenant, name string) ([]byte, error)
	// PutSetting stores a setting's value, replacing any earlier one.
	PutSetting(ctx context.Context, tenant, name string, value []byte) error
	// TenantSettings returns every tenant's value of the setting name, by
	// tenant (the server's own, tenant "", left out).
	TenantSettings(ctx context.Context, name string) (map[string][]byte, error)
	// InitSetting stores value only if the setting is absent, and returns the
	// value stored now (value, or the earlier one): several nodes starting at
	// once agree on one generated key.
	InitSetting(ctx context.Context, tenant, name string, value []byte) ([]byte, error)
}

// Session is one signed-in browser of the console. The browser holds a
// random secret; the store keeps only its SHA-256 (ID), so that reading the
// database opens no session.
type Session struct {
	ID        string    // SHA-256 hex of the session's secret
	Tenant    string    // the tenant of the key signed in with, or the person's
	KeyID     string    // the API key signed in with; "" for a person
	CreatedAt time.Time // sign-in
	ExpiresAt time.Time // the session is refused from this time on

	// A person signed in through the identity provider (KeyID ""): the
	// ID token's subject, name and email, and the role the tenant gave.
	Subject string
	Name    string
	Email   string
	Role    string

	// LastSeenAt is the session's latest request, to the minute (the
	// store is written at most once a minute per session).
	LastSeenAt time.Time
	IP         string // the address it signed in from
	UserAgent  string // the browser it signed in with
}

// Person reports whether the session is a person's, not a key's.
func (s *Session) Person() bool { return s.KeyID == "" && s.Subject != "" }

// SeenMinute is the minute a store keeps as the session's LastSeenAt: its
// LastSeenAt, or when unset its sign-in, truncated to the minute.
func (s *Session) SeenMinute() time.Time {
	if s.LastSeenAt.IsZero() {
		return s.CreatedAt.UTC().Truncate(time.Minute)
	}
	return s.LastSeenAt.UTC().Truncate(time.Minute)
}

// SessionStore keeps the console's sessions where every node of a
// deployment reads them, so that ending one ends it everywhere.
type SessionStore interface {
	// CreateSession stores a new session, a key's or a person's. Returns
	// ECONFLICT when a session has the ID, ENOTFOUND for an unknown tenant or
	// key.
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns the session with the ID, expired or not: the caller
	// decides by its clock. Returns ENOTFOUND.
	GetSession(ctx context.Context, id string) (*Session, error)
	// DeleteSession deletes the session with the ID; deleting an absent
	// session is not an error.
	DeleteSession(ctx context.Context, id string) error
	// DeleteKeySessions deletes every session signed in with the tenant's
	// key id and returns how many there were.
	DeleteKeySessions(ctx context.Context, tenant, keyID string) (int, error)
	// DeleteExpiredSessions deletes the sessions that expired before now and
	// returns how many there were.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	// ListSessions returns the tenant's sessions, expired ones too (the
	// caller decides by its clock), newest first.
	ListSessions(ctx context.Context, tenant string) ([]*Session, error)
	// TouchSession sets the session's LastSeenAt to seen and its ExpiresAt
	// to expires (an idle timeout moves it). Returns ENOTFOUND when there is
	// no such session.
	TouchSession(ctx context.Context, id string, seen, expires time.Time) error
}

// Store is everything a storage backend provides.
type Store interface {
	EventStore
	TenantStore
	SessionStore
	// Ping returns EUNAVAILABLE when storage cannot be reached.
	Ping(ctx context.Context) error
	Close() error
}
