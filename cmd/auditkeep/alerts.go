package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
	"github.com/auditkeep/auditkeep/internal/alert/notify"
)

const alertsUsage = `Usage:
  auditkeep alerts list [--state STATE,...] [--severity SEVERITY,...] [--rule ID] [--limit N]
  auditkeep alerts ack ID
  auditkeep alerts resolve ID

Alerts are raised by the tenant's alert rules (see auditkeep alert-rule).
list shows the newest first (export or admin key); ack and resolve need an
admin key and are recorded in the tenant's log.
`

const alertRuleUsage = `Usage:
  auditkeep alert-rule list
  auditkeep alert-rule create NAME --match QUERY [--condition CEL] [--group-by KEY,...]
                              [--threshold N] [--window DURATION] [--suppress-for DURATION]
                              [--severity SEVERITY] [--description TEXT] [--disabled]
                              [--webhook URL] [--slack URL|@FILE] [--email ADDRESS,...]
  auditkeep alert-rule test --match QUERY [the rule's flags] [--from TIME] [--to TIME]

Alert rules (admin key) raise an alert when --threshold or more events
matching --match (the q language of auditkeep events -q) and --condition (CEL
over the event) of one group (--group-by actor, ip, target, scope, team) occur
within --window. test backtests a rule over the log, from --from to --to (the
last 7 days by default), and stores nothing. A webhook's signing secret is
read from --secret-file (- for stdin) or $AUDITKEEP_ALERT_SECRET; a Slack URL
is a credential: give @FILE to read it from a file.
`

// runAlerts lists, acknowledges and resolves alerts.
func runAlerts(ctx context.Context, e *env, args []string) int {
	return subcommand(ctx, e, "alerts", alertsUsage, args, map[string]func(context.Context, *env, []string) int{
		"list":    runAlertsList,
		"ack":     func(ctx context.Context, e *env, args []string) int { return runAlertState(ctx, e, "ack", args) },
		"resolve": func(ctx context.Context, e *env, args []string) int { return runAlertState(ctx, e, "resolve", args) },
	})
}

// runAlertRule lists, creates and backtests alert rules.
func runAlertRule(ctx context.Context, e *env, args []string) int {
	return subcommand(ctx, e, "alert-rule", alertRuleUsage, args, map[string]func(context.Context, *env, []string) int{
		"list": runAlertRuleList,
		"create": func(ctx context.Context, e *env, args []string) int {
			return runAlertRuleCreate(ctx, e, "create", args)
		},
		"test": func(ctx context.Context, e *env, args []string) int { return runAlertRuleCreate(ctx, e, "test", args) },
	})
}

// subcommand runs args[0] of subs, or prints usage.
func subcommand(ctx context.Context, e *env, name, usage string, args []string, subs map[string]func(context.Context, *env, []string) int) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if run, ok := subs[args[0]]; ok {
		return run(ctx, e, args[1:])
	}
	fmt.Fprintf(e.stderr, "auditkeep %s: unknown subcommand %q\n\n%s", name, args[0], usage)
	return exitUsage
}

