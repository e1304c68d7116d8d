package ijson_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep/internal/ijson"
)

// scanSamples are texts on the edges of what the scanners read.
var scanSamples = []string{
	`{}`, ` { } `, `{"events":[{}]}`, `{"events":[1,"x",null,true,false,-0.5e+3,[]]}`,
	`{"events":[{"a":"\u00e9\n\"\\\/\b\f\r\t"}] }`, `{"events":[{"a":1}],"events":[{"b":2}]}`,
	`{"\u0065vents":[{}]}`, `{"events":[{}],}`, `{"events":[{},]}`, `{"events":[{}]}x`,
	`{"events":[{}]}{}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":+1}`, `{"a":0x1}`,
	`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`, "{\"a\":\"\t\"}", `{"a":tru}`, `{"a":nul}`, `{"a":NaN}`,
	`{"a" 1}`, `{"a":1 "b":2}`, `{a:1}`, `{"a":[1 2]}`, `{"a":{"b"}}`, `{"a":"é"}`, "[\n\t{\"a\":1}\r\n]",
	" [ 1 , \"a b\\\" c\" ,{ \"k\" :\t\"\\\\\" } ]\n", `"\\"`, `" x "`, `5`, `-0`, `"x"`, `null`, ``, `"`, `{"a":"\\\""}`,
	strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64),
	strings.Repeat("[", 65) + strings.Repeat("]", 65),
}

func TestScan(t *testing.T) {
	for _, s := range scanSamples {
		checkScan(t, []byte(s))
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range scanSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(checkScan)
}

// checkScan fails unless the scanners agree with encoding/json on b.
func checkScan(t *testing.T, b []byte) {
	if !utf8.Valid(b) {
		return
	}
	// ScanValue accepts what json.Valid accepts, within its depth.
	d := ijson.Depth(b)
	start := ijson.Space(b, 0)
	end := ijson.ScanValue(b, start, 0, max(d, 1))
	valid := end >= 0 && ijson.Space(b, end) == len(b)
	if want := json.Valid(b); valid != want {
		t.Fatalf("ScanValue(%q) valid = %v; json.Valid says %v", b, valid, want)
	}
	if !valid {
		return
	}
	if d > 0 && ijson.ScanValue(b, start, 0, d-1) >= 0 {
		t.Fatalf("ScanValue(%q) with depth %d accepted it; Depth says %d", b, d-1, d)
	}
	// Compact writes what json.Compact writes.
	var want bytes.Buffer
	if err := json.Compact(&want, b); err != nil {
		t.Fatal(err)
	}
	js := ijson.Compact(nil, b)
	if !bytes.Equal(js, want.Bytes()) {
		t.Fatalf("Compact(%q) = %q; want %q", b, js, want.Bytes())
	}
	// SkipValue steps over the value, compact or not.
	if got := ijson.SkipValue(js, 0); got != len(js) {
		t.Fatalf("SkipValue(%q) = %d; want %d", js, got, len(js))
	}
	if got := ijson.SkipValue(b, start); got < 0 || ijson.Space(b, got) != len(b) {
		t.Fatalf("SkipValue(%q, %d) = %d; want the end of the value", b, start, got)
	}
	switch js[0] {
	case '"':
		var s string
		if err := json.Unmarshal(js, &s); err != nil {
			t.Fatal(err)
		}
		if text, err := ijson.Text(js); err != nil || string(text) != s {
			t.Fatalf("Text(%q) = %q, %v; want %q", js, text, err, s)
		}
	case '{':
		// EachMember and Member see the members json.Decoder sees.
		var keys []string
		var values [][]byte
		if !ijson.EachMember(js, func(k, v []byte) bool {
			keys, values = append(keys, string(k)), append(values, v)
			return true
		}) {
			t.Fatalf("EachMember(%q) refused it", js)
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.Token()
		for i := 0; dec.More(); i++ {
			k, _ := dec.Token()
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			quoted, _ := json.Marshal(k)
			if i >= len(keys) || !bytes.Equal(ijson.Compact(nil, v), values[i]) {
				t.Fatalf("EachMember(%q) member %d = %v; want %s: %s", js, i, keys, k, v)
			}
			if text, err := ijson.Text([]byte(`"` + keys[i] + `"`)); err != nil || string(text) != k.(string) {
				t.Fatalf("EachMember(%q) key %q; want %s", js, keys[i], quoted)
			}
			if m, ok := ijson.Member(js, keys[i]); !ok || !bytes.Equal(m, values[slices.Index(keys, keys[i])]) {
				t.Fatalf("Member(%q, %q) = %q, %v", js, keys[i], m, ok)
			}
		}
	}
}
