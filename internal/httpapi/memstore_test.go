package httpapi_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
)

// memStore is a small in-memory store for the API's tests. Its filter covers
// the terms these tests use; the stores' own suite checks the real ones.
type memStore struct {
	mu       sync.Mutex
	tenants  map[string]*auditkeep.Tenant
	keys     map[string]*auditkeep.APIKey
	events   map[string][]*auditkeep.Event
	settings map[string][]byte
	sessions map[string]auditkeep.Session
}

func newMemStore() *memStore {
	return &memStore{tenants: map[string]*auditkeep.Tenant{}, keys: map[string]*auditkeep.APIKey{},
		events: map[string][]*auditkeep.Event{}, settings: map[string][]byte{},
		sessions: map[string]auditkeep.Session{}}
}

func (m *memStore) Ping(context.Context) error { return nil }
func (m *memStore) Close() error               { return nil }

func (m *memStore) Append(ctx context.Context, events []*auditkeep.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range events {
		if _, ok := m.tenants[e.Tenant]; !ok {
			return auditkeep.Errorf(auditkeep.ENOTFOUND, "no tenant %s", e.Tenant)
		}
	}
	for _, e := range events {
		list := m.events[e.Tenant]
		if slices.ContainsFunc(list, func(o *auditkeep.Event) bool { return o.ID == e.ID }) {
			e.Seq = 0
			continue
		}
		c := *e
		c.Seq = int64(len(list) + 1)
		e.Seq = c.Seq
		m.events[e.Tenant] = append(list, &c)
	}
	return nil
}

func (m *memStore) ListEvents(ctx context.Context, tenant string, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*auditkeep.Event
	list := m.events[tenant]
	n := f.PageSize()
	visit := func(e *auditkeep.Event) bool {
		if f.Cursor != nil && ((f.Desc() && e.Seq >= f.Cursor.Seq) || (!f.Desc() && e.Seq <= f.Cursor.Seq)) {
			return true
		}
		if matches(e, f) {
			c := *e
			out = append(out, &c)
		}
		return len(out) <= n
	}
	if f.Desc() {
		for i := len(list) - 1; i >= 0 && visit(list[i]); i-- {
		}
	} else {
		for i := 0; i < len(list) && visit(list[i]); i++ {
		}
	}
	if len(out) > n {
		out = out[:n]
		order := auditkeep.OrderDesc
		if !f.Desc() {
			order = auditkeep.OrderAsc
		}
		return out, &auditkeep.Cursor{Seq: out[n-1].Seq, Order: order}, nil
	}
	return out, nil, nil
}

func matches(e *auditkeep.Event, f auditkeep.Filter) bool {
	if (!f.From.IsZero() && e.OccurredAt.Before(f.From)) || (!f.To.IsZero() && e.OccurredAt.After(f.To)) {
		return false
	}
	for _, t := range f.Terms {
		hit := slices.ContainsFunc(t.Values, func(v string) bool { return termMatch(e, t.Field, v) })
		if hit == t.Negate {
			return false
		}
	}
	for _, t := range f.Text {
		hay := strings.ToLower(strings.Join([]string{e.Actor.Name, e.Actor.Email, e.Action, e.Team, e.Description, e.Context.IP}, " "))
		if strings.Contains(hay, strings.ToLower(t.Text)) == t.Negate {
			return false
		}
	}
	return true
}

func termMatch(e *auditkeep.Event, field, v string) bool {
	var tt, tid, tn string
	if e.Target != nil {
		tt, tid, tn = e.Target.Type, e.Target.ID, e.Target.Name
	}
	switch field {
	case auditkeep.FieldAction:
		if p, ok := strings.CutSuffix(v, "*"); ok {
			return strings.HasPrefix(e.Action, p)
		}
		return e.Action == v
	case auditkeep.FieldType:
		return e.Type == v
	case auditkeep.FieldActor:
		return e.Actor.ID == v || e.Actor.Email == v || strings.EqualFold(e.Actor.Name, v)
	case auditkeep.FieldActorType:
		return e.Actor.Type == v
	case auditkeep.FieldTargetType:
		return tt == v
	case auditkeep.FieldTargetID:
		return tid == v
	case auditkeep.FieldTarget:
		return strings.EqualFold(tn, v)
	case auditkeep.FieldScope:
		p := auditkeep.ScopePath(e.Scope)
		return p == v || strings.HasPrefix(p, v+"/")
	case auditkeep.FieldTeam:
		return e.Team == v
	case auditkeep.FieldSource:
		return e.Source == v
	case auditkeep.FieldStatus:
		return e.Status == v
	case auditkeep.FieldIP:
		pfx, err := auditkeep.ParseIPFilter(v)
		a, err2 := netip.ParseAddr(e.Context.IP)
		return err == nil && err2 == nil && pfx.Contains(a.Unmap())
	}
	return false
}

