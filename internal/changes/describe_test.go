package changes_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
)

var update = flag.Bool("update", false, "rewrite testdata/describe/*.golden from Describe's output")

// TestDescribeGolden describes every testdata/describe/NAME.json event and
// compares the sentence with NAME.golden.
func TestDescribeGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/describe/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var e auditkeep.Event
			if err := json.Unmarshal(in, &e); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got := changes.Describe(&e)
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if w := strings.TrimSuffix(string(want), "\n"); got != w {
				t.Errorf("Describe(%s) =\n%s\nwant\n%s", name, got, w)
			}
		})
	}
}

func TestDescribeNeverShowsHiddenValues(t *testing.T) {
	e := &auditkeep.Event{
		Type:   auditkeep.TypeUpdate,
		Action: "service.update",
		Changes: []auditkeep.Change{
			{Field: "env.DB_URL", Op: "changed", Old: json.RawMessage(`"postgres://u:pw-one@db"`), New: json.RawMessage(`"postgres://u:pw-two@db"`)},
			{Field: "spec.password", Op: "added", New: json.RawMessage(`"pw-three"`)},
			{Field: "spec", Op: "changed", Old: json.RawMessage(`{"token":"pw-four"}`), New: json.RawMessage(`{}`)},
			{Field: "labels", Op: "removed", Old: json.RawMessage(`{"team":"pw-five"}`)},
		},
	}
	got := changes.Describe(e)
	for _, s := range []string{"pw-one", "pw-two", "pw-three", "pw-four", "pw-five"} {
		if strings.Contains(got, s) {
			t.Errorf("Describe shows the value %q at a default redaction path: %s", s, got)
		}
	}
	want := "Updated service: environment variable DB_URL changed (value hidden), spec.password added, spec changed (value hidden), labels removed"
	if got != want {
		t.Errorf("Describe = %s; want %s", got, want)
	}
}

// TestDescribeChange tells single changes of two snapshots, naming elements
// identified by id from either document.
func TestDescribeChange(t *testing.T) {
	a := json.RawMessage(`{"services":[{"id":"svc_1","name":"api","replicas":2},{"id":"svc_2","name":"web"}],"env":{"DATABASE_URL":"hmac-sha256:` + strings.Repeat("a", 64) + `"}}`)
	b := json.RawMessage(`{"services":[{"id":"svc_1","name":"api","replicas":3}],"env":{"DATABASE_URL":"hmac-sha256:` + strings.Repeat("b", 64) + `"}}`)
	cs, err := changes.Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, changes.DescribeChange(c, a, b))
	}
	want := []string{
		"environment variable DATABASE_URL changed (value hidden)",
		"replicas of service 'api' changed from 2 to 3",
		"service 'web' removed",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("DescribeChange of Compare(a, b) = %q; want %q", got, want)
	}
}
