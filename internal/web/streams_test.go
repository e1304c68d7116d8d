package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/web"
)

const adminKey = "ak_admin"

// streamsBackend is the console's backend with an admin key and streams
// kept in memory; the real one is tested end to end in cmd/auditkeep.
type streamsBackend struct {
	*fakeBackend
	mu      sync.Mutex
	streams []web.StreamStatus
	calls   []string
	testErr error
}

func (b *streamsBackend) Identify(ctx context.Context, cred string) (*web.Identity, error) {
	if cred == adminKey {
		return &web.Identity{Tenant: "acme", KeyID: "key_admin", Name: "ops", Scopes: []string{"read", "admin"}}, nil
	}
	return b.fakeBackend.Identify(ctx, cred)
}

func (b *streamsBackend) Streams(ctx context.Context, id *web.Identity) ([]web.StreamStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]web.StreamStatus(nil), b.streams...), nil
}

func (b *streamsBackend) find(id string) (*web.StreamStatus, error) {
	for i := range b.streams {
		if b.streams[i].ID == id {
			return &b.streams[i], nil
		}
	}
	return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no stream %s", id)
}

func (b *streamsBackend) setState(id, action, state string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, action+" "+id)
	s, err := b.find(id)
	if err == nil && state != "" {
		s.State = state
	}
	return err
}

func (b *streamsBackend) PauseStream(r *http.Request, id *web.Identity, streamID string) error {
	return b.setState(streamID, "pause", auditkeep.StreamPaused)
}

func (b *streamsBackend) ResumeStream(r *http.Request, id *web.Identity, streamID string) error {
	return b.setState(streamID, "resume", auditkeep.StreamActive)
}

func (b *streamsBackend) ReplayStream(r *http.Request, id *web.Identity, streamID string, from web.StreamReplay) error {
	return b.setState(streamID, "replay "+from.FromTime.Format(time.RFC3339)+" "+strconv.FormatInt(from.FromSeq, 10), "")
}

func (b *streamsBackend) TestStream(r *http.Request, id *web.Identity, streamID string) error {
	if err := b.setState(streamID, "test", ""); err != nil {
		return err
	}
	return b.testErr
}

