package httpapi

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/transparency-dev/merkle/compact"
)

// Ledger connects the API to the tenants' Merkle trees (internal/ledger):
// checkpoints, proofs, leaf hashes on reads and offline bundles.
type Ledger struct {
	Storage     ledger.Storage
	VerifierKey string // the note verifier key of the checkpoints' signer, served by GET /v1/ledger/key
	// Events reads the events of bundles (GET /v1/export?format=bundle)
	// straight from the store, not through the retention read guard: a
	// bundle is an integrity artifact, and holds every event still stored,
	// those past retention that the job has not removed yet included. Nil:
	// Storage when it reads events too, else the API's store.
	Events ledger.EventScanner
	// Held, when set, returns the tenants this node does not sign because
	// another key signed their checkpoints (ledger.Integrator.Held): /readyz
	// reports them with the broken ones.
	Held func() map[string]string
	// Rebuild, when set, rebuilds a tenant's tree from its stored events
	// and signs it anew (ledger.Integrator.Rebuild): POST
	// /v1/tenants/{tenant}/ledger/rebuild.
	Rebuild func(ctx context.Context, tenant string, record func(ctx context.Context, events int64) error) (uint64, error)
}

// bundleEvents returns what bundles read events from (see Ledger.Events).
func (s *Server) bundleEvents() ledger.EventScanner {
	if s.ledger.Events != nil {
		return s.ledger.Events
	}
	if ev, ok := s.ledger.Storage.(ledger.EventScanner); ok {
		return ev
	}
	return s.store
}

// checkpointBody is GET /v1/checkpoint's JSON answer.
type checkpointBody struct {
	Checkpoint string `json:"checkpoint"` // the signed note, as `auditkeep verify` and any C2SP tool read it
	Origin     string `json:"origin"`
	Size       uint64 `json:"size"`
	Root       string `json:"root"` // hex
}

// proofBody is an inclusion proof: GET /v1/events/{id}/proof, and the
// "proof" member of GET /v1/events/{id}.
type proofBody struct {
	Seq        int64    `json:"seq"`
	LeafHash   string   `json:"leaf_hash"` // hex
	TreeSize   uint64   `json:"tree_size"`
	Proof      []string `json:"proof"`                // hex hashes, leaf to root
	Checkpoint string   `json:"checkpoint,omitempty"` // the signed note of tree_size, when one was stored
}

// consistencyBody is GET /v1/consistency's answer.
type consistencyBody struct {
	First  uint64   `json:"first"`
	Second uint64   `json:"second"`
	Proof  []string `json:"proof"` // hex hashes
}

// eventWithProof is GET /v1/events/{id}'s answer.
type eventWithProof struct {
	*auditkeep.Event
	Proof *proofBody `json:"proof,omitempty"`
}

func (s *Server) ledgerLog() (*ledger.Log, error) {
	if s.ledger == nil || s.ledger.Storage == nil {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "this server keeps no ledger")
	}
	return ledger.NewLog(s.ledger.Storage), nil
}

// handleCheckpoint serves GET /v1/checkpoint[?size=N]: the tenant's latest
// signed checkpoint, or the one of size N from the history. JSON by
// default; the bare signed note with Accept: text/plain.
func (s *Server) handleCheckpoint(w http.ResponseWriter, r *http.Request) error {
	log, err := s.ledgerLog()
	if err != nil {
		return err
	}
	tenant := principalFrom(r.Context()).tenant()
	var cp *ledger.Checkpoint
	if v := r.URL.Query().Get("size"); v != "" {
		size, err := strconv.ParseUint(v, 10, 64)
		if err != nil || size == 0 {
			return auditkeep.FieldErrorf("size", "size must be a positive whole number")
		}
		cp, err = log.Checkpoint(r.Context(), tenant, size)
		if err != nil {
			return err
		}
	} else if cp, err = log.Latest(r.Context(), tenant); err != nil {
		return err
	}
	if wantsText(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(cp.Note)
		return nil
	}
	writeJSON(w, http.StatusOK, checkpointBody{Checkpoint: string(cp.Note), Origin: cp.Origin, Size: cp.Size, Root: hex.EncodeToString(cp.Root)})
	return nil
}

// checkpointsBody is GET /v1/checkpoints' answer.
type checkpointsBody struct {
	Sizes     []uint64 `json:"sizes"`                // ascending
	NextAfter uint64   `json:"next_after,omitempty"` // the after of the next page; absent on the last one
}

