package auditkeep_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

func TestDurationJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{`"10m"`, 10 * time.Minute, `"10m"`},
		{`"1h30m"`, 90 * time.Minute, `"1h30m"`},
		{`"2h"`, 2 * time.Hour, `"2h"`},
		{`"45s"`, 45 * time.Second, `"45s"`},
		{`"0s"`, 0, `"0s"`},
		{`600`, 10 * time.Minute, `"10m"`},
	} {
		var d auditkeep.Duration
		if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
			t.Fatalf("Unmarshal(%s): %v", tc.in, err)
		}
		if d.D() != tc.want {
			t.Errorf("Unmarshal(%s) = %v; want %v", tc.in, d.D(), tc.want)
		}
		b, _ := json.Marshal(d)
		if string(b) != tc.out {
			t.Errorf("Marshal(%v) = %s; want %s", tc.want, b, tc.out)
		}
	}
	var d auditkeep.Duration
	if err := json.Unmarshal([]byte(`"ten minutes"`), &d); err == nil {
		t.Error(`Unmarshal("ten minutes") succeeded; want an error`)
	}
}

func validRule() *auditkeep.AlertRule {
	return &auditkeep.AlertRule{
		Name: "Failed logins", Match: "action:user.login status:failure",
		GroupBy: []string{"actor"}, Threshold: 5, Window: auditkeep.Duration(10 * time.Minute),
		Severity: "high", Enabled: true,
		Channels: []auditkeep.AlertChannel{
			{Type: "webhook", URL: "https://siem.example.com/hook"},
			{Type: "slack", URL: "https://hooks.slack.com/services/T/B/X"},
			{Type: "email", To: []string{"secops@example.com"}},
		},
	}
}

func TestAlertRuleValidate(t *testing.T) {
	if err := validRule().Validate(); err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(r *auditkeep.AlertRule)
		field string
	}{
		{"no name", func(r *auditkeep.AlertRule) { r.Name = " " }, "name"},
		{"long name", func(r *auditkeep.AlertRule) { r.Name = strings.Repeat("x", 201) }, "name"},
		{"control in name", func(r *auditkeep.AlertRule) { r.Name = "a\nb" }, "name"},
		{"no match", func(r *auditkeep.AlertRule) { r.Match = "" }, "match"},
		{"severity", func(r *auditkeep.AlertRule) { r.Severity = "urgent" }, "severity"},
		{"threshold 0", func(r *auditkeep.AlertRule) { r.Threshold = 0 }, "threshold"},
		{"window negative", func(r *auditkeep.AlertRule) { r.Window = -1 }, "window"},
		{"window too long", func(r *auditkeep.AlertRule) { r.Window = auditkeep.Duration(8 * 24 * time.Hour) }, "window"},
		{"window 0 with threshold 5", func(r *auditkeep.AlertRule) { r.Window = 0 }, "window"},
		{"suppress negative", func(r *auditkeep.AlertRule) { r.SuppressFor = -1 }, "suppress_for"},
		{"group_by unknown", func(r *auditkeep.AlertRule) { r.GroupBy = []string{"actor", "email"} }, "group_by[1]"},
		{"group_by twice", func(r *auditkeep.AlertRule) { r.GroupBy = []string{"ip", "ip"} }, "group_by[1]"},
		{"default unknown", func(r *auditkeep.AlertRule) { r.Default = "x" }, "default"},
		{"channel type", func(r *auditkeep.AlertRule) { r.Channels[0].Type = "pager" }, "channels[0].type"},
		{"webhook no url", func(r *auditkeep.AlertRule) { r.Channels[0].URL = "" }, "channels[0].url"},
		{"webhook ftp", func(r *auditkeep.AlertRule) { r.Channels[0].URL = "ftp://x.example.com/" }, "channels[0].url"},
		{"webhook credentials", func(r *auditkeep.AlertRule) { r.Channels[0].URL = "https://u:p@x.example.com/" }, "channels[0].url"},
		{"slack with to", func(r *auditkeep.AlertRule) { r.Channels[1].To = []string{"a@example.com"} }, "channels[1].to"},
		{"email no to", func(r *auditkeep.AlertRule) { r.Channels[2].To = nil }, "channels[2].to"},
		{"email bad address", func(r *auditkeep.AlertRule) { r.Channels[2].To = []string{"ok@example.com", "Bob <b@example.com>"} }, "channels[2].to[1]"},
		{"email with url", func(r *auditkeep.AlertRule) { r.Channels[2].URL = "https://x.example.com" }, "channels[2].url"},
	} {
		r := validRule()
		tc.edit(r)
		err := r.Validate()
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tc.field {
			t.Errorf("%s: Validate() = %v (field %q); want invalid naming %q", tc.name, err, auditkeep.ErrorField(err), tc.field)
		}
	}
	r := validRule()
	r.Threshold, r.Window = 1, 0
	if err := r.Validate(); err != nil {
		t.Errorf("threshold 1 without window: %v", err)
	}
}
