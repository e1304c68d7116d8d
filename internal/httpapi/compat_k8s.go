package httpapi

import (
	"net/http"
	"strconv"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
	"github.com/auditkeep/auditkeep/internal/compat/k8saudit"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

// handleK8sAudit takes the Kubernetes API server's audit webhook: an
// audit.k8s.io/v1 EventList, the key as the webhook kubeconfig's bearer
// token (internal/compat/k8saudit). The list is stored whole, one event
// per request, before the 200; any other status makes the API server
// retry, and a retried list is acknowledged as duplicates. Secrets' values
// are hashed with the tenant's redaction key before anything is stored.
// Errors name the list's members ("items[3].sourceIPs[0]").
func (s *Server) handleK8sAudit(w http.ResponseWriter, r *http.Request) error {
	body, err := s.compatBody(w, r)
	if err != nil {
		return err
	}
	list, err := k8saudit.Decode(body)
	if err != nil {
		return err
	}
	tenant := principalFrom(r.Context()).tenant()
	if s.tracker == nil {
		return auditkeep.Errorf(auditkeep.EINTERNAL, "no redaction to hide Secrets with")
	}
	red, err := s.tracker.Redactor(r.Context(), tenant)
	if err != nil {
		return err
	}
	events, index, err := k8saudit.Map(list, red.HashJSON)
	if err != nil {
		return err
	}
	if len(events) == 0 { // only earlier stages: their final stage comes in a later list
		writeJSON(w, http.StatusOK, &ingest.Result{IDs: []string{}, Tenant: tenant})
		return nil
	}
	batch, err := compat.Batch(events)
	if err != nil {
		return err
	}
	res, err := s.compatIngest(r, tenant, batch)
	if err != nil {
		return compat.Rename(err, func(i int) string { return "items[" + strconv.Itoa(index[i]) + "]" }, k8saudit.Names)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
