package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
	"github.com/auditkeep/auditkeep/internal/changes"
)

const eventSynopsis = `event ID [--json]

Shows one event (GET /v1/events/{id}): who did what, to what, where, when,
from where, with which tool and whether it succeeded; its changes, each
with its description; and its place in the tenant's tamper-evident log:
the leaf hash and the size of the signed tree that includes it. With
--json it prints the server's answer, the inclusion proof included. Event
IDs are shown by 'auditkeep events --ids'. Exit status 1 when there is no
such event.`

// runEvent shows one event.
func runEvent(ctx context.Context, e *env, args []string) int {
	const name = "event"
	fs := newFlagSet(e, name, eventSynopsis)
	cf := addClientFlags(fs, e, false)
	utc := fs.Bool("utc", false, "show times in UTC rather than local time")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	if len(pos) != 1 || pos[0] == "" {
		err = errors.New("give one event ID")
	} else {
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	ev, err := cf.client().GetEvent(ctx, pos[0])
	if err != nil {
		return requestFailed(e, name, err)
	}
	if cf.json {
		err = json.NewEncoder(e.stdout).Encode(ev)
	} else {
		err = printEvent(e.stdout, ev, timeZone(e, *utc))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "auditkeep %s: %v\n", name, err)
		return exitNegative
	}
	return exitOK
}

// timeZone is UTC when utc, else the zone of $TZ or the system's.
func timeZone(e *env, utc bool) *time.Location {
	if utc {
		return time.UTC
	}
	return localZone(e)
}

// eventProof is the inclusion proof of GET /v1/events/{id}.
type eventProof struct {
	LeafHash   string `json:"leaf_hash"`
	TreeSize   uint64 `json:"tree_size"`
	Checkpoint string `json:"checkpoint"`
}

// printEvent prints an event as labelled lines, then its changes and its proof.
func printEvent(w io.Writer, ev *client.EventDetail, loc *time.Location) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s\t%s\n", label, clean(value))
		}
	}
	e := &ev.Event
	line("ID", e.ID)
	line("Seq", strconv.FormatInt(e.Seq, 10))
	line("Occurred at", e.OccurredAt.In(loc).Format("2006-01-02 15:04:05.000 MST"))
	line("Received at", e.ReceivedAt.In(loc).Format("2006-01-02 15:04:05.000 MST"))
	line("Action", e.Action+" ("+e.Type+")")
	line("Status", e.Status)
	line("Actor", actorDetail(e.Actor))
	if t := e.Target; t != nil {
		s := t.Type + " " + t.ID
		if t.Name != "" {
			s = t.Type + " " + t.Name + " (" + t.ID + ")"
		}
		if t.Deleted {
			s += ", deleted"
		}
		line("Target", s)
	}
	line("Scope", scopeLabel(e.Scope))
	line("Team", e.Team)
	line("Source", e.Source)
	line("IP", e.Context.IP)
	line("User agent", e.Context.UserAgent)
	line("Description", e.Description)
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(e.Changes) > 0 {
		fmt.Fprintf(w, "\nChanges (%d):\n", len(e.Changes))
		if err := printChanges(w, e, e.Changes); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "\nTamper-evident log:")
	var p eventProof
	if len(ev.Proof) == 0 || json.Unmarshal(ev.Proof, &p) != nil || p.LeafHash == "" {
		_, err := fmt.Fprintln(w, "  not integrated yet: the server adds new events to the log within seconds (when it keeps one)")
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  Leaf hash\t%s\n", clean(p.LeafHash))
	signed := ""
	if p.Checkpoint != "" {
		signed = ", signed checkpoint"
	}
	fmt.Fprintf(tw, "  Included in\tthe tree of size %d%s\n", p.TreeSize, signed)
	fmt.Fprintf(tw, "  Proof\tauditkeep event %s --json (or GET /v1/events/%s/proof?tree_size=%d)\n", clean(e.ID), url.PathEscape(clean(e.ID)), p.TreeSize)
	return tw.Flush()
}

// actorDetail names an actor with its type and id: "Alice Martin <alice@example.com> (user usr_1)".
func actorDetail(a auditkeep.Actor) string {
	var parts []string
	if a.Name != "" {
		parts = append(parts, a.Name)
	}
	if a.Email != "" {
		parts = append(parts, "<"+a.Email+">")
	}
	parts = append(parts, "("+strings.TrimSpace(a.Type+" "+a.ID)+")")
	return strings.Join(parts, " ")
}

// printChanges prints changes as a table of fields and descriptions; e
// names the elements the fields reach.
func printChanges(w io.Writer, e *auditkeep.Event, cs []auditkeep.Change) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FIELD\tCHANGE")
	for _, c := range cs {
		fmt.Fprintf(tw, "  %s\t%s\n", cell(c.Field, maxField), clean(changes.DescribeChange(c, e.Before, e.Snapshot)))
	}
	return tw.Flush()
}

// maxField is the width beyond which a change's field is cut.
const maxField = 48

const diffSynopsis = `diff ID OTHER [--json]

Compares the snapshots of two events of the tenant (GET
/v1/events/{id}/diff?with=OTHER): what changed from event ID to event
OTHER, field by field, each change with its description. Lists of objects
are matched by their id (else name or key), so one service added to a
list reads as one addition. Exit status 1 when either event does not
exist.`

// runDiff compares two events' snapshots.
func runDiff(ctx context.Context, e *env, args []string) int {
	const name = "diff"
	fs := newFlagSet(e, name, diffSynopsis)
	cf := addClientFlags(fs, e, false)
	utc := fs.Bool("utc", false, "show times in UTC rather than local time")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	if len(pos) != 2 || pos[0] == "" || pos[1] == "" {
		err = errors.New("give two event IDs: the one to compare from, then the one to compare with")
	} else {
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	c := cf.client()
	d, err := c.Diff(ctx, pos[0], pos[1])
	if err != nil {
		return requestFailed(e, name, err)
	}
	if cf.json {
		if err := json.NewEncoder(e.stdout).Encode(d); err != nil {
			fmt.Fprintf(e.stderr, "auditkeep %s: %v\n", name, err)
			return exitNegative
		}
		return exitOK
	}
	// The two events, to say what is compared and to name the elements.
	var evs [2]*client.EventDetail
	for i, id := range pos {
		if evs[i], err = c.GetEvent(ctx, id); err != nil {
			return requestFailed(e, name, err)
		}
	}
	loc := timeZone(e, *utc)
	for i, label := range []string{"From", "To"} {
		ev := &evs[i].Event
		fmt.Fprintf(e.stdout, "%-4s %s  %s  %s  %s\n", label, clean(ev.ID), ev.OccurredAt.In(loc).Format("2006-01-02 15:04:05 MST"),
			clean(ev.Action), clean(targetLabel(ev.Target)))
	}
	if len(d.Changes) == 0 {
		fmt.Fprintln(e.stdout, "\nNo difference between the two events' snapshots.")
		return exitOK
	}
	fmt.Fprintf(e.stdout, "\nChanges (%d):\n", len(d.Changes))
	// Elements are named from the newer snapshot, else from the older one.
	names := &auditkeep.Event{Snapshot: evs[1].Snapshot, Before: evs[0].Snapshot}
	if err := printChanges(e.stdout, names, d.Changes); err != nil {
		fmt.Fprintf(e.stderr, "auditkeep %s: %v\n", name, err)
		return exitNegative
	}
	return exitOK
}
