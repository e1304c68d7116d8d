package k8saudit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
	"github.com/auditkeep/auditkeep/internal/compat/compattest"
)

func testHash(t *testing.T) Hash {
	r, err := changes.NewRedactor(changes.DefaultRules(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return r.HashJSON
}

// TestGolden maps testdata/NAME.json, an EventList as the webhook backend
// posts it, and compares the events with NAME.golden.
func TestGolden(t *testing.T) {
	compattest.Golden(t, ".json", func(body []byte) (any, error) {
		list, err := Decode(body)
		if err != nil {
			return nil, err
		}
		events, _, err := Map(list, testHash(t))
		return events, err
	})
}

func TestSecretsHidden(t *testing.T) {
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a1","stage":"ResponseComplete","verb":"patch","user":{"username":"bob"},
		"objectRef":{"resource":"secrets","namespace":"ns","name":"db"},
		"requestObject":{"stringData":{"token":"s3cr3t-value"},"data":{"x":"c2VjcmV0"}},
		"responseObject":{"kind":"Secret","metadata":{"name":"db"},"data":{"token":"czNjcjN0LXZhbHVl","x":"c2VjcmV0"}}}]}`
	list, err := Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	events, _, err := Map(list, testHash(t))
	if err != nil || len(events) != 1 {
		t.Fatalf("Map = %v, %v", events, err)
	}
	out, _ := json.Marshal(events[0])
	for _, clear := range []string{"s3cr3t-value", "c2VjcmV0", "czNjcjN0LXZhbHVl"} {
		if strings.Contains(string(out), clear) {
			t.Errorf("the event holds the Secret's value %s in clear: %s", clear, out)
		}
	}
	if !strings.Contains(string(out), changes.HashPrefix) {
		t.Errorf("no hashed value in %s", out)
	}
}

func TestRefuses(t *testing.T) {
	tests := []struct{ body, field string }{
		{`[]`, "body"},
		{`{"kind":"Event","apiVersion":"audit.k8s.io/v1"}`, "kind"},
		{`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"stage":"ResponseComplete"}]}`, "items[0].auditID"},
		{`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"ResponseComplete","verb":"get","requestReceivedTimestamp":"noon"}]}`, "items[0].requestReceivedTimestamp"},
		{`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","auditID":"b"}]}`, "items[0].auditID"},
	}
	for _, tt := range tests {
		err := func() error {
			list, err := Decode([]byte(tt.body))
			if err != nil {
				return err
			}
			_, _, err = Map(list, testHash(t))
			return err
		}()
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tt.field {
			t.Errorf("%s: %v (field %q); want invalid naming %q", tt.body, err, auditkeep.ErrorField(err), tt.field)
		}
	}
}