// checkpointsPageMax is the most sizes one GET /v1/checkpoints answers.
const checkpointsPageMax = 10000

// handleCheckpoints serves GET /v1/checkpoints[?after=N&limit=M]: the sizes
// of the tenant's signed checkpoints, ascending, larger than N (default 0),
// at most M of them (1 to 10000, default 1000). Each is served by
// GET /v1/checkpoint?size=N.
func (s *Server) handleCheckpoints(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.ledgerLog(); err != nil {
		return err
	}
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return auditkeep.FieldErrorf("after", "after must be a whole number (a tree size)")
		}
		after = n
	}
	limit := 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > checkpointsPageMax {
			return auditkeep.FieldErrorf("limit", "limit must be a whole number from 1 to %d", checkpointsPageMax)
		}
		limit = n
	}
	tenant := principalFrom(r.Context()).tenant()
	sizes, err := s.ledger.Storage.CheckpointSizes(r.Context(), tenant, after, limit+1)
	if err != nil {
		return err
	}
	body := checkpointsBody{Sizes: sizes}
	if len(sizes) > limit {
		body.Sizes = sizes[:limit]
		body.NextAfter = sizes[limit-1]
	}
	if body.Sizes == nil {
		body.Sizes = []uint64{}
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// wantsText reports whether the client asks for text/plain rather than JSON.
func wantsText(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "text/plain") && !strings.Contains(accept, "application/json")
}

