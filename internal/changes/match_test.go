package changes

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
)

// refMatch is the rule matching that the matcher compiles: whether path
// (keys lowercased) matches the pattern, by dynamic programming over both.
func refMatch(p pattern, path []segment) bool {
	// next[j] reports whether p[i+1:] matches path[j:]; cur is row i.
	next, cur := make([]bool, len(path)+1), make([]bool, len(path)+1)
	next[len(path)] = true // empty pattern matches empty path
	for i := len(p) - 1; i >= 0; i-- {
		ps := p[i]
		cur[len(path)] = ps.deep && next[len(path)]
		for j := len(path) - 1; j >= 0; j-- {
			switch {
			case ps.deep:
				cur[j] = next[j] || cur[j+1]
			default:
				cur[j] = segMatch(ps, path[j]) && next[j+1]
			}
		}
		next, cur = cur, next
	}
	return next[0]
}

func refMatchAny(rules []pattern, path []segment) bool {
	for _, p := range rules {
		if refMatch(p, path) {
			return true
		}
	}
	return false
}

func mustCompile(t testing.TB, paths ...string) []pattern {
	t.Helper()
	ps, err := Rules{Paths: paths}.compile()
	if err != nil {
		t.Fatalf("compile(%q): %v", paths, err)
	}
	return ps
}

// pathString writes path as a change field.
func pathString(path []segment) string {
	s := ""
	for _, seg := range path {
		if seg.isIndex {
			s = joinIndex(s, seg.index)
		} else {
			s = JoinKey(s, seg.key)
		}
	}
	return s
}

func TestMatcher(t *testing.T) {
	tests := []struct {
		rules []string
		path  string
		want  bool
	}{
		{[]string{"*"}, "a", true},
		{[]string{"*"}, "[4]", true},
		{[]string{"*"}, "a.b", false},
		{[]string{"*"}, "", false},
		{[]string{"secret*"}, "SECRET_KEY", true},
		{[]string{"secret*"}, "secret", true},
		{[]string{"secret*"}, "a.secret", false},
		{[]string{"secret*"}, "[0]", false},
		{[]string{"a[*]"}, "a[12]", true},
		{[]string{"a[*]"}, "a.x", false},
		{[]string{"a[*]"}, "a", false},
		{[]string{"**"}, "", true},
		{[]string{"**.b"}, "b", true},
		{[]string{"a.**"}, "a", true},
		{[]string{"a.**"}, "a.b[1].c", true},
		{[]string{"a.**"}, "b", false},
		{[]string{"a.**.**.b"}, "a.b", true},
		{[]string{"a.**.b"}, "a.x.y.B", true},
		{[]string{"a.**.b"}, "a.b.c", false},
		{[]string{"A.B"}, "a.b", true},
		{[]string{`["K.Y"].z`}, `["k.y"].Z`, true},
		{[]string{"a.b", "**.c"}, "a.b", true},
		{[]string{"a.b", "**.c"}, "x.c", true},
		{[]string{"a.b", "**.c"}, "a.c.d", false},
		{[]string{"x[2]", "x[*].y"}, "x[2]", true},
		{[]string{"x[2]", "x[*].y"}, "x[3]", false},
		{[]string{"x[2]", "x[*].y"}, "x[3].y", true},
	}
	for _, tt := range tests {
		m := newMatcher(mustCompile(t, tt.rules...))
		path := fieldSegments(tt.path)
		if got := m.walk(m.start, path).accept; got != tt.want {
			t.Errorf("rules %q: walk(%q).accept = %v; want %v", tt.rules, tt.path, got, tt.want)
		}
		// Following the path a second time takes the remembered transitions.
		if got := m.walk(m.start, path).accept; got != tt.want {
			t.Errorf("rules %q: walk(%q) again: accept = %v; want %v", tt.rules, tt.path, got, tt.want)
		}
	}
}

func TestMatcherCaseInsensitiveKeys(t *testing.T) {
	m := newMatcher(mustCompile(t, "**.env.*", "**.*api_key"))
	for _, k := range []string{"API_KEY", "api_key", "Api_Key"} {
		s := m.key(m.start, k)
		if !s.accept {
			t.Errorf("key(start, %q).accept = false; want true", k)
		}
		if again := m.key(m.start, k); again != s {
			t.Errorf("key(start, %q) gave two states", k)
		}
	}
	if a, b := m.key(m.start, "ENV"), m.key(m.start, "env"); a != b {
		t.Errorf("key(start, ENV) and key(start, env) are different states")
	}
}