// postFollow posts a form and, when the answer is a redirect, follows it:
// it returns the status (303 for a redirect), the body of the page it ends
// on and where the redirect led.
func postFollow(t *testing.T, cl *http.Client, base, path string, form url.Values) (int, string, string) {
	t.Helper()
	res, err := cl.PostForm(base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	if res.StatusCode == http.StatusSeeOther {
		loc := res.Header.Get("Location")
		res, _ = cl.Get(base + loc)
		return http.StatusSeeOther, readAll(t, res), loc
	}
	return res.StatusCode, body, ""
}

func newStreamsConsole(t *testing.T) (*streamsBackend, *httptest.Server) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	b := &streamsBackend{fakeBackend: &fakeBackend{}, streams: []web.StreamStatus{
		{Stream: auditkeep.Stream{ID: "str_1", Name: `<img src=x onerror=alert(1)> SIEM`, Type: "splunk_hec", Format: "native", State: auditkeep.StreamActive,
			Filters: map[string][]string{"action": {"user.*"}}, StreamSeq: 40, Cursor: 120, LastSuccessAt: at}, LagEvents: 3, LagSeconds: 2.4},
		{Stream: auditkeep.Stream{ID: "str_2", Name: "syslog", Type: "syslog", Format: "cef", State: auditkeep.StreamAuthError,
			LastError: `receiver answered 403 Forbidden: <b>Invalid token</b>`, LastErrorAt: at}},
	}}
	c := web.New(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.Streams = b
	return b, serveConsole(t, c)
}

// TestStreamsPage: an admin sees each stream's state, lag, last success
// and last error as text; the page and its link are not for other keys.
func TestStreamsPage(t *testing.T) {
	_, srv := newStreamsConsole(t)
	cl := client(t, srv, adminKey)
	res, _ := cl.Get(srv.URL + "/streams")
	body := readAll(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("GET /streams = %d %s", res.StatusCode, body)
	}
	for _, want := range []string{"&lt;img src=x onerror=alert(1)&gt; SIEM", "Active", "3 events of the log, 2s behind", "2026-11-26 09:00:00 UTC",
		"Credentials refused", "receiver answered 403 Forbidden: &lt;b&gt;Invalid token&lt;/b&gt;", "action: user.*", "40 events"} {
		if !strings.Contains(body, want) {
			t.Errorf("the Streams page lacks %q", want)
		}
	}
	if strings.Contains(body, "<img src=x") || strings.Contains(body, "<b>Invalid") {
		t.Error("the Streams page renders content as HTML")
	}
	res, _ = cl.Get(srv.URL + "/")
	if body := readAll(t, res); !strings.Contains(body, `href="/streams"`) {
		t.Error("an admin's pages do not link the Streams page")
	}
	reader := client(t, srv, goodKey)
	res, _ = reader.Get(srv.URL + "/")
	if body := readAll(t, res); strings.Contains(body, `href="/streams"`) {
		t.Error("a read key's pages link the Streams page")
	}
	res, _ = reader.Get(srv.URL + "/streams")
	if readAll(t, res); res.StatusCode != 403 {
		t.Errorf("GET /streams with a read key = %d; want 403", res.StatusCode)
	}
	// Without a Streams backend there is no page.
	plain := serveConsole(t, web.New(&streamsBackend{fakeBackend: &fakeBackend{}}, nil))
	res, _ = client(t, plain, adminKey).Get(plain.URL + "/streams")
	if readAll(t, res); res.StatusCode != 404 {
		t.Errorf("GET /streams without streams = %d; want 404", res.StatusCode)
	}
}

// TestStreamsActions: each form runs its action with the session's CSRF
// token and comes back to the page saying what it did; a forged form, a
// bad replay start and a receiver's refusal of the test say why not.
func TestStreamsActions(t *testing.T) {
	b, srv := newStreamsConsole(t)
	cl := client(t, srv, adminKey)
	res, _ := cl.Get(srv.URL + "/streams")
	csrf := formValue(t, readAll(t, res), "csrf")
	post := func(path string, form url.Values) (int, string, string) {
		t.Helper()
		return postFollow(t, cl, srv.URL, path, form)
	}
	cases := []struct {
		path   string
		form   url.Values
		status int
		call   string
		says   string
	}{
		{"/streams/str_1/pause", url.Values{"csrf": {csrf}, "name": {"SIEM"}}, 303, "pause str_1", "Stream &#39;SIEM&#39; paused"},
		{"/streams/str_1/resume", url.Values{"csrf": {csrf}, "name": {"SIEM"}}, 303, "resume str_1", "Stream &#39;SIEM&#39; resumed"},
		{"/streams/str_1/test", url.Values{"csrf": {csrf}, "name": {"SIEM"}}, 303, "test str_1", "accepted the test event"},
		{"/streams/str_1/replay", url.Values{"csrf": {csrf}, "from_seq": {"17"}}, 303, "replay 0001-01-01T00:00:00Z 17 str_1", "delivering again"},
		{"/streams/str_1/replay", url.Values{"csrf": {csrf}, "from_time": {"2026-11-20T08:30"}}, 303, "replay 2026-11-20T08:30:00Z 0 str_1", "delivering again"},
		{"/streams/str_1/replay", url.Values{"csrf": {csrf}, "from_seq": {"x"}}, 400, "", "the seq to replay from must be a whole number"},
		{"/streams/str_1/replay", url.Values{"csrf": {csrf}}, 400, "", "give a seq or a time"},
		{"/streams/str_1/pause", url.Values{"csrf": {"forged"}}, 403, "", "the form expired"},
		{"/streams/str_1/pause", url.Values{}, 403, "", "the form expired"},
		{"/streams/str_9/pause", url.Values{"csrf": {csrf}}, 404, "pause str_9", "no stream str_9"},
		{"/streams/str_1/delete", url.Values{"csrf": {csrf}}, 404, "", ""},
	}
	for _, c := range cases {
		b.mu.Lock()
		b.calls = nil
		b.mu.Unlock()
		status, body, _ := post(c.path, c.form)
		b.mu.Lock()
		calls := strings.Join(b.calls, ";")
		b.mu.Unlock()
		if status != c.status || calls != c.call || !strings.Contains(body, c.says) {
			t.Errorf("POST %s %v = %d, calls %q; want %d, calls %q, saying %q\n%s", c.path, c.form, status, calls, c.status, c.call, c.says, body)
		}
	}
	// The receiver refuses the test event: the page says so at the stream.
	b.testErr = errors.New("splunk_hec: receiver answered 403 Forbidden: Invalid token (code 4)")
	status, body, _ := post("/streams/str_1/test", url.Values{"csrf": {csrf}})
	if status != http.StatusBadGateway || !strings.Contains(body, "The receiver refused the test event: splunk_hec: receiver answered 403 Forbidden: Invalid token (code 4)") {
		t.Errorf("a refused test = %d\n%s", status, body)
	}
	// A cross-site form is refused even with the token.
	req, _ := http.NewRequest("POST", srv.URL+"/streams/str_1/pause", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	res, _ = cl.Do(req)
	if readAll(t, res); res.StatusCode != 403 {
		t.Errorf("cross-site pause = %d; want 403", res.StatusCode)
	}
}
