package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tollgate-gw/tollgate/internal/metering/cwtest"
)

// scrape returns the gateway's metrics from its admin listener as
// "name{label=value,...}" → value, labels sorted by name.
func (g *gateway) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(g.adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// TestMeteringEndToEnd sends requests through the gateway and checks that
// Prometheus, the EMF lines and CloudWatch PutMetricData all count the same
// requests, tokens and cost, and that their cost equals the store's settled
// spend to the micro-dollar.
func TestMeteringEndToEnd(t *testing.T) {
	cw := cwtest.New(t, nil)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", cw.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "0.000001") // the capped key can afford nothing
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://", "-emf", "-cloudwatch")

	type want struct {
		status int
		body   string
		key    string
		path   string // "" for /v1/chat/completions
	}
	requests := []want{
		{200, chatBody("one [sim:tokens=20]", 100, false), freeSecret, ""},
		{200, chatBody("two [sim:tokens=30]", 100, false), freeSecret, ""},
		{200, `{"model":"` + haiku + `","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"three [sim:tokens=40]"}]}`, freeSecret, ""},
		{429, chatBody("throttled [sim:error=ThrottlingException]", 100, false), freeSecret, ""},
		{403, `{"model":"amazon.nova-lite-v1:0","messages":[{"role":"user","content":"hi"}]}`, freeSecret, ""},
		{429, chatBody("too dear", 100, false), cappedSecret, ""},
		// Each new front end meters under its own endpoint label.
		{200, `{"model":"` + haiku + `","max_tokens":100,"messages":[{"role":"user","content":"four [sim:tokens=5]"}]}`, freeSecret, "/v1/messages"},
		{200, `{"model":"` + haiku + `","max_output_tokens":100,"input":"five [sim:tokens=5]"}`, freeSecret, "/v1/responses"},
		{200, `{"messages":[{"role":"user","content":[{"text":"six [sim:tokens=5]"}]}],"inferenceConfig":{"maxTokens":100}}`, freeSecret, "/bedrock/model/" + haiku + "/converse"},
		{200, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"seven [sim:tokens=5]"}]}`, freeSecret, "/bedrock/model/" + haiku + "/invoke"},
	}
	for _, r := range requests {
		path := cmp.Or(r.path, "/v1/chat/completions")
		if status, _, b := g.do(t, "POST", path, r.key, "application/json", r.body); status != r.status {
			t.Fatalf("POST %s: status %d, want %d: %s", path, status, r.status, b)
		}
	}
	spent := g.usage(t, freeSecret).Key.SpentUSD
	if spent <= 0 {
		t.Fatal("nothing spent")
	}

	m := g.scrape(t)
	model := "model=" + haiku
	for series, v := range map[string]float64{
		"tollgate_requests_total{endpoint=chat.completions,key=free," + model + ",status=200,team=none}":               3,
		"tollgate_requests_total{endpoint=chat.completions,key=free," + model + ",status=429,team=none}":               1,
		"tollgate_requests_total{endpoint=chat.completions,key=free,model=amazon.nova-lite-v1:0,status=403,team=none}": 1,
		"tollgate_requests_total{endpoint=chat.completions,key=capped," + model + ",status=429,team=none}":             1,
		"tollgate_requests_total{endpoint=messages,key=free," + model + ",status=200,team=none}":                       1,
		"tollgate_requests_total{endpoint=responses,key=free," + model + ",status=200,team=none}":                      1,
		"tollgate_requests_total{endpoint=bedrock.converse,key=free," + model + ",status=200,team=none}":               1,
		"tollgate_requests_total{endpoint=bedrock.invoke,key=free," + model + ",status=200,team=none}":                 1,
		"tollgate_tokens_total{key=free,kind=output," + model + ",team=none}":                                          110,
		"tollgate_upstream_errors_total{code=ThrottlingException," + model + "}":                                       1,
		"tollgate_budget_rejections_total{key=capped,reason=budget_exceeded}":                                          1,
		"tollgate_budget_rejections_total{key=free,reason=model_not_allowed}":                                          1,
		"tollgate_requests_in_flight{}":                  0,
		"tollgate_budget_limit_usd{id=capped,scope=key}": 0.000001,
	} {
		if got, ok := m[series]; !ok || math.Abs(got-v) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
		}
	}
	if got := m["tollgate_cost_usd_total{key=free,"+model+",team=none}"]; math.Abs(got-spent) > 1e-9 {
		t.Errorf("cost metric %v USD, store spent %v USD", got, spent)
	}
	var policyInfo int
	for series, v := range m {
		if strings.HasPrefix(series, "tollgate_policy_info{") && v == 1 {
			policyInfo++
		}
	}
	if policyInfo != 1 {
		t.Errorf("%d current policy versions in tollgate_policy_info", policyInfo)
	}
	if strings.Contains(g.scrapeRaw(t), freeSecret) {
		t.Error("a secret reached the metrics")
	}

	// One EMF line per metered request, whose costs add up to the store's.
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	var lines int
	var emfCost float64
	endpoints := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(g.stdout.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stdout line is not JSON: %q", line)
		}
		aws := rec["_aws"].(map[string]any)
		for _, d := range aws["CloudWatchMetrics"].([]any) {
			for _, set := range d.(map[string]any)["Dimensions"].([]any) {
				for _, name := range set.([]any) {
					if _, ok := rec[name.(string)].(string); !ok {
						t.Errorf("EMF line lacks the string dimension %s: %s", name, line)
					}
				}
			}
		}
		if _, ok := rec["Requests"]; !ok {
			continue // a count of its own (an alert delivery), not a request
		}
		lines++
		if ep, _ := rec["Endpoint"].(string); strings.HasPrefix(ep, "bedrock.") {
			endpoints[ep]++
		}
		if rec["KeyId"] == "free" {
			emfCost += rec["CostUSD"].(float64)
		}
	}
	if lines != len(requests) {
		t.Errorf("%d EMF lines for %d requests", lines, len(requests))
	}
	if want := map[string]int{"bedrock.converse": 1, "bedrock.invoke": 1}; !maps.Equal(want, endpoints) {
		t.Errorf("EMF Endpoint of the /bedrock requests: %v, want %v", endpoints, want)
	}
	if math.Abs(emfCost-spent) > 1e-9 {
		t.Errorf("EMF cost %v USD, store spent %v USD", emfCost, spent)
	}

	// CloudWatch got the same, flushed at shutdown.
	var cwRequests, cwCost float64
	for _, call := range cw.Calls() {
		for _, d := range call.Data {
			if !strings.Contains(d.Dims, "KeyId=free") {
				continue
			}
			switch d.Name {
			case "Requests":
				cwRequests += d.Sum
			case "CostUSD":
				cwCost += d.Sum
			}
		}
	}
	if cwRequests != 9 || math.Abs(cwCost-spent) > 1e-9 {
		t.Errorf("CloudWatch: %v requests and %v USD for key free, want 9 and %v", cwRequests, cwCost, spent)
	}
}

func (g *gateway) scrapeRaw(t *testing.T) string {
	resp, err := http.Get(g.adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

// TestMetricsOffThePublicListener: /metrics is served only by the admin
// listener.
func TestMetricsOffThePublicListener(t *testing.T) {
	g := simGateway(t)
	if status, _, _ := g.do(t, "GET", "/metrics", "", "", ""); status != 404 {
		t.Errorf("public /metrics answered %d", status)
	}
	if !strings.Contains(g.scrapeRaw(t), "tollgate_requests_in_flight") {
		t.Error("admin /metrics lacks the gateway's metrics")
	}
}
