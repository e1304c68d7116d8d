package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenFailureClosesWhatItOpened: when Open fails part way (here once
// it serves, at the --addr-file), it has closed what it opened: the port
// is free, and the same data directory and port open again; Close after a
// failed Open does nothing more and does not block.
func TestOpenFailureClosesWhatItOpened(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.RootKey, cfg.LogLevel = t.TempDir(), testRootKey, "error"
	cfg.Addr = freeAddr(t)
	cfg.AddrFile = filepath.Join(t.TempDir(), "missing", "addr") // its directory does not exist
	a := newApp(cfg, io.Discard)
	err := a.Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), "addr-file") {
		a.Close()
		t.Fatalf("Open with an unwritable addr-file = %v; want its error", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		a.Close()
		t.Fatalf("listen on %s after the failed Open: %v; want the port free (the server stopped)", cfg.Addr, err)
	}
	ln.Close()
	if err := a.Close(); err != nil {
		t.Errorf("Close after the failed Open = %v; want nil", err)
	}

	cfg.AddrFile = ""
	b := newApp(cfg, io.Discard)
	if err := b.Open(context.Background()); err != nil {
		t.Fatalf("second Open of the same data directory and port = %v", err)
	}
	defer b.Close()
	res, err := http.Get(b.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz on the second server = %d; want 200", res.StatusCode)
	}
}

// TestCloseAfterEarlyOpenFailure: Close is safe whatever Open got to: the
// store not opened at all, or the store open and the port taken.
func TestCloseAfterEarlyOpenFailure(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct{ name, dataDir, addr string }{
		{"store not opened", notDir, "127.0.0.1:0"},
		{"port taken", t.TempDir(), taken.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir, cfg.Addr, cfg.RootKey, cfg.LogLevel = tc.dataDir, tc.addr, testRootKey, "error"
			a := newApp(cfg, io.Discard)
			if err := a.Open(context.Background()); err == nil {
				a.Close()
				t.Fatalf("Open succeeded; want it to fail (%s)", tc.name)
			}
			if err := a.Close(); err != nil {
				t.Errorf("Close after the failed Open = %v; want nil", err)
			}
		})
	}
}
