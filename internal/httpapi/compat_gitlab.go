package httpapi

import (
	"net/http"
	"strings"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
	"github.com/auditkeep/auditkeep/internal/compat/gitlab"
)

// handleGitLab takes one event of GitLab's audit event streaming
// (internal/compat/gitlab). The key is the destination's custom
// "Authorization: Bearer <key>" header or, failing that, its verification
// token (X-Gitlab-Event-Streaming-Token). The body is JSON whatever its
// Content-Type says (GitLab's default is application/x-www-form-urlencoded).
// A re-sent event is acknowledged as a duplicate. Errors name GitLab's
// members.
func (s *Server) handleGitLab(w http.ResponseWriter, r *http.Request) {
	res, err := s.gitlabIngest(w, r)
	if err != nil {
		s.writeError(w, r, compat.Rename(err, func(int) string { return "" }, gitlab.Names))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) gitlabIngest(w http.ResponseWriter, r *http.Request) (any, error) {
	var p principal
	var err error
	if h := r.Header.Get("Authorization"); h != "" {
		p, err = s.authenticate(r)
	} else if token := strings.TrimSpace(r.Header.Get(gitlab.TokenHeader)); token != "" {
		p, err = s.keyPrincipal(r, token)
	} else {
		err = auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "missing credentials: send the key as the destination's verification token (%s) or in a custom Authorization: Bearer <key> header", gitlab.TokenHeader)
	}
	if err == nil {
		err = s.admit(w, r, p, scopeIngest)
	}
	if err != nil {
		return nil, err
	}
	body, err := s.compatBody(w, r)
	if err != nil {
		return nil, err
	}
	e, err := gitlab.Map(body, r.Header.Get(gitlab.EventTypeHeader))
	if err != nil {
		return nil, err
	}
	batch, err := compat.Batch([]*auditkeep.Event{e})
	if err != nil {
		return nil, err
	}
	return s.compatIngest(r, p.tenant(), batch)
}
