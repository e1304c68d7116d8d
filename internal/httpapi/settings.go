package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
)

// settingsBody is the tenant's settings as GET and PUT /v1/settings show them.
type settingsBody struct {
	Redaction     *changes.Rules `json:"redaction"`
	RetentionDays int            `json:"retention_days"`
	accessSettings
}

func (s *Server) handleGetSettings(w http.ResponseWriter, r *http.Request) error {
	body, err := s.settingsOf(r, principalFrom(r.Context()).tenant())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) settingsOf(r *http.Request, tenant string) (*settingsBody, error) {
	rules, err := s.tracker.Rules(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	t, err := s.store.GetTenant(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	a, err := s.access(r.Context(), tenant)
	if err != nil {
		return nil, err
	}
	return &settingsBody{Redaction: &rules, RetentionDays: t.RetentionDays, accessSettings: a}, nil
}

// handlePutSettings changes the settings the body names and leaves the
// others. Retention is the operator's (PUT /v1/tenants/{tenant} with the
// root key) and is read-only here. The change is recorded as
// settings.update in the tenant's log, with the old and new values.
func (s *Server) handlePutSettings(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Redaction            *changes.Rules `json:"redaction"`
		SessionIdleMinutes   *int           `json:"session_idle_minutes"`
		SessionAbsoluteHours *int           `json:"session_absolute_hours"`
		RecordReads          *bool          `json:"record_reads"`
		RequireExportReason  *bool          `json:"require_export_reason"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Redaction == nil && in.SessionIdleMinutes == nil && in.SessionAbsoluteHours == nil && in.RecordReads == nil && in.RequireExportReason == nil {
		return auditkeep.FieldErrorf("redaction", "name a setting to change: redaction ({\"paths\": [...]}), session_idle_minutes, session_absolute_hours, record_reads or require_export_reason")
	}
	tenant := principalFrom(r.Context()).tenant()
	before, err := s.settingsOf(r, tenant)
	if err != nil {
		return err
	}
	a := before.accessSettings
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.SessionIdleMinutes, in.SessionIdleMinutes)
	set(&a.SessionAbsoluteHours, in.SessionAbsoluteHours)
	if in.RecordReads != nil {
		a.RecordReads = *in.RecordReads
	}
	if in.RequireExportReason != nil {
		a.RequireExportReason = *in.RequireExportReason
	}
	if err := a.validate(); err != nil {
		return err
	}
	if in.Redaction != nil {
		if err := s.tracker.SetRules(r.Context(), tenant, *in.Redaction); err != nil {
			return err
		}
		s.log.Info("redaction rules changed", "tenant", tenant, "rules", len(in.Redaction.Paths))
	}
	if a != before.accessSettings {
		if err := s.putAccess(r.Context(), tenant, a); err != nil {
			return err
		}
	}
	after, err := s.settingsOf(r, tenant)
	if err != nil {
		return err
	}
	if old, changed := settingsChanges(before, after); len(changed) > 0 {
		names := make([]string, 0, len(changed))
		for n := range changed {
			names = append(names, n)
		}
		slices.Sort(names)
		s.recordLogged(r, tenant, Audit{Action: "settings.update", Type: auditkeep.TypeUpdate,
			Target:      &auditkeep.Target{Type: "tenant", ID: tenant, Name: tenant},
			Description: "Changed the settings " + strings.Join(names, ", "),
			Metadata:    map[string]any{"old": old, "new": changed}})
	}
	writeJSON(w, http.StatusOK, after)
	return nil
}

// settingsChanges returns the settings that differ between a and b, by
// name: their values in a, and in b.
func settingsChanges(a, b *settingsBody) (old, changed map[string]any) {
	var ma, mb map[string]any
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	json.Unmarshal(ra, &ma)
	json.Unmarshal(rb, &mb)
	old, changed = map[string]any{}, map[string]any{}
	for n, v := range mb {
		va, _ := json.Marshal(ma[n])
		vb, _ := json.Marshal(v)
		if string(va) != string(vb) {
			old[n], changed[n] = ma[n], v
		}
	}
	return old, changed
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
