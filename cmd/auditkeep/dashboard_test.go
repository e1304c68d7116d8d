package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

const dashboardFile = "../../docs/grafana-auditkeep.json"

// TestDashboardMetricsExist reads every PromQL expression of the Grafana
// dashboard in docs/ and checks that each metric it names is in the
// /metrics of a server that ingested, answered queries, integrated its
// ledger, ran retention and delivered a stream (and failed to deliver
// another).
func TestDashboardMetricsExist(t *testing.T) {
	exprs := dashboardExprs(t)
	if len(exprs) < 20 {
		t.Fatalf("%s has %d queries; want the dashboard's panels", dashboardFile, len(exprs))
	}

	cfg := DefaultConfig()
	cfg.Retention.Enabled = true
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	ingestN(t, base, key, "d", 20)
	ids := listIDs(t, base, key, "limit=5")
	if len(ids) == 0 {
		t.Fatal("no events listed")
	}
	for _, path := range []string{"/v1/events/" + ids[0], "/v1/facets?field=action", "/v1/export?format=ndjson&sort=seq"} {
		if r := call(t, "GET", base+path, key, nil); r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	secret := newWebhookSecret()
	good := receivertest.NewWebhook(t, secret)
	refusing := receivertest.NewWebhook(t, newWebhookSecret()) // another secret: every delivery is refused
	for name, url := range map[string]string{"siem": good.URL, "refused": refusing.URL} {
		r := call(t, "POST", base+"/v1/streams", key, map[string]any{"name": name, "type": "webhook", "format": "native",
			"settings": map[string]any{"url": url}, "secret": secret, "start": "beginning"})
		if r.status != 201 {
			t.Fatalf("create stream %s: %d %s", name, r.status, r.body)
		}
	}
	var names map[string]bool
	waitUntil(t, "the dashboard's metrics in /metrics", func() bool {
		names = exposedMetrics(metricsText(t, base))
		return names["auditkeep_stream_delivered_events_total"] && names["auditkeep_stream_failures_total"] && names["auditkeep_ledger_leaves_total"]
	})

	for _, e := range exprs {
		used, err := promqlMetrics(e.expr)
		if err != nil {
			t.Errorf("%s: panel %q: %v in %s", dashboardFile, e.panel, err, e.expr)
			continue
		}
		if len(used) == 0 {
			t.Errorf("%s: panel %q names no metric: %s", dashboardFile, e.panel, e.expr)
		}
		for _, m := range used {
			if !names[m] {
				t.Errorf("%s: panel %q uses %s, which /metrics does not have", dashboardFile, e.panel, m)
			}
		}
	}
}

type dashboardExpr struct{ panel, expr string }

// dashboardExprs returns the queries of the dashboard's panels (rows'
// panels included) and of its query variables.
func dashboardExprs(t *testing.T) []dashboardExpr {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []dashboardExpr
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, dashboardExpr{p.Title, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((\w+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("%s: variable %s: %q is not label_values(metric, label)", dashboardFile, v.Name, v.Definition)
			continue
		}
		out = append(out, dashboardExpr{"variable " + v.Name, m[1]})
	}
	return out
}

// exposedMetrics returns the sample names of a /metrics text.
func exposedMetrics(text string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		names[name] = true
	}
	return names
}

// promqlWords are PromQL's functions, aggregations and keywords: the
// identifiers of an expression that are not metric names.
var promqlWords = []string{
	"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
	"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
	"rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "abs", "ceil", "floor", "round",
	"clamp_min", "clamp_max", "time", "vector", "scalar", "absent", "changes", "resets", "label_replace",
	"avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "count_over_time", "last_over_time",
}

// promqlMetrics returns the metric names expr selects, with Grafana's
// variables ($__rate_interval, $instance) read as their values would be.
// It checks that brackets, braces and parentheses pair and that strings
// close; label names (in braces, and in by/without/on/ignoring lists) are
// not metric names.
func promqlMetrics(expr string) ([]string, error) {
	expr = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$instance", ".*").Replace(expr)
	var out []string
	var stack []rune
	labelList := false // inside by (...), without (...), on (...) or ignoring (...)
	prev := ""
	rs := []rune(expr)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != c {
				if rs[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("a string does not close")
			}
			i = j
		case c == '(' || c == '{' || c == '[':
			stack = append(stack, c)
			if c == '(' && slices.Contains([]string{"by", "without", "on", "ignoring", "group_left", "group_right"}, prev) {
				labelList = true
			}
		case c == ')' || c == '}' || c == ']':
			open := map[rune]rune{')': '(', '}': '{', ']': '['}[c]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return nil, fmt.Errorf("%q at %d does not pair", c, i)
			}
			stack = stack[:len(stack)-1]
			labelList = false
		case unicode.IsLetter(c) || c == '_' || c == ':':
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == ':') {
				j++
			}
			word := string(rs[i:j])
			i = j - 1
			inBraces := len(stack) > 0 && stack[len(stack)-1] == '{'
			inRange := len(stack) > 0 && stack[len(stack)-1] == '['
			switch {
			case inBraces, inRange, labelList:
			case slices.Contains(promqlWords, word):
			default:
				if !slices.Contains(out, word) {
					out = append(out, word)
				}
			}
			prev = word
			continue
		}
		if !unicode.IsSpace(c) {
			prev = ""
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("%q does not close", stack[len(stack)-1])
	}
	return out, nil
}

func TestPromQLMetrics(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (tenant) (rate(auditkeep_tenant_events_ingested_total{instance=~"$instance"}[$__rate_interval]))`, []string{"auditkeep_tenant_events_ingested_total"}},
		{`histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route!~"stream|x"}[5m])))`, []string{"a_bucket"}},
		{`sum(rate(a_sum[5m])) / sum(rate(a_count[5m]))`, []string{"a_sum", "a_count"}},
		{`max by (tenant, stream) (s{state!="active"}) > 0`, []string{"s"}},
		{`go_goroutines`, []string{"go_goroutines"}},
	}
	for _, tt := range tests {
		got, err := promqlMetrics(tt.expr)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("promqlMetrics(%q) = %v, %v; want %v", tt.expr, got, err, tt.want)
		}
	}
	for _, bad := range []string{`sum(rate(a[5m])`, `a{b="c}`, `a{b="c"]`} {
		if _, err := promqlMetrics(bad); err == nil {
			t.Errorf("promqlMetrics(%q) = nil error; want one", bad)
		}
	}
}
