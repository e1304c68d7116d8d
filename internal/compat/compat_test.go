package compat

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

func TestID(t *testing.T) {
	if got := ID("gitlab", "42"); got != "gitlab:42" {
		t.Errorf(`ID("gitlab", "42") = %q; want gitlab:42`, got)
	}
	a, b := ID("ce", "a", "bc"), ID("ce", "ab", "c")
	if a == b || !strings.HasPrefix(a, "ce:") || len(a) != 3+64 {
		t.Errorf("ID(ce, a, bc) = %q, ID(ce, ab, c) = %q; want two different hashes", a, b)
	}
	if got := ID("x", "has space"); got == "x:has space" || got != ID("x", "has space") {
		t.Errorf("ID of a non-word = %q; want its stable hash", got)
	}
	if got := ID("x", strings.Repeat("a", 97)); len(got) != 2+64 {
		t.Errorf("ID of a long word = %q; want its hash", got)
	}
}

func TestRename(t *testing.T) {
	names := map[string]string{"actor.id": "author_id", "actor": "author", "occurred_at": "created_at", "metadata": ""}
	prefix := func(i int) string { return "" }
	tests := []struct{ field, want string }{
		{"events[0].actor.id", "author_id"},
		{"events[0].actor.name", "author.name"},
		{"events[0].occurred_at", "created_at"},
		{"events[0].metadata.entity_path", "entity_path"},
		{"events[0].scope[0].id", "scope[0].id"},
		{"body", "body"},
	}
	for _, tt := range tests {
		err := Rename(&auditkeep.Error{Code: auditkeep.EINVALID, Field: tt.field, Message: tt.field + " is wrong"}, prefix, names)
		var e *auditkeep.Error
		if !errors.As(err, &e) || e.Field != tt.want || e.Message != tt.want+" is wrong" {
			t.Errorf("Rename(%q) = %v (field %q); want field %q", tt.field, err, e.Field, tt.want)
		}
	}
	err := Rename(auditkeep.FieldErrorf("events[3].actor", "events[3].actor is required"), func(i int) string { return "items[3]" }, names)
	if f := auditkeep.ErrorField(err); f != "items[3].author" || Index(auditkeep.FieldErrorf("events[3].actor", "")) != 3 {
		t.Errorf("Rename with a prefix = %q; want items[3].author", f)
	}
	plain := errors.New("disk full")
	if Rename(plain, prefix, names) != plain || Index(plain) != -1 {
		t.Error("Rename changed an error that names no field")
	}
}

func TestTimes(t *testing.T) {
	if got, err := Millis("1606929874512"); err != nil || !got.Equal(time.Date(2020, 12, 2, 17, 24, 34, 512e6, time.UTC)) {
		t.Errorf("Millis = %v, %v", got, err)
	}
	if got, err := Seconds("1606929874.25"); err != nil || !got.Equal(time.Date(2020, 12, 2, 17, 24, 34, 250e6, time.UTC)) {
		t.Errorf("Seconds = %v, %v", got, err)
	}
	for _, bad := range []string{"-1", "x", "1e300"} {
		if _, err := Millis(json.Number(bad)); err == nil {
			t.Errorf("Millis(%s) took it", bad)
		}
		if _, err := Seconds(bad); err == nil {
			t.Errorf("Seconds(%s) took it", bad)
		}
	}
}

func TestDecode(t *testing.T) {
	type inner struct {
		N int `json:"n"`
	}
	type body struct {
		A string `json:"a"`
		B *inner `json:"b"`
	}
	var ok body
	if err := Decode([]byte(`{"a":"x","b":{"n":1}}`), &ok); err != nil || ok.A != "x" || ok.B.N != 1 {
		t.Errorf("Decode(valid) = %+v, %v", ok, err)
	}
	for _, c := range []struct{ raw, field string }{
		{`{"a":"x","a":"y"}`, "a"},
		{`{"A":"x"}`, "A"},
		{`{"a":1}`, "a"},
		{`{"c":1}`, "c"},
		{`{"a":"\ud800"}`, "a"},
		{`{"a":`, "body"},
		{`[1]`, "body"},
		{`{"a":"x"} {"a":"y"}`, "body"},
		{`{"":1}`, "body"},
	} {
		var v body
		if err := Decode([]byte(c.raw), &v); auditkeep.ErrorField(err) != c.field || auditkeep.ErrorCode(err) != auditkeep.EINVALID {
			t.Errorf("Decode(%s) = %v; want EINVALID naming %s", c.raw, err, c.field)
		}
	}
}
