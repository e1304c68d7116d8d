package httpapi

import (
	"io"
	"net/http"
	"strconv"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/catalog"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// actionsBody is the answer of GET /v1/actions.
type actionsBody struct {
	Actions []catalog.Action `json:"actions"`
}

// schemaBody is the answer of GET /v1/actions/{action}/schema: one version
// and the list of all.
type schemaBody struct {
	*catalog.Version
	Versions []catalog.VersionInfo `json:"versions"`
}

// actionCatalog returns the catalog, or ENOTFOUND when the server has none.
func (s *Server) actionCatalog() (*catalog.Catalog, error) {
	if s.catalog == nil {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "this server keeps no action catalog")
	}
	return s.catalog, nil
}

// handleListActions lists the tenant's actions: those its events carry, with
// counts, and those it registered, with their latest schema version.
func (s *Server) handleListActions(w http.ResponseWriter, r *http.Request) error {
	c, err := s.actionCatalog()
	if err != nil {
		return err
	}
	list, err := c.Actions(r.Context(), principalFrom(r.Context()).tenant())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, actionsBody{Actions: list})
	return nil
}

// handlePutActionSchema registers the request body as the action's schema:
// 201 with the new version, or 200 with the latest when it is unchanged.
func (s *Server) handlePutActionSchema(w http.ResponseWriter, r *http.Request) error {
	c, err := s.actionCatalog()
	if err != nil {
		return err
	}
	rd, err := limitBody(w, r, "schema", catalog.MaxSchemaBytes)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		return bodyError(err, "schema", catalog.MaxSchemaBytes)
	}
	if err := ijson.Check(body, nil, "schema"); err != nil {
		return err
	}
	tenant := principalFrom(r.Context()).tenant()
	action := r.PathValue("action")
	v, created, err := c.Register(r.Context(), tenant, action, body)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.Info("action schema registered", "tenant", tenant, "action", action, "version", v.Version)
	}
	writeJSON(w, status, v)
	return nil
}

// handleGetActionSchema answers the action's latest schema, or the version
// named by ?version=N, with the list of versions.
func (s *Server) handleGetActionSchema(w http.ResponseWriter, r *http.Request) error {
	c, err := s.actionCatalog()
	if err != nil {
		return err
	}
	version := 0
	if q := r.URL.Query().Get("version"); q != "" {
		if version, err = strconv.Atoi(q); err != nil || version < 1 {
			return auditkeep.FieldErrorf("version", "version %q is not a version number (1, 2, …)", q)
		}
	}
	tenant, action := principalFrom(r.Context()).tenant(), r.PathValue("action")
	v, err := c.Schema(r.Context(), tenant, action, version)
	if err != nil {
		return err
	}
	versions, err := c.Versions(r.Context(), tenant, action)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, schemaBody{Version: v, Versions: versions})
	return nil
}
