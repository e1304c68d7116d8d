package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/catalog"
)

// memStore keeps settings in memory, like the stores do.
type memStore struct {
	mu       sync.Mutex
	settings map[string][]byte
	gets     int
	fail     error  // returned by every call when set
	onInit   func() // called once, before the next InitSetting
}

func newMemStore() *memStore { return &memStore{settings: map[string][]byte{}} }

func (m *memStore) GetSetting(ctx context.Context, tenant, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	if m.fail != nil {
		return nil, m.fail
	}
	v, ok := m.settings[tenant+"\x00"+name]
	if !ok {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "setting %q not found", name)
	}
	return v, nil
}

func (m *memStore) InitSetting(ctx context.Context, tenant, name string, value []byte) ([]byte, error) {
	m.mu.Lock()
	hook := m.onInit
	m.onInit = nil
	m.mu.Unlock()
	if hook != nil {
		hook()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	k := tenant + "\x00" + name
	if v, ok := m.settings[k]; ok {
		return v, nil
	}
	m.settings[k] = value
	return value, nil
}

func (m *memStore) getCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newCatalog(s catalog.Store, counter catalog.ActionCounter, c *clock) *catalog.Catalog {
	cat := catalog.New(s, counter)
	cat.Now = c.now
	return cat
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)} }

func mustRegister(t *testing.T, c *catalog.Catalog, tenant, action, schema string) *catalog.Version {
	t.Helper()
	v, _, err := c.Register(context.Background(), tenant, action, []byte(schema))
	if err != nil {
		t.Fatalf("Register(%q, %s): %v", action, schema, err)
	}
	return v
}

func ev(action, metadata string) *auditkeep.Event {
	e := &auditkeep.Event{Action: action, Actor: auditkeep.Actor{Type: "user", ID: "u1"}}
	if metadata != "" {
		e.Metadata = json.RawMessage(metadata)
	}
	return e
}

func TestRegisterVersions(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	c := newCatalog(newMemStore(), nil, clk)

	steps := []struct {
		schema      string
		wantVersion int
		wantCreated bool
	}{
		{`{"type": "object", "properties": {"region": {"type": "string"}}}`, 1, true},
		// The same schema, spaced and ordered differently.
		{`{"properties":{"region":{"type":"string"}},"type":"object"}`, 1, false},
		{`{"type":"object","properties":{"region":{"type":"string"}},"required":["region"]}`, 2, true},
		{`{"type":"object","properties":{"region":{"type":"string"}},"required":["region"]}`, 2, false},
		// Back to the first: a change all the same.
		{`{"type":"object","properties":{"region":{"type":"string"}}}`, 3, true},
	}
	for _, s := range steps {
		clk.advance(time.Minute)
		v, created, err := c.Register(ctx, "acme", "env.update", []byte(s.schema))
		if err != nil {
			t.Fatalf("Register(%s): %v", s.schema, err)
		}
		if v.Version != s.wantVersion || created != s.wantCreated {
			t.Errorf("Register(%s) = version %d, created %v; want %d, %v", s.schema, v.Version, created, s.wantVersion, s.wantCreated)
		}
		if v.Action != "env.update" || v.CreatedAt.IsZero() || !json.Valid(v.Schema) {
			t.Errorf("Register(%s) = %+v; want action, created_at and schema set", s.schema, v)
		}
	}

	vs, err := c.Versions(ctx, "acme", "env.update")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || vs[0].Version != 1 || vs[2].Version != 3 || !vs[0].CreatedAt.Before(vs[1].CreatedAt) {
		t.Errorf("Versions = %+v; want 1, 2, 3 in time order", vs)
	}

	latest, err := c.Schema(ctx, "acme", "env.update", 0)
	if err != nil || latest.Version != 3 {
		t.Fatalf("Schema(latest) = %+v, %v; want version 3", latest, err)
	}
	v2, err := c.Schema(ctx, "acme", "env.update", 2)
	if err != nil || v2.Version != 2 || !strings.Contains(string(v2.Schema), `"required":["region"]`) {
		t.Errorf("Schema(2) = %+v, %v; want version 2 with required", v2, err)
	}
	// The schema is kept as sent, without spacing.
	v1, err := c.Schema(ctx, "acme", "env.update", 1)
	if err != nil || string(v1.Schema) != `{"type":"object","properties":{"region":{"type":"string"}}}` {
		t.Errorf("Schema(1) = %s, %v; want the first text compacted", v1.Schema, err)
	}

	for _, tc := range []struct {
		action    string
		version   int
		wantCode  string
		wantField string
	}{
		{"env.update", 4, auditkeep.ENOTFOUND, "version"},
		{"env.delete", 0, auditkeep.ENOTFOUND, ""},
		{"Env Update", 0, auditkeep.EINVALID, "action"},
	} {
		_, err := c.Schema(ctx, "acme", tc.action, tc.version)
		if auditkeep.ErrorCode(err) != tc.wantCode || auditkeep.ErrorField(err) != tc.wantField {
			t.Errorf("Schema(%q, %d) = %v (%s, field %q); want %s, field %q", tc.action, tc.version, err,
				auditkeep.ErrorCode(err), auditkeep.ErrorField(err), tc.wantCode, tc.wantField)
		}
	}
	if _, err := c.Versions(ctx, "acme", "env.delete"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Versions(unregistered) = %v; want %s", err, auditkeep.ENOTFOUND)
	}
}

