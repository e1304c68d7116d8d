package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
)

// settingsBody is the tenant's settings as GET and PUT /v1/settings show them.
type settingsBody struct {
	Redaction     *changes.Rules `json:"redaction"`
	RetentionDays int            `json:"retention_days"`
}

func (s *Server) handleGetSettings(w http.ResponseWriter, r *http.Request) error {
	tenant := principalFrom(r.Context()).tenant()
	rules, err := s.tracker.Rules(r.Context(), tenant)
	if err != nil {
		return err
	}
	t, err := s.store.GetTenant(r.Context(), tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsBody{Redaction: &rules, RetentionDays: t.RetentionDays})
	return nil
}

// handlePutSettings replaces the redaction rules. Retention is the
// operator's (PUT /v1/tenants/{tenant} with the root key) and is read-only here.
func (s *Server) handlePutSettings(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Redaction *changes.Rules `json:"redaction"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Redaction == nil {
		return auditkeep.FieldErrorf("redaction", "redaction is required: {\"redaction\": {\"paths\": [...]}}")
	}
	tenant := principalFrom(r.Context()).tenant()
	if err := s.tracker.SetRules(r.Context(), tenant, *in.Redaction); err != nil {
		return err
	}
	s.log.Info("redaction rules changed", "tenant", tenant, "rules", len(in.Redaction.Paths))
	return s.handleGetSettings(w, r)
}

// handleHash answers the keyed hash of a value, as redaction stores it, so
// an admin can look for a known secret.
func (s *Server) handleHash(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Value *json.RawMessage `json:"value"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Value == nil {
		return auditkeep.FieldErrorf("value", "value is required")
	}
	red, err := s.tracker.Redactor(r.Context(), principalFrom(r.Context()).tenant())
	if err != nil {
		return err
	}
	h, err := red.HashJSON(*in.Value)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"hash": h})
	return nil
}

type diffBody struct {
	From    string             `json:"from"`
	To      string             `json:"to"`
	Changes []auditkeep.Change `json:"changes"`
}

// handleDiff compares the snapshots of two events of the tenant: what
// changed from {id} to {with}.
func (s *Server) handleDiff(w http.ResponseWriter, r *http.Request) error {
	with := r.URL.Query().Get("with")
	if with == "" {
		return auditkeep.FieldErrorf("with", "with is required: the id of the event to compare with")
	}
	tenant := principalFrom(r.Context()).tenant()
	a, err := s.store.GetEvent(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	b, err := s.store.GetEvent(r.Context(), tenant, with)
	if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
		return &auditkeep.Error{Code: auditkeep.ENOTFOUND, Field: "with", Message: "no event with id " + with}
	}
	if err != nil {
		return err
	}
	d, err := changes.Compare(a.Snapshot, b.Snapshot)
	if err != nil {
		return err
	}
	if d == nil {
		d = []auditkeep.Change{}
	}
	writeJSON(w, http.StatusOK, diffBody{From: a.ID, To: b.ID, Changes: d})
	return nil
}
