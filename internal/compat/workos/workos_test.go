package workos

import (
	"encoding/json"
	"testing"

	"github.com/auditkeep/auditkeep/internal/compat/compattest"
)

// TestGolden: testdata/*.event.json, mapped with the id of the
// Idempotency-Key "k1", gives the auditkeep event in its .golden file, and
// testdata/*.schema.json the catalog's JSON Schema.
func TestGolden(t *testing.T) {
	compattest.Golden(t, ".event.json", func(raw []byte) (any, error) {
		c, err := ParseCreate(raw)
		if err != nil {
			return nil, err
		}
		return c.Map(EventID(c.OrganizationID, "k1"), Digest(raw)), nil
	})
	compattest.Golden(t, ".schema.json", func(raw []byte) (any, error) {
		s, err := ParseSchema(raw)
		if err != nil {
			return nil, err
		}
		js, err := s.CatalogSchema(raw)
		var v any
		json.Unmarshal(js, &v)
		return v, err
	})
}

func TestParseCreateRefuses(t *testing.T) {
	ok := `"occurred_at":"2026-11-25T10:00:00Z","actor":{"id":"u","type":"user"},"targets":[],"context":{"location":"1.2.3.4"}`
	for _, c := range []struct{ body, field string }{
		{`{"event":{"action":"a.b",` + ok + `}}`, "organization_id"},
		{`{"organization_id":"o"}`, "event"},
		{`{"organization_id":"o","event":{` + ok + `}}`, "event.action"},
		{`{"organization_id":"o","event":{"action":"User.Signed In",` + ok + `}}`, "event.action"},
		{`{"organization_id":"o","event":{"action":"a.b","occurred_at":"yesterday","actor":{"id":"u","type":"user"},"targets":[],"context":{"location":"x"}}}`, "event.occurred_at"},
		{`{"organization_id":"o","event":{"action":"a.b","occurred_at":"2026-11-25T10:00:00Z","actor":{"type":"user"},"targets":[],"context":{"location":"x"}}}`, "event.actor.id"},
		{`{"organization_id":"o","event":{"action":"a.b","occurred_at":"2026-11-25T10:00:00Z","actor":{"id":"u","type":"user"},"targets":[{"id":"t"}],"context":{"location":"x"}}}`, "event.targets[0].type"},
		{`{"organization_id":"o","event":{"action":"a.b","occurred_at":"2026-11-25T10:00:00Z","actor":{"id":"u","type":"user"},"context":{"location":"x"}}}`, "event.targets"},
		{`{"organization_id":"o","event":{"action":"a.b","occurred_at":"2026-11-25T10:00:00Z","actor":{"id":"u","type":"user"},"targets":[],"context":{}}}`, "event.context.location"},
		{`{"organization_id":"o","event":{"action":"a.b",` + ok + `,"metadata":[1]}}`, "event.metadata"},
		{`{"organization_id":"o","event":{"action":"a.b",` + ok + `,"extra":1}}`, "event.extra"},
		{`{"organization_id":"o","organization_id":"p","event":{"action":"a.b",` + ok + `}}`, "organization_id"},
	} {
		_, err := ParseCreate([]byte(c.body))
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != c.field || fe.Code == "" {
			t.Errorf("ParseCreate(%s) = %v; want an error naming %s", c.body, err, c.field)
		}
	}
}

func TestTenant(t *testing.T) {
	for org, want := range map[string]string{"org_01EHZNVPK3SFK441A1RGBFSHRT": "org-01ehznvpk3sfk441a1rgbfshrt", "acme": "acme"} {
		if got := Tenant(org); got != want {
			t.Errorf("Tenant(%q) = %q; want %q", org, got, want)
		}
	}
	if EventID("o", "k") == EventID("p", "k") || EventID("o", "k") != EventID("o", "k") || EventID("o", "") != "" {
		t.Error("EventID: want one id per organization and key, none without a key")
	}
	if Digest([]byte(`{"a":1,"b":2}`)) != Digest([]byte(`{ "b":2, "a":1 }`)) || Digest([]byte(`{"a":1}`)) == Digest([]byte(`{"a":2}`)) {
		t.Error("Digest: want spacing and member order not to count, values to")
	}
}
