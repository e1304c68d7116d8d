package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/auditkeep/auditkeep/docs"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// The end-to-end tests send every request through describedTransport
// (installed as http.DefaultTransport by TestMain), which checks each /v1
// request and answer against the API's description, docs/openapi.json:
// a path, parameter, field or status the description lacks fails the run.

const describedFile = "docs/openapi.json"

// describedTransport validates /v1 traffic against the description.
type describedTransport struct {
	base   http.RoundTripper
	router routers.Router

	mu         sync.Mutex
	violations []string
	record     *os.File // AUDITKEEP_OPENAPI_RECORD: every exchange as a JSON line
}

// newDescribedTransport loads the description and its router.
func newDescribedTransport(base http.RoundTripper) (*describedTransport, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(docs.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describedFile, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("%s: %w", describedFile, err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describedFile, err)
	}
	d := &describedTransport{base: base, router: router}
	if p := os.Getenv("AUDITKEEP_OPENAPI_RECORD"); p != "" {
		if d.record, err = os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// streamed are the media types whose answers are read as they come and
// whose bodies are therefore not validated (their status and media type are).
var streamed = []string{"text/event-stream", "application/x-ndjson", "text/csv", "application/octet-stream", "application/gzip"}

func (d *describedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(req.URL.Path, "/v1/") {
		return d.base.RoundTrip(req)
	}
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	if d.record != nil {
		return d.recordOnly(req, reqBody)
	}
	what := req.Method + " " + req.URL.Path
	route, params, err := d.router.FindRoute(req)
	if err != nil {
		res, rerr := d.base.RoundTrip(req)
		if rerr != nil {
			return nil, rerr
		}
		// Paths the server does not have either are fine; only served ones must be described.
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			return nil, d.fail(res, "%s: answered %d but no path of %s matches it (%v); describe it under \"paths\"", what, res.StatusCode, describedFile, err)
		}
		return res, nil
	}
	reqErr := d.checkRequest(req, reqBody, route, params)

	res, err := d.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
		return res, nil // net/http's own answer, before any route
	}
	if reqErr != nil && res.StatusCode < 400 {
		return nil, d.fail(res, "%s: the server accepted (%d) a request %s refuses at paths.%q.%s: %v; describe what was sent",
			what, res.StatusCode, describedFile, route.Path, strings.ToLower(req.Method), reqErr)
	}
	mediaType, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	var resBody []byte
	if slices.Contains(streamed, mediaType) {
		in.Options.ExcludeResponseBody = true
		in.SetBodyBytes(nil)
		if err := d.checkMediaType(route, res.StatusCode, mediaType); err != nil {
			return nil, d.fail(res, "%s: answered %d %s: %v", what, res.StatusCode, mediaType, err)
		}
	} else {
		resBody, err = io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		res.Body = io.NopCloser(bytes.NewReader(resBody))
		in.SetBodyBytes(resBody)
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return nil, d.fail(res, "%s: answered %d, which %s does not describe at paths.%q.%s.responses.\"%d\": %v\nbody: %.400s",
			what, res.StatusCode, describedFile, route.Path, strings.ToLower(req.Method), res.StatusCode, err, resBody)
	}
	return res, nil
}

// checkRequest validates req against its operation, and checks that every
// query parameter sent is one the operation describes.
func (d *describedTransport) checkRequest(req *http.Request, body []byte, route *routers.Route, params map[string]string) error {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) > 0 && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json") // the server reads JSON bodies whatever their label
	}
	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			MultiError:         true,
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, // the tests also send bad keys on purpose
		},
	}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, p := range append(route.PathItem.Parameters, route.Operation.Parameters...) {
		if p.Value.In == "query" {
			known[p.Value.Name] = true
		}
	}
	var unknown []string
	for k := range req.URL.Query() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("query parameters %v are not described", unknown)
	}
	return nil
}

// checkMediaType checks that status's answer may have mediaType.
func (d *describedTransport) checkMediaType(route *routers.Route, status int, mediaType string) error {
	ref := route.Operation.Responses.Status(status)
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not described", status)
	}
	if ref.Value.Content.Get(mediaType) == nil {
		return fmt.Errorf("media type %s is not described", mediaType)
	}
	return nil
}

// fail records a violation, closes res and returns the error the caller sees.
func (d *describedTransport) fail(res *http.Response, format string, args ...any) error {
	res.Body.Close()
	msg := fmt.Sprintf(format, args...)
	d.mu.Lock()
	d.violations = append(d.violations, msg)
	d.mu.Unlock()
	return fmt.Errorf("openapi: %s", msg)
}

