package cloudevents

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/auditkeep/auditkeep"
)

// FuzzModes: any body, in each mode, is mapped or refused naming a field;
// nothing panics.
func FuzzModes(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(mode string, err error) {
			if err != nil && (auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) == "") {
				t.Fatalf("%s: refusal %v names no field", mode, err)
			}
		}
		_, err := Structured(body)
		check("structured", err)
		_, err = Batch(body)
		check("batch", err)
		h := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"/s"}, "Ce-Type": {"a.b"}, "Content-Type": {"application/json"}}
		_, err = Binary(h, body)
		check("binary", err)
	})
}
