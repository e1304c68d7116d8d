// Command platform is a small cloud platform API — projects, environments
// and their variables, services, API tokens, all in memory — that records
// every change in auditkeep with the client package's Recorder and
// Middleware.
//
//	AUDITKEEP_ROOT_KEY=root-secret auditkeep serve &
//	AUDITKEEP_ROOT_KEY=root-secret auditkeep tenant create acme
//	KEY=$(AUDITKEEP_ROOT_KEY=root-secret auditkeep key create --tenant acme --name platform --scopes ingest)
//	go run ./examples/platform -auditkeep http://127.0.0.1:8080 -key "$KEY"
//
//	curl -H 'Authorization: Bearer dev-alice-token' -d '{"name":"Shop"}' http://127.0.0.1:8090/projects
//
// Flags (and environment): -addr (PLATFORM_ADDR), -auditkeep
// (AUDITKEEP_SERVER), -key (AUDITKEEP_KEY), -token (PLATFORM_TOKEN, the
// bearer token of the one user, Alice), -trusted-proxies (comma-separated
// CIDRs whose forwarding header is believed), -client-ip-header (the one
// they write: X-Forwarded-For, the default, or Forwarded), -blocking (refuse nothing, but
// wait for each event to be stored before answering).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/auditkeep/auditkeep/client"
	"github.com/auditkeep/auditkeep/clientip"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// run serves the platform until ctx ends. It returns the exit status: 0,
// 1 when serving fails, 2 for bad arguments.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("platform", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "PLATFORM_ADDR", "127.0.0.1:8090"), "address to listen on")
	server := fs.String("auditkeep", envOr(getenv, "AUDITKEEP_SERVER", "http://127.0.0.1:8080"), "auditkeep server URL")
	key := fs.String("key", getenv("AUDITKEEP_KEY"), "auditkeep key with the ingest scope")
	token := fs.String("token", envOr(getenv, "PLATFORM_TOKEN", "dev-alice-token"), "bearer token of the user Alice")
	proxies := fs.String("trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose forwarding header is trusted")
	ipHeader := fs.String("client-ip-header", clientip.XForwardedFor, "the header the trusted proxies write: X-Forwarded-For or Forwarded")
	blocking := fs.Bool("blocking", false, "answer only once the request's audit event is stored")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *key == "" {
		fmt.Fprintln(stderr, "platform: -key (or AUDITKEEP_KEY) is required: an auditkeep key with the ingest scope")
		return 2
	}
	trusted, err := clientip.ParsePrefixes(*proxies)
	if err != nil {
		fmt.Fprintf(stderr, "platform: -trusted-proxies: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	rec := client.NewRecorder(client.New(*server, *key), client.RecorderOptions{Blocking: *blocking, Logger: log})
	p := newPlatform(User{ID: "usr_alice", Name: "Alice Martin", Email: "alice@example.com", Token: *token})
	h := p.handler(rec, client.MiddlewareOptions{
		TrustedProxies: trusted,
		ClientIPHeader: *ipHeader,
		OnError: func(r *http.Request, err error) {
			log.Warn("audit event not recorded", "method", r.Method, "path", r.URL.Path, "err", err)
		},
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "platform: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("platform listening", "url", "http://"+ln.Addr().String(), "auditkeep", *server)

	status := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "platform: %v\n", err)
		status = 1
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	if err := rec.Close(shutdown); err != nil {
		fmt.Fprintf(stderr, "platform: %v\n", err)
		status = 1
	}
	return status
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
