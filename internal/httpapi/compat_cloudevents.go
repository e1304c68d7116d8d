package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/auditkeep/auditkeep/internal/compat"
	"github.com/auditkeep/auditkeep/internal/compat/cloudevents"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

// handleCloudEvents takes CloudEvents 1.0 over HTTP in structured, batched
// or binary mode (internal/compat/cloudevents), deduplicated on source and
// id. A batch is stored whole or not at all. Errors name the CloudEvents
// attribute, header or data member.
func (s *Server) handleCloudEvents(w http.ResponseWriter, r *http.Request) error {
	body, err := s.compatBody(w, r)
	if err != nil {
		return err
	}
	names := cloudevents.Names
	var events []json.RawMessage
	switch cloudevents.Mode(r.Header.Get("Content-Type")) {
	case "structured":
		var e json.RawMessage
		if e, err = cloudevents.Structured(body); err == nil {
			events = []json.RawMessage{e}
		}
	case "batch":
		events, err = cloudevents.Batch(body)
	default:
		names = cloudevents.BinaryNames
		var e json.RawMessage
		if e, err = cloudevents.Binary(r.Header, body); err == nil {
			events = []json.RawMessage{e}
		}
	}
	tenant := principalFrom(r.Context()).tenant()
	if err == nil && len(events) == 0 {
		writeJSON(w, http.StatusOK, &ingest.Result{IDs: []string{}, Tenant: tenant}) // an empty batch
		return nil
	}
	var res *ingest.Result
	if err == nil {
		var batch []byte
		if batch, err = compat.Batch(events); err == nil {
			res, err = s.compatIngest(r, tenant, batch)
		}
	}
	if err != nil {
		single := len(events) <= 1 && cloudevents.Mode(r.Header.Get("Content-Type")) != "batch"
		return compat.Rename(err, func(i int) string {
			if single {
				return ""
			}
			return "events[" + strconv.Itoa(i) + "]"
		}, names)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// handleCloudEventsOptions answers the abuse-protection handshake of
// CloudEvents' HTTP webhook spec (cloudevents/http-webhook.md, section 4):
// the origin that asks may send, at any rate.
func (s *Server) handleCloudEventsOptions(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("WebHook-Request-Origin"); origin != "" {
		w.Header().Set("WebHook-Allowed-Origin", origin)
		w.Header().Set("WebHook-Allowed-Rate", "*")
	}
	w.Header().Set("Allow", "OPTIONS, POST")
	w.WriteHeader(http.StatusOK)
}
