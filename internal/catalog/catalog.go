// Package catalog keeps each tenant's action catalog: the actions its events
// carry, and for the actions the tenant registered, a JSON Schema of the
// events' metadata, versioned. Events of a registered action are validated
// against its latest version when they are ingested.
//
// The catalog lives in the store's tenant settings as an append-only log:
// setting "action_catalog:1", "action_catalog:2", … each hold one immutable
// version record. A new record is written with InitSetting into the first
// free slot, so that several nodes sharing one database agree on every
// version number without locks: a node that loses the race for a slot reads
// the winner's record and tries the next slot. Each node caches a tenant's
// log in memory and reads the records it has not seen yet at most once per
// TTL on the ingest path (one GetSetting when nothing changed), so a version
// registered on one node is enforced by every node within the TTL. The API's
// reads (Actions, Schema, Versions) always read the log to its end.
package catalog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Limits of a tenant's catalog.
const (
	MaxSchemaBytes = 64 << 10 // bytes of one schema as sent
	MaxSchemaDepth = 64       // nesting of objects and arrays in one schema
	MaxVersions    = 10000    // versions of all actions of one tenant
)

// settingPrefix names the log's settings: settingPrefix + "1", "2", ….
const settingPrefix = "action_catalog:"

// Store is the part of the tenant store the catalog keeps its log in.
type Store interface {
	// GetSetting returns ENOTFOUND when the setting was never set.
	GetSetting(ctx context.Context, tenant, name string) ([]byte, error)
	// InitSetting stores value only if the setting is absent and returns
	// the value stored now.
	InitSetting(ctx context.Context, tenant, name string, value []byte) ([]byte, error)
}

// ActionCounter counts a tenant's stored events by action.
type ActionCounter interface {
	// ActionCounts returns, for each action of the tenant's stored events,
	// how many there are. Returns EUNAVAILABLE when storage cannot be reached.
	ActionCounts(ctx context.Context, tenant string) (map[string]int64, error)
}

// Version is one version of an action's schema.
type Version struct {
	Action    string          `json:"action"`
	Version   int             `json:"version"`
	Schema    json.RawMessage `json:"schema"`
	CreatedAt time.Time       `json:"created_at"`
}

// VersionInfo names one version of an action's schema.
type VersionInfo struct {
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
}

// Action is one action of a tenant's catalog.
type Action struct {
	Action     string     `json:"action"`
	Count      int64      `json:"count"`                // events of the action stored now
	Registered bool       `json:"registered"`           // a schema is registered
	Version    int        `json:"version,omitempty"`    // the latest schema version
	UpdatedAt  *time.Time `json:"updated_at,omitempty"` // when the latest version was registered
}

// Catalog keeps the action catalogs of every tenant. It is safe for
// concurrent use.
type Catalog struct {
	store   Store
	counter ActionCounter

	// TTL bounds how long the ingest path trusts its copy of a tenant's
	// catalog; a version registered on another node is enforced here
	// within it.
	TTL time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenantLog
}

// New returns a catalog keeping its log in store and counting events with
// counter. counter may be nil: Actions then lists registered actions only,
// with zero counts.
func New(store Store, counter ActionCounter) *Catalog {
	return &Catalog{store: store, counter: counter, TTL: 5 * time.Second, Now: time.Now, tenants: map[string]*tenantLog{}}
}

// record is one entry of the log as stored.
type record struct {
	Action    string          `json:"action"`
	Version   int             `json:"version"`
	Schema    json.RawMessage `json:"schema"`
	CreatedAt time.Time       `json:"created_at"`
	// Nonce makes every record unique, so that a writer knows whether
	// InitSetting kept its record or an identical-looking one of another.
	Nonce string `json:"nonce"`
}

// tenantLog is one node's copy of a tenant's log.
type tenantLog struct {
	mu      sync.Mutex // held while the log is read or written
	next    int        // the first slot not read yet
	checked time.Time  // when the log was last read to its end
	actions map[string]*actionState
}

// actionState is what the copy keeps of one registered action.
type actionState struct {
	versions []versionRef
	latest   *record
	canon    string             // canonical form of the latest schema
	compiled *jsonschema.Schema // the latest schema, compiled on first use
}

type versionRef struct {
	VersionInfo
	slot int
}

func slotName(n int) string { return fmt.Sprintf("%s%d", settingPrefix, n) }

