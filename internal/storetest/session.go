package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

func testSessions(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	created := Base.Add(time.Hour + 123)
	for _, k := range []*auditkeep.APIKey{
		{ID: "key_1", Tenant: "acme", Name: "laptop", Scopes: []string{auditkeep.ScopeRead}, Hash: "a1", CreatedAt: created},
		{ID: "key_2", Tenant: "acme", Name: "ops", Scopes: []string{auditkeep.ScopeRead}, Hash: "a2", CreatedAt: created},
		{ID: "key_1", Tenant: "globex", Name: "laptop", Scopes: []string{auditkeep.ScopeRead}, Hash: "g1", CreatedAt: created},
	} {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("CreateKey(%s/%s) = %v", k.Tenant, k.ID, err)
		}
	}
	session := func(id, tenant, key string, ttl time.Duration) *auditkeep.Session {
		t.Helper()
		ss := &auditkeep.Session{ID: id, Tenant: tenant, KeyID: key, CreatedAt: created, ExpiresAt: created.Add(ttl)}
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatalf("CreateSession(%s) = %v", id, err)
		}
		return ss
	}
	exists := func(id string, want bool) {
		t.Helper()
		_, err := s.GetSession(ctx, id)
		switch {
		case want && err != nil:
			t.Errorf("GetSession(%s) = %v; want the session", id, err)
		case !want:
			wantCode(t, "GetSession("+id+")", err, auditkeep.ENOTFOUND)
		}
	}

	a := session("s_a", "acme", "key_1", 12*time.Hour+456)
	got, err := s.GetSession(ctx, "s_a")
	if err != nil {
		t.Fatalf("GetSession(s_a) = %v", err)
	}
	if got.ID != a.ID || got.Tenant != a.Tenant || got.KeyID != a.KeyID || !got.CreatedAt.Equal(a.CreatedAt) || !got.ExpiresAt.Equal(a.ExpiresAt) {
		t.Errorf("GetSession(s_a) = %+v; want %+v", got, a)
	}
	exists("s_nope", false)
	err = s.CreateSession(ctx, &auditkeep.Session{ID: "s_a", Tenant: "acme", KeyID: "key_2", CreatedAt: created, ExpiresAt: created.Add(time.Hour)})
	wantCode(t, "CreateSession(taken id)", err, auditkeep.ECONFLICT)
	err = s.CreateSession(ctx, &auditkeep.Session{ID: "s_x", Tenant: "acme", KeyID: "key_9", CreatedAt: created, ExpiresAt: created.Add(time.Hour)})
	wantCode(t, "CreateSession(unknown key)", err, auditkeep.ENOTFOUND)
	err = s.CreateSession(ctx, &auditkeep.Session{ID: "s_y", Tenant: "nope", KeyID: "key_1", CreatedAt: created, ExpiresAt: created.Add(time.Hour)})
	wantCode(t, "CreateSession(unknown tenant)", err, auditkeep.ENOTFOUND)
	exists("s_x", false)
	exists("s_y", false)

	// Deleting one session leaves the others; deleting it again is no error.
	session("s_b", "acme", "key_1", time.Hour)
	if err := s.DeleteSession(ctx, "s_a"); err != nil {
		t.Fatalf("DeleteSession(s_a) = %v", err)
	}
	exists("s_a", false)
	exists("s_b", true)
	if err := s.DeleteSession(ctx, "s_a"); err != nil {
		t.Errorf("DeleteSession(s_a) again = %v; want nil", err)
	}

	// A key's sessions go with it, and only that key's, in that tenant.
	session("s_c", "acme", "key_1", time.Hour)
	session("s_d", "acme", "key_2", time.Hour)
	session("s_e", "globex", "key_1", time.Hour)
	n, err := s.DeleteKeySessions(ctx, "acme", "key_1")
	if err != nil || n != 2 {
		t.Errorf("DeleteKeySessions(acme, key_1) = %d, %v; want 2, nil", n, err)
	}
	exists("s_b", false)
	exists("s_c", false)
	exists("s_d", true)
	exists("s_e", true)
	if n, err := s.DeleteKeySessions(ctx, "acme", "key_1"); err != nil || n != 0 {
		t.Errorf("DeleteKeySessions(acme, key_1) again = %d, %v; want 0, nil", n, err)
	}

	// Expired sessions are swept; the others stay.
	session("s_f", "acme", "key_2", time.Minute)
	session("s_g", "globex", "key_1", 2*time.Minute)
	n, err = s.DeleteExpiredSessions(ctx, created.Add(90*time.Second))
	if err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions(+90s) = %d, %v; want 1, nil", n, err)
	}
	exists("s_f", false)
	exists("s_g", true)
	exists("s_d", true)
	n, err = s.DeleteExpiredSessions(ctx, created.Add(24*time.Hour))
	if err != nil || n != 3 {
		t.Errorf("DeleteExpiredSessions(+24h) = %d, %v; want 3, nil", n, err)
	}
	exists("s_d", false)
	exists("s_e", false)
	exists("s_g", false)
}
