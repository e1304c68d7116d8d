package changes_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
)

var testKey = bytes.Repeat([]byte{7}, changes.KeySize)

func newRedactor(t *testing.T, paths ...string) *changes.Redactor {
	t.Helper()
	rules := changes.DefaultRules()
	if paths != nil {
		rules = changes.Rules{Paths: paths}
	}
	r, err := changes.NewRedactor(rules, testKey)
	if err != nil {
		t.Fatalf("NewRedactor(%q): %v", paths, err)
	}
	return r
}

func TestRuleMatching(t *testing.T) {
	tests := []struct {
		rule, path string
		want       bool
	}{
		{"**.password", "password", true},
		{"**.password", "a.b.password", true},
		{"**.password", "users[3].password", true},
		{"**.password", "Password", true},
		{"**.password", "user.PASSWORD", true},
		{"**.password", "password_hint", false},
		{"**.password", "password.x", false},
		{"**.password", "", false},
		{"env.*", "env.API_KEY", true},
		{"env.*", "env[0]", true},
		{"env.*", "env", false},
		{"env.*", "env.A.B", false},
		{"env.*", "x.env.A", false},
		{"**.env.*", "x.env.A", true},
		{"**.env.*", "env.A", true},
		{"**.secret*", "secrets", true},
		{"**.secret*", "a.SecretKey", true},
		{"**.secret*", "a.mysecret", false},
		{"**.*_secret", "client_secret", true},
		{"**.*_secret", "client_secret_id", false},
		{"**.*token", "accessToken", true},
		{"**.*token", "token_name", false},
		{"**.variables.*.value", "variables.DB.value", true},
		{"**.variables.*.value", "p.variables[2].value", true},
		{"**.variables.*.value", "variables.DB.name", false},
		{"ports[1]", "ports[1]", true},
		{"ports[1]", "ports[2]", false},
		{"ports[*]", "ports[7]", true},
		{"ports[*]", "ports.x", false},
		{"a.*.c", "a[0].c", true},
		{"a.x*y.c", "a[0].c", false},
		{`labels["app.kubernetes.io/name"]`, `labels["app.kubernetes.io/name"]`, true},
		{`labels["app.kubernetes.io/name"]`, `labels.app`, false},
		{"**", "", true},
		{"**", "a.b[2]", true},
		{"**.**.x", "x", true},
		{"a.**.b.**.c", "a.q.b.r.s.c", true},
		{"a.**.b.**.c", "a.q.c", false},
		{"*a*b*", "xxaxxbxx", true},
		{"*a*b*", "xxbxxaxx", false},
		{"**.password", "users.x.password", true},
		// A change field that is not a valid path is split at its dots.
		{"env.*", "env.my key[", true},
	}
	for _, tt := range tests {
		r := newRedactor(t, tt.rule)
		if got := r.Matches(tt.path); got != tt.want {
			t.Errorf("rule %q Matches(%q) = %v; want %v", tt.rule, tt.path, got, tt.want)
		}
	}
}

func TestDefaultRules(t *testing.T) {
	if err := changes.DefaultRules().Validate(); err != nil {
		t.Fatalf("DefaultRules().Validate() = %v", err)
	}
	r := newRedactor(t)
	hidden := []string{
		"env.API_KEY", "service.env.LOG_LEVEL", "environment_variables[0]", "spec.variables.DB.value",
		"secret", "secrets", "db.client_secret", "clientSecret", "token", "auth.access_token",
		"refreshToken", "api_key", "apikey", "x-api-key", "password", "new_password", "passwd",
		"ssh.private_key", "privateKey", "credentials", "headers.authorization",
		"headers.Proxy-Authorization", "headers.cookie", "labels.team", "metadata.labels.app",
		"description", "config.description", "request_data", "schedule.request_body",
	}
	for _, p := range hidden {
		if !r.Matches(p) {
			t.Errorf("default rules Matches(%q) = false; want true", p)
		}
	}
	shown := []string{
		"name", "id", "settings.cpu", "environment.name", "token_name", "token_id", "ports[1]",
		"labels", "env", "status", "created_at", "variables.DB.name", "public_key", "max_tokens",
	}
	for _, p := range shown {
		if r.Matches(p) {
			t.Errorf("default rules Matches(%q) = true; want false", p)
		}
	}
}

