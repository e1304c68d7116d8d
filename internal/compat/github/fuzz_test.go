package github

import (
	"os"
	"testing"

	"github.com/auditkeep/auditkeep"
)

// FuzzDecodeMap: any body is split and mapped, or refused with a HEC code
// and a field; nothing panics.
func FuzzDecodeMap(f *testing.F) {
	if b, err := os.ReadFile("testdata/stream.hec"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"event":"{\"action\":\"a.b\"}"}{"event":{"action":"x","@timestamp":1e3}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		envs, err := Decode(body)
		for i := 0; err == nil && i < len(envs); i++ {
			_, err = Map(i, envs[i])
		}
		if err == nil {
			return
		}
		e, ok := err.(*Error)
		if !ok || e.Err == nil || e.Err.Code != auditkeep.EINVALID || e.Err.Field == "" || Text[e.Code] == "" {
			t.Fatalf("refusal %#v is not a HEC code with a field", err)
		}
	})
}
