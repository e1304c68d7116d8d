package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/auditkeep/auditkeep"
)

const ledgerUsage = `Usage:
  auditkeep ledger key [--server URL] [-o FILE]
  auditkeep ledger rebuild --tenant TENANT --reason TEXT [--server URL] [--key ROOT_KEY]

key     prints the checkpoints' verifier key that the server publishes
        (GET /v1/ledger/key), or saves it to FILE for 'auditkeep verify
        --public-key FILE'. A key fetched from the server is only as
        trustworthy as the connection to it: compare it with the key the
        operator published.

rebuild rebuilds a tenant's tree from its stored events and has the
        server sign it anew with its key (root key): the one way out of a
        broken ledger (GET /readyz names the broken tenants), or of a log
        signed by a key the server no longer has. The reason is recorded
        as ledger.rebuild in the tenant's own log. Verifiers that remember
        an earlier checkpoint report a fork when stored events were
        changed: a rebuild makes the stored log the signed one again, it
        does not make it the original.
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
	case "rebuild":
		return runLedgerRebuild(ctx, e, args[1:])
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
	v := &verifier{e: e, server: strings.TrimRight(cf.server, "/"), hc: http.DefaultClient}
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

// runLedgerRebuild asks the server to rebuild a tenant's tree.
func runLedgerRebuild(ctx context.Context, e *env, args []string) int {
	const name = "ledger rebuild"
	fs := newFlagSet(e, name, "ledger rebuild --tenant TENANT --reason TEXT")
	cf := addClientFlags(fs, e, true)
	tenant := fs.String("tenant", "", "the tenant whose ledger to rebuild (required)")
	reason := fs.String("reason", "", "why, recorded in the tenant's log (required): an incident, a ticket")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	switch {
	case len(pos) > 0:
		err = fmt.Errorf("unexpected argument %q", pos[0])
	case *tenant == "":
		err = errors.New("--tenant is required")
	case !auditkeep.ValidTenantID(*tenant):
		err = fmt.Errorf("--tenant %q is not a tenant name", *tenant)
	case strings.TrimSpace(*reason) == "":
		err = errors.New("--reason is required: say why the ledger is rebuilt and signed anew")
	default:
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	res, err := cf.client().RebuildLedger(ctx, *tenant, *reason)
	if err != nil {
		return requestFailed(e, name, err)
	}
	if cf.json {
		return printJSON(e, res)
	}
	fmt.Fprintf(e.stdout, "Rebuilt the ledger of tenant %s: tree size %d, root %s, signed anew; ledger.rebuild is recorded in its log.\n", res.Tenant, res.Size, res.Root)
	fmt.Fprintf(e.stdout, "Verifiers that remember an earlier checkpoint will report a fork if stored events were changed.\n")
	return exitOK
}
