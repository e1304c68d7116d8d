package httpapi

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// csvJSON makes CSV rows (csvRow's cells) from events' JSON as encoding/json
// writes an auditkeep.Event, reading the members the columns need rather
// than decoding the whole event. Its buffers are reused from row to row.
type csvJSON struct {
	cells [][2]int // each column's cell in buf, by index in CSVColumns
	buf   []byte
	scope []byte // the scope path being built
}

// Columns of CSVColumns that csvJSON fills from nested members.
const (
	colSeq = iota
	colID
	colOccurredAt
	colReceivedAt
	colAction
	colType
	colStatus
	colActorType
	colActorID
	colActorName
	colActorEmail
	colTargetType
	colTargetID
	colTargetName
	colTargetDeleted
	colScope
	colTeam
	colSource
	colIP
	colUserAgent
	colDescription
	colChanges
	colHash
)

// Cells of top-level string members.
var csvStringMembers = map[string]int{
	"id": colID, "action": colAction, "type": colType, "status": colStatus,
	"team": colTeam, "source": colSource, "description": colDescription,
}

var falseJSON = []byte("false")

// afterColumns are the members of an event's JSON that follow every member
// a column reads (the largest ones): the reading stops at them.
var afterColumns = []string{"before", "snapshot", "metadata"}

// row fills row (len(CSVColumns)) with the cells csvRow writes for the
// event of js whose hash is hash (nil: none). ok is false when js is not
// in the form expected; row is then unspecified.
func (c *csvJSON) row(row []string, js []byte, hash []byte) (ok bool) {
	if len(c.cells) != len(CSVColumns) {
		c.cells = make([][2]int, len(CSVColumns))
	}
	clear(c.cells)
	c.buf = c.buf[:0]
	ok = ijson.EachMember(js, func(key, v []byte) bool {
		if col, isString := csvStringMembers[string(key)]; isString {
			return c.text(col, v)
		}
		switch string(key) {
		case "seq":
			return c.raw(colSeq, v)
		case "occurred_at":
			return c.time(colOccurredAt, v)
		case "received_at":
			return c.time(colReceivedAt, v)
		case "actor":
			return ijson.EachMember(v, func(key, v []byte) bool {
				switch string(key) {
				case "type":
					return c.text(colActorType, v)
				case "id":
					return c.text(colActorID, v)
				case "name":
					return c.text(colActorName, v)
				case "email":
					return c.text(colActorEmail, v)
				}
				return true
			})
		case "target":
			c.raw(colTargetDeleted, falseJSON)
			return ijson.EachMember(v, func(key, v []byte) bool {
				switch string(key) {
				case "type":
					return c.text(colTargetType, v)
				case "id":
					return c.text(colTargetID, v)
				case "name":
					return c.text(colTargetName, v)
				case "deleted":
					return c.raw(colTargetDeleted, v)
				}
				return true
			})
		case "scope":
			return c.scopePath(v)
		case "context":
			return ijson.EachMember(v, func(key, v []byte) bool {
				switch string(key) {
				case "ip":
					return c.text(colIP, v)
				case "user_agent":
					return c.text(colUserAgent, v)
				}
				return true
			})
		case "changes":
			return c.raw(colChanges, v)
		}
		return true
	}, afterColumns...)
	if !ok {
		return false
	}
	if hash != nil {
		start := len(c.buf)
		c.buf = hex.AppendEncode(c.buf, hash)
		c.cells[colHash] = [2]int{start, len(c.buf)}
	}
	all := string(c.buf) // one string for the row's cells
	for i, cell := range c.cells {
		row[i] = SafeCell(all[cell[0]:cell[1]])
	}
	return true
}

// raw sets column col to the bytes v.
func (c *csvJSON) raw(col int, v []byte) bool {
	start := len(c.buf)
	c.buf = append(c.buf, v...)
	c.cells[col] = [2]int{start, len(c.buf)}
	return true
}

// text sets column col to the text of the JSON string v.
func (c *csvJSON) text(col int, v []byte) bool {
	start := len(c.buf)
	text, err := ijson.Text(v)
	if err != nil {
		return false
	}
	c.buf = append(c.buf, text...)
	c.cells[col] = [2]int{start, len(c.buf)}
	return true
}

// time sets column col to the time of the JSON string v in UTC, as
// RFC 3339 with nanoseconds.
func (c *csvJSON) time(col int, v []byte) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || bytes.IndexByte(v, '\\') >= 0 {
		return false
	}
	s := v[1 : len(v)-1]
	if len(s) > 0 && s[len(s)-1] == 'Z' {
		// encoding/json writes a time of offset 0 as its UTC form.
		return c.raw(col, s)
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return false
	}
	start := len(c.buf)
	c.buf = t.UTC().AppendFormat(c.buf, time.RFC3339Nano)
	c.cells[col] = [2]int{start, len(c.buf)}
	return true
}

// scopePath sets the scope column to auditkeep.ScopePath of the JSON array
// of scope entries v.
func (c *csvJSON) scopePath(v []byte) bool {
	if len(v) < 2 || v[0] != '[' {
		return false
	}
	start := len(c.buf)
	first := true
	for i := 1; i < len(v)-1; {
		end := ijson.SkipValue(v, i)
		if end < 0 {
			return false
		}
		if !first {
			c.buf = append(c.buf, '/')
		}
		first = false
		var typ, id []byte
		if !ijson.EachMember(v[i:end], func(key, v []byte) bool {
			switch string(key) {
			case "type":
				typ = v
			case "id":
				id = v
			}
			return true
		}) {
			return false
		}
		for k, q := range [...][]byte{typ, id} {
			if k == 1 {
				c.buf = append(c.buf, ':')
			}
			if q == nil {
				continue
			}
			text, err := ijson.Text(q)
			if err != nil {
				return false
			}
			c.buf = append(c.buf, text...)
		}
		if i = end; v[i] == ',' {
			i++
		}
	}
	c.cells[colScope] = [2]int{start, len(c.buf)}
	return true
}

// csvRowJSON fills row from the event's JSON js, through c when it can,
// else by decoding the event.
func csvRowJSON(c *csvJSON, row []string, js, hash []byte) error {
	if c.row(row, js, hash) {
		return nil
	}
	var e auditkeep.Event
	if err := json.Unmarshal(js, &e); err != nil {
		return err
	}
	if hash != nil {
		e.Hash = hex.EncodeToString(hash)
	}
	csvRow(row, &e)
	return nil
}
