package httpapi_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

// pageEvent is what the page tests read of an event: its id, leaf hash and
// inclusion proof.
type pageEvent struct {
	ID    string          `json:"id"`
	Seq   int64           `json:"seq"`
	Hash  string          `json:"hash"`
	Proof json.RawMessage `json:"proof"`
}

// TestViewerPagesAsKeys: on each store, a viewer token reads the events its
// filters let through as a read key reads them: a page's integrated events
// carry their leaf hash, the others none, and GET /v1/events/{id} carries
// the event's inclusion proof once it is integrated.
func TestViewerPagesAsKeys(t *testing.T) {
	for _, b := range exportBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			st, led := b.open(t)
			a := newExportAPI(t, st, led)
			key := a.tenant(t, "acme", 0)
			at := a.now.Add(-time.Minute)
			ev := func(id, target string) map[string]any {
				return map[string]any{"id": id, "action": "env.update", "occurred_at": at,
					"actor": map[string]any{"type": "user", "id": "usr_1"}, "target": map[string]any{"type": "env", "id": target}}
			}
			a.ingestEvents(t, "acme", []map[string]any{ev("e1", "env_7"), ev("e2", "env_8"), ev("e3", "env_7")})
			a.integrate(t, "acme")
			a.ingestEvents(t, "acme", []map[string]any{ev("e4", "env_7")}) // not integrated

			code, body := a.call(t, "POST", "/v1/viewer-tokens", key, map[string]any{"filters": map[string]any{"target_id": "env_7"}})
			if code != 201 {
				t.Fatalf("viewer token: %d %s", code, body)
			}
			var vt struct{ Token string }
			if err := json.Unmarshal(body, &vt); err != nil || vt.Token == "" {
				t.Fatalf("viewer token answer %s", body)
			}

			page := func(cred, query string) map[string]pageEvent {
				t.Helper()
				code, body := a.call(t, "GET", "/v1/events?"+query, cred, nil)
				if code != 200 {
					t.Fatalf("GET /v1/events?%s = %d %s", query, code, body)
				}
				var p struct{ Events []pageEvent }
				if err := json.Unmarshal(body, &p); err != nil {
					t.Fatal(err)
				}
				got := map[string]pageEvent{}
				for _, e := range p.Events {
					got[e.ID] = e
				}
				return got
			}
			keyPage := page(key, "target_id=env_7")
			for name, viewerPage := range map[string]map[string]pageEvent{
				"bearer":       page(vt.Token, ""),
				"query string": page("", "viewer_token="+url.QueryEscape(vt.Token)),
			} {
				if len(viewerPage) != 3 {
					t.Errorf("viewer (%s) page holds %d events; want e1, e3, e4", name, len(viewerPage))
				}
				for _, id := range []string{"e1", "e3", "e4"} {
					if got, want := viewerPage[id].Hash, keyPage[id].Hash; got != want {
						t.Errorf("viewer (%s) page: %s hash %q; the key's page %q", name, id, got, want)
					}
				}
			}
			for _, id := range []string{"e1", "e3"} {
				if keyPage[id].Hash == "" {
					t.Errorf("key page: integrated %s has no hash", id)
				}
			}
			if h := keyPage["e4"].Hash; h != "" {
				t.Errorf("key page: e4, not integrated, has hash %q", h)
			}

			get := func(cred, id string) pageEvent {
				t.Helper()
				code, body := a.call(t, "GET", "/v1/events/"+id, cred, nil)
				if code != 200 {
					t.Fatalf("GET /v1/events/%s = %d %s", id, code, body)
				}
				var e pageEvent
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatal(err)
				}
				return e
			}
			for _, id := range []string{"e1", "e3", "e4"} {
				byKey, byViewer := get(key, id), get(vt.Token, id)
				integrated := id != "e4"
				if (byKey.Proof != nil) != integrated || byKey.Hash == "" == integrated {
					t.Errorf("key GET %s: hash %q proof %s; want both only once integrated (%v)", id, byKey.Hash, byKey.Proof, integrated)
				}
				if byViewer.Hash != byKey.Hash || string(byViewer.Proof) != string(byKey.Proof) {
					t.Errorf("viewer GET %s: hash %q proof %s; the key's: hash %q proof %s", id, byViewer.Hash, byViewer.Proof, byKey.Hash, byKey.Proof)
				}
			}
			if code, _ := a.call(t, "GET", "/v1/events/e2", vt.Token, nil); code != 404 {
				t.Errorf("viewer GET e2 (outside its filters) = %d; want 404", code)
			}
		})
	}
}