// handleProof serves GET /v1/events/{id}/proof[?tree_size=N]: the event's
// inclusion proof in the tree of N leaves (default: the latest).
func (s *Server) handleProof(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.ledgerLog(); err != nil {
		return err
	}
	var size uint64
	if v := r.URL.Query().Get("tree_size"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return auditkeep.FieldErrorf("tree_size", "tree_size must be a positive whole number")
		}
		size = n
	}
	tenant := principalFrom(r.Context()).tenant()
	e, err := s.store.GetEvent(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	p, err := s.inclusion(r.Context(), tenant, e.Seq, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// inclusion returns the proof of seq in the tree of size leaves (0: the
// latest). Returns ENOTFOUND when seq is not integrated in that tree,
// EINVALID for a size beyond the log.
func (s *Server) inclusion(ctx context.Context, tenant string, seq int64, size uint64) (*proofBody, error) {
	st, err := s.ledger.Storage.State(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if st.Broken != "" {
		return nil, ledger.BrokenError(tenant, st.Broken)
	}
	checkpoint := st.Checkpoint
	switch {
	case size == 0:
		size = st.Size
	case size > st.Size:
		return nil, auditkeep.FieldErrorf("tree_size", "tree_size %d is larger than the log (%d)", size, st.Size)
	case size != st.Size:
		checkpoint = nil
	}
	if seq < 1 || uint64(seq) > size {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "event seq %d is not integrated in the tree of size %d yet", seq, size)
	}
	proof, err := ledger.NewLog(s.ledger.Storage).InclusionProof(ctx, tenant, seq, size)
	if err != nil {
		return nil, err
	}
	leaf, err := s.ledger.Storage.LeafHashes(ctx, tenant, uint64(seq-1), uint64(seq))
	if err != nil {
		return nil, err
	}
	if checkpoint == nil {
		if c, err := s.ledger.Storage.Checkpoint(ctx, tenant, size); err == nil {
			checkpoint = c
		}
	}
	return &proofBody{Seq: seq, LeafHash: hex.EncodeToString(leaf[0]), TreeSize: size, Proof: hexAll(proof), Checkpoint: string(checkpoint)}, nil
}

// handleConsistency serves GET /v1/consistency?first=M&second=N (second
// defaults to the latest size).
func (s *Server) handleConsistency(w http.ResponseWriter, r *http.Request) error {
	log, err := s.ledgerLog()
	if err != nil {
		return err
	}
	tenant := principalFrom(r.Context()).tenant()
	q := r.URL.Query()
	first, err := strconv.ParseUint(q.Get("first"), 10, 64)
	if err != nil {
		return auditkeep.FieldErrorf("first", "first must be a whole number (a tree size)")
	}
	var second uint64
	if v := q.Get("second"); v != "" {
		if second, err = strconv.ParseUint(v, 10, 64); err != nil {
			return auditkeep.FieldErrorf("second", "second must be a whole number (a tree size)")
		}
	} else {
		st, err := s.ledger.Storage.State(r.Context(), tenant)
		if err != nil {
			return err
		}
		second = st.Size
	}
	proof, err := log.ConsistencyProof(r.Context(), tenant, first, second)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, consistencyBody{First: first, Second: second, Proof: hexAll(proof)})
	return nil
}

// handleLedgerKey serves GET /v1/ledger/key: the verifier key of the
// checkpoints' signer. It needs no credentials: it is public, and verifiers
// should get it from the operator rather than trust this answer.
func (s *Server) handleLedgerKey(w http.ResponseWriter, r *http.Request) {
	if s.ledger == nil || s.ledger.VerifierKey == "" {
		s.writeError(w, r, auditkeep.Errorf(auditkeep.ENOTFOUND, "this server keeps no ledger"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"key": s.ledger.VerifierKey})
}

// withProof returns e with its inclusion proof in the latest tree, once
// it is integrated; Hash is set then. Failures to read the ledger are
// logged and leave the proof out: the event is still served.
func (s *Server) withProof(ctx context.Context, tenant string, e *auditkeep.Event) any {
	if s.ledger == nil || s.ledger.Storage == nil {
		return e
	}
	p, err := s.inclusion(ctx, tenant, e.Seq, 0)
	if err != nil {
		if code := auditkeep.ErrorCode(err); code != auditkeep.ENOTFOUND && code != auditkeep.ELEDGERBROKEN {
			s.log.Warn("ledger: inclusion proof", "tenant", tenant, "seq", e.Seq, "err", err)
		}
		return e
	}
	e.Hash = p.LeafHash
	return eventWithProof{Event: e, Proof: p}
}

// fillHashes sets the Hash of every integrated event of events from the
// stored leaf hashes, in one storage read. Failures are logged and leave
// hashes empty.
func (s *Server) fillHashes(ctx context.Context, tenant string, events []*auditkeep.Event) {
	if s.ledger == nil || s.ledger.Storage == nil || len(events) == 0 {
		return
	}
	st, err := s.ledger.Storage.State(ctx, tenant)
	if err != nil || st.Size == 0 || st.Broken != "" {
		return
	}
	ids := make([]compact.NodeID, 0, len(events))
	for _, e := range events {
		if e.Seq >= 1 && uint64(e.Seq) <= st.Size {
			ids = append(ids, compact.NewNodeID(0, uint64(e.Seq-1)))
		}
	}
	if len(ids) == 0 {
		return
	}
	hashes, err := s.ledger.Storage.Nodes(ctx, tenant, ids)
	if err != nil {
		s.log.Warn("ledger: leaf hashes", "tenant", tenant, "err", err)
		return
	}
	i := 0
	for _, e := range events {
		if e.Seq >= 1 && uint64(e.Seq) <= st.Size {
			e.Hash = hex.EncodeToString(hashes[i])
			i++
		}
	}
}

func hexAll(hashes [][]byte) []string {
	out := make([]string, len(hashes))
	for i, h := range hashes {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

// handleExportBundle serves GET /v1/export?format=bundle: the tenant's
// offline-verification bundle (ledger.WriteBundle): its latest checkpoint,
// the leaf hashes of that tree, then every event of seq 1 .. size still
// stored. A bundle is the whole log: it takes no filter (order=asc is
// accepted, as the CLI sends it). It bypasses the retention read guard:
// events past retention are in it until the retention job removes them,
// and the seqs it removed are missing (the log's retention.purge events
// list them; see ledger.VerifyBundle).
func (s *Server) handleExportBundle(w http.ResponseWriter, r *http.Request) error {
	log, err := s.ledgerLog()
	if err != nil {
		return err
	}
	for k, v := range r.URL.Query() {
		switch {
		case k == "format", k == "reason":
		case k == "order" && len(v) == 1 && (v[0] == "asc" || v[0] == ""):
		default:
			return auditkeep.FieldErrorf(k, "a bundle holds the whole log, oldest first: it takes no %s", k)
		}
	}
	tenant := principalFrom(r.Context()).tenant()
	// Fail before the first byte when nothing is integrated yet or storage
	// is down, so the client gets a proper error status. A broken ledger's
	// bundle is served: its verifier checks the stored checkpoint with the
	// key it trusts, and names what was changed.
	if _, err := log.Stored(r.Context(), tenant); err != nil {
		return err
	}
	rec, err := s.exportRecord(r, tenant, "bundle")
	if err != nil {
		return err
	}
	name := "auditkeep-" + tenant + "-" + s.Now().UTC().Format("20060102T150405Z") + ".bundle.ndjson"
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	cp, err := ledger.WriteBundle(r.Context(), bw, s.ledger.Storage, s.bundleEvents(), tenant)
	if err != nil {
		// The status is sent: abort, so the client sees a truncated transfer.
		s.log.Warn("bundle export aborted", "tenant", tenant, "err", err)
		panic(http.ErrAbortHandler)
	}
	if err := bw.Flush(); err != nil {
		s.log.Debug("bundle export: client went away", "tenant", tenant, "err", err)
		return nil
	}
	// Recorded once sent, so that a bundle never holds its own record
	// half-integrated; the bundle is the log the tenant reads anyway.
	rec.Metadata["tree_size"] = cp.Size
	s.recordLogged(r, tenant, rec)
	s.metrics.exported.Add(float64(cp.Size))
	return nil
}

// rebuildBody is POST /v1/tenants/{tenant}/ledger/rebuild's answer.
type rebuildBody struct {
	Tenant string `json:"tenant"`
	Size   uint64 `json:"size"`
	checkpointBody
}

// handleRebuildLedger serves POST /v1/tenants/{tenant}/ledger/rebuild (root
// key), {"reason": "..."}: the one way out of a broken ledger. It rebuilds
// the tenant's tree from the stored events, signs it with this server's
// key, and records ledger.rebuild with the reason in the tenant's own log
// (that event is in the rebuilt tree). The answer holds the new checkpoint.
func (s *Server) handleRebuildLedger(w http.ResponseWriter, r *http.Request) error {
	if s.ledger == nil || s.ledger.Rebuild == nil {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "this server keeps no ledger")
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	reason := strings.TrimSpace(in.Reason)
	switch {
	case reason == "":
		return auditkeep.FieldErrorf("reason", "reason is required: say why the ledger is rebuilt and signed anew (an incident, a ticket)")
	case len(reason) > 1024:
		return auditkeep.FieldErrorf("reason", "reason is longer than 1024 bytes")
	case !utf8.ValidString(reason):
		return auditkeep.FieldErrorf("reason", "reason is not valid UTF-8")
	}
	ctx := r.Context()
	tenant := r.PathValue("tenant")
	if _, err := s.store.GetTenant(ctx, tenant); err != nil {
		return err
	}
	before, err := s.ledger.Storage.State(ctx, tenant)
	if err != nil {
		return err
	}
	by := actorOf(principalFrom(ctx))
	record := func(ctx context.Context, events int64) error {
		meta := map[string]any{"reason": reason, "events": events, "previous_size": before.Size}
		if before.Broken != "" {
			meta["broken"] = before.Broken
		}
		if s.ledger.Held != nil {
			if held, ok := s.ledger.Held()[tenant]; ok {
				meta["held"] = held
			}
		}
		body, err := json.Marshal(map[string]any{
			"occurred_at": s.Now().UTC(),
			"action":      ledger.RebuildAction,
			"type":        auditkeep.TypeUpdate,
			"actor":       by,
			"source":      "system",
			"description": fmt.Sprintf("Rebuilt the ledger from its %d stored events and signed it anew: %s", events, reason),
			"metadata":    meta,
		})
		if err != nil {
			return err
		}
		_, err = s.ingest.Ingest(auditkeep.AsServer(ctx), tenant, body)
		return err
	}
	size, err := s.ledger.Rebuild(ctx, tenant, record)
	if err != nil {
		return err
	}
	s.log.Warn("ledger: rebuilt and signed anew", "tenant", tenant, "size", size, "previous_size", before.Size, "broken", before.Broken, "by", by.ID)
	cp, err := ledger.NewLog(s.ledger.Storage).Latest(ctx, tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rebuildBody{Tenant: tenant, Size: cp.Size,
		checkpointBody: checkpointBody{Checkpoint: string(cp.Note), Origin: cp.Origin, Size: cp.Size, Root: hex.EncodeToString(cp.Root)}})
	return nil
}
