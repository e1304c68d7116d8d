package storetest

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

func testTenants(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	want := createTenant(t, s, "acme")
	got, err := s.GetTenant(ctx, "acme")
	if err != nil {
		t.Fatalf("GetTenant(acme) = %v", err)
	}
	if got.ID != want.ID || got.RetentionDays != want.RetentionDays || got.Plan != want.Plan || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("GetTenant(acme) = %+v; want %+v", got, want)
	}
	err = s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()})
	wantCode(t, "CreateTenant(acme) again", err, auditkeep.ECONFLICT)

	_, err = s.GetTenant(ctx, "nope")
	wantCode(t, "GetTenant(nope)", err, auditkeep.ENOTFOUND)

	upd := &auditkeep.Tenant{ID: "acme", RetentionDays: 90, Plan: "enterprise"}
	if err := s.UpdateTenant(ctx, upd); err != nil {
		t.Fatalf("UpdateTenant(acme) = %v", err)
	}
	got, err = s.GetTenant(ctx, "acme")
	if err != nil {
		t.Fatalf("GetTenant(acme) = %v", err)
	}
	if got.RetentionDays != 90 || got.Plan != "enterprise" || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("after UpdateTenant, GetTenant(acme) = %+v; want retention 90, plan enterprise, created %v", got, want.CreatedAt)
	}
	err = s.UpdateTenant(ctx, &auditkeep.Tenant{ID: "nope", RetentionDays: 3})
	wantCode(t, "UpdateTenant(nope)", err, auditkeep.ENOTFOUND)

	// A second tenant is independent.
	createTenant(t, s, "globex")
	got, err = s.GetTenant(ctx, "globex")
	if err != nil || got.Plan != "team" || got.RetentionDays != 30 {
		t.Errorf("GetTenant(globex) = %+v, %v; want plan team, retention 30", got, err)
	}
}

func testKeys(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	created := Base.Add(time.Hour + 123)
	k := &auditkeep.APIKey{ID: "key_1", Tenant: "acme", Name: "ci", Scopes: []string{auditkeep.ScopeIngest, auditkeep.ScopeRead},
		Hash: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", CreatedAt: created}
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatalf("CreateKey = %v", err)
	}
	other := &auditkeep.APIKey{ID: "key_2", Tenant: "globex", Name: "admin", Scopes: []string{auditkeep.ScopeAdmin},
		Hash: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b", CreatedAt: created}
	if err := s.CreateKey(ctx, other); err != nil {
		t.Fatalf("CreateKey(globex) = %v", err)
	}
	err := s.CreateKey(ctx, &auditkeep.APIKey{ID: "key_3", Tenant: "nope", Name: "x", Scopes: []string{"read"}, Hash: "00", CreatedAt: created})
	wantCode(t, "CreateKey(unknown tenant)", err, auditkeep.ENOTFOUND)

	got, err := s.KeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("KeyByHash = %v", err)
	}
	if got.ID != k.ID || got.Tenant != k.Tenant || got.Name != k.Name || !slices.Equal(got.Scopes, k.Scopes) ||
		got.Hash != k.Hash || !got.CreatedAt.Equal(k.CreatedAt) || got.RevokedAt != nil {
		t.Errorf("KeyByHash = %+v; want %+v", got, k)
	}
	_, err = s.KeyByHash(ctx, "ffff")
	wantCode(t, "KeyByHash(unknown)", err, auditkeep.ENOTFOUND)

	// Revoking needs the right tenant.
	err = s.RevokeKey(ctx, "globex", "key_1", created)
	wantCode(t, "RevokeKey(globex, acme's key)", err, auditkeep.ENOTFOUND)
	err = s.RevokeKey(ctx, "acme", "key_9", created)
	wantCode(t, "RevokeKey(acme, unknown key)", err, auditkeep.ENOTFOUND)

	revoked := created.Add(time.Minute + 456)
	if err := s.RevokeKey(ctx, "acme", "key_1", revoked); err != nil {
		t.Fatalf("RevokeKey = %v", err)
	}
	got, err = s.KeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("KeyByHash after revoke = %v", err)
	}
	if got.RevokedAt == nil || !got.RevokedAt.Equal(revoked) {
		t.Errorf("KeyByHash after revoke: RevokedAt = %v; want %v", got.RevokedAt, revoked)
	}
	got, err = s.KeyByHash(ctx, other.Hash)
	if err != nil || got.RevokedAt != nil || got.Tenant != "globex" {
		t.Errorf("KeyByHash(globex key) = %+v, %v; want unrevoked globex key", got, err)
	}
}

