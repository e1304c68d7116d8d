package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/auditkeep/auditkeep"
)

// comparePage compares the snapshots of two events a person picked.
type comparePage struct {
	base
	IDs            [2]string // as entered
	Earlier, Later *row
	SameTarget     bool
	Compare        []changeRow
	CompareNote    string
	Error          string
	BackURL        string
}

// handleCompare serves /compare?id=A&id=B: the differences between two
// events' snapshots, from the earlier to the later in time, computed here
// with the session's rights (GET /v1/events/{id}/diff needs a read key,
// which a viewer token is not).
func (c *Console) handleCompare(w http.ResponseWriter, r *http.Request) {
	v, ok := c.identify(w, r)
	if !ok {
		return
	}
	vt := v.viewerToken
	p := comparePage{base: c.base(v, "Compare events"), BackURL: link("/", url.Values{}, vt)}
	var ids []string
	for _, id := range r.URL.Query()["id"] {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	copy(p.IDs[:], ids)
	status := http.StatusOK
	switch len(ids) {
	case 0:
		p.CompareNote = "Pick two events to compare: tick them in the list, or enter their IDs."
	case 1:
		p.CompareNote = "Enter the ID of the event to compare with."
	case 2:
		events := make([]*auditkeep.Event, 2)
		for i, id := range ids {
			e, err := c.b.Get(r.Context(), v.id, id)
			if code := auditkeep.ErrorCode(err); code == auditkeep.ENOTFOUND || code == auditkeep.EINVALID {
				status = c.b.Status(err)
				p.Error = "No event with ID " + id + "."
				break
			} else if err != nil {
				c.fail(w, r, v, err)
				return
			}
			events[i] = e
		}
		if p.Error != "" {
			break
		}
		a, b := events[0], events[1]
		if after(a, b) {
			a, b = b, a
		}
		ra, rb := newRow(a, vt), newRow(b, vt)
		p.Earlier, p.Later = &ra, &rb
		p.SameTarget = a.Target != nil && b.Target != nil && a.Target.Type == b.Target.Type && a.Target.ID == b.Target.ID
		p.Compare, p.CompareNote = compareSnapshots(a, b)
	default:
		status = http.StatusBadRequest
		p.Error = "Pick exactly two events to compare; " + strconv.Itoa(len(ids)) + " were picked."
	}
	c.render(w, r, status, "compare", p, vt != "")
}
