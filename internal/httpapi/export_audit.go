package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/auditkeep/auditkeep"
)

// maxExportReason bounds an export's stated reason.
const maxExportReason = 1024

// recordExport records an export (export.run) in the tenant's log before
// its first byte is sent, with its format, filters and reason: an export
// it cannot record does not happen. Returns EINVALID naming "reason" as
// exportRecord does.
func (s *Server) recordExport(r *http.Request, tenant, format string) error {
	a, err := s.exportRecord(r, tenant, format)
	if err != nil {
		return err
	}
	return s.record(r, tenant, a)
}

// exportRecord returns the record of an export (export.run, or
// bundle.download for a bundle) with its format, filters and reason.
// Returns EINVALID naming "reason" when the tenant requires a reason and
// none is given, or it is too long.
func (s *Server) exportRecord(r *http.Request, tenant, format string) (Audit, error) {
	a, err := s.access(r.Context(), tenant)
	if err != nil {
		return Audit{}, err
	}
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	switch {
	case reason == "" && a.RequireExportReason:
		return Audit{}, auditkeep.FieldErrorf("reason", "this tenant requires a reason for every export: add reason=… (a ticket, a case)")
	case len(reason) > maxExportReason:
		return Audit{}, auditkeep.FieldErrorf("reason", "reason is longer than %d bytes", maxExportReason)
	}
	q := url.Values{}
	for k, v := range r.URL.Query() {
		if k != "reason" && k != "format" && k != "viewer_token" {
			q[k] = v
		}
	}
	meta := map[string]any{"format": format}
	if len(q) > 0 {
		meta["query"] = q.Encode()
	}
	if reason != "" {
		meta["reason"] = reason
	}
	action, desc := "export.run", "Exported events as "+format
	if format == "bundle" {
		action, desc = "bundle.download", "Downloaded the verification bundle of the log"
	}
	if reason != "" {
		desc += ": " + reason
	}
	return Audit{Action: action, Type: auditkeep.TypeRead, Description: desc, Metadata: meta}, nil
}