func TestMatcherDead(t *testing.T) {
	m := newMatcher(mustCompile(t, "env.*", "users[*].password"))
	for _, tt := range []struct {
		path string
		dead bool
	}{
		{"", false},
		{"env", false},
		{"env.a", false}, // matched
		{"env.a.b", true},
		{"settings", true},
		{"users", false},
		{"users[3]", false},
		{"users.x", true},
		{"users[3].name", true},
	} {
		if got := m.walk(m.start, fieldSegments(tt.path)).dead; got != tt.dead {
			t.Errorf("walk(%q).dead = %v; want %v", tt.path, got, tt.dead)
		}
	}
	if m := newMatcher(mustCompile(t, "**.x")); m.walk(m.start, fieldSegments("a.b[2].c")).dead {
		t.Errorf(`rule "**.x": a path became dead`)
	}
}

// TestMatcherBounds reads more distinct keys than a state remembers and
// more states than a matcher keeps: the answers stay right.
func TestMatcherBounds(t *testing.T) {
	rules := mustCompile(t, "**.k1*", "a.*.b", "**.x[*]")
	m := newMatcher(rules)
	for i := range 3 * maxStateTransitions {
		for _, path := range []string{fmt.Sprintf("k%d", i), fmt.Sprintf("a.k%d.b", i), fmt.Sprintf("K%d.x[%d]", i, i)} {
			segs := fieldSegments(path)
			if got, want := m.walk(m.start, segs).accept, refMatchAny(rules, segs); got != want {
				t.Fatalf("walk(%q).accept = %v; want %v", path, got, want)
			}
		}
	}
	if n := len(*m.start.keys.Load()); n > maxStateTransitions {
		t.Errorf("start state remembers %d keys; at most %d", n, maxStateTransitions)
	}
	// Rules whose states multiply: each "*x<i>*" adds a state bit.
	var paths []string
	for i := range 12 {
		paths = append(paths, fmt.Sprintf("**.*x%d*.y", i))
	}
	rules = mustCompile(t, paths...)
	m = newMatcher(rules)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for j := range 12 {
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&b, "x%d", j)
			}
		}
		path := []segment{{key: b.String()}, {key: "y"}}
		if got, want := m.walk(m.start, path).accept, refMatchAny(rules, path); got != want {
			t.Fatalf("walk(%q).accept = %v; want %v", pathString(path), got, want)
		}
	}
	if len(m.states) > maxStates {
		t.Errorf("matcher keeps %d states; at most %d", len(m.states), maxStates)
	}
}

// TestMatcherAgrees compares the compiled rules with matching each rule on
// random rule sets and paths, and checks that no path below a dead state
// matches.
func TestMatcherAgrees(t *testing.T) {
	ruleSegs := []string{"a", "B", "env", "*", "**", "secret*", "*key", "*a*b*", "[*]", "[0]", "[1]", `["x.y"]`}
	pathSegs := []segment{
		{key: "a"}, {key: "A"}, {key: "b"}, {key: "env"}, {key: "ENV"}, {key: "secret"}, {key: "secrets"},
		{key: "api_KEY"}, {key: "xaxbx"}, {key: "x.y"}, {key: ""}, {index: 0, isIndex: true}, {index: 1, isIndex: true},
		{index: 2, isIndex: true},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		var paths []string
		for range 1 + rng.IntN(4) {
			var b strings.Builder
			for j := range 1 + rng.IntN(4) {
				s := ruleSegs[rng.IntN(len(ruleSegs))]
				if j > 0 && s[0] != '[' {
					b.WriteByte('.')
				}
				b.WriteString(s)
			}
			paths = append(paths, b.String())
		}
		rules, err := Rules{Paths: paths}.compile()
		if err != nil {
			continue // "[0]" first is not a rule
		}
		m := newMatcher(rules)
		for range 200 {
			path := make([]segment, rng.IntN(6))
			for j := range path {
				path[j] = pathSegs[rng.IntN(len(pathSegs))]
			}
			lower := make([]segment, len(path))
			for j, s := range path {
				s.key = strings.ToLower(s.key)
				lower[j] = s
			}
			want := refMatchAny(rules, lower)
			if got := m.walk(m.start, path).accept; got != want {
				t.Fatalf("rules %q: walk(%s).accept = %v; want %v", paths, pathString(path), got, want)
			}
			// Below a dead state nothing matches.
			s := m.start
			for j := range path {
				if s.dead {
					if refMatchAny(rules, lower[:j]) || want {
						t.Fatalf("rules %q: %s is dead but %s matches", paths, pathString(path[:j]), pathString(path))
					}
					break
				}
				if path[j].isIndex {
					s = m.index(s, path[j].index)
				} else {
					s = m.key(s, path[j].key)
				}
			}
		}
	}
}

