package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
)

// filterFlags are the event filters shared by events and export.
type filterFlags struct {
	from, to string
	query    string
	terms    []termFlag
}

type termFlag struct {
	field  string // the query parameter
	flag   string // the flag's name
	values stringList
}

// addFilterFlags defines the filter flags on fs.
func addFilterFlags(fs *flag.FlagSet) *filterFlags {
	f := &filterFlags{}
	fs.StringVar(&f.from, "from", "", "events that occurred at or after: RFC 3339 time, date (2026-11-01) or age (30m, 24h, 7d)")
	fs.StringVar(&f.to, "to", "", "events that occurred at or before: RFC 3339 time, date (the whole day) or age")
	fs.StringVar(&f.query, "q", "", "search, such as 'actor:alice@example.com action:token.* -status:success \"prod db\"'")
	fs.StringVar(&f.query, "query", "", "the same as -q")
	help := map[string]string{
		auditkeep.FieldAction:     "action, or a prefix ending in * (token.*)",
		auditkeep.FieldType:       "type: " + strings.Join(auditkeep.Types, ", "),
		auditkeep.FieldActor:      "actor id, email or name",
		auditkeep.FieldActorType:  "actor type: " + strings.Join(auditkeep.ActorTypes, ", "),
		auditkeep.FieldTargetType: "target type (environment, application, ...)",
		auditkeep.FieldTargetID:   "target id",
		auditkeep.FieldTarget:     "target name",
		auditkeep.FieldScope:      "scope path prefix, such as project:prj_1/environment:env_7",
		auditkeep.FieldTeam:       "team",
		auditkeep.FieldIP:         "IP address or CIDR prefix",
		auditkeep.FieldSource:     "source: console, api, cli, terraform, git, system, ...",
		auditkeep.FieldStatus:     "status: success or failure",
	}
	f.terms = make([]termFlag, len(auditkeep.TermFields))
	for i, field := range auditkeep.TermFields {
		t := &f.terms[i]
		t.field, t.flag = field, strings.ReplaceAll(field, "_", "-")
		fs.Var(&t.values, t.flag, help[field]+"; may repeat or hold a comma-separated list (OR)")
	}
	return f
}

// params renders the filters as query parameters. Its errors are usage errors.
func (f *filterFlags) params(now time.Time) (url.Values, error) {
	q := url.Values{}
	for _, p := range []struct{ name, v string }{{"from", f.from}, {"to", f.to}} {
		if p.v == "" {
			continue
		}
		v, err := parseWhen(p.v, now)
		if err != nil {
			return nil, fmt.Errorf("--%s %q is not an RFC 3339 time, a date (2026-11-01) or an age (30m, 24h, 7d)", p.name, p.v)
		}
		q.Set(p.name, v)
	}
	for _, t := range f.terms {
		for _, v := range t.values {
			parts := []string{v}
			if t.field != auditkeep.FieldActor && t.field != auditkeep.FieldTarget {
				parts = strings.Split(v, ",")
			}
			for _, p := range parts {
				if err := auditkeep.ValidateTermValue(t.field, "--"+t.flag, strings.TrimSpace(p)); err != nil {
					return nil, errors.New(auditkeep.ErrorMessage(err))
				}
			}
			q.Add(t.field, v)
		}
	}
	if f.query != "" {
		q.Set("q", f.query)
	}
	return q, nil
}

// parseWhen reads a time as the API takes it: an RFC 3339 time or a date
// (passed on as given), or an age such as 90m, 24h or 7d (made a time before now).
func parseWhen(s string, now time.Time) (string, error) {
	if _, err := auditkeep.ParseTime(s); err == nil {
		return s, nil
	}
	unit := time.Duration(0)
	switch {
	case strings.HasSuffix(s, "d"):
		unit = 24 * time.Hour
	case strings.HasSuffix(s, "w"):
		unit = 7 * 24 * time.Hour
	}
	var d time.Duration
	if unit != 0 {
		n, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err != nil || n < 0 {
			return "", errors.New("bad age")
		}
		d = time.Duration(n * float64(unit))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return "", errors.New("bad age")
		}
	}
	return now.Add(-d).UTC().Format(time.RFC3339), nil
}