// log returns the tenant's copy of the log, locked; the caller unlocks it.
// The copy is read to its end first when it is older than maxAge.
func (c *Catalog) log(ctx context.Context, tenant string, maxAge time.Duration) (*tenantLog, error) {
	c.mu.Lock()
	l, ok := c.tenants[tenant]
	if !ok {
		l = &tenantLog{next: 1, actions: map[string]*actionState{}}
		c.tenants[tenant] = l
	}
	c.mu.Unlock()

	l.mu.Lock()
	now := c.Now()
	if !l.checked.IsZero() && maxAge > 0 && now.Sub(l.checked) < maxAge {
		return l, nil
	}
	if err := c.readLog(ctx, tenant, l); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	l.checked = now
	return l, nil
}

// readLog applies the records of l's tenant that l has not seen yet.
func (c *Catalog) readLog(ctx context.Context, tenant string, l *tenantLog) error {
	for {
		b, err := c.store.GetSetting(ctx, tenant, slotName(l.next))
		if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		if err := l.apply(l.next, b); err != nil {
			return err
		}
		l.next++
	}
}

// apply adds the record stored in slot to the copy.
func (l *tenantLog) apply(slot int, b []byte) error {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("catalog record %d: %w", slot, err)
	}
	canon, err := canonical(r.Schema)
	if err != nil {
		return fmt.Errorf("catalog record %d: %w", slot, err)
	}
	a := l.actions[r.Action]
	if a == nil {
		a = &actionState{}
		l.actions[r.Action] = a
	}
	a.versions = append(a.versions, versionRef{VersionInfo{r.Version, r.CreatedAt}, slot})
	a.latest = &r
	a.canon = canon
	a.compiled = nil
	return nil
}

// Register validates schema and makes it the latest version of the tenant's
// action. When it equals the latest version (as JSON, whatever the spacing
// and key order) no version is made: it returns the latest and created false.
// Returns EINVALID naming "action" for a bad action name and naming "schema"
// for a schema that does not compile, with the compiler's message; ETOOLARGE
// naming "schema" for a schema over MaxSchemaBytes or a catalog already
// holding MaxVersions versions; EUNAVAILABLE when storage cannot be reached.
func (c *Catalog) Register(ctx context.Context, tenant, action string, schema []byte) (v *Version, created bool, err error) {
	if !auditkeep.ValidAction(action) {
		return nil, false, auditkeep.FieldErrorf("action", "action %q is not an action name (lowercase dotted words such as token.create)", action)
	}
	doc, err := parseSchema(schema)
	if err != nil {
		return nil, false, err
	}
	if _, err := compile(doc); err != nil {
		return nil, false, err
	}
	canon, err := canonical(schema)
	if err != nil {
		return nil, false, err
	}
	compact, err := compactJSON(schema)
	if err != nil {
		return nil, false, err
	}

	l, err := c.log(ctx, tenant, 0)
	if err != nil {
		return nil, false, err
	}
	defer l.mu.Unlock()
	for {
		a := l.actions[action]
		if a != nil && a.canon == canon {
			return a.latest.version(), false, nil
		}
		if l.next > MaxVersions {
			return nil, false, &auditkeep.Error{Code: auditkeep.ETOOLARGE, Field: "schema",
				Message: fmt.Sprintf("schema: the action catalog already holds %d versions, its limit", MaxVersions)}
		}
		r := record{Action: action, Version: 1, Schema: compact, CreatedAt: c.Now().UTC(), Nonce: nonce()}
		if a != nil {
			r.Version = a.latest.Version + 1
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, false, err
		}
		slot := l.next
		stored, err := c.store.InitSetting(ctx, tenant, slotName(slot), b)
		if err != nil {
			return nil, false, err
		}
		if err := l.apply(slot, stored); err != nil {
			return nil, false, err
		}
		l.next++
		if string(stored) == string(b) {
			return r.version(), true, nil
		}
		// Another node took the slot: its record is applied; try again
		// after it.
	}
}

func (r *record) version() *Version {
	return &Version{Action: r.Action, Version: r.Version, Schema: r.Schema, CreatedAt: r.CreatedAt}
}