func FuzzMatcher(f *testing.F) {
	f.Add("**.password", "env.*", "users[3].PASSWORD")
	f.Add(`labels["a.b"].*`, "a[*].**", `labels["a.b"][2]`)
	f.Add("*a*b*", "**.**.x", "xxaxxbxx.x")
	f.Fuzz(func(t *testing.T, rule1, rule2, field string) {
		rules, err := Rules{Paths: []string{rule1, rule2}}.compile()
		if err != nil {
			return
		}
		m := newMatcher(rules)
		path := fieldSegments(field)
		if got, want := m.walk(m.start, path).accept, refMatchAny(rules, path); got != want {
			t.Fatalf("rules %q, %q: walk(%q).accept = %v; want %v", rule1, rule2, field, got, want)
		}
	})
}

// TestRedactBelowDeadState redacts with a rule that leaves most of the
// document out of reach: the parts not walked are still re-serialised as
// compact JSON with the last of duplicate keys.
func TestRedactBelowDeadState(t *testing.T) {
	r, err := NewRedactor(Rules{Paths: []string{"env.*"}}, make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	e := &auditkeep.Event{Snapshot: []byte(`{ "a": {"b": 1, "b": 2.50, "c": ["\u00e9"]}, "env": {"X": "value", "Y": null}, "x": {"env": {"Z": 1}} }`)}
	if err := r.RedactEvent(e); err != nil {
		t.Fatal(err)
	}
	want := `{"a":{"b":2.50,"c":["é"]},"env":{"X":"` + r.Hash("value") + `","Y":null},"x":{"env":{"Z":1}}}`
	if string(e.Snapshot) != want {
		t.Errorf("RedactEvent snapshot = %s; want %s", e.Snapshot, want)
	}
}

// TestIdentityPaths writes element paths as Diff does and reads them back:
// they parse to an element segment that "*" and "[*]" match and "[0]" does
// not.
func TestIdentityPaths(t *testing.T) {
	for _, tt := range []struct {
		id   *value
		path string
	}{
		{&value{kind: kindString, s: "api"}, "services[name=api]"},
		{&value{kind: kindString, s: "my api"}, `services[name="my api"]`},
		{&value{kind: kindString, s: `a]"b=c`}, `services[name="a]\"b=c"]`},
		{&value{kind: kindString, s: "1"}, `services[name="1"]`},
		{&value{kind: kindString, s: "é"}, `services[name="é"]`},
		{&value{kind: kindNumber, s: "8080"}, "services[name=8080]"},
		{&value{kind: kindNumber, s: "-1.50"}, "services[name=-1.5]"},
	} {
		got := joinIdentity("services", "name", tt.id)
		if got != tt.path {
			t.Errorf("joinIdentity(%s) = %s; want %s", tt.id.raw(), got, tt.path)
		}
		segs, err := parsePath(got, false)
		if err != nil || len(segs) != 2 || segs[1].id == nil {
			t.Fatalf("parsePath(%s) = %+v, %v; want a key and an element", got, segs, err)
		}
		if id := segs[1].id; id.field != "name" || identityKey(id.value) != identityKey(tt.id) {
			t.Errorf("parsePath(%s) element = %s %s; want name %s", got, id.field, id.value.raw(), tt.id.raw())
		}
	}
	for _, bad := range []string{"s[name=]", "s[name=a b]", `s[name="a]`, "s[=a]", "s[na me=a]", "s[name=a]x", "s[name=1e]"} {
		if _, err := parsePath(bad, false); err == nil {
			t.Errorf("parsePath(%q) accepted it; want an error", bad)
		}
	}
	if _, err := parsePath("s[name=a]", true); err == nil {
		t.Errorf(`a rule "s[name=a]" was accepted; rules name elements by "[*]" or an index`)
	}
	for _, tt := range []struct {
		rule, path string
		want       bool
	}{
		{"**.environment_variables.*", "environment_variables[key=DATABASE_URL]", true},
		{"env[*]", "env[name=A]", true},
		{"ports[1]", "ports[id=1]", false},
		{"s[*].password", `a.s[name="x y"].password`, false},
		{"**.s[*].password", `a.s[name="x y"].password`, true},
	} {
		m := newMatcher(mustCompile(t, tt.rule))
		if got := m.walk(m.start, fieldSegments(tt.path)).accept; got != tt.want {
			t.Errorf("rule %q: walk(%q).accept = %v; want %v", tt.rule, tt.path, got, tt.want)
		}
	}
	// A value that a rule names hides the values inside it.
	m := newMatcher(mustCompile(t, "**.environment_variables.*", "**.password"))
	for path, want := range map[string]bool{
		"environment_variables[key=DB].value": true, "password.old": true, "environment_variables": false, "name": false,
	} {
		if got := m.within(m.start, fieldSegments(path)).accept; got != want {
			t.Errorf("within(%q).accept = %v; want %v", path, got, want)
		}
	}
}
