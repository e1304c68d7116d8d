package changes

import (
	"encoding/json"
	"slices"
	"strconv"

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
// Paths are written as the package documentation describes: "settings.cpu",
// "ports[1]", `labels["app.kubernetes.io/name"]`. Changes are sorted by path, segment by
// segment: keys in byte order, indexes numerically. Old and New are the
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
		d.diff(joinKey(path, k), ai[k], bi[k])
	}
}
