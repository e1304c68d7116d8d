package changes

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/auditkeep/auditkeep"
)

// MaxChanges is the most changes Diff returns. When two documents differ in
// more places, Diff returns the first MaxChanges-1 changes in path order and
// a final marker: Field TruncatedField, Op OpTruncated, New the number of
// changes left out (a JSON number), Old absent.
const MaxChanges = 1000

// The truncation marker that ends a capped list of changes.
const (
	OpTruncated    = "truncated"
	TruncatedField = "..."
)

// OpReordered is the change of an array of identified objects whose
// elements kept their identities but not their order: Field is the array's
// path, Old and New the identities in their order before and after (JSON
// arrays of strings or numbers).
const OpReordered = "reordered"

// IdentityFields are the fields that name an element of an array of
// objects, in order of preference (see Diff).
var IdentityFields = []string{"id", "name", "key"}

// Diff returns the field-level differences between two JSON documents, the
// state before and after an action.
//
// A document that is empty, only whitespace, or the literal null is absent:
// compared with an object, every top-level key is added (or removed); with an
// array, every index; with a scalar, one change at the root path "". Objects
// are compared key by key and arrays index by index, recursing while both
// sides are objects or both arrays; everything else that differs — including
// a change of type, or from or to null — is one ChangeChanged at that path.
// Numbers are compared by exact decimal value (1 == 1.0 == 1e0); strings
// after unescaping. An object key given twice counts with its last value.
//
// Arrays of objects that name themselves are compared element by element
// of the same identity, not by position, so that inserting one service into
// a list of 16 is one ChangeAdded. The identity is the first of
// IdentityFields ("id", then "name", then "key"; spelled alike in every
// element, in any case) that every element of both arrays holds, as a
// non-empty string or a number, once per array; a redacted value (see IsHash)
// is no identity. Such an element's path names it: "services[name=api]",
// "services[name=api].replicas". Changes follow the new array's order, then
// the removed elements in the old one's; when elements in both arrays
// changed their order, one OpReordered change at the array's path comes
// first. Arrays without an identity are compared index by index.
//
// Paths are written as the package documentation describes: "settings.cpu",
// "ports[1]", `labels["app.kubernetes.io/name"]`, "services[name=api]".
// Changes are sorted by path, segment by segment: keys in byte order,
// indexes numerically, identified elements as above. Old and New are the
// values as compact JSON (key order and number text kept; strings
// re-escaped); Old is absent for ChangeAdded and New for ChangeRemoved.
// At most MaxChanges changes are returned (see MaxChanges). Equal documents
// give nil.
//
// Returns EINVALID, with Field "before" or "after", when a document is not
// valid JSON.
func Diff(before, after json.RawMessage) ([]auditkeep.Change, error) {
	a, err := parseDoc(before, "before")
	if err != nil {
		return nil, err
	}
	b, err := parseDoc(after, "after")
	if err != nil {
		return nil, err
	}
	d := &differ{}
	switch {
	case a == nil && b == nil:
		return nil, nil
	case a == nil:
		d.diff("", emptyLike(b), b)
	case b == nil:
		d.diff("", a, emptyLike(a))
	default:
		d.diff("", a, b)
	}
	return d.result(), nil
}

// Compare returns the field-level differences between two snapshots, a and
// b, as Diff(a, b) does; it serves the comparison of two events' snapshots.
func Compare(a, b json.RawMessage) ([]auditkeep.Change, error) {
	return Diff(a, b)
}

// parseDoc parses a document, returning nil for an absent one.
func parseDoc(data json.RawMessage, name string) (*value, error) {
	if isAbsent(data) {
		return nil, nil
	}
	v, err := parse(data)
	if err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINVALID, Field: name,
			Message: name + " is not valid JSON", Err: err}
	}
	return v, nil
}

// emptyLike stands for an absent document compared with v: an empty
// container of v's kind, or nil for a scalar.
func emptyLike(v *value) *value {
	if v.kind == kindObject || v.kind == kindArray {
		return &value{kind: v.kind}
	}
	return nil
}

type differ struct {
	out   []auditkeep.Change
	total int
}

// add records one change; past MaxChanges it only counts.
func (d *differ) add(path, op string, old, new *value) {
	d.total++
	if len(d.out) >= MaxChanges {
		return
	}
	c := auditkeep.Change{Field: path, Op: op}
	if old != nil {
		c.Old = old.raw()
	}
	if new != nil {
		c.New = new.raw()
	}
	d.out = append(d.out, c)
}

func (d *differ) result() []auditkeep.Change {
	if d.total <= MaxChanges {
		return d.out
	}
	out := d.out[:MaxChanges-1]
	left := d.total - len(out)
	return append(out, auditkeep.Change{
		Field: TruncatedField,
		Op:    OpTruncated,
		New:   json.RawMessage(strconv.Itoa(left)),
	})
}