func testSettings(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	_, err := s.GetSetting(ctx, "acme", "redaction")
	wantCode(t, "GetSetting(never set)", err, auditkeep.ENOTFOUND)

	put := func(tenant, name, value string) {
		t.Helper()
		if err := s.PutSetting(ctx, tenant, name, []byte(value)); err != nil {
			t.Fatalf("PutSetting(%q, %q) = %v", tenant, name, err)
		}
	}
	get := func(tenant, name, want string) {
		t.Helper()
		got, err := s.GetSetting(ctx, tenant, name)
		if err != nil || string(got) != want {
			t.Errorf("GetSetting(%q, %q) = %q, %v; want %q", tenant, name, got, err, want)
		}
	}
	put("acme", "redaction", `{"paths":["env.*"]}`)
	put("", "signing_key", "server-key")
	get("acme", "redaction", `{"paths":["env.*"]}`)
	get("", "signing_key", "server-key")
	_, err = s.GetSetting(ctx, "globex", "redaction")
	wantCode(t, "GetSetting(globex, acme's setting)", err, auditkeep.ENOTFOUND)
	_, err = s.GetSetting(ctx, "", "redaction")
	wantCode(t, "GetSetting(server, acme's setting)", err, auditkeep.ENOTFOUND)

	put("acme", "redaction", `{"paths":[]}`)
	get("acme", "redaction", `{"paths":[]}`)

	got, err := s.InitSetting(ctx, "acme", "redaction", []byte("ignored"))
	if err != nil || string(got) != `{"paths":[]}` {
		t.Errorf("InitSetting(existing) = %q, %v; want the earlier value", got, err)
	}
	get("acme", "redaction", `{"paths":[]}`)
	got, err = s.InitSetting(ctx, "globex", "redaction", []byte("fresh"))
	if err != nil || string(got) != "fresh" {
		t.Errorf("InitSetting(absent) = %q, %v; want %q", got, err, "fresh")
	}
	get("globex", "redaction", "fresh")

	// Binary values survive.
	bin := []byte{0, 1, 2, 0xff, 0xfe, '\n'}
	if err := s.PutSetting(ctx, "", "bin", bin); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSetting(ctx, "", "bin"); err != nil || !bytes.Equal(got, bin) {
		t.Errorf("GetSetting(bin) = %x, %v; want %x", got, err, bin)
	}
}

// testSettingsInitRace: several nodes generate a key at once; all agree.
func testSettingsInitRace(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	for round := range 5 {
		name := "signing_key_" + string(rune('a'+round))
		values := [][]byte{[]byte("key-from-node-1"), []byte("key-from-node-2"), []byte("key-from-node-3")}
		got := make([][]byte, len(values))
		errs := make([]error, len(values))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range values {
			wg.Go(func() {
				<-start
				got[i], errs[i] = s.InitSetting(ctx, "", name, values[i])
			})
		}
		close(start)
		wg.Wait()
		for i := range values {
			if errs[i] != nil {
				t.Fatalf("InitSetting(%s) #%d = %v", name, i, errs[i])
			}
			if !bytes.Equal(got[i], got[0]) {
				t.Errorf("InitSetting(%s): node %d got %q, node 0 got %q; want one value for all", name, i, got[i], got[0])
			}
		}
		if !slices.ContainsFunc(values, func(v []byte) bool { return bytes.Equal(v, got[0]) }) {
			t.Errorf("InitSetting(%s) = %q; want one of the values offered", name, got[0])
		}
		stored, err := s.GetSetting(ctx, "", name)
		if err != nil || !bytes.Equal(stored, got[0]) {
			t.Errorf("GetSetting(%s) = %q, %v; want %q", name, stored, err, got[0])
		}
	}
}
