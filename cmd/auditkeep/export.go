package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

const exportSynopsis = `export --format csv|ndjson [filters] [-q SEARCH] [-o FILE] [--progress]
       auditkeep export --format ndjson --with-proofs [-o FILE]

Streams every matching event, oldest first unless --order desc, into FILE (or
stdout) as CSV or NDJSON, with times in UTC. FILE is written under a temporary
name and renamed when the export is complete, so a failed export leaves no
partial file. Progress (events, bytes, rate) is shown on stderr when it is a
terminal, or with --progress.

With --with-proofs the output is a bundle for offline verification
('auditkeep verify --bundle FILE --public-key KEY'): the latest signed
checkpoint, the leaf hashes of its tree, then every event it covers. A
bundle is the whole log: it takes no filter.`

// runExport streams an export to a file or stdout.
func runExport(ctx context.Context, e *env, args []string) int {
	const name = "export"
	fs := newFlagSet(e, name, exportSynopsis)
	cf := addClientFlags(fs, e, false)
	ff := addFilterFlags(fs)
	format := fs.String("format", "ndjson", "csv or ndjson")
	out := fs.String("o", "-", "output file; - for stdout")
	order := fs.String("order", "asc", "asc (oldest first) or desc")
	progress := fs.Bool("progress", false, "show progress on stderr even when it is not a terminal")
	reason := fs.String("reason", "", "why the events are exported (a ticket, a case); recorded with the export, required where the tenant says so")
	withProofs := fs.Bool("with-proofs", false, "write a verification bundle: checkpoint, leaf hashes and every event (ndjson only, no filters)")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	q, err := ff.params(time.Now())
	switch {
	case err != nil:
	case len(pos) > 0:
		err = fmt.Errorf("unexpected argument %q (the output file goes in -o)", pos[0])
	case *format != "csv" && *format != "ndjson":
		err = fmt.Errorf("--format %q is not csv or ndjson", *format)
	case *order != "asc" && *order != "desc":
		err = errors.New("--order must be asc or desc")
	case *withProofs && (*format != "ndjson" || *order != "asc" || len(q) > 0):
		err = errors.New("--with-proofs writes the whole log as NDJSON, oldest first: it takes no filter, --order or --format csv")
	default:
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	q.Set("order", *order)
	if *reason != "" {
		q.Set("reason", *reason)
	}

	var w io.Writer = e.stdout
	var f *os.File
	if *out != "-" {
		f, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*.partial")
		if err != nil {
			fmt.Fprintf(e.stderr, "auditkeep %s: %v\n", name, err)
			return exitNegative
		}
		defer os.Remove(f.Name()) // after the rename, this finds nothing
		defer f.Close()
		w = f
	}
	cw := &recordCounter{w: w, csv: *format == "csv", bundle: *withProofs}
	start := time.Now()
	var stop func()
	if *progress || isTerminal(e.stderr) {
		stop = progressLine(e.stderr, func() string {
			return thousands(cw.Records()) + " events  " + byteSize(cw.Bytes()) + "  " + rate(cw.Records(), start) + " events/s"
		})
	}
	wire := *format
	if *withProofs {
		wire = "bundle"
	}
	_, err = cf.client().Export(ctx, wire, q, cw)
	if stop != nil {
		stop()
	}
	if err == nil && f != nil {
		if err = f.Sync(); err == nil {
			if err = f.Close(); err == nil {
				err = os.Rename(f.Name(), *out)
			}
		}
	}
	if err != nil {
		return requestFailed(e, name, err)
	}
	elapsed := time.Since(start)
	dest := "stdout"
	if f != nil {
		dest = *out
	}
	fmt.Fprintf(e.stderr, "Exported %s events (%s) to %s in %s.\n", thousands(cw.Records()), byteSize(cw.Bytes()), dest, elapsed.Round(time.Millisecond))
	return exitOK
}

// recordCounter passes bytes through and counts them and the records they
// hold: NDJSON lines, CSV records after the header (a newline inside a
// quoted field does not end a CSV record), or the event lines of a bundle
// (not its checkpoint and leaf-hash lines).
type recordCounter struct {
	w       io.Writer
	csv     bool
	bundle  bool
	inQuote bool
	col     int  // bytes of the current line seen so far, up to len(bundleEventLine)
	isEvent bool // the current line starts like a bundle's event line
	lines   atomic.Int64
	bytes   atomic.Int64
}

// bundleEventLine is how an event line of a bundle starts.
const bundleEventLine = `{"type":"event"`

func (c *recordCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	var lines int64
	for _, b := range p[:n] {
		if c.bundle && c.col < len(bundleEventLine) {
			if c.col == 0 {
				c.isEvent = true
			}
			c.isEvent = c.isEvent && b == bundleEventLine[c.col]
			c.col++
		}
		switch b {
		case '"':
			if c.csv {
				c.inQuote = !c.inQuote // "" inside a quoted field toggles twice
			}
		case '\n':
			if c.bundle {
				if c.isEvent && c.col == len(bundleEventLine) {
					lines++
				}
				c.col, c.isEvent = 0, false
			} else if !c.inQuote {
				lines++
			}
		}
	}
	c.lines.Add(lines)
	c.bytes.Add(int64(n))
	return n, err
}

// Records returns the number of complete records seen.
func (c *recordCounter) Records() int64 {
	n := c.lines.Load()
	if c.csv && n > 0 {
		n-- // the header
	}
	return n
}

// Bytes returns the number of bytes written.
func (c *recordCounter) Bytes() int64 { return c.bytes.Load() }

// progressLine redraws line() on w every 200 ms until the returned function
// is called, which draws it a last time and ends the line.
func progressLine(w io.Writer, line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	draw := func() { fmt.Fprintf(w, "\r%s   ", line()) }
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				draw()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		draw()
		fmt.Fprintln(w)
	}
}

// rate renders n per second since start.
func rate(n int64, start time.Time) string {
	return thousands(int64(float64(n) / max(time.Since(start).Seconds(), 1e-3)))
}

// thousands renders n with thousands separators: 1,234,567.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

// byteSize renders a size in B, KiB, MiB or GiB.
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}
