package auditkeep_test

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs "go list" with args in the module's root and returns its
// output's lines. It skips the test when no go command is at hand.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list packages with")
	}
	out, err := exec.Command(gobin, append([]string{"list"}, args...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// cloudSDK reports whether an import path is a cloud SDK package (or a
// bucket library that opens one).
func cloudSDK(path string) bool {
	for _, p := range []string{"gocloud.dev", "github.com/aws/", "github.com/Azure/", "github.com/AzureAD/", "cloud.google.com/", "google.golang.org/api"} {
		if path == strings.TrimSuffix(p, "/") || strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// TestStoresLinkNoCloudSDK: the stores and their conformance suite depend
// on the domain and their database drivers, not on the archive's buckets.
func TestStoresLinkNoCloudSDK(t *testing.T) {
	for _, pkg := range []string{"./internal/sqlite", "./internal/postgres", "./internal/storetest"} {
		var cloud []string
		for _, dep := range goList(t, "-deps", pkg) {
			if cloudSDK(dep) {
				cloud = append(cloud, dep)
			}
		}
		if len(cloud) > 0 {
			t.Errorf("go list -deps %s lists %d cloud packages, such as %s; want none", pkg, len(cloud), strings.Join(cloud[:min(3, len(cloud))], ", "))
		}
	}
}

// TestBucketDriversOnlyInBinary: the cloud bucket drivers are registered by
// the binary alone, so that a package opening buckets does not link them.
func TestBucketDriversOnlyInBinary(t *testing.T) {
	drivers := []string{"gocloud.dev/blob/s3blob", "gocloud.dev/blob/gcsblob", "gocloud.dev/blob/azureblob"}
	const binary = "github.com/auditkeep/auditkeep/cmd/auditkeep"
	seen := map[string]bool{}
	for _, line := range goList(t, "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		for _, imp := range fields[1:] {
			for _, d := range drivers {
				if imp != d {
					continue
				}
				if fields[0] != binary {
					t.Errorf("%s imports %s; only %s may", fields[0], d, binary)
				}
				seen[d] = true
			}
		}
	}
	for _, d := range drivers {
		if !seen[d] {
			t.Errorf("%s does not import %s: archive URLs naming its scheme would not open", binary, d)
		}
	}
}
