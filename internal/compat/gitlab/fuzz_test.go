package gitlab

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/auditkeep/auditkeep"
)

// FuzzMap: any body is mapped or refused naming a field; nothing panics.
func FuzzMap(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := Map(body, "project_created"); err != nil && (auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) == "") {
			t.Fatalf("refusal %v names no field", err)
		}
	})
}