// diff compares a and b (either may be nil: absent) at path. Visiting keys
// in sorted order and indexes in order emits changes sorted by path.
func (d *differ) diff(path string, a, b *value) {
	switch {
	case a == nil && b == nil:
		return
	case a == nil:
		d.add(path, auditkeep.ChangeAdded, nil, b)
		return
	case b == nil:
		d.add(path, auditkeep.ChangeRemoved, a, nil)
		return
	}
	if a.kind != b.kind || (a.kind != kindObject && a.kind != kindArray) {
		if !equal(a, b) {
			d.add(path, auditkeep.ChangeChanged, a, b)
		}
		return
	}
	if a.kind == kindArray {
		if field := arrayIdentity(a, b); field != "" {
			d.diffByIdentity(path, field, a, b)
			return
		}
		for i := range max(len(a.elems), len(b.elems)) {
			var ea, eb *value
			if i < len(a.elems) {
				ea = a.elems[i]
			}
			if i < len(b.elems) {
				eb = b.elems[i]
			}
			d.diff(joinIndex(path, i), ea, eb)
		}
		return
	}
	ai, bi := a.index(), b.index()
	keys := make([]string, 0, len(ai)+len(bi))
	for k := range ai {
		keys = append(keys, k)
	}
	for k := range bi {
		if _, ok := ai[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		d.diff(JoinKey(path, k), ai[k], bi[k])
	}
}

// arrayIdentity returns the identity field of the elements of arrays a and
// b as they spell it, or "" when they have none (see Diff).
func arrayIdentity(a, b *value) string {
	if len(a.elems) == 0 && len(b.elems) == 0 {
		return ""
	}
	for _, e := range a.elems {
		if e.kind != kindObject {
			return ""
		}
	}
	for _, e := range b.elems {
		if e.kind != kindObject {
			return ""
		}
	}
next:
	for _, want := range IdentityFields {
		field := ""
		for _, arr := range []*value{a, b} {
			seen := make(map[string]bool, len(arr.elems))
			for _, e := range arr.elems {
				k, id := identityOf(e, want)
				if id == nil || field != "" && k != field {
					continue next
				}
				field = k
				if key := identityKey(id); seen[key] {
					continue next
				} else {
					seen[key] = true
				}
			}
		}
		return field
	}
	return ""
}

// identityOf returns the key of object e that equals want in any case, and
// its value when it can be an identity: a non-empty string that is not
// redacted, or a number.
func identityOf(e *value, want string) (string, *value) {
	for i, k := range e.keys {
		if !strings.EqualFold(k, want) {
			continue
		}
		switch v := e.elems[i]; {
		case v.kind == kindNumber, v.kind == kindString && v.s != "" && !IsHash(v.s):
			return k, v
		}
		return k, nil
	}
	return "", nil
}

// identityKey tells identities apart: a string from a number, numbers by
// exact value.
func identityKey(id *value) string {
	if id.kind == kindNumber {
		return "n" + canonicalNumber(id.s)
	}
	return "s" + id.s
}

// diffByIdentity compares arrays a and b whose elements are identified by
// field (see Diff).
func (d *differ) diffByIdentity(path, field string, a, b *value) {
	ids := func(arr *value) ([]*value, map[string]int) {
		vs := make([]*value, len(arr.elems))
		at := make(map[string]int, len(arr.elems))
		for i, e := range arr.elems {
			_, vs[i] = identityOf(e, field)
			at[identityKey(vs[i])] = i
		}
		return vs, at
	}
	aIDs, aAt := ids(a)
	bIDs, bAt := ids(b)
	// The elements in both arrays, in each array's order.
	var inA, inB []string
	for _, id := range aIDs {
		if _, ok := bAt[identityKey(id)]; ok {
			inA = append(inA, identityKey(id))
		}
	}
	for _, id := range bIDs {
		if _, ok := aAt[identityKey(id)]; ok {
			inB = append(inB, identityKey(id))
		}
	}
	if !slices.Equal(inA, inB) {
		d.add(path, OpReordered, &value{kind: kindArray, elems: aIDs}, &value{kind: kindArray, elems: bIDs})
	}
	for j, e := range b.elems {
		var old *value
		if i, ok := aAt[identityKey(bIDs[j])]; ok {
			old = a.elems[i]
		}
		d.diff(joinIdentity(path, field, bIDs[j]), old, e)
	}
	for i, e := range a.elems {
		if _, ok := bAt[identityKey(aIDs[i])]; !ok {
			d.diff(joinIdentity(path, field, aIDs[i]), e, nil)
		}
	}
}
