package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/auditkeep/auditkeep"
)

const keyUsage = `Usage:
  auditkeep key create --tenant TENANT --name NAME --scopes ingest,read,export,admin
  auditkeep key revoke --tenant TENANT KEY_ID

Keys are managed with the root key or the tenant's admin key (--key,
AUDITKEEP_KEY or AUDITKEEP_ROOT_KEY). 'key create' prints the new key alone on
stdout (with --json, the key's record): it is shown once and never again.
`

// runKey creates and revokes API keys.
func runKey(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, keyUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create":
		return runKeyCreate(ctx, e, args)
	case "revoke":
		return runKeyRevoke(ctx, e, args)
	}
	fmt.Fprintf(e.stderr, "auditkeep key: unknown subcommand %q\n\n%s", sub, keyUsage)
	return exitUsage
}

func runKeyCreate(ctx context.Context, e *env, args []string) int {
	const name = "key create"
	fs := newFlagSet(e, name, name+" --tenant TENANT --name NAME --scopes SCOPE,...")
	cf := addClientFlags(fs, e, true)
	tenant := fs.String("tenant", "", "the key's tenant (required)")
	keyName := fs.String("name", "", "a name for the key, such as ci or siem (required)")
	scopeList := fs.String("scopes", "", "comma-separated scopes: "+strings.Join(auditkeep.KeyScopes, ", ")+" (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	var scopes []string
	for s := range strings.SplitSeq(*scopeList, ",") {
		if s = strings.TrimSpace(s); s != "" {
			scopes = append(scopes, s)
		}
	}
	switch {
	case len(pos) > 0:
		err = fmt.Errorf("unexpected argument %q", pos[0])
	case *tenant == "":
		err = errors.New("--tenant is required")
	case *keyName == "":
		err = errors.New("--name is required")
	case len(scopes) == 0:
		err = fmt.Errorf("--scopes is required: one or more of %s", strings.Join(auditkeep.KeyScopes, ", "))
	default:
		for _, s := range scopes {
			if !slices.Contains(auditkeep.KeyScopes, s) {
				err = fmt.Errorf("scope %q is not one of %s", s, strings.Join(auditkeep.KeyScopes, ", "))
				break
			}
		}
		if err == nil {
			err = cf.check()
		}
	}
	if err != nil {
		return usageError(e, name, err)
	}
	k, err := cf.client().CreateKey(ctx, *tenant, *keyName, scopes)
	if err != nil {
		return requestFailed(e, name, err)
	}
	if cf.json {
		if code := printJSON(e, k); code != exitOK {
			return code
		}
	} else {
		fmt.Fprintln(e.stdout, k.Key)
	}
	fmt.Fprintf(e.stderr, "Created key %s (%s) of tenant %s with scopes %s.\n", k.ID, clean(k.Name), k.Tenant, strings.Join(k.Scopes, ", "))
	fmt.Fprintln(e.stderr, "Store the key now: it is not shown again.")
	return exitOK
}

func runKeyRevoke(ctx context.Context, e *env, args []string) int {
	const name = "key revoke"
	fs := newFlagSet(e, name, name+" --tenant TENANT KEY_ID")
	cf := addClientFlags(fs, e, true)
	tenant := fs.String("tenant", "", "the key's tenant (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	switch {
	case *tenant == "":
		err = errors.New("--tenant is required")
	case len(pos) != 1:
		err = errors.New("give one KEY_ID (such as key_0193f0c2...)")
	default:
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	if err := cf.client().RevokeKey(ctx, *tenant, pos[0]); err != nil {
		return requestFailed(e, name, err)
	}
	if cf.json {
		return printJSON(e, map[string]any{"id": pos[0], "tenant": *tenant, "revoked": true})
	}
	fmt.Fprintf(e.stdout, "Revoked key %s of tenant %s\n", clean(pos[0]), *tenant)
	return exitOK
}
