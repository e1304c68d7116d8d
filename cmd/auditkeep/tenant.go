package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
)

const tenantUsage = `Usage:
  auditkeep tenant create NAME [--retention-days N] [--plan PLAN]
  auditkeep tenant update NAME [--retention-days N] [--plan PLAN]

Tenants are managed with the operator's root key (--key, AUDITKEEP_KEY or
AUDITKEEP_ROOT_KEY). A retention of 0 days keeps events forever.
`

// runTenant creates and updates tenants.
func runTenant(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, tenantUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, args := args[0], args[1:]
	if sub != "create" && sub != "update" {
		fmt.Fprintf(e.stderr, "auditkeep tenant: unknown subcommand %q\n\n%s", sub, tenantUsage)
		return exitUsage
	}
	name := "tenant " + sub
	fs := newFlagSet(e, name, name+" NAME [--retention-days N] [--plan PLAN]")
	cf := addClientFlags(fs, e, true)
	days := fs.Int("retention-days", 0, "days events are kept; 0 keeps them forever")
	plan := fs.String("plan", "", "plan name, such as team, business or enterprise")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	set := setFlags(fs)
	switch {
	case len(pos) != 1:
		err = errors.New("give one tenant NAME")
	case !auditkeep.ValidTenantID(pos[0]):
		err = fmt.Errorf("tenant name %q must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit", pos[0])
	case *days < 0:
		err = errors.New("--retention-days must be 0 or more")
	case sub == "update" && !set["retention-days"] && !set["plan"]:
		err = errors.New("nothing to update: give --retention-days or --plan")
	default:
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}

	c := cf.client()
	var t *client.Tenant
	if sub == "create" {
		t, err = c.CreateTenant(ctx, client.TenantParams{Name: pos[0], RetentionDays: *days, Plan: *plan})
	} else {
		var u client.TenantUpdate
		if set["retention-days"] {
			u.RetentionDays = days
		}
		if set["plan"] {
			u.Plan = plan
		}
		t, err = c.UpdateTenant(ctx, pos[0], u)
	}
	if err != nil {
		return requestFailed(e, name, err)
	}
	if cf.json {
		return printJSON(e, t)
	}
	verb := "Created"
	if sub == "update" {
		verb = "Updated"
	}
	fmt.Fprintf(e.stdout, "%s tenant %s: %s, plan %s\n", verb, t.ID, retention(t.RetentionDays), orNone(t.Plan))
	return exitOK
}

func retention(days int) string {
	switch days {
	case 0:
		return "events kept forever"
	case 1:
		return "events kept 1 day"
	}
	return fmt.Sprintf("events kept %d days", days)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return clean(s)
}

// printJSON prints v as indented JSON on stdout.
func printJSON(e *env, v any) int {
	if err := writeJSON(e.stdout, v); err != nil {
		fmt.Fprintf(e.stderr, "auditkeep: %v\n", err)
		return exitNegative
	}
	return exitOK
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
