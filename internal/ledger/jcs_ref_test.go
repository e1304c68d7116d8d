package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// referenceCanonical is the earlier implementation of CanonicalJSON: it
// decodes the text into values, then encodes them. The tests hold the
// canonicalizer equal to it.
func referenceCanonical(data []byte) ([]byte, error) {
	if !json.Valid(data) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("canonical json: %w", err)
		}
		return nil, errors.New("canonical json: not one JSON value")
	}
	p := refParser{data: data}
	v, err := p.value()
	if err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return refAppendValue(nil, v)
}

type refMember struct {
	name  string
	value any
}

type refObject []refMember

type refParser struct {
	data []byte
	pos  int
}

func (p *refParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *refParser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, io.ErrUnexpectedEOF
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		p.pos++
		var obj refObject
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
			obj = append(obj, refMember{name, v})
		}
		slices.SortFunc(obj, func(a, b refMember) int { return compareUTF16(a.name, b.name) })
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
func (p *refParser) string() (string, error) {
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

func refAppendValue(dst []byte, v any) ([]byte, error) {
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
			if dst, err = refAppendValue(dst, e); err != nil {
				return nil, err
			}
		}
		dst = append(dst, ']')
	case refObject:
		dst = append(dst, '{')
		for i, m := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, m.name)
			dst = append(dst, ':')
			if dst, err = refAppendValue(dst, m.value); err != nil {
				return nil, err
			}
		}
		dst = append(dst, '}')
	default:
		return nil, fmt.Errorf("unexpected value of type %T", v)
	}
	return dst, err
}
