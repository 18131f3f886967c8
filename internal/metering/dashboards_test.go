package metering

import (
	"bytes"
	"encoding/json"
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
	cwInsightName = regexp.MustCompile(`\b(?:SUM|AVG|MIN|MAX|COUNT)\((\w+)\)`)
	cwInsightNS   = regexp.MustCompile(`SCHEMA\("([^"]+)"`)
)

func TestCloudWatchDashboardUsesEmittedMetrics(t *testing.T) {
	// The names the EMF encoder emits, read from a line it wrote.
	var out bytes.Buffer
	m, _ := newTestMeter(t, Options{EMF: &out})
	m.Record(Event{KeyID: "k1", Model: "claude", Stream: true, TimeToFirstToken: 1, Latency: 1})
	root := validateEMF(t, bytes.TrimSpace(out.Bytes()))
	emitted := map[string]bool{}
	for _, d := range root["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
		for _, mt := range d.(map[string]any)["Metrics"].([]any) {
			emitted[mt.(map[string]any)["Name"].(string)] = true
		}
	}

	used := map[string]bool{}
	for _, s := range jsonStrings(t, filepath.Join(dashboards, "cloudwatch.json")) {
		var names, namespaces []string
		for _, sm := range cwSearchName.FindAllStringSubmatch(s, -1) {
			names = append(names, sm[1])
		}
		for _, sm := range cwSearchNS.FindAllStringSubmatch(s, -1) {
			namespaces = append(namespaces, sm[1])
		}
		if strings.HasPrefix(s, "SELECT") {
			for _, sm := range cwInsightName.FindAllStringSubmatch(s, -1) {
				names = append(names, sm[1])
			}
			for _, sm := range cwInsightNS.FindAllStringSubmatch(s, -1) {
				namespaces = append(namespaces, sm[1])
			}
		}
		for _, ns := range namespaces {
			if ns != DefaultNamespace {
				t.Errorf("cloudwatch.json queries namespace %q in %q", ns, s)
			}
		}
		for _, n := range names {
			if !emitted[n] {
				t.Errorf("cloudwatch.json uses %s in %q: not a metric the EMF encoder emits", n, s)
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
