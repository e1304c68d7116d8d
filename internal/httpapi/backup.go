package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Backup writes a backup of the store to w: its database consistent to
// one commit and, when withLedgerKey, the ledger's signer key (package
// backup's format). An error before the first byte is answered as usual.
type Backup func(ctx context.Context, w io.Writer, withLedgerKey bool) error

// handleBackup streams a backup of the embedded store (root key):
// POST /v1/backup[?with_ledger_key=true]. See "Backup and restore" in
// README.md.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) error {
	if s.backup == nil {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "this server's store is PostgreSQL: back it up with pg_dump or a physical backup tool (see Backup and restore in the README)")
	}
	withKey := false
	if v := r.URL.Query().Get("with_ledger_key"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return auditkeep.FieldErrorf("with_ledger_key", "with_ledger_key %q is not true or false", v)
		}
		withKey = b
	}
	// A snapshot of a large store takes a while before the first byte.
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Debug("backup: cannot lift the read deadline", "err", err)
	}
	start := time.Now()
	bw := &backupWriter{w: w, name: "auditkeep-backup-" + s.Now().UTC().Format("20060102T150405Z") + ".tar.gz"}
	err := s.backup(r.Context(), bw, withKey)
	switch {
	case err != nil && bw.n == 0:
		return err
	case err != nil:
		// Cut the transfer off: a backup that ends early must not look whole.
		s.log.Error("backup failed midway", "bytes", bw.n, "err", err)
		panic(http.ErrAbortHandler)
	}
	s.log.Info("backup made", "bytes", bw.n, "with_ledger_key", withKey, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// backupWriter sends the answer's headers with its first byte.
type backupWriter struct {
	w    http.ResponseWriter
	name string
	n    int64
}

func (b *backupWriter) Write(p []byte) (int, error) {
	if b.n == 0 {
		h := b.w.Header()
		h.Set("Content-Type", "application/gzip")
		h.Set("Content-Disposition", `attachment; filename="`+b.name+`"`)
		b.w.WriteHeader(http.StatusOK)
	}
	n, err := b.w.Write(p)
	b.n += int64(n)
	return n, err
}
