package ijson

import (
	"bytes"
	"encoding/json"
	"errors"
)

// This file holds auditkeep's JSON byte scanners, in one place: those that
// check the syntax of untrusted bytes on the way (ScanValue), and those that
// step over JSON already known to be valid (SkipValue, EachMember, Depth,
// Compact). The callers keep encoding/json as the reference: for anything
// the scanners do not accept they fall back to it, and to its messages.

// Space returns the position of the first byte of b at or after i that is
// not JSON whitespace.
func Space(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// ScanValue returns the end of the JSON value at b[i] (b valid UTF-8),
// which sits inside depth objects and arrays, or -1 when there is no value
// there that encoding/json accepts, or it nests deeper than maxDepth.
func ScanValue(b []byte, i, depth, maxDepth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		return ScanString(b, i)
	case c == '{' || c == '[':
		if depth++; depth > maxDepth {
			return -1
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		i = Space(b, i+1)
		if i < len(b) && b[i] == end {
			return i + 1
		}
		for {
			if c == '{' {
				if i = ScanString(b, i); i < 0 {
					return -1
				}
				if i = Space(b, i); i >= len(b) || b[i] != ':' {
					return -1
				}
				i = Space(b, i+1)
			}
			if i = ScanValue(b, i, depth, maxDepth); i < 0 {
				return -1
			}
			if i = Space(b, i); i >= len(b) {
				return -1
			}
			switch b[i] {
			case ',':
				i = Space(b, i+1)
			case end:
				return i + 1
			default:
				return -1
			}
		}
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	}
	return -1
}

func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// ScanString returns the end of the JSON string at b[i] (after its closing
// quote), or -1 when there is none that encoding/json accepts. The bytes
// are valid UTF-8 already.
func ScanString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i <= 4 {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// scanNumber returns the end of the JSON number at b[i], or -1.
func scanNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// StringEnd returns the position after the string literal at b[i] and
// whether it holds no escape, or -1 when there is no closing quote. It
// checks nothing else.
func StringEnd(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return -1, false
	}
	plain := true
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			plain = false
			i++
		case '"':
			return i + 1, plain
		}
	}
	return -1, false
}

// SkipString returns the offset just past the JSON string starting at
// b[i], or -1. Like SkipValue, it expects valid JSON.
func SkipString(b []byte, i int) int {
	j := i + 1
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return -1
		}
		j += q
		backslashes := 0
		for k := j - 1; k > i && b[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return j + 1
		}
		j++
	}
}

// SkipValue returns the offset just past the JSON value starting at b[i],
// or -1 when the value does not end within b. It expects valid JSON (a
// store's, or bytes a decoder accepted) and checks little: it is for
// stepping over values, not for telling JSON from anything else.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = SkipString(b, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	// A number, true, false or null.
	j := i
	for j < len(b) && scalarByte[b[j]] {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// scalarByte holds the bytes of numbers and of true, false and null.
var scalarByte = func() (t [256]bool) {
	for _, c := range []byte("+-.eE0123456789truefalsn") {
		t[c] = true
	}
	return t
}()

// Depth returns how deeply objects and arrays nest in the JSON text b: 0
// for a string, a number or a literal. Strings are stepped over; b need
// not be valid.
func Depth(b []byte) int {
	d, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, _ := StringEnd(b, i)
			if end < 0 {
				return deepest
			}
			i = end - 1
		case '{', '[':
			d++
			deepest = max(deepest, d)
		case '}', ']':
			d--
		}
	}
	return deepest
}

// Compact appends to dst the valid JSON raw without the whitespace outside
// its strings: what json.Compact writes, without checking the syntax.
func Compact(dst, raw []byte) []byte {
	start := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			end, _ := StringEnd(raw, i)
			if end < 0 {
				return append(dst, raw[start:]...)
			}
			i = end - 1
		case ' ', '\t', '\n', '\r':
			dst = append(dst, raw[start:i]...)
			start = i + 1
		}
	}
	return append(dst, raw[start:]...)
}

// MemberAt reads the object member starting at js[i] (its key), in JSON
// without spaces as encoding/json writes it: the key's text as written
// (between its quotes), and its value's span [v, end). ok is false when
// there is no well-formed member there.
func MemberAt(js []byte, i int) (key []byte, v, end int, ok bool) {
	if i >= len(js) || js[i] != '"' {
		return nil, 0, 0, false
	}
	k := SkipString(js, i)
	if k < 0 || k >= len(js) || js[k] != ':' {
		return nil, 0, 0, false
	}
	if end = SkipValue(js, k+1); end < 0 {
		return nil, 0, 0, false
	}
	return js[i+1 : k-1], k + 1, end, true
}

// EachMember calls fn with each member of the JSON object js (the whole
// of js, written without spaces as encoding/json writes it) until fn
// returns false, or until a member named in stop, whose value is not read.
// It returns false when fn did, or when js is not such an object.
func EachMember(js []byte, fn func(key, v []byte) bool, stop ...string) bool {
	if len(js) < 2 || js[0] != '{' || js[len(js)-1] != '}' {
		return false
	}
	for i := 1; i < len(js)-1; {
		if js[i] != '"' {
			return false
		}
		k := SkipString(js, i)
		if k < 0 || k >= len(js) || js[k] != ':' {
			return false
		}
		for _, name := range stop {
			if string(js[i+1:k-1]) == name {
				return true
			}
		}
		end := SkipValue(js, k+1)
		if end < 0 || end > len(js)-1 {
			return false
		}
		if !fn(js[i+1:k-1], js[k+1:end]) {
			return false
		}
		if i = end; js[i] == ',' {
			i++
		} else if i != len(js)-1 {
			return false
		}
	}
	return true
}

// Member returns the value of the top-level member key of js, an object as
// encoding/json writes it (no space), reading the members before it only
// as far as to skip them; ok is false when js has no such member or is not
// in that form.
func Member(js []byte, key string) (value []byte, ok bool) {
	if len(js) < 2 || js[0] != '{' {
		return nil, false
	}
	for i := 1; ; {
		k, v, end, ok := MemberAt(js, i)
		if !ok {
			return nil, false
		}
		if string(k) == key {
			return js[v:end], true
		}
		if end >= len(js) || js[end] != ',' {
			return nil, false
		}
		i = end + 1
	}
}

// Text returns the text of the JSON string q (with its quotes): a part of
// q when it holds no escape.
func Text(q []byte) ([]byte, error) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return nil, errNotString
	}
	if bytes.IndexByte(q, '\\') < 0 {
		return q[1 : len(q)-1], nil
	}
	var s string
	err := json.Unmarshal(q, &s)
	return []byte(s), err
}

var errNotString = errors.New("not a JSON string")
