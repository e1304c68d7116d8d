package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
)

const ledgerUsage = `Usage:
  auditkeep ledger key [--server URL] [-o FILE]

key     prints the checkpoints' verifier key that the server publishes
        (GET /v1/ledger/key), or saves it to FILE for 'auditkeep verify
        --public-key FILE'. A key fetched from the server is only as
        trustworthy as the connection to it: compare it with the key the
        operator published.
`

// runLedger runs the ledger's subcommands.
func runLedger(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, ledgerUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "key":
		return runLedgerKey(ctx, e, args[1:])
	}
	fmt.Fprintf(e.stderr, "auditkeep ledger: unknown subcommand %q\n\n%s", args[0], ledgerUsage)
	return exitUsage
}

// runLedgerKey fetches the server's verifier key and prints or saves it.
func runLedgerKey(ctx context.Context, e *env, args []string) int {
	const name = "ledger key"
	fs := newFlagSet(e, name, "ledger key [--server URL] [-o FILE]")
	cf := addClientFlags(fs, e, false)
	out := fs.String("o", "", "save the key to this file (default: print it)")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	if len(pos) > 0 {
		err = fmt.Errorf("unexpected argument %q", pos[0])
	} else {
		err = cf.checkServer()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	v := &verifier{e: e, server: strings.TrimRight(cf.server, "/"), hc: &http.Client{}}
	key, err := v.serverKey(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "auditkeep %s: %s\n", name, clean(err.Error()))
		printUnreachableHint(e.stderr, err)
		return exitNegative
	}
	if *out == "" {
		fmt.Fprintln(e.stdout, key)
		return exitOK
	}
	if err := os.WriteFile(*out, []byte(key+"\n"), 0o644); err != nil {
		fmt.Fprintf(e.stderr, "auditkeep %s: %v\n", name, err)
		return exitNegative
	}
	fmt.Fprintf(e.stderr, "Saved the verifier key %s to %s. Compare it with the key the operator published, then: auditkeep verify --public-key %s\n", key, *out, *out)
	return exitOK
}
