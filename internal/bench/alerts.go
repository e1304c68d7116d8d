package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Alerts is what watching the log costs ingest, and how soon a
// notification follows the event that raises its alert.
type Alerts struct {
	// Rows are ingest measurements (batches of 1,000 from 4 clients), each
	// on a fresh server: without rules, with the defaults, with 100 rules;
	// the sequence runs Rounds times, alternating.
	Rows   []AlertIngestRow `json:"ingest"`
	Rounds int              `json:"rounds"`
	// DefaultsOverNone and RulesOverNone are the medians of each round's
	// events/s ratio to the same round's run without rules.
	DefaultsOverNone float64 `json:"defaults_over_none"`
	RulesOverNone    float64 `json:"rules_100_over_none"`
	// Notification latency: each probe event's acknowledgement to the
	// arrival of its alert's signed webhook on loopback, under a steady
	// ingest of LatencyLoad, with the 100 rules in place (Latency) and with
	// the defaults alone (DefaultsLatency).
	LatencyLoad            string  `json:"latency_load"`
	LatencyProbes          int     `json:"latency_probes"`
	Latency                Summary `json:"latency"`
	LatencyMissing         int     `json:"latency_missing"` // probes whose notification never came
	DefaultsLatency        Summary `json:"defaults_latency"`
	DefaultsLatencyMissing int     `json:"defaults_latency_missing"`
}

// AlertIngestRow is one ingest measurement with a set of rules.
type AlertIngestRow struct {
	Rules string `json:"rules"` // none, defaults, 100 rules
	Round int    `json:"round"`
	IngestRow
	// CatchUp is how long after the last acknowledgement a probe event
	// sent then had its alert: the evaluator's lag behind that ingest.
	CatchUpSeconds float64 `json:"catch_up_s"`
	// Alerts is the number of alerts the rules raised on the ingest.
	Alerts int `json:"alerts"`
}

// The rule sets of the phase.
const (
	rulesNone     = "none"
	rulesDefaults = "defaults"
	rules100      = "100 rules"
)

func (r *runner) alerts(ctx context.Context) error {
	al := &Alerts{Rounds: 2}
	r.rep.Alerts = al
	r.alertsOn = true
	defer func() { r.alertsOn = false }()
	plan := r.ingestPlans()[0]
	reqs := r.requestsFor(plan)
	ratios := map[string][]float64{}
	for round := 1; round <= al.Rounds; round++ {
		var none float64
		for _, set := range []string{rulesNone, rulesDefaults, rules100} {
			s, err := r.startServer(ctx, true)
			if err != nil {
				return err
			}
			row, err := r.alertIngest(ctx, s, set, reqs, plan.clients)
			if err == nil && round == al.Rounds {
				switch set {
				case rulesDefaults:
					al.DefaultsLatency, al.DefaultsLatencyMissing, err = r.alertLatency(ctx, s, al)
				case rules100:
					al.Latency, al.LatencyMissing, err = r.alertLatency(ctx, s, al)
				}
			}
			s.close()
			if err != nil {
				return fmt.Errorf("%s: %w", set, err)
			}
			row.Round = round
			al.Rows = append(al.Rows, row)
			r.pg.note("alerts round %d %-9s %9.0f events/s  ack p99 %.1f ms  caught up %.2f s after  %d alerts",
				round, set, row.EventsPerSec, row.Ack.P99, row.CatchUpSeconds, row.Alerts)
			if set == rulesNone {
				none = row.EventsPerSec
			} else {
				ratios[set] = append(ratios[set], ratio(row.EventsPerSec, none))
			}
		}
	}
	al.DefaultsOverNone, al.RulesOverNone = median(ratios[rulesDefaults]), median(ratios[rules100])
	return nil
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return ratio(s[len(s)/2-1]+s[len(s)/2], 2)
}

