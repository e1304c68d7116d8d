package client_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
)

// auditedMux returns a platform-like mux wrapped in the middleware, and the
// fake server its blocking recorder stores events in.
func auditedMux(t *testing.T, opts client.MiddlewareOptions, routes map[string]http.HandlerFunc) (http.Handler, *fakeIngest) {
	t.Helper()
	f, c := newFakeIngest(t)
	rec := newRecorder(c, client.RecorderOptions{Blocking: true})
	t.Cleanup(func() { rec.Close(context.Background()) })
	if opts.Actor == nil {
		opts.Actor = func(r *http.Request) auditkeep.Actor {
			return auditkeep.Actor{Type: "user", ID: r.Header.Get("X-User")}
		}
	}
	if opts.OnError == nil {
		opts.OnError = func(r *http.Request, err error) { t.Errorf("%s %s: Record: %v", r.Method, r.URL, err) }
	}
	mux := http.NewServeMux()
	for p, h := range routes {
		mux.HandleFunc(p, h)
	}
	return client.Middleware(rec, opts)(mux), f
}

func jsonReply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// serve sends one request to h and returns the one event recorded, or nil.
func serve(t *testing.T, h http.Handler, f *fakeIngest, req *http.Request) *auditkeep.Event {
	t.Helper()
	before := len(f.stored())
	h.ServeHTTP(httptest.NewRecorder(), req)
	got := f.stored()[before:]
	switch len(got) {
	case 0:
		return nil
	case 1:
		return &got[0]
	}
	t.Fatalf("%s %s recorded %d events; want at most 1", req.Method, req.URL, len(got))
	return nil
}

