package github

import (
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat/compattest"
)

// TestGolden maps each testdata/NAME.hec, a body as GitHub's stream sends
// it, and compares the events with NAME.golden.
func TestGolden(t *testing.T) {
	compattest.Golden(t, ".hec", func(body []byte) (any, error) {
		envs, err := Decode(body)
		if err != nil {
			return nil, err
		}
		var events []*auditkeep.Event
		for i, env := range envs {
			e, err := Map(i, env)
			if err != nil {
				return nil, err
			}
			events = append(events, e)
		}
		return events, nil
	})
}

// TestDecodeRefuses: each malformed body is refused with HEC's code, the
// index of the envelope at fault and a field.
func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		body  string
		code  int
		event int
		field string
	}{
		{"", CodeNoData, -1, "body"},
		{"  \n", CodeNoData, -1, "body"},
		{`{"event":{"action":"a.b"}} {"event":`, CodeInvalidFormat, 1, "events[1]"},
		{`[{"event":{}}]`, CodeInvalidFormat, 0, "events[0]"},
		{`{"event":{"action":"a.b"}}{"time":1}`, CodeEventRequired, 1, "events[1].event"},
		{`{"event":null}`, CodeEventRequired, 0, "events[0].event"},
		{`{"event":""}`, CodeEventBlank, 0, "events[0].event"},
		{`{"event":{}}`, CodeEventBlank, 0, "events[0].event"},
		{`{"event":"hello"}`, CodeInvalidFormat, 0, "events[0].event"},
		{`{"event":[1]}`, CodeInvalidFormat, 0, "events[0].event"},
		{`{"event":{"actor":"octocat"}}`, CodeInvalidFormat, 0, "events[0].event.action"},
		{`{"event":{"action":"a.b","@timestamp":"yesterday"}}`, CodeInvalidFormat, 0, "events[0].event.@timestamp"},
		{`{"event":{"action":"a.b","@timestamp":-5}}`, CodeInvalidFormat, 0, "events[0].event.@timestamp"},
		{`{"time":"soon","event":{"action":"a.b"}}`, CodeInvalidFormat, 0, "events[0].event.time"},
		{`{"event":{"action":"a.b","org":"x","org":"y"}}`, CodeInvalidFormat, 0, "events[0].event.org"},
		{`{"event":{"action":"a.b","repo_id":9007199254740993}}`, CodeInvalidFormat, 0, "events[0].event.repo_id"},
	}
	for _, tt := range tests {
		err := func() error {
			envs, err := Decode([]byte(tt.body))
			if err != nil {
				return err
			}
			for i, env := range envs {
				if _, err := Map(i, env); err != nil {
					return err
				}
			}
			return nil
		}()
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("Decode+Map(%q) = %v; want a refusal", tt.body, err)
			continue
		}
		if e.Code != tt.code || e.Event != tt.event || e.Err.Field != tt.field || e.Err.Code != auditkeep.EINVALID {
			t.Errorf("Decode+Map(%q) = code %d event %d field %q (%v); want %d %d %q", tt.body, e.Code, e.Event, e.Err.Field, e.Err, tt.code, tt.event, tt.field)
		}
	}
}