func (m *memStore) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	f.Limit = auditkeep.MaxLimit
	for {
		page, next, err := m.ListEvents(ctx, tenant, f)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		f.Cursor = next
	}
}

func (m *memStore) GetEvent(ctx context.Context, tenant, id string) (*auditkeep.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.events[tenant] {
		if e.ID == id {
			c := *e
			return &c, nil
		}
	}
	return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "event %q not found", id)
}

func (m *memStore) CreateTenant(ctx context.Context, t *auditkeep.Tenant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tenants[t.ID]; ok {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "tenant exists")
	}
	c := *t
	m.tenants[t.ID] = &c
	return nil
}

func (m *memStore) GetTenant(ctx context.Context, id string) (*auditkeep.Tenant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.tenants[id]; ok {
		c := *t
		return &c, nil
	}
	return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no tenant")
}

func (m *memStore) UpdateTenant(ctx context.Context, t *auditkeep.Tenant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tenants[t.ID]; !ok {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "no tenant")
	}
	c := *t
	m.tenants[t.ID] = &c
	return nil
}

func (m *memStore) CreateKey(ctx context.Context, k *auditkeep.APIKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tenants[k.Tenant]; !ok {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "no tenant")
	}
	c := *k
	m.keys[k.Hash] = &c
	return nil
}

func (m *memStore) KeyByHash(ctx context.Context, hash string) (*auditkeep.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.keys[hash]; ok {
		c := *k
		return &c, nil
	}
	return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no key")
}

func (m *memStore) RevokeKey(ctx context.Context, tenant, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if k.Tenant == tenant && k.ID == id {
			k.RevokedAt = &at
			return nil
		}
	}
	return auditkeep.Errorf(auditkeep.ENOTFOUND, "no key")
}

func (m *memStore) GetSetting(ctx context.Context, tenant, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.settings[tenant+"\x00"+name]; ok {
		return v, nil
	}
	return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no setting")
}

func (m *memStore) TenantSettings(ctx context.Context, name string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range m.settings {
		if t, n, _ := strings.Cut(k, "\x00"); t != "" && n == name {
			out[t] = v
		}
	}
	return out, nil
}

func (m *memStore) PutSetting(ctx context.Context, tenant, name string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settings[tenant+"\x00"+name] = value
	return nil
}

func (m *memStore) InitSetting(ctx context.Context, tenant, name string, value []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.settings[tenant+"\x00"+name]; ok {
		return v, nil
	}
	m.settings[tenant+"\x00"+name] = value
	return value, nil
}

func (m *memStore) CreateSession(ctx context.Context, s *auditkeep.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[s.ID]; ok {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "session exists")
	}
	m.sessions[s.ID] = *s
	return nil
}

func (m *memStore) GetSession(ctx context.Context, id string) (*auditkeep.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sessions[id]; ok {
		return &s, nil
	}
	return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no session")
}

func (m *memStore) DeleteSession(ctx context.Context, id string) error {
	m.deleteSessions(func(s auditkeep.Session) bool { return s.ID == id })
	return nil
}

func (m *memStore) DeleteKeySessions(ctx context.Context, tenant, keyID string) (int, error) {
	return m.deleteSessions(func(s auditkeep.Session) bool { return s.Tenant == tenant && s.KeyID == keyID }), nil
}

func (m *memStore) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return m.deleteSessions(func(s auditkeep.Session) bool { return s.ExpiresAt.Before(now) }), nil
}

func (m *memStore) deleteSessions(match func(auditkeep.Session) bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, s := range m.sessions {
		if match(s) {
			delete(m.sessions, id)
			n++
		}
	}
	return n
}

func (m *memStore) ListKeys(ctx context.Context, tenant string) ([]*auditkeep.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tenants[tenant]; !ok {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no tenant")
	}
	out := []*auditkeep.APIKey{}
	for _, k := range m.keys {
		if k.Tenant == tenant {
			c := *k
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *auditkeep.APIKey) int {
		return a.CreatedAt.Compare(b.CreatedAt)*2 + strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (m *memStore) TouchKey(ctx context.Context, tenant, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if k.Tenant == tenant && k.ID == id {
			t := at.UTC().Truncate(time.Minute)
			if k.LastUsedAt == nil || t.After(*k.LastUsedAt) {
				k.LastUsedAt = &t
			}
			return nil
		}
	}
	return auditkeep.Errorf(auditkeep.ENOTFOUND, "no key")
}

func (m *memStore) ListSessions(ctx context.Context, tenant string) ([]*auditkeep.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []*auditkeep.Session{}
	for _, s := range m.sessions {
		if s.Tenant == tenant {
			c := s
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *auditkeep.Session) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (m *memStore) TouchSession(ctx context.Context, id string, seen, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "no session")
	}
	s.LastSeenAt, s.ExpiresAt = seen.UTC().Truncate(time.Minute), expires
	m.sessions[id] = s
	return nil
}
