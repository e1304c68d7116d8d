package httpapi

import (
	"net/http"

	"github.com/auditkeep/auditkeep/docs"
)

// handleOpenAPI serves GET /v1/openapi.json: the description of the /v1
// API, docs/openapi.json, which the end-to-end tests hold every exchange to.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(docs.OpenAPI)
}