func TestRegisterErrors(t *testing.T) {
	deep := strings.Repeat(`{"not":`, 70) + `{}` + strings.Repeat(`}`, 70)
	big := `{"description":"` + strings.Repeat("x", catalog.MaxSchemaBytes) + `"}`
	tests := []struct {
		name, action, schema string
		wantCode, wantField  string
		wantMsg              string // in the message
	}{
		{"bad action", "Token Create", `{}`, auditkeep.EINVALID, "action", "not an action name"},
		{"empty", "a.b", ``, auditkeep.EINVALID, "schema", "empty"},
		{"not JSON", "a.b", `{"type":`, auditkeep.EINVALID, "schema", "not valid JSON"},
		{"two values", "a.b", `{} {}`, auditkeep.EINVALID, "schema", "not valid JSON"},
		{"array", "a.b", `[{"type":"string"}]`, auditkeep.EINVALID, "schema", "must be a JSON object"},
		{"string", "a.b", `"object"`, auditkeep.EINVALID, "schema", "must be a JSON object"},
		{"too large", "a.b", big, auditkeep.ETOOLARGE, "schema", "at most 65536"},
		{"too deep", "a.b", deep, auditkeep.EINVALID, "schema", "deeper than 64"},
		{"bad type", "a.b", `{"type":"object","properties":{"a":{"type":"strin"}}}`, auditkeep.EINVALID, "schema", "schema.properties.a.type: 'anyOf' failed: value must be one of 'array'"},
		{"bad minimum", "a.b", `{"minimum":"x"}`, auditkeep.EINVALID, "schema", "schema.minimum: got string, want number"},
		{"bad regexp", "a.b", `{"pattern":"(?<"}`, auditkeep.EINVALID, "schema", "not valid regex"},
		{"remote ref", "a.b", `{"properties":{"a":{"$ref":"https://example.com/x.json"}}}`, auditkeep.EINVALID, "schema", "refers to https://example.com/x.json, which is not loaded"},
		{"file ref", "a.b", `{"$ref":"file:///etc/passwd"}`, auditkeep.EINVALID, "schema", "refers to file:///etc/passwd"},
		{"relative ref", "a.b", `{"$ref":"other.json"}`, auditkeep.EINVALID, "schema", "refers to other.json, which is not loaded"},
		{"remote metaschema", "a.b", `{"$schema":"https://example.com/meta","type":"object"}`, auditkeep.EINVALID, "schema", "refers to https://example.com/meta"},
		{"missing definition", "a.b", `{"$ref":"#/$defs/nope"}`, auditkeep.EINVALID, "schema", "#/$defs/nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCatalog(newMemStore(), nil, newClock())
			v, _, err := c.Register(context.Background(), "acme", tc.action, []byte(tc.schema))
			code, field, msg := auditkeep.ErrorCode(err), auditkeep.ErrorField(err), auditkeep.ErrorMessage(err)
			if code != tc.wantCode || field != tc.wantField || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("Register(%.60s) = %v, %v (%s, field %q); want %s, field %q, message with %q",
					tc.schema, v, msg, code, field, tc.wantCode, tc.wantField, tc.wantMsg)
			}
			if strings.Contains(msg, "auditkeep.invalid") {
				t.Errorf("Register(%.60s) message %q shows the internal base URL", tc.schema, msg)
			}
			if _, err := c.Versions(context.Background(), "acme", "a.b"); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
				t.Errorf("after a refused Register, Versions = %v; want not found", err)
			}
		})
	}
}

