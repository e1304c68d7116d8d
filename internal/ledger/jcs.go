package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep/internal/ijson"
)

// CanonicalJSON returns the RFC 8785 (JCS) canonical form of the JSON text
// data: no insignificant whitespace, object members sorted by the UTF-16 code
// units of their names, numbers in ECMAScript (ES6) form, strings with the
// minimal escaping of RFC 8785 section 3.2.2.2.
//
// It rejects (EINVALID) data that is not one JSON value, an object with a
// duplicate member name, and a number outside the range of an IEEE 754
// double. Like encoding/json, it decodes invalid UTF-8 and lone surrogate
// escapes as U+FFFD. Integers beyond ±2^53 are rounded to the nearest double,
// as RFC 8785 requires.
func CanonicalJSON(data []byte) ([]byte, error) {
	return appendCanonical(nil, data)
}

// CheckJSON returns the error CanonicalJSON would return for data, without
// keeping the canonical form: ingest refuses a document the ledger could not
// encode (a number beyond a double, a duplicate member name) before it is
// stored, since its leaf could never be computed.
func CheckJSON(data []byte) error {
	bp := scratch.Get().(*[]byte)
	var err error
	*bp, err = appendCanonical((*bp)[:0], data)
	if cap(*bp) <= 1<<20 {
		scratch.Put(bp)
	}
	return err
}

// scratch keeps CheckJSON's output buffers.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

func appendCanonical(dst, data []byte) ([]byte, error) {
	if !json.Valid(data) {
		// json.Unmarshal words the syntax error.
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("canonical json: %w", err)
		}
		return nil, errors.New("canonical json: not one JSON value")
	}
	c := canonicalizers.Get().(*canonicalizer)
	defer canonicalizers.Put(c)
	c.data = data
	dst, _, err := c.value(dst, ijson.Space(c.data, 0))
	c.data, c.members = nil, c.members[:0]
	if err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return dst, nil
}

// canonicalizer writes the canonical form of JSON text that json.Valid
// accepted, straight from the text: members are sorted as spans of it,
// and strings and integers already in canonical form are copied as they
// are, so that nothing is decoded into values that are then encoded again.
type canonicalizer struct {
	data    []byte
	members []member // a stack: each object being written owns a tail
}

// canonicalizers keeps canonicalizers, for their member stacks.
var canonicalizers = sync.Pool{New: func() any { return new(canonicalizer) }}

// member is one member of an object: its name (as decoded, for sorting;
// raw tells whether the literal data[lit:val] can be copied as it is) and
// where its value starts.
type member struct {
	name     []byte
	lit, val int
	raw      bool
}

// value appends the canonical form of the value at pos (no space before
// it) and returns the position just after it.
func (c *canonicalizer) value(dst []byte, pos int) ([]byte, int, error) {
	d := c.data
	switch ch := d[pos]; {
	case ch == '{':
		return c.object(dst, pos)
	case ch == '[':
		dst = append(dst, '[')
		pos = ijson.Space(c.data, pos+1)
		if d[pos] == ']' {
			return append(dst, ']'), pos + 1, nil
		}
		for {
			var err error
			if dst, pos, err = c.value(dst, pos); err != nil {
				return nil, 0, err
			}
			pos = ijson.Space(c.data, pos)
			if d[pos] == ']' {
				return append(dst, ']'), pos + 1, nil
			}
			dst = append(dst, ',')
			pos = ijson.Space(c.data, pos+1) // after ','
		}
	case ch == '"':
		end, plain := ijson.StringEnd(c.data, pos)
		if plain && utf8.Valid(d[pos:end]) {
			return append(dst, d[pos:end]...), end, nil
		}
		s, err := decodeString(d[pos:end])
		if err != nil {
			return nil, 0, err
		}
		return appendString(dst, s), end, nil
	case ch == 't':
		return append(dst, "true"...), pos + len("true"), nil
	case ch == 'f':
		return append(dst, "false"...), pos + len("false"), nil
	case ch == 'n':
		return append(dst, "null"...), pos + len("null"), nil
	default:
		end := pos
		for end < len(d) && strings.IndexByte("+-.eE0123456789", d[end]) >= 0 {
			end++
		}
		lit := d[pos:end]
		if canonicalInteger(lit) {
			return append(dst, lit...), end, nil
		}
		f, err := strconv.ParseFloat(string(lit), 64)
		if err != nil {
			return nil, 0, fmt.Errorf("number %s is not an IEEE 754 double", lit)
		}
		dst, err = appendNumber(dst, f)
		return dst, end, err
	}
}

