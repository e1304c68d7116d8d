// Package ledger makes each tenant's event log tamper-evident: one RFC 6962
// Merkle tree per tenant over its events in seq order (leaf index = seq-1),
// signed checkpoints, inclusion and consistency proofs, and verification
// that names the first event altered, removed, inserted or reordered.
//
// Tree hashing is github.com/transparency-dev/merkle's (rfc6962, compact,
// proof); checkpoints are C2SP tlog-checkpoint signed notes
// (golang.org/x/mod/sumdb/note, Ed25519).
//
// # Leaf encoding
//
// An event's leaf is SHA-256(0x00 || LeafData(e)). LeafData is the RFC 8785
// (JCS) canonical JSON of the stored event: the JSON object that
// auditkeep.Event marshals to, with these differences:
//
//   - "hash" is left out (it is the leaf hash itself);
//   - "target" has no "deleted" member (a read-time flag, never stored);
//   - "received_at" and "occurred_at" are in UTC, formatted as
//     time.RFC3339Nano: "2026-11-26T09:00:00.123Z", fraction without
//     trailing zeros, none for whole seconds.
//
// Its members are tenant, seq, received_at, id, occurred_at, action, type,
// actor{type, id, name?, email?}, target?{type, id, name?}, scope?[{type, id,
// name?}], team?, source?, context?{ip?, user_agent?}, status, description?,
// changes?[{field, op?, old?, new?}], before?, snapshot?, metadata? — a "?"
// member is absent when empty, as in the event's JSON. Canonicalisation
// (CanonicalJSON) sorts members by UTF-16 code units, writes numbers as
// ECMAScript does (integers beyond ±2^53 lose precision, as in JCS), and
// escapes strings minimally; raw JSON fields (before, snapshot, metadata,
// changes' old and new) are canonicalised too. Invalid UTF-8 and lone
// surrogates read as U+FFFD. So an exported event, stripped of "hash" and
// "target.deleted" and given to any RFC 8785 implementation, yields its leaf.
//
// # Storage and integration
//
// Storage is what a store provides: the integrated state, stored node hashes
// by compact.NodeID, leaf hashes, checkpoint history, one atomic write per
// integration step and a cross-process integrator lock. MemoryStorage is the
// reference implementation. The Integrator takes the committed events after
// the integrated size from memory when this process committed them
// (Integrator.Committed), else reads them from the store, checks that seqs are contiguous (it stops at a gap and
// reports a *GapError, it never skips), extends the compact range, and
// stores the new leaves, every new perfect-subtree node and a signed
// checkpoint in one Storage.Integrate call. Log serves checkpoints and
// O(log n) proofs from the stored nodes.
//
// # Bundle format
//
// A bundle (WriteBundle, VerifyBundle) lets a tenant's log be verified
// offline. It is NDJSON, one JSON object per line:
//
//	{"type":"checkpoint","checkpoint":"<signed note text>"}
//	{"type":"leaves","start":1,"hashes":["<hex leaf hash of seq 1>", ...]}
//	... more leaves lines, "start" being the seq of their first hash ...
//	{"type":"event","event":{<auditkeep.Event JSON>}}
//	... one event line per seq 1 .. checkpoint size, in seq order ...
//
// The leaves lines list, contiguously from seq 1, the leaf hashes of the
// checkpoint's tree (1024 per line from WriteBundle). VerifyBundle checks the
// signature, then that the leaf hashes build the signed root (so they are
// authentic), then compares each event's recomputed leaf hash with the
// authentic one of its seq. An event whose content matches the signed leaf
// of a nearby seq (within 16) with its seq changed counts as moved, which
// tells reordering and removal apart from alteration.
//
// # Retention
//
// Retention removes expired events from the store but not their leaves:
// their seqs are missing from a bundle. The retention job records each purge
// as an event of the tenant's own log (auditkeep.PurgeAction, by a system actor) whose
// metadata "seqs" lists the seqs it removed, as merged ranges:
//
//	{"archived": 500, "removed": 500, "seqs": [[1, 480], [483, 502]], ...}
//
// VerifyBundle accepts a missing seq only when such an event, signed at its
// seq and later in the log, lists it; the verdict stays OK and reports the
// ranges and the seq of the record (Verdict.Purged). So no event can leave
// the store without a signed, append-only record saying so. Missing seqs
// that no record lists are removed; a record's claim on a seq that is
// present is ignored for that seq (the event is checked like any other) and
// noted in Verdict.Warnings rather than failing the verdict, since the log
// cannot drop a record once signed. The purged events themselves are in
// the archive's segments, each with its own proof (internal/archive).
package ledger