func TestRegisterAcceptsOtherDraftsAndLocalRefs(t *testing.T) {
	for _, schema := range []string{
		`true`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"n":{"type":"integer"}}}`,
		`{"$defs":{"region":{"enum":["eu","us"]}},"properties":{"region":{"$ref":"#/$defs/region"}}}`,
		`{"$id":"https://example.com/root.json","$defs":{"r":{"type":"string"}},"properties":{"a":{"$ref":"#/$defs/r"}}}`,
	} {
		c := newCatalog(newMemStore(), nil, newClock())
		if _, _, err := c.Register(context.Background(), "acme", "a.b", []byte(schema)); err != nil {
			t.Errorf("Register(%s) = %v; want accepted", schema, err)
		}
	}
}

const envSchema = `{
	"type": "object",
	"properties": {
		"region": {"type": "string", "enum": ["eu", "us"]},
		"replicas": {"type": "integer", "minimum": 1},
		"tags": {"type": "array", "items": {"type": "string"}},
		"odd key": {"type": "boolean"},
		"owner": {"type": "string", "format": "email"},
		"size": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+[KMG]$"}]},
		"legacy": false
	},
	"required": ["region"]
}`

func TestStep(t *testing.T) {
	tests := []struct {
		action, metadata string
		wantField        string // "" for accepted
		wantMsg          string
	}{
		{"env.update", `{"region":"eu"}`, "", ""},
		{"env.update", `{"region":"us","replicas":3,"tags":["a","b"],"odd key":true,"owner":"a@example.com","size":"10G"}`, "", ""},
		{"env.update", `{"region":"mars"}`, "metadata.region", `metadata.region: value must be one of 'eu', 'us'`},
		{"env.update", `{"region":5}`, "metadata.region", "metadata.region: got number, want string"},
		{"env.update", `{}`, "metadata.region", "metadata.region: missing property 'region'"},
		{"env.update", ``, "metadata.region", "metadata.region: missing property 'region'"},
		{"env.update", `{"region":"eu","replicas":0}`, "metadata.replicas", "minimum: got 0, want 1"},
		{"env.update", `{"region":"eu","replicas":1.5}`, "metadata.replicas", "got number, want integer"},
		{"env.update", `{"region":"eu","tags":["a",2]}`, "metadata.tags[1]", "metadata.tags[1]: got number, want string"},
		{"env.update", `{"region":"eu","odd key":"yes"}`, `metadata["odd key"]`, `metadata["odd key"]: got string, want boolean`},
		{"env.update", `{"region":"eu","owner":"nobody"}`, "metadata.owner", "is not valid email"},
		{"env.update", `{"region":"eu","size":"big"}`, "metadata.size", "'anyOf' failed: got string, want integer; or 'big' does not match pattern"},
		{"env.update", `{"region":"eu","legacy":1}`, "metadata.legacy", "metadata.legacy: not allowed by the schema"},
		// Two problems: the one at the earlier location is named, the other counted.
		{"env.update", `{"replicas":0}`, "metadata.region", "metadata.region: missing property 'region' (schema of action env.update version 1); and 1 more problem"},
		// Actions without a schema take any metadata.
		{"env.delete", `{"region":5}`, "", ""},
		{"env.delete", ``, "", ""},
	}
	c := newCatalog(newMemStore(), nil, newClock())
	mustRegister(t, c, "acme", "env.update", envSchema)
	for _, tc := range tests {
		// Repeat: the answer must not depend on map order.
		for range 5 {
			err := c.Step(context.Background(), "acme", ev(tc.action, tc.metadata))
			if tc.wantField == "" {
				if err != nil {
					t.Errorf("Step(%s %s) = %v; want accepted", tc.action, tc.metadata, err)
				}
				continue
			}
			code, field, msg := auditkeep.ErrorCode(err), auditkeep.ErrorField(err), auditkeep.ErrorMessage(err)
			if code != auditkeep.EINVALID || field != tc.wantField || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("Step(%s %s) = %q (%s, field %q); want invalid, field %q, message with %q",
					tc.action, tc.metadata, msg, code, field, tc.wantField, tc.wantMsg)
				break
			}
		}
	}
}

func TestStepUsesLatestVersion(t *testing.T) {
	c := newCatalog(newMemStore(), nil, newClock())
	mustRegister(t, c, "acme", "env.update", `{"properties":{"n":{"type":"integer"}}}`)
	if err := c.Step(context.Background(), "acme", ev("env.update", `{"n":"x"}`)); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Fatalf("Step under version 1 = %v; want invalid", err)
	}
	// Registering on the same node applies at once.
	mustRegister(t, c, "acme", "env.update", `{"properties":{"n":{"type":"string"}}}`)
	if err := c.Step(context.Background(), "acme", ev("env.update", `{"n":"x"}`)); err != nil {
		t.Errorf("Step under version 2 = %v; want accepted", err)
	}
	err := c.Step(context.Background(), "acme", ev("env.update", `{"n":1}`))
	if !strings.Contains(auditkeep.ErrorMessage(err), "version 2") {
		t.Errorf("Step under version 2 = %v; want a refusal naming version 2", err)
	}
}

func TestTenantsAreSeparate(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(newMemStore(), nil, newClock())
	mustRegister(t, c, "acme", "env.update", `{"required":["region"]}`)
	if err := c.Step(ctx, "globex", ev("env.update", `{}`)); err != nil {
		t.Errorf("Step(globex) = %v; want accepted: acme's schema does not apply to globex", err)
	}
	if _, err := c.Schema(ctx, "globex", "env.update", 0); auditkeep.ErrorCode(err) != auditkeep.ENOTFOUND {
		t.Errorf("Schema(globex) = %v; want not found", err)
	}
	as, err := c.Actions(ctx, "globex")
	if err != nil || len(as) != 0 {
		t.Errorf("Actions(globex) = %+v, %v; want none", as, err)
	}
	v := mustRegister(t, c, "globex", "env.update", `{"required":["zone"]}`)
	if v.Version != 1 {
		t.Errorf("globex's first version = %d; want 1", v.Version)
	}
}

// TestNodesShareOneLog runs two catalogs over one store, as two nodes over
// one database.
func TestNodesShareOneLog(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	clk := newClock()
	a, b := newCatalog(store, nil, clk), newCatalog(store, nil, clk)

	if err := b.Step(ctx, "acme", ev("env.update", `{}`)); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, a, "acme", "env.update", `{"required":["region"]}`)

	// Within the TTL b needs no read of the store; past it, it reads the
	// new version.
	before := store.getCount()
	b.Step(ctx, "acme", ev("env.update", `{"region":"eu"}`))
	if n := store.getCount() - before; n != 0 {
		t.Errorf("Step within the TTL read the store %d times; want 0", n)
	}
	clk.advance(b.TTL)
	if err := b.Step(ctx, "acme", ev("env.update", `{}`)); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("Step on the other node after the TTL = %v; want invalid", err)
	}

	// API reads do not wait for the TTL.
	mustRegister(t, a, "acme", "env.update", `{"required":["zone"]}`)
	if v, err := b.Schema(ctx, "acme", "env.update", 0); err != nil || v.Version != 2 {
		t.Errorf("Schema on the other node = %+v, %v; want version 2 at once", v, err)
	}

	// A race for the next slot: b read the log, then a wrote version 3
	// before b's write. b's schema becomes version 4.
	store.onInit = func() { mustRegister(t, a, "acme", "env.update", `{"required":["a"]}`) }
	v, created, err := b.Register(ctx, "acme", "env.update", []byte(`{"required":["b"]}`))
	if err != nil || !created || v.Version != 4 {
		t.Fatalf("Register after a lost race = %+v, created %v, %v; want version 4", v, created, err)
	}
	for _, c := range []*catalog.Catalog{a, b} {
		vs, err := c.Versions(ctx, "acme", "env.update")
		if err != nil || len(vs) != 4 || vs[3].Version != 4 {
			t.Errorf("Versions = %+v, %v; want 1..4", vs, err)
		}
	}

	// A race where the other node registers the very same schema: no new
	// version.
	store.onInit = func() { mustRegister(t, a, "acme", "env.update", `{"required":["c"]}`) }
	v, created, err = b.Register(ctx, "acme", "env.update", []byte(`{"required":["c"]}`))
	if err != nil || created || v.Version != 5 {
		t.Errorf("Register of a schema registered meanwhile = %+v, created %v, %v; want version 5, not created", v, created, err)
	}
}

func TestConcurrentRegisterLosesNoVersion(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	clk := newClock()
	nodes := []*catalog.Catalog{newCatalog(store, nil, clk), newCatalog(store, nil, clk), newCatalog(store, nil, clk)}
	const n = 30
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			schema := fmt.Sprintf(`{"properties":{"f%d":{"type":"string"}}}`, i)
			_, created, err := nodes[i%len(nodes)].Register(ctx, "acme", "env.update", []byte(schema))
			if err == nil && !created {
				err = fmt.Errorf("schema %d was not created", i)
			}
			errs <- err
		})
		wg.Go(func() {
			if err := nodes[(i+1)%len(nodes)].Step(ctx, "acme", ev("env.update", `{"f1":"x"}`)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	vs, err := nodes[0].Versions(ctx, "acme", "env.update")
	if err != nil || len(vs) != n {
		t.Fatalf("Versions = %d, %v; want %d", len(vs), err, n)
	}
	for i, v := range vs {
		if v.Version != i+1 {
			t.Errorf("versions[%d] = %d; want %d", i, v.Version, i+1)
		}
		s, err := nodes[0].Schema(ctx, "acme", "env.update", v.Version)
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(s.Schema)] {
			t.Errorf("version %d repeats schema %s", v.Version, s.Schema)
		}
		seen[string(s.Schema)] = true
	}
}

type counts map[string]int64

func (c counts) ActionCounts(ctx context.Context, tenant string) (map[string]int64, error) {
	if tenant != "acme" {
		return map[string]int64{}, nil
	}
	return c, nil
}

func TestActions(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(newMemStore(), counts{"env.update": 3, "user.login": 1, "api.call": 7}, newClock())
	mustRegister(t, c, "acme", "env.update", `{}`)
	mustRegister(t, c, "acme", "env.update", `{"type":"object"}`)
	mustRegister(t, c, "acme", "db.restore", `{}`)

	got, err := c.Actions(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []catalog.Action{
		{Action: "api.call", Count: 7},
		{Action: "db.restore", Registered: true, Version: 1},
		{Action: "env.update", Count: 3, Registered: true, Version: 2},
		{Action: "user.login", Count: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("Actions = %+v; want %+v", got, want)
	}
	for i := range want {
		g := got[i]
		if g.Action != want[i].Action || g.Count != want[i].Count || g.Registered != want[i].Registered ||
			g.Version != want[i].Version || (g.UpdatedAt != nil) != g.Registered {
			t.Errorf("Actions[%d] = %+v; want %+v", i, g, want[i])
		}
	}
}

func TestStorageUnavailable(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	c := newCatalog(store, nil, newClock())
	store.fail = auditkeep.Unavailable(fmt.Errorf("connection refused"))
	checks := map[string]error{}
	checks["Step"] = c.Step(ctx, "acme", ev("env.update", `{}`))
	_, _, checks["Register"] = c.Register(ctx, "acme", "env.update", []byte(`{}`))
	_, checks["Actions"] = c.Actions(ctx, "acme")
	_, checks["Schema"] = c.Schema(ctx, "acme", "env.update", 0)
	for name, err := range checks {
		if auditkeep.ErrorCode(err) != auditkeep.EUNAVAILABLE {
			t.Errorf("%s with storage down = %v; want %s", name, err, auditkeep.EUNAVAILABLE)
		}
	}
}
