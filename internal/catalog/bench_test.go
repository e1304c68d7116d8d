package catalog_test

import (
	"context"
	"testing"
)

// BenchmarkStep measures the ingest step for an event of a registered action
// (metadata parsed and validated) and of an unregistered one (a lookup).
func BenchmarkStep(b *testing.B) {
	c := newCatalog(newMemStore(), nil, newClock())
	if _, _, err := c.Register(context.Background(), "acme", "env.update", []byte(envSchema)); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, action string }{{"registered", "env.update"}, {"unregistered", "env.delete"}} {
		b.Run(bc.name, func(b *testing.B) {
			e := ev(bc.action, `{"region":"us","replicas":3,"tags":["a","b"],"odd key":true,"owner":"a@example.com","size":"10G"}`)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Step(context.Background(), "acme", e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
