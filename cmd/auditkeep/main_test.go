package main

import (
	"fmt"
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
	code := m.Run()
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