// alertIngest sets the server's rules up, measures the ingest of reqs, and
// waits for the evaluator to catch up.
func (r *runner) alertIngest(ctx context.Context, s *server, set string, reqs *requests, clients int) (AlertIngestRow, error) {
	row := AlertIngestRow{Rules: set}
	// The first listing gives the tenant its default rules.
	rules, err := listRules(ctx, s.api)
	if err != nil {
		return row, err
	}
	probe := ""
	switch set {
	case rulesNone:
		for _, id := range rules {
			if _, err := s.api.call(ctx, http.MethodDelete, "/v1/alert-rules/"+url.PathEscape(id), nil, nil); err != nil {
				return row, fmt.Errorf("delete rule: %w", err)
			}
		}
	default:
		extra := 0
		if set == rules100 {
			extra = 100 - len(rules) - 1
		}
		for _, rule := range benchRules(extra) {
			if _, err := createRule(ctx, s.api, rule); err != nil {
				return row, err
			}
		}
		// The probe rule tells when the evaluator has caught up.
		if probe, err = createRule(ctx, s.api, map[string]any{"name": "bench probe", "match": "action:bench.probe",
			"threshold": 1, "window": "1m", "suppress_for": "0s", "severity": "low"}); err != nil {
			return row, err
		}
	}
	ing, err := r.measureIngest(ctx, s.api, reqs, clients)
	if err != nil {
		return row, err
	}
	row.IngestRow = ing
	if probe == "" {
		return row, nil
	}
	id := fmt.Sprintf("probe-%d", r.cfg.Seed)
	if err := postEvents(ctx, s.api, benchProbe(id, "bench.probe")); err != nil {
		return row, err
	}
	acked := time.Now()
	for {
		n, err := countAlerts(ctx, s.api, url.Values{"rule": {probe}})
		if err != nil {
			return row, err
		}
		if n > 0 {
			row.CatchUpSeconds = time.Since(acked).Round(time.Millisecond).Seconds()
			break
		}
		if time.Since(acked) > 5*time.Minute {
			return row, fmt.Errorf("the probe's alert not raised 5 minutes after the ingest")
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return row, err
		}
	}
	n, err := countAlerts(ctx, s.api, nil)
	row.Alerts = n - 1 // the probe's
	return row, err
}

// benchProbe is the body of one probe event.
func benchProbe(id, action string) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "action": action, "actor": map[string]string{"type": "system", "id": "bench"}, "source": "bench"})
	return b
}

// listRules returns the IDs of the tenant's rules.
func listRules(ctx context.Context, a *api) ([]string, error) {
	body, err := a.call(ctx, http.MethodGet, "/v1/alert-rules", nil, nil)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	var out struct {
		Rules []struct {
			ID string `json:"id"`
		} `json:"alert_rules"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	var ids []string
	for _, r := range out.Rules {
		ids = append(ids, r.ID)
	}
	return ids, nil
}

func createRule(ctx context.Context, a *api, rule map[string]any) (string, error) {
	b, _ := json.Marshal(rule)
	out, err := a.call(ctx, http.MethodPost, "/v1/alert-rules", nil, b)
	if err != nil {
		return "", fmt.Errorf("create rule %v: %w", rule["name"], err)
	}
	var r struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(out, &r) != nil || r.ID == "" {
		return "", fmt.Errorf("create rule: unexpected answer %.200s", out)
	}
	return r.ID, nil
}

// countAlerts counts the tenant's alerts matching q, page by page.
func countAlerts(ctx context.Context, a *api, q url.Values) (int, error) {
	n := 0
	p := url.Values{"limit": {"1000"}}
	for k, v := range q {
		p[k] = v
	}
	for {
		body, err := a.call(ctx, http.MethodGet, "/v1/alerts", p, nil)
		if err != nil {
			return 0, fmt.Errorf("list alerts: %w", err)
		}
		var out struct {
			Alerts     []json.RawMessage `json:"alerts"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return 0, fmt.Errorf("list alerts: %w", err)
		}
		n += len(out.Alerts)
		if out.NextCursor == "" {
			return n, nil
		}
		p.Set("cursor", out.NextCursor)
	}
}