func TestRulesValidate(t *testing.T) {
	tests := []struct {
		paths []string
		field string // "" when valid
	}{
		{[]string{"**.password", "env.*", `labels["a.b"]`, "ports[*]", "a[3].b"}, ""},
		{nil, ""},
		{[]string{"ok", "a..b"}, "redaction.paths[1]"},
		{[]string{"ok", "ok", ""}, "redaction.paths[2]"},
		{[]string{"  "}, "redaction.paths[0]"},
		{[]string{".a"}, "redaction.paths[0]"},
		{[]string{"a."}, "redaction.paths[0]"},
		{[]string{"a**"}, "redaction.paths[0]"},
		{[]string{"a[x]"}, "redaction.paths[0]"},
		{[]string{"a[1"}, "redaction.paths[0]"},
		{[]string{`a["b]`}, "redaction.paths[0]"},
		{[]string{"a[0]b"}, "redaction.paths[0]"},
		{[]string{"a.[0]"}, "redaction.paths[0]"},
		{[]string{strings.Repeat("a", changes.MaxRuleLength+1)}, "redaction.paths[0]"},
		{make([]string, changes.MaxRules+1), "redaction.paths"},
	}
	for _, tt := range tests {
		err := changes.Rules{Paths: tt.paths}.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("Validate(%q) = %v; want nil", tt.paths, err)
			}
			continue
		}
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tt.field {
			t.Errorf("Validate(%.40q) = %v (field %q); want EINVALID naming %s",
				tt.paths, err, auditkeep.ErrorField(err), tt.field)
		}
	}
}

func TestNewRedactorKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := changes.NewRedactor(changes.DefaultRules(), make([]byte, n)); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
			t.Errorf("NewRedactor with a %d-byte key: error %v; want EINVALID", n, err)
		}
	}
	if _, err := changes.NewRedactor(changes.Rules{Paths: []string{"a..b"}}, testKey); auditkeep.ErrorField(err) != "redaction.paths[0]" {
		t.Errorf("NewRedactor with a bad rule: error %v; want one naming redaction.paths[0]", err)
	}
}

func TestHash(t *testing.T) {
	r := newRedactor(t)
	m := hmac.New(sha256.New, testKey)
	m.Write([]byte("s3cr3t"))
	want := "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
	if got := r.Hash("s3cr3t"); got != want {
		t.Errorf("Hash(%q) = %s; want %s", "s3cr3t", got, want)
	}
	if !changes.IsHash(want) {
		t.Errorf("IsHash(%q) = false", want)
	}
	other, _ := changes.NewRedactor(changes.DefaultRules(), bytes.Repeat([]byte{8}, changes.KeySize))
	if other.Hash("s3cr3t") == want {
		t.Errorf("Hash is the same under two keys")
	}
	for _, s := range []string{"hmac-sha256:", "hmac-sha256:abc", strings.ToUpper(want[:12]) + want[12:],
		"hmac-sha256:" + strings.Repeat("g", 64)} {
		if changes.IsHash(s) {
			t.Errorf("IsHash(%q) = true; want false", s)
		}
	}
	// Non-string values hash their canonical JSON text.
	tests := []struct{ raw, text string }{
		{`"s3cr3t"`, "s3cr3t"},
		{`1234`, "1234"},
		{`1.50`, "1.5"},
		{`1E3`, "1000"},
		{`-0.0`, "0"},
		{`1e21`, "1e+21"},
		{`0.0000012`, "0.0000012"},
		{`123e-10`, "1.23e-8"},
		{`true`, "true"},
		{`{"b":1, "a":[true,"<x>"]}`, `{"a":[true,"<x>"],"b":1}`},
		{want2(), want2()},
	}
	for _, tt := range tests {
		got, err := r.HashJSON(json.RawMessage(tt.raw))
		if err != nil {
			t.Fatalf("HashJSON(%s): %v", tt.raw, err)
		}
		if w := r.Hash(tt.text); got != w && !(changes.IsHash(tt.raw[1:len(tt.raw)-1]) && got == tt.text[1:len(tt.text)-1]) {
			t.Errorf("HashJSON(%s) = %s; want Hash(%q) = %s", tt.raw, got, tt.text, w)
		}
	}
	if _, err := r.HashJSON(json.RawMessage(`{`)); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("HashJSON(`{`) error = %v; want EINVALID", err)
	}
}

// want2 is an already redacted value as JSON: HashJSON returns it unchanged.
func want2() string { return `"hmac-sha256:` + strings.Repeat("ab", 32) + `"` }

