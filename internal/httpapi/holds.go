package httpapi

import (
	"context"
	"net/http"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/retention"
)

// retentionService returns the retention service, or ENOTFOUND when the
// server runs without one.
func (s *Server) retentionService() (*retention.Service, error) {
	if s.retention == nil {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "retention is not enabled on this server")
	}
	return s.retention, nil
}

// actorOf returns who made the request, as the tenant's log records it.
func actorOf(p principal) auditkeep.Actor {
	if p.key != nil {
		return auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: p.key.ID, Name: p.key.Name}
	}
	if p.person != nil {
		return auditkeep.Actor{Type: auditkeep.ActorUser, ID: p.person.subject, Name: p.person.name, Email: p.person.email}
	}
	if p.viewer != nil {
		return auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: "viewer_token", Name: "viewer token"}
	}
	return auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: "root", Name: "root key"}
}

// changeContext returns r's context carrying the request, so that the
// retention service records the change it asks for with source auditkeep,
// the request's address and user agent (README "The audit of the audit").
func changeContext(r *http.Request) context.Context {
	return retention.WithRequest(r.Context(), retention.Request{IP: clientIP(r), UserAgent: r.UserAgent()})
}

type holdsBody struct {
	Holds []*auditkeep.Hold `json:"holds"`
}

// handleCreateHold serves POST /v1/holds: {"scope": "project:prj_1" (or
// absent for the whole tenant), "reason": "..."} → 201 and the hold.
func (s *Server) handleCreateHold(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.retentionService()
	if err != nil {
		return err
	}
	var in struct {
		Scope  string `json:"scope"`
		Reason string `json:"reason"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	p := principalFrom(r.Context())
	h, err := svc.CreateHold(changeContext(r), p.tenant(), in.Scope, in.Reason, actorOf(p))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, h)
	return nil
}

// handleListHolds serves GET /v1/holds: the tenant's active holds.
func (s *Server) handleListHolds(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.retentionService()
	if err != nil {
		return err
	}
	hs, err := svc.ListHolds(r.Context(), principalFrom(r.Context()).tenant())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, holdsBody{Holds: hs})
	return nil
}

// handleDeleteHold serves DELETE /v1/holds/{id}: 204, or 404 when the
// tenant has no such active hold.
func (s *Server) handleDeleteHold(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.retentionService()
	if err != nil {
		return err
	}
	p := principalFrom(r.Context())
	if err := svc.DeleteHold(changeContext(r), p.tenant(), r.PathValue("id"), actorOf(p)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRetention serves GET /v1/retention: the tenant's retention, plan,
// holds, archive and the purge job's status (last run, counts, last error).
func (s *Server) handleRetention(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.retentionService()
	if err != nil {
		return err
	}
	st, err := svc.TenantStatus(r.Context(), principalFrom(r.Context()).tenant())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// applyRetention sets t's retention from a plan name or a number of days
// (days win when both are given; days alone clear the plan). Returns
// EINVALID naming "plan" or "retention_days".
func (s *Server) applyRetention(t *auditkeep.Tenant, plan *string, days *int) error {
	if days != nil && *days < 0 {
		return auditkeep.FieldErrorf("retention_days", "retention_days must be a whole number of days from 1, or 0 for unlimited")
	}
	if plan != nil && *plan != "" {
		if s.retention != nil {
			d, err := s.retention.Plans().Days(*plan)
			if err != nil {
				return err
			}
			t.RetentionDays = d
		}
		t.Plan = *plan
	} else if plan != nil {
		t.Plan = ""
	}
	if days != nil {
		t.RetentionDays = *days
		if plan == nil {
			t.Plan = ""
		}
	}
	return nil
}
