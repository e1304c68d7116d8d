package httpapi

import (
	"bufio"
	"context"
	"encoding/hex"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/retention"
	"github.com/transparency-dev/merkle/compact"
)

// eventJSONScanner is what a store offers to export events without
// decoding and encoding each (the embedded store): ScanEvents, but fn gets
// the JSON encoding/json writes for the event (HTML escaping on, Hash
// empty) and the offset in it where a "hash" member goes. js is valid
// until fn returns.
type eventJSONScanner interface {
	ScanEventJSON(ctx context.Context, tenant string, f auditkeep.Filter, fn func(seq int64, js []byte, hashAt int) error) error
}

// scanEventJSON runs the store's ScanEventJSON, behind the retention read
// guard when the store is guarded; ok is false when the store has none.
func (s *Server) scanEventJSON(ctx context.Context, tenant string, f auditkeep.Filter, fn func(int64, []byte, int) error) (ok bool, err error) {
	switch st := s.store.(type) {
	case eventJSONScanner:
		return true, st.ScanEventJSON(ctx, tenant, f, fn)
	case *retention.Guard:
		scan, ok := st.Unwrap().(eventJSONScanner)
		if !ok {
			return false, nil
		}
		// The guard narrows the filter as for any scan, then calls the
		// store it guards: here, one whose ScanEvents is ScanEventJSON.
		g := *st
		g.Guarded = guardedJSON{Guarded: st.Guarded, scan: scan, fn: fn}
		return true, g.ScanEvents(ctx, tenant, f, nil)
	}
	return false, nil
}

// guardedJSON is a guarded store whose ScanEvents calls ScanEventJSON with
// fn (the fn it is given is not called).
type guardedJSON struct {
	retention.Guarded
	scan eventJSONScanner
	fn   func(int64, []byte, int) error
}

func (g guardedJSON) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, _ func(*auditkeep.Event) error) error {
	return g.scan.ScanEventJSON(ctx, tenant, f, g.fn)
}

// exportJSON writes the NDJSON export of the tenant's events matching f to
// bw from the store's JSON of each event, the hash put in, and returns how
// many it wrote; ok is false (and nothing is written) when the store does
// not offer its JSON. It stops at the first error of storage or bw. The
// lines are those exportEvents writes.
func (s *Server) exportJSON(ctx context.Context, tenant string, f auditkeep.Filter, bw *bufio.Writer) (n int, ok bool, err error) {
	// Events are written in batches, whose hashes are read in one go; a
	// batch keeps its events' JSON one after another in buf.
	var (
		seqs   = make([]int64, 0, exportBatch)
		at     = make([]int, 0, exportBatch) // where each event's hash goes
		ends   = make([]int, 0, exportBatch) // where each event's JSON ends in buf
		buf    []byte
		hashes = make([][]byte, exportBatch)
		hexed  []byte
	)
	writeBatch := func() error {
		s.leafHashes(ctx, tenant, seqs, hashes)
		start := 0
		for i, end := range ends {
			js := buf[start:end]
			start = end
			if h := hashes[i]; h != nil {
				hexed = hex.AppendEncode(hexed[:0], h)
				bw.Write(js[:at[i]])
				bw.WriteString(`,"hash":"`)
				bw.Write(hexed)
				bw.WriteByte('"')
				js = js[at[i]:]
			}
			bw.Write(js)
			if err := bw.WriteByte('\n'); err != nil {
				return err
			}
			n++
		}
		seqs, at, ends, buf = seqs[:0], at[:0], ends[:0], buf[:0]
		return nil
	}
	ok, err = s.scanEventJSON(ctx, tenant, f, func(seq int64, js []byte, hashAt int) error {
		seqs = append(seqs, seq)
		at = append(at, hashAt)
		buf = append(buf, js...)
		ends = append(ends, len(buf))
		if len(seqs) == exportBatch {
			return writeBatch()
		}
		return nil
	})
	if ok && err == nil {
		err = writeBatch()
	}
	return n, ok, err
}

// leafHashes sets hashes[i] to the leaf hash of seqs[i] when the ledger
// has integrated it, else to nil, as fillHashes does for events, in one
// storage read. Failures are logged and leave hashes nil.
func (s *Server) leafHashes(ctx context.Context, tenant string, seqs []int64, hashes [][]byte) {
	clear(hashes)
	if s.ledger == nil || s.ledger.Storage == nil || len(seqs) == 0 {
		return
	}
	st, err := s.ledger.Storage.State(ctx, tenant)
	if err != nil || st.Size == 0 {
		return
	}
	ids := make([]compact.NodeID, 0, len(seqs))
	for _, seq := range seqs {
		if seq >= 1 && uint64(seq) <= st.Size {
			ids = append(ids, compact.NewNodeID(0, uint64(seq-1)))
		}
	}
	if len(ids) == 0 {
		return
	}
	nodes, err := s.ledger.Storage.Nodes(ctx, tenant, ids)
	if err != nil {
		s.log.Warn("ledger: leaf hashes", "tenant", tenant, "err", err)
		return
	}
	j := 0
	for i, seq := range seqs {
		if seq >= 1 && uint64(seq) <= st.Size {
			hashes[i] = nodes[j]
			j++
		}
	}
}
