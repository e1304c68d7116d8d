package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// StreamStatus is a stream as the Streams page shows it.
type StreamStatus struct {
	auditkeep.Stream
	LagEvents  int64
	LagSeconds float64
}

// StreamReplay is where a replay starts: FromSeq, or FromTime when FromSeq
// is 0.
type StreamReplay struct {
	FromSeq  int64
	FromTime time.Time
}

// StreamBackend is what the Streams page needs of the API server, for a
// key with admin scope. Each action takes the console's request (the
// tenant's log records who asked, from where) and changes the stream as
// POST /v1/streams/{id}/pause, /resume and /replay do, recorded alike;
// TestStream sends a test event as POST /v1/streams/{id}/test does and
// returns the receiver's refusal as an error that is not an
// *auditkeep.Error. Each returns ENOTFOUND for a stream the tenant does
// not have, EFORBIDDEN for a key without admin scope, EINVALID naming a
// bad replay start.
type StreamBackend interface {
	// Streams returns the tenant's streams with their lag, oldest first.
	Streams(ctx context.Context, id *Identity) ([]StreamStatus, error)
	PauseStream(r *http.Request, id *Identity, streamID string) error
	ResumeStream(r *http.Request, id *Identity, streamID string) error
	ReplayStream(r *http.Request, id *Identity, streamID string, from StreamReplay) error
	TestStream(r *http.Request, id *Identity, streamID string) error
}

type streamsPage struct {
	base
	Streams []streamView
	Notice  string // what the last action did
	Error   string // why the last action failed
	ErrorID string // the stream the error is about
}

type streamView struct {
	ID, Name, Type, Format, State string
	StateLabel, StateClass        string
	Filters                       []string
	LagEvents                     int64
	Lag                           string
	LastSuccess, LastErrorAt      time.Time
	LastError                     string
	Delivered                     int64
	Cursor                        int64
	Paused                        bool
	Error                         string // the page's error, when about this stream
}

var stateLabels = map[string][2]string{
	auditkeep.StreamActive:    {"Active", "state-active"},
	auditkeep.StreamPaused:    {"Paused", "state-paused"},
	auditkeep.StreamFailing:   {"Failing", "state-failing"},
	auditkeep.StreamAuthError: {"Credentials refused", "state-auth"},
}

func newStreamView(s StreamStatus) streamView {
	v := streamView{
		ID: s.ID, Name: s.Name, Type: s.Type, Format: s.Format, State: s.State,
		LagEvents: s.LagEvents, LastSuccess: s.LastSuccessAt, LastErrorAt: s.LastErrorAt, LastError: s.LastError,
		Delivered: s.StreamSeq, Cursor: s.Cursor, Paused: s.State == auditkeep.StreamPaused,
	}
	l, ok := stateLabels[s.State]
	if !ok {
		l = [2]string{s.State, "state-paused"}
	}
	v.StateLabel, v.StateClass = l[0], l[1]
	switch {
	case s.LagEvents == 0:
		v.Lag = "up to date"
	case s.LagEvents == 1:
		v.Lag = "1 event of the log, " + lagSeconds(s.LagSeconds)
	default:
		v.Lag = strconv.FormatInt(s.LagEvents, 10) + " events of the log, " + lagSeconds(s.LagSeconds)
	}
	names := make([]string, 0, len(s.Filters))
	for k := range s.Filters {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, val := range s.Filters[k] {
			v.Filters = append(v.Filters, k+": "+val)
		}
	}
	return v
}

func lagSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d < time.Second {
		return "under a second behind"
	}
	return d.Round(time.Second).String() + " behind"
}

// streamNotices are what the page says after each action.
var streamNotices = map[string]string{
	"paused":   "Stream %s paused: it delivers nothing until resumed.",
	"resumed":  "Stream %s resumed.",
	"replayed": "Stream %s is delivering again from the chosen start.",
	"tested":   "The receiver of stream %s accepted the test event.",
}

// streamAdmin returns the signed-in admin, or answers the request itself.
func (c *Console) streamAdmin(w http.ResponseWriter, r *http.Request) (*viewer, bool) {
	if c.Streams == nil {
		http.NotFound(w, r)
		return nil, false
	}
	v, ok := c.identify(w, r)
	if !ok {
		return nil, false
	}
	if v.id.Viewer || !v.id.HasScope(auditkeep.ScopeAdmin) {
		c.fail(w, r, v, auditkeep.Errorf(auditkeep.EFORBIDDEN, "the Streams page needs a key with admin scope"))
		return nil, false
	}
	return v, true
}

