package cloudevents

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat/compattest"
)

// TestGolden maps the structured events (NAME.ce.json), batches
// (NAME.batch.json) and binary-mode requests (NAME.http) of testdata/ and
// compares each with NAME.golden.
func TestGolden(t *testing.T) {
	compattest.Golden(t, ".ce.json", func(body []byte) (any, error) { return Structured(body) })
	compattest.Golden(t, ".batch.json", func(body []byte) (any, error) { return Batch(body) })
	compattest.Golden(t, ".http", func(raw []byte) (any, error) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(req.Body)
		return Binary(req.Header, body)
	})
}

func TestMode(t *testing.T) {
	for ct, want := range map[string]string{
		"application/cloudevents+json; charset=UTF-8": "structured",
		"application/cloudevents-batch+json":          "batch",
		"application/json":                            "binary",
		"":                                            "binary",
	} {
		if got := Mode(ct); got != want {
			t.Errorf("Mode(%q) = %q; want %q", ct, got, want)
		}
	}
}

func TestRefuses(t *testing.T) {
	ok := `"specversion":"1.0","id":"1","source":"/s"`
	tests := []struct{ body, field string }{
		{`[]`, "body"},
		{`{"specversion":"1.0","id":"1","type":"a.b"}`, "source"},
		{`{"specversion":"0.3","id":"1","source":"/s","type":"a.b"}`, "specversion"},
		{`{` + ok + `,"type":"has space"}`, "type"},
		{`{` + ok + `,"type":"a.b","time":"noon"}`, "time"},
		{`{` + ok + `,"type":"a.b","data":{},"data_base64":"aGk="}`, "data"},
		{`{` + ok + `,"type":"a.b","data":{"metadata":[1]}}`, "data.metadata"},
		{`{` + ok + `,"type":"a.b","data":{"x":1,"x":2}}`, "data.x"},
		{`{` + ok + `,"type":"a.b","ext":{"a":1}}`, "ext"},
		{`{` + ok + `,"type":"a.b","Ext-1":"x"}`, "Ext-1"},
		{`{` + ok + `,"type":"a.b","":"x"}`, "body"},
	}
	for _, tt := range tests {
		_, err := Structured([]byte(tt.body))
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tt.field {
			t.Errorf("Structured(%s) = %v (field %q); want invalid naming %q", tt.body, err, auditkeep.ErrorField(err), tt.field)
		}
	}
	if _, err := Batch([]byte(`[{` + ok + `,"type":"a.b"},{` + ok + `}]`)); auditkeep.ErrorField(err) != "events[1].type" {
		t.Errorf("Batch = %v; want events[1].type", err)
	}
	h := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"/s"}, "Ce-Type": {"a.b"}, "Ce-Time": {"noon"}}
	if _, err := Binary(h, nil); auditkeep.ErrorField(err) != "ce-time" {
		t.Errorf("Binary with a bad time = %v; want ce-time", err)
	}
	h.Del("Ce-Time")
	h.Set("Content-Type", "application/json")
	if _, err := Binary(h, []byte(`{"a":`)); auditkeep.ErrorField(err) != "body" {
		t.Errorf("Binary with a bad body = %v; want body", err)
	}
	// The same source and id are the same event, whatever the mode.
	a, _ := Structured([]byte(`{` + ok + `,"type":"a.b"}`))
	h.Del("Content-Type")
	b, _ := Binary(h, nil)
	var ea, eb struct{ ID string }
	json.Unmarshal(a, &ea)
	json.Unmarshal(b, &eb)
	if ea.ID == "" || ea.ID != eb.ID {
		t.Errorf("ids %q and %q; want one id for source and id", ea.ID, eb.ID)
	}
}