func TestMiddlewareRoutes(t *testing.T) {
	routes := map[string]http.HandlerFunc{
		"POST /projects": jsonReply(201, `{"id":"prj_1","name":"Shop"}`),
		"PUT /projects/{project}/environments/{env}":    jsonReply(200, `{"id":"env_7","name":"production"}`),
		"POST /projects/{project}/environments":         jsonReply(201, `{"id":"env_8","name":"staging"}`),
		"DELETE /projects/{project}/services/{service}": jsonReply(204, ``),
		"PATCH /v1/policies/{id}":                       jsonReply(200, `{"id":"pol_1"}`),
		"POST /deployments/{deployment}/restart":        jsonReply(202, `{"status":"restarting"}`),
		"POST /tokens/{token}/revoke":                   jsonReply(200, `{}`),
		"POST /files/{bucket}/{path...}":                jsonReply(201, `{}`),
		"DELETE /projects/{project}/environments":       jsonReply(204, ``),
		"POST /login": jsonReply(200, `{}`),
		"PUT /projects/{project}/env-vars/{name}":               jsonReply(200, `{"name":"X"}`),
		"POST /projects/{project}/addresses":                    jsonReply(201, `{"id":42}`),
		"PUT example.com/things/{thing}":                        jsonReply(200, `{}`),
		"PUT /projects/{project}/environments/{env}/{$}":        jsonReply(200, `{}`),
		"POST /projects/{project}/environments/{env}/variables": jsonReply(422, `{"error":"bad"}`),
	}
	h, f := auditedMux(t, client.MiddlewareOptions{}, routes)
	tests := []struct {
		method, url string
		action      string
		typ         string
		target      *auditkeep.Target
		scope       string
		status      string
	}{
		{"POST", "/projects", "project.create", "create", &auditkeep.Target{Type: "project", ID: "prj_1", Name: "Shop"}, "project:prj_1", "success"},
		{"PUT", "/projects/prj_1/environments/env_7", "environment.update", "update", &auditkeep.Target{Type: "environment", ID: "env_7", Name: "production"}, "project:prj_1/environment:env_7", "success"},
		{"POST", "/projects/prj_1/environments", "environment.create", "create", &auditkeep.Target{Type: "environment", ID: "env_8", Name: "staging"}, "project:prj_1/environment:env_8", "success"},
		{"DELETE", "/projects/prj_1/services/svc_3", "service.delete", "delete", &auditkeep.Target{Type: "service", ID: "svc_3"}, "project:prj_1/service:svc_3", "success"},
		{"PATCH", "/v1/policies/pol_1", "policy.update", "update", &auditkeep.Target{Type: "policy", ID: "pol_1"}, "policy:pol_1", "success"},
		{"POST", "/deployments/dep_9/restart", "deployment.restart", "execute", &auditkeep.Target{Type: "deployment", ID: "dep_9"}, "deployment:dep_9", "success"},
		{"POST", "/tokens/tok_1/revoke", "token.revoke", "execute", &auditkeep.Target{Type: "token", ID: "tok_1"}, "token:tok_1", "success"},
		{"POST", "/files/b1/a/b%20c.txt", "path.create", "create", &auditkeep.Target{Type: "path", ID: "a/b c.txt"}, "file:b1/path:a%2Fb c.txt", "success"},
		{"DELETE", "/projects/prj_1/environments", "environment.delete", "delete", nil, "project:prj_1", "success"},
		{"POST", "/login", "login", "login", nil, "", "success"},
		{"PUT", "/projects/prj_1/env-vars/X", "env-var.update", "update", &auditkeep.Target{Type: "env-var", ID: "X", Name: "X"}, "project:prj_1/env-var:X", "success"},
		{"POST", "/projects/prj_1/addresses", "address.create", "create", &auditkeep.Target{Type: "address", ID: "42"}, "project:prj_1/address:42", "success"},
		{"PUT", "http://example.com/things/t1", "thing.update", "update", &auditkeep.Target{Type: "thing", ID: "t1"}, "thing:t1", "success"},
		{"PUT", "/projects/p/environments/e/", "environment.update", "update", &auditkeep.Target{Type: "environment", ID: "e"}, "project:p/environment:e", "success"},
		{"POST", "/projects/p/environments/e/variables", "variable.create", "create", nil, "project:p/environment:e", "failure"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.url, nil)
		req.Header.Set("X-User", "usr_42")
		e := serve(t, h, f, req)
		if e == nil {
			t.Errorf("%s %s recorded nothing; want %s", tt.method, tt.url, tt.action)
			continue
		}
		if e.Action != tt.action || e.Type != tt.typ || e.Status != tt.status {
			t.Errorf("%s %s: action, type, status = %s, %s, %s; want %s, %s, %s", tt.method, tt.url, e.Action, e.Type, e.Status, tt.action, tt.typ, tt.status)
		}
		if !reflect.DeepEqual(e.Target, tt.target) {
			t.Errorf("%s %s: target = %+v; want %+v", tt.method, tt.url, e.Target, tt.target)
		}
		if got := auditkeep.ScopePath(e.Scope); got != tt.scope {
			t.Errorf("%s %s: scope = %q; want %q", tt.method, tt.url, got, tt.scope)
		}
		if e.Actor.ID != "usr_42" {
			t.Errorf("%s %s: actor = %+v; want usr_42", tt.method, tt.url, e.Actor)
		}
	}
}

func TestMiddlewareSkips(t *testing.T) {
	h, f := auditedMux(t, client.MiddlewareOptions{}, map[string]http.HandlerFunc{
		"/projects/{project}": jsonReply(200, `{"id":"p"}`),
	})
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/projects/p", nil),
		httptest.NewRequest("HEAD", "/projects/p", nil),
		httptest.NewRequest("OPTIONS", "/projects/p", nil),
		httptest.NewRequest("POST", "/nowhere", nil), // no route: 404
	} {
		if e := serve(t, h, f, req); e != nil {
			t.Errorf("%s %s recorded %s; want nothing", req.Method, req.URL, e.Action)
		}
	}
	if e := serve(t, h, f, httptest.NewRequest("PUT", "/projects/p", nil)); e == nil || e.Action != "project.update" {
		t.Errorf("PUT /projects/p recorded %v; want project.update", e)
	}
}

