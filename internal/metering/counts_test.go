package metering

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/metering/cwtest"
)

// countDirective is the _aws member of a count's EMF line.
func countDirective(ts int64, name string, dims ...any) map[string]any {
	return map[string]any{
		"Timestamp": json.Number(fmt.Sprint(ts)),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  "Tollgate",
			"Dimensions": []any{dims},
			"Metrics":    []any{map[string]any{"Name": name, "Unit": "Count"}},
		}},
	}
}

// TestCountLines: a rate-limit refusal, a fallback move and an alert
// delivery are each a Prometheus counter and an EMF line of its own, with
// the values collapsed as the request's labels are (an unknown key or
// model is "other", an empty value is "other").
func TestCountLines(t *testing.T) {
	var out bytes.Buffer
	m, reg := newTestMeter(t, Options{EMF: &out})
	m.RateLimited("k1", "team", "tokens")
	m.RateLimited("intruder", "key", "requests")
	m.Fallback("claude", "nova", "throttled")
	m.AlertSent("sns", "failed")
	m.AlertSent("webhook", "")

	lines := emfLines(t, out.Bytes())
	var got []map[string]any
	for _, l := range lines {
		got = append(got, validateEMF(t, l))
	}
	ts := t0.UnixMilli()
	want := []map[string]any{
		{"_aws": countDirective(ts, "RateLimitRefusals", "KeyId", "LimitType"),
			"KeyId": "k1", "LimitType": "tokens", "Scope": "team", "RateLimitRefusals": json.Number("1")},
		{"_aws": countDirective(ts, "RateLimitRefusals", "KeyId", "LimitType"),
			"KeyId": "other", "LimitType": "requests", "Scope": "key", "RateLimitRefusals": json.Number("1")},
		{"_aws": countDirective(ts, "FallbackAttempts", "FromModel", "Reason"),
			"FromModel": "claude", "Reason": "throttled", "ToModel": "nova", "FallbackAttempts": json.Number("1")},
		{"_aws": countDirective(ts, "AlertsSent", "Destination", "Outcome"),
			"Destination": "sns", "Outcome": "failed", "AlertsSent": json.Number("1")},
		{"_aws": countDirective(ts, "AlertsSent", "Destination", "Outcome"),
			"Destination": "webhook", "Outcome": "other", "AlertsSent": json.Number("1")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EMF lines (-want +got):\n%s", diff)
	}

	compare(t, reg, `
# HELP tollgate_rate_limit_refusals_total Requests refused by a rate limit of the policy, by key, scope whose window was full (key, team) and type of limit (requests, tokens, concurrent).
# TYPE tollgate_rate_limit_refusals_total counter
tollgate_rate_limit_refusals_total{key="k1",scope="team",type="tokens"} 1
tollgate_rate_limit_refusals_total{key="other",scope="key",type="requests"} 1
# HELP tollgate_fallback_attempts_total Calls moved to a fallback model because the one before could not answer, by model moved from, model moved to, and reason (throttled, model_not_ready, unavailable, timeout).
# TYPE tollgate_fallback_attempts_total counter
tollgate_fallback_attempts_total{from="claude",reason="throttled",to="nova"} 1
# HELP tollgate_alerts_sent_total Budget alerts delivered, by destination (log, webhook, sns, eventbridge) and outcome (ok, failed, dropped).
# TYPE tollgate_alerts_sent_total counter
tollgate_alerts_sent_total{destination="sns",outcome="failed"} 1
tollgate_alerts_sent_total{destination="webhook",outcome="other"} 1
`, "tollgate_rate_limit_refusals_total", "tollgate_fallback_attempts_total", "tollgate_alerts_sent_total")
}

// TestCountsPutMetricData: in PutMetricData mode the same counts are
// aggregated per minute and dimension values into statistic sets of
// samples of 1, sent with the requests' data points, oldest minute first.
func TestCountsPutMetricData(t *testing.T) {
	fake := cwtest.New(t, nil)
	cw := NewCloudWatch(fake.Client(), CloudWatchOptions{FlushInterval: time.Hour})
	now := t0
	m, _ := newTestMeter(t, Options{CloudWatch: cw, Now: func() time.Time { return now }})
	stop := startRun(t, cw)
	m.RateLimited("k1", "key", "requests")
	m.RateLimited("k1", "key", "requests")
	m.Fallback("claude", "nova", "unavailable")
	m.AlertSent("eventbridge", "ok")
	now = now.Add(time.Minute)
	m.Record(Event{KeyID: "k1", Model: "claude", Endpoint: "messages", Status: 200})
	m.AlertSent("eventbridge", "ok")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var got []cwtest.Datum
	for _, c := range fake.Calls() {
		for _, d := range c.Data {
			switch d.Name {
			case "RateLimitRefusals", "FallbackAttempts", "AlertsSent":
				got = append(got, d)
			default:
				if !d.Time.Equal(now.Truncate(time.Minute)) {
					t.Errorf("request data point %+v not in the second minute", d)
				}
			}
		}
	}
	m1, m2 := t0.Truncate(time.Minute), now.Truncate(time.Minute)
	want := []cwtest.Datum{
		{Name: "RateLimitRefusals", Dims: "KeyId=k1,LimitType=requests", Time: m1, Unit: "Count", Count: 2, Sum: 2, Min: 1, Max: 1},
		{Name: "FallbackAttempts", Dims: "FromModel=claude,Reason=unavailable", Time: m1, Unit: "Count", Count: 1, Sum: 1, Min: 1, Max: 1},
		{Name: "AlertsSent", Dims: "Destination=eventbridge,Outcome=ok", Time: m1, Unit: "Count", Count: 1, Sum: 1, Min: 1, Max: 1},
		{Name: "AlertsSent", Dims: "Destination=eventbridge,Outcome=ok", Time: m2, Unit: "Count", Count: 1, Sum: 1, Min: 1, Max: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("count data points (-want +got):\n%s", diff)
	}
}
