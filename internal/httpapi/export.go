package httpapi

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// CSVColumns is the fixed column set of a CSV export, in order.
var CSVColumns = []string{
	"seq", "id", "occurred_at", "received_at", "action", "type", "status",
	"actor_type", "actor_id", "actor_name", "actor_email",
	"target_type", "target_id", "target_name", "target_deleted",
	"scope", "team", "source", "ip", "user_agent", "description", "changes", "hash",
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "ndjson"
	}
	if format == "bundle" {
		return s.handleExportBundle(w, r)
	}
	if format != "csv" && format != "ndjson" {
		return auditkeep.FieldErrorf("format", "format must be csv, ndjson or bundle")
	}
	f, err := s.filter(r)
	if err != nil {
		return err
	}
	if f.Cursor != nil {
		return auditkeep.FieldErrorf("cursor", "an export streams every matching event; it takes no cursor")
	}
	if err := seqOnly(f, "an export"); err != nil {
		return err
	}
	tenant := principalFrom(r.Context()).tenant()
	// Fail before the first byte when storage is down, so the client gets a
	// proper error status rather than a truncated body.
	if err := s.store.Ping(r.Context()); err != nil {
		return err
	}
	if err := s.recordExport(r, tenant, format); err != nil {
		return err
	}

	name := "auditkeep-" + tenant + "-" + s.Now().UTC().Format("20060102T150405Z") + "." + format
	h := w.Header()
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)

	bw := bufio.NewWriterSize(w, 64<<10)
	n, flush, ok, err := s.exportJSON(r.Context(), tenant, f, format, bw)
	if !ok {
		n, flush, err = s.exportEvents(r.Context(), tenant, f, format, bw)
	}
	if err != nil {
		// The status is sent: abort the connection so the client sees a
		// truncated transfer, never a complete-looking file.
		s.log.Warn("export aborted", "tenant", tenant, "events", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	if err := flush(); err != nil {
		s.log.Debug("export: client went away", "tenant", tenant, "err", err)
		return nil
	}
	s.metrics.exported.Add(float64(n))
	return nil
}

// exportEvents writes the tenant's events matching f to bw in format (csv
// or ndjson), from the store's events, and returns how many it wrote and
// what flushes them. It stops at the first error of storage or bw.
func (s *Server) exportEvents(ctx context.Context, tenant string, f auditkeep.Filter, format string, bw *bufio.Writer) (int, func() error, error) {
	var write func(*auditkeep.Event) error
	flush := bw.Flush
	if format == "csv" {
		cw := csv.NewWriter(bw)
		if err := cw.Write(CSVColumns); err != nil {
			return 0, flush, err
		}
		row := make([]string, len(CSVColumns))
		write = func(e *auditkeep.Event) error {
			csvRow(row, e)
			return cw.Write(row)
		}
		flush = func() error {
			cw.Flush()
			return bw.Flush()
		}
	} else {
		enc := json.NewEncoder(bw)
		write = func(e *auditkeep.Event) error { return enc.Encode(e) }
	}
	// Events are written in batches, whose hashes are read in one go.
	n := 0
	batch := make([]*auditkeep.Event, 0, exportBatch)
	writeBatch := func() error {
		s.fillHashes(ctx, tenant, batch)
		for _, e := range batch {
			n++
			if err := write(e); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	err := s.store.ScanEvents(ctx, tenant, f, func(e *auditkeep.Event) error {
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			return writeBatch()
		}
		return nil
	})
	if err == nil {
		err = writeBatch()
	}
	return n, flush, err
}

// exportBatch is the number of events whose hashes an export reads at once.
const exportBatch = 512

// csvRow fills row with e's cells, neutralised against formula injection.
func csvRow(row []string, e *auditkeep.Event) {
	var tt, tid, tn, td string
	if e.Target != nil {
		tt, tid, tn, td = e.Target.Type, e.Target.ID, e.Target.Name, strconv.FormatBool(e.Target.Deleted)
	}
	var changes string
	if len(e.Changes) > 0 {
		b, _ := json.Marshal(e.Changes)
		changes = string(b)
	}
	vals := []string{
		strconv.FormatInt(e.Seq, 10), e.ID, e.OccurredAt.UTC().Format(time.RFC3339Nano), e.ReceivedAt.UTC().Format(time.RFC3339Nano),
		e.Action, e.Type, e.Status,
		e.Actor.Type, e.Actor.ID, e.Actor.Name, e.Actor.Email,
		tt, tid, tn, td,
		auditkeep.ScopePath(e.Scope), e.Team, e.Source, e.Context.IP, e.Context.UserAgent, e.Description, changes, e.Hash,
	}
	for i, v := range vals {
		row[i] = SafeCell(v)
	}
}

// SafeCell neutralises a CSV cell that a spreadsheet would run as a formula:
// one starting with = + - @, a tab or a carriage return gets a leading
// apostrophe (OWASP's advice).
func SafeCell(v string) string {
	if v == "" {
		return v
	}
	if strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
