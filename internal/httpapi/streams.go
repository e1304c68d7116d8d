package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
	delivery "github.com/auditkeep/auditkeep/internal/stream"
)

// maxStreams is the most streams a tenant may have.
const maxStreams = 50

// streamView is a stream as the API shows it: never its secret, only
// whether it has one; its lag now.
type streamView struct {
	*auditkeep.Stream
	SecretSet bool `json:"secret_set"`
	delivery.Lag
}

// streamBody is what POST and PATCH /v1/streams take; PATCH changes only
// the members given.
type streamBody struct {
	Name     *string                    `json:"name"`
	Type     *string                    `json:"type"`
	Format   *string                    `json:"format"`
	Filters  map[string]json.RawMessage `json:"filters"`
	Settings json.RawMessage            `json:"settings"`
	Secret   *string                    `json:"secret"`
	// Start is where a new stream starts: "now" (the default: events
	// committed from now on) or "beginning" (every event the log holds).
	Start string `json:"start"`
}

// streams returns the stream engine, or ENOTFOUND when the server runs
// without one.
func (s *Server) streams() (*delivery.Engine, error) {
	if s.streamEngine == nil {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "streams are not enabled on this server")
	}
	return s.streamEngine, nil
}

func (s *Server) viewStream(r *http.Request, e *delivery.Engine, st *auditkeep.Stream) streamView {
	v := streamView{Stream: st, SecretSet: len(st.Secret) > 0}
	if st.Filters == nil {
		st.Filters = map[string][]string{}
	}
	lag, err := e.Lag(r.Context(), st)
	if err != nil {
		s.log.Warn("streams: cannot compute a stream's lag", "tenant", st.Tenant, "stream", st.ID, "err", err)
	}
	v.Lag = lag
	return v
}

// apply sets st's members from the body; create says whether st is new.
// Returns EINVALID naming the field.
func (b *streamBody) apply(e *delivery.Engine, st *auditkeep.Stream, create bool) error {
	if b.Name != nil {
		name := strings.TrimSpace(*b.Name)
		if name == "" || utf8.RuneCountInString(name) > 100 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' }) {
			return auditkeep.FieldErrorf("name", "name must be 1 to 100 characters on one line")
		}
		st.Name = name
	} else if create {
		return auditkeep.FieldErrorf("name", "name is required")
	}
	if b.Type != nil {
		if !create && *b.Type != st.Type {
			return auditkeep.FieldErrorf("type", "a stream's type cannot change; create another stream")
		}
		st.Type = *b.Type
	} else if create {
		return auditkeep.FieldErrorf("type", "type is required: webhook, splunk_hec, syslog or nats")
	}
	if b.Format != nil {
		st.Format = *b.Format
	} else if create {
		st.Format = "native"
	}
	if b.Filters != nil {
		params, err := filterParams(b.Filters)
		if err != nil {
			return err
		}
		st.Filters = params
	} else if create {
		st.Filters = map[string][]string{}
	}
	if b.Settings != nil {
		st.Settings = b.Settings
	}
	if !create && b.Start != "" {
		return auditkeep.FieldErrorf("start", "start applies to a new stream; replay moves an existing one")
	}
	return e.Prepare(st, b.Secret)
}

// handleCreateStream serves POST /v1/streams (admin scope): {"name",
// "type", "format", "filters", "settings", "secret", "start"} → 201 and the
// stream. Returns EINVALID naming the field; ECONFLICT past maxStreams.
func (s *Server) handleCreateStream(w http.ResponseWriter, r *http.Request) error {
	e, err := s.streams()
	if err != nil {
		return err
	}
	var b streamBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	tenant := principalFrom(r.Context()).tenant()
	now := s.Now().UTC()
	st := &auditkeep.Stream{ID: newID("str_"), Tenant: tenant, State: auditkeep.StreamActive, CreatedAt: now, UpdatedAt: now}
	if err := b.apply(e, st, true); err != nil {
		return err
	}
	switch b.Start {
	case "", "now":
		if st.Cursor, err = e.Head(r.Context(), tenant); err != nil {
			return err
		}
	case "beginning":
	default:
		return auditkeep.FieldErrorf("start", `start must be "now" or "beginning"`)
	}
	list, err := e.Store().ListStreams(r.Context(), tenant)
	if err != nil {
		return err
	}
	if len(list) >= maxStreams {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "a tenant may have at most %d streams; delete one first", maxStreams)
	}
	if err := e.Store().CreateStream(r.Context(), st); err != nil {
		return err
	}
	e.Changed(tenant, st.ID)
	s.recordLogged(r, tenant, Audit{Action: "stream.create", Type: auditkeep.TypeCreate, Target: streamTarget(st),
		Description: "Created stream '" + st.Name + "' (" + st.Type + ", " + st.Format + ")", Metadata: streamMetadata(st, nil)})
	writeJSON(w, http.StatusCreated, s.viewStream(r, e, st))
	return nil
}

