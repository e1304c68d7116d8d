package changes

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep/internal/ijson"
)

// kind is the JSON type of a value.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// value is a parsed JSON value that keeps the order of object keys and the
// text of numbers.
type value struct {
	kind  kind
	b     bool
	s     string   // a string's content, or a number's text
	keys  []string // object keys, in first-seen order
	elems []*value // array elements, or object values aligned with keys
}

var errInvalidJSON = errors.New("not valid JSON")

// isAbsent reports whether data holds no document: empty, only whitespace, or null.
func isAbsent(data []byte) bool {
	t := bytes.TrimSpace(data)
	return len(t) == 0 || string(t) == "null"
}

// parse parses one JSON document. An object key given twice keeps its first
// position and its last value, as encoding/json keeps the last value.
func parse(data []byte) (*value, error) {
	// json.Valid bounds nesting (10,000 levels), so the recursion below is
	// bounded, and lets the parser below trust the syntax.
	if !json.Valid(data) {
		return nil, errInvalidJSON
	}
	p := &parser{data: data}
	return p.value()
}

// parser reads a document that json.Valid accepted.
type parser struct {
	data []byte
	i    int
}

func (p *parser) skipSpace() { p.i = ijson.Space(p.data, p.i) }

func (p *parser) value() (*value, error) {
	p.skipSpace()
	if p.i >= len(p.data) {
		return nil, errInvalidJSON
	}
	switch c := p.data[p.i]; c {
	case '{':
		p.i++
		v := &value{kind: kindObject}
		var seen map[string]int
		for {
			p.skipSpace()
			if p.data[p.i] == '}' {
				p.i++
				return v, nil
			}
			if p.data[p.i] == ',' {
				p.i++
				p.skipSpace()
			}
			k, err := p.string()
			if err != nil {
				return nil, err
			}
			p.skipSpace()
			p.i++ // ':'
			e, err := p.value()
			if err != nil {
				return nil, err
			}
			// Small objects look keys up by scanning; larger ones by a map.
			j := -1
			if seen != nil {
				if n, dup := seen[k]; dup {
					j = n
				}
			} else {
				j = slices.Index(v.keys, k)
				if len(v.keys) == 16 {
					seen = make(map[string]int, 32)
					for n, key := range v.keys {
						seen[key] = n
					}
				}
			}
			if j >= 0 {
				v.elems[j] = e
				continue
			}
			if seen != nil {
				seen[k] = len(v.keys)
			}
			v.keys = append(v.keys, k)
			v.elems = append(v.elems, e)
		}
	case '[':
		p.i++
		v := &value{kind: kindArray}
		for {
			p.skipSpace()
			if p.data[p.i] == ']' {
				p.i++
				return v, nil
			}
			if p.data[p.i] == ',' {
				p.i++
			}
			e, err := p.value()
			if err != nil {
				return nil, err
			}
			v.elems = append(v.elems, e)
		}
	case '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return &value{kind: kindString, s: s}, nil
	case 't':
		p.i += len("true")
		return &value{kind: kindBool, b: true}, nil
	case 'f':
		p.i += len("false")
		return &value{kind: kindBool}, nil
	case 'n':
		p.i += len("null")
		return &value{kind: kindNull}, nil
	default:
		j := p.i
		for j < len(p.data) && strings.IndexByte("+-.0123456789eE", p.data[j]) >= 0 {
			j++
		}
		if j == p.i {
			return nil, errInvalidJSON
		}
		v := &value{kind: kindNumber, s: string(p.data[p.i:j])}
		p.i = j
		return v, nil
	}
}

