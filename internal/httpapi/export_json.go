package httpapi

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/hex"
	"math"

	"github.com/auditkeep/auditkeep"
	"github.com/transparency-dev/merkle/compact"
)

// exportJSON writes the export in format (csv or ndjson) of the tenant's
// events matching f to bw from the store's JSON of each event, and returns
// how many it wrote and what flushes them; ok is false (and nothing is
// written) when the store does not offer its JSON. It stops at the first
// error of storage or bw. It writes what exportEvents writes.
func (s *Server) exportJSON(ctx context.Context, tenant string, f auditkeep.Filter, format string, bw *bufio.Writer) (n int, flush func() error, ok bool, err error) {
	if s.eventJSON == nil {
		return 0, nil, false, nil
	}
	var write func(js []byte, hashAt int, hash []byte) error
	flush = bw.Flush
	if format == "csv" {
		cw := csv.NewWriter(bw)
		if err := cw.Write(CSVColumns); err != nil {
			return 0, flush, true, err
		}
		row := make([]string, len(CSVColumns))
		var c csvJSON
		write = func(js []byte, _ int, hash []byte) error {
			if err := csvRowJSON(&c, row, js, hash); err != nil {
				return err
			}
			return cw.Write(row)
		}
		flush = func() error {
			cw.Flush()
			return bw.Flush()
		}
	} else {
		var hexed []byte
		write = func(js []byte, hashAt int, hash []byte) error {
			if hash != nil {
				hexed = hex.AppendEncode(hexed[:0], hash)
				bw.Write(js[:hashAt])
				bw.WriteString(`,"hash":"`)
				bw.Write(hexed)
				bw.WriteByte('"')
				js = js[hashAt:]
			}
			bw.Write(js)
			return bw.WriteByte('\n')
		}
	}
	// Events are written in batches, whose hashes are read in one go; a
	// batch keeps its events' JSON one after another in buf.
	var (
		seqs   = make([]int64, 0, exportBatch)
		at     = make([]int, 0, exportBatch) // where each event's hash goes
		ends   = make([]int, 0, exportBatch) // where each event's JSON ends in buf
		buf    []byte
		hashes = make([][]byte, exportBatch)
	)
	writeBatch := func() error {
		s.leafHashes(ctx, tenant, seqs, hashes)
		start := 0
		for i, end := range ends {
			if err := write(buf[start:end], at[i], hashes[i]); err != nil {
				return err
			}
			start = end
			n++
		}
		seqs, at, ends, buf = seqs[:0], at[:0], ends[:0], buf[:0]
		return nil
	}
	err = s.eventJSON.ScanEventJSON(ctx, tenant, f, func(seq int64, js []byte, hashAt int) error {
		seqs = append(seqs, seq)
		at = append(at, hashAt)
		buf = append(buf, js...)
		ends = append(ends, len(buf))
		if len(seqs) == exportBatch {
			return writeBatch()
		}
		return nil
	})
	if err == nil {
		err = writeBatch()
	}
	return n, flush, true, err
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
	if err != nil || st.Size == 0 || st.Broken != "" {
		return
	}
	lo, hi, n := uint64(math.MaxUint64), uint64(0), 0 // the integrated seqs' range, and their number
	for _, seq := range seqs {
		if seq >= 1 && uint64(seq) <= st.Size {
			lo, hi, n = min(lo, uint64(seq)), max(hi, uint64(seq)), n+1
		}
	}
	if n == 0 {
		return
	}
	// Seqs close together (an export of a whole range) are read as one
	// range of leaves: one read of the runs that hold them.
	if hi-lo < 64*uint64(n) {
		leaves, err := s.ledger.Storage.LeafHashes(ctx, tenant, lo-1, hi)
		if err == nil && uint64(len(leaves)) == hi-lo+1 {
			for i, seq := range seqs {
				if seq >= 1 && uint64(seq) <= st.Size {
					hashes[i] = leaves[uint64(seq)-lo]
				}
			}
			return
		}
	}
	ids := make([]compact.NodeID, 0, n)
	for _, seq := range seqs {
		if seq >= 1 && uint64(seq) <= st.Size {
			ids = append(ids, compact.NewNodeID(0, uint64(seq-1)))
		}
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
