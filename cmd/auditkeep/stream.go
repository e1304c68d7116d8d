package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep/client"
	"github.com/auditkeep/auditkeep/internal/stream/format"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

const streamUsage = `Usage:
  auditkeep stream list
  auditkeep stream create NAME --type TYPE [--format FORMAT] [--set KEY=VALUE ...]
                          [--settings JSON] [--secret-file FILE] [--filter NAME=VALUE ...] [-q QUERY]
                          [--start now|beginning]
  auditkeep stream test ID
  auditkeep stream pause ID
  auditkeep stream resume ID
  auditkeep stream replay ID (--from-seq SEQ | --from-time TIME)

Streams deliver the tenant's events to a SIEM (admin key). Types: webhook,
splunk_hec, syslog, nats; formats: native, ocsf, ecs, cef. Settings are the
type's own: --set url=https://splunk:8088 --set index=audit; a value of
@FILE is the file's content (--set ca=@ca.pem), true, false and numbers are
JSON. The secret (webhook signing secret, HEC token, NATS token or password,
syslog client key) is read from --secret-file (- for stdin) or
$AUDITKEEP_STREAM_SECRET, never from the command line.
`

// runStream lists, creates, tests, pauses, resumes and replays streams.
func runStream(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, streamUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "list":
		return runStreamList(ctx, e, args)
	case "create":
		return runStreamCreate(ctx, e, args)
	case "test", "pause", "resume", "replay":
		return runStreamAction(ctx, e, sub, args)
	}
	fmt.Fprintf(e.stderr, "auditkeep stream: unknown subcommand %q\n\n%s", sub, streamUsage)
	return exitUsage
}

func runStreamList(ctx context.Context, e *env, args []string) int {
	const name = "stream list"
	fs := newFlagSet(e, name, name)
	cf := addClientFlags(fs, e, false)
	if err := noArgs(fs, cf, args); err != nil {
		return usageError(e, name, err)
	}
	streams, err := cf.client().ListStreams(ctx)
	if err != nil {
		return requestFailed(e, name, err)
	}
	now := time.Now()
	return printList(e, cf, streams, "No streams.", "ID\tNAME\tTYPE\tFORMAT\tSTATE\tLAG\tLAST SUCCESS\tLAST ERROR", func(s client.Stream) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", clean(s.ID), clean(s.Name), clean(s.Type), clean(s.Format), clean(s.State),
			streamLag(s), ago(now, s.LastSuccessAt), orDash(truncate(clean(s.LastError), 60)))
	})
}

// streamLag is a stream's lag as "N events, Ts".
func streamLag(s client.Stream) string {
	if s.LagEvents == 0 {
		return "0"
	}
	return fmt.Sprintf("%d events, %s", s.LagEvents, (time.Duration(s.LagSeconds * float64(time.Second))).Round(time.Second))
}

// ago is how long before now t was, "never" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func runStreamCreate(ctx context.Context, e *env, args []string) int {
	const name = "stream create"
	fs := newFlagSet(e, name, name+" NAME --type TYPE [flags]")
	cf := addClientFlags(fs, e, false)
	typ := fs.String("type", "", "the transport: "+strings.Join(transport.Types, ", ")+" (required)")
	fm := fs.String("format", "", "the records' format: "+strings.Join(format.Names, ", ")+" (the server's default when empty)")
	settingsJSON := fs.String("settings", "", "the type's settings as one JSON object; --set adds to it")
	var sets, filters stringList
	fs.Var(&sets, "set", "one setting KEY=VALUE (repeatable; VALUE @FILE reads a file)")
	fs.Var(&filters, "filter", "one filter NAME=VALUE as GET /v1/events takes it (repeatable)")
	q := fs.String("q", "", "a search, as the q parameter of GET /v1/events")
	start := fs.String("start", "now", "where the stream starts: now (the next event) or beginning (every event the log holds)")
	secretFile := fs.String("secret-file", "", "a file holding the secret, - for stdin; else $AUDITKEEP_STREAM_SECRET")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	p := client.StreamParams{Type: *typ, Format: *fm, Start: *start}
	switch {
	case len(pos) != 1:
		err = errors.New("give one stream NAME")
	case *typ == "":
		err = fmt.Errorf("--type is required: one of %s", strings.Join(transport.Types, ", "))
	case !slices.Contains(transport.Types, *typ):
		err = fmt.Errorf("--type %q is not one of %s", *typ, strings.Join(transport.Types, ", "))
	case *start != "now" && *start != "beginning":
		err = fmt.Errorf("--start %q is not now or beginning", *start)
	case *fm != "" && format.ByName(*fm) == nil:
		err = fmt.Errorf("--format %q is not one of %s", *fm, strings.Join(format.Names, ", "))
	default:
		p.Name = pos[0]
		if p.Settings, err = streamSettings(*settingsJSON, sets); err == nil {
			if p.Filters, err = streamFilters(filters, *q); err == nil {
				if p.Secret, err = streamSecret(e, *secretFile); err == nil {
					err = cf.check()
				}
			}
		}
	}
	if err != nil {
		return usageError(e, name, err)
	}
	s, err := cf.client().CreateStream(ctx, p)
	if err != nil {
		return requestFailed(e, name, err)
	}
	if cf.json {
		return printJSON(e, s)
	}
	fmt.Fprintf(e.stdout, "%s\n", clean(s.ID))
	from := "the next event on"
	if *start == "beginning" {
		from = "the first event of the log"
	}
	fmt.Fprintf(e.stderr, "Created stream %s (%s, %s, %s): delivering from %s\n", clean(s.Name), clean(s.Type), clean(s.Format), clean(s.State), from)
	return exitOK
}

