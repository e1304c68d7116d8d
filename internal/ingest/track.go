package ingest

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/json"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
)

// Setting names the tracker keeps per tenant.
const (
	SettingRedaction    = "redaction"     // changes.Rules as JSON
	SettingRedactionKey = "redaction_key" // the tenant's HMAC key, 32 bytes
)

// TrackerStore is what change tracking reads: settings, and earlier events of
// a target for diffs against the previous snapshot.
type TrackerStore interface {
	GetSetting(ctx context.Context, tenant, name string) ([]byte, error)
	PutSetting(ctx context.Context, tenant, name string, value []byte) error
	InitSetting(ctx context.Context, tenant, name string, value []byte) ([]byte, error)
	ListEvents(ctx context.Context, tenant string, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error)
}

// SnapshotReader is implemented by stores that read the previous snapshots
// of many targets at once (PostgreSQL: one query instead of one per target).
// PreviousSnapshots returns, for each event, the snapshot of the latest
// stored event of its target (same tenant, type and id) other than the event
// itself, among the target id's latest 410 events; nil when there is none.
type SnapshotReader interface {
	PreviousSnapshots(ctx context.Context, events []*auditkeep.Event) ([]json.RawMessage, error)
}

// Tracker keeps sensitive values out of storage and records what changed: it
// redacts before, snapshot, metadata and changes with the tenant's rules and
// key, computes changes from before and snapshot (or from the target's
// previous snapshot), and writes a description when the sender gave none.
type Tracker struct {
	store TrackerStore
	// TTL bounds how long a tenant's rules are cached; other nodes see a
	// change of rules within it.
	TTL time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedRedactor

	// snapshots remembers the latest stored snapshot of recently seen
	// targets, when this node is the store's only writer (see
	// CacheSnapshots); nil otherwise.
	snapshots *snapshotCache
}

// CacheSnapshots makes the tracker remember the latest snapshot of up to n
// targets, sparing a store read per snapshot-only event. Only for a store
// that this process alone writes to (the embedded store): with several nodes,
// another node's commit would make the memory stale. Call before use, and
// feed it with Committed.
func (t *Tracker) CacheSnapshots(n int) {
	t.snapshots = newSnapshotCache(n)
}

// Committed records the snapshots of stored events (the committer's OnCommit).
func (t *Tracker) Committed(stored []*auditkeep.Event) {
	if t.snapshots == nil {
		return
	}
	for _, e := range stored {
		if e.Target != nil && len(e.Snapshot) > 0 {
			t.snapshots.put(targetKey{e.Tenant, e.Target.Type, e.Target.ID}, e.Snapshot)
		}
	}
}

type targetKey struct{ tenant, typ, id string }

type cachedRedactor struct {
	r  *changes.Redactor
	at time.Time
}

// NewTracker returns a tracker over store.
func NewTracker(store TrackerStore) *Tracker {
	return &Tracker{store: store, TTL: 5 * time.Second, now: time.Now, cache: map[string]cachedRedactor{}}
}

// Redactor returns the tenant's redactor (rules and key), creating the key on
// first use.
func (t *Tracker) Redactor(ctx context.Context, tenant string) (*changes.Redactor, error) {
	t.mu.Lock()
	c, ok := t.cache[tenant]
	t.mu.Unlock()
	if ok && t.now().Sub(c.at) < t.TTL {
		return c.r, nil
	}
	key := make([]byte, changes.KeySize)
	rand.Read(key)
	key, err := t.store.InitSetting(ctx, tenant, SettingRedactionKey, key)
	if err != nil {
		return nil, err
	}
	rules, err := t.Rules(ctx, tenant)
	if err != nil {
		return nil, err
	}
	r, err := changes.NewRedactor(rules, key)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.cache[tenant] = cachedRedactor{r: r, at: t.now()}
	t.mu.Unlock()
	return r, nil
}

