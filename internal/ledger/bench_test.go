package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/auditkeep/auditkeep/internal/ledger"
)

// BenchmarkIntegrate100k integrates 100,000 events into MemoryStorage in
// steps of DefaultMaxBatch; it reports leaves/s.
func BenchmarkIntegrate100k(b *testing.B) {
	const n = 100000
	ev := newMemEvents()
	ev.add("acme", n)
	s, _ := newKeys(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		st := ledger.NewMemoryStorage()
		in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: st, Events: ev, Signer: s})
		if size, err := in.Integrate(ctx, "acme"); err != nil || size != n {
			b.Fatalf("Integrate() = %d, %v", size, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "leaves/s")
}

// BenchmarkVerifyBundle verifies a bundle of 10,000 events; it reports
// events/s.
func BenchmarkVerifyBundle(b *testing.B) {
	const n = 10000
	ev := newMemEvents()
	ev.add("acme", n)
	st, _, vkey := integrated(b, ev, "acme", 0)
	var buf bytes.Buffer
	if _, err := ledger.WriteBundle(context.Background(), &buf, st, ev, "acme"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for b.Loop() {
		v, err := ledger.VerifyBundle(bytes.NewReader(buf.Bytes()), vkey)
		if err != nil || !v.OK {
			b.Fatalf("VerifyBundle() = %v, %v", v, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkLeafHash measures the leaf encoding of one realistic event.
func BenchmarkLeafHash(b *testing.B) {
	e := sampleEvent("acme", 1)
	for b.Loop() {
		if _, err := ledger.LeafHash(e); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCanonicalJSON checks that CanonicalJSON never panics, that what it
// accepts is valid JSON holding the value encoding/json reads from the
// input, and that its output is a fixed point.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1e21,0.1,-0,"\u0000"]}`, `"\ud83d\ude00"`, `[{"\u20ac":null}]`, `1e400`, `{"a":1,"a":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := ledger.CanonicalJSON(data)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("CanonicalJSON(%q) = %q: not valid JSON", data, out)
		}
		var in, back any
		if json.Unmarshal(data, &in) != nil || json.Unmarshal(out, &back) != nil || !reflect.DeepEqual(in, back) {
			t.Fatalf("CanonicalJSON(%q) = %q: another value than encoding/json reads", data, out)
		}
		again, err := ledger.CanonicalJSON(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("CanonicalJSON(%q) = %q, %v; want the fixed point %q", out, again, err, out)
		}
	})
}

// FuzzVerifyBundle checks that VerifyBundle never panics on any input.
func FuzzVerifyBundle(f *testing.F) {
	ev := newMemEvents()
	ev.add("acme", 3)
	st, _, vkey := integrated(f, ev, "acme", 0)
	var buf bytes.Buffer
	if _, err := ledger.WriteBundle(context.Background(), &buf, st, ev, "acme"); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"type":"checkpoint","checkpoint":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ledger.VerifyBundle(bytes.NewReader(data), vkey)
		if err == nil && v.OK && !bytes.Equal(data, buf.Bytes()) && v.Events != 3 {
			t.Fatalf("VerifyBundle(%q) = %v; ok with %d events", data, v, v.Events)
		}
	})
}
