package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
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

func appendCanonical(dst, data []byte) ([]byte, error) {
	if !json.Valid(data) {
		// json.Unmarshal words the syntax error.
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("canonical json: %w", err)
		}
		return nil, errors.New("canonical json: not one JSON value")
	}
	p := parser{data: data}
	v, err := p.value()
	if err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return appendValue(dst, v)
}

// member is one name/value pair of a decoded object.
type member struct {
	name  string
	value any
}

// object is a decoded JSON object, its members sorted by name.
type object []member

// parser decodes JSON text that json.Valid accepted into nil, bool, string,
// float64, []any and object values.
type parser struct {
	data []byte
	pos  int
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, io.ErrUnexpectedEOF
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		p.pos++
		var obj object
		for {
			p.skipSpace()
			if p.data[p.pos] == '}' {
				p.pos++
				break
			}
			if p.data[p.pos] == ',' {
				p.pos++
				p.skipSpace()
			}
			name, err := p.string()
			if err != nil {
				return nil, err
			}
			p.skipSpace()
			p.pos++ // ':'
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			obj = append(obj, member{name, v})
		}
		slices.SortFunc(obj, func(a, b member) int { return compareUTF16(a.name, b.name) })
		for i := 1; i < len(obj); i++ {
			if obj[i].name == obj[i-1].name {
				return nil, fmt.Errorf("duplicate object member %q", obj[i].name)
			}
		}
		return obj, nil
	case c == '[':
		p.pos++
		arr := []any{}
		for {
			p.skipSpace()
			if p.data[p.pos] == ']' {
				p.pos++
				break
			}
			if p.data[p.pos] == ',' {
				p.pos++
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	case c == '"':
		return p.string()
	case c == 't':
		p.pos += len("true")
		return true, nil
	case c == 'f':
		p.pos += len("false")
		return false, nil
	case c == 'n':
		p.pos += len("null")
		return nil, nil
	default:
		start := p.pos
		for p.pos < len(p.data) && strings.IndexByte("+-.eE0123456789", p.data[p.pos]) >= 0 {
			p.pos++
		}
		lit := string(p.data[start:p.pos])
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			return nil, fmt.Errorf("number %s is not an IEEE 754 double", lit)
		}
		return f, nil
	}
}

// string decodes the string literal at p.pos.
func (p *parser) string() (string, error) {
	start := p.pos
	p.pos++ // '"'
	plain := true
	for {
		c := p.data[p.pos]
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			p.pos++
		}
		p.pos++
	}
	p.pos++
	lit := p.data[start:p.pos]
	if plain && utf8.Valid(lit) {
		return string(lit[1 : len(lit)-1]), nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", err
	}
	return s, nil
}

func appendValue(dst []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		dst = append(dst, "null"...)
	case bool:
		dst = strconv.AppendBool(dst, v)
	case string:
		dst = appendString(dst, v)
	case float64:
		dst, err = appendNumber(dst, v)
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendValue(dst, e); err != nil {
				return nil, err
			}
		}
		dst = append(dst, ']')
	case object:
		dst = append(dst, '{')
		for i, m := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, m.name)
			dst = append(dst, ':')
			if dst, err = appendValue(dst, m.value); err != nil {
				return nil, err
			}
		}
		dst = append(dst, '}')
	default:
		return nil, fmt.Errorf("unexpected value of type %T", v)
	}
	return dst, err
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

// utf16Units returns r's UTF-16 code units; the second is 0 for a rune of
// the Basic Multilingual Plane.
func utf16Units(r rune) [2]uint16 {
	if r < 0x10000 {
		return [2]uint16{uint16(r), 0}
	}
	r -= 0x10000
	return [2]uint16{uint16(0xd800 + r>>10), uint16(0xdc00 + r&0x3ff)}
}
