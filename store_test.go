package auditkeep_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

func TestDeletesTarget(t *testing.T) {
	target := &auditkeep.Target{Type: "service", ID: "svc_1"}
	tests := []struct {
		typ, status string
		target      *auditkeep.Target
		want        bool
	}{
		{auditkeep.TypeDelete, auditkeep.StatusSuccess, target, true},
		{auditkeep.TypeDelete, auditkeep.StatusFailure, target, false},
		{auditkeep.TypeDelete, auditkeep.StatusSuccess, nil, false},
		{auditkeep.TypeUpdate, auditkeep.StatusSuccess, target, false},
	}
	for _, tc := range tests {
		e := &auditkeep.Event{Type: tc.typ, Status: tc.status, Target: tc.target}
		if got := e.DeletesTarget(); got != tc.want {
			t.Errorf("DeletesTarget(type %s, status %s, target %v) = %v; want %v", tc.typ, tc.status, tc.target, got, tc.want)
		}
	}
}

func TestSetReceived(t *testing.T) {
	set := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	events := []*auditkeep.Event{{}, {ReceivedAt: set}}
	auditkeep.SetReceived(events, now)
	if !events[0].ReceivedAt.Equal(now) || events[0].ReceivedAt.Location() != time.UTC {
		t.Errorf("SetReceived: zero ReceivedAt = %v; want %v in UTC", events[0].ReceivedAt, now.UTC())
	}
	if !events[1].ReceivedAt.Equal(set) {
		t.Errorf("SetReceived: ReceivedAt %v = %v; want it kept", set, events[1].ReceivedAt)
	}
}

func TestIPRange(t *testing.T) {
	tests := []struct{ prefix, first, last string }{
		{"203.0.113.7/32", "203.0.113.7", "203.0.113.7"},
		{"203.0.113.0/24", "203.0.113.0", "203.0.113.255"},
		{"203.0.113.77/20", "203.0.112.0", "203.0.127.255"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255"},
		{"2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"2001:db8::1/128", "2001:db8::1", "2001:db8::1"},
	}
	for _, tc := range tests {
		first, last := auditkeep.IPRange(netip.MustParsePrefix(tc.prefix))
		if first.String() != tc.first || last.String() != tc.last {
			t.Errorf("IPRange(%s) = %s, %s; want %s, %s", tc.prefix, first, last, tc.first, tc.last)
		}
	}
}