// commaList splits a comma-separated flag value, checking each against
// allowed.
func commaList(flagName, v string, allowed []string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if allowed != nil && !slices.Contains(allowed, p) {
			return nil, fmt.Errorf("--%s %q is not one of %s", flagName, p, strings.Join(allowed, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

func runAlertsList(ctx context.Context, e *env, args []string) int {
	const name = "alerts list"
	fs := newFlagSet(e, name, name+" [flags]")
	cf := addClientFlags(fs, e, false)
	state := fs.String("state", "", "only alerts in these states: "+strings.Join(auditkeep.AlertStates, ", "))
	severity := fs.String("severity", "", "only alerts of these severities: "+strings.Join(auditkeep.Severities, ", "))
	rule := fs.String("rule", "", "only the alerts of this rule (its id)")
	limit := fs.Int("limit", 50, "most alerts to show (1-1000)")
	var f client.AlertFilter
	err := noArgs(fs, cf, args)
	if err == nil {
		f.States, err = commaList("state", *state, auditkeep.AlertStates)
	}
	if err == nil {
		f.Severities, err = commaList("severity", *severity, auditkeep.Severities)
	}
	if err == nil && (*limit < 1 || *limit > auditkeep.MaxLimit) {
		err = fmt.Errorf("--limit must be from 1 to %d", auditkeep.MaxLimit)
	}
	if err != nil {
		return usageError(e, name, err)
	}
	f.Rule, f.Limit = *rule, *limit
	alerts, _, err := cf.client().ListAlerts(ctx, f)
	if err != nil {
		return requestFailed(e, name, err)
	}
	return printList(e, cf, alerts, "No alerts.", "ID\tSTATE\tSEVERITY\tRULE\tGROUP\tCOUNT\tFIRST EVENT\tLAST EVENT", func(a auditkeep.Alert) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s", clean(a.ID), clean(a.State), clean(a.Severity), truncate(clean(a.RuleName), 40),
			orDash(truncate(clean(notify.DescribeGroup(a.GroupKey)), 50)), a.Count,
			a.FirstEventAt.UTC().Format(time.RFC3339), a.LastEventAt.UTC().Format(time.RFC3339))
	})
}

func runAlertState(ctx context.Context, e *env, sub string, args []string) int {
	name := "alerts " + sub
	fs := newFlagSet(e, name, name+" ID")
	cf := addClientFlags(fs, e, false)
	pos, err := parse(fs, args)
	if err == nil && len(pos) != 1 {
		err = errors.New("give one alert ID")
	}
	if err == nil {
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	c := cf.client()
	var a *auditkeep.Alert
	if sub == "ack" {
		a, err = c.AcknowledgeAlert(ctx, pos[0])
	} else {
		a, err = c.ResolveAlert(ctx, pos[0])
	}
	if err != nil {
		return requestFailed(e, name, err)
	}
	if cf.json {
		return printJSON(e, a)
	}
	fmt.Fprintf(e.stdout, "Alert %s (%s): %s\n", clean(a.ID), clean(a.RuleName), clean(a.State))
	return exitOK
}

func runAlertRuleList(ctx context.Context, e *env, args []string) int {
	const name = "alert-rule list"
	fs := newFlagSet(e, name, name)
	cf := addClientFlags(fs, e, false)
	if err := noArgs(fs, cf, args); err != nil {
		return usageError(e, name, err)
	}
	rules, err := cf.client().ListAlertRules(ctx)
	if err != nil {
		return requestFailed(e, name, err)
	}
	return printList(e, cf, rules, "No alert rules.", "ID\tNAME\tSEVERITY\tENABLED\tTHRESHOLD\tMATCH\tCHANNELS", func(r auditkeep.AlertRule) string {
		threshold := fmt.Sprint(r.Threshold)
		if r.Threshold > 1 {
			threshold += " in " + r.Window.String()
		}
		if len(r.GroupBy) > 0 {
			threshold += " by " + strings.Join(r.GroupBy, ",")
		}
		return fmt.Sprintf("%s\t%s\t%s\t%v\t%s\t%s\t%s", clean(r.ID), truncate(clean(r.Name), 40), clean(r.Severity), r.Enabled, clean(threshold),
			truncate(clean(r.Match), 50), orDash(channelsSummary(r.Channels)))
	})
}

// channelsSummary is "webhook ok, email failing: <error>".
func channelsSummary(chs []auditkeep.AlertChannel) string {
	var parts []string
	for _, ch := range chs {
		s := ch.Type
		if ch.State != "" {
			s += " " + ch.State
		}
		if ch.State == auditkeep.ChannelFailing && ch.LastError != "" {
			s += ": " + truncate(ch.LastError, 40)
		}
		parts = append(parts, clean(s))
	}
	return strings.Join(parts, ", ")
}

// ruleFlags are the flags of a rule's definition.
type ruleFlags struct {
	match, condition, groupBy, window, suppressFor, severity, description *string
	threshold                                                             *int
	disabled                                                              *bool
	webhook, slack, email, secretFile                                     *string
}

func addRuleFlags(fs *flag.FlagSet) *ruleFlags {
	return &ruleFlags{
		match:       fs.String("match", "", "the events the rule counts, in the q language (required)"),
		condition:   fs.String("condition", "", "a CEL expression over the event that must be true as well"),
		groupBy:     fs.String("group-by", "", "count per group of these keys: "+strings.Join(auditkeep.GroupKeys, ", ")),
		threshold:   fs.Int("threshold", 1, "matching events of one group that raise an alert"),
		window:      fs.String("window", "", "within how long of each other (by occurred_at) the threshold's events lie, such as 10m"),
		suppressFor: fs.String("suppress-for", "", "while an alert is not resolved, matches within this time of its last event extend it, such as 30m"),
		severity:    fs.String("severity", auditkeep.SeverityMedium, "low, medium, high or critical"),
		description: fs.String("description", "", "what the rule is for"),
		disabled:    fs.Bool("disabled", false, "create the rule disabled"),
		webhook:     fs.String("webhook", "", "send alerts to this URL, signed as Standard Webhooks (secret: --secret-file or $AUDITKEEP_ALERT_SECRET)"),
		slack:       fs.String("slack", "", "send alerts to this Slack incoming webhook URL, or @FILE holding it"),
		email:       fs.String("email", "", "send alerts to these addresses (comma-separated)"),
		secretFile:  fs.String("secret-file", "", "a file holding the webhook's signing secret, - for stdin"),
	}
}

// params returns the rule's definition.
func (f *ruleFlags) params(e *env, name string) (client.AlertRuleParams, error) {
	p := client.AlertRuleParams{Name: name, Match: *f.match, Condition: *f.condition, Threshold: *f.threshold,
		Window: *f.window, SuppressFor: *f.suppressFor, Severity: *f.severity, Description: *f.description}
	if *f.match == "" {
		return p, errors.New(`--match is required: a query such as "action:user.login status:failure"`)
	}
	var err error
	if p.GroupBy, err = commaList("group-by", *f.groupBy, auditkeep.GroupKeys); err != nil {
		return p, err
	}
	if !slices.Contains(auditkeep.Severities, p.Severity) {
		return p, fmt.Errorf("--severity %q is not one of %s", p.Severity, strings.Join(auditkeep.Severities, ", "))
	}
	if *f.disabled {
		p.Enabled = new(bool)
	}
	if *f.webhook != "" {
		secret, err := alertSecret(e, *f.secretFile)
		if err != nil {
			return p, err
		}
		p.Channels = append(p.Channels, client.AlertChannelParams{Type: auditkeep.ChannelWebhook, URL: *f.webhook, Secret: secret})
	}
	if *f.slack != "" {
		u := *f.slack
		if file, ok := strings.CutPrefix(u, "@"); ok {
			b, err := os.ReadFile(file)
			if err != nil {
				return p, fmt.Errorf("--slack: %v", err)
			}
			u = strings.TrimSpace(string(b))
		}
		p.Channels = append(p.Channels, client.AlertChannelParams{Type: auditkeep.ChannelSlack, URL: u})
	}
	if *f.email != "" {
		to, _ := commaList("email", *f.email, nil)
		p.Channels = append(p.Channels, client.AlertChannelParams{Type: auditkeep.ChannelEmail, To: to})
	}
	return p, nil
}

// alertSecret reads a webhook channel's secret as a stream's is read, from
// file or $AUDITKEEP_ALERT_SECRET.
func alertSecret(e *env, file string) (string, error) {
	if file == "" {
		if s := e.getenv("AUDITKEEP_ALERT_SECRET"); s != "" {
			return s, nil
		}
		return "", errors.New("--webhook needs its signing secret: --secret-file FILE (- for stdin) or $AUDITKEEP_ALERT_SECRET")
	}
	return streamSecret(e, file)
}

// runAlertRuleCreate creates a rule (sub "create") or backtests one
// ("test").
func runAlertRuleCreate(ctx context.Context, e *env, sub string, args []string) int {
	name := "alert-rule " + sub
	synopsis := name + " NAME --match QUERY [flags]"
	if sub == "test" {
		synopsis = name + " --match QUERY [flags]"
	}
	fs := newFlagSet(e, name, synopsis)
	cf := addClientFlags(fs, e, false)
	rf := addRuleFlags(fs)
	var from, to *string
	if sub == "test" {
		from = fs.String("from", "", "the span's start, RFC 3339 or a date (default: 7 days before --to)")
		to = fs.String("to", "", "the span's end, RFC 3339 or a date (default: now)")
	}
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	var p client.AlertRuleParams
	var fromT, toT time.Time
	switch {
	case sub == "create" && len(pos) != 1:
		err = errors.New("give one rule NAME")
	case sub == "test" && len(pos) > 1:
		err = fmt.Errorf("unexpected argument %q", pos[1])
	default:
		ruleName := "backtest"
		if len(pos) == 1 {
			ruleName = pos[0]
		}
		p, err = rf.params(e, ruleName)
	}
	if err == nil && sub == "test" {
		if fromT, err = optionalTime("from", *from); err == nil {
			toT, err = optionalTime("to", *to)
		}
	}
	if err == nil {
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	c := cf.client()
	if sub == "test" {
		b, err := c.TestAlertRule(ctx, p, fromT, toT)
		if err != nil {
			return requestFailed(e, name, err)
		}
		if cf.json {
			return printJSON(e, b)
		}
		fmt.Fprintf(e.stdout, "%d %s from %s to %s\n", b.Alerts, plural(b.Alerts, "alert", "alerts"),
			b.From.UTC().Format(time.RFC3339), b.To.UTC().Format(time.RFC3339))
		for _, a := range b.Examples {
			fmt.Fprintf(e.stdout, "  %s  %s  %d %s  %s\n", a.FirstEventAt.UTC().Format(time.RFC3339), orDash(clean(notify.DescribeGroup(a.GroupKey))),
				a.Count, plural(a.Count, "event", "events"), clean(strings.Join(a.EventIDs[:min(3, len(a.EventIDs))], ",")))
		}
		return exitOK
	}
	r, err := c.CreateAlertRule(ctx, p)
	if err != nil {
		return requestFailed(e, name, err)
	}
	if cf.json {
		return printJSON(e, r)
	}
	fmt.Fprintln(e.stdout, clean(r.ID))
	state := "enabled"
	if !r.Enabled {
		state = "disabled"
	}
	fmt.Fprintf(e.stderr, "Created alert rule %s (%s, %s)\n", clean(r.Name), clean(r.Severity), state)
	return exitOK
}

// optionalTime reads a flag's RFC 3339 time or date; "" is the zero time.
func optionalTime(flagName, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := parseReplayTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q is not an RFC 3339 time or a date (2026-11-26)", flagName, v)
	}
	return t, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