// Rules returns the tenant's redaction rules (the defaults until set).
func (t *Tracker) Rules(ctx context.Context, tenant string) (changes.Rules, error) {
	b, err := t.store.GetSetting(ctx, tenant, SettingRedaction)
	if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
		return changes.DefaultRules(), nil
	}
	if err != nil {
		return changes.Rules{}, err
	}
	var rules changes.Rules
	if err := json.Unmarshal(b, &rules); err != nil {
		return changes.Rules{}, err
	}
	return rules, nil
}

// SetRules validates and stores the tenant's redaction rules. They apply to
// events ingested afterwards; stored events never change. Returns EINVALID
// naming the bad rule ("redaction.paths[2]").
func (t *Tracker) SetRules(ctx context.Context, tenant string, rules changes.Rules) error {
	if err := rules.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(rules)
	if err != nil {
		return err
	}
	if err := t.store.PutSetting(ctx, tenant, SettingRedaction, b); err != nil {
		return err
	}
	t.mu.Lock()
	delete(t.cache, tenant)
	t.mu.Unlock()
	return nil
}

// needsPrevious reports whether e's changes come from its target's previous
// snapshot. A create has no previous state: its snapshot is the first.
func needsPrevious(e *auditkeep.Event) bool {
	return e.Changes == nil && len(e.Before) == 0 && len(e.Snapshot) > 0 && e.Target != nil &&
		e.Type != auditkeep.TypeCreate
}

// Step is the request-path part of change tracking (see Tracker). Events
// whose changes need the target's previous snapshot are finished by Prepare,
// in commit order.
func (t *Tracker) Step(ctx context.Context, tenant string, e *auditkeep.Event) error {
	// The server's own records (auditkeep.AsServer: retention, holds) hold what the
	// server wrote, which verifiers read (a purge record's seqs): the
	// tenant's redaction rules do not apply to them.
	if !auditkeep.FromServer(ctx) {
		r, err := t.Redactor(ctx, tenant)
		if err != nil {
			return err
		}
		if err := r.RedactEvent(e); err != nil {
			return err
		}
	}
	var err error
	if e.Changes == nil && len(e.Before) > 0 && len(e.Snapshot) > 0 {
		if e.Changes, err = changes.Diff(e.Before, e.Snapshot); err != nil {
			return err
		}
	}
	if e.Description == "" && !needsPrevious(e) {
		e.Description = changes.Describe(e)
	}
	return nil
}

// Prepare runs in the committer just before a group is stored: for events
// that carry only a snapshot, it diffs against the previous snapshot of the
// same target — earlier in the group, else the latest stored — and writes
// their descriptions.
func (t *Tracker) Prepare(ctx context.Context, events []*auditkeep.Event) error {
	stored, err := t.prefetch(ctx, events)
	if err != nil {
		return err
	}
	var latest map[targetKey]json.RawMessage
	for _, e := range events {
		if e.Target == nil || len(e.Snapshot) == 0 {
			continue
		}
		k := targetKey{e.Tenant, e.Target.Type, e.Target.ID}
		if needsPrevious(e) {
			prev, ok := latest[k]
			if !ok && t.snapshots != nil {
				prev, ok = t.snapshots.get(k)
			}
			if !ok {
				prev = stored[k]
			}
			if len(prev) > 0 {
				d, err := changes.Diff(prev, e.Snapshot)
				if err != nil {
					return err
				}
				e.Changes = d
				// The previous snapshot was redacted under the rules of its
				// day: redact the changes again under today's (only them:
				// the rest of e was redacted in Step).
				r, err := t.Redactor(ctx, e.Tenant)
				if err != nil {
					return err
				}
				only := auditkeep.Event{Changes: e.Changes}
				if err := r.RedactEvent(&only); err != nil {
					return err
				}
				e.Changes = only.Changes
			}
			if e.Description == "" {
				e.Description = changes.Describe(e)
			}
		}
		if latest == nil {
			latest = map[targetKey]json.RawMessage{}
		}
		latest[k] = e.Snapshot
	}
	return nil
}

