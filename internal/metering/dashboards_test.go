package metering

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

const dashboards = "../../deploy/dashboards"

// jsonStrings returns every string value in the JSON document at path.
func jsonStrings(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	return out
}

// exported returns the names of the metric families a fully configured meter
// exports, and which of them are histograms.
func exported(t *testing.T) (names map[string]dto.MetricType) {
	t.Helper()
	reg := NewRegistry()
	m, err := New(reg, Options{KnownKey: known("k1"), KnownModel: known("claude"), CloudWatch: newCloudWatch(nil, CloudWatchOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	exerciseAll(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names = make(map[string]dto.MetricType)
	for _, mf := range mfs {
		names[mf.GetName()] = mf.GetType()
	}
	return names
}

var promName = regexp.MustCompile(`\btollgate_[a-z0-9_]*[a-z0-9]`)

func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	names := exported(t)
	used := map[string]bool{}
	var exprs int
	for _, s := range jsonStrings(t, filepath.Join(dashboards, "grafana.json")) {
		if strings.Contains(s, "histogram_quantile(") || strings.Contains(s, "rate(") {
			exprs++
		}
		for _, name := range promName.FindAllString(s, -1) {
			if _, ok := names[name]; !ok {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, cut := strings.CutSuffix(name, suffix); cut && names[base] == dto.MetricType_HISTOGRAM {
						name = base
						break
					}
				}
			}
			if _, ok := names[name]; !ok {
				t.Errorf("grafana.json uses %s in %q: not a metric the meter exports", name, s)
			}
			used[name] = true
		}
	}
	if exprs < 10 {
		t.Errorf("only %d PromQL expressions found: the walk is broken", exprs)
	}
	for _, want := range []string{
		"tollgate_budget_spent_usd", "tollgate_budget_limit_usd", "tollgate_tokens_total", "tollgate_requests_total",
		"tollgate_request_duration_seconds", "tollgate_time_to_first_token_seconds", "tollgate_budget_rejections_total",
		"tollgate_upstream_errors_total", "tollgate_cost_usd_total",
		"tollgate_rate_limit_refusals_total", "tollgate_alerts_sent_total", "tollgate_fallback_attempts_total",
	} {
		if !used[want] {
			t.Errorf("grafana.json has no panel on %s", want)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dashboards, "grafana.json"))
	if !bytes.Contains(raw, []byte(`"uid": "${datasource}"`)) || !bytes.Contains(raw, []byte(`"type": "datasource"`)) {
		t.Error("grafana.json does not use a ${datasource} template variable")
	}
}

var (
	cwSearchName  = regexp.MustCompile(`MetricName="([^"]+)"`)
	cwSearchNS    = regexp.MustCompile(`SEARCH\('\{([^,}]+)`)
	cwSearchDims  = regexp.MustCompile(`SEARCH\('\{[^,}]+((?:,[^,}]+)*)\}`)
	cwInsightName = regexp.MustCompile(`\b(?:SUM|AVG|MIN|MAX|COUNT)\((\w+)\)`)
	cwInsightNS   = regexp.MustCompile(`SCHEMA\("([^"]+)"`)
	cwInsightDims = regexp.MustCompile(`SCHEMA\("[^"]+"((?:,\s*\w+)*)\)`)
)

// dimSet names a dimension set by its names, sorted and comma-separated.
func dimSet(names []string) string {
	names = slices.Clone(names)
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// emittedMetrics returns each metric name the EMF encoder emits, with the
// dimension sets it is declared under, read from the lines it writes: a
// streamed request's and each count's.
func emittedMetrics(t *testing.T) map[string]map[string]bool {
	t.Helper()
	var out bytes.Buffer
	m, _ := newTestMeter(t, Options{EMF: &out})
	m.Record(Event{KeyID: "k1", Model: "claude", Stream: true, TimeToFirstToken: 1, Latency: 1})
	m.RateLimited("k1", ScopeKey, "requests")
	m.Fallback("claude", "nova", "throttled")
	m.AlertSent("sns", "ok")
	emitted := map[string]map[string]bool{}
	for _, line := range emfLines(t, out.Bytes()) {
		root := validateEMF(t, line)
		for _, d := range root["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
			d := d.(map[string]any)
			var sets []string
			for _, set := range d["Dimensions"].([]any) {
				var names []string
				for _, n := range set.([]any) {
					names = append(names, n.(string))
				}
				sets = append(sets, dimSet(names))
			}
			for _, mt := range d["Metrics"].([]any) {
				name := mt.(map[string]any)["Name"].(string)
				if emitted[name] == nil {
					emitted[name] = map[string]bool{}
				}
				for _, set := range sets {
					emitted[name][set] = true
				}
			}
		}
	}
	return emitted
}

func TestCloudWatchDashboardUsesEmittedMetrics(t *testing.T) {
	emitted := emittedMetrics(t)
	for _, want := range []string{"Requests", "CostUSD", "RateLimitRefusals", "FallbackAttempts", "AlertsSent"} {
		if emitted[want] == nil {
			t.Fatalf("the EMF lines declare no %s: the reading is broken (%v)", want, emitted)
		}
	}

	used := map[string]bool{}
	for _, s := range jsonStrings(t, filepath.Join(dashboards, "cloudwatch.json")) {
		var names, namespaces, sets []string
		for _, sm := range cwSearchName.FindAllStringSubmatch(s, -1) {
			names = append(names, sm[1])
		}
		for _, sm := range cwSearchNS.FindAllStringSubmatch(s, -1) {
			namespaces = append(namespaces, sm[1])
		}
		for _, sm := range cwSearchDims.FindAllStringSubmatch(s, -1) {
			sets = append(sets, dimSet(strings.Split(strings.TrimPrefix(sm[1], ","), ",")))
		}
		if strings.HasPrefix(s, "SELECT") {
			for _, sm := range cwInsightName.FindAllStringSubmatch(s, -1) {
				names = append(names, sm[1])
			}
			for _, sm := range cwInsightNS.FindAllStringSubmatch(s, -1) {
				namespaces = append(namespaces, sm[1])
			}
			for _, sm := range cwInsightDims.FindAllStringSubmatch(s, -1) {
				sets = append(sets, dimSet(strings.Split(strings.TrimPrefix(strings.TrimSpace(sm[1]), ","), ",")))
			}
		}
		for _, ns := range namespaces {
			if ns != DefaultNamespace {
				t.Errorf("cloudwatch.json queries namespace %q in %q", ns, s)
			}
		}
		if len(names) > 0 && len(sets) != len(namespaces) {
			t.Errorf("cloudwatch.json: %q names %d namespaces but %d dimension sets: the parsing is broken", s, len(namespaces), len(sets))
		}
		for _, n := range names {
			if emitted[n] == nil {
				t.Errorf("cloudwatch.json uses %s in %q: not a metric the EMF encoder emits", n, s)
			}
			for _, set := range sets {
				if emitted[n] != nil && !emitted[n][set] {
					t.Errorf("cloudwatch.json queries %s by {%s} in %q: EMF declares it only by %v", n, set, s, slices.Sorted(maps.Keys(emitted[n])))
				}
			}
			used[n] = true
		}
	}
	for n := range emitted {
		if !used[n] {
			t.Errorf("cloudwatch.json has no widget on %s", n)
		}
	}
	if !slices.Contains(jsonStrings(t, filepath.Join(dashboards, "cloudwatch.json")), "metric") {
		t.Error("cloudwatch.json has no metric widget")
	}
}
