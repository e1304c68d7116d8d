package format_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/format"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	occurred = time.Date(2026, 11, 26, 9, 30, 15, 123456000, time.UTC)
	received = time.Date(2026, 11, 26, 9, 30, 15, 987000000, time.UTC)
)

// records are the cases every format's golden files hold.
func records() map[string]format.Record {
	ev := func(seq int64, id, action, typ, status string) *auditkeep.Event {
		return &auditkeep.Event{Tenant: "acme", Seq: seq, ReceivedAt: received, ID: id, OccurredAt: occurred,
			Action: action, Type: typ, Status: status,
			Actor: auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_42", Name: "Alice Martin", Email: "alice@example.com"}}
	}
	update := ev(41, "0193a1b2-0000-7000-8000-000000000041", "environment.update", auditkeep.TypeUpdate, auditkeep.StatusSuccess)
	update.Target = &auditkeep.Target{Type: "environment", ID: "env_7", Name: "production"}
	update.Scope = []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1", Name: "Shop"}}
	update.Team = "platform"
	update.Source = "console"
	update.Context = auditkeep.Context{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"}
	update.Description = "Updated environment 'production' in project 'Shop': name changed from 'prod' to 'production'"
	update.Changes = []auditkeep.Change{{Field: "name", Op: auditkeep.ChangeChanged, Old: json.RawMessage(`"prod"`), New: json.RawMessage(`"production"`)}}
	update.Before = json.RawMessage(`{"name":"prod"}`)
	update.Snapshot = json.RawMessage(`{"name":"production"}`)

	login := ev(42, "0193a1b2-0000-7000-8000-000000000042", "user.login", auditkeep.TypeLogin, auditkeep.StatusFailure)
	login.Context = auditkeep.Context{IP: "2001:db8::1", UserAgent: "curl/8.5.0"}
	login.Source = "api"

	logout := ev(43, "0193a1b2-0000-7000-8000-000000000043", "user.logout", auditkeep.TypeLogout, auditkeep.StatusSuccess)

	created := ev(44, "0193a1b2-0000-7000-8000-000000000044", "user.create", auditkeep.TypeCreate, auditkeep.StatusSuccess)
	created.Actor = auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: "tok_9", Name: "terraform"}
	created.Target = &auditkeep.Target{Type: "user", ID: "usr_77", Name: "Bob"}
	created.Source = "terraform"

	reset := ev(45, "0193a1b2-0000-7000-8000-000000000045", "user.password.reset", auditkeep.TypeUpdate, auditkeep.StatusSuccess)
	reset.Target = &auditkeep.Target{Type: "user", ID: "usr_77", Name: "Bob"}

	read := ev(46, "0193a1b2-0000-7000-8000-000000000046", "secret.read", auditkeep.TypeRead, auditkeep.StatusSuccess)
	read.Actor = auditkeep.Actor{Type: auditkeep.ActorService, ID: "svc_ci"}
	read.Target = &auditkeep.Target{Type: "secret", ID: "sec_1", Name: "DATABASE_URL"}

	deleted := ev(47, "0193a1b2-0000-7000-8000-000000000047", "pod.delete", auditkeep.TypeDelete, auditkeep.StatusSuccess)
	deleted.Target = &auditkeep.Target{Type: "pod", ID: "pod_3"}

	execute := ev(48, "0193a1b2-0000-7000-8000-000000000048", "deployment.restart", auditkeep.TypeExecute, auditkeep.StatusSuccess)
	execute.Actor = auditkeep.Actor{Type: auditkeep.ActorSystem, ID: "scheduler"}

	hostile := ev(49, "0193a1b2-0000-7000-8000-000000000049", "x|y=z\\w", auditkeep.TypeInfo, auditkeep.StatusSuccess)
	hostile.Actor.Name = "<script>alert(1)</script> | a=b"
	hostile.Description = "line one\nline two\r\n| pipe = equals \\ backslash \x00 nul \xff bad"
	hostile.Context = auditkeep.Context{IP: "not an ip", UserAgent: "ua\nwith=newline"}
	hostile.Target = &auditkeep.Target{Type: "a|b", ID: "id=1", Name: "é ü 漢字"}

	test := ev(0, "0193a1b2-0000-7000-8000-0000000000ff", "auditkeep.stream.test", auditkeep.TypeInfo, auditkeep.StatusSuccess)
	test.Description = "Test delivery of stream str_1"

	return map[string]format.Record{
		"update":  {Event: update, StreamID: "str_1", StreamSeq: 7, PrevStreamSeq: 6},
		"login":   {Event: login, StreamID: "str_1", StreamSeq: 8, PrevStreamSeq: 7},
		"logout":  {Event: logout, StreamID: "str_1", StreamSeq: 9, PrevStreamSeq: 8},
		"created": {Event: created, StreamID: "str_1", StreamSeq: 10, PrevStreamSeq: 9},
		"reset":   {Event: reset, StreamID: "str_1", StreamSeq: 11, PrevStreamSeq: 10},
		"read":    {Event: read, StreamID: "str_1", StreamSeq: 12, PrevStreamSeq: 11},
		"delete":  {Event: deleted, StreamID: "str_1", StreamSeq: 13, PrevStreamSeq: 12},
		"execute": {Event: execute, StreamID: "str_1", StreamSeq: 1, PrevStreamSeq: 0},
		"hostile": {Event: hostile, StreamID: "str_1", StreamSeq: 14, PrevStreamSeq: 13},
		"test":    {Event: test, StreamID: "str_1", Test: true},
	}
}

// TestGolden: every format writes each case as its golden file holds it
// (JSON formats' golden files are the output indented; `go test -update`
// rewrites them).
func TestGolden(t *testing.T) {
	for _, name := range format.Names {
		f := format.ByName(name)
		if f == nil || f.Name() != name {
			t.Fatalf("format.ByName(%q) = %v", name, f)
		}
		for c, r := range records() {
			got, err := f.Encode(r)
			if err != nil {
				t.Fatalf("%s.Encode(%s): %v", name, c, err)
			}
			if bytes.ContainsAny(got, "\r\n") {
				t.Errorf("%s.Encode(%s) holds a line break: %q", name, c, got)
			}
			path := filepath.Join("testdata", name, c+".golden")
			if name != "cef" {
				if !json.Valid(got) {
					t.Fatalf("%s.Encode(%s) is not JSON: %s", name, c, got)
				}
				var ind bytes.Buffer
				json.Indent(&ind, got, "", "  ")
				got = ind.Bytes()
			}
			got = append(got, '\n')
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s.Encode(%s) =\n%s\nwant (%s)\n%s", name, c, got, path, want)
			}
		}
	}
}

