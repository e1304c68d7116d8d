package ledger

import (
	"bytes"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/demo"
)

// jcsSeeds are inputs that exercise every branch of the canonicalizer.
var jcsSeeds = []string{
	`{"b":[{"z":1,"y":{"d":4,"c":3}}],"a":{}}`,
	` { "a" : [ 1 , 2.50 , -0 , -0.0, 1e2, 1E+2, 0.1, 123456789012345, 1234567890123456, -7 ] , "b" : "x" } `,
	"{\"\\u20ac\":1,\"\\r\":2,\"\\ufb33\":3,\"1\":4,\"\\ud83d\\ude00\":5,\"\\u0080\":6,\"\\u00f6\":7}",
	"{\"é\":1,\"e\":2,\"\U0001F600\":3,\"\uFB33\":4}",
	`"\b\t\n\f\r\u0001\u001f\u007f <>&\u2028\/"`,
	"\"a\xffb\"",
	`"\ud800"`,
	`[[],{},[[]],{"a":{"b":{"c":[]}}}]`,
	`{"a":1,"a":2}`,
	`{"a\u0041":1,"aA":2}`,
	`{"x":"a\"b","y":true,"z":null,"w":false}`,
	`1e400`,
	`[1,]`,
	`{"a"}`,
	`nul`,
	``,
	`{"k": [ "\u00e9", "é" ] }`,
	`-0`,
	`0`,
	`00`,
	`[true,false,null]`,
}

// FuzzCanonicalJSONReference holds the canonicalizer equal to the reference
// implementation (decode to values, encode again) on any input: the same
// output, or an error from both.
func FuzzCanonicalJSONReference(f *testing.F) {
	for _, s := range jcsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCanonical(t, data)
	})
}

func checkCanonical(t *testing.T, data []byte) {
	t.Helper()
	got, err := CanonicalJSON(data)
	want, werr := referenceCanonical(data)
	if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("CanonicalJSON(%q) = %q, %v; the reference gives %q, %v", data, got, err, want, werr)
	}
}

// TestCanonicalJSONMatchesReference runs the seeds and the raw documents
// of realistic events through both implementations.
func TestCanonicalJSONMatchesReference(t *testing.T) {
	for _, s := range jcsSeeds {
		checkCanonical(t, []byte(s))
	}
	g := demo.New(3, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), demo.Options{EventsPerDay: 4000})
	for range 3000 {
		e := g.Next()
		for _, raw := range [][]byte{e.Before, e.Snapshot, e.Metadata} {
			if len(raw) > 0 {
				checkCanonical(t, raw)
			}
		}
	}
}

// reused returns appendCanonical into one reused buffer, as leaf hashing
// calls it.
func reused() func([]byte) ([]byte, error) {
	var buf []byte
	return func(d []byte) ([]byte, error) {
		var err error
		buf, err = appendCanonical(buf[:0], d)
		return buf, err
	}
}

// BenchmarkCanonicalJSON canonicalizes the raw documents of realistic
// events (reference: the implementation that decodes to values first).
func BenchmarkCanonicalJSON(b *testing.B) {
	g := demo.New(3, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), demo.Options{EventsPerDay: 4000})
	var docs [][]byte
	size := 0
	for len(docs) < 1000 {
		e := g.Next()
		for _, raw := range [][]byte{e.Before, e.Snapshot, e.Metadata} {
			if len(raw) > 0 {
				docs = append(docs, raw)
				size += len(raw)
			}
		}
	}
	for _, impl := range []struct {
		name string
		fn   func([]byte) ([]byte, error)
	}{{"canonicalizer", reused()}, {"reference", referenceCanonical}} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, d := range docs {
					if _, err := impl.fn(d); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestCompareUTF16Bytes holds the byte comparison equal to the rune one on
// names around every boundary of UTF-8 lengths and UTF-16 surrogates.
func TestCompareUTF16Bytes(t *testing.T) {
	runes := []rune{0, 'A', 'z', 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfb33, 0xffff, 0x10000, 0x1f600, 0x10ffff}
	var names []string
	for _, r := range runes {
		names = append(names, string(r), "a"+string(r), string(r)+"a")
		for _, q := range runes {
			names = append(names, string(r)+string(q))
		}
	}
	sign := func(n int) int { return min(max(n, -1), 1) }
	for _, a := range names {
		for _, b := range names {
			if got, want := sign(compareUTF16Bytes([]byte(a), []byte(b))), sign(compareUTF16(a, b)); got != want {
				t.Fatalf("compareUTF16Bytes(%q, %q) = %d; want %d", a, b, got, want)
			}
		}
	}
}