func TestMiddlewareMethodsOption(t *testing.T) {
	h, f := auditedMux(t, client.MiddlewareOptions{Methods: []string{"GET"}}, map[string]http.HandlerFunc{
		"/secrets/{name}": jsonReply(200, `{}`),
	})
	if e := serve(t, h, f, httptest.NewRequest("POST", "/secrets/db", nil)); e != nil {
		t.Errorf("POST recorded %s with Methods [GET]; want nothing", e.Action)
	}
	if e := serve(t, h, f, httptest.NewRequest("GET", "/secrets/db", nil)); e == nil || e.Action != "secret.read" || e.Type != "read" {
		t.Errorf("GET recorded %+v; want secret.read of type read", e)
	}
}

func TestMiddlewareDescribeAnnotateEnrich(t *testing.T) {
	opts := client.MiddlewareOptions{
		Describe: func(r *http.Request) (string, *auditkeep.Target, []auditkeep.ScopeEntry) {
			if r.Pattern == "POST /auth" {
				return "user.login", nil, nil
			}
			if r.Pattern == "POST /secrets/{name}/reveal" {
				return "secret.reveal", &auditkeep.Target{Type: "secret", ID: r.PathValue("name")}, []auditkeep.ScopeEntry{{Type: "vault", ID: "main"}}
			}
			return "", nil, nil
		},
		Enrich: func(r *http.Request, e *auditkeep.Event) { e.Team = "platform" },
		Actor:  func(r *http.Request) auditkeep.Actor { return auditkeep.Actor{} },
	}
	h, f := auditedMux(t, opts, map[string]http.HandlerFunc{
		"POST /auth": func(w http.ResponseWriter, r *http.Request) {
			client.Annotate(r.Context(), func(e *auditkeep.Event) {
				e.Actor = auditkeep.Actor{Type: "user", ID: "usr_7", Email: "bob@example.com"}
				e.Description = "Signed in"
			})
		},
		"POST /secrets/{name}/reveal": jsonReply(200, `{"id":"db","name":"Database"}`),
		"PUT /things/{thing}":         jsonReply(200, `{}`),
	})
	e := serve(t, h, f, httptest.NewRequest("POST", "/auth", nil))
	if e == nil || e.Action != "user.login" || e.Type != "login" || e.Actor.ID != "usr_7" || e.Description != "Signed in" || e.Team != "platform" {
		t.Errorf("POST /auth recorded %+v; want user.login (login) by usr_7, described, team platform", e)
	}
	e = serve(t, h, f, httptest.NewRequest("POST", "/secrets/db/reveal", nil))
	if e == nil || e.Action != "secret.reveal" || e.Type != "create" || e.Target.Name != "Database" || auditkeep.ScopePath(e.Scope) != "vault:main" {
		t.Errorf("POST /secrets/db/reveal recorded %+v; want secret.reveal, target named Database, scope vault:main", e)
	}
	e = serve(t, h, f, httptest.NewRequest("PUT", "/things/t", nil))
	if e == nil || e.Action != "thing.update" || e.Actor.ID != "anonymous" {
		t.Errorf("PUT /things/t recorded %+v; want thing.update by anonymous", e)
	}
}

func TestMiddlewareClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.7:5000", nil, "203.0.113.7"},
		{"203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"}, // not from a trusted proxy: header ignored
		{"10.0.0.2:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.0.0.2:5000", []string{"6.6.6.6, 198.51.100.1, 10.0.0.3"}, "198.51.100.1"}, // the spoofable left part is skipped
		{"10.0.0.2:5000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},         // several headers
		{"10.0.0.2:5000", []string{"10.0.0.5, 10.0.0.4"}, "10.0.0.5"},                  // all trusted: the farthest
		{"10.0.0.2:5000", []string{"garbage, 10.0.0.4"}, "10.0.0.4"},                   // stop at garbage
		{"10.0.0.2:5000", nil, "10.0.0.2"},                                             // no header
		{"[fd00::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},                      // IPv6
		{"[::ffff:203.0.113.9]:80", nil, "203.0.113.9"},                                // mapped IPv4
		{"10.0.0.2:5000", []string{"[2001:db8::8]:1234"}, "2001:db8::8"},               // with a port
		{"@", nil, ""}, // not an address (unix socket)
	}
	h, f := auditedMux(t, client.MiddlewareOptions{TrustedProxies: trusted}, map[string]http.HandlerFunc{
		"POST /things": jsonReply(201, `{"id":"t"}`),
	})
	for _, tt := range tests {
		req := httptest.NewRequest("POST", "/things", nil)
		req.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		e := serve(t, h, f, req)
		if e == nil {
			t.Fatalf("remote %s: nothing recorded", tt.remote)
		}
		if e.Context.IP != tt.want {
			t.Errorf("client IP (remote %s, X-Forwarded-For %q) = %q; want %q", tt.remote, tt.xff, e.Context.IP, tt.want)
		}
	}
}

