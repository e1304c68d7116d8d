package workos

import (
	"encoding/json"
	"testing"

	"github.com/auditkeep/auditkeep/internal/compat/compattest"
)

// FuzzParseCreate: any body is refused naming a field, or mapped to an
// event ingest accepts or refuses naming a field; nothing panics.
func FuzzParseCreate(f *testing.F) {
	compattest.Seed(f, "testdata/*.event.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseCreate(body)
		if err != nil {
			if fe, ok := err.(*FieldError); !ok || fe.Field == "" || fe.Code == "" {
				t.Fatalf("refusal %v names no field", err)
			}
			return
		}
		compattest.Ingestible(t, c.Map(EventID(c.OrganizationID, "k"), Digest(body)))
	})
}

// FuzzParseSchema: any body is refused naming a field, or gives a JSON
// Schema document.
func FuzzParseSchema(f *testing.F) {
	compattest.Seed(f, "testdata/*.schema.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := ParseSchema(body)
		if err != nil {
			if fe, ok := err.(*FieldError); !ok || fe.Field == "" {
				t.Fatalf("refusal %v names no field", err)
			}
			return
		}
		js, err := s.CatalogSchema(body)
		var v map[string]any
		if err != nil || json.Unmarshal(js, &v) != nil || v["type"] != "object" {
			t.Fatalf("CatalogSchema = %s, %v; want an object schema", js, err)
		}
	})
}