// benchRules returns n rules of the kinds a security team writes over
// the demo's actions: single actions and families, per actor, address,
// target or team, thresholds from 1 to 50 within 5 minutes to an hour,
// one in five with a CEL condition.
func benchRules(n int) []map[string]any {
	matches := []string{
		"action:secret.reveal", "action:cluster.kubeconfig.download", "action:audit_log.export", "action:environment.delete",
		"action:member.remove", "action:ssh_key.create", "action:token.revoke", "action:secret.update", "action:secret.delete",
		"action:application.deploy status:failure", "action:database.backup status:failure", "action:certificate.renew status:failure",
		"type:delete actor_type:api_token", "type:update source:terraform", "action:environment.stop", "action:member.invite",
		"action:project.delete", "action:pod.create,vm.create", "action:version.file.download", "type:read status:failure",
		"action:environment_variable.delete", "action:cluster.update", "source:cli type:delete", "action:deployment.delete",
	}
	groups := [][]string{{"actor"}, {"ip"}, {"target"}, {"team"}, {"actor", "ip"}, {}}
	thresholds := []int{1, 3, 5, 10, 20, 50}
	windows := []string{"5m", "10m", "30m", "1h"}
	severities := []string{"low", "medium", "high", "critical"}
	conditions := []string{`event.source == "terraform"`, `event.status == "failure"`, `event.actor.type == "user"`, `has(event.target) && event.target.type != "user"`}
	var out []map[string]any
	for i := range n {
		rule := map[string]any{"name": fmt.Sprintf("bench rule %d", i+1), "match": matches[i%len(matches)],
			"group_by": groups[i%len(groups)], "threshold": thresholds[(i/2)%len(thresholds)], "window": windows[i%len(windows)],
			"suppress_for": "30m", "severity": severities[i%len(severities)]}
		if i%5 == 4 {
			rule["condition"] = conditions[(i/5)%len(conditions)]
		}
		out = append(out, rule)
	}
	return out
}

// alertLatency measures, under a steady ingest, how long after its
// acknowledgement each probe event's alert reaches a webhook on loopback.
// It returns the latencies and the number of probes whose notification
// never came.
func (r *runner) alertLatency(ctx context.Context, s *server, al *Alerts) (Summary, int, error) {
	rcv, err := startAlertReceiver()
	if err != nil {
		return Summary{}, 0, err
	}
	defer rcv.close()
	if _, err := createRule(ctx, s.api, map[string]any{"name": "bench notify", "match": "action:bench.notify", "threshold": 1,
		"window": "1m", "suppress_for": "0s", "severity": "high",
		"channels": []map[string]string{{"type": "webhook", "url": rcv.url, "secret": webhookSecret()}}}); err != nil {
		return Summary{}, 0, err
	}
	defer r.steadyLoad(ctx, s)()
	al.LatencyLoad = steadyLoadText

	const probes = 50
	acks := map[string]time.Time{}
	var n atomic.Int64
	r.pg.track("alert notification probes", &n, probes)
	for i := range probes {
		id := fmt.Sprintf("notify-%d-%d", r.cfg.Seed, i)
		if err := postEvents(ctx, s.api, benchProbe(id, "bench.notify")); err != nil {
			return Summary{}, 0, err
		}
		acks[id] = time.Now()
		n.Add(1)
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return Summary{}, 0, err
		}
	}
	deadline := time.Now().Add(time.Minute)
	for rcv.count() < probes && time.Now().Before(deadline) {
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return Summary{}, 0, err
		}
	}
	var lat recorder
	missing := 0
	rcv.mu.Lock()
	for id, ack := range acks {
		if at, ok := rcv.arrived[id]; ok {
			lat.add(at.Sub(ack))
		} else {
			missing++
		}
	}
	rcv.mu.Unlock()
	al.LatencyProbes = probes
	return lat.summary(), missing, nil
}

// alertReceiver is a webhook receiver that notes when each probe's alert
// arrives (by the probe event's id in the body).
type alertReceiver struct {
	srv     *http.Server
	url     string
	mu      sync.Mutex
	arrived map[string]time.Time
}

var probeID = regexp.MustCompile(`notify-\d+-\d+`)

func startAlertReceiver() (*alertReceiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ar := &alertReceiver{url: "http://" + l.Addr().String() + "/alerts", arrived: map[string]time.Time{}}
	ar.srv = &http.Server{Handler: http.HandlerFunc(ar.serve), ReadHeaderTimeout: 10 * time.Second}
	go ar.srv.Serve(l)
	return ar, nil
}

func (ar *alertReceiver) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	if r.Header.Get("webhook-signature") == "" {
		http.Error(w, "unsigned", http.StatusUnauthorized)
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	ar.mu.Lock()
	for _, id := range probeID.FindAll(b, -1) {
		if _, ok := ar.arrived[string(id)]; !ok {
			ar.arrived[string(id)] = at
		}
	}
	ar.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (ar *alertReceiver) count() int {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	return len(ar.arrived)
}

func (ar *alertReceiver) close() { ar.srv.Close() }
