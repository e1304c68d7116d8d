package web

import (
	"net/url"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// The console's URL parameters are the API's filter parameters (so that
// /?target_id=env_7 is a view), plus:
//
//	range   24h, 7d, 30d, or custom (then from and to, UTC)
//	s1..s3  the scope pickers (project → environment → service), each "type:id";
//	        together they make the scope filter
var passThrough = []string{"type", "action", "actor", "actor_type", "target_type", "target_id", "target",
	"team", "source", "status", "ip", "q", "cursor"}

// Ranges of the time picker.
var ranges = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// form is the console's filter form, as the URL gives it.
type form struct {
	Range    string
	From, To string // as typed: RFC 3339, a date, or a datetime-local value (UTC)
	Scope    [3]string
	Values   url.Values // the pass-through parameters
	Live     bool       // live=1: the first page follows new events
}

func (f form) Get(name string) string { return f.Values.Get(name) }

// parseForm reads the console's URL parameters.
func parseForm(q url.Values) form {
	f := form{Range: q.Get("range"), From: q.Get("from"), To: q.Get("to"), Values: url.Values{}, Live: q.Get("live") == "1"}
	for _, name := range passThrough {
		for _, v := range q[name] {
			if v = strings.TrimSpace(v); v != "" {
				f.Values.Add(name, v)
			}
		}
	}
	if f.Range == "" && (f.From != "" || f.To != "") {
		f.Range = "custom"
	}
	if f.Range != "custom" {
		f.From, f.To = "", ""
	}
	levels := []string{q.Get("s1"), q.Get("s2"), q.Get("s3")}
	if levels[0] == "" && q.Get("scope") != "" {
		levels = strings.SplitN(q.Get("scope"), "/", 3)
	}
	for i := 0; i < len(levels) && i < 3; i++ {
		if levels[i] == "" {
			break
		}
		f.Scope[i] = levels[i]
	}
	return f
}

// scopePath returns the scope filter of the pickers ("" for none).
func (f form) scopePath() string {
	var parts []string
	for _, s := range f.Scope {
		if s == "" {
			break
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "/")
}

// api returns the API filter parameters of the form. Returns EINVALID naming
// from, to or range for a bad time.
func (f form) api(now time.Time) (url.Values, error) {
	q := url.Values{}
	for k, v := range f.Values {
		q[k] = append([]string(nil), v...)
	}
	if s := f.scopePath(); s != "" {
		q.Set("scope", s)
	}
	switch f.Range {
	case "", "any":
	case "custom":
		for name, v := range map[string]string{"from": f.From, "to": f.To} {
			if v == "" {
				continue
			}
			t, err := parseFormTime(v)
			if err != nil {
				return nil, auditkeep.FieldErrorf(name, "%s %q is not a time such as 2026-11-26T09:00 (UTC) or a date", name, v)
			}
			if len(v) == len(time.DateOnly) {
				q.Set(name, v) // the API reads a date as "to" as the whole day
			} else {
				q.Set(name, t.Format(time.RFC3339))
			}
		}
	default:
		d, ok := ranges[f.Range]
		if !ok {
			return nil, auditkeep.FieldErrorf("range", "range must be 24h, 7d, 30d or custom")
		}
		q.Set("from", now.Add(-d).UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	return q, nil
}

// parseFormTime reads RFC 3339, a date, or a datetime-local value taken as UTC.
func parseFormTime(v string) (time.Time, error) {
	if t, err := auditkeep.ParseTime(v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, auditkeep.FieldErrorf("", "bad time")
}

// link builds a console URL from parameters, carrying a viewer token.
func link(path string, q url.Values, viewerToken string) string {
	if viewerToken != "" {
		q.Set("viewer_token", viewerToken)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// quick returns the URL of the events view filtered by pairs of name, value.
func quick(viewerToken string, pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return ""
		}
		q.Set(pairs[i], pairs[i+1])
	}
	return link("/", q, viewerToken)
}

// consoleQuery returns the console parameters reproducing the form (for
// links such as "Load more" and export).
func (f form) consoleQuery() url.Values {
	q := url.Values{}
	for k, v := range f.Values {
		q[k] = append([]string(nil), v...)
	}
	if f.Range != "" {
		q.Set("range", f.Range)
	}
	if f.From != "" {
		q.Set("from", f.From)
	}
	if f.To != "" {
		q.Set("to", f.To)
	}
	if s := f.scopePath(); s != "" {
		q.Set("scope", s)
	}
	if f.Live {
		q.Set("live", "1")
	}
	return q
}