func TestRedactEvent(t *testing.T) {
	r := newRedactor(t)
	h := r.Hash
	e := &auditkeep.Event{
		Type:        auditkeep.TypeUpdate,
		Description: "Rotated the key s3cr3t-value for api (abc)",
		Before:      json.RawMessage(`{"name":"api", "env":{"API_KEY":"s3cr3t-value","PORT":8080}, "db":{"password":null}}`),
		Snapshot:    json.RawMessage(`{"name":"api","env":{"API_KEY":"n3w-s3cr3t","PORT":8080},"Secrets":{"a":["x",1]},"db":{"Password":"` + h("already") + `"}}`),
		Metadata:    json.RawMessage(`{"request":{"headers":{"Authorization":"Bearer abc"}},"ok":true}`),
		Changes: []auditkeep.Change{
			{Field: "env.API_KEY", Op: "changed", Old: json.RawMessage(`"s3cr3t-value"`), New: json.RawMessage(`"n3w-s3cr3t"`)},
			{Field: "name", Old: json.RawMessage(`"x"`), New: json.RawMessage(`"api"`)},
			{Field: "env", Op: "added", New: json.RawMessage(`{"TOKEN":"t0k3n-value"}`)},
			{Field: "user", Op: "added", New: json.RawMessage(`{"name":"bob","password":"hunter22"}`)},
			{Field: changes.TruncatedField, Op: changes.OpTruncated, New: json.RawMessage(`12`)},
		},
	}
	if err := r.RedactEvent(e); err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { return `"` + s + `"` }
	checks := []struct{ name, got, want string }{
		{"before", string(e.Before), `{"name":"api","env":{"API_KEY":` + q(h("s3cr3t-value")) + `,"PORT":` + q(h("8080")) + `},"db":{"password":null}}`},
		{"snapshot", string(e.Snapshot), `{"name":"api","env":{"API_KEY":` + q(h("n3w-s3cr3t")) + `,"PORT":` + q(h("8080")) + `},"Secrets":` + q(h(`{"a":["x",1]}`)) + `,"db":{"Password":` + q(h("already")) + `}}`},
		{"metadata", string(e.Metadata), `{"request":{"headers":{"Authorization":` + q(h("Bearer abc")) + `}},"ok":true}`},
		{"changes[0].old", string(e.Changes[0].Old), q(h("s3cr3t-value"))},
		{"changes[0].new", string(e.Changes[0].New), q(h("n3w-s3cr3t"))},
		{"changes[1].new", string(e.Changes[1].New), `"api"`},
		{"changes[2].new", string(e.Changes[2].New), `{"TOKEN":` + q(h("t0k3n-value")) + `}`},
		{"changes[3].new", string(e.Changes[3].New), `{"name":"bob","password":` + q(h("hunter22")) + `}`},
		{"changes[4].new", string(e.Changes[4].New), `12`},
		{"description", e.Description, "Rotated the key " + h("s3cr3t-value") + " for api (abc)"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("after RedactEvent, %s = %s; want %s", c.name, c.got, c.want)
		}
	}

	// Idempotent.
	before, _ := json.Marshal(e)
	if err := r.RedactEvent(e); err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(e)
	if !bytes.Equal(before, after) {
		t.Errorf("RedactEvent is not idempotent:\n first %s\nsecond %s", before, after)
	}
}

