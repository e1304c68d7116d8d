package ingest

import (
	"bytes"
	"encoding/json"

	"github.com/auditkeep/auditkeep/internal/ijson"
)

// This file reads request bodies in one pass over their bytes, with
// ijson's scanners. It accepts only what encoding/json accepts; for
// anything else, or anything unusual, the callers fall back to
// encoding/json, whose answers (and error messages) stay the reference.

// splitBatch splits a body (valid UTF-8, trimmed, starting with '{') as
// DecodeBatch does, checking JSON syntax and nesting depth on the way. ok is
// false when the body is not a well-formed batch or event that it can
// split without help: invalid or too deeply nested JSON, keys with escapes
// or given twice, "events" beside other keys or not a non-empty array of at
// most lim.MaxBatchEvents values. The events are slices of body.
func splitBatch(body []byte, lim Limits) (events []json.RawMessage, isBatch, ok bool) {
	i := ijson.Space(body, 1)
	if i < len(body) && body[i] == '}' {
		return []json.RawMessage{body}, false, ijson.Space(body, i+1) == len(body)
	}
	others := false
	for {
		k := ijson.ScanString(body, i)
		if k < 0 {
			return nil, false, false
		}
		key := body[i+1 : k-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return nil, false, false
		}
		i = ijson.Space(body, k)
		if i >= len(body) || body[i] != ':' {
			return nil, false, false
		}
		i = ijson.Space(body, i+1)
		if string(key) == "events" {
			if isBatch || i >= len(body) || body[i] != '[' {
				return nil, false, false
			}
			isBatch = true
			i = ijson.Space(body, i+1)
			if i < len(body) && body[i] == ']' {
				return nil, false, false // empty
			}
			for {
				end := ijson.ScanValue(body, i, 2, maxDepth)
				if end < 0 {
					return nil, false, false
				}
				events = append(events, body[i:end:end])
				i = ijson.Space(body, end)
				if i < len(body) && body[i] == ',' {
					i = ijson.Space(body, i+1)
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
			if i = ijson.ScanValue(body, i, 1, maxDepth); i < 0 {
				return nil, false, false
			}
		}
		i = ijson.Space(body, i)
		if i < len(body) && body[i] == ',' {
			i = ijson.Space(body, i+1)
			continue
		}
		if i >= len(body) || body[i] != '}' || ijson.Space(body, i+1) != len(body) {
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