func nonce() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Schema returns a version of the tenant's action's schema, the latest when
// version is 0. Returns EINVALID naming "action" for a bad action name,
// ENOTFOUND when the action is not registered or has no such version,
// EUNAVAILABLE when storage cannot be reached.
func (c *Catalog) Schema(ctx context.Context, tenant, action string, version int) (*Version, error) {
	if !auditkeep.ValidAction(action) {
		return nil, auditkeep.FieldErrorf("action", "action %q is not an action name (lowercase dotted words such as token.create)", action)
	}
	l, err := c.log(ctx, tenant, 0)
	if err != nil {
		return nil, err
	}
	a := l.actions[action]
	if a == nil {
		l.mu.Unlock()
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "action %q has no registered schema", action)
	}
	if version == 0 || version == a.latest.Version {
		v := a.latest.version()
		l.mu.Unlock()
		return v, nil
	}
	i := slices.IndexFunc(a.versions, func(v versionRef) bool { return v.Version == version })
	if i < 0 {
		l.mu.Unlock()
		return nil, &auditkeep.Error{Code: auditkeep.ENOTFOUND, Field: "version",
			Message: fmt.Sprintf("action %q has no schema version %d (latest is %d)", action, version, a.latest.Version)}
	}
	slot := a.versions[i].slot
	l.mu.Unlock()

	b, err := c.store.GetSetting(ctx, tenant, slotName(slot))
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("catalog record %d: %w", slot, err)
	}
	return r.version(), nil
}

// Versions returns the versions of the tenant's action's schema, oldest
// first. Returns EINVALID naming "action" for a bad action name, ENOTFOUND
// when the action is not registered, EUNAVAILABLE when storage cannot be
// reached.
func (c *Catalog) Versions(ctx context.Context, tenant, action string) ([]VersionInfo, error) {
	if !auditkeep.ValidAction(action) {
		return nil, auditkeep.FieldErrorf("action", "action %q is not an action name (lowercase dotted words such as token.create)", action)
	}
	l, err := c.log(ctx, tenant, 0)
	if err != nil {
		return nil, err
	}
	defer l.mu.Unlock()
	a := l.actions[action]
	if a == nil {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "action %q has no registered schema", action)
	}
	out := make([]VersionInfo, len(a.versions))
	for i, v := range a.versions {
		out[i] = v.VersionInfo
	}
	return out, nil
}

// Actions lists the tenant's actions sorted by name: every action of its
// stored events, with their counts, and every registered action, with its
// latest version. Returns EUNAVAILABLE when storage cannot be reached.
func (c *Catalog) Actions(ctx context.Context, tenant string) ([]Action, error) {
	var counts map[string]int64
	if c.counter != nil {
		var err error
		if counts, err = c.counter.ActionCounts(ctx, tenant); err != nil {
			return nil, err
		}
	}
	l, err := c.log(ctx, tenant, 0)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*Action, len(counts)+len(l.actions))
	for name, n := range counts {
		byName[name] = &Action{Action: name, Count: n}
	}
	for name, a := range l.actions {
		x := byName[name]
		if x == nil {
			x = &Action{Action: name}
			byName[name] = x
		}
		at := a.latest.CreatedAt
		x.Registered, x.Version, x.UpdatedAt = true, a.latest.Version, &at
	}
	l.mu.Unlock()

	out := make([]Action, 0, len(byName))
	for _, a := range byName {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Action) int {
		switch {
		case a.Action < b.Action:
			return -1
		case a.Action > b.Action:
			return 1
		}
		return 0
	})
	return out, nil
}

// Step is the ingest step that validates an event's metadata against the
// latest schema of its action, when the action is registered; absent
// metadata is validated as {}. It returns EINVALID naming the offending
// place ("metadata.region") with the schema's message, and EUNAVAILABLE when
// the catalog cannot be read: events are never stored unchecked.
func (c *Catalog) Step(ctx context.Context, tenant string, e *auditkeep.Event) error {
	if auditkeep.FromServer(ctx) {
		return nil // the server's own records (retention, holds) keep their shape
	}
	sch, version, err := c.latest(ctx, tenant, e.Action)
	if err != nil || sch == nil {
		return err
	}
	return validateMetadata(sch, e.Action, version, e.Metadata)
}

// latest returns the compiled latest schema of the tenant's action and its
// version, or nil when the action is not registered.
func (c *Catalog) latest(ctx context.Context, tenant, action string) (*jsonschema.Schema, int, error) {
	l, err := c.log(ctx, tenant, c.TTL)
	if err != nil {
		return nil, 0, err
	}
	defer l.mu.Unlock()
	a := l.actions[action]
	if a == nil {
		return nil, 0, nil
	}
	if a.compiled == nil {
		doc, err := parseSchema(a.latest.Schema)
		if err == nil {
			a.compiled, err = compile(doc)
		}
		if err != nil {
			// A defect, not the sender's fault: %v keeps the compiler's
			// EINVALID from reaching the client.
			return nil, 0, fmt.Errorf("schema of action %q version %d no longer compiles: %v", action, a.latest.Version, err)
		}
	}
	return a.compiled, a.latest.Version, nil
}