// TestRedactNamedEntries: a rule that names the entries of a list of
// environment variables or labels hides their values, not their names.
func TestRedactNamedEntries(t *testing.T) {
	r := newRedactor(t)
	h := func(s string) string { return `"` + r.Hash(s) + `"` }
	e := &auditkeep.Event{
		Type: auditkeep.TypeUpdate,
		Snapshot: json.RawMessage(`{"environment_variables":[{"key":"DATABASE_URL","value":"postgres://u:pw-one@db","is_secret":true},{"key":"EMPTY","value":null}],` +
			`"labels":[{"Key":"team","Value":"ml"}],"env":[{"name":"A","valueFrom":{"ref":"s"}}],"secrets":[{"name":"n","value":"v"}],` +
			`"envs":[{"name":"hmac-sha256:` + strings.Repeat("0", 64) + `","key":"K","value":"x"}]}`),
		Changes: []auditkeep.Change{
			{Field: "environment_variables[0]", Op: "added", New: json.RawMessage(`{"key":"TOKEN","value":"pw-two"}`)},
			{Field: "environment_variables[key=DB].value", Op: "changed", Old: json.RawMessage(`"pw-three"`), New: json.RawMessage(`"pw-four"`)},
			{Field: "env.A.b", Op: "changed", Old: json.RawMessage(`"pw-five"`), New: json.RawMessage(`{"key":"B","value":"pw-six"}`)},
			{Field: "environment_variables", Op: changes.OpReordered, Old: json.RawMessage(`["A","B"]`), New: json.RawMessage(`["B","A"]`)},
			{Field: "env", Op: "added", New: json.RawMessage(`[{"name":"C","value":"pw-seven"}]`)},
		},
	}
	if err := r.RedactEvent(e); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"snapshot", string(e.Snapshot), `{"environment_variables":[{"key":"DATABASE_URL","value":` + h("postgres://u:pw-one@db") + `,"is_secret":` + h("true") + `},{"key":"EMPTY","value":null}],` +
			`"labels":[{"Key":"team","Value":` + h("ml") + `}],"env":[` + h(`{"name":"A","valueFrom":{"ref":"s"}}`) + `],"secrets":` + h(`[{"name":"n","value":"v"}]`) + `,` +
			`"envs":[{"name":"hmac-sha256:` + strings.Repeat("0", 64) + `","key":` + h("K") + `,"value":` + h("x") + `}]}`},
		{"changes[0].new", string(e.Changes[0].New), `{"key":"TOKEN","value":` + h("pw-two") + `}`},
		{"changes[1].old", string(e.Changes[1].Old), h("pw-three")},
		{"changes[1].new", string(e.Changes[1].New), h("pw-four")},
		{"changes[2].old", string(e.Changes[2].Old), h("pw-five")},
		{"changes[2].new", string(e.Changes[2].New), h(`{"key":"B","value":"pw-six"}`)},
		{"changes[3].old", string(e.Changes[3].Old), `["A","B"]`},
		{"changes[4].new", string(e.Changes[4].New), `[{"name":"C","value":` + h("pw-seven") + `}]`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("after RedactEvent, %s = %s; want %s", c.name, c.got, c.want)
		}
	}
	before, _ := json.Marshal(e)
	if err := r.RedactEvent(e); err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(e); !bytes.Equal(before, after) {
		t.Errorf("RedactEvent is not idempotent on named entries:\n first %s\nsecond %s", before, after)
	}
}

func TestRedactEventInvalid(t *testing.T) {
	r := newRedactor(t)
	tests := []struct {
		e     auditkeep.Event
		field string
	}{
		{auditkeep.Event{Before: json.RawMessage(`{`)}, "before"},
		{auditkeep.Event{Snapshot: json.RawMessage(`{"a":}`)}, "snapshot"},
		{auditkeep.Event{Metadata: json.RawMessage(`x`)}, "metadata"},
		{auditkeep.Event{Changes: []auditkeep.Change{{Field: "a"}, {Field: "b", Old: json.RawMessage(`'x'`)}}}, "changes[1].old"},
		{auditkeep.Event{Changes: []auditkeep.Change{{Field: "b", New: json.RawMessage(`{`)}}}, "changes[0].new"},
	}
	for _, tt := range tests {
		e := tt.e
		e.Snapshot = append(json.RawMessage(nil), e.Snapshot...)
		if tt.field != "snapshot" {
			e.Snapshot = json.RawMessage(`{"password":"p4ssw0rd"}`)
		}
		err := r.RedactEvent(&e)
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tt.field {
			t.Errorf("RedactEvent error = %v (field %q); want EINVALID naming %s", err, auditkeep.ErrorField(err), tt.field)
		}
		if tt.field != "snapshot" && string(e.Snapshot) != `{"password":"p4ssw0rd"}` {
			t.Errorf("RedactEvent failing on %s changed the snapshot to %s; want it unchanged", tt.field, e.Snapshot)
		}
	}
}

func TestRedactEventKeepsAbsent(t *testing.T) {
	r := newRedactor(t)
	e := &auditkeep.Event{Metadata: json.RawMessage(`null`)}
	if err := r.RedactEvent(e); err != nil {
		t.Fatal(err)
	}
	if e.Before != nil || e.Snapshot != nil || string(e.Metadata) != "null" || e.Changes != nil {
		t.Errorf("RedactEvent of an empty event = before %q snapshot %q metadata %q changes %v; want them as they were",
			e.Before, e.Snapshot, e.Metadata, e.Changes)
	}
}

