package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
)

const tailSynopsis = `tail [filters] [-q SEARCH] [--since SEQ] [--ids] [--json]

Prints the events matching the filters as they arrive (GET /v1/stream), as a
table of fixed column widths in local time (--utc for UTC), longer values
cut with …, or with --json one JSON event per line. Once connected it says
on stderr that it is waiting for events.
It starts with new events, or after the event of seq --since. When the
connection drops it reconnects and resumes after the last event printed, so
nothing is missed or printed twice. It runs until interrupted (exit status 0);
it exits with 1 when the server refuses the stream or ends it because the
key was revoked.`

// runTail follows the live stream.
func runTail(ctx context.Context, e *env, args []string) int {
	const name = "tail"
	fs := newFlagSet(e, name, tailSynopsis)
	cf := addClientFlags(fs, e, false)
	ff := addFilterFlags(fs)
	since := fs.Int64("since", -1, "start after the event of this seq (default: only new events)")
	utc := fs.Bool("utc", false, "show times in UTC rather than local time")
	ids := fs.Bool("ids", false, "show each event's ID")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	q, err := ff.params(time.Now())
	switch {
	case err != nil:
	case len(pos) > 0:
		err = fmt.Errorf("unexpected argument %q (a search goes in -q)", pos[0])
	case *since < -1:
		err = errors.New("--since must be a seq (0 or more)")
	default:
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	loc := timeZone(e, *utc)
	cols := eventColumns(*ids)
	t := &tailer{
		url:    strings.TrimRight(cf.server, "/") + "/v1/stream?" + q.Encode(),
		key:    cf.key,
		last:   *since,
		stdout: e.stdout,
		stderr: e.stderr,
		connected: func() {
			if !cf.json {
				printFixedRow(e.stdout, cols, nil, loc)
			}
			fmt.Fprintln(e.stderr, "Waiting for events… (Ctrl-C to stop)")
		},
		print: func(ev auditkeep.Event) error {
			if cf.json {
				return printEventsJSON(e.stdout, []auditkeep.Event{ev})
			}
			return printFixedRow(e.stdout, cols, &ev, loc)
		},
	}
	if err := t.run(ctx); err != nil {
		return requestFailed(e, name, err)
	}
	return exitOK
}

// tailer follows a stream across reconnections.
type tailer struct {
	url    string
	key    string
	last   int64 // the seq of the last event printed; -1 before the first
	hinted bool  // the hint of an unreachable server was printed
	stdout io.Writer
	stderr io.Writer
	print  func(ev auditkeep.Event) error
	// connected is called once, when the server first accepts the stream.
	connected func()
	accepted  bool
}

// run reads the stream until ctx ends (nil) or the server refuses it (an
// *client.APIError).
func (t *tailer) run(ctx context.Context) error {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		progressed, err := t.once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ae *client.APIError
		if errors.As(err, &ae) && !ae.Temporary() {
			return err
		}
		if progressed {
			backoff = 500 * time.Millisecond
		}
		fmt.Fprintf(t.stderr, "auditkeep tail: %s; reconnecting after seq %d\n", clean(err.Error()), max(t.last, 0))
		if !t.hinted && unreachable(err) {
			printUnreachableHint(t.stderr, err)
			t.hinted = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	return nil
}

// once reads one connection; it reports whether any event arrived, and why
// the connection ended.
func (t *tailer) once(ctx context.Context) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+t.key)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", "auditkeep-cli/1")
	if t.last >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(t.last, 10))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return false, apiError(res)
	}
	if !t.accepted && t.connected != nil {
		t.connected()
	}
	t.accepted = true
	progressed := false
	br := bufio.NewReaderSize(res.Body, 64<<10)
	var id, event string
	var data strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the server closed the stream")
			}
			return progressed, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				event = value
			case "data":
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.WriteString(value)
			}
			continue
		}
		// A blank line dispatches the message.
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > t.last {
			t.last = n
		}
		switch event {
		case "event":
			var ev auditkeep.Event
			if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
				return progressed, fmt.Errorf("bad event from the server: %v", err)
			}
			if err := t.print(ev); err != nil {
				return progressed, err
			}
			progressed = true
		case "error":
			var body struct {
				Error struct{ Message string } `json:"error"`
			}
			json.Unmarshal([]byte(data.String()), &body)
			return progressed, fmt.Errorf("server ended the stream: %s", clean(body.Error.Message))
		case "end":
			// The credential was revoked or expired: a reconnection would
			// be refused, so this is the end.
			var end struct{ Reason, Message string }
			json.Unmarshal([]byte(data.String()), &end)
			return progressed, &client.APIError{Status: http.StatusUnauthorized, Code: auditkeep.EUNAUTHORIZED,
				Message: "the stream ended: " + clean(end.Message)}
		}
		event = ""
		data.Reset()
	}
}

// apiError reads an error answer.
func apiError(res *http.Response) error {
	var body struct {
		Error struct{ Code, Message, Field string } `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	json.Unmarshal(b, &body)
	if body.Error.Message == "" {
		body.Error.Message = strings.TrimSpace(string(b))
		if body.Error.Message == "" {
			body.Error.Message = res.Status
		}
	}
	return &client.APIError{Status: res.StatusCode, Code: body.Error.Code, Message: body.Error.Message, Field: body.Error.Field}
}
