package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// BrokenError returns the error of a tenant whose ledger is broken for
// reason (ELEDGERBROKEN, field "ledger"): what is wrong, and how an operator
// rebuilds it.
func BrokenError(tenant, reason string) error {
	return &auditkeep.Error{Code: auditkeep.ELEDGERBROKEN, Field: "ledger", Message: fmt.Sprintf(
		"the ledger of tenant %s is broken: %s. Its events are still stored, but no checkpoint is signed until an operator "+
			"rebuilds the tree from the stored events: auditkeep ledger rebuild --tenant %s --reason \"...\"", tenant, reason, tenant)}
}

// heldError returns the error of a tenant this integrator does not sign
// because its latest checkpoint was signed by another key.
func heldError(tenant, reason string) error {
	return &auditkeep.Error{Code: auditkeep.ELEDGERBROKEN, Field: "ledger", Message: fmt.Sprintf(
		"the ledger of tenant %s is not signed by this server: %s. Configure the key that signed it, "+
			"or re-sign the log with this key: auditkeep ledger rebuild --tenant %s --reason \"...\"", tenant, reason, tenant)}
}

// damage is what checkStored found wrong with a stored tree.
type damage struct {
	reason string
	// keyChanged: the tree is whole but its latest checkpoint was signed
	// by a key other than this integrator's.
	keyChanged bool
}

func (d *damage) Error() string { return d.reason }

func damaged(format string, args ...any) error { return &damage{reason: fmt.Sprintf(format, args...)} }

// errFound stops a scan at its first event.
var errFound = errors.New("found")

// checkStored checks the tenant's stored tree before the integrator
// extends and signs it, and returns its compact range. The tree must be
// there when it was started; its nodes must build the stored root; the
// latest checkpoint must be of that size and root, of this log, and signed
// by the integrator's Verifier (when set); no leaf may be stored beyond the
// size; and the last integrated event, when still stored, must hash to its
// leaf. Returns a *damage saying what does not hold, or a storage error.
func (in *Integrator) checkStored(ctx context.Context, tenant string, st State) (*compact.Range, error) {
	beyond := []compact.NodeID{compact.NewNodeID(0, st.Size)}
	if _, err := in.cfg.Storage.Nodes(ctx, tenant, beyond); err == nil {
		if st.Size == 0 {
			return nil, damaged("leaf hashes are stored, and no tree state")
		}
		return nil, damaged("a leaf hash is stored beyond the tree's size %d", st.Size)
	} else if auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		return nil, err
	}
	if st.Size == 0 {
		if st.Started {
			return nil, damaged("its tree was started, and none is stored: the ledger's rows are gone")
		}
		return in.factory.NewEmptyRange(0), nil
	}
	ids := compact.RangeNodes(0, st.Size, nil)
	hashes, err := in.cfg.Storage.Nodes(ctx, tenant, ids)
	if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
		return nil, damaged("nodes of its stored tree of size %d are missing", st.Size)
	}
	if err != nil {
		return nil, err
	}
	rng, err := in.factory.NewRange(0, st.Size, hashes)
	if err != nil {
		return nil, err
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	if !equal(root, st.Root) {
		return nil, damaged("the stored nodes do not build the stored root of size %d", st.Size)
	}
	cp, err := ParseCheckpoint(st.Checkpoint)
	if err != nil {
		return nil, damaged("its latest checkpoint cannot be read (%s)", auditkeep.ErrorMessage(err))
	}
	if cp.Size != st.Size || !equal(cp.Root, st.Root) {
		return nil, damaged("its latest checkpoint (size %d) is not of the stored tree (size %d)", cp.Size, st.Size)
	}
	if want := in.cfg.OriginPrefix + tenant; cp.Origin != want {
		return nil, damaged("its latest checkpoint is of another log (%q, not %q)", cp.Origin, want)
	}
	if v := in.cfg.Verifier; v != nil {
		if _, err := note.Open(st.Checkpoint, note.VerifierList(v)); err != nil {
			var unknown *note.UnverifiedNoteError
			if errors.As(err, &unknown) {
				return nil, &damage{keyChanged: true, reason: fmt.Sprintf("its latest checkpoint (size %d) is signed by another key than %s", st.Size, v.Name())}
			}
			return nil, damaged("the signature of its latest checkpoint (size %d) does not verify", st.Size)
		}
	}
	var last *auditkeep.Event
	f := auditkeep.Filter{Order: auditkeep.OrderAsc, Cursor: &auditkeep.Cursor{Seq: int64(st.Size) - 1, Order: auditkeep.OrderAsc}}
	err = in.cfg.Events.ScanEvents(ctx, tenant, f, func(e *auditkeep.Event) error {
		last = e
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return nil, err
	}
	if last != nil && last.Seq == int64(st.Size) { // else removed by retention
		h, err := LeafHash(last)
		if err != nil {
			return nil, fmt.Errorf("seq %d: %w", last.Seq, err)
		}
		leaf, err := in.cfg.Storage.Nodes(ctx, tenant, []compact.NodeID{compact.NewNodeID(0, st.Size-1)})
		if err != nil {
			return nil, err
		}
		if !equal(h, leaf[0]) {
			return nil, damaged("the stored event of seq %d does not match its leaf hash in the signed tree", last.Seq)
		}
	}
	return rng, nil
}

// hold records that the integrator does not sign tenant, and logs why
// once.
func (in *Integrator) hold(tenant, reason string, checkpoint []byte) {
	in.mu.Lock()
	_, was := in.held[tenant]
	in.held[tenant] = reason
	in.heldAt[tenant] = checkpoint
	in.mu.Unlock()
	if !was {
		in.logger.Error("ledger: the tenant is not signed: its checkpoints were signed by another key", "tenant", tenant, "reason", reason)
	}
}

// Held returns the tenants this integrator does not sign because their
// latest checkpoint was signed by another key, with the reasons (see
// IntegratorConfig.Verifier). They are signed again once the key that
// signed them is configured, or after Rebuild.
func (in *Integrator) Held() map[string]string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]string, len(in.held))
	for t, r := range in.held {
		out[t] = r
	}
	return out
}