// prefetch reads the latest stored snapshot of each target whose first
// snapshot-only event in the group has no earlier snapshot in the group nor
// in the cache: in one call when the store is a SnapshotReader, else one
// store read per target, not per event, several at once rather than one
// after another.
func (t *Tracker) prefetch(ctx context.Context, events []*auditkeep.Event) (map[targetKey]json.RawMessage, error) {
	var need map[targetKey]*auditkeep.Event
	seen := map[targetKey]bool{}
	for _, e := range events {
		if e.Target == nil || len(e.Snapshot) == 0 {
			continue
		}
		k := targetKey{e.Tenant, e.Target.Type, e.Target.ID}
		if needsPrevious(e) && !seen[k] {
			if _, cached := t.snapshots.peek(k); !cached {
				if need == nil {
					need = map[targetKey]*auditkeep.Event{}
				}
				need[k] = e
			}
		}
		seen[k] = true
	}
	out := make(map[targetKey]json.RawMessage, len(need))
	if r, ok := t.store.(SnapshotReader); ok && len(need) > 0 {
		events := make([]*auditkeep.Event, 0, len(need))
		for _, e := range need {
			events = append(events, e)
		}
		snaps, err := r.PreviousSnapshots(ctx, events)
		if err != nil {
			return nil, err
		}
		for i, e := range events {
			out[targetKey{e.Tenant, e.Target.Type, e.Target.ID}] = snaps[i]
		}
		return out, nil
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 8)
	)
	for k, e := range need {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			snap, err := t.previousSnapshot(ctx, e)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[k] = snap
		}()
	}
	wg.Wait()
	return out, firstErr
}

// previousSnapshot finds the latest stored snapshot of e's target, looking
// back through at most 410 of its events.
func (t *Tracker) previousSnapshot(ctx context.Context, e *auditkeep.Event) (json.RawMessage, error) {
	// One term: stores answer a single indexed filter fastest; the type is
	// checked below.
	f := auditkeep.Filter{Limit: 10, Terms: []auditkeep.Term{
		{Field: auditkeep.FieldTargetID, Values: []string{e.Target.ID}},
	}}
	for range 5 {
		page, next, err := t.store.ListEvents(ctx, e.Tenant, f)
		if err != nil {
			return nil, err
		}
		for _, p := range page {
			if len(p.Snapshot) > 0 && p.ID != e.ID && p.Target != nil && p.Target.Type == e.Target.Type {
				return p.Snapshot, nil
			}
		}
		if next == nil {
			break
		}
		f.Cursor, f.Limit = next, 100
	}
	return nil, nil
}

// snapshotCache is a bounded LRU of the latest snapshot per target.
type snapshotCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *snapshotEntry, most recent first
	byKey map[targetKey]*list.Element
}

type snapshotEntry struct {
	key      targetKey
	snapshot json.RawMessage
}

func newSnapshotCache(n int) *snapshotCache {
	return &snapshotCache{max: n, order: list.New(), byKey: map[targetKey]*list.Element{}}
}

// peek reports whether k is cached, without touching the order; a nil
// cache holds nothing.
func (c *snapshotCache) peek(k targetKey) (json.RawMessage, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[k]
	if !ok {
		return nil, false
	}
	return el.Value.(*snapshotEntry).snapshot, true
}

func (c *snapshotCache) get(k targetKey) (json.RawMessage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*snapshotEntry).snapshot, true
}

func (c *snapshotCache) put(k targetKey, snapshot json.RawMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[k]; ok {
		el.Value.(*snapshotEntry).snapshot = snapshot
		c.order.MoveToFront(el)
		return
	}
	c.byKey[k] = c.order.PushFront(&snapshotEntry{key: k, snapshot: snapshot})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*snapshotEntry).key)
	}
}
