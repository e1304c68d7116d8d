package demo

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// jw appends JSON to a reused buffer: it is what keeps generation fast
// (encoding/json's reflection would cost more than the rest of an event).
// Commas are placed by looking at the previous byte.
type jw struct{ b []byte }

func (w *jw) reset() { w.b = w.b[:0] }

// raw returns a copy of the buffer: every event owns its bytes.
func (w *jw) raw() json.RawMessage {
	return append(json.RawMessage(make([]byte, 0, len(w.b))), w.b...)
}

func (w *jw) sep() {
	if n := len(w.b); n > 0 {
		if c := w.b[n-1]; c != '{' && c != '[' && c != ':' {
			w.b = append(w.b, ',')
		}
	}
}

func (w *jw) key(k string) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *jw) open()               { w.sep(); w.b = append(w.b, '{') }
func (w *jw) close()              { w.b = append(w.b, '}') }
func (w *jw) obj(k string)        { w.key(k); w.b = append(w.b, '{') }
func (w *jw) arr(k string)        { w.key(k); w.b = append(w.b, '[') }
func (w *jw) end()                { w.b = append(w.b, ']') }
func (w *jw) str(k, v string)     { w.key(k); w.b = appendString(w.b, v) }
func (w *jw) elem(v string)       { w.sep(); w.b = appendString(w.b, v) }
func (w *jw) num(k string, v int) { w.key(k); w.b = strconv.AppendInt(w.b, int64(v), 10) }
func (w *jw) null(k string)       { w.key(k); w.b = append(w.b, "null"...) }

func (w *jw) boolean(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

// optStr writes v, or null when it is empty.
func (w *jw) optStr(k, v string) {
	if v == "" {
		w.null(k)
		return
	}
	w.str(k, v)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
