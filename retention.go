package auditkeep

import (
	"context"
	"strings"
	"time"
)

// PurgeAction is the action of the event the retention job records in a
// tenant's log before it removes expired events. Its metadata "seqs" lists
// the removed seqs as merged ranges, [[first, last], ...]; a verifier
// accepts a missing seq that such a signed event lists, and the stores keep
// these events whatever their age.
const PurgeAction = "retention.purge"

// RetentionCutoff returns the instant before which a tenant's events have
// expired: now − days. It is zero when retention is unlimited (days ≤ 0).
func RetentionCutoff(now time.Time, days int) time.Time {
	if days <= 0 {
		return time.Time{}
	}
	return now.Add(-time.Duration(days) * 24 * time.Hour)
}

// Hold is a legal hold: while it is active, no event of the tenant within
// its scope is removed, whatever the retention says.
type Hold struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Scope     string    `json:"scope,omitempty"` // a scope path ("project:prj_1"); "" holds the whole tenant
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"` // the key id (or "root") that created it
	CreatedAt time.Time `json:"created_at"`
}

// Covers reports whether the hold covers an event whose scope path is path
// (ScopePath): a whole-tenant hold covers every event; a scope hold covers
// its path and everything below it.
func (h *Hold) Covers(path string) bool {
	return h.Scope == "" || path == h.Scope || strings.HasPrefix(path, h.Scope+"/")
}

// HoldStore keeps legal holds. The stores implement it next to their
// events, so that DeleteEvents can honour holds in its own transaction.
type HoldStore interface {
	// CreateHold stores an active hold. Returns ENOTFOUND for an unknown
	// tenant, ECONFLICT when the id is taken.
	CreateHold(ctx context.Context, h *Hold) error
	// DeleteHold ends the tenant's active hold id. Returns ENOTFOUND when
	// the tenant has no such active hold.
	DeleteHold(ctx context.Context, tenant, id string) error
	// ListHolds returns the tenant's active holds, oldest first.
	ListHolds(ctx context.Context, tenant string) ([]*Hold, error)
}

// RetentionStore is what a store provides for the retention job: legal
// holds, the tenants it purges and the removal of their expired events.
type RetentionStore interface {
	HoldStore

	// RetentionTenants returns every tenant whose retention is limited
	// (retention_days > 0).
	RetentionTenants(ctx context.Context) ([]*Tenant, error)

	// DeleteEvents removes the tenant's events of the given seqs that no
	// active legal hold covers, in one or more transactions each of which
	// reads the holds, and returns how many it removed (on error too).
	// Seqs not stored are ignored. Seqs of other events never change.
	// Returns EUNAVAILABLE when storage fails.
	DeleteEvents(ctx context.Context, tenant string, seqs []int64) (int, error)
}

// RetentionLocker is what a store shared by several nodes provides
// (PostgreSQL): RetentionLock takes the retention locks of the tenants
// given (all or none) without waiting, so that one node at a time purges a
// tenant; ok is false when another holder has any of them. release frees
// them and may be called more than once.
type RetentionLocker interface {
	RetentionLock(ctx context.Context, tenants ...string) (release func(), ok bool, err error)
}

// PartitionStore is a store that keeps events in monthly partitions
// (PostgreSQL). The retention job drops a past month's partition whole,
// instead of deleting its rows, when every tenant with events in it lets it
// go: the tenant's retention is limited, no legal hold of any scope is
// active, each of its events there occurred before its cutoff and, with a
// ledger, is integrated. PurgeAction records never go: the store keeps them.
type PartitionStore interface {
	// Partitions returns the event partitions that lie wholly before
	// before, oldest first, each with the tenants that have events in it
	// other than PurgeAction records.
	Partitions(ctx context.Context, before time.Time) ([]*Partition, error)

	// PartitionEvents returns up to limit events of t.Tenant in the
	// partition, PurgeAction records aside, whose seqs are above after and
	// at most t.LastSeq, in seq order.
	PartitionEvents(ctx context.Context, partition string, t PartitionTenant, after int64, limit int) ([]*Event, error)

	// DropPartition drops p in one transaction, provided that, under its
	// locks, it still holds what p says (the same tenants with the same
	// last seqs) and each of them still has a limited retention, no active
	// hold and no event there at or after RetentionCutoff(now, its
	// retention). Its PurgeAction records stay in the live store, unchanged.
	// dropped is false, with a nil error, when a check fails or p is gone;
	// p is then as it was. Returns EUNAVAILABLE when storage fails or its
	// locks are not granted soon.
	DropPartition(ctx context.Context, p *Partition, now time.Time) (dropped bool, err error)

	// DropEmptyPartitions drops the partitions left without events
	// (PurgeAction records aside, which the store keeps), which gives their
	// space back at once, and returns their names. The retention job calls
	// it after a run that removed events.
	DropEmptyPartitions(ctx context.Context) ([]string, error)
}

// Partition is a partition of events and the tenants with events in it.
type Partition struct {
	Name    string
	Tenants []PartitionTenant // by tenant id; PurgeAction records are not counted
}

// PartitionTenant is what a tenant has in a partition, its PurgeAction
// records aside.
type PartitionTenant struct {
	Tenant  string
	LastSeq int64     // the greatest seq of its events there
	Last    time.Time // the latest occurred_at of its events there
}
