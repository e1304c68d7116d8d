package senders

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/plugin/pkg/audit/webhook"
)

// kubeconfig writes the webhook configuration an API server is given with
// --audit-webhook-config-file: auditkeep's URL behind TLS (client-go sends
// a token only over TLS), the certificate to trust, and an ingest key.
func kubeconfig(t *testing.T, front *httptest.Server, path, token string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "audit-webhook.kubeconfig")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: auditkeep
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: api-server
  user:
    token: %s
contexts:
- name: default
  context:
    cluster: auditkeep
    user: api-server
current-context: default
`, front.URL+path, base64.StdEncoding.EncodeToString(ca), token)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// tlsFront is the TLS proxy in front of auditkeep that a cluster sends
// to; pass, when set, handles each request in its place.
func tlsFront(t *testing.T, base string, pass func(proxy http.Handler, w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pass != nil {
			pass(proxy, w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front
}

// backend is the API server's webhook backend, as --audit-webhook-mode=blocking
// runs it, with a short backoff for the test.
func backend(t *testing.T, front *httptest.Server, token string) audit.Backend {
	t.Helper()
	b, err := webhook.NewBackend(kubeconfig(t, front, "/k8s/audit", token), auditv1.SchemeGroupVersion,
		wait.Backoff{Duration: 20 * time.Millisecond, Factor: 1.5, Steps: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func micro(s string) metav1.MicroTime {
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return metav1.NewMicroTime(at)
}

func unknown(json string) *runtime.Unknown {
	return &runtime.Unknown{Raw: []byte(json), ContentType: runtime.ContentTypeJSON}
}

// requests are the stages of three requests as an API server records them
// at the RequestResponse level.
func requests() []*auditinternal.Event {
	alice := authnv1.UserInfo{Username: "alice@example.com", Groups: []string{"devs", "system:authenticated"}}
	pods := &auditinternal.ObjectReference{Resource: "pods", Namespace: "shop", APIVersion: "v1"}
	created := `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-7d9f","namespace":"shop","uid":"0b1c","resourceVersion":"1001"},"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}`
	secret := &auditinternal.ObjectReference{Resource: "secrets", Namespace: "shop", Name: "db", APIVersion: "v1"}
	secretObj := `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db","namespace":"shop"},"data":{"password":"aHVudGVyMg=="},"stringData":{"token":"clear-token-value"}}`
	return []*auditinternal.Event{
		{Level: auditinternal.LevelRequestResponse, AuditID: "11111111-2222-3333-4444-555555555501", Stage: auditinternal.StageRequestReceived,
			RequestURI: "/api/v1/namespaces/shop/pods", Verb: "create", User: alice, SourceIPs: []string{"203.0.113.7"}, UserAgent: "kubectl/v1.34.0",
			ObjectRef: pods, RequestObject: unknown(`{"kind":"Pod","apiVersion":"v1","metadata":{"generateName":"web-"}}`),
			RequestReceivedTimestamp: micro("2026-11-30T17:31:00.123456Z"), StageTimestamp: micro("2026-11-30T17:31:00.123456Z")},
		{Level: auditinternal.LevelRequestResponse, AuditID: "11111111-2222-3333-4444-555555555501", Stage: auditinternal.StageResponseComplete,
			RequestURI: "/api/v1/namespaces/shop/pods", Verb: "create", User: alice, SourceIPs: []string{"203.0.113.7"}, UserAgent: "kubectl/v1.34.0",
			ObjectRef: pods, ResponseStatus: &metav1.Status{Code: 201}, ResponseObject: unknown(created),
			RequestReceivedTimestamp: micro("2026-11-30T17:31:00.123456Z"), StageTimestamp: micro("2026-11-30T17:31:00.140000Z"),
			Annotations: map[string]string{"authorization.k8s.io/decision": "allow"}},
		{Level: auditinternal.LevelRequestResponse, AuditID: "11111111-2222-3333-4444-555555555502", Stage: auditinternal.StageResponseComplete,
			RequestURI: "/api/v1/namespaces/shop/secrets/db", Verb: "update",
			User:      authnv1.UserInfo{Username: "system:serviceaccount:argocd:argocd-application-controller"},
			SourceIPs: []string{"10.1.2.3"}, UserAgent: "argocd-application-controller/v2.13", ObjectRef: secret,
			ResponseStatus: &metav1.Status{Code: 200}, RequestObject: unknown(secretObj), ResponseObject: unknown(secretObj),
			RequestReceivedTimestamp: micro("2026-11-30T17:32:00Z"), StageTimestamp: micro("2026-11-30T17:32:00.002Z")},
		{Level: auditinternal.LevelMetadata, AuditID: "11111111-2222-3333-4444-555555555503", Stage: auditinternal.StageResponseComplete,
			RequestURI: "/api/v1/namespaces/kube-system/configmaps/coredns", Verb: "delete", User: authnv1.UserInfo{Username: "mallory"},
			SourceIPs: []string{"192.0.2.66"}, UserAgent: "curl/8.5.0",
			ObjectRef: &auditinternal.ObjectReference{Resource: "configmaps", Namespace: "kube-system", Name: "coredns", APIVersion: "v1"},
			ResponseStatus: &metav1.Status{Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
				Message: `configmaps "coredns" is forbidden: User "mallory" cannot delete resource "configmaps"`},
			RequestReceivedTimestamp: micro("2026-11-30T17:33:00Z"), StageTimestamp: micro("2026-11-30T17:33:00.001Z")},
	}
}

