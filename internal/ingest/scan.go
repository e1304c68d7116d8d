package ingest

import (
	"bytes"
	"encoding/json"
)

// This file reads request bodies in one pass over their bytes. It accepts
// only what encoding/json accepts; for anything else, or anything unusual,
// the callers fall back to encoding/json, whose answers (and error
// messages) stay the reference.

// splitBatch splits a body (valid UTF-8, trimmed, starting with '{') as
// DecodeBatch does, checking JSON syntax and nesting depth on the way. ok is
// false when the body is not a well-formed batch or event that it can
// split without help: invalid or too deeply nested JSON, keys with escapes
// or given twice, "events" beside other keys or not a non-empty array of at
// most lim.MaxBatchEvents values. The events are slices of body.
func splitBatch(body []byte, lim Limits) (events []json.RawMessage, isBatch, ok bool) {
	i := skipSpace(body, 1)
	if i < len(body) && body[i] == '}' {
		return []json.RawMessage{body}, false, skipSpace(body, i+1) == len(body)
	}
	others := false
	for {
		k := scanString(body, i)
		if k < 0 {
			return nil, false, false
		}
		key := body[i+1 : k-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return nil, false, false
		}
		i = skipSpace(body, k)
		if i >= len(body) || body[i] != ':' {
			return nil, false, false
		}
		i = skipSpace(body, i+1)
		if string(key) == "events" {
			if isBatch || i >= len(body) || body[i] != '[' {
				return nil, false, false
			}
			isBatch = true
			i = skipSpace(body, i+1)
			if i < len(body) && body[i] == ']' {
				return nil, false, false // empty
			}
			for {
				end := scanValue(body, i, 2)
				if end < 0 {
					return nil, false, false
				}
				events = append(events, body[i:end:end])
				i = skipSpace(body, end)
				if i < len(body) && body[i] == ',' {
					i = skipSpace(body, i+1)
					continue
				}
				if i < len(body) && body[i] == ']' {
					i++
					break
				}
				return nil, false, false
			}
		} else {
			others = true
			if i = scanValue(body, i, 1); i < 0 {
				return nil, false, false
			}
		}
		i = skipSpace(body, i)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
			continue
		}
		if i >= len(body) || body[i] != '}' || skipSpace(body, i+1) != len(body) {
			return nil, false, false
		}
		break
	}
	switch {
	case !isBatch:
		return []json.RawMessage{body}, false, true
	case others || len(events) > lim.MaxBatchEvents:
		return nil, false, false
	}
	return events, true, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// scanValue returns the end of the JSON value at b[i], which sits inside
// depth objects and arrays, or -1 when there is no valid value there or it
// nests deeper than maxDepth.
func scanValue(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{':
		if depth++; depth > maxDepth {
			return -1
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1
		}
		for {
			if i = scanString(b, i); i < 0 {
				return -1
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return -1
			}
			if i = scanValue(b, skipSpace(b, i+1), depth); i < 0 {
				return -1
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
			case '}':
				return i + 1
			default:
				return -1
			}
		}
	case c == '[':
		if depth++; depth > maxDepth {
			return -1
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1
		}
		for {
			if i = scanValue(b, i, depth); i < 0 {
				return -1
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
			case ']':
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

// scanString returns the end of the JSON string at b[i] (after its closing
// quote), or -1. The bytes are valid UTF-8 already.
func scanString(b []byte, i int) int {
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
