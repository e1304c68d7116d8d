package compattest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

// Seed adds every file matching glob to f's corpus.
func Seed(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
}

// Ingestible fails t unless the mapped event marshals to JSON that ingest
// accepts, or refuses naming a field.
func Ingestible(t *testing.T, mapped any) {
	t.Helper()
	b, err := json.Marshal(mapped)
	if err != nil {
		t.Fatalf("the mapping does not marshal: %v", err)
	}
	if _, err := ingest.Validate(b, "", time.Now(), ingest.DefaultLimits()); err != nil && auditkeep.ErrorField(err) == "" {
		t.Fatalf("ingest refuses the mapping %s naming no field: %v", b, err)
	}
}
