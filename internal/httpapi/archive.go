package httpapi

import (
	"io"
	"net/http"
	"strconv"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
)

type segmentsBody struct {
	Archive  string              `json:"archive"`
	Segments []*archive.Manifest `json:"segments"`
}

// handleListArchive serves GET /v1/tenants/{tenant}/archive: the tenant's
// archived segments (manifests without their proofs).
func (s *Server) handleListArchive(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.retentionService()
	if err != nil {
		return err
	}
	ms, err := svc.Segments(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, segmentsBody{Archive: svc.Archive().URL(), Segments: ms})
	return nil
}

// handleGetSegment serves GET /v1/tenants/{tenant}/archive/{segment}: the
// segment's manifest with its ledger proof.
func (s *Server) handleGetSegment(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.retentionService()
	if err != nil {
		return err
	}
	if svc.Archive() == nil {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "no archive is configured on this server")
	}
	m, err := svc.Archive().Manifest(r.Context(), r.PathValue("tenant"), r.PathValue("segment"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// handleSegmentData serves GET /v1/tenants/{tenant}/archive/{segment}/data:
// the compressed segment as stored (gzip NDJSON), whose SHA-256 the
// manifest names.
func (s *Server) handleSegmentData(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.retentionService()
	if err != nil {
		return err
	}
	if svc.Archive() == nil {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "no archive is configured on this server")
	}
	m, err := svc.Archive().Manifest(r.Context(), r.PathValue("tenant"), r.PathValue("segment"))
	if err != nil {
		return err
	}
	rc, err := svc.Archive().OpenSegment(r.Context(), m)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Length", strconv.FormatInt(m.Bytes, 10))
	h.Set("Content-Disposition", `attachment; filename="`+m.Tenant+"-"+m.Name+`.ndjson.gz"`)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("archive download cut", "tenant", m.Tenant, "segment", m.Name, "err", err)
	}
	return nil
}

// handleRestoreSegment serves POST /v1/tenants/{tenant}/archive/{segment}/restore
// (root key): {"into_tenant": "acme-restore"} copies the segment's events
// into that tenant, where they become queryable.
func (s *Server) handleRestoreSegment(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.retentionService()
	if err != nil {
		return err
	}
	var in struct {
		IntoTenant string `json:"into_tenant"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	res, err := svc.Restore(changeContext(r), r.PathValue("tenant"), r.PathValue("segment"), in.IntoTenant, actorOf(principalFrom(r.Context())))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