// TestMiddlewareClientIPOverLoopback serves the middleware on a real
// listener and connects from two loopback addresses: one a trusted proxy,
// one not. Only the proxy's Forwarded header is believed.
func TestMiddlewareClientIPOverLoopback(t *testing.T) {
	h, f := auditedMux(t, client.MiddlewareOptions{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
		ClientIPHeader: "Forwarded",
	}, map[string]http.HandlerFunc{"POST /things": jsonReply(201, `{"id":"t"}`)})
	srv := httptest.NewServer(h)
	defer srv.Close()
	from := func(src string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	tests := []struct {
		src, forwarded, xff, want string
	}{
		{"127.0.0.3", "for=198.51.100.1", "198.51.100.2", "127.0.0.3"},            // forged by a client: ignored
		{"127.0.0.2", "for=6.6.6.6, for=198.51.100.1", "6.6.6.6", "198.51.100.1"}, // the proxy's hop, not the forged one
		{"127.0.0.2", "", "198.51.100.2", "127.0.0.2"},                            // X-Forwarded-For is not the header read
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("POST", srv.URL+"/things", nil)
		if tt.forwarded != "" {
			req.Header.Set("Forwarded", tt.forwarded)
		}
		req.Header.Set("X-Forwarded-For", tt.xff)
		before := len(f.stored())
		resp, err := from(tt.src).Do(req)
		if err != nil {
			t.Skipf("cannot connect from %s (loopback aliases unavailable): %v", tt.src, err)
		}
		resp.Body.Close()
		got := f.stored()[before:]
		if len(got) != 1 {
			t.Fatalf("from %s: %d events recorded; want 1", tt.src, len(got))
		}
		if got[0].Context.IP != tt.want {
			t.Errorf("from %s, Forwarded %q: context.ip = %q; want %q", tt.src, tt.forwarded, got[0].Context.IP, tt.want)
		}
	}
}

func TestSourceFromUserAgent(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-acme/2.1.0", "terraform"},
		{"HashiCorp Terraform/1.5.7", "terraform"},
		{"OpenTofu/1.8.0", "terraform"},
		{"curl/8.5.0", "cli"},
		{"Wget/1.21.4", "cli"},
		{"HTTPie/3.2.2", "cli"},
		{"acme-cli/0.4.1 (linux; amd64)", "cli"},
		{"kubectl/v1.30.0 (linux/amd64)", "cli"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15", "console"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) WindowsPowerShell/5.1.22621.2506", "cli"},
		{"Go-http-client/1.1", "api"},
		{"python-requests/2.32.3", "api"},
		{"", "api"},
	}
	for _, tt := range tests {
		if got := client.SourceFromUserAgent(tt.ua); got != tt.want {
			t.Errorf("SourceFromUserAgent(%q) = %q; want %q", tt.ua, got, tt.want)
		}
	}
}