// recordOnly sends req and records the exchange as a JSON line, without
// validating it: AUDITKEEP_OPENAPI_RECORD=file shows what the tests exchange.
func (d *describedTransport) recordOnly(req *http.Request, reqBody []byte) (*http.Response, error) {
	res, err := d.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	mediaType, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	line := map[string]any{"method": req.Method, "path": req.URL.Path, "query": req.URL.Query(), "status": res.StatusCode,
		"request_type": req.Header.Get("Content-Type"), "response_type": mediaType}
	if json.Valid(reqBody) {
		line["request"] = json.RawMessage(reqBody)
	}
	if !slices.Contains(streamed, mediaType) {
		resBody, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		res.Body = io.NopCloser(bytes.NewReader(resBody))
		if json.Valid(resBody) {
			line["response"] = json.RawMessage(resBody)
		}
	}
	b, _ := json.Marshal(line)
	d.mu.Lock()
	d.record.Write(append(b, '\n'))
	d.mu.Unlock()
	return res, nil
}

// report returns every violation seen, once each.
func (d *describedTransport) report() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, v := range d.violations {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// TestOpenAPIServed checks that the server serves the description the tests
// hold it to, and that the description is one kin-openapi accepts as 3.1.
func TestOpenAPIServed(t *testing.T) {
	a := testServer(t, Config{})
	r := call(t, "GET", a.URL()+"/v1/openapi.json", "", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || !bytes.Equal(r.body, docs.OpenAPI) {
		t.Fatalf("GET /v1/openapi.json = %d %s; want 200 and docs/openapi.json", r.status, r.header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi = %q; want 3.1", doc.OpenAPI)
	}
	for _, route := range routePatterns(t) {
		method, path, _ := strings.Cut(route, " ")
		if item := doc.Paths.Value(path); item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %s is served but not described in %s", route, describedFile)
		}
	}
}

// routePatterns reads the /v1 routes of internal/httpapi/routes.go.
func routePatterns(t *testing.T) []string {
	b, err := os.ReadFile("../../internal/httpapi/routes.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		_, rest, ok := strings.Cut(line, `route("`)
		if !ok {
			continue
		}
		pattern, _, _ := strings.Cut(rest, `"`)
		if method, path, ok := strings.Cut(pattern, " "); ok && strings.HasPrefix(path, "/v1/") {
			out = append(out, method+" "+path)
		}
	}
	if len(out) < 30 {
		t.Fatalf("read only %d routes from routes.go", len(out))
	}
	return out
}

// TestOpenAPITypeScriptClient generates a TypeScript client from the
// description with openapi-typescript and type-checks the call README.md
// shows. AUDITKEEP_OPENAPI_TS names the directory npm installed
// openapi-typescript, openapi-fetch, typescript and @types/node into
// (.ci/run does); without it the test skips, and fails under CI=true.
func TestOpenAPITypeScriptClient(t *testing.T) {
	dir := os.Getenv("AUDITKEEP_OPENAPI_TS")
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("AUDITKEEP_OPENAPI_TS is not set")
		}
		t.Skip("AUDITKEEP_OPENAPI_TS is not set: npm install --prefix DIR openapi-typescript@7.13.0 openapi-fetch@0.17.0 typescript@5.9.3 @types/node@20")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```ts\nimport createClient")
	call, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md shows no TypeScript client call")
	}
	work := t.TempDir()
	files := map[string]string{
		"call.ts":       "import createClient" + call,
		"package.json":  `{"type": "module"}`,
		"tsconfig.json": `{"compilerOptions": {"strict": true, "noEmit": true, "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022", "types": ["node"], "typeRoots": ["` + dir + `/node_modules/@types"]}, "files": ["call.ts"]}`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(work, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "node_modules"), filepath.Join(work, "node_modules")); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "node_modules", ".bin")
	for _, args := range [][]string{
		{filepath.Join(bin, "openapi-typescript"), describedPath(t), "-o", filepath.Join(work, "auditkeep-api.d.ts")},
		{filepath.Join(bin, "tsc"), "-p", work},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(args[0]), err, out)
		}
	}
}

// describedPath is docs/openapi.json's path from the package directory.
func describedPath(t *testing.T) string {
	p, err := filepath.Abs(filepath.Join("..", "..", describedFile))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