func TestKubernetesAuditWebhook(t *testing.T) { forEachStore(t, testKubernetesAuditWebhook) }

// testKubernetesAuditWebhook: k8s.io/apiserver's webhook backend delivers
// an API server's audit events to POST /k8s/audit; each request is stored
// once (its stages folded), mapped, with a Secret's values hidden; a retry
// after a lost answer stores nothing twice; a bad key is refused and the
// backend reports the failure.
func testKubernetesAuditWebhook(t *testing.T, base string) {
	key := tenant(t, base, "cluster", "ingest", "read")
	readOnly := tenant(t, base, "cluster", "read")

	front := tlsFront(t, base, nil)
	if !backend(t, front, key).ProcessEvents(requests()...) {
		t.Fatal("the webhook backend failed to deliver the events")
	}
	got := events(t, base, key, "source=kubernetes")
	if len(got) != 3 {
		t.Fatalf("stored %d events; want 3 (one per request)", len(got))
	}
	byID := map[string]map[string]any{}
	for _, e := range got {
		byID[e["id"].(string)] = e
	}
	pod := byID["k8s:11111111-2222-3333-4444-555555555501"]
	want := map[string]string{"action": "k8s.pods.create", "type": "create", "status": "success", "occurred_at": "2026-11-30T17:31:00.123456Z"}
	for f, v := range want {
		if pod[f] != v {
			t.Errorf("pod create %s = %v; want %s", f, pod[f], v)
		}
	}
	if a := pod["actor"].(map[string]any); a["id"] != "alice@example.com" || a["type"] != "user" {
		t.Errorf("pod create actor = %v", a)
	}
	if tg := pod["target"].(map[string]any); tg["type"] != "pods" || tg["id"] != "shop/web-7d9f" {
		t.Errorf("pod create target = %v; want the created pod by its generated name", tg)
	}
	if c := pod["context"].(map[string]any); c["ip"] != "203.0.113.7" || c["user_agent"] != "kubectl/v1.34.0" {
		t.Errorf("pod create context = %v", c)
	}
	secret := byID["k8s:11111111-2222-3333-4444-555555555502"]
	if a := secret["actor"].(map[string]any); a["type"] != "service" {
		t.Errorf("secret update actor = %v; want a service", a)
	}
	denied := byID["k8s:11111111-2222-3333-4444-555555555503"]
	if denied["status"] != "failure" || denied["type"] != "delete" {
		t.Errorf("forbidden delete = %v; want a failed delete", denied)
	}
	// A Secret's values are nowhere in clear: not in the event, nor in an export.
	status, all := call(t, "GET", base+"/v1/events?limit=1000", key, nil)
	if status != 200 {
		t.Fatal(status)
	}
	for _, clear := range []string{"aHVudGVyMg==", "clear-token-value"} {
		if strings.Contains(string(all), clear) {
			t.Errorf("a Secret's value %q is stored in clear", clear)
		}
	}
	if !strings.Contains(string(all), "hmac-sha256:") {
		t.Error("the Secret's values are not hashed")
	}

	// The API server retries when it did not see the answer: a proxy that
	// passes the first request on and then drops its answer.
	var seen atomic.Int32
	lossy := tlsFront(t, base, func(proxy http.Handler, w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) == 1 {
			proxy.ServeHTTP(&discard{header: http.Header{}}, r) // stored, but the answer is lost
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	more := requests()
	for _, e := range more {
		e.AuditID = "22222222" + e.AuditID[8:]
	}
	if !backend(t, lossy, key).ProcessEvents(more...) {
		t.Fatal("the webhook backend gave up after a lost answer")
	}
	if seen.Load() < 2 {
		t.Fatalf("the backend sent %d requests; want a retry", seen.Load())
	}
	if n := len(events(t, base, key, "source=kubernetes")); n != 6 {
		t.Errorf("after a retried batch %d events; want 6 (each once)", n)
	}

	// A key without the ingest scope: refused, and the backend says so.
	if backend(t, front, readOnly).ProcessEvents(requests()...) {
		t.Error("the backend delivered with a read-only key")
	}
	if n := len(events(t, base, key, "source=kubernetes")); n != 6 {
		t.Errorf("after a refused batch %d events; want 6", n)
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
