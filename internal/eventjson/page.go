package eventjson

import (
	"encoding/json"
	"fmt"

	"github.com/auditkeep/auditkeep"
)

// EncodeStored returns the JSON a store keeps of e: encoding/json's, with
// Tenant, Seq and Target.Deleted cleared (the first two come from the
// row, the last is computed on read). e is not changed.
func EncodeStored(e *auditkeep.Event) ([]byte, error) {
	c := *e
	c.Tenant, c.Seq = "", 0
	if c.Target != nil && c.Target.Deleted {
		t := *c.Target
		t.Deleted = false
		c.Target = &t
	}
	return json.Marshal(&c)
}

// Page holds the stored JSON of a page of one tenant's events as a store
// reads them, one after another in Raw, and writes each event's JSON as
// read. Its buffers are reused from page to page.
type Page struct {
	Tenant     string
	TenantJSON []byte // Tenant as a JSON string
	Raw        []byte // the page's stored JSON; a store appends to it, then calls Add
	out        []byte // the JSON last returned by JSON
}

// NewPage returns an empty page of the tenant's events.
func NewPage(tenant string) (*Page, error) {
	tj, err := json.Marshal(tenant)
	if err != nil {
		return nil, err
	}
	return &Page{Tenant: tenant, TenantJSON: tj}, nil
}

// PageEvent is one event of a Page.
type PageEvent struct {
	Seq        int64
	Deleted    bool // its target is deleted
	start, end int  // its stored JSON: Raw[start:end]
	shape      Shape
	spliced    bool             // the stored JSON is spliced; otherwise e is encoded
	e          *auditkeep.Event // when not spliced
}

// Add makes ev the event seq whose stored JSON the store has just
// appended to p.Raw, from start on. JSON that is not spliced (see
// ParseStored) is decoded, and removed from Raw.
func (p *Page) Add(ev *PageEvent, seq int64, start int) error {
	*ev = PageEvent{Seq: seq, Deleted: ev.Deleted, start: start, end: len(p.Raw)}
	js := p.Raw[start:]
	if ev.shape, ev.spliced = ParseStored(js); ev.spliced {
		return nil
	}
	e := &auditkeep.Event{}
	if err := json.Unmarshal(js, e); err != nil {
		return fmt.Errorf("stored event: %w", err)
	}
	e.Tenant, e.Seq = p.Tenant, seq
	ev.e, ev.start, ev.end = e, 0, 0
	p.Raw = p.Raw[:start]
	return nil
}

// Target returns the type and id of ev's target; ok is false when it has
// none. The bytes may be the page's: they are not to be changed.
func (p *Page) Target(ev *PageEvent) (typ, id []byte, ok bool, err error) {
	if !ev.spliced {
		if ev.e.Target == nil {
			return nil, nil, false, nil
		}
		return []byte(ev.e.Target.Type), []byte(ev.e.Target.ID), true, nil
	}
	return ev.shape.Target(p.Raw[ev.start:ev.end])
}

// JSON returns the JSON of ev as read, and where its hash belongs (see
// AppendSpliced). The JSON is valid until the next call.
func (p *Page) JSON(ev *PageEvent) ([]byte, int, error) {
	if !ev.spliced {
		return Encode(ev.e, ev.Deleted)
	}
	var hashAt int
	p.out, hashAt = AppendSpliced(p.out[:0], p.Raw[ev.start:ev.end], &ev.shape, p.TenantJSON, ev.Seq, ev.Deleted)
	return p.out, hashAt, nil
}

// Spliced reports whether ev's JSON is spliced from its stored JSON rather
// than encoded from the decoded event.
func (ev *PageEvent) Spliced() bool { return ev.spliced }
