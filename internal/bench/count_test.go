package bench

import "testing"

func TestRecordCounter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		csv    bool
		chunks []string
		want   int64
	}{
		{"ndjson", false, []string{"{\"a\":1}\n{\"a\":", "2}\n"}, 2},
		{"csv plain", true, []string{"h1,h2\n", "a,b\nc,d\n"}, 3},
		{"csv quoted newline", true, []string{"h\n\"line one\nline two\"\n"}, 2},
		{"csv escaped quote split across chunks", true, []string{"h\n\"say \"", "\"hi\"\"\nx\"\nnext\n"}, 3},
	} {
		c := &recordCounter{csv: tc.csv}
		for _, ch := range tc.chunks {
			c.count([]byte(ch))
		}
		if c.records != tc.want {
			t.Errorf("%s: count(%q) = %d records; want %d", tc.name, tc.chunks, c.records, tc.want)
		}
	}
}

func TestWords(t *testing.T) {
	if got := tokens("Alice.Martin@acme.example deployed 'api-v2'"); len(got) != 7 || got[0] != "alice" || got[6] != "v2" {
		t.Errorf("tokens = %q; want lowercased runs of letters and digits", got)
	}
}