const eventsSynopsis = `events [filters] [-q SEARCH] [--limit N] [--all] [--order asc|desc] [--sort occurred_at|seq] [--ids] [--json]

Lists events, newest first by the time they happened (--sort seq: in the
order the log stored them), as a table in local time (--utc for UTC), with
--ids an ID column ('auditkeep event ID' shows one event), or with --json
as one JSON event per line. Without --all it shows one page of --limit
events (default 50, at most 1000) and says how to get the next one; --all
follows the pages to the end. Exit status 1 when no event matched.`

// runEvents lists and searches events.
func runEvents(ctx context.Context, e *env, args []string) int {
	const name = "events"
	fs := newFlagSet(e, name, eventsSynopsis)
	cf := addClientFlags(fs, e, false)
	ff := addFilterFlags(fs)
	limit := fs.Int("limit", 0, "events per page, 1 to 1000 (default 50, or 1000 with --all)")
	order := fs.String("order", "", "desc (newest first, the default) or asc")
	sort := fs.String("sort", "", "occurred_at (by the time events happened, the default) or seq (commit order)")
	cursor := fs.String("cursor", "", "start after this cursor (the next_cursor of a previous page)")
	all := fs.Bool("all", false, "follow the pages to the last matching event")
	utc := fs.Bool("utc", false, "show times in UTC rather than local time")
	ids := fs.Bool("ids", false, "show each event's ID (for 'auditkeep event ID' and 'auditkeep diff')")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	cols := eventColumns(*ids)
	q, err := ff.params(time.Now())
	switch {
	case err != nil:
	case len(pos) > 0:
		err = fmt.Errorf("unexpected argument %q (a search goes in -q)", pos[0])
	case *limit < 0 || *limit > auditkeep.MaxLimit:
		err = fmt.Errorf("--limit must be from 1 to %d", auditkeep.MaxLimit)
	case *order != "" && *order != auditkeep.OrderAsc && *order != auditkeep.OrderDesc:
		err = errors.New("--order must be asc or desc")
	case *sort != "" && *sort != auditkeep.SortTime && *sort != auditkeep.SortSeq:
		err = errors.New("--sort must be occurred_at or seq")
	default:
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	switch {
	case *limit > 0:
		q.Set("limit", strconv.Itoa(*limit))
	case *all:
		q.Set("limit", strconv.Itoa(auditkeep.MaxLimit))
	}
	if *order != "" {
		q.Set("order", *order)
	}
	if *sort != "" {
		q.Set("sort", *sort)
	}
	if *cursor != "" {
		q.Set("cursor", *cursor)
	}
	loc := timeZone(e, *utc)

	c := cf.client()
	n := 0
	for {
		page, err := c.ListEvents(ctx, q)
		if err != nil {
			return requestFailed(e, name, err)
		}
		n += len(page.Events)
		if cf.json {
			err = printEventsJSON(e.stdout, page.Events)
		} else {
			err = printEventsTable(e.stdout, page.Events, loc, n == len(page.Events), cols)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "auditkeep %s: %v\n", name, err)
			return exitNegative
		}
		if page.NextCursor == "" || len(page.Events) == 0 {
			break
		}
		if !*all {
			fmt.Fprintf(e.stderr, "More events match: add --all, or --cursor %s for the next page.\n", page.NextCursor)
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if n == 0 {
		fmt.Fprintln(e.stderr, "No events matched.")
		return exitNegative
	}
	return exitOK
}

// localZone is the zone of $TZ when it names one, else the system's.
func localZone(e *env) *time.Location {
	if tz := e.getenv("TZ"); tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			return loc
		}
	}
	return time.Local
}

func printEventsJSON(w io.Writer, events []auditkeep.Event) error {
	enc := json.NewEncoder(w)
	for i := range events {
		if err := enc.Encode(&events[i]); err != nil {
			return err
		}
	}
	return nil
}

// column is a column of the event tables: its title, the width beyond
// which a cell is cut in a page of events, the fixed width of a cell in
// the live table, and its text for an event.
type column struct {
	title      string
	max, fixed int
	value      func(ev *auditkeep.Event, loc *time.Location) string
}

