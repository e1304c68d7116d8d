package changes_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
)

// render writes changes compactly: "op field old→new; ...".
func render(cs []auditkeep.Change) string {
	var parts []string
	for _, c := range cs {
		s := c.Op + " " + c.Field
		if len(c.Old) > 0 || len(c.New) > 0 {
			s += " " + string(c.Old) + "→" + string(c.New)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name, before, after, want string
	}{
		{"both absent", ``, ``, ``},
		{"null and whitespace are absent", `null`, "  \n ", ``},
		{"equal", `{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, ``},
		{"scalar changed", `{"name":"prod"}`, `{"name":"production"}`,
			`changed name "prod"→"production"`},
		{"nested", `{"settings":{"cpu":1,"mem":2}}`, `{"settings":{"cpu":2,"mem":2}}`,
			`changed settings.cpu 1→2`},
		{"added and removed", `{"env":{"A":"1","B":"2"}}`, `{"env":{"B":"2","C":"3"}}`,
			`removed env.A "1"→; added env.C →"3"`},
		{"null is a value", `{"a":null}`, `{"a":1}`, `changed a null→1`},
		{"to null", `{"a":{"x":1}}`, `{"a":null}`, `changed a {"x":1}→null`},
		{"type change object to string", `{"a":{"x":1}}`, `{"a":"x"}`, `changed a {"x":1}→"x"`},
		{"number forms equal", `{"n":1,"m":100,"z":0}`, `{"n":1.0,"m":1e2,"z":-0.0}`, ``},
		{"big integers exact", `{"n":9007199254740993}`, `{"n":9007199254740992}`,
			`changed n 9007199254740993→9007199254740992`},
		{"number text kept", `{"n":1.50}`, `{"n":2.50}`, `changed n 1.50→2.50`},
		{"escaped strings equal", `{"s":"caf\u00e9"}`, `{"s":"café"}`, ``},
		{"array grows", `{"ports":[80,443]}`, `{"ports":[80,443,8080]}`, `added ports[2] →8080`},
		{"array shrinks", `{"ports":[80,443,8080]}`, `{"ports":[80]}`,
			`removed ports[1] 443→; removed ports[2] 8080→`},
		{"array of objects", `{"c":[{"n":"a","v":1},{"n":"b","v":2}]}`, `{"c":[{"n":"a","v":1},{"n":"b","v":3}]}`,
			`changed c[1].v 2→3`},
		{"array element type", `{"c":[1,{"x":1}]}`, `{"c":[{"x":1},1]}`,
			`changed c[0] 1→{"x":1}; changed c[1] {"x":1}→1`},
		{"indexes sort numerically", `{"a":[0,0,0,0,0,0,0,0,0,0,0,0]}`, `{"a":[0,0,1,0,0,0,0,0,0,0,0,1]}`,
			`changed a[2] 0→1; changed a[11] 0→1`},
		{"keys sorted", `{"b":1,"a":1,"c":{"z":1,"y":1}}`, `{"c":{"z":2,"y":2},"b":2,"a":2}`,
			`changed a 1→2; changed b 1→2; changed c.y 1→2; changed c.z 1→2`},
		{"quoted keys", `{"labels":{"app.kubernetes.io/name":"a"}}`, `{"labels":{"app.kubernetes.io/name":"b"}}`,
			`changed labels["app.kubernetes.io/name"] "a"→"b"`},
		{"quoted key at root", `{"a b":1,"0":1,"":1}`, `{"a b":2,"0":2,"":2}`,
			`changed [""] 1→2; changed ["0"] 1→2; changed ["a b"] 1→2`},
		{"identifier keys", `{"LOG-LEVEL":1,"_x9":1}`, `{"LOG-LEVEL":2,"_x9":2}`,
			`changed LOG-LEVEL 1→2; changed _x9 1→2`},
		{"before absent", ``, `{"a":1,"b":{"c":2}}`, `added a →1; added b →{"c":2}`},
		{"after absent", `{"a":1}`, `null`, `removed a 1→`},
		{"absent and array", ``, `[1,2]`, `added [0] →1; added [1] →2`},
		{"absent and scalar", ``, `"x"`, `added  →"x"`},
		{"root type change", `[1]`, `{"a":1}`, `changed  [1]→{"a":1}`},
		{"whitespace in values compacted", `{"a":{ "x" : [ 1 , 2 ] }}`, `{"a":"s"}`, `changed a {"x":[1,2]}→"s"`},
		{"duplicate key keeps last", `{"a":1,"a":2}`, `{"a":2}`, ``},
		{"duplicate key in a large object", `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"ka":10,"kb":11,"kc":12,"kd":13,"ke":14,"kf":15,"kg":16,"kh":17,"k3":99,"kg":98}`,
			`{"k0":0,"k1":1,"k2":2,"k3":99,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"ka":10,"kb":11,"kc":12,"kd":13,"ke":14,"kf":15,"kg":98,"kh":17}`, ``},
		{"duplicate key in a large object differs", `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"ka":10,"kb":11,"kc":12,"kd":13,"ke":14,"kf":15,"kg":16,"kh":17,"kg":98}`,
			`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"ka":10,"kb":11,"kc":12,"kd":13,"ke":14,"kf":15,"kg":16,"kh":17}`, `changed kg 98→16`},
		{"html kept unescaped", `{"a":"<b>"}`, `{"a":"&"}`, `changed a "<b>"→"&"`},
		{"identity by id", `{"s":[{"id":"a","v":1},{"id":"b","v":2}]}`, `{"s":[{"id":"x","v":0},{"id":"a","v":1},{"id":"b","v":3}]}`,
			`added s[id=x] →{"id":"x","v":0}; changed s[id=b].v 2→3`},
		{"id before name", `{"s":[{"id":1,"name":"a"}]}`, `{"s":[{"id":1,"name":"b"}]}`, `changed s[id=1].name "a"→"b"`},
		{"name when ids are missing", `{"s":[{"id":1,"name":"a"},{"name":"b"}]}`, `{"s":[{"name":"b"},{"id":1,"name":"a"}]}`,
			`reordered s ["a","b"]→["b","a"]`},
		{"key when names repeat", `{"s":[{"name":"x","key":"A"},{"name":"x","key":"B"}]}`, `{"s":[{"name":"x","key":"B"}]}`,
			`removed s[key=A] {"name":"x","key":"A"}→`},
		{"identity in any case", `{"Tags":[{"Key":"team","Value":"ml"}]}`, `{"Tags":[{"Key":"team","Value":"ai"}]}`,
			`changed Tags[Key=team].Value "ml"→"ai"`},
		{"spelled two ways is positional", `{"s":[{"Key":"a"},{"key":"b"}]}`, `{"s":[{"key":"b"}]}`,
			`removed s[0].Key "a"→; added s[0].key →"b"; removed s[1] {"key":"b"}→`},
		{"numbers by value", `{"s":[{"id":1,"v":1},{"id":2.0,"v":2}]}`, `{"s":[{"id":2,"v":3},{"id":1.0,"v":1}]}`,
			`reordered s [1,2.0]→[2,1.0]; changed s[id=2].v 2→3`},
		{"a string id is not a number id", `{"s":[{"id":"1"}]}`, `{"s":[{"id":1}]}`,
			`added s[id=1] →{"id":1}; removed s[id="1"] {"id":"1"}→`},
		{"quoted identities", `{"s":[{"name":"my api","v":1}]}`, `{"s":[{"name":"my api","v":2}]}`,
			`changed s[name="my api"].v 1→2`},
		{"repeated identity is positional", `{"s":[{"id":"a","v":1},{"id":"a","v":2}]}`, `{"s":[{"id":"a","v":1},{"id":"a","v":3}]}`,
			`changed s[1].v 2→3`},
		{"missing identity is positional", `{"s":[{"id":"a"},{"v":1}]}`, `{"s":[{"v":1},{"id":"a"}]}`,
			`removed s[0].id "a"→; added s[0].v →1; added s[1].id →"a"; removed s[1].v 1→`},
		{"empty and null identities are none", `{"s":[{"id":""},{"id":null}]}`, `{"s":[{"id":null},{"id":""}]}`,
			`changed s[0].id ""→null; changed s[1].id null→""`},
		{"redacted identities are none", `{"s":[{"id":"hmac-sha256:` + strings.Repeat("a", 64) + `","v":1}]}`, `{"s":[{"id":"hmac-sha256:` + strings.Repeat("a", 64) + `","v":2}]}`,
			`changed s[0].v 1→2`},
		{"scalars are positional", `{"s":["a","b"]}`, `{"s":["b","a"]}`, `changed s[0] "a"→"b"; changed s[1] "b"→"a"`},
		{"from an empty array", `{"s":[]}`, `{"s":[{"name":"a"}]}`, `added s[name=a] →{"name":"a"}`},
		{"to an empty array", `{"s":[{"name":"a"}]}`, `{"s":[]}`, `removed s[name=a] {"name":"a"}→`},
		{"reorder with insert keeps one order", `{"s":[{"id":"a"},{"id":"b"}]}`, `{"s":[{"id":"a"},{"id":"c"},{"id":"b"}]}`,
			`added s[id=c] →{"id":"c"}`},
		{"nested identities", `{"s":[{"id":"a","p":[{"name":"http","port":80}]}]}`, `{"s":[{"id":"a","p":[{"name":"http","port":8080}]}]}`,
			`changed s[id=a].p[name=http].port 80→8080`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := changes.Diff(json.RawMessage(tt.before), json.RawMessage(tt.after))
			if err != nil {
				t.Fatalf("Diff(%s, %s) error: %v", tt.before, tt.after, err)
			}
			if r := render(got); r != tt.want {
				t.Errorf("Diff(%s, %s) = %s; want %s", tt.before, tt.after, r, tt.want)
			}
		})
	}
}

func TestDiffInvalid(t *testing.T) {
	tests := []struct{ before, after, field string }{
		{`{`, `{}`, "before"},
		{`{}`, `{"a":}`, "after"},
		{`{} {}`, `{}`, "before"},
		{`{}`, `nul`, "after"},
		{`{}`, strings.Repeat("[", 10001) + strings.Repeat("]", 10001), "after"},
	}
	for _, tt := range tests {
		_, err := changes.Diff(json.RawMessage(tt.before), json.RawMessage(tt.after))
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tt.field {
			t.Errorf("Diff(%.20s, %.20s) error = %v (field %q); want EINVALID naming %q",
				tt.before, tt.after, err, auditkeep.ErrorField(err), tt.field)
		}
	}
}

func TestDiffCap(t *testing.T) {
	build := func(n, v int) json.RawMessage {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"k%05d":%d`, i, v)
		}
		b.WriteString("}")
		return json.RawMessage(b.String())
	}
	// Exactly MaxChanges: no marker.
	got, err := changes.Diff(build(changes.MaxChanges, 1), build(changes.MaxChanges, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != changes.MaxChanges || got[len(got)-1].Op == changes.OpTruncated {
		t.Fatalf("Diff of %d changed keys: %d changes, last %+v; want %d, no marker",
			changes.MaxChanges, len(got), got[len(got)-1], changes.MaxChanges)
	}
	// 2500 changes: MaxChanges-1 changes then a marker counting the rest.
	got, err = changes.Diff(build(2500, 1), build(2500, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != changes.MaxChanges {
		t.Fatalf("Diff of 2500 changed keys: %d changes; want %d", len(got), changes.MaxChanges)
	}
	last := got[len(got)-1]
	want := auditkeep.Change{Field: changes.TruncatedField, Op: changes.OpTruncated,
		New: json.RawMessage(fmt.Sprint(2500 - (changes.MaxChanges - 1)))}
	if last.Field != want.Field || last.Op != want.Op || string(last.New) != string(want.New) || last.Old != nil {
		t.Errorf("last change = %+v; want %+v", last, want)
	}
	if f := got[changes.MaxChanges-2].Field; f != "k00998" {
		t.Errorf("last kept change is %s; want k00998", f)
	}
}

func TestCompareIsDiff(t *testing.T) {
	a, b := json.RawMessage(`{"x":1,"y":[1]}`), json.RawMessage(`{"x":2,"y":[]}`)
	d, err1 := changes.Diff(a, b)
	c, err2 := changes.Compare(a, b)
	if err1 != nil || err2 != nil || render(c) != render(d) {
		t.Errorf("Compare = %s, %v; want Diff's %s, %v", render(c), err2, render(d), err1)
	}
}

func FuzzDiff(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[1,2,{"c":null}]}`), []byte(`{"a":1.0,"b":[1,{"c":"x"}],"d":true}`))
	f.Add([]byte(`[]`), []byte(`"x"`))
	f.Add([]byte(`{"a.b":{"":1e400}}`), []byte(``))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		got, err := changes.Diff(a, b)
		if err != nil {
			if auditkeep.ErrorCode(err) != auditkeep.EINVALID {
				t.Fatalf("Diff error %v; want EINVALID", err)
			}
			return
		}
		if len(got) > changes.MaxChanges {
			t.Fatalf("Diff returned %d changes; cap is %d", len(got), changes.MaxChanges)
		}
		for _, c := range got {
			for _, raw := range []json.RawMessage{c.Old, c.New} {
				if len(raw) > 0 && !json.Valid(raw) {
					t.Fatalf("change %+v holds invalid JSON %q", c, raw)
				}
			}
		}
		// A document never differs from itself.
		if same, err := changes.Diff(a, a); err == nil && len(same) != 0 {
			t.Fatalf("Diff(a, a) = %s; want nothing", render(same))
		}
	})
}

// TestDiffGolden runs every testdata/diff/NAME.json event through the
// ingest order (redact with DefaultRules, Diff before and snapshot,
// Describe) and compares the changes, one JSON object a line, and the
// description with NAME.golden.
func TestDiffGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/diff/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	r, err := changes.NewRedactor(changes.DefaultRules(), make([]byte, changes.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var e auditkeep.Event
			if err := json.Unmarshal(in, &e); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if err := r.RedactEvent(&e); err != nil {
				t.Fatal(err)
			}
			if e.Changes, err = changes.Diff(e.Before, e.Snapshot); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, c := range e.Changes {
				line, err := json.Marshal(c)
				if err != nil {
					t.Fatal(err)
				}
				b.Write(line)
				b.WriteByte('\n')
			}
			b.WriteString(changes.Describe(&e))
			b.WriteByte('\n')
			got := b.String()
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s:\n%s\nwant\n%s", name, got, want)
			}
		})
	}
}