// TestStreamFields: every format carries tenant, seq, stream_id,
// stream_seq and prev_stream_seq where the README says a receiver finds
// them.
func TestStreamFields(t *testing.T) {
	paths := map[string]string{"native": "", "ocsf": "unmapped.auditkeep", "ecs": "auditkeep"}
	for c, r := range records() {
		want := format.FieldsOf(r)
		for name, path := range paths {
			js, err := format.ByName(name).Encode(r)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(js, &doc); err != nil {
				t.Fatal(err)
			}
			for _, k := range strings.Split(path, ".") {
				if k != "" {
					doc, _ = doc[k].(map[string]any)
				}
			}
			sub, _ := json.Marshal(doc)
			var got format.Fields
			json.Unmarshal(sub, &got)
			if got != want {
				t.Errorf("%s.Encode(%s) at %q = %+v; want %+v", name, c, path, got, want)
			}
		}
		line, _ := format.ByName("cef").Encode(r)
		ext := cefExtension(t, string(line))
		for k, v := range map[string]string{"cs1": want.Tenant, "cs2": want.StreamID} {
			if ext[k] != v {
				t.Errorf("cef.Encode(%s): %s = %q; want %q", c, k, ext[k], v)
			}
		}
		for k, v := range map[string]int64{"cn1": want.Seq, "cn2": want.StreamSeq, "cn3": want.PrevStreamSeq} {
			if ext[k] != strconvI(v) {
				t.Errorf("cef.Encode(%s): %s = %q; want %d", c, k, ext[k], v)
			}
		}
		if (ext["flexString2"] == "test") != r.Test {
			t.Errorf("cef.Encode(%s): flexString2 = %q; test %v", c, ext["flexString2"], r.Test)
		}
	}
}

func strconvI(v int64) string { b, _ := json.Marshal(v); return string(b) }