// markBroken records that tenant's ledger is broken and logs it at error
// level (the node that finds the damage logs it, once).
func (in *Integrator) markBroken(ctx context.Context, tenant, reason string) error {
	if err := in.cfg.Storage.MarkBroken(ctx, tenant, reason); err != nil {
		return err
	}
	in.logger.Error("ledger: the tenant's ledger is broken; it is neither extended nor signed until rebuilt",
		"tenant", tenant, "reason", reason, "rebuild", "auditkeep ledger rebuild --tenant "+tenant+" --reason ...")
	return BrokenError(tenant, reason)
}

// Rebuild rebuilds the tenant's tree from its stored events and signs it
// with this integrator's key: the one way out of a broken ledger (or a
// tree another key signed), run on an operator's explicit request. Under
// the tenant's lock (it waits for it) it checks that the stored events are
// seqs 1..n with no gap, calls record (when not nil) with n, which must
// commit the event recording the rebuild in the tenant's log, then deletes
// the stored tree and its marks (Storage.Reset) and integrates every event,
// the record included, from seq 1. It returns the size reached. A rebuild
// cut short (a cancelled ctx) leaves a tree the integrator goes on with.
// Returns ECONFLICT when a seq is missing (retention removed it, or it was
// deleted): then nothing is changed; the errors of record, storage and
// Integrate otherwise.
func (in *Integrator) Rebuild(ctx context.Context, tenant string, record func(ctx context.Context, events int64) error) (uint64, error) {
	release, err := in.lock(ctx, tenant)
	if err != nil {
		return 0, err
	}
	defer release()
	var n int64
	f := auditkeep.Filter{Order: auditkeep.OrderAsc, Cursor: &auditkeep.Cursor{Seq: 0, Order: auditkeep.OrderAsc}}
	var gap error
	err = in.cfg.Events.ScanEvents(ctx, tenant, f, func(e *auditkeep.Event) error {
		if e.Seq != n+1 {
			gap = auditkeep.Errorf(auditkeep.ECONFLICT, "tenant %s: seq %d is not stored (retention removed it, or it was deleted): "+
				"the tree cannot be rebuilt from the stored events; restore the ledger's tables from a backup", tenant, n+1)
			return gap
		}
		n = e.Seq
		return nil
	})
	if gap != nil {
		return 0, gap
	}
	if err != nil {
		return 0, err
	}
	if record != nil {
		if err := record(ctx, n); err != nil {
			return 0, err
		}
	}
	if err := in.cfg.Storage.Reset(ctx, tenant); err != nil {
		return 0, err
	}
	in.forget(tenant)
	in.dropBuffered(tenant)
	in.mu.Lock()
	delete(in.held, tenant)
	delete(in.heldAt, tenant)
	in.mu.Unlock()
	in.logger.Warn("ledger: rebuilding the tenant's tree from its stored events", "tenant", tenant, "events", n)
	return in.integrateLocked(ctx, tenant)
}

// lock takes the tenant's integrator lock, waiting while another holds it
// (an integration step is short), until ctx ends.
func (in *Integrator) lock(ctx context.Context, tenant string) (func(), error) {
	for {
		release, ok, err := in.cfg.Storage.TryLock(ctx, tenant)
		if err != nil {
			return nil, err
		}
		if ok {
			return release, nil
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, auditkeep.Unavailable(ctx.Err())
		case <-t.C:
		}
	}
}
