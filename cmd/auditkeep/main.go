// Command auditkeep is the audit log server and its command-line client.
//
// Usage:
//
//	auditkeep serve [flags]        run the HTTP API and web console
//	auditkeep <command> [flags]    talk to a running server
//
// Run `auditkeep help` for the list of commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK       = 0 // success
	exitNegative = 1 // the answer is negative: verification failed, nothing found, request refused
	exitUsage    = 2 // usage error
)

// env is what a command sees of its process: no command reads os.* directly,
// so tests run commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) int
}

func commands() []command {
	return []command{
		{"serve", "run the HTTP API and web console", runServe},
		{"tenant", "create or update a tenant (root key)", runTenant},
		{"key", "create or revoke a tenant's API key", runKey},
		{"events", "list and search events", runEvents},
		{"event", "show one event: its changes and its place in the log", runEvent},
		{"diff", "compare the snapshots of two events", runDiff},
		{"tail", "print matching events as they arrive (live stream)", runTail},
		{"export", "export events as CSV or NDJSON", runExport},
		{"verify", "check that the log is the one the server signed (live or a bundle)", runVerify},
		{"ledger", "get the checkpoints' verifier key, or rebuild a broken ledger (root key)", runLedger},
		{"archive", "list, restore or verify archived (expired) events", runArchive},
		{"backup", "back up a running server's embedded store (root key)", runBackup},
		{"restore", "restore a backup into a new data directory", runRestore},
		{"stream", "list, create, test, pause, resume or replay the tenant's streams to a SIEM", runStream},
		{"alerts", "list, acknowledge or resolve the tenant's alerts", runAlerts},
		{"alert-rule", "list, create or backtest the tenant's alert rules", runAlertRule},
		{"demo", "fill a tenant with a realistic platform's events", runDemo},
		{"bench", "measure ingest, queries, export, disk and the ledger on this machine", runBench},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// Main runs the command named by args[0] and returns the exit status.
func Main(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "auditkeep: unknown command %q; run 'auditkeep help'\n", args[0])
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "auditkeep: a self-hosted, tamper-evident audit log service")
	fmt.Fprintln(w, "\nUsage: auditkeep <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nCommands that talk to a server take --server URL (AUDITKEEP_SERVER, default http://127.0.0.1:8080)")
	fmt.Fprintln(w, "and --key KEY (AUDITKEEP_KEY). Exit status: 0 success, 1 negative answer, 2 usage error.")
}