func streamTarget(st *auditkeep.Stream) *auditkeep.Target {
	return &auditkeep.Target{Type: "stream", ID: st.ID, Name: st.Name}
}

// streamMetadata is what a stream's records say of it: never its secret
// or settings (a header may hold a credential), only which of them changed.
func streamMetadata(st *auditkeep.Stream, changed []string) map[string]any {
	m := map[string]any{"type": st.Type, "format": st.Format, "filters": st.Filters, "state": st.State}
	if changed != nil {
		m["changed"] = changed
	}
	return m
}

// handleListStreams serves GET /v1/streams: the tenant's streams.
func (s *Server) handleListStreams(w http.ResponseWriter, r *http.Request) error {
	e, err := s.streams()
	if err != nil {
		return err
	}
	list, err := e.Store().ListStreams(r.Context(), principalFrom(r.Context()).tenant())
	if err != nil {
		return err
	}
	out := make([]streamView, 0, len(list))
	for _, st := range list {
		out = append(out, s.viewStream(r, e, st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"streams": out})
	return nil
}

// stream reads the request's stream. Returns ENOTFOUND.
func (s *Server) stream(r *http.Request) (*delivery.Engine, *auditkeep.Stream, error) {
	e, err := s.streams()
	if err != nil {
		return nil, nil, err
	}
	st, err := e.Store().GetStream(r.Context(), principalFrom(r.Context()).tenant(), r.PathValue("id"))
	return e, st, err
}

// handleGetStream serves GET /v1/streams/{id}.
func (s *Server) handleGetStream(w http.ResponseWriter, r *http.Request) error {
	e, st, err := s.stream(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.viewStream(r, e, st))
	return nil
}

// handlePatchStream serves PATCH /v1/streams/{id}: the members given
// change; a changed secret or settings take a stream out of auth_error.
func (s *Server) handlePatchStream(w http.ResponseWriter, r *http.Request) error {
	e, st, err := s.stream(r)
	if err != nil {
		return err
	}
	var b streamBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	old := *st
	if err := b.apply(e, st, false); err != nil {
		return err
	}
	var changed []string
	if st.Name != old.Name {
		changed = append(changed, "name")
	}
	if st.Format != old.Format {
		changed = append(changed, "format")
	}
	if b.Filters != nil {
		changed = append(changed, "filters")
	}
	if b.Settings != nil {
		changed = append(changed, "settings")
	}
	if b.Secret != nil {
		changed = append(changed, "secret")
	}
	if st.State == auditkeep.StreamAuthError && (b.Settings != nil || b.Secret != nil) {
		st.State = auditkeep.StreamActive
	}
	st.UpdatedAt = s.Now().UTC()
	if err := e.Store().UpdateStream(r.Context(), st); err != nil {
		return err
	}
	e.Changed(st.Tenant, st.ID)
	if changed == nil {
		changed = []string{}
	}
	s.recordLogged(r, st.Tenant, Audit{Action: "stream.update", Type: auditkeep.TypeUpdate, Target: streamTarget(st),
		Description: "Updated stream '" + st.Name + "': " + describeChanged(changed), Metadata: streamMetadata(st, changed)})
	writeJSON(w, http.StatusOK, s.viewStream(r, e, st))
	return nil
}

func describeChanged(changed []string) string {
	if len(changed) == 0 {
		return "nothing changed"
	}
	return strings.Join(changed, ", ") + " changed"
}

// handleDeleteStream serves DELETE /v1/streams/{id} → 204.
func (s *Server) handleDeleteStream(w http.ResponseWriter, r *http.Request) error {
	e, st, err := s.stream(r)
	if err != nil {
		return err
	}
	if err := e.Store().DeleteStream(r.Context(), st.Tenant, st.ID); err != nil {
		return err
	}
	e.Changed(st.Tenant, st.ID)
	s.recordLogged(r, st.Tenant, Audit{Action: "stream.delete", Type: auditkeep.TypeDelete, Target: streamTarget(st),
		Description: "Deleted stream '" + st.Name + "'", Metadata: streamMetadata(st, nil)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handlePauseStream serves POST /v1/streams/{id}/pause: delivery stops
// (the cursor stays) until resumed.
func (s *Server) handlePauseStream(w http.ResponseWriter, r *http.Request) error {
	return s.setStreamState(w, r, auditkeep.StreamPaused, "stream.pause", "Paused")
}

// handleResumeStream serves POST /v1/streams/{id}/resume: delivery goes on
// from the cursor (from paused, failing or auth_error).
func (s *Server) handleResumeStream(w http.ResponseWriter, r *http.Request) error {
	return s.setStreamState(w, r, auditkeep.StreamActive, "stream.resume", "Resumed")
}

func (s *Server) setStreamState(w http.ResponseWriter, r *http.Request, state, action, verb string) error {
	e, st, err := s.stream(r)
	if err != nil {
		return err
	}
	old := st.State
	st.State, st.UpdatedAt = state, s.Now().UTC()
	if err := e.Store().UpdateStream(r.Context(), st); err != nil {
		return err
	}
	e.Changed(st.Tenant, st.ID)
	m := streamMetadata(st, nil)
	m["old_state"] = old
	s.recordLogged(r, st.Tenant, Audit{Action: action, Type: auditkeep.TypeUpdate, Target: streamTarget(st),
		Description: verb + " stream '" + st.Name + "'", Metadata: m})
	writeJSON(w, http.StatusOK, s.viewStream(r, e, st))
	return nil
}

// handleTestStream serves POST /v1/streams/{id}/test: one marked test
// event sent now → 200 {"delivered": true} or {"delivered": false,
// "error": "..."} with what the receiver said.
func (s *Server) handleTestStream(w http.ResponseWriter, r *http.Request) error {
	e, st, err := s.stream(r)
	if err != nil {
		return err
	}
	p := principalFrom(r.Context())
	err = e.Test(r.Context(), st, actorOf(p))
	out := map[string]any{"delivered": err == nil}
	desc := "Sent a test event to stream '" + st.Name + "'"
	if err != nil {
		out["error"] = err.Error()
		desc += ": " + err.Error()
	}
	s.recordLogged(r, st.Tenant, Audit{Action: "stream.test", Type: auditkeep.TypeExecute, Target: streamTarget(st), Failed: err != nil,
		Description: desc, Metadata: streamMetadata(st, nil)})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleReplayStream serves POST /v1/streams/{id}/replay {"from_seq": N}
// or {"from_time": RFC 3339}: the stream delivers again from the event of
// that seq, or from the first event (in seq order) that occurred at or
// after that time. Replayed events get new stream seqs.
func (s *Server) handleReplayStream(w http.ResponseWriter, r *http.Request) error {
	e, st, err := s.stream(r)
	if err != nil {
		return err
	}
	var b struct {
		FromSeq  *int64     `json:"from_seq"`
		FromTime *time.Time `json:"from_time"`
	}
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	var from int64
	switch {
	case b.FromSeq != nil && b.FromTime != nil:
		return auditkeep.FieldErrorf("from_seq", "give from_seq or from_time, not both")
	case b.FromSeq != nil:
		if *b.FromSeq < 1 {
			return auditkeep.FieldErrorf("from_seq", "from_seq must be 1 or more")
		}
		from = *b.FromSeq
	case b.FromTime != nil:
		evs, _, err := s.store.ListEvents(r.Context(), st.Tenant, auditkeep.Filter{From: *b.FromTime, Order: auditkeep.OrderAsc, Sort: auditkeep.SortSeq, Limit: 1})
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			head, err := e.Head(r.Context(), st.Tenant)
			if err != nil {
				return err
			}
			from = head + 1
		} else {
			from = evs[0].Seq
		}
	default:
		return auditkeep.FieldErrorf("from_seq", "from_seq or from_time is required")
	}
	if err := e.Store().ReplayStream(r.Context(), st.Tenant, st.ID, from-1, s.Now().UTC()); err != nil {
		return err
	}
	e.Changed(st.Tenant, st.ID)
	m := streamMetadata(st, nil)
	m["from_seq"] = from
	m["old_cursor"] = st.Cursor
	s.recordLogged(r, st.Tenant, Audit{Action: "stream.replay", Type: auditkeep.TypeUpdate, Target: streamTarget(st),
		Description: "Replayed stream '" + st.Name + "' from seq " + strconv.FormatInt(from, 10), Metadata: m})
	st, err = e.Store().GetStream(r.Context(), st.Tenant, st.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.viewStream(r, e, st))
	return nil
}
