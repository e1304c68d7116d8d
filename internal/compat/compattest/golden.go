// Package compattest checks the vendor mappings: against golden files, and
// with the properties their fuzz targets hold.
package compattest

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ from the mapping's output")

// Golden maps every testdata/*ext file with mapping and compares the
// indented JSON of what it returns with the file of the same name ending in
// .golden; go test -update rewrites those.
func Golden(t *testing.T, ext string, mapping func(body []byte) (any, error)) {
	t.Helper()
	files, _ := filepath.Glob("testdata/*" + ext)
	if len(files) == 0 {
		t.Fatalf("no testdata/*%s", ext)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := mapping(body)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		got, _ := json.MarshalIndent(v, "", "  ")
		golden := strings.TrimSuffix(f, ext) + ".golden"
		if *update {
			if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if strings.TrimSpace(string(want)) != string(got) {
			t.Errorf("%s: mapped to %s\nwant %s", f, got, want)
		}
	}
}
