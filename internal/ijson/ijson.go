// Package ijson holds request bodies to what encoding/json does not: the
// I-JSON profile of RFC 7493 (member names unique; strings of Unicode
// characters, without lone surrogates or noncharacters; numbers that an
// IEEE 754 double holds exactly, as they are written), and the members of an
// object read into a Go struct spelled exactly as the struct's JSON names
// (encoding/json matches them without regard to case, so "ACTION" would be
// read as "action").
package ijson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/auditkeep/auditkeep"
)

// Schema is the shape of the Go type a body is read into: which objects are
// structs, and their members' names.
type Schema struct {
	root *node
	// what, when set, makes the schema strict: a member that is not a
	// field of its struct is refused, named by its whole path, as "… is not
	// a field of " + what at the top level, or of the member holding it.
	what string
}

// Strict returns s refusing members that are not fields of their struct;
// what names the top-level value in the message ("an event").
func (s *Schema) Strict(what string) *Schema { return &Schema{root: s.root, what: what} }

// node is one value's expected shape. A free node (a map's keys, an
// interface, json.RawMessage, a type that decodes itself) accepts any member
// names, unique.
type node struct {
	fields map[string]*node // a struct's members by JSON name; nil when not a struct
	names  []string         // the same names, for suggestions
	elem   *node            // a slice's or array's elements, a map's values
}

var free = &node{}

var schemas sync.Map // reflect.Type → *Schema

// SchemaOf returns the schema of the type of v (a value or a pointer to one).
func SchemaOf(v any) *Schema {
	t := reflect.TypeOf(v)
	if s, ok := schemas.Load(t); ok {
		return s.(*Schema)
	}
	s := &Schema{root: build(t, map[reflect.Type]*node{})}
	schemas.Store(t, s)
	return s
}

var (
	unmarshaler     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func build(t reflect.Type, seen map[reflect.Type]*node) *node {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n, ok := seen[t]; ok {
		return n
	}
	pt := reflect.PointerTo(t)
	if t.Implements(unmarshaler) || pt.Implements(unmarshaler) || t.Implements(textUnmarshaler) || pt.Implements(textUnmarshaler) {
		return free
	}
	switch t.Kind() {
	case reflect.Struct:
		n := &node{fields: map[string]*node{}}
		seen[t] = n
		addFields(n, t, seen)
		return n
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return free // base64 text
		}
		n := &node{}
		seen[t] = n
		n.elem = build(t.Elem(), seen)
		return n
	case reflect.Map:
		n := &node{}
		seen[t] = n
		n.elem = build(t.Elem(), seen)
		return n
	}
	return free
}

// addFields adds the JSON members of struct t to n as encoding/json names
// them, those of untagged embedded structs included.
func addFields(n *node, t reflect.Type, seen map[reflect.Type]*node) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			addFields(n, ft, seen)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, ok := n.fields[name]; !ok {
			n.names = append(n.names, name)
		}
		n.fields[name] = build(f.Type, seen)
	}
}

// Check returns an EINVALID naming the member when the JSON value at the
// start of data is not I-JSON (see the package documentation), or spells a
// struct's member in another case than its JSON name. prefix names the value in the
// field of the error ("events[3]"; "" for a body). s nil checks only that
// names are unique. Check leaves syntax to the decoder: it reports nothing
// for data that is not JSON.
func Check(data []byte, s *Schema, prefix string) error {
	w := walkers.Get().(*walker)
	defer func() {
		w.data, w.path, w.names, w.err = nil, w.path[:0], w.names[:0], nil
		walkers.Put(w)
	}()
	w.data, w.prefix, w.strict = data, prefix, ""
	root := free
	if s != nil {
		root, w.strict = s.root, s.what
	}
	w.value(Space(w.data, 0), root)
	return w.err
}

var walkers = sync.Pool{New: func() any { return new(walker) }}

type walker struct {
	data   []byte
	prefix string
	path   []seg    // where the walk is, for the error's field
	names  [][]byte // the member names of the objects being walked; each owns a tail
	strict string   // the Schema's what: "" accepts unknown members
	err    error
}

// seg is a member name, or an array index when name is nil.
type seg struct {
	name []byte
	idx  int
}