// streamSettings merges --settings and each --set into one JSON object.
func streamSettings(base string, sets []string) (json.RawMessage, error) {
	m := map[string]any{}
	if base != "" {
		d := json.NewDecoder(strings.NewReader(base))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			return nil, fmt.Errorf("--settings must be a JSON object: %v", err)
		}
	}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--set %q must be KEY=VALUE", kv)
		}
		if file, ok := strings.CutPrefix(v, "@"); ok {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("--set %s: %v", k, err)
			}
			m[k] = string(b)
			continue
		}
		switch {
		case v == "true" || v == "false":
			m[k] = v == "true"
		case isJSONNumber(v):
			m[k] = json.Number(v)
		default:
			m[k] = v
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

func isJSONNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil && json.Valid([]byte(s))
}

// streamFilters turns each --filter NAME=VALUE, and -q, into the filters
// object.
func streamFilters(filters []string, q string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, kv := range filters {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--filter %q must be NAME=VALUE, such as action=user.login", kv)
		}
		out[k] = append(out[k], v)
	}
	if q != "" {
		out["q"] = append(out["q"], q)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// streamSecret reads the secret from file (- for stdin), else from
// $AUDITKEEP_STREAM_SECRET; a trailing line break is not part of it.
func streamSecret(e *env, file string) (string, error) {
	var b []byte
	var err error
	switch file {
	case "":
		return e.getenv("AUDITKEEP_STREAM_SECRET"), nil
	case "-":
		b, err = io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	default:
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return "", fmt.Errorf("--secret-file: %v", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("--secret-file %s is empty", file)
	}
	return s, nil
}

func runStreamAction(ctx context.Context, e *env, sub string, args []string) int {
	name := "stream " + sub
	synopsis := name + " ID"
	if sub == "replay" {
		synopsis += " (--from-seq SEQ | --from-time TIME)"
	}
	fs := newFlagSet(e, name, synopsis)
	cf := addClientFlags(fs, e, false)
	var fromSeq *int64
	var fromTime *string
	if sub == "replay" {
		fromSeq = fs.Int64("from-seq", 0, "deliver again the events from this seq of the tenant's log on")
		fromTime = fs.String("from-time", "", "deliver again from the first event that occurred at or after this time (RFC 3339, or a date)")
	}
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	var r client.Replay
	switch {
	case len(pos) != 1:
		err = errors.New("give one stream ID")
	case sub == "replay" && (*fromSeq > 0) == (*fromTime != ""):
		err = errors.New("give one of --from-seq and --from-time")
	case sub == "replay" && *fromSeq < 0:
		err = errors.New("--from-seq must be 1 or more")
	case sub == "replay" && *fromTime != "":
		r.FromTime, err = parseReplayTime(*fromTime)
	}
	if err == nil {
		r.FromSeq = derefInt(fromSeq)
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	c, id := cf.client(), pos[0]
	var s *client.Stream
	switch sub {
	case "test":
		var res *client.StreamTest
		if res, err = c.TestStream(ctx, id); err == nil {
			if cf.json {
				return printJSON(e, res)
			}
			if !res.Delivered {
				fmt.Fprintf(e.stderr, "auditkeep %s: the receiver of stream %s refused the test event: %s\n", name, clean(id), clean(res.Error))
				return exitNegative
			}
			fmt.Fprintf(e.stdout, "The receiver of stream %s accepted the test event\n", clean(id))
			return exitOK
		}
	case "pause":
		s, err = c.PauseStream(ctx, id)
	case "resume":
		s, err = c.ResumeStream(ctx, id)
	case "replay":
		s, err = c.ReplayStream(ctx, id, r)
	}
	if err != nil {
		return requestFailed(e, name, err)
	}
	if cf.json {
		return printJSON(e, s)
	}
	fmt.Fprintf(e.stdout, "Stream %s (%s): %s, lag %s\n", clean(s.ID), clean(s.Name), clean(s.State), streamLag(*s))
	return exitOK
}

func derefInt(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// parseReplayTime reads RFC 3339 or a date (midnight UTC).
func parseReplayTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--from-time %q is not an RFC 3339 time or a date (2026-11-26)", s)
}
