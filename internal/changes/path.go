package changes

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// isIdent reports whether a key can be written bare in a path: a letter or
// '_' followed by letters, digits, '_' or '-'.
func isIdent(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// JoinKey returns the path of key inside the value at path: after a dot
// when the key is an identifier (see isIdent), else as a JSON string in
// brackets ("metadata.tags", `metadata["odd key"]`). This is the field
// path syntax of changes and of every error that names a place inside a
// document.
func JoinKey(path, key string) string {
	if isIdent(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return path + "[" + string(appendString(nil, key)) + "]"
}

// joinIndex returns the path of element i of the array at path.
func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// joinIdentity returns the path of the element of the array at path whose
// identity field holds id (a string or a number): "services[name=api]",
// `services[id="3fa8-11"]`, "ports[id=8080]". A string that is an
// identifier (see isIdent) is written bare, any other as a JSON string; a
// number as its canonical text.
func joinIdentity(path, field string, id *value) string {
	return string(appendIdentity(append([]byte(path), '['), field, id)) + "]"
}

func appendIdentity(b []byte, field string, id *value) []byte {
	b = append(b, field...)
	b = append(b, '=')
	switch {
	case id.kind == kindNumber:
		return append(b, canonicalNumber(id.s)...)
	case isIdent(id.s):
		return append(b, id.s...)
	default:
		return appendString(b, id.s)
	}
}

// segment is one step of a path or of a rule pattern.
type segment struct {
	key     string // the key, lowercased in patterns
	index   int
	isIndex bool
	// Pattern segments only:
	deep     bool // "**": any number of segments
	glob     bool // key holds '*' wildcards; "*" alone also matches an index
	anyIndex bool // "[*]"
	// Field paths only: an array element named by its identity
	// ("[name=api]"). isIndex is set and index is -1, so that "*" and "[*]"
	// match it and a rule's "[3]" does not.
	id *identity
}

// identity names an array element by one of its fields.
type identity struct {
	field string
	value *value // a string or a number
}

var errPath = errors.New("not a field path")

// parsePath splits a path into segments. With pattern set it also accepts
// "**", '*' wildcards inside keys and "[*]".
func parsePath(s string, pattern bool) ([]segment, error) {
	var segs []segment
	i := 0
	afterDot := false
	for i < len(s) {
		switch {
		case s[i] == '[':
			if afterDot {
				return nil, errPath // "a.[0]"
			}
			seg, n, err := parseBracket(s[i:], pattern)
			if err != nil {
				return nil, err
			}
			segs = append(segs, seg)
			i += n
			if i < len(s) && s[i] != '.' && s[i] != '[' {
				return nil, errPath
			}
		case s[i] == '.':
			if i == 0 || afterDot || i == len(s)-1 {
				return nil, errPath
			}
			i++
			afterDot = true
			continue
		default:
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			tok := s[i:j]
			if len(segs) > 0 && !afterDot {
				return nil, errPath // "a[0]b"
			}
			seg := segment{key: tok}
			if pattern {
				switch {
				case tok == "**":
					seg = segment{deep: true}
				case strings.Contains(tok, "**"):
					return nil, errors.New("** must be a whole segment")
				case strings.Contains(tok, "*"):
					seg.glob = true
				}
				seg.key = strings.ToLower(seg.key)
			}
			segs = append(segs, seg)
			i = j
		}
		afterDot = false
	}
	return segs, nil
}

// parseBracket parses "[3]", "[*]" (patterns only) or a bracketed JSON
// string at the start of s and returns the segment and its length.
func parseBracket(s string, pattern bool) (segment, int, error) {
	end := 1
	if len(s) > 1 && s[1] == '"' {
		k, n, ok := parseQuoted(s[1:])
		if !ok {
			return segment{}, 0, errPath
		}
		end = n + 2 // after the closing quote, in s
		if end >= len(s) || s[end] != ']' {
			return segment{}, 0, errPath
		}
		if pattern {
			k = strings.ToLower(k)
		}
		return segment{key: k}, end + 1, nil
	}
	if !pattern {
		if seg, n, ok := parseIdentity(s); ok {
			return seg, n, nil
		}
	}
	j := strings.IndexByte(s, ']')
	if j < 0 {
		return segment{}, 0, errPath
	}
	body := s[1:j]
	if pattern && body == "*" {
		return segment{anyIndex: true, isIndex: true}, j + 1, nil
	}
	if body == "" || len(body) > 9 || strings.TrimLeft(body, "0123456789") != "" {
		return segment{}, 0, errPath
	}
	n, _ := strconv.Atoi(body)
	return segment{index: n, isIndex: true}, j + 1, nil
}

// parseQuoted parses the JSON string at the start of s and returns it and
// the position of its closing quote.
func parseQuoted(s string) (string, int, bool) {
	j := 1
	for j < len(s) && s[j] != '"' {
		if s[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(s) {
		return "", 0, false
	}
	var str string
	if json.Unmarshal([]byte(s[:j+1]), &str) != nil {
		return "", 0, false
	}
	return str, j, true
}

// parseIdentity parses an identity bracket, "[name=api]", `[name="a b"]` or
// "[id=42]", at the start of s and returns the segment and its length.
func parseIdentity(s string) (segment, int, bool) {
	eq := strings.IndexByte(s, '=')
	if eq < 0 || !isIdent(s[1:eq]) {
		return segment{}, 0, false
	}
	field, rest := s[1:eq], s[eq+1:]
	var id *value
	n := 0
	if strings.HasPrefix(rest, `"`) {
		str, j, ok := parseQuoted(rest)
		if !ok {
			return segment{}, 0, false
		}
		id, n = &value{kind: kindString, s: str}, j+1
	} else {
		n = strings.IndexByte(rest, ']')
		if n <= 0 {
			return segment{}, 0, false
		}
		tok := rest[:n]
		switch {
		case isIdent(tok):
			id = &value{kind: kindString, s: tok}
		case (tok[0] == '-' || tok[0] >= '0' && tok[0] <= '9') && json.Valid([]byte(tok)):
			id = &value{kind: kindNumber, s: tok}
		default:
			return segment{}, 0, false
		}
	}
	if n >= len(rest) || rest[n] != ']' {
		return segment{}, 0, false
	}
	return segment{isIndex: true, index: -1, id: &identity{field: field, value: id}}, eq + 1 + n + 1, true
}

// fieldSegments splits a change's field into segments, lowercased for rule
// matching. A field that is not a valid path (a sender may write anything)
// is split at every '.', bracket parts dropped, so that "env.API_KEY" still
// matches "env.*" however the rest is written.
func fieldSegments(field string) []segment {
	if field == "" {
		return nil
	}
	segs, err := parsePath(field, false)
	if err != nil {
		segs = segs[:0]
		for _, p := range strings.Split(field, ".") {
			if k, _, ok := strings.Cut(p, "["); ok {
				p = k
			}
			segs = append(segs, segment{key: p})
		}
	}
	for i := range segs {
		segs[i].key = strings.ToLower(segs[i].key)
	}
	return segs
}

// pattern is a parsed redaction rule (see matcher for the rules compiled
// together).
type pattern []segment

// segMatch reports whether one pattern segment matches one path segment.
func segMatch(ps, s segment) bool {
	switch {
	case ps.anyIndex:
		return s.isIndex
	case ps.isIndex:
		return s.isIndex && s.index == ps.index
	case ps.glob && ps.key == "*":
		return true // one segment: a key or an index
	case s.isIndex:
		return false
	case ps.glob:
		return globMatch(ps.key, s.key)
	default:
		return ps.key == s.key
	}
}

// globMatch reports whether name matches pat, where '*' in pat matches any
// run of bytes.
func globMatch(pat, name string) bool {
	px, nx := 0, 0
	starPx, starNx := -1, 0
	for px < len(pat) || nx < len(name) {
		if px < len(pat) {
			if pat[px] == '*' {
				starPx, starNx = px, nx
				px++
				continue
			}
			if nx < len(name) && pat[px] == name[nx] {
				px++
				nx++
				continue
			}
		}
		if starPx >= 0 && starNx < len(name) {
			starNx++
			px, nx = starPx+1, starNx
			continue
		}
		return false
	}
	return true
}