func TestMiddlewareSource(t *testing.T) {
	h, f := auditedMux(t, client.MiddlewareOptions{}, map[string]http.HandlerFunc{"POST /things": jsonReply(201, `{"id":"t"}`)})
	tests := []struct{ header, ua, want string }{
		{"", "curl/8.5.0", "cli"},
		{"Git", "curl/8.5.0", "git"},                    // the header wins, lowercased
		{"not a word!", "Mozilla/5.0 (X11)", "console"}, // a bad header is ignored
		{"", "", "api"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("POST", "/things", nil)
		req.Header.Set("User-Agent", tt.ua)
		if tt.header != "" {
			req.Header.Set("X-Audit-Source", tt.header)
		}
		if e := serve(t, h, f, req); e == nil || e.Source != tt.want || e.Context.UserAgent != tt.ua {
			t.Errorf("source (header %q, UA %q) = %+v; want %q", tt.header, tt.ua, e, tt.want)
		}
	}
}

// TestMiddlewarePassesResponseThrough checks over a real connection that the
// client gets exactly what the handler wrote, flushes included, and that
// the event keeps the JSON body as snapshot.
func TestMiddlewarePassesResponseThrough(t *testing.T) {
	flushed := make(chan struct{})
	big := `{"blob":"` + strings.Repeat("x", 100<<10) + `"}`
	h, f := auditedMux(t, client.MiddlewareOptions{}, map[string]http.HandlerFunc{
		"POST /streams/{id}/events": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("X-Custom", "kept")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"id":"s1",`)
			w.(http.Flusher).Flush()
			<-flushed // the client has read the first part before the handler ends
			io.WriteString(w, `"name":"first"}`)
		},
		"PUT /blobs/{id}": jsonReply(200, big),
		"PUT /pages/{id}": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, `{"looks":"like json"}`)
		},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	res, err := http.Post(srv.URL+"/streams/s1/events", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(res.Body)
	first := make([]byte, len(`{"id":"s1",`))
	if _, err := io.ReadFull(br, first); err != nil {
		t.Fatalf("reading the flushed part: %v", err)
	}
	close(flushed)
	rest, _ := io.ReadAll(br)
	res.Body.Close()
	if got := string(first) + string(rest); got != `{"id":"s1","name":"first"}` || res.StatusCode != 202 || res.Header.Get("X-Custom") != "kept" {
		t.Errorf("response = %d %q X-Custom=%q; want 202 with the handler's body and header", res.StatusCode, got, res.Header.Get("X-Custom"))
	}
	events := f.stored()
	if len(events) != 1 || string(events[0].Snapshot) != `{"id":"s1","name":"first"}` || events[0].Target.Name != "first" {
		t.Fatalf("events = %+v; want one with the body as snapshot", events)
	}

	req, _ := http.NewRequest("PUT", srv.URL+"/blobs/b1", nil)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != big {
		t.Errorf("large body: got %d bytes; want the %d the handler wrote", len(b), len(big))
	}
	e := f.stored()[1]
	var meta map[string]any
	json.Unmarshal(e.Metadata, &meta)
	if e.Snapshot != nil || meta["response_bytes"] != float64(len(big)) {
		t.Errorf("large body: snapshot %d bytes, metadata %s; want no snapshot and response_bytes %d", len(e.Snapshot), e.Metadata, len(big))
	}

	req, _ = http.NewRequest("PUT", srv.URL+"/pages/p1", nil)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if e := f.stored()[2]; e.Snapshot != nil {
		t.Errorf("text/html body kept as snapshot %s; want none", e.Snapshot)
	}
}

func TestMiddlewareFailures(t *testing.T) {
	h, f := auditedMux(t, client.MiddlewareOptions{}, map[string]http.HandlerFunc{
		"PUT /things/{id}": func(w http.ResponseWriter, r *http.Request) {
			switch r.PathValue("id") {
			case "conflict":
				jsonReply(409, `{"error":{"code":"conflict"}}`)(w, r)
			case "panic":
				panic("boom")
			case "silent":
			}
		},
	})
	tests := []struct {
		id, status string
		code       float64
	}{{"conflict", "failure", 409}, {"panic", "failure", 500}, {"silent", "success", 200}}
	for _, tt := range tests {
		req := httptest.NewRequest("PUT", "/things/"+tt.id, nil)
		before := len(f.stored())
		func() {
			defer func() {
				if p := recover(); (p != nil) != (tt.id == "panic") {
					t.Errorf("PUT /things/%s: panic %v", tt.id, p)
				}
			}()
			h.ServeHTTP(httptest.NewRecorder(), req)
		}()
		got := f.stored()[before:]
		if len(got) != 1 {
			t.Fatalf("PUT /things/%s recorded %d events; want 1", tt.id, len(got))
		}
		var meta struct {
			Code float64 `json:"status_code"`
		}
		json.Unmarshal(got[0].Metadata, &meta)
		if got[0].Status != tt.status || meta.Code != tt.code || got[0].Snapshot != nil {
			t.Errorf("PUT /things/%s: status %s, code %v, snapshot %s; want %s, %v, none", tt.id, got[0].Status, meta.Code, got[0].Snapshot, tt.status, tt.code)
		}
	}
}

// TestMiddlewareHostileInput checks that a crafted request cannot get its
// own event refused by the server (which would hide it from the log).
func TestMiddlewareHostileInput(t *testing.T) {
	h, f := auditedMux(t, client.MiddlewareOptions{}, map[string]http.HandlerFunc{
		"PUT /projects/{project}/things/{thing}": jsonReply(200, `{"name":"`+strings.Repeat("n", 300)+`\u0000"}`),
	})
	req := httptest.NewRequest("PUT", "/projects/%20a%2Fb%00/things/"+strings.Repeat("%C3%A9", 200), nil)
	req.Header.Set("User-Agent", strings.Repeat("u", 2000)+"\x01")
	req.Header.Set("X-Audit-Source", strings.Repeat("s", 100))
	e := serve(t, h, f, req)
	if e == nil {
		t.Fatal("the hostile request recorded nothing; want its event stored")
	}
	if len(e.Target.ID) > 256 || len(e.Context.UserAgent) > 1024 || e.Source != "api" {
		t.Errorf("event = %+v; want target id and user agent cut, source api", e)
	}
}

// TestMiddlewareMuxFallback checks that the route is found through Mux when
// a middleware between them replaced the request.
func TestMiddlewareMuxFallback(t *testing.T) {
	f, c := newFakeIngest(t)
	rec := newRecorder(c, client.RecorderOptions{Blocking: true})
	mux := http.NewServeMux()
	mux.HandleFunc("DELETE /projects/{project}/tokens/{token}", jsonReply(204, ""))
	type key struct{}
	replace := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, 1)))
		})
	}
	for _, withMux := range []bool{false, true} {
		opts := client.MiddlewareOptions{}
		if withMux {
			opts.Mux = mux
		}
		h := client.Middleware(rec, opts)(replace(mux))
		before := len(f.stored())
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/projects/p%2F1/tokens/tok%201", nil))
		got := f.stored()[before:]
		switch {
		case !withMux && len(got) != 0:
			t.Errorf("without Mux recorded %+v; want nothing (no route seen)", got)
		case withMux && (len(got) != 1 || got[0].Action != "token.delete" || got[0].Target.ID != "tok 1" || auditkeep.ScopePath(got[0].Scope) != "project:p%2F1/token:tok 1"):
			t.Errorf("with Mux recorded %+v; want token.delete of tok 1 in project p/1", got)
		}
	}
}

func TestMiddlewareOperationSnapshot(t *testing.T) {
	h, f := auditedMux(t, client.MiddlewareOptions{}, map[string]http.HandlerFunc{
		"POST /deployments/{id}/restart":  jsonReply(202, `{"status":"restarting"}`),
		"POST /deployments/{id}/rollback": jsonReply(200, `{"id":"dep_9","name":"web","version":3}`),
	})
	tests := []struct{ path, snapshot string }{
		{"/deployments/dep_9/restart", ""},
		{"/deployments/dep_9/rollback", `{"id":"dep_9","name":"web","version":3}`},
	}
	for _, tt := range tests {
		e := serve(t, h, f, httptest.NewRequest("POST", tt.path, nil))
		if e == nil || string(e.Snapshot) != tt.snapshot {
			t.Errorf("POST %s recorded %+v; want snapshot %q", tt.path, e, tt.snapshot)
		}
	}
}