func (c *Console) handleStreams(w http.ResponseWriter, r *http.Request) {
	v, ok := c.streamAdmin(w, r)
	if !ok {
		return
	}
	p := streamsPage{}
	q := r.URL.Query()
	if f, ok := streamNotices[q.Get("done")]; ok {
		p.Notice = fmt.Sprintf(f, "'"+q.Get("name")+"'")
	}
	c.renderStreams(w, r, v, http.StatusOK, p)
}

func (c *Console) renderStreams(w http.ResponseWriter, r *http.Request, v *viewer, status int, p streamsPage) {
	streams, err := c.Streams.Streams(r.Context(), v.id)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	p.base = c.base(v, "Streams")
	for _, s := range streams {
		sv := newStreamView(s)
		if s.ID == p.ErrorID {
			sv.Error = p.Error
		}
		p.Streams = append(p.Streams, sv)
	}
	c.render(w, r, status, "streams", p, false)
}

// handleStreamAction runs POST /streams/{id}/{action}: pause, resume,
// replay or test, with the session's CSRF token; it redirects to the page
// with what it did, or shows the page with why it failed.
func (c *Console) handleStreamAction(w http.ResponseWriter, r *http.Request) {
	v, ok := c.streamAdmin(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, v, auditkeep.FieldErrorf("body", "the form could not be read"))
		return
	}
	if v.sess == nil || crossSite(r) || !tokensEqual(v.sess.CSRF, r.PostForm.Get("csrf")) {
		c.fail(w, r, v, auditkeep.Errorf(auditkeep.EFORBIDDEN, "the form expired; reload the page and try again"))
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	var err error
	done := ""
	switch action {
	case "pause":
		err, done = c.Streams.PauseStream(r, v.id, id), "paused"
	case "resume":
		err, done = c.Streams.ResumeStream(r, v.id, id), "resumed"
	case "test":
		err, done = c.Streams.TestStream(r, v.id, id), "tested"
	case "replay":
		var from StreamReplay
		if from, err = replayForm(r.PostForm); err == nil {
			err = c.Streams.ReplayStream(r, v.id, id, from)
		}
		done = "replayed"
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		status := c.b.Status(err)
		var ae *auditkeep.Error
		if !errors.As(err, &ae) {
			// The receiver's refusal of a test event: its message, as the
			// API shows it.
			status = http.StatusBadGateway
		}
		if code := auditkeep.ErrorCode(err); code == auditkeep.ENOTFOUND || code == auditkeep.EINTERNAL && errors.As(err, &ae) {
			c.fail(w, r, v, err)
			return
		}
		c.renderStreams(w, r, v, status, streamsPage{Error: streamErrorText(err), ErrorID: id})
		return
	}
	name := r.PostForm.Get("name")
	http.Redirect(w, r, "/streams?"+url.Values{"done": {done}, "name": {name}}.Encode()+"#stream-"+url.PathEscape(id), http.StatusSeeOther)
}

// streamErrorText is what the page says of a failed action.
func streamErrorText(err error) string {
	var ae *auditkeep.Error
	if errors.As(err, &ae) {
		return auditkeep.ErrorMessage(err)
	}
	return "The receiver refused the test event: " + err.Error()
}

// replayForm reads the replay form: a seq, or a UTC date and time.
func replayForm(f url.Values) (StreamReplay, error) {
	seq, at := strings.TrimSpace(f.Get("from_seq")), strings.TrimSpace(f.Get("from_time"))
	switch {
	case seq != "" && at != "":
		return StreamReplay{}, auditkeep.FieldErrorf("from_seq", "give a seq or a time to replay from, not both")
	case seq != "":
		n, err := strconv.ParseInt(seq, 10, 64)
		if err != nil || n < 1 {
			return StreamReplay{}, auditkeep.FieldErrorf("from_seq", "the seq to replay from must be a whole number from 1")
		}
		return StreamReplay{FromSeq: n}, nil
	case at != "":
		for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, time.DateOnly} {
			if t, err := time.Parse(layout, at); err == nil {
				return StreamReplay{FromTime: t.UTC()}, nil
			}
		}
		return StreamReplay{}, auditkeep.FieldErrorf("from_time", "the time to replay from must be a date and time (UTC)")
	}
	return StreamReplay{}, auditkeep.FieldErrorf("from_seq", "give a seq or a time to replay from")
}
