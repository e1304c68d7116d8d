package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"

	"github.com/auditkeep/auditkeep"
)

// Field codes of the terms table. Stored: never renumber.
const (
	fAction     = 1
	fType       = 2
	fActor      = 3 // actor id
	fActorType  = 4
	fTargetID   = 5
	fTargetType = 6
	fTarget     = 7 // target name, lowercased
	fScope      = 8 // every prefix of the scope path
	fTeam       = 9
	fIP         = 10 // encoded by ipTerm
	fSource     = 11
	fStatus     = 12
	fActorName  = 13 // the actor's name and its email, lowercased
)

// counted reports whether Append keeps the count of the field's terms:
// every field a facet lists (the counts answer its pickers) and the other
// fields of few values. IPs, target names and actor names are not: the
// planner counts the postings of those when it needs to (up to
// countProbeCap).
func counted(field int) bool {
	switch field {
	case fAction, fType, fActor, fActorType, fTargetID, fTargetType, fScope, fTeam, fSource, fStatus:
		return true
	}
	return false
}

// fieldCodes maps filter fields to field codes.
var fieldCodes = map[string]int{
	auditkeep.FieldAction:     fAction,
	auditkeep.FieldType:       fType,
	auditkeep.FieldActor:      fActor,
	auditkeep.FieldActorType:  fActorType,
	auditkeep.FieldTargetID:   fTargetID,
	auditkeep.FieldTargetType: fTargetType,
	auditkeep.FieldTarget:     fTarget,
	auditkeep.FieldScope:      fScope,
	auditkeep.FieldTeam:       fTeam,
	auditkeep.FieldIP:         fIP,
	auditkeep.FieldSource:     fSource,
	auditkeep.FieldStatus:     fStatus,
}

// termKey names one term of one tenant.
type termKey struct {
	tenant int64
	field  int
	value  string
}

// eventTerms appends the terms an event posts (without duplicates).
func eventTerms(dst []termKey, num int64, e *auditkeep.Event) []termKey {
	add := func(field int, v string) {
		if v != "" {
			dst = append(dst, termKey{num, field, v})
		}
	}
	add(fAction, e.Action)
	add(fType, e.Type)
	add(fActor, e.Actor.ID)
	name, email := strings.ToLower(e.Actor.Name), strings.ToLower(e.Actor.Email)
	add(fActorName, name)
	if email != name {
		add(fActorName, email)
	}
	add(fActorType, e.Actor.Type)
	if t := e.Target; t != nil {
		add(fTargetID, t.ID)
		add(fTargetType, t.Type)
		add(fTarget, strings.ToLower(t.Name))
	}
	var path strings.Builder
	for i, sc := range e.Scope {
		if i > 0 {
			path.WriteByte('/')
		}
		path.WriteString(sc.Type)
		path.WriteByte(':')
		path.WriteString(sc.ID)
		add(fScope, path.String())
	}
	add(fTeam, e.Team)
	if e.Context.IP != "" {
		add(fIP, ipTerm(e.Context.IP))
	}
	add(fSource, e.Source)
	add(fStatus, e.Status)
	return dst
}

// ipTerm encodes an address so that the terms of a CIDR prefix form one
// range of values: "4" or "6" and the address in hex. A value that is not
// an address is kept as "x" and the text (no filter can match it).
func ipTerm(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "x" + s
	}
	return addrTerm(a)
}

// addrTerm is the term value of an address (see ipTerm).
func addrTerm(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return "4" + hex.EncodeToString(a.AsSlice())
	}
	return "6" + hex.EncodeToString(a.AsSlice())
}

// ipRange returns the first and last term value of a prefix
// (auditkeep.IPRange).
func ipRange(p netip.Prefix) (lo, hi string) {
	first, last := auditkeep.IPRange(p)
	return addrTerm(first), addrTerm(last)
}

// dictionary caches term ids for the writer. Terms created by the current
// transaction stay pending until it commits. When the cache grows past its
// limit it is dropped and refilled from the database as terms are used.
type dictionary struct {
	limit    int
	ids      map[termKey]int64
	pending  map[termKey]int64
	complete map[int64]bool // tenants whose every term is in ids: a miss is a new term
	tried    map[int64]bool // tenants whose terms load tried to load
	next     int64          // the id of the next new term; 0: read it from the database
	created  []termKey      // terms new in the current transaction, in id order
}

func newDictionary(limit int) *dictionary {
	d := &dictionary{limit: limit}
	d.reset()
	return d
}

func (d *dictionary) reset() {
	d.complete = map[int64]bool{}
	d.tried = map[int64]bool{}
	d.ids = map[termKey]int64{}
	d.pending = map[termKey]int64{}
}

// commit keeps the pending terms.
func (d *dictionary) commit() {
	d.created = d.created[:0]
	if len(d.ids)+len(d.pending) > d.limit {
		d.ids = map[termKey]int64{}
		clear(d.complete) // and tried stays: no reload of what did not fit
	}
	for k, v := range d.pending {
		d.ids[k] = v
	}
	clear(d.pending)
}

// rollback forgets the pending terms and that any tenant's terms are all
// cached (they are loaded again on next use).
func (d *dictionary) rollback() {
	d.created = d.created[:0]
	d.next = 0
	clear(d.pending)
	clear(d.complete)
	clear(d.tried)
}

// load reads every term of the tenant into the cache, once, if they fit;
// then a cache miss means a new term and costs no lookup.
func (d *dictionary) load(ctx context.Context, tx *sql.Tx, num int64) error {
	if d.tried[num] {
		return nil
	}
	d.tried[num] = true
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM terms WHERE tenant = ?", num).Scan(&n); err != nil {
		return err
	}
	if len(d.ids)+n > d.limit/2 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, "SELECT id, field, value FROM terms WHERE tenant = ?", num)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		k := termKey{tenant: num}
		if err := rows.Scan(&id, &k.field, &k.value); err != nil {
			return err
		}
		d.ids[k] = id
	}
	if err := rows.Err(); err != nil {
		return err
	}
	d.complete[num] = true
	return nil
}

// id returns the term's id, creating the term if needed.
func (d *dictionary) id(ctx context.Context, st *writeStmts, k termKey) (int64, error) {
	if id, ok := d.ids[k]; ok {
		return id, nil
	}
	if id, ok := d.pending[k]; ok {
		return id, nil
	}
	var id int64
	if !d.complete[k.tenant] {
		err := st.findTerm.QueryRowContext(ctx, k.tenant, k.field, k.value).Scan(&id)
		if err == nil {
			d.pending[k] = id
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
	}
	// A new term: its id is assigned here (one writer) and its row is
	// inserted, with its count, by the transaction's end (insertCreated).
	if d.next == 0 {
		if err := st.tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) + 1 FROM terms").Scan(&d.next); err != nil {
			return 0, err
		}
	}
	id = d.next
	d.next++
	d.pending[k] = id
	d.created = append(d.created, k)
	return id, nil
}

// insertCreated inserts the terms created in this transaction with their
// counts.
func (d *dictionary) insertCreated(ctx context.Context, st *writeStmts, counts map[int64]int64) error {
	b := st.batch(ctx, st.tx, "INSERT INTO terms (id, tenant, field, value, count) VALUES ", 5, 64)
	for _, k := range d.created {
		id := d.pending[k]
		if err := b.add(id, k.tenant, k.field, k.value, counts[id]); err != nil {
			return err
		}
		delete(counts, id)
	}
	return b.flush()
}
