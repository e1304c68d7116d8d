package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// testPersonSessions: a person's session has no key; it keeps who signed
// in and the role, needs an existing tenant, and is deleted like any other.
func testPersonSessions(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	if err := s.CreateKey(ctx, &auditkeep.APIKey{ID: "key_1", Tenant: "acme", Name: "ops", Scopes: []string{auditkeep.ScopeRead}, Hash: "p1", CreatedAt: Base}); err != nil {
		t.Fatal(err)
	}
	created := Base.Add(time.Hour + 789)
	p := &auditkeep.Session{ID: "s_p", Tenant: "acme", CreatedAt: created, ExpiresAt: created.Add(time.Hour + 5),
		Subject: "00u1", Name: "Dana Auditor", Email: "dana@acme.example", Role: auditkeep.RoleAuditor}
	if err := s.CreateSession(ctx, p); err != nil {
		t.Fatalf("CreateSession(person) = %v", err)
	}
	got, err := s.GetSession(ctx, "s_p")
	if err != nil {
		t.Fatalf("GetSession(s_p) = %v", err)
	}
	if got.KeyID != "" || got.Subject != p.Subject || got.Name != p.Name || got.Email != p.Email || got.Role != p.Role ||
		got.Tenant != "acme" || !got.CreatedAt.Equal(p.CreatedAt) || !got.ExpiresAt.Equal(p.ExpiresAt) || !got.Person() {
		t.Errorf("GetSession(s_p) = %+v; want %+v", got, p)
	}
	err = s.CreateSession(ctx, &auditkeep.Session{ID: "s_q", Tenant: "nope", CreatedAt: created, ExpiresAt: created.Add(time.Hour), Subject: "00u1", Role: auditkeep.RoleViewer})
	wantCode(t, "CreateSession(person, unknown tenant)", err, auditkeep.ENOTFOUND)
	if _, err := s.GetSession(ctx, "s_q"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("GetSession(s_q) = %v; want ENOTFOUND", err)
	}

	// A key's sessions going leaves the person's; a key session still reads
	// as a key's.
	k := &auditkeep.Session{ID: "s_k", Tenant: "acme", KeyID: "key_1", CreatedAt: created, ExpiresAt: created.Add(time.Hour)}
	if err := s.CreateSession(ctx, k); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(ctx, "s_k"); err != nil || got.Person() || got.Subject != "" || got.Role != "" {
		t.Errorf("GetSession(s_k) = %+v, %v; want a key's session", got, err)
	}
	if n, err := s.DeleteKeySessions(ctx, "acme", "key_1"); err != nil || n != 1 {
		t.Errorf("DeleteKeySessions = %d, %v; want 1, nil", n, err)
	}
	if _, err := s.GetSession(ctx, "s_p"); err != nil {
		t.Errorf("GetSession(s_p) after the key's sessions went = %v", err)
	}
	if n, err := s.DeleteExpiredSessions(ctx, p.ExpiresAt.Add(1)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 1, nil", n, err)
	}
	if _, err := s.GetSession(ctx, "s_p"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("GetSession(s_p) after expiry sweep = %v; want ENOTFOUND", err)
	}
}

// testTenantSettings: every tenant's value of one setting, without the
// server's own or other settings.
func testTenantSettings(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	got, err := s.TenantSettings(ctx, "roles")
	if err != nil || len(got) != 0 {
		t.Fatalf("TenantSettings(roles) on none = %v, %v; want empty", got, err)
	}
	for _, put := range []struct{ tenant, name, value string }{
		{"acme", "roles", `[1]`}, {"globex", "roles", `[2]`}, {"", "roles", `[0]`}, {"acme", "other", `x`}, {"acme", "roles", `[3]`},
	} {
		if err := s.PutSetting(ctx, put.tenant, put.name, []byte(put.value)); err != nil {
			t.Fatal(err)
		}
	}
	got, err = s.TenantSettings(ctx, "roles")
	if err != nil || len(got) != 2 || string(got["acme"]) != `[3]` || string(got["globex"]) != `[2]` {
		t.Errorf("TenantSettings(roles) = %q, %v; want acme [3], globex [2]", got, err)
	}
}
