package notify_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert/notify"
	"github.com/auditkeep/auditkeep/internal/sqlite"
	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
	"github.com/prometheus/client_golang/prometheus"
)

// receiver is a signed-webhook or Slack receiver that answers status
// (under mu) and keeps the bodies it accepted.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	status   int
	accepted [][]byte
	ids      []string
	tries    int
}

func newReceiver(t *testing.T, key []byte) *receiver {
	rc := &receiver{status: http.StatusOK}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if key != nil {
			ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
			if r.Header.Get("webhook-signature") != transport.WebhookSignature(key, r.Header.Get("webhook-id"), ts, body) {
				http.Error(w, "bad signature", http.StatusBadRequest)
				return
			}
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.tries++
		if rc.status != http.StatusOK {
			http.Error(w, "receiver down", rc.status)
			return
		}
		rc.accepted = append(rc.accepted, body)
		rc.ids = append(rc.ids, r.Header.Get("webhook-id"))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) set(status int) {
	rc.mu.Lock()
	rc.status = status
	rc.mu.Unlock()
}

func (rc *receiver) got() ([][]byte, []string, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.accepted...), append([]string(nil), rc.ids...), rc.tries
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The notifier delivers an alert raised in the store to each channel of
// its rule (signed webhook, Slack, email over STARTTLS), once; a failing
// channel shows on the rule and in the metrics until a retry succeeds; a
// restarted notifier sends nothing again.
func TestNotifierDeliversOutbox(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := sqlite.Open(ctx, t.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	key, _ := transport.WebhookKey(testSecret)
	hook, slack := newReceiver(t, key), newReceiver(t, nil)
	slack.set(http.StatusServiceUnavailable)
	smtpSrv := receivertest.NewSMTP(t, true, "alerts", "s3cret")

	newNotifier := func(reg prometheus.Registerer) *notify.Notifier {
		n, err := notify.New(notify.Config{Store: s, Key: []byte("test stream key"), Owner: "node-1", PublicURL: "https://audit.example.com",
			Email: &notify.Email{Addr: smtpSrv.Addr, From: "auditkeep@example.com", Username: "alerts", Password: "s3cret", TLS: &tls.Config{RootCAs: smtpSrv.Pool}},
			Poll:  20 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Claim: 5 * time.Second,
			Logger: quiet, Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	reg := prometheus.NewRegistry()
	n := newNotifier(reg)
	sealed, err := n.Seal("acme", "alr_1", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	rule := &auditkeep.AlertRule{ID: "alr_1", Tenant: "acme", Name: "Failed logins", Match: "action:user.login status:failure",
		GroupBy: []string{"actor"}, Threshold: 5, Window: auditkeep.Duration(10 * time.Minute), Severity: auditkeep.SeverityHigh, Enabled: true,
		Channels: []auditkeep.AlertChannel{
			{Type: auditkeep.ChannelWebhook, URL: hook.URL, Secret: sealed},
			{Type: auditkeep.ChannelSlack, URL: slack.URL + "/services/T/B/x"},
			{Type: auditkeep.ChannelEmail, To: []string{"secops@example.com"}},
		}, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateAlertRule(ctx, rule); err != nil {
		t.Fatal(err)
	}
	if held, _, err := s.LeaseAlertEvaluator(ctx, "acme", "node-1", time.Minute); err != nil || !held {
		t.Fatalf("LeaseAlertEvaluator = %v, %v", held, err)
	}
	alert := &auditkeep.Alert{ID: "alt_1", Tenant: "acme", RuleID: "alr_1", RuleName: rule.Name, Severity: rule.Severity,
		GroupKey: map[string]string{"actor": "u_42"}, Count: 5, FirstEventAt: now.Add(-5 * time.Minute), LastEventAt: now.Add(-time.Minute),
		EventIDs: []string{"e1", "e2", "e3", "e4", "e5"}, FirstSeq: 1, LastSeq: 5, State: auditkeep.AlertOpen, CreatedAt: now, UpdatedAt: now}
	if err := s.CommitAlertEvaluation(ctx, "acme", "node-1", &auditkeep.AlertEvaluation{
		To: auditkeep.AlertEvaluatorState{Cursor: 5}, Raised: []*auditkeep.Alert{alert}}); err != nil {
		t.Fatal(err)
	}
	n.Open()
	n.Notify()

	// The webhook and the email arrive; Slack fails, and says so.
	waitFor(t, "the webhook and the email", func() bool {
		b, _, _ := hook.got()
		return len(b) == 1 && len(smtpSrv.Messages()) == 1
	})
	waitFor(t, "slack's failures", func() bool { _, _, tries := slack.got(); return tries >= 2 })
	got, err := s.GetAlertRule(ctx, "acme", "alr_1")
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Channels[1]; c.State != auditkeep.ChannelFailing || !strings.Contains(c.LastError, "503") || c.LastErrorAt.IsZero() {
		t.Errorf("slack channel status = %+v; want failing with the 503", c)
	}
	if c := got.Channels[0]; c.State != auditkeep.ChannelOK || c.LastSuccessAt.IsZero() {
		t.Errorf("webhook channel status = %+v; want ok", c)
	}
	failing := func(channel, typ string) float64 {
		return metric(t, reg, "auditkeep_alert_channel_failing", map[string]string{"tenant": "acme", "rule": "alr_1", "channel": channel, "type": typ})
	}
	if v := failing("1", "slack"); v != 1 {
		t.Errorf("auditkeep_alert_channel_failing{channel=1,type=slack} = %v; want 1", v)
	}
	if v := failing("0", "webhook"); v != 0 {
		t.Errorf("auditkeep_alert_channel_failing{channel=0,type=webhook} = %v; want 0", v)
	}

	// The webhook's body is the alert, signed, named by the notification.
	bodies, ids, _ := hook.got()
	var p notify.WebhookPayload
	if err := json.Unmarshal(bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "alert.open" || p.Alert == nil || p.Alert.ID != "alt_1" || p.Alert.Count != 5 || p.Alert.GroupKey["actor"] != "u_42" ||
		!strings.HasPrefix(p.Link, "https://audit.example.com/?") || !strings.Contains(p.Link, "actor=u_42") || ids[0] == "" {
		t.Errorf("webhook payload = %s (id %q)", bodies[0], ids[0])
	}

	// Slack recovers: the retry delivers, the channel is ok again.
	slack.set(http.StatusOK)
	waitFor(t, "slack's delivery", func() bool { b, _, _ := slack.got(); return len(b) == 1 })
	waitFor(t, "slack's channel ok", func() bool {
		got, _ := s.GetAlertRule(ctx, "acme", "alr_1")
		return got.Channels[1].State == auditkeep.ChannelOK
	})
	if v := failing("1", "slack"); v != 0 {
		t.Errorf("auditkeep_alert_channel_failing{channel=1,type=slack} after recovery = %v; want 0", v)
	}
	if c := metric(t, reg, "auditkeep_alert_notifications_sent_total", map[string]string{"type": "slack"}); c != 1 {
		t.Errorf("sent_total{slack} = %v; want 1", c)
	}

	// A restarted notifier sends nothing again.
	n.Close()
	n2 := newNotifier(prometheus.NewRegistry())
	n2.Open()
	n2.Notify()
	time.Sleep(300 * time.Millisecond) // a dozen polls: a repeat would arrive within them
	n2.Close()
	if b, _, _ := hook.got(); len(b) != 1 {
		t.Errorf("webhook received %d; want 1", len(b))
	}
	if b, _, _ := slack.got(); len(b) != 1 {
		t.Errorf("slack received %d; want 1", len(b))
	}
	if m := smtpSrv.Messages(); len(m) != 1 {
		t.Errorf("smtp received %d; want 1", len(m))
	}
}

// metric returns the value of the gauge or counter of the family name
// with the labels given, -1 when there is none.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	g, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range g {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			have := map[string]string{}
			for _, l := range m.Label {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			if m.Gauge != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}