// object appends the canonical form of the object at pos.
func (c *canonicalizer) object(dst []byte, pos int) ([]byte, int, error) {
	d := c.data
	base := len(c.members)
	defer func() { c.members = c.members[:base] }()
	pos = ijson.Space(c.data, pos+1)
	for d[pos] != '}' {
		end, plain := ijson.StringEnd(c.data, pos)
		m := member{lit: pos}
		if plain && utf8.Valid(d[pos:end]) {
			m.name, m.raw = d[pos+1:end-1], true
		} else {
			name, err := decodeString(d[pos:end])
			if err != nil {
				return nil, 0, err
			}
			m.name = []byte(name)
		}
		m.val = ijson.Space(c.data, ijson.Space(c.data, end)+1) // after ':'
		c.members = append(c.members, m)
		pos = ijson.Space(c.data, ijson.SkipValue(c.data, m.val))
		if d[pos] == ',' {
			pos = ijson.Space(c.data, pos+1)
		}
	}
	ms := c.members[base:]
	slices.SortFunc(ms, func(a, b member) int { return compareUTF16Bytes(a.name, b.name) })
	dst = append(dst, '{')
	for i, m := range ms {
		if i > 0 {
			if bytes.Equal(m.name, ms[i-1].name) {
				return nil, 0, fmt.Errorf("duplicate object member %q", m.name)
			}
			dst = append(dst, ',')
		}
		if m.raw {
			dst = append(dst, d[m.lit:m.lit+len(m.name)+2]...)
		} else {
			dst = appendString(dst, string(m.name))
		}
		dst = append(dst, ':')
		var err error
		// Children push their members after ours: ms stays as it is.
		if dst, _, err = c.value(dst, m.val); err != nil {
			return nil, 0, err
		}
	}
	return append(dst, '}'), pos + 1, nil
}

// decodeString decodes a string literal as encoding/json does (invalid
// UTF-8 and lone surrogates become U+FFFD).
func decodeString(lit []byte) (string, error) {
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", err
	}
	return s, nil
}

// canonicalInteger reports whether lit is an integer that RFC 8785 writes
// as it is: no sign but '-', no leading zero, not -0, and at most 15
// digits, so that it is exact as a double.
func canonicalInteger(lit []byte) bool {
	digits := lit
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 15 || (digits[0] == '0' && len(lit) > 1) {
		return false
	}
	for _, b := range digits {
		if b < '0' || b > '9' {
			return false
		}
	}
	return true
}

// appendNumber appends f as ECMAScript's Number.prototype.toString does
// (RFC 8785 section 3.2.2.3). It rejects NaN and infinities.
func appendNumber(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("number %v is not valid JSON", f)
	}
	if f == 0 { // and -0
		return append(dst, '0'), nil
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	if f >= 1e-6 && f < 1e21 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64), nil
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // "1e+21", "5e-324", "1.5e-07"
	mant, exp, _ := strings.Cut(s, "e")
	sign, digits := exp[:1], strings.TrimLeft(exp[1:], "0")
	dst = append(dst, mant...)
	dst = append(dst, 'e')
	dst = append(dst, sign...)
	return append(dst, digits...), nil
}

// appendString appends s as a JSON string escaped as RFC 8785 requires:
// '"' and '\\' escaped, control characters as \b \t \n \f \r or \u00xx (lower
// case hex), everything else as UTF-8. Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	valid := utf8.ValidString(s)
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, to be copied as it is
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			if valid {
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = utf8.AppendRune(dst, utf8.RuneError)
				start = i + 1
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// compareUTF16 orders strings by their UTF-16 code units, as RFC 8785
// section 3.2.3 sorts object member names.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua, ub := utf16Units(ra), utf16Units(rb)
			if ua[0] != ub[0] {
				return int(ua[0]) - int(ub[0])
			}
			return int(ua[1]) - int(ub[1])
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

// compareUTF16Bytes is compareUTF16 of valid UTF-8 names. UTF-8 bytes
// sort as code points, and code points as UTF-16 code units except that
// the supplementary planes (4-byte sequences, surrogate pairs in UTF-16)
// come before U+E000..U+FFFF (3-byte sequences led by 0xEE or 0xEF) in
// UTF-16; the first differing byte tells which case applies.
func compareUTF16Bytes(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return len(a) - len(b)
	}
	x, y := a[i], b[i]
	switch {
	case x >= 0xF0 && (y == 0xEE || y == 0xEF):
		return -1
	case y >= 0xF0 && (x == 0xEE || x == 0xEF):
		return 1
	}
	return int(x) - int(y)
}

// utf16Units returns r's UTF-16 code units; the second is 0 for a rune of
// the Basic Multilingual Plane.
func utf16Units(r rune) [2]uint16 {
	if r < 0x10000 {
		return [2]uint16{uint16(r), 0}
	}
	r -= 0x10000
	return [2]uint16{uint16(0xd800 + r>>10), uint16(0xdc00 + r&0x3ff)}
}