// TestOCSFClasses pins each case's class and type_uid, and ECS's category.
func TestOCSFClasses(t *testing.T) {
	want := map[string]struct {
		class, typeUID int
		ecsCategory    string
	}{
		"update": {6003, 600303, "configuration"}, "login": {3002, 300201, "authentication"},
		"logout": {3002, 300202, "authentication"}, "created": {3001, 300101, "iam"},
		"reset": {3001, 300104, "iam"}, "read": {6003, 600302, "configuration"},
		"delete": {6003, 600304, "configuration"}, "execute": {6003, 600399, "configuration"},
	}
	rs := records()
	for c, w := range want {
		js, _ := format.ByName("ocsf").Encode(rs[c])
		var o struct {
			ClassUID int `json:"class_uid"`
			TypeUID  int `json:"type_uid"`
			Status   int `json:"status_id"`
		}
		json.Unmarshal(js, &o)
		if o.ClassUID != w.class || o.TypeUID != w.typeUID {
			t.Errorf("ocsf.Encode(%s) = class %d type_uid %d; want %d %d", c, o.ClassUID, o.TypeUID, w.class, w.typeUID)
		}
		if wantStatus := map[bool]int{true: 2, false: 1}[rs[c].Event.Status == auditkeep.StatusFailure]; o.Status != wantStatus {
			t.Errorf("ocsf.Encode(%s) status_id = %d; want %d", c, o.Status, wantStatus)
		}
		js, _ = format.ByName("ecs").Encode(rs[c])
		var d struct {
			Event struct {
				Category []string `json:"category"`
				Outcome  string   `json:"outcome"`
				Sequence int64    `json:"sequence"`
				Action   string   `json:"action"`
			} `json:"event"`
		}
		json.Unmarshal(js, &d)
		if len(d.Event.Category) != 1 || d.Event.Category[0] != w.ecsCategory || d.Event.Outcome != rs[c].Event.Status ||
			d.Event.Sequence != rs[c].Event.Seq || d.Event.Action != rs[c].Event.Action {
			t.Errorf("ecs.Encode(%s) event = %+v", c, d.Event)
		}
	}
}

// TestCEFEscaping: hostile content stays inside its field: the header has
// its eight fields and the extension's values read back as sent, with
// line breaks as \n.
func TestCEFEscaping(t *testing.T) {
	r := records()["hostile"]
	line, _ := format.ByName("cef").Encode(r)
	header := splitCEFHeader(string(line))
	if len(header) != 8 {
		t.Fatalf("cef header fields = %d (%q); want 8", len(header), header)
	}
	if header[4] != `x\|y=z\\w` {
		t.Errorf("cef Device Event Class ID = %q", header[4])
	}
	ext := cefExtension(t, string(line))
	if ext["act"] != r.Event.Action || ext["suser"] != r.Event.Actor.Name || ext["cs4"] != "id=1" || ext["cs5"] != "é ü 漢字" {
		t.Errorf("cef extension = %q", ext)
	}
	if ext["msg"] != "line one\\nline two\\r\\n| pipe = equals \\ backslash   nul \uFFFD bad" {
		t.Errorf("cef msg = %q", ext["msg"])
	}
	if _, ok := ext["src"]; ok {
		t.Errorf("cef src = %q for an IP that is not one", ext["src"])
	}
}

// splitCEFHeader splits a CEF line at unescaped pipes, the last field
// being the extension.
func splitCEFHeader(line string) []string {
	var fields []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		if len(fields) == 7 {
			fields = append(fields, line[i:])
			return fields
		}
		switch line[i] {
		case '\\':
			cur.WriteByte(line[i])
			if i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
			}
		case '|':
			fields = append(fields, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(fields, cur.String())
}

// cefExtension parses the extension of a CEF line as a CEF reader does: a
// key is the word before an unescaped '=', its value runs to the space
// before the next key; \= and \\ are unescaped (\n is kept as the two
// characters it was sent as).
func cefExtension(t *testing.T, line string) map[string]string {
	t.Helper()
	h := splitCEFHeader(line)
	if len(h) != 8 {
		t.Fatalf("cef header of %q has %d fields", line, len(h))
	}
	ext := h[7]
	// Positions of unescaped '='.
	var eqs []int
	for i := 0; i < len(ext); i++ {
		if ext[i] == '\\' {
			i++
			continue
		}
		if ext[i] == '=' {
			eqs = append(eqs, i)
		}
	}
	out := map[string]string{}
	keyStart := 0
	for n, eq := range eqs {
		key := ext[keyStart:eq]
		end := len(ext)
		if n+1 < len(eqs) {
			end = strings.LastIndexByte(ext[:eqs[n+1]], ' ')
		}
		v := ext[eq+1 : end]
		v = strings.NewReplacer(`\=`, `=`, `\\`, `\`).Replace(v)
		out[key] = v
		keyStart = end + 1
	}
	return out
}
