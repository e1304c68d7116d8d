package ledger_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/auditkeep/auditkeep/internal/ledger"
)

// TestCanonicalJSONNumbers checks the number vectors of RFC 8785 Appendix B,
// each fed as 17 significant digits (never the canonical spelling).
func TestCanonicalJSONNumbers(t *testing.T) {
	tests := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	}
	for _, tt := range tests {
		in := strconv.FormatFloat(math.Float64frombits(tt.bits), 'e', 16, 64)
		got, err := ledger.CanonicalJSON([]byte(in))
		if err != nil || string(got) != tt.want {
			t.Errorf("CanonicalJSON(%s) [bits %016x] = %s, %v; want %s", in, tt.bits, got, err, tt.want)
		}
	}
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			// RFC 8785 section 3.2.2.
			"rfc8785 3.2.2",
			`{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			// RFC 8785 section 3.2.3: sorting by UTF-16 code units.
			"rfc8785 3.2.3",
			`{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{"nested", `{"b":[{"z":1,"y":{"d":4,"c":3}}],"a":{}}`, `{"a":{},"b":[{"y":{"c":3,"d":4},"z":1}]}`},
		{"escapes", `"\b\t\n\f\r\u0001\u001f\u007f <>&\u2028"`, "\"\\b\\t\\n\\f\\r\\u0001\\u001f\u007f <>&\u2028\""},
		{"negative zero", `-0.0`, `0`},
		{"big integer", `18446744073709551615`, `18446744073709552000`},
		{"empty array", ` [ ] `, `[]`},
		{"invalid utf-8", "\"a\xffb\"", "\"a\uFFFDb\""},
		{"lone surrogate", `"\ud800"`, "\"\uFFFD\""},
	}
	for _, tt := range tests {
		got, err := ledger.CanonicalJSON([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: CanonicalJSON(%q) = %q, %v; want %q", tt.name, tt.in, got, err, tt.want)
		}
	}
}

func TestCanonicalJSONErrors(t *testing.T) {
	for _, in := range []string{
		``,
		`{"a":1,"a":2}`,
		`{"a":1} {"b":2}`,
		`1e400`,
		`[1,]`,
		`{"a"}`,
		`nul`,
	} {
		if got, err := ledger.CanonicalJSON([]byte(in)); err == nil {
			t.Errorf("CanonicalJSON(%q) = %q, nil; want an error", in, got)
		}
	}
}
