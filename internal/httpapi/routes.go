package httpapi

import (
	"net/http"

	"github.com/auditkeep/auditkeep/internal/web"
)

// routes is the one table of the API's endpoints.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, name string, h http.HandlerFunc) {
		mux.Handle(pattern, s.instrument(name, withOrigin(h)))
	}

	route("POST /v1/events", "ingest", s.auth(scopeIngest, s.handleIngest))
	route("GET /v1/events", "list", s.auth(scopeReadOrViewer, s.handleList))
	route("GET /v1/events/{id}", "get", s.auth(scopeReadOrViewer, s.handleGet))
	route("GET /v1/events/{id}/diff", "diff", s.auth(scopeRead, s.handleDiff))
	route("GET /v1/export", "export", s.auth(scopeExport, s.handleExport))
	route("GET /v1/facets", "facets", s.auth(scopeReadOrViewer, s.handleFacets))
	route("GET /v1/stream", "stream", s.auth(scopeReadOrViewer, s.handleStream))
	route("POST /v1/viewer-tokens", "viewer_token_create", s.auth(scopeAdmin, s.handleCreateViewerToken))
	route("GET /v1/settings", "settings_get", s.auth(scopeAdmin, s.handleGetSettings))
	route("PUT /v1/settings", "settings_put", s.auth(scopeAdmin, s.handlePutSettings))
	route("GET /v1/settings/roles", "role_rules_get", s.auth(scopeAdmin, s.handleGetRoleRules))
	route("PUT /v1/settings/roles", "role_rules_put", s.auth(scopeAdmin, s.handlePutRoleRules))
	route("POST /v1/hash", "hash", s.auth(scopeAdmin, s.handleHash))
	route("GET /v1/actions", "actions_list", s.auth(scopeRead, s.handleListActions))
	route("GET /v1/actions/{action}/schema", "action_schema_get", s.auth(scopeRead, s.handleGetActionSchema))
	route("PUT /v1/actions/{action}/schema", "action_schema_put", s.auth(scopeAdmin, s.handlePutActionSchema))
	route("GET /v1/checkpoint", "checkpoint", s.auth(scopeRead, s.handleCheckpoint))
	route("GET /v1/checkpoints", "checkpoints", s.auth(scopeRead, s.handleCheckpoints))
	route("GET /v1/events/{id}/proof", "proof", s.auth(scopeRead, s.handleProof))
	route("GET /v1/consistency", "consistency", s.auth(scopeRead, s.handleConsistency))
	route("GET /v1/ledger/key", "ledger_key", s.handleLedgerKey)
	route("GET /v1/openapi.json", "openapi", s.handleOpenAPI)

	route("POST /v1/tenants", "tenant_create", s.auth(scopeRoot, s.handleCreateTenant))
	route("PUT /v1/tenants/{tenant}", "tenant_update", s.auth(scopeRoot, s.handleUpdateTenant))
	route("POST /v1/tenants/{tenant}/keys", "key_create", s.auth(scopeRootOrAdmin, s.handleCreateKey))
	route("DELETE /v1/tenants/{tenant}/keys/{id}", "key_revoke", s.auth(scopeRootOrAdmin, s.handleRevokeKey))
	route("GET /v1/tenants/{tenant}/keys", "keys_list", s.auth(scopeRootOrAdmin, s.handleListKeys))
	route("GET /v1/tenants/{tenant}/sessions", "sessions_list", s.auth(scopeRootOrAdmin, s.handleListSessions))
	route("DELETE /v1/tenants/{tenant}/sessions/{id}", "session_revoke", s.auth(scopeRootOrAdmin, s.handleRevokeSession))
	route("POST /v1/tenants/{tenant}/ledger/rebuild", "ledger_rebuild", s.auth(scopeRoot, s.handleRebuildLedger))
	route("POST /v1/backup", "backup", s.auth(scopeRoot, s.handleBackup))

	// Retention: legal holds, status, the archive (holds.go, archive.go).
	route("POST /v1/holds", "hold_create", s.auth(scopeAdmin, s.handleCreateHold))
	route("GET /v1/holds", "holds_list", s.auth(scopeAdmin, s.handleListHolds))
	route("DELETE /v1/holds/{id}", "hold_delete", s.auth(scopeAdmin, s.handleDeleteHold))
	route("GET /v1/retention", "retention", s.auth(scopeAdmin, s.handleRetention))
	route("GET /v1/tenants/{tenant}/archive", "archive_list", s.auth(scopeRootOrAdmin, s.handleListArchive))
	route("GET /v1/tenants/{tenant}/archive/{segment}", "archive_segment", s.auth(scopeRootOrAdmin, s.handleGetSegment))
	route("GET /v1/tenants/{tenant}/archive/{segment}/data", "archive_data", s.auth(scopeRootOrAdmin, s.handleSegmentData))
	route("POST /v1/tenants/{tenant}/archive/{segment}/restore", "archive_restore", s.auth(scopeRoot, s.handleRestoreSegment))

	// Drop-in receivers of other vendors' wire formats (compat_*.go).
	for _, p := range []string{"/services/collector", "/services/collector/event", "/services/collector/event/1.0"} {
		route("POST "+p, "hec", s.handleHEC)
	}
	route("GET /services/collector/health", "hec_health", s.handleHECHealth)
	route("POST /gitlab/audit", "gitlab", s.handleGitLab)
	route("POST /cloudevents", "cloudevents", s.auth(scopeIngest, s.handleCloudEvents))
	route("OPTIONS /cloudevents", "cloudevents_options", s.handleCloudEventsOptions)
	route("POST /k8s/audit", "k8s_audit", s.auth(scopeIngest, s.handleK8sAudit))
	s.retracedRoutes(route)
	s.workosRoutes(route)

	// Streams to SIEMs (streams.go).
	route("POST /v1/streams", "stream_create", s.auth(scopeAdmin, s.handleCreateStream))
	route("GET /v1/streams", "streams_list", s.auth(scopeAdmin, s.handleListStreams))
	route("GET /v1/streams/{id}", "stream_get", s.auth(scopeAdmin, s.handleGetStream))
	route("PATCH /v1/streams/{id}", "stream_update", s.auth(scopeAdmin, s.handlePatchStream))
	route("DELETE /v1/streams/{id}", "stream_delete", s.auth(scopeAdmin, s.handleDeleteStream))
	route("POST /v1/streams/{id}/pause", "stream_pause", s.auth(scopeAdmin, s.handlePauseStream))
	route("POST /v1/streams/{id}/resume", "stream_resume", s.auth(scopeAdmin, s.handleResumeStream))
	route("POST /v1/streams/{id}/test", "stream_test", s.auth(scopeAdmin, s.handleTestStream))
	route("POST /v1/streams/{id}/replay", "stream_replay", s.auth(scopeAdmin, s.handleReplayStream))

	// Alert rules and alerts (alerts.go).
	route("POST /v1/alert-rules", "alert_rule_create", s.auth(scopeAdmin, s.handleCreateAlertRule))
	route("GET /v1/alert-rules", "alert_rules_list", s.auth(scopeAdmin, s.handleListAlertRules))
	route("POST /v1/alert-rules/test", "alert_rule_test", s.auth(scopeAdmin, s.handleTestAlertRule))
	route("GET /v1/alert-rules/{id}", "alert_rule_get", s.auth(scopeAdmin, s.handleGetAlertRule))
	route("PATCH /v1/alert-rules/{id}", "alert_rule_update", s.auth(scopeAdmin, s.handlePatchAlertRule))
	route("DELETE /v1/alert-rules/{id}", "alert_rule_delete", s.auth(scopeAdmin, s.handleDeleteAlertRule))
	route("GET /v1/alerts", "alerts_list", s.auth(scopeExportOrAdmin, s.handleListAlerts))
	route("GET /v1/alerts/{id}", "alert_get", s.auth(scopeExportOrAdmin, s.handleGetAlert))
	route("POST /v1/alerts/{id}/acknowledge", "alert_acknowledge", s.auth(scopeAdmin, s.handleAcknowledgeAlert))
	route("POST /v1/alerts/{id}/resolve", "alert_resolve", s.auth(scopeAdmin, s.handleResolveAlert))

	route("GET /healthz", "healthz", s.handleHealthz)
	route("GET /readyz", "readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.metricsHandler())

	route("/v1/", "unknown", s.handleNotFound)

	// The web console, at /.
	s.browser.console = web.New(consoleBackend{s, s.store}, s.log)
	if s.streamEngine != nil {
		s.browser.console.Streams = consoleStreams{s}
	}
	if s.alertsCfg != nil {
		s.browser.console.Alerts = consoleAlerts{s}
	}
	s.browser.console.SessionEnded = s.endConsoleSession
	s.browser.console.KeySignIn = !s.people.NoKeySignIn
	if s.people.OIDC != nil {
		if err := s.browser.console.EnableOIDC(*s.people.OIDC); err != nil {
			s.log.Error("single sign-on is off", "err", err) // serve checks the configuration before
		}
	}
	for _, c := range s.browser.console.Routes() {
		route(c.Pattern, "console_"+c.Name, c.Handler)
	}
	return securityHeaders(s.withClientAddr(mux))
}

// securityHeaders sets the headers every answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
