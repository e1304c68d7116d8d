// Package httpapi serves auditkeep's JSON API over HTTP.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/clientip"
	"github.com/auditkeep/auditkeep/internal/catalog"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/retention"
	delivery "github.com/auditkeep/auditkeep/internal/stream"
	graphql "github.com/graph-gophers/graphql-go"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is what the API reads and manages.
type Store interface {
	auditkeep.EventStore
	auditkeep.TenantStore
	auditkeep.SessionStore
	Ping(ctx context.Context) error
}

// Server is the HTTP API.
type Server struct {
	store        Store
	ingest       *ingest.Service
	tracker      *ingest.Tracker
	log          *slog.Logger
	rootKey      string // SHA-256 hex of the root key
	metrics      *metrics
	storeMetrics *storeMetrics // metrics_tenant.go
	limits       *limiters     // nil: no rate limit
	refusals     *limiters     // by client address, of refused credentials; nil: no rate limit (clientaddr.go)
	clientIP     clientip.Resolver
	backup       Backup   // nil: no backups (backup.go)
	keys         keyCache // API keys recently read, by hash (keycache.go)
	keyUses      keyUses  // the minute of each key's latest use written (keys.go)
	accessCache  accessCache
	reads        readLog // reads awaiting their hour's event (reads.go)
	readTimeout  time.Duration
	handler      http.Handler

	// Now is the clock; tests replace it.
	Now func() time.Time
	// Registry gathers the server's metrics for /metrics.
	Registry *prometheus.Registry

	srv *http.Server
	ln  net.Listener

	browser browserState // live streams, viewer tokens, console (stream.go)
	ledger  *Ledger      // nil: no ledger endpoints (ledger.go)

	catalog *catalog.Catalog // nil: no action catalog (actions.go)

	retention *retention.Service // nil: no holds, archive or retention endpoints (holds.go)

	facets    auditkeep.FacetStore       // nil: no facets (facets.go)
	eventJSON auditkeep.EventJSONScanner // nil: exports encode each event (export_json.go)

	people       PeopleConfig     // people.go
	streamEngine *delivery.Engine // nil: no stream endpoints (streams.go)
	alertsCfg    *Alerts          // nil: no alert endpoints (alerts.go)

	retracedSchema *graphql.Schema // Retraced's GraphQL search (compat_retraced.go)
	workosJobs     workosJobs      // WorkOS export jobs (compat_workos.go)
}

// Config holds the server's settings.
type Config struct {
	RootKeyHash string // SHA-256 hex of the root key
	Tracker     *ingest.Tracker
	Catalog     *catalog.Catalog
	ReadTimeout time.Duration // longest time to read one request; 0 means 60 s
	RateLimit   float64       // requests per second per key; 0 = unlimited
	RateBurst   int           // bucket size of RateLimit; 0 = one second's worth
	Logger      *slog.Logger
	Registry    *prometheus.Registry // nil: a new one
	Retention   *retention.Service   // nil: the holds, archive and retention endpoints answer 404
	Ledger      *Ledger              // nil: the ledger endpoints answer 404
	// ClientIP finds a request's client address behind trusted proxies
	// (clientaddr.go); the zero value takes the connection's peer.
	ClientIP clientip.Resolver
	People   PeopleConfig // single sign-on and roles (people.go)
	// Backup makes POST /v1/backup's backups; nil: it answers 404 (backup.go).
	Backup  Backup
	Streams *delivery.Engine // nil: the stream endpoints answer 404
	Alerts  *Alerts          // nil: the alert endpoints answer 404
	// Facets serves GET /v1/facets (the store's, behind the retention
	// guard); nil: it answers 404.
	Facets auditkeep.FacetStore
	// EventJSON exports events from their stored JSON (the store's,
	// behind the retention guard); nil: exports encode each event.
	EventJSON auditkeep.EventJSONScanner
}

// New returns a server over store and ingest.
func New(store Store, svc *ingest.Service, cfg Config) *Server {
	s := &Server{store: store, ingest: svc, log: cfg.Logger, rootKey: cfg.RootKeyHash, tracker: cfg.Tracker, Now: time.Now, Registry: cfg.Registry}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	s.metrics = newMetrics(s.Registry)
	s.storeMetrics = newStoreMetrics(s.Registry)
	s.readTimeout = cfg.ReadTimeout
	if s.readTimeout <= 0 {
		s.readTimeout = 60 * time.Second
	}
	s.limits = newLimiters(cfg.RateLimit, cfg.RateBurst)
	s.refusals = newLimiters(cfg.RateLimit, cfg.RateBurst)
	s.clientIP = cfg.ClientIP
	s.backup = cfg.Backup
	s.catalog = cfg.Catalog
	s.retention = cfg.Retention
	s.ledger = cfg.Ledger
	s.people = cfg.People
	s.streamEngine = cfg.Streams
	s.alertsCfg = cfg.Alerts
	s.facets, s.eventJSON = cfg.Facets, cfg.EventJSON
	s.handler = s.routes()
	return s
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the hook the committer calls after each commit.
func (s *Server) ObserveCommit(stored []*auditkeep.Event, st ingest.CommitStats) {
	s.metrics.observeCommit(len(stored), st)
	s.storeMetrics.observeStored(stored)
	s.notifyStream(stored)
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.ln = ln
	s.startReadSweep()
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.readTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for in-flight requests
// (and so their commits) to finish, or ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopStreams()
	s.workosJobs.stop()
	if s.srv == nil {
		s.flushReads(ctx, true)
		return nil
	}
	err := s.srv.Shutdown(ctx)
	s.stopReadSweep()
	s.flushReads(ctx, true)
	return err
}

// errorStatus maps error codes to HTTP statuses: the one table.
var errorStatus = map[string]int{
	auditkeep.EINVALID:      http.StatusBadRequest,
	auditkeep.EUNAUTHORIZED: http.StatusUnauthorized,
	auditkeep.EFORBIDDEN:    http.StatusForbidden,
	auditkeep.ENOTFOUND:     http.StatusNotFound,
	auditkeep.ECONFLICT:     http.StatusConflict,
	auditkeep.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	auditkeep.ERATELIMITED:  http.StatusTooManyRequests,
	auditkeep.EUNAVAILABLE:  http.StatusServiceUnavailable,
	auditkeep.EINTERNAL:     http.StatusInternalServerError,
	auditkeep.ELEDGERBROKEN: http.StatusInternalServerError,
}

// statusOf returns the HTTP status of an error code.
func statusOf(code string) int {
	if status, ok := errorStatus[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError answers with the error shape of "HTTP API" in README.md. Internal
// errors are logged with their detail and shown as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if status, detail, ok := s.errorAnswer(w, r, err); ok {
		writeJSON(w, status, errorBody{Error: detail})
	}
}

// errorAnswer is what writeError answers for err: the status and the error
// object, having logged it and set Retry-After where the code calls for
// them. ok is false when the client went away and no answer is due.
func (s *Server) errorAnswer(w http.ResponseWriter, r *http.Request, err error) (status int, detail errorDetail, ok bool) {
	code := auditkeep.ErrorCode(err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if r.Context().Err() != nil {
			return 0, detail, false // the client went away
		}
		code = auditkeep.EUNAVAILABLE
		err = auditkeep.Unavailable(err)
	}
	status = statusOf(code)
	switch code {
	case auditkeep.EINTERNAL:
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	case auditkeep.EUNAVAILABLE:
		s.log.Warn("storage unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
	case auditkeep.ERATELIMITED:
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
	}
	return status, errorDetail{Code: code, Message: auditkeep.ErrorMessage(err), Field: auditkeep.ErrorField(err)}, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}