// eventColumns are the columns of the event tables; with ids, the event's
// ID comes first.
func eventColumns(ids bool) []column {
	cols := []column{
		{"TIME", 25, 23, func(ev *auditkeep.Event, loc *time.Location) string {
			return ev.OccurredAt.In(loc).Format("2006-01-02 15:04:05 MST")
		}},
		{"ACTOR", 32, 28, func(ev *auditkeep.Event, _ *time.Location) string { return actorLabel(ev.Actor) }},
		{"ACTION", 36, 24, func(ev *auditkeep.Event, _ *time.Location) string { return ev.Action }},
		{"TARGET", 40, 30, func(ev *auditkeep.Event, _ *time.Location) string { return targetLabel(ev.Target) }},
		{"SCOPE", 48, 32, func(ev *auditkeep.Event, _ *time.Location) string { return scopeLabel(ev.Scope) }},
		{"SOURCE", 12, 9, func(ev *auditkeep.Event, _ *time.Location) string { return ev.Source }},
		{"IP", 39, 15, func(ev *auditkeep.Event, _ *time.Location) string { return ev.Context.IP }},
		{"STATUS", 10, 7, func(ev *auditkeep.Event, _ *time.Location) string { return statusLabel(ev.Status) }},
	}
	if ids {
		cols = append([]column{{"ID", 64, 36, func(ev *auditkeep.Event, _ *time.Location) string { return ev.ID }}}, cols...)
	}
	return cols
}

// statusLabel is success, or FAILURE to stand out.
func statusLabel(status string) string {
	switch status {
	case "":
		return auditkeep.StatusSuccess
	case auditkeep.StatusFailure:
		return "FAILURE"
	}
	return status
}

// printEventsTable prints events as a table aligned to its widest cells,
// with a header when header.
func printEventsTable(w io.Writer, events []auditkeep.Event, loc *time.Location, header bool, cols []column) error {
	if len(events) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := make([]string, len(cols))
	if header {
		for i, c := range cols {
			row[i] = c.title
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	for i := range events {
		for j, c := range cols {
			row[j] = cell(c.value(&events[i], loc), c.max)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// printFixedRow prints one row of a table of fixed column widths, cut
// with … where a cell is wider: the titles when ev is nil, else ev.
func printFixedRow(w io.Writer, cols []column, ev *auditkeep.Event, loc *time.Location) error {
	var b strings.Builder
	for i, c := range cols {
		s := c.title
		if ev != nil {
			s = cell(c.value(ev, loc), c.fixed)
		}
		if i == len(cols)-1 {
			b.WriteString(s)
			break
		}
		fmt.Fprintf(&b, "%-*s  ", c.fixed, s)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// actorLabel names an actor: a person by email, a token by name.
func actorLabel(a auditkeep.Actor) string {
	switch {
	case a.Type == auditkeep.ActorAPIToken && a.Name != "":
		return "token " + a.Name
	case a.Type == auditkeep.ActorAPIToken:
		return "token " + a.ID
	case a.Email != "":
		return a.Email
	case a.Name != "":
		return a.Name
	}
	return a.ID
}

// targetLabel names a target: "environment production", "(deleted)" when it is.
func targetLabel(t *auditkeep.Target) string {
	if t == nil {
		return ""
	}
	name := t.Name
	if name == "" {
		name = t.ID
	}
	s := t.Type + " " + name
	if t.Deleted {
		s += " (deleted)"
	}
	return s
}

// scopeLabel renders a scope as a breadcrumb of names: "Shop / production / api".
func scopeLabel(scope []auditkeep.ScopeEntry) string {
	parts := make([]string, len(scope))
	for i, s := range scope {
		parts[i] = s.Name
		if parts[i] == "" {
			parts[i] = s.Type + ":" + s.ID
		}
	}
	return strings.Join(parts, " / ")
}

// cell makes attacker-controlled text safe for one table cell: no control
// characters, no tabs, at most max characters, "-" when empty.
func cell(s string, max int) string {
	s = clean(s)
	if s == "" {
		return "-"
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}