// string reads a string token; escapes and invalid UTF-8 are decoded as
// encoding/json does.
func (p *parser) string() (string, error) {
	if p.i >= len(p.data) || p.data[p.i] != '"' {
		return "", errInvalidJSON
	}
	start := p.i
	end, plain := ijson.StringEnd(p.data, p.i)
	if end < 0 {
		return "", errInvalidJSON
	}
	p.i = end
	raw := p.data[start+1 : end-1]
	if plain && utf8.Valid(raw) {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(p.data[start:end], &s); err != nil {
		return "", err
	}
	return s, nil
}

// index maps an object's keys to their values.
func (v *value) index() map[string]*value {
	m := make(map[string]*value, len(v.keys))
	for i, k := range v.keys {
		m[k] = v.elems[i]
	}
	return m
}

// appendJSON appends v as compact JSON, keeping key order and number text.
func (v *value) appendJSON(b []byte) []byte { return v.appendTo(b, false) }

// appendCanonical appends v's canonical JSON text: keys sorted by byte
// order, no whitespace, numbers in canonical form (see canonicalNumber).
func (v *value) appendCanonical(b []byte) []byte { return v.appendTo(b, true) }

func (v *value) appendTo(b []byte, canonical bool) []byte {
	switch v.kind {
	case kindNull:
		return append(b, "null"...)
	case kindBool:
		if v.b {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case kindNumber:
		if canonical {
			return append(b, canonicalNumber(v.s)...)
		}
		return append(b, v.s...)
	case kindString:
		return appendString(b, v.s)
	case kindArray:
		b = append(b, '[')
		for i, e := range v.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendTo(b, canonical)
		}
		return append(b, ']')
	default:
		order := make([]int, len(v.keys))
		for i := range order {
			order[i] = i
		}
		if canonical {
			slices.SortFunc(order, func(i, j int) int { return strings.Compare(v.keys[i], v.keys[j]) })
		}
		b = append(b, '{')
		for n, i := range order {
			if n > 0 {
				b = append(b, ',')
			}
			b = appendString(b, v.keys[i])
			b = append(b, ':')
			b = v.elems[i].appendTo(b, canonical)
		}
		return append(b, '}')
	}
}

// raw returns v as compact JSON.
func (v *value) raw() json.RawMessage { return v.appendJSON(nil) }

// appendString appends s as a JSON string, escaped as encoding/json does
// but without HTML escaping.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	// Copy the leading run of bytes that need no escaping at once.
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < utf8.RuneSelf && s[i] != '"' && s[i] != '\\' {
		i++
	}
	b = append(b, s[:i]...)
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// equal reports whether a and b are the same JSON value; numbers compare by
// their exact decimal value (1 == 1.0 == 1e0).
func equal(a, b *value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kindNull:
		return true
	case kindBool:
		return a.b == b.b
	case kindString:
		return a.s == b.s
	case kindNumber:
		return canonicalNumber(a.s) == canonicalNumber(b.s)
	case kindArray:
		return slices.EqualFunc(a.elems, b.elems, equal)
	default:
		if len(a.keys) != len(b.keys) {
			return false
		}
		bi := b.index()
		for i, k := range a.keys {
			e, ok := bi[k]
			if !ok || !equal(a.elems[i], e) {
				return false
			}
		}
		return true
	}
}

// canonicalNumber returns the exact decimal value of the JSON number s in
// one form: no leading or trailing zeros, "-0" as "0", plain notation for
// integers up to 21 digits and decimals down to 1e-6, exponent notation
// ("1.5e+30") beyond. Numbers whose exponent has more than 15 digits are
// returned as given.
func canonicalNumber(s string) string {
	neg, digits, exp, ok := splitNumber(s)
	if !ok {
		return s
	}
	if digits == "" {
		return "0"
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	n := int64(len(digits))
	point := n + exp // position of the decimal point from the first digit
	switch {
	case exp >= 0 && point <= 21:
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", int(exp)))
	case exp < 0 && point > 0:
		b.WriteString(digits[:point])
		b.WriteByte('.')
		b.WriteString(digits[point:])
	case exp < 0 && point > -6:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", int(-point)))
		b.WriteString(digits)
	default:
		b.WriteByte(digits[0])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		if point-1 >= 0 {
			b.WriteByte('+')
		}
		b.WriteString(strconv.FormatInt(point-1, 10))
	}
	return b.String()
}

// splitNumber splits a valid JSON number into its sign, significant digits
// (no leading or trailing zeros; "" for zero) and the power of ten they are
// multiplied by.
func splitNumber(s string) (neg bool, digits string, exp int64, ok bool) {
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	mant, e, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	if hasExp {
		eneg := false
		switch {
		case strings.HasPrefix(e, "-"):
			eneg, e = true, e[1:]
		case strings.HasPrefix(e, "+"):
			e = e[1:]
		}
		e = strings.TrimLeft(e, "0")
		if len(e) > 15 {
			return false, "", 0, false
		}
		for _, c := range []byte(e) {
			if c < '0' || c > '9' {
				return false, "", 0, false
			}
			exp = exp*10 + int64(c-'0')
		}
		if eneg {
			exp = -exp
		}
	}
	digits = intPart + frac
	exp -= int64(len(frac))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return false, "", 0, true
	}
	t := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(t))
	return neg, t, exp, true
}
