package httpapi

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
	"github.com/auditkeep/auditkeep/internal/compat/github"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

// The Splunk HTTP Event Collector receiver, as GitHub's audit-log streaming
// sends to it: POST /services/collector[/event[/1.0]] with
// "Authorization: Splunk <key>", answered in HEC's shape
// {"text", "code"[, "invalid-event-number"]} (docs.splunk.com, "Format events
// for HTTP Event Collector" and "Troubleshoot HTTP Event Collector"). A
// refusal also carries auditkeep's error object, naming the field.

// hecAnswer is HEC's answer.
type hecAnswer struct {
	Text               string       `json:"text"`
	Code               int          `json:"code"`
	InvalidEventNumber *int         `json:"invalid-event-number,omitempty"`
	Error              *errorDetail `json:"error,omitempty"`
}

func (s *Server) handleHEC(w http.ResponseWriter, r *http.Request) {
	events, tenant, err := s.hecEvents(w, r)
	if err == nil {
		var body []byte
		if body, err = compat.Batch(events); err == nil {
			_, err = s.compatIngest(r, tenant, body)
		}
	}
	if err != nil {
		s.writeHECError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, hecAnswer{Text: github.Text[github.CodeSuccess], Code: github.CodeSuccess})
}

// handleHECHealth answers HEC's health check, which senders call before
// streaming.
func (s *Server) handleHECHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, hecAnswer{Text: github.Text[github.CodeHealthy], Code: github.CodeHealthy})
}

// hecEvents authenticates a HEC request and maps its body.
func (s *Server) hecEvents(w http.ResponseWriter, r *http.Request) ([]*auditkeep.Event, string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, "", &github.Error{Code: github.CodeTokenRequired, Event: -1,
			Err: auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "missing credentials: send Authorization: Splunk <key>")}
	}
	token, ok := strings.CutPrefix(h, "Splunk ")
	if !ok || strings.TrimSpace(token) == "" {
		return nil, "", &github.Error{Code: github.CodeInvalidAuth, Event: -1,
			Err: auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "the Authorization header is not Splunk <key>")}
	}
	p, err := s.keyPrincipal(r, token)
	if err == nil {
		err = s.admit(w, r, p, scopeIngest)
	}
	if err != nil {
		return nil, "", err
	}
	body, err := s.compatBody(w, r)
	if err != nil {
		return nil, "", err
	}
	envs, err := github.Decode(body)
	if err != nil {
		return nil, "", err
	}
	events := make([]*auditkeep.Event, len(envs))
	for i, env := range envs {
		if events[i], err = github.Map(i, env); err != nil {
			return nil, "", err
		}
	}
	return events, p.tenant(), nil
}

func (s *Server) writeHECError(w http.ResponseWriter, r *http.Request, err error) {
	hecCode, event := -1, compat.Index(err)
	var he *github.Error
	if errors.As(err, &he) {
		hecCode, event, err = he.Code, he.Event, he.Err
	} else {
		err = compat.Rename(err, func(i int) string { return "events[" + strconv.Itoa(i) + "].event" }, github.Names)
	}
	status, detail, ok := s.errorAnswer(w, r, err)
	if !ok {
		return
	}
	if hecCode < 0 {
		switch detail.Code {
		case auditkeep.EUNAUTHORIZED:
			hecCode, status = github.CodeInvalidToken, http.StatusForbidden
			if strings.Contains(detail.Message, "revoked") {
				hecCode = github.CodeTokenDisabled
			}
		case auditkeep.EFORBIDDEN:
			hecCode = github.CodeInvalidToken
		case auditkeep.EINVALID, auditkeep.ETOOLARGE:
			hecCode = github.CodeInvalidFormat
		case auditkeep.ERATELIMITED, auditkeep.EUNAVAILABLE:
			hecCode = github.CodeBusy
		default:
			hecCode = github.CodeInternal
		}
	}
	a := hecAnswer{Text: github.Text[hecCode], Code: hecCode, Error: &detail}
	if event >= 0 {
		a.InvalidEventNumber = &event
	}
	writeJSON(w, status, a)
}

// compatBody reads a drop-in receiver's request body, within the ingest
// batch limit, gunzipping it when its Content-Encoding is gzip (the limit
// then bounds the decompressed bytes too).
func (s *Server) compatBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	max := int64(s.ingest.Limits.MaxBatchBytes)
	rd, err := limitBody(w, r, "body", max)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, bodyError(err, "body", max)
		}
		body, err := io.ReadAll(io.LimitReader(zr, max+1))
		if err == nil && int64(len(body)) > max {
			return nil, tooLarge("body", max)
		}
		if err != nil {
			return nil, bodyError(err, "body", max)
		}
		return body, nil
	}
	body, err := readBody(rd, r.ContentLength, max)
	if err != nil {
		return nil, bodyError(err, "body", max)
	}
	return body, nil
}

// compatIngest ingests a mapped body for tenant through the one ingest path
// (atomic, durable before it returns, idempotent by event id, redaction, the
// ledger).
func (s *Server) compatIngest(r *http.Request, tenant string, body []byte) (*ingest.Result, error) {
	res, err := s.ingest.Ingest(r.Context(), tenant, body)
	if err != nil {
		return nil, err
	}
	s.metrics.ingested.Add(float64(res.Accepted - res.Duplicates))
	return res, nil
}
