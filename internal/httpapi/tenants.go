package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// decodeBody decodes a small JSON request body strictly into v: members
// unknown to v, spelled in another case than v's or repeated are refused.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	rd, err := limitBody(w, r, "body", 1<<20)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		return bodyError(err, "body", 1<<20)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return auditkeep.FieldErrorf("body", "request body is empty; send a JSON object")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return auditkeep.FieldErrorf(te.Field, "%s must be a JSON %s", te.Field, te.Type.Kind())
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			return auditkeep.FieldErrorf(f, "unknown field %q", f)
		}
		return auditkeep.FieldErrorf("body", "request body is not valid JSON: %v", err)
	}
	return ijson.Check(body, ijson.SchemaOf(v), "")
}

type tenantBody struct {
	*auditkeep.Tenant
	Name string `json:"name"`
}

func (s *Server) handleCreateTenant(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name          string `json:"name"`
		RetentionDays *int   `json:"retention_days"`
		Plan          string `json:"plan"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Name == "" {
		return auditkeep.FieldErrorf("name", "name is required")
	}
	if !auditkeep.ValidTenantID(in.Name) {
		return auditkeep.FieldErrorf("name", "name %q must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit", in.Name)
	}
	if in.Plan != "" && in.RetentionDays != nil && *in.RetentionDays == 0 {
		in.RetentionDays = nil // a new tenant on a plan keeps the plan's days unless others are given
	}
	t := &auditkeep.Tenant{ID: in.Name, CreatedAt: s.Now().UTC()}
	if err := s.applyRetention(t, &in.Plan, in.RetentionDays); err != nil {
		return err
	}
	if err := s.store.CreateTenant(r.Context(), t); err != nil {
		return err
	}
	s.log.Info("tenant created", "tenant", t.ID)
	writeJSON(w, http.StatusCreated, tenantBody{Tenant: t, Name: t.ID})
	return nil
}

func (s *Server) handleUpdateTenant(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		RetentionDays *int    `json:"retention_days"`
		Plan          *string `json:"plan"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	t, err := s.store.GetTenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	old := *t
	if err := s.applyRetention(t, in.Plan, in.RetentionDays); err != nil {
		return err
	}
	if err := s.store.UpdateTenant(r.Context(), t); err != nil {
		return err
	}
	if s.retention != nil {
		s.retention.TenantUpdated(changeContext(r), &old, t, actorOf(principalFrom(r.Context())))
	}
	writeJSON(w, http.StatusOK, tenantBody{Tenant: t, Name: t.ID})
	return nil
}

type keyBody struct {
	*auditkeep.APIKey
	Key string `json:"key"`
}

func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name      string   `json:"name"`
		Scopes    []string `json:"scopes"`
		ExpiresAt *string  `json:"expires_at"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Name == "" {
		return auditkeep.FieldErrorf("name", "name is required")
	}
	if len(in.Name) > 128 {
		return auditkeep.FieldErrorf("name", "name is longer than 128 bytes")
	}
	if len(in.Scopes) == 0 {
		return auditkeep.FieldErrorf("scopes", "scopes is required: one or more of %s", strings.Join(auditkeep.KeyScopes, ", "))
	}
	for i, sc := range in.Scopes {
		if !slices.Contains(auditkeep.KeyScopes, sc) {
			return auditkeep.FieldErrorf("scopes", "scopes[%d] %q is not one of %s", i, sc, strings.Join(auditkeep.KeyScopes, ", "))
		}
	}
	now := s.Now().UTC()
	var expires *time.Time
	if in.ExpiresAt != nil {
		e, err := time.Parse(time.RFC3339Nano, *in.ExpiresAt)
		if err != nil {
			return auditkeep.FieldErrorf("expires_at", "expires_at %q is not an RFC 3339 time such as 2027-01-31T00:00:00Z", *in.ExpiresAt)
		}
		if !e.After(now) {
			return auditkeep.FieldErrorf("expires_at", "expires_at %s is not in the future", e.UTC().Format(time.RFC3339))
		}
		e = e.UTC()
		expires = &e
	}
	slices.Sort(in.Scopes)
	key := NewKey()
	k := &auditkeep.APIKey{ID: newID("key_"), Tenant: r.PathValue("tenant"), Name: in.Name,
		Scopes: slices.Compact(in.Scopes), Hash: HashKey(key), CreatedAt: now, ExpiresAt: expires}
	if err := s.store.CreateKey(r.Context(), k); err != nil {
		return err
	}
	s.log.Info("key created", "tenant", k.Tenant, "key_id", k.ID, "scopes", k.Scopes)
	meta := map[string]any{"scopes": k.Scopes}
	if k.ExpiresAt != nil {
		meta["expires_at"] = k.ExpiresAt
	}
	s.recordLogged(r, k.Tenant, Audit{Action: "key.create", Type: auditkeep.TypeCreate,
		Target:      &auditkeep.Target{Type: "api_key", ID: k.ID, Name: k.Name},
		Description: "Created API key '" + k.Name + "' with the scopes " + strings.Join(k.Scopes, ", "),
		Metadata:    meta})
	writeJSON(w, http.StatusCreated, keyBody{APIKey: k, Key: key})
	return nil
}

func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeKey(r, r.PathValue("tenant"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeKey revokes the tenant's key id, ends its streams and console
// sessions, and records key.revoke. Returns ENOTFOUND when the tenant has
// no such key.
func (s *Server) revokeKey(r *http.Request, tenant, id string) error {
	if err := s.store.RevokeKey(r.Context(), tenant, id, s.Now().UTC()); err != nil {
		return err
	}
	s.keys.forget(tenant, id)
	s.revokeCredential(keyCredential(tenant, id), keyRevokedEnd)
	// The key's console sessions end with it, on every node: each reads its
	// sessions from the store.
	n, err := s.store.DeleteKeySessions(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	s.log.Info("key revoked", "tenant", tenant, "key_id", id, "sessions_ended", n)
	s.recordLogged(r, tenant, Audit{Action: "key.revoke", Type: auditkeep.TypeDelete,
		Target:      &auditkeep.Target{Type: "api_key", ID: id},
		Description: "Revoked API key " + id,
		Metadata:    map[string]any{"sessions_ended": n}})
	return nil
}
