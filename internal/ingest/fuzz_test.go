package ingest_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

// fuzzLimits are the default limits with a smaller batch, so the fuzzer
// reaches the too-large paths with small inputs.
func fuzzLimits() ingest.Limits {
	lim := ingest.DefaultLimits()
	lim.MaxBatchEvents = 8
	lim.MaxBatchBytes = 64 << 10
	lim.MaxEventBytes = 8 << 10
	lim.MaxMetadataBytes = 1 << 10
	return lim
}

// checkRefusal fails unless err is an EINVALID or ETOOLARGE *auditkeep.Error
// whose field starts with prefix.
func checkRefusal(t *testing.T, what string, err error, prefix string) {
	t.Helper()
	code := auditkeep.ErrorCode(err)
	if code != auditkeep.EINVALID && code != auditkeep.ETOOLARGE {
		t.Fatalf("%s: error %v has code %q; want invalid or too_large", what, err, code)
	}
	if f := auditkeep.ErrorField(err); f == "" || !strings.HasPrefix(f, prefix) {
		t.Fatalf("%s: error %v names field %q; want a field under %q", what, err, f, prefix)
	}
	if auditkeep.ErrorMessage(err) == "internal error" {
		t.Fatalf("%s: error %v shows a client no message", what, err)
	}
}

// checkEvent fails unless e is a normalised event: every rule of README.md's
// "Events" section that Validate enforces holds, and the event, sent again,
// validates to the same event.
func checkEvent(t *testing.T, e *auditkeep.Event, lim ingest.Limits) {
	t.Helper()
	switch {
	case e.ID == "":
		t.Fatalf("validated event has no id: %+v", e)
	case !auditkeep.ValidAction(e.Action):
		t.Fatalf("validated event has action %q", e.Action)
	case !slices.Contains(auditkeep.Types, e.Type):
		t.Fatalf("validated event has type %q", e.Type)
	case e.Actor.ID == "" || !slices.Contains(auditkeep.ActorTypes, e.Actor.Type):
		t.Fatalf("validated event has actor %+v", e.Actor)
	case e.Status != auditkeep.StatusSuccess && e.Status != auditkeep.StatusFailure:
		t.Fatalf("validated event has status %q", e.Status)
	case e.OccurredAt.IsZero():
		t.Fatalf("validated event has no occurred_at")
	case e.Tenant != "" || e.Seq != 0 || !e.ReceivedAt.IsZero() || e.Hash != "":
		t.Fatalf("validated event carries server fields: %+v", e)
	}
	again, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("validated event does not encode: %v", err)
	}
	if len(again) > lim.MaxEventBytes {
		return // normalisation may lengthen an event past the limit (escapes, defaults)
	}
	e2, err := ingest.Validate(again, "", now, lim)
	if err != nil {
		t.Fatalf("validated event, sent again, is refused: %v\n%s", err, again)
	}
	if e2.ID != e.ID || e2.Action != e.Action || e2.Type != e.Type || e2.Actor != e.Actor || e2.Status != e.Status ||
		!e2.OccurredAt.Equal(e.OccurredAt) || e2.Description != e.Description {
		t.Fatalf("validated event, sent again, changed:\nfirst  %+v\nsecond %+v", e, e2)
	}
}

// FuzzDecodeBatch checks that any request body is either refused with an
// error naming a field, or split into events that each validate or are
// refused the same way — never a panic or an internal error.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		`{"action":"token.create","actor":{"id":"usr_1"}}`,
		`{"events":[{"action":"a.b","actor":{"id":"u"}},{"action":"user.login","actor":{"id":"u2","type":"user"},"status":"failure"}]}`,
		`{"events":[]}`,
		`{"events":{}}`,
		`{"events":[1,"x",null]}`,
		`{"events":[{}],"extra":1}`,
		`[{"action":"a.b"}]`,
		`{"a":{"a":{"a":{"a":[[[[[]]]]]}}}}`,
		"{\"action\":\"a\xff\"}",
		`{"action":"a.b","actor":{"id":"u"}}{"action":"a.b","actor":{"id":"u"}}`,
	} {
		f.Add([]byte(s))
	}
	lim := fuzzLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, isBatch, err := ingest.DecodeBatch(body, lim)
		if err != nil {
			checkRefusal(t, "DecodeBatch", err, "")
			return
		}
		if len(raws) == 0 || len(raws) > lim.MaxBatchEvents || (!isBatch && len(raws) != 1) {
			t.Fatalf("DecodeBatch(%q) = %d events, batch %v; want 1..%d, and 1 unless a batch", body, len(raws), isBatch, lim.MaxBatchEvents)
		}
		for i, raw := range raws {
			if !json.Valid(raw) {
				t.Fatalf("DecodeBatch(%q): event %d is not JSON: %q", body, i, raw)
			}
			prefix := ""
			if isBatch {
				prefix = "events[" + itoa(i) + "]"
			}
			e, err := ingest.Validate(raw, prefix, now, lim)
			if err != nil {
				checkRefusal(t, "Validate", err, prefix)
				continue
			}
			checkEvent(t, e, lim)
		}
	})
}

// FuzzValidate checks Validate on any single event: a refusal names a field
// under the event's prefix; an accepted event is normalised and validates
// again to the same event.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"action":"token.create","actor":{"id":"usr_1"}}`,
		`{"id":"evt-1","occurred_at":"2026-11-26T09:00:00.123456789+01:00","action":"environment.update","type":"update",
		"actor":{"type":"api_token","id":"tok_1","name":"ci","email":"ci@example.com"},
		"target":{"type":"environment","id":"env_7","name":"production"},
		"scope":[{"type":"project","id":"prj_1","name":"Shop"},{"type":"environment","id":"env_7","name":"production"}],
		"team":"platform","source":"terraform","context":{"ip":"::ffff:203.0.113.7","user_agent":"Terraform/1.9"},
		"status":"failure","description":"d","changes":[{"field":"name","old":"prod","new":"production"},{"field":"x","new":1}],
		"before":{"name":"prod"},"snapshot":{ "name" : "production" },"metadata":{"k":"v"}}`,
		`{"action":"a.b","actor":{"id":"u"},"seq":5}`,
		`{"action":"a.b","actor":{"id":"a\u0000b"}}`,
		`{"action":"A.B","actor":{"id":"u"}}`,
		`{"action":"a.b","actor":{"id":"u"},"occurred_at":"yesterday"}`,
		`{"action":"a.b","actor":{"id":"u"},"changes":[{"field":"a","op":"moved"}]}`,
		`{"action":"a.b","actor":{"id":"u"},"target":{"type":"t","id":"1","deleted":true}}`,
		`{"action":"a.b","actor":{"id":"u"},"context":{"ip":"999.1.1.1"}}`,
		`{"action":"a.b","actor":{"id":"u"},"snapshot":"text","metadata":[1]}`,
		`null`,
		`"string"`,
	} {
		f.Add([]byte(s))
	}
	lim := fuzzLimits()
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // DecodeBatch refuses invalid JSON before Validate sees it
		}
		e, err := ingest.Validate(raw, "events[0]", now, lim)
		if err != nil {
			checkRefusal(t, "Validate", err, "events[0]")
			return
		}
		checkEvent(t, e, lim)
	})
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
