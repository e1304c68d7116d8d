package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// scanSamples are bodies on the edges of what splitBatch reads itself.
var scanSamples = []string{
	`{}`, ` { } `, `{"events":[{}]}`, `{"events":[1,"x",null,true,false,-0.5e+3,[]]}`,
	`{"events":[{"a":"\u00e9\n\"\\\/\b\f\r\t"}] }`, `{"events":[{"a":1}],"events":[{"b":2}]}`,
	`{"\u0065vents":[{}]}`, `{"Events":[{}]}`, `{"events":[],"x":1}`, `{"x":1,"events":[{}]}`,
	`{"events":null}`, `{"events":{}}`, `{"events":[{}],}`, `{"events":[{},]}`, `{"events":[{}]}x`,
	`{"events":[{}]}{}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":+1}`, `{"a":0x1}`,
	`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`, "{\"a\":\"\t\"}", `{"a":tru}`, `{"a":nul}`, `{"a":NaN}`,
	`{"a" 1}`, `{"a":1 "b":2}`, `{a:1}`, `{"a":[1 2]}`, `{"a":{"b"}}`, `{"a":"é"}`, `{"events":[` + "\n\t" + `{"a":1}` + "\r\n" + `]}`,
	strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64),
	strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65),
	`{"events":[` + strings.Repeat("[", 62) + strings.Repeat("]", 62) + `]}`,
	`{"events":[` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `]}`,
}

// checkSplit fails unless DecodeBatch, where splitBatch answers, gives what
// encoding/json gives.
func checkSplit(t *testing.T, body []byte, lim Limits) {
	t.Helper()
	if !utf8.Valid(body) {
		return
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return
	}
	events, isBatch, ok := splitBatch(body, lim)
	wantEvents, wantBatch, err := decodeBatchJSON(body, lim)
	if !ok {
		return
	}
	// splitBatch checks syntax and depth as checkJSON does.
	if err := checkJSON(body); err != nil {
		t.Fatalf("splitBatch(%q) split it; checkJSON refuses: %v", body, err)
	}
	if err != nil {
		t.Fatalf("splitBatch(%q) split it; encoding/json refuses: %v", body, err)
	}
	if isBatch != wantBatch || !reflect.DeepEqual(events, wantEvents) {
		t.Fatalf("splitBatch(%q) = %q, batch %v; encoding/json gives %q, batch %v", body, events, isBatch, wantEvents, wantBatch)
	}
}

func TestSplitBatch(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxBatchEvents = 3
	for _, s := range scanSamples {
		checkSplit(t, []byte(s), lim)
	}
	checkSplit(t, []byte(`{"events":[{},{},{}]}`), lim)
	checkSplit(t, []byte(`{"events":[{},{},{},{}]}`), lim)
	// The fuzz corpus.
	files, _ := filepath.Glob("testdata/fuzz/FuzzDecodeBatch/*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if body, err := fuzzCorpusBytes(b); err == nil {
			checkSplit(t, body, lim)
		}
	}
	// Well-formed bodies are split without encoding/json.
	for _, s := range []string{`{}`, `{"action":"a.b","actor":{"id":"u"}}`, `{"events":[{"a":"x"},{"b":[1,2,{"c":null}]}]}`} {
		if _, _, ok := splitBatch([]byte(s), lim); !ok {
			t.Errorf("splitBatch(%q) did not split it", s)
		}
	}
}

// fuzzCorpusBytes reads the []byte value of a "go test fuzz v1" file.
func fuzzCorpusBytes(b []byte) ([]byte, error) {
	_, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil, errors.New("no value")
	}
	lit, ok := bytes.CutPrefix(bytes.TrimSpace(rest), []byte("[]byte("))
	if !ok || !bytes.HasSuffix(lit, []byte(")")) {
		return nil, errors.New("not a []byte")
	}
	var s string
	if err := json.Unmarshal(bytes.TrimSuffix(lit, []byte(")")), &s); err != nil {
		return nil, err // Go quoting beyond JSON's: skip
	}
	return []byte(s), nil
}

func FuzzSplitBatch(f *testing.F) {
	for _, s := range scanSamples {
		f.Add([]byte(s))
	}
	lim := DefaultLimits()
	lim.MaxBatchEvents = 3
	f.Fuzz(func(t *testing.T, body []byte) { checkSplit(t, body, lim) })
}