// field names the value at the current path.
func (w *walker) field() string {
	var b strings.Builder
	b.WriteString(w.prefix)
	for _, s := range w.path {
		switch {
		case s.name != nil:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.Write(s.name)
		case s.idx >= 0:
			fmt.Fprintf(&b, "[%d]", s.idx)
		}
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

func (w *walker) fail(format string, args ...any) int {
	if w.err == nil {
		f := w.field()
		w.err = auditkeep.FieldErrorf(f, "%s: %s", f, fmt.Sprintf(format, args...))
	}
	return -1
}

// unknown fails for the member at the current path, which is not a field
// of its struct.
func (w *walker) unknown() int {
	if w.err == nil && len(w.path[len(w.path)-1].name) == 0 {
		w.path = w.path[:len(w.path)-1]
		f := w.field()
		w.err = auditkeep.FieldErrorf(f, `%s has a field with an empty name ("")`, f)
	}
	if w.err == nil {
		f := w.field()
		of := w.strict
		if len(w.path) > 1 {
			of = f[:strings.LastIndexByte(f, '.')]
			if w.prefix != "" {
				of = strings.TrimPrefix(of, w.prefix+".")
			}
		}
		w.err = auditkeep.FieldErrorf(f, "%s is not a field of %s", f, of)
	}
	return -1
}

// value walks the value at i expected to have shape n and returns the
// position after it, or -1 (w.err says whether for a finding or a syntax
// error).
func (w *walker) value(i int, n *node) int {
	d := w.data
	if i >= len(d) {
		return -1
	}
	switch d[i] {
	case '{':
		return w.object(i, n)
	case '[':
		elem := n.elem
		if elem == nil {
			elem = free
		}
		i = Space(w.data, i+1)
		if i < len(d) && d[i] == ']' {
			return i + 1
		}
		w.path = append(w.path, seg{idx: 0})
		at := len(w.path) - 1
		for k := 0; ; k++ {
			w.path[at].idx = k
			if i = w.value(i, elem); i < 0 {
				return -1
			}
			var more bool
			if i, more = w.after(i, ']'); !more {
				w.path = w.path[:at]
				return i
			}
		}
	case '"':
		end, _ := StringEnd(w.data, i)
		if end > 0 {
			if msg := badString(d[i:end]); msg != "" {
				return w.fail("%s", msg)
			}
		}
		return end
	case 't', 'f', 'n':
		for i < len(d) && d[i] >= 'a' && d[i] <= 'z' {
			i++
		}
		return i
	}
	start := i
	for i < len(d) && strings.IndexByte("+-.eE0123456789", d[i]) >= 0 {
		i++
	}
	if i == start {
		return -1
	}
	if msg := badNumber(d[start:i]); msg != "" {
		return w.fail("%s", msg)
	}
	return i
}

// object walks the object at i.
func (w *walker) object(i int, n *node) int {
	d := w.data
	base := len(w.names)
	defer func() { w.names = w.names[:base] }()
	w.path = append(w.path, seg{idx: -1})
	at := len(w.path) - 1
	var set map[string]struct{}
	i = Space(w.data, i+1)
	if i < len(d) && d[i] == '}' {
		w.path = w.path[:at]
		return i + 1
	}
	for {
		end, plain := StringEnd(w.data, i)
		if end < 0 {
			return -1
		}
		if msg := badString(d[i:end]); msg != "" {
			return w.fail("a member name %s", msg[len("the string "):])
		}
		name := d[i+1 : end-1]
		if !plain {
			var s string
			if json.Unmarshal(d[i:end], &s) != nil {
				return -1
			}
			name = []byte(s)
		}
		w.path[at].name = name
		if set != nil {
			if _, dup := set[string(name)]; dup {
				return w.fail("duplicate member")
			}
			set[string(name)] = struct{}{}
		} else {
			for _, prev := range w.names[base:] {
				if bytes.Equal(prev, name) {
					return w.fail("duplicate member")
				}
			}
			w.names = append(w.names, name)
			if len(w.names)-base > maxLinear {
				// A large object: look names up in a set.
				set = make(map[string]struct{}, 2*maxLinear)
				for _, prev := range w.names[base:] {
					set[string(prev)] = struct{}{}
				}
			}
		}
		child := free
		if n.fields != nil {
			if c, ok := n.fields[string(name)]; ok {
				child = c
			} else {
				for _, known := range n.names {
					if bytes.EqualFold([]byte(known), name) {
						return w.fail("unknown member %s (did you mean %s?)", strconv.Quote(string(name)), strconv.Quote(known))
					}
				}
				if w.strict != "" {
					return w.unknown()
				}
			}
		} else if n.elem != nil {
			child = n.elem
		}
		if i = Space(w.data, end); i >= len(d) || d[i] != ':' {
			return -1
		}
		if i = w.value(Space(w.data, i+1), child); i < 0 {
			return -1
		}
		var more bool
		if i, more = w.after(i, '}'); !more {
			w.path = w.path[:at]
			return i
		}
	}
}

// after returns, for the value of an array or object closed by end that
// ends at i, the position of the next value and true, or the position after
// end (-1 when there is neither) and false.
func (w *walker) after(i int, end byte) (int, bool) {
	if i = Space(w.data, i); i < len(w.data) {
		switch w.data[i] {
		case ',':
			return Space(w.data, i+1), true
		case end:
			return i + 1, false
		}
	}
	return -1, false
}

// maxLinear is the number of members up to which an object's names are
// compared one by one.
const maxLinear = 32
