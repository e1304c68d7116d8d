package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// testKeysListed checks a tenant's key listing, expiry and last use.
func testKeysListed(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	created := Base.Add(time.Hour + 123)
	expires := created.Add(30*24*time.Hour + 456)
	for _, k := range []*auditkeep.APIKey{
		{ID: "key_b", Tenant: "acme", Name: "ci", Scopes: []string{auditkeep.ScopeIngest}, Hash: "h1", CreatedAt: created, ExpiresAt: &expires},
		{ID: "key_a", Tenant: "acme", Name: "laptop", Scopes: []string{auditkeep.ScopeAdmin, auditkeep.ScopeRead}, Hash: "h2", CreatedAt: created},
		{ID: "key_c", Tenant: "acme", Name: "old", Scopes: []string{auditkeep.ScopeRead}, Hash: "h3", CreatedAt: created.Add(time.Second)},
		{ID: "key_a", Tenant: "globex", Name: "theirs", Scopes: []string{auditkeep.ScopeRead}, Hash: "h4", CreatedAt: created},
	} {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("CreateKey(%s/%s) = %v", k.Tenant, k.ID, err)
		}
	}
	if err := s.RevokeKey(ctx, "acme", "key_c", created.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.KeyByHash(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(expires) || got.LastUsedAt != nil {
		t.Errorf("KeyByHash(h1) expires %v, last used %v; want %v, never", got.ExpiresAt, got.LastUsedAt, expires)
	}
	if got.Expired(expires.Add(-1)) || !got.Expired(expires) {
		t.Errorf("Expired just before/at %v = %v/%v; want false/true", expires, got.Expired(expires.Add(-1)), got.Expired(expires))
	}

	// Last use is kept to the minute and never goes back.
	used := created.Add(2*time.Hour + 17*time.Second + 5)
	if err := s.TouchKey(ctx, "acme", "key_a", used); err != nil {
		t.Fatalf("TouchKey = %v", err)
	}
	if err := s.TouchKey(ctx, "acme", "key_a", used.Add(-time.Hour)); err != nil {
		t.Fatalf("TouchKey(earlier) = %v", err)
	}
	wantCode(t, "TouchKey(other tenant's id)", s.TouchKey(ctx, "acme", "key_z", used), auditkeep.ENOTFOUND)
	wantCode(t, "TouchKey(unknown tenant)", s.TouchKey(ctx, "nope", "key_a", used), auditkeep.ENOTFOUND)

	keys, err := s.ListKeys(ctx, "acme")
	if err != nil {
		t.Fatalf("ListKeys(acme) = %v", err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
		if k.Tenant != "acme" {
			t.Errorf("ListKeys(acme) holds %s of %s", k.ID, k.Tenant)
		}
	}
	if len(ids) != 3 || ids[0] != "key_a" || ids[1] != "key_b" || ids[2] != "key_c" {
		t.Fatalf("ListKeys(acme) = %v; want key_a, key_b, key_c (by creation, then id)", ids)
	}
	a, b, c := keys[0], keys[1], keys[2]
	minute := used.UTC().Truncate(time.Minute)
	if a.LastUsedAt == nil || !a.LastUsedAt.Equal(minute) {
		t.Errorf("key_a last used %v; want %v (the minute of the latest use)", a.LastUsedAt, minute)
	}
	if a.Name != "laptop" || len(a.Scopes) != 2 || !a.CreatedAt.Equal(created) || a.ExpiresAt != nil || a.RevokedAt != nil {
		t.Errorf("key_a = %+v", a)
	}
	if b.ExpiresAt == nil || !b.ExpiresAt.Equal(expires) || b.LastUsedAt != nil {
		t.Errorf("key_b expires %v, last used %v; want %v, never", b.ExpiresAt, b.LastUsedAt, expires)
	}
	if c.RevokedAt == nil {
		t.Errorf("key_c is listed without its revocation")
	}
	other, err := s.ListKeys(ctx, "globex")
	if err != nil || len(other) != 1 || other[0].Name != "theirs" || other[0].LastUsedAt != nil {
		t.Errorf("ListKeys(globex) = %v, %v; want its one key, unused", other, err)
	}
	_, err = s.ListKeys(ctx, "nope")
	wantCode(t, "ListKeys(unknown tenant)", err, auditkeep.ENOTFOUND)
}

// testSessionsListed checks a tenant's session listing and the touch that
// keeps a session's last request and idle expiry.
func testSessionsListed(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	created := Base.Add(time.Hour + 30*time.Second + 123)
	for _, k := range []*auditkeep.APIKey{
		{ID: "key_1", Tenant: "acme", Name: "laptop", Scopes: []string{auditkeep.ScopeRead}, Hash: "a1", CreatedAt: created},
		{ID: "key_1", Tenant: "globex", Name: "laptop", Scopes: []string{auditkeep.ScopeRead}, Hash: "g1", CreatedAt: created},
	} {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	for i, ss := range []*auditkeep.Session{
		{ID: "s_old", Tenant: "acme", KeyID: "key_1", CreatedAt: created, ExpiresAt: created.Add(time.Hour), IP: "203.0.113.7", UserAgent: "Firefox/140"},
		{ID: "s_new", Tenant: "acme", KeyID: "key_1", CreatedAt: created.Add(time.Minute), ExpiresAt: created.Add(time.Hour)},
		{ID: "s_theirs", Tenant: "globex", KeyID: "key_1", CreatedAt: created, ExpiresAt: created.Add(time.Hour)},
	} {
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatalf("CreateSession(%d) = %v", i, err)
		}
	}
	got, err := s.GetSession(ctx, "s_old")
	if err != nil {
		t.Fatal(err)
	}
	if got.IP != "203.0.113.7" || got.UserAgent != "Firefox/140" || !got.LastSeenAt.Equal(created.UTC().Truncate(time.Minute)) {
		t.Errorf("GetSession(s_old) ip %q, user agent %q, last seen %v; want what sign-in gave, seen at its minute", got.IP, got.UserAgent, got.LastSeenAt)
	}

	seen := created.Add(20*time.Minute + 7)
	expires := seen.Add(30*time.Minute + 89)
	if err := s.TouchSession(ctx, "s_old", seen, expires); err != nil {
		t.Fatalf("TouchSession = %v", err)
	}
	wantCode(t, "TouchSession(unknown)", s.TouchSession(ctx, "s_nope", seen, expires), auditkeep.ENOTFOUND)

	list, err := s.ListSessions(ctx, "acme")
	if err != nil {
		t.Fatalf("ListSessions(acme) = %v", err)
	}
	if len(list) != 2 || list[0].ID != "s_new" || list[1].ID != "s_old" {
		t.Fatalf("ListSessions(acme) = %d sessions; want s_new, s_old (newest first)", len(list))
	}
	old := list[1]
	if !old.LastSeenAt.Equal(seen.UTC().Truncate(time.Minute)) || !old.ExpiresAt.Equal(expires) || old.KeyID != "key_1" ||
		!old.CreatedAt.Equal(created) || old.IP != "203.0.113.7" {
		t.Errorf("touched session = %+v; want last seen %v, expires %v", old, seen.Truncate(time.Minute), expires)
	}
	// An expired session is listed until it is swept.
	if n, err := s.DeleteExpiredSessions(ctx, created.Add(45*time.Minute)); err != nil || n != 0 {
		t.Errorf("DeleteExpiredSessions(+45m) = %d, %v; want 0 (the touch moved s_old's expiry)", n, err)
	}
	if n, err := s.DeleteExpiredSessions(ctx, created.Add(55*time.Minute)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions(+55m) = %d, %v; want 1 (s_old, idle)", n, err)
	}
	list, err = s.ListSessions(ctx, "acme")
	if err != nil || len(list) != 1 || list[0].ID != "s_new" {
		t.Errorf("ListSessions(acme) after the sweep = %v, %v; want s_new", list, err)
	}
	list, err = s.ListSessions(ctx, "nope")
	if err != nil || len(list) != 0 {
		t.Errorf("ListSessions(unknown tenant) = %v, %v; want none", list, err)
	}
}