func TestRedactText(t *testing.T) {
	r := newRedactor(t)
	tests := []struct {
		text  string
		clear []string
		want  string
	}{
		{"set key to abcdef123", []string{"abcdef123"}, "set key to " + r.Hash("abcdef123")},
		{"short ones stay: abc, prod", []string{"abc", "prod"}, "short ones stay: abc, prod"},
		{"longest wins: secret-long", []string{"secret", "secret-long"}, "longest wins: " + r.Hash("secret-long")},
		{"twice: qwerty qwerty", []string{"qwerty"}, "twice: " + r.Hash("qwerty") + " " + r.Hash("qwerty")},
		{"", []string{"qwerty"}, ""},
		{"no clear values", nil, "no clear values"},
	}
	for _, tt := range tests {
		if got := r.RedactText(tt.text, tt.clear); got != tt.want {
			t.Errorf("RedactText(%q, %q) = %q; want %q", tt.text, tt.clear, got, tt.want)
		}
	}
}

// TestNoClearSecretStored runs the ingest order — RedactEvent, Diff,
// Describe — on random events carrying secrets at redacted paths of before,
// snapshot, metadata, changes and the description, and checks that no
// secret is left in any byte of the stored event.
func TestNoClearSecretStored(t *testing.T) {
	r := newRedactor(t)
	rng := rand.New(rand.NewPCG(1, 2))
	sensitive := []string{"password", "Password", "api_key", "client_secret", "accessToken", "private_key",
		"Authorization", "request_data", "description", "credentials"}
	containers := []string{"env", "labels", "environment_variables", "secrets"}
	plain := []string{"name", "cpu", "ports", "region", "image", "settings", "spec"}

	for iter := range 300 {
		var secrets []string
		newSecret := func() string {
			s := fmt.Sprintf("S%dx%08x", iter, rng.Uint32())
			secrets = append(secrets, s)
			return s
		}
		// doc builds a random document holding secrets at redacted paths.
		var doc func(depth int) map[string]any
		doc = func(depth int) map[string]any {
			m := map[string]any{}
			for range 1 + rng.IntN(4) {
				switch rng.IntN(7) {
				case 0:
					m[sensitive[rng.IntN(len(sensitive))]] = newSecret()
				case 1:
					m[containers[rng.IntN(len(containers))]] = map[string]any{"K" + fmt.Sprint(rng.IntN(9)): newSecret()}
				case 2:
					m[sensitive[rng.IntN(len(sensitive))]] = map[string]any{"nested": []any{newSecret(), 1}}
				case 3:
					if depth < 3 {
						m[plain[rng.IntN(len(plain))]] = []any{doc(depth + 1), "x"}
					}
				case 4:
					if depth < 3 {
						m[plain[rng.IntN(len(plain))]] = doc(depth + 1)
					}
				case 5:
					// A list of named entries: the names stay, nothing else.
					var entries []any
					for j := range 1 + rng.IntN(3) {
						name := []string{"key", "name", "Key"}[rng.IntN(3)]
						entries = append(entries, map[string]any{"id": newSecret(), name: fmt.Sprintf("V%d", j),
							"value": newSecret(), "extra": []any{newSecret()}})
					}
					m[containers[rng.IntN(len(containers))]] = entries
				default:
					m[plain[rng.IntN(len(plain))]] = rng.IntN(100)
				}
			}
			return m
		}
		mustJSON := func(v any) json.RawMessage {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		e := &auditkeep.Event{
			Type:     auditkeep.TypeUpdate,
			Action:   "service.update",
			Target:   &auditkeep.Target{Type: "service", ID: "svc_1", Name: "api"},
			Before:   mustJSON(doc(0)),
			Snapshot: mustJSON(doc(0)),
			Metadata: mustJSON(doc(0)),
		}
		senderChanges := rng.IntN(2) == 0
		if senderChanges {
			e.Changes = []auditkeep.Change{
				{Field: "env.DB_URL", Op: "changed", Old: mustJSON(newSecret()), New: mustJSON(newSecret())},
				{Field: "settings", Op: "added", New: mustJSON(doc(1))},
			}
		}
		// Keep the secrets that made it into the event (a random key may
		// have been written twice).
		orig := mustJSON(e)
		present := secrets[:0]
		for _, s := range secrets {
			if bytes.Contains(orig, []byte(s)) {
				present = append(present, s)
			}
		}
		secrets = present
		if len(secrets) > 0 && rng.IntN(2) == 0 {
			e.Description = "Changed the value to " + secrets[rng.IntN(len(secrets))]
		}

		if err := r.RedactEvent(e); err != nil {
			t.Fatal(err)
		}
		if len(e.Changes) == 0 {
			cs, err := changes.Diff(e.Before, e.Snapshot)
			if err != nil {
				t.Fatal(err)
			}
			e.Changes = cs
		}
		generated := e.Description == ""
		if generated {
			e.Description = changes.Describe(e)
		}
		stored, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(stored, []byte(s)) {
				t.Fatalf("iteration %d: secret %q stored in clear:\n%s", iter, s, stored)
			}
		}
		if generated && strings.Contains(e.Description, "hmac-sha256:") {
			t.Fatalf("iteration %d: generated description shows a hash: %s", iter, e.Description)
		}
	}
}

