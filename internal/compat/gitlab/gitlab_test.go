package gitlab

import (
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat/compattest"
)

// TestGolden maps each testdata/NAME.json, a body as GitLab streams it, and
// compares the event with NAME.golden.
func TestGolden(t *testing.T) {
	compattest.Golden(t, ".json", func(body []byte) (any, error) { return Map(body, "") })
}

func TestMapRefuses(t *testing.T) {
	tests := []struct{ body, field string }{
		{``, "body"},
		{`[1]`, "body"},
		{`{"id":1,`, "body"},
		{`{"id":1,"author_id":1}`, "event_type"},
		{`{"id":1,"event_type":"a_created","details":{"to":"x","to":"y"}}`, "details.to"},
		{`{"id":1,"author_id":1,"event_type":"x_created","created_at":"yesterday"}`, "created_at"},
	}
	for _, tt := range tests {
		_, err := Map([]byte(tt.body), "")
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tt.field {
			t.Errorf("Map(%q) = %v (field %q); want invalid naming %q", tt.body, err, auditkeep.ErrorField(err), tt.field)
		}
	}
	// The header names the type of an event whose body does not.
	e, err := Map([]byte(`{"id":9,"author_id":3,"author_name":"x"}`), "project_created")
	if err != nil || e.Action != "project_created" || e.Type != auditkeep.TypeCreate || e.ID != "gitlab:9" {
		t.Errorf("Map with the event type header = %+v, %v", e, err)
	}
}

func TestTypeOf(t *testing.T) {
	for in, want := range map[string]string{
		"project_created": "create", "merge_request_create": "create", "member_destroyed": "delete",
		"project_group_link_update": "update", "user_access_token_revoked": "delete", "audit_operation": "info",
		"user_logged_in_with_login": "login", "project_deletion_marked_for": "info",
	} {
		if got := typeOf(in, nil); got != want {
			t.Errorf("typeOf(%q) = %q; want %q", in, got, want)
		}
	}
}
