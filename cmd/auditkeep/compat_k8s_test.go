package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestKubernetesAudit(t *testing.T) { forEachStore(t, testKubernetesAudit) }

// testKubernetesAudit: an audit.k8s.io/v1 EventList as the API server's
// webhook posts it is stored one event per request, once however often it
// is re-sent, with Secrets' values hashed; a refused list names the list's
// member and stores nothing. (test/senders sends with k8s.io/apiserver's
// own webhook backend.)
func testKubernetesAudit(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupLongTenant(t, base, "cluster")
	list, err := os.ReadFile("../../internal/compat/k8saudit/testdata/eventlist.json")
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) response {
		return request(t, "POST", base+"/k8s/audit", http.Header{"Authorization": {"Bearer " + key},
			"Content-Type": {"application/json"}, "User-Agent": {"kube-apiserver-admission"}}, []byte(body))
	}
	for try, dup := range []float64{0, 7} {
		if r := post(string(list)); r.status != 200 || r.json(t)["accepted"] != float64(7) || r.json(t)["duplicates"] != dup {
			t.Fatalf("try %d: %d %s; want 7 accepted, %v duplicates", try, r.status, r.body, dup)
		}
	}
	got := storedEvents(t, base, key, "source=kubernetes")
	if len(got) != 7 {
		t.Fatalf("stored %d events; want 7 (the lone RequestReceived left out)", len(got))
	}
	// In the tenant's ledger, as every event.
	waitIntegrated(t, base, key, 7)
	if r := call(t, "GET", base+"/v1/events/k8s:8e3f0c6a-6d3e-4c8e-9d0a-1f2b3c4d5e04", key, nil); r.status != 200 || r.json(t)["hash"] == nil || r.json(t)["proof"] == nil {
		t.Errorf("the Secret's update: %d %s; want it with its leaf hash and inclusion proof", r.status, r.body)
	}
	if ids := listIDs(t, base, key, "scope=namespace:shop&type=update"); len(ids) != 2 {
		t.Errorf("updates in namespace shop = %v; want the patch and the Secret", ids)
	}
	if ids := listIDs(t, base, key, "actor_type=service"); len(ids) != 1 {
		t.Errorf("service accounts' events = %v; want 1", ids)
	}
	r := call(t, "GET", base+"/v1/events?limit=100", key, nil)
	if strings.Contains(string(r.body), "aHVudGVyMg==") || strings.Contains(string(r.body), "Y2VydA==") {
		t.Error("a Secret's value is stored in clear")
	}
	if r := post(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"x1","stage":"RequestReceived","verb":"get","user":{"username":"a"}}]}`); r.status != 200 || r.json(t)["accepted"] != float64(0) {
		t.Errorf("a list of an earlier stage alone = %d %s; want 200 with nothing stored", r.status, r.body)
	}
	item := `{"auditID":"x2","stage":"ResponseComplete","verb":"get","user":{"username":"a"}}`
	tests := []struct{ name, body, field string }{
		{"not a list", `{"kind":"Event","apiVersion":"audit.k8s.io/v1"}`, "kind"},
		{"bad time", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + item + `,{"auditID":"x3","stage":"ResponseComplete","verb":"get","user":{"username":"a"},"requestReceivedTimestamp":"noon"}]}`, "items[1].requestReceivedTimestamp"},
		{"bad ip", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + item + `,{"auditID":"x4","stage":"ResponseComplete","verb":"get","user":{"username":"a"},"sourceIPs":["nowhere"]}]}`, "items[1].sourceIPs[0]"},
		{"bad resource", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"x5","stage":"ResponseComplete","verb":"get","user":{"username":"a"},"objectRef":{"resource":"pods/../x"}}]}`, "items[0].objectRef.resource"},
	}
	for _, tt := range tests {
		r := post(tt.body)
		if r.status != 400 {
			t.Errorf("%s: %d %s; want 400", tt.name, r.status, r.body)
			continue
		}
		if _, field := r.errorOf(t); field != tt.field {
			t.Errorf("%s: field %q; want %q (%s)", tt.name, field, tt.field, r.body)
		}
	}
	if n := len(storedEvents(t, base, key, "source=kubernetes")); n != 7 {
		t.Errorf("after the refusals %d events; want 7", n)
	}
}
