package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMain fails the run when a test wrote into the real home directory's
// auditkeep configuration or into the package directory: tests keep their
// files in temporary directories.
func TestMain(m *testing.M) {
	watched := []string{"."}
	if home, err := os.UserHomeDir(); err == nil {
		watched = append(watched, filepath.Join(home, ".config", "auditkeep"))
	}
	before := make([][]string, len(watched))
	for i, dir := range watched {
		before[i] = listDir(dir)
	}
	// Every request of the tests and of the CLI goes through
	// http.DefaultClient, whose transport checks /v1 exchanges against the
	// description (openapi_test.go).
	described, err := newDescribedTransport(http.DefaultTransport)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	http.DefaultClient.Transport = described
	code := m.Run()
	if v := described.report(); len(v) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d exchanges differ from %s (fix the description or the server):\n", len(v), describedFile)
		for _, s := range v {
			fmt.Fprintln(os.Stderr, "  -", s)
		}
		code = 1
	}
	for i, dir := range watched {
		for _, name := range listDir(dir) {
			if !slices.Contains(before[i], name) {
				fmt.Fprintf(os.Stderr, "FAIL: the tests wrote %s outside their temporary directories\n", filepath.Join(dir, name))
				code = 1
			}
		}
	}
	os.Exit(code)
}

// listDir returns the names in dir, nil when it does not exist.
func listDir(dir string) []string {
	entries, _ := os.ReadDir(dir)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}
