package changes_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
)

// bigDoc returns an object of n services, each with settings, env and labels.
func bigDoc(n, v int) json.RawMessage {
	var b strings.Builder
	b.WriteString(`{"services":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name":"svc-%d","settings":{"cpu":%d,"memory":512,"ports":[80,443]},"env":{"LOG_LEVEL":"info","API_KEY":"k-%d-%d"},"labels":{"team":"ml"}}`, i, v, i, v)
	}
	b.WriteString(`]}`)
	return json.RawMessage(b.String())
}

func BenchmarkRedactEvent(b *testing.B) {
	r, err := changes.NewRedactor(changes.DefaultRules(), testKey)
	if err != nil {
		b.Fatal(err)
	}
	before, after := bigDoc(500, 1), bigDoc(500, 2)
	b.SetBytes(int64(len(before) + len(after)))
	for b.Loop() {
		e := &auditkeep.Event{Before: before, Snapshot: after}
		if err := r.RedactEvent(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDiff(b *testing.B) {
	before, after := bigDoc(500, 1), bigDoc(500, 2)
	b.SetBytes(int64(len(before) + len(after)))
	for b.Loop() {
		if _, err := changes.Diff(before, after); err != nil {
			b.Fatal(err)
		}
	}
}
