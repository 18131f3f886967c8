package metering

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func known(ids ...string) func(string) bool {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return func(id string) bool { return set[id] }
}

// newTestMeter returns a meter on a fresh registry that knows keys k1, k2 and
// models claude, nova.
func newTestMeter(t *testing.T, opts Options) (*Meter, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if opts.KnownKey == nil {
		opts.KnownKey = known("k1", "k2")
	}
	if opts.KnownModel == nil {
		opts.KnownModel = known("claude", "nova")
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	m, err := New(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func compare(t *testing.T, reg prometheus.Gatherer, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestRecordCounters(t *testing.T) {
	m, reg := newTestMeter(t, Options{})
	m.Record(Event{
		RequestID: "r1", Time: t0, KeyID: "k1", Team: "ml", Model: "claude", ResolvedModel: "anthropic.claude-v1",
		Endpoint: "chat.completions", Stream: true, Status: 200,
		InputTokens: 100, OutputTokens: 20, CacheReadTokens: 5, CacheWriteTokens: 7,
		CostMicros: 1500, Latency: 700 * time.Millisecond, TimeToFirstToken: 200 * time.Millisecond,
	})
	m.Record(Event{
		RequestID: "r2", Time: t0, KeyID: "k1", Team: "ml", Model: "claude", Endpoint: "chat.completions",
		Status: 200, InputTokens: 10, OutputTokens: 2, CostMicros: 500, Latency: 3 * time.Second,
	})
	m.Record(Event{
		RequestID: "r3", Time: t0, KeyID: "k2", Model: "nova", Endpoint: "embeddings",
		Status: 503, UpstreamError: "ThrottlingException", Latency: 40 * time.Millisecond,
	})
	m.Record(Event{
		RequestID: "r4", Time: t0, KeyID: "k2", Model: "nova", Endpoint: "chat.completions", Stream: true,
		Status: 200, InputTokens: 30, OutputTokens: 4, Estimated: true, CostMicros: 1, Latency: time.Second,
	})

	compare(t, reg, `
# HELP tollgate_requests_total Requests that reached settlement, by key policy id, team, requested model, endpoint and HTTP status sent.
# TYPE tollgate_requests_total counter
tollgate_requests_total{endpoint="chat.completions",key="k1",model="claude",status="200",team="ml"} 2
tollgate_requests_total{endpoint="chat.completions",key="k2",model="nova",status="200",team="none"} 1
tollgate_requests_total{endpoint="embeddings",key="k2",model="nova",status="503",team="none"} 1
# HELP tollgate_tokens_total Tokens used, by key, team, model and kind (input, output, cache_read, cache_write).
# TYPE tollgate_tokens_total counter
tollgate_tokens_total{key="k1",kind="cache_read",model="claude",team="ml"} 5
tollgate_tokens_total{key="k1",kind="cache_write",model="claude",team="ml"} 7
tollgate_tokens_total{key="k1",kind="input",model="claude",team="ml"} 110
tollgate_tokens_total{key="k1",kind="output",model="claude",team="ml"} 22
tollgate_tokens_total{key="k2",kind="cache_read",model="nova",team="none"} 0
tollgate_tokens_total{key="k2",kind="cache_write",model="nova",team="none"} 0
tollgate_tokens_total{key="k2",kind="input",model="nova",team="none"} 30
tollgate_tokens_total{key="k2",kind="output",model="nova",team="none"} 4
# HELP tollgate_cost_usd_total Cost of the requests in US dollars at the policy's prices, by key, team and model.
# TYPE tollgate_cost_usd_total counter
tollgate_cost_usd_total{key="k1",model="claude",team="ml"} 0.002
tollgate_cost_usd_total{key="k2",model="nova",team="none"} 1e-06
# HELP tollgate_upstream_errors_total Requests that ended with a Bedrock error, by model and Bedrock error code.
# TYPE tollgate_upstream_errors_total counter
tollgate_upstream_errors_total{code="ThrottlingException",model="nova"} 1
# HELP tollgate_usage_estimated_total Requests whose usage was estimated because the stream broke before Bedrock reported it, by key and model.
# TYPE tollgate_usage_estimated_total counter
tollgate_usage_estimated_total{key="k1",model="claude"} 0
tollgate_usage_estimated_total{key="k2",model="nova"} 1
`, "tollgate_requests_total", "tollgate_tokens_total", "tollgate_cost_usd_total",
		"tollgate_upstream_errors_total", "tollgate_usage_estimated_total")

	compare(t, reg, `
# HELP tollgate_request_duration_seconds Duration of whole requests, streams included, by model and endpoint.
# TYPE tollgate_request_duration_seconds histogram
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="0.05"} 0
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="0.1"} 0
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="0.25"} 0
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="0.5"} 0
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="1"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="2.5"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="5"} 2
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="10"} 2
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="20"} 2
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="30"} 2
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="60"} 2
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="120"} 2
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="300"} 2
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="claude",le="+Inf"} 2
tollgate_request_duration_seconds_sum{endpoint="chat.completions",model="claude"} 3.7
tollgate_request_duration_seconds_count{endpoint="chat.completions",model="claude"} 2
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="0.05"} 0
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="0.1"} 0
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="0.25"} 0
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="0.5"} 0
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="1"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="2.5"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="5"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="10"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="20"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="30"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="60"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="120"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="300"} 1
tollgate_request_duration_seconds_bucket{endpoint="chat.completions",model="nova",le="+Inf"} 1
tollgate_request_duration_seconds_sum{endpoint="chat.completions",model="nova"} 1
tollgate_request_duration_seconds_count{endpoint="chat.completions",model="nova"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="0.05"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="0.1"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="0.25"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="0.5"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="1"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="2.5"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="5"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="10"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="20"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="30"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="60"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="120"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="300"} 1
tollgate_request_duration_seconds_bucket{endpoint="embeddings",model="nova",le="+Inf"} 1
tollgate_request_duration_seconds_sum{endpoint="embeddings",model="nova"} 0.04
tollgate_request_duration_seconds_count{endpoint="embeddings",model="nova"} 1
`, "tollgate_request_duration_seconds")

	// Only the stream with a first chunk has a time to first token; the
	// broken stream and the embeddings have no (empty) series.
	compare(t, reg, `
# HELP tollgate_time_to_first_token_seconds Time from the request to the first content chunk of a stream, by model and endpoint.
# TYPE tollgate_time_to_first_token_seconds histogram
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="0.05"} 0
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="0.1"} 0
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="0.25"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="0.5"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="1"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="2.5"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="5"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="10"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="20"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="30"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="60"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="120"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="300"} 1
tollgate_time_to_first_token_seconds_bucket{endpoint="chat.completions",model="claude",le="+Inf"} 1
tollgate_time_to_first_token_seconds_sum{endpoint="chat.completions",model="claude"} 0.2
tollgate_time_to_first_token_seconds_count{endpoint="chat.completions",model="claude"} 1
`, "tollgate_time_to_first_token_seconds")
}

func TestRecordDeltas(t *testing.T) {
	m, reg := newTestMeter(t, Options{})
	ev := Event{KeyID: "k1", Model: "claude", Endpoint: "chat.completions", Status: 200, InputTokens: 3, CostMicros: 250}
	m.Record(ev)
	before := testutil.ToFloat64(m.cost.WithLabelValues("k1", NoTeam, "claude"))
	for range 4 {
		m.Record(ev)
	}
	if got, want := testutil.ToFloat64(m.cost.WithLabelValues("k1", NoTeam, "claude"))-before, 0.001; !approx(got, want) {
		t.Errorf("cost delta = %v, want %v", got, want)
	}
	compare(t, reg, `
# HELP tollgate_requests_total Requests that reached settlement, by key policy id, team, requested model, endpoint and HTTP status sent.
# TYPE tollgate_requests_total counter
tollgate_requests_total{endpoint="chat.completions",key="k1",model="claude",status="200",team="none"} 5
`, "tollgate_requests_total")
}

func approx(a, b float64) bool { d := a - b; return d < 1e-12 && d > -1e-12 }

func TestCardinalityCollapse(t *testing.T) {
	m, reg := newTestMeter(t, Options{})
	for i, ev := range []Event{
		{KeyID: "removed-key", Team: "ml", Model: "claude"},
		{KeyID: "k1", Model: "gpt-4o"},
		{KeyID: "k1", Model: "made-up-" + strings.Repeat("x", 10)},
		{KeyID: "", Model: "\xff\xfe"},
		{KeyID: "k1", Model: "nova", UpstreamError: "ValidationException"},
	} {
		ev.Endpoint, ev.Status, ev.InputTokens = "chat.completions", 200, int64(i+1)
		m.Record(ev)
	}
	for i := range MaxErrorCodes + 5 {
		m.Record(Event{KeyID: "k2", Model: "nova", Endpoint: "embeddings", Status: 500, UpstreamError: "Code" + string(rune('A'+i%26)) + string(rune('a'+i/26))})
	}
	m.Rejected("k1", "budget_exceeded")
	m.Rejected("stolen", "budget_exceeded")
	m.Rejected("k2", "model_not_allowed")

	compare(t, reg, `
# HELP tollgate_tokens_total Tokens used, by key, team, model and kind (input, output, cache_read, cache_write).
# TYPE tollgate_tokens_total counter
tollgate_tokens_total{key="k1",kind="cache_read",model="nova",team="none"} 0
tollgate_tokens_total{key="k1",kind="cache_write",model="nova",team="none"} 0
tollgate_tokens_total{key="k1",kind="input",model="nova",team="none"} 5
tollgate_tokens_total{key="k1",kind="output",model="nova",team="none"} 0
tollgate_tokens_total{key="k1",kind="cache_read",model="other",team="none"} 0
tollgate_tokens_total{key="k1",kind="cache_write",model="other",team="none"} 0
tollgate_tokens_total{key="k1",kind="input",model="other",team="none"} 5
tollgate_tokens_total{key="k1",kind="output",model="other",team="none"} 0
tollgate_tokens_total{key="k2",kind="cache_read",model="nova",team="none"} 0
tollgate_tokens_total{key="k2",kind="cache_write",model="nova",team="none"} 0
tollgate_tokens_total{key="k2",kind="input",model="nova",team="none"} 0
tollgate_tokens_total{key="k2",kind="output",model="nova",team="none"} 0
tollgate_tokens_total{key="other",kind="cache_read",model="claude",team="ml"} 0
tollgate_tokens_total{key="other",kind="cache_write",model="claude",team="ml"} 0
tollgate_tokens_total{key="other",kind="input",model="claude",team="ml"} 1
tollgate_tokens_total{key="other",kind="output",model="claude",team="ml"} 0
tollgate_tokens_total{key="other",kind="cache_read",model="other",team="none"} 0
tollgate_tokens_total{key="other",kind="cache_write",model="other",team="none"} 0
tollgate_tokens_total{key="other",kind="input",model="other",team="none"} 4
tollgate_tokens_total{key="other",kind="output",model="other",team="none"} 0
# HELP tollgate_budget_rejections_total Requests refused before reaching Bedrock, by key and reason (budget_exceeded, model_not_allowed, ...).
# TYPE tollgate_budget_rejections_total counter
tollgate_budget_rejections_total{key="k1",reason="budget_exceeded"} 1
tollgate_budget_rejections_total{key="k2",reason="model_not_allowed"} 1
tollgate_budget_rejections_total{key="other",reason="budget_exceeded"} 1
`, "tollgate_tokens_total", "tollgate_budget_rejections_total")

	// MaxErrorCodes distinct codes (ValidationException first), then "other".
	codes, err := testutil.GatherAndCount(reg, "tollgate_upstream_errors_total")
	if err != nil {
		t.Fatal(err)
	}
	if want := MaxErrorCodes + 1; codes != want { // nova×ValidationException, k2's nova×codes, nova×other
		t.Errorf("upstream error series = %d, want %d", codes, want)
	}
	if got := testutil.ToFloat64(m.upstreamErrors.WithLabelValues("nova", Other)); got != 6 {
		t.Errorf("errors collapsed to other = %v, want 6", got)
	}
}

func TestUncheckedValuesAreCapped(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range MaxUncheckedValues + 10 {
		m.Record(Event{KeyID: "k", Model: strings.Repeat("m", 1+i%40) + string(rune('a'+i/40)), Endpoint: "embeddings", Status: 200})
	}
	n, err := testutil.GatherAndCount(reg, "tollgate_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	if want := MaxUncheckedValues + 1; n != want {
		t.Errorf("request series = %d, want %d (the cap plus other)", n, want)
	}
}

func TestInFlight(t *testing.T) {
	m, reg := newTestMeter(t, Options{})
	done1 := m.InFlight()
	done2 := m.InFlight()
	done3 := m.InFlight()
	done2()
	const head = "# HELP tollgate_requests_in_flight Requests being served, streams included.\n# TYPE tollgate_requests_in_flight gauge\n"
	compare(t, reg, head+"tollgate_requests_in_flight 2\n", "tollgate_requests_in_flight")
	done1()
	done3()
	compare(t, reg, head+"tollgate_requests_in_flight 0\n", "tollgate_requests_in_flight")
}

func TestBudgetGauges(t *testing.T) {
	m, reg := newTestMeter(t, Options{})
	m.SetBudget(ScopeKey, "k1", 10_000_000, 2_500_000, 500_000)
	m.SetBudget(ScopeKey, "k2", -1, 1_250_000, 0) // uncapped
	m.SetBudget(ScopeTeam, "ml", 100_000_000, 99_000_000, 2_000_000)
	m.SetBudget(ScopeGlobal, "", 1_000_000_000, 102_750_000, 2_500_000)
	names := []string{"tollgate_budget_limit_usd", "tollgate_budget_spent_usd", "tollgate_budget_reserved_usd", "tollgate_budget_remaining_usd"}
	compare(t, reg, `
# HELP tollgate_budget_limit_usd Monthly budget of a scope (key, team, global) in US dollars; absent for uncapped scopes.
# TYPE tollgate_budget_limit_usd gauge
tollgate_budget_limit_usd{id="",scope="global"} 1000
tollgate_budget_limit_usd{id="k1",scope="key"} 10
tollgate_budget_limit_usd{id="ml",scope="team"} 100
# HELP tollgate_budget_spent_usd Spent this month by a scope (key, team, global) in US dollars.
# TYPE tollgate_budget_spent_usd gauge
tollgate_budget_spent_usd{id="",scope="global"} 102.75
tollgate_budget_spent_usd{id="k1",scope="key"} 2.5
tollgate_budget_spent_usd{id="k2",scope="key"} 1.25
tollgate_budget_spent_usd{id="ml",scope="team"} 99
# HELP tollgate_budget_reserved_usd Held this month by requests in flight of a scope (key, team, global) in US dollars.
# TYPE tollgate_budget_reserved_usd gauge
tollgate_budget_reserved_usd{id="",scope="global"} 2.5
tollgate_budget_reserved_usd{id="k1",scope="key"} 0.5
tollgate_budget_reserved_usd{id="k2",scope="key"} 0
tollgate_budget_reserved_usd{id="ml",scope="team"} 2
# HELP tollgate_budget_remaining_usd What a capped scope (key, team, global) can still spend this month in US dollars, never below 0; absent for uncapped scopes.
# TYPE tollgate_budget_remaining_usd gauge
tollgate_budget_remaining_usd{id="",scope="global"} 894.75
tollgate_budget_remaining_usd{id="k1",scope="key"} 7
tollgate_budget_remaining_usd{id="ml",scope="team"} 0
`, names...)

	// k1 becomes uncapped; SetBudgets drops k2 and the team, which the new
	// policy no longer has.
	m.SetBudgets([]Budget{
		{Scope: ScopeKey, ID: "k1", LimitMicros: -1, SpentMicros: 3_000_000},
		{Scope: ScopeGlobal, LimitMicros: 1_000_000_000, SpentMicros: 3_000_000},
	})
	compare(t, reg, `
# HELP tollgate_budget_limit_usd Monthly budget of a scope (key, team, global) in US dollars; absent for uncapped scopes.
# TYPE tollgate_budget_limit_usd gauge
tollgate_budget_limit_usd{id="",scope="global"} 1000
# HELP tollgate_budget_spent_usd Spent this month by a scope (key, team, global) in US dollars.
# TYPE tollgate_budget_spent_usd gauge
tollgate_budget_spent_usd{id="",scope="global"} 3
tollgate_budget_spent_usd{id="k1",scope="key"} 3
# HELP tollgate_budget_reserved_usd Held this month by requests in flight of a scope (key, team, global) in US dollars.
# TYPE tollgate_budget_reserved_usd gauge
tollgate_budget_reserved_usd{id="",scope="global"} 0
tollgate_budget_reserved_usd{id="k1",scope="key"} 0
# HELP tollgate_budget_remaining_usd What a capped scope (key, team, global) can still spend this month in US dollars, never below 0; absent for uncapped scopes.
# TYPE tollgate_budget_remaining_usd gauge
tollgate_budget_remaining_usd{id="",scope="global"} 997
`, names...)
}

func TestPolicyReloads(t *testing.T) {
	m, reg := newTestMeter(t, Options{})
	const reloadsHead = `
# HELP tollgate_policy_reloads_total Policy loads, the first one included, by result (success, failure).
# TYPE tollgate_policy_reloads_total counter
`
	const infoHead = `
# HELP tollgate_policy_info 1 for the version of the policy in force; no other version has a series.
# TYPE tollgate_policy_info gauge
`
	compare(t, reg, reloadsHead+`
tollgate_policy_reloads_total{result="failure"} 0
tollgate_policy_reloads_total{result="success"} 0
`, "tollgate_policy_reloads_total", "tollgate_policy_info")

	m.PolicyReloaded(true, "v1")
	compare(t, reg, reloadsHead+`
tollgate_policy_reloads_total{result="failure"} 0
tollgate_policy_reloads_total{result="success"} 1
`+infoHead+`
tollgate_policy_info{version="v1"} 1
`, "tollgate_policy_reloads_total", "tollgate_policy_info")

	m.PolicyReloaded(false, "broken")
	m.PolicyReloaded(true, "v2")
	compare(t, reg, reloadsHead+`
tollgate_policy_reloads_total{result="failure"} 1
tollgate_policy_reloads_total{result="success"} 2
`+infoHead+`
tollgate_policy_info{version="v2"} 1
`, "tollgate_policy_reloads_total", "tollgate_policy_info")
}

func TestLint(t *testing.T) {
	reg := NewRegistry()
	cw := newCloudWatch(nil, CloudWatchOptions{})
	m, err := New(reg, Options{KnownKey: known("k1"), KnownModel: known("claude"), CloudWatch: cw})
	if err != nil {
		t.Fatal(err)
	}
	exerciseAll(m)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(0, len(problems)); diff != "" {
		t.Errorf("lint problems: %v", problems)
	}
	if _, err := New(reg, Options{}); err == nil {
		t.Error("a second Meter on the same registry: no error")
	}
}

// exerciseAll makes every metric of m have at least one series.
func exerciseAll(m *Meter) {
	m.Record(Event{KeyID: "k1", Team: "ml", Model: "claude", Endpoint: "chat.completions", Stream: true, Status: 502,
		UpstreamError: "ModelStreamErrorException", InputTokens: 1, OutputTokens: 1, CostMicros: 1,
		Latency: time.Second, TimeToFirstToken: time.Millisecond, Estimated: true})
	m.InFlight()()
	m.Rejected("k1", "budget_exceeded")
	m.Fallback("claude", "claude-eu", "throttled")
	m.RateLimited("k1", ScopeKey, "requests")
	m.AlertSent("webhook", "ok")
	m.PolicyReloaded(true, "v1")
	m.SetBudget(ScopeKey, "k1", 1, 0, 0)
	if m.cw != nil {
		m.cw.dropped.Add(0)
	}
}

func TestNilMeter(t *testing.T) {
	var m *Meter
	m.Record(Event{})
	m.InFlight()()
	m.Rejected("k", "r")
	m.Fallback("a", "b", "throttled")
	m.RateLimited("k", "key", "tokens")
	m.AlertSent("log", "ok")
	m.PolicyReloaded(true, "v")
	m.SetBudget(ScopeKey, "k", 1, 1, 1)
	m.SetBudgets(nil)
}