func ExampleRedactor_RedactEvent() {
	key := bytes.Repeat([]byte{1}, changes.KeySize) // a tenant's key, from its settings
	r, err := changes.NewRedactor(changes.DefaultRules(), key)
	if err != nil {
		panic(err)
	}
	e := &auditkeep.Event{
		Type:     auditkeep.TypeUpdate,
		Target:   &auditkeep.Target{Type: "service", ID: "svc_1", Name: "api"},
		Scope:    []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1", Name: "Shop"}},
		Before:   json.RawMessage(`{"cpu":1,"env":{"API_KEY":"old-key-1"}}`),
		Snapshot: json.RawMessage(`{"cpu":2,"env":{"API_KEY":"new-key-2"}}`),
	}
	if err := r.RedactEvent(e); err != nil { // 1. redact
		panic(err)
	}
	e.Changes, err = changes.Diff(e.Before, e.Snapshot) // 2. diff what was redacted
	if err != nil {
		panic(err)
	}
	e.Description = changes.Describe(e) // 3. describe
	fmt.Println(e.Description)
	fmt.Println(strings.Contains(string(e.Snapshot), "new-key-2"))
	// Output:
	// Updated service 'api' in project 'Shop': cpu changed from 1 to 2, environment variable API_KEY changed (value hidden)
	// false
}

func FuzzRedactEvent(f *testing.F) {
	f.Add([]byte(`{"env":{"A":"x"},"users":[{"password":1.50,"name":"n"}],"labels":{"a.b":{"c":[true]}}}`), "env.X")
	f.Add([]byte(`[{"Token":null}]`), `labels["a"]`)
	f.Add([]byte(`"s"`), "a[0")
	f.Fuzz(func(t *testing.T, doc []byte, field string) {
		r, err := changes.NewRedactor(changes.DefaultRules(), testKey)
		if err != nil {
			t.Fatal(err)
		}
		e := &auditkeep.Event{Snapshot: doc, Changes: []auditkeep.Change{{Field: field, Old: doc}}}
		if err := r.RedactEvent(e); err != nil {
			if auditkeep.ErrorCode(err) != auditkeep.EINVALID {
				t.Fatalf("RedactEvent error %v; want EINVALID", err)
			}
			return
		}
		if len(doc) > 0 && !json.Valid(e.Snapshot) {
			t.Fatalf("RedactEvent made invalid JSON %q of %q", e.Snapshot, doc)
		}
		first, _ := json.Marshal(e)
		if err := r.RedactEvent(e); err != nil {
			t.Fatalf("second RedactEvent: %v", err)
		}
		if second, _ := json.Marshal(e); !bytes.Equal(first, second) {
			t.Fatalf("RedactEvent is not idempotent:\n%s\n%s", first, second)
		}
	})
}

func FuzzRules(f *testing.F) {
	f.Add("**.password", "users[3].password")
	f.Add(`labels["a.b"].*`, `labels["a.b"][2]`)
	f.Add("a[*].**", "a")
	f.Fuzz(func(t *testing.T, rule, path string) {
		r, err := changes.NewRedactor(changes.Rules{Paths: []string{rule}}, testKey)
		if err != nil {
			if auditkeep.ErrorField(err) != "redaction.paths[0]" {
				t.Fatalf("NewRedactor(%q) error %v; want one naming redaction.paths[0]", rule, err)
			}
			return
		}
		r.Matches(path) // must not panic
	})
}
