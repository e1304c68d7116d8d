package retention_test

import (
	"crypto/sha256"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/retention"
)

var sha256Sum = sha256.Sum256

func TestParsePlans(t *testing.T) {
	tests := []struct {
		in      string
		want    string // Plans.String(), "" for an error
		wantErr bool
	}{
		{"team=7,business=30", "team=7,business=30", false},
		{" user = 3 , forever=0 ", "forever=0,user=3", false},
		{"enterprise=365,", "enterprise=365", false},
		{"", "", true},
		{"team", "", true},
		{"team=-1", "", true},
		{"team=seven", "", true},
		{"Team=7", "", true},
		{"team=7,team=8", "", true},
	}
	for _, tt := range tests {
		p, err := retention.ParsePlans(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParsePlans(%q) error = %v; want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			if auditkeep.ErrorField(err) != "plans" {
				t.Errorf("ParsePlans(%q) error field = %q; want plans", tt.in, auditkeep.ErrorField(err))
			}
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("ParsePlans(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestPlanDays(t *testing.T) {
	p := retention.DefaultPlans()
	for plan, want := range map[string]int{"user": 3, "team": 7, "business": 30, "standard": 90, "enterprise": 365} {
		if got, err := p.Days(plan); err != nil || got != want {
			t.Errorf("DefaultPlans().Days(%q) = %d, %v; want %d", plan, got, err, want)
		}
	}
	if _, err := p.Days("gold"); auditkeep.ErrorField(err) != "plan" {
		t.Errorf("Days(gold) = %v; want EINVALID naming plan", err)
	}
}

func TestHoldCovers(t *testing.T) {
	tests := []struct {
		scope, path string
		want        bool
	}{
		{"", "", true},
		{"", "project:prj_1", true},
		{"project:prj_1", "project:prj_1", true},
		{"project:prj_1", "project:prj_1/environment:env_7", true},
		{"project:prj_1", "project:prj_10", false},
		{"project:prj_1", "", false},
		{"project:prj_1/environment:env_7", "project:prj_1", false},
	}
	for _, tt := range tests {
		h := &auditkeep.Hold{Scope: tt.scope}
		if got := h.Covers(tt.path); got != tt.want {
			t.Errorf("Hold{Scope: %q}.Covers(%q) = %v; want %v", tt.scope, tt.path, got, tt.want)
		}
	}
}
