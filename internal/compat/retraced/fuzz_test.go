package retraced

import (
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat/compattest"
)

// FuzzParse: any body is refused naming a field, or parsed into an event
// whose hash is computed and whose mapping ingest accepts or refuses naming
// a field; nothing panics.
func FuzzParse(f *testing.F) {
	compattest.Seed(f, "testdata/*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Parse(body)
		if err != nil {
			if v, ok := err.(*Violation); !ok || v.Field == "" || v.Message == "" {
				t.Fatalf("refusal %v names no field", err)
			}
			return
		}
		if len(p.Hash("evt_1")) != 64 {
			t.Fatal("hash is not SHA-256 hex")
		}
		compattest.Ingestible(t, p.Map())
	})
}

// FuzzParseQuery: any search text is a filter or refused naming "query".
func FuzzParseQuery(f *testing.F) {
	for _, q := range []string{`action:"user.login" crud:c,d`, `created:2026-11-01T00:00:00Z, "dry run" prod`, `actor.id:usr_1 target.type:doc`} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if _, err := ParseQuery(q); err != nil && (auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != "query") {
			t.Fatalf("ParseQuery(%q) = %v; want EINVALID naming query", q, err)
		}
	})
}
