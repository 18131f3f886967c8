package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/openapitest"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/testsvc"
)

// budgetPolicy prices Claude 3 Haiku at 0.1 USD per 1M input tokens and 10
// per 1M output tokens: an output token costs 10 micro-USD, so a request
// generating 100 tokens costs about 1,000 micro-USD, and its reservation
// (input bound from the body's bytes, plus the 100 output tokens) barely
// more.
const budgetPolicy = `
keys:
  - id: capped
    sha256: %q
    monthly_budget_usd: %s
  - id: free
    sha256: %q
    models: ["anthropic.claude-3-haiku-*", "cheap"]
aliases:
  cheap: anthropic.claude-3-haiku-20240307-v1:0
pricing:
  anthropic.claude-3-haiku-20240307-v1:0: {input: 0.1, output: 10}
`

const (
	cappedSecret = "sk-test-capped-0123456789"
	freeSecret   = "sk-test-free-0123456789"
)

func writeBudgetPolicy(t *testing.T, dir, budgetUSD string) {
	t.Helper()
	body := fmt.Sprintf(budgetPolicy, policy.HashSecret(cappedSecret), budgetUSD, policy.HashSecret(freeSecret))
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// usageOf returns GET /v1/usage for a key, validated for its contract.
type usageBody struct {
	KeyID  string `json:"key_id"`
	Period string `json:"period"`
	Key    struct {
		LimitUSD     *float64 `json:"limit_usd"`
		SpentUSD     float64  `json:"spent_usd"`
		ReservedUSD  float64  `json:"reserved_usd"`
		RemainingUSD *float64 `json:"remaining_usd"`
		Periods      map[string]struct {
			Period       string   `json:"period"`
			LimitUSD     *float64 `json:"limit_usd"`
			SpentUSD     float64  `json:"spent_usd"`
			ReservedUSD  float64  `json:"reserved_usd"`
			RemainingUSD *float64 `json:"remaining_usd"`
		} `json:"periods"`
	} `json:"key"`
	Team   *json.RawMessage `json:"team"`
	Global *json.RawMessage `json:"global"`
	Models []string         `json:"models"`
}

func (g *gateway) usage(t *testing.T, secret string) usageBody {
	t.Helper()
	status, _, b := g.do(t, "GET", "/v1/usage", secret, "", "")
	if status != 200 {
		t.Fatalf("GET /v1/usage: %d %s", status, b)
	}
	var u usageBody
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	// The month's figures are the scope's own, repeated in its periods.
	m, ok := u.Key.Periods["monthly"]
	if !ok || m.Period != u.Period || m.SpentUSD != u.Key.SpentUSD || m.ReservedUSD != u.Key.ReservedUSD ||
		(m.LimitUSD == nil) != (u.Key.LimitUSD == nil) || (m.LimitUSD != nil && *m.LimitUSD != *u.Key.LimitUSD) {
		t.Errorf("GET /v1/usage: key.periods.monthly %+v does not repeat the key's month %+v (%s)", m, u.Key, b)
	}
	for kind, p := range u.Key.Periods {
		if kind != "monthly" && (p.LimitUSD == nil || p.Period == "") {
			t.Errorf("GET /v1/usage: key.periods.%s %+v: a period other than the month is listed only when capped", kind, p)
		}
	}
	return u
}

func chatBody(prompt string, maxTokens int, stream bool) string {
	return fmt.Sprintf(`{"model":%q,"max_tokens":%d,"stream":%v,"messages":[{"role":"user","content":%q}]}`, haiku, maxTokens, stream, prompt)
}

// TestBudgetHoldsUnderConcurrency sends 200 requests at once on a key whose
// budget affords about 50: settled spend stays under the cap, nothing is
// left reserved, refusals are OpenAI's 429 insufficient_quota, and no
// request fails otherwise.
func TestBudgetHoldsUnderConcurrency(t *testing.T) {
	for _, store := range []string{"bolt", "dynamodb"} {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"-sim", "-policies", dir}
			switch store {
			case "bolt":
				args = append(args, "-store", "bolt://"+filepath.Join(t.TempDir(), "usage.db"))
			case "dynamodb":
				t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", testsvc.DynamoDB(t))
				t.Setenv("AWS_ACCESS_KEY_ID", "local")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
				t.Setenv("AWS_REGION", "us-east-1")
				t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
				table := "usage_" + strings.ReplaceAll(t.Name(), "/", "_")
				var out strings.Builder
				if err := run(context.Background(), []string{"store", "init", "-store", "dynamodb://" + table}, func(string) string { return "" }, &out, io.Discard); err != nil {
					t.Fatalf("store init: %v", err)
				}
				args = append(args, "-store", "dynamodb://"+table)
			}
			// One request costs 100 output tokens (1,000 micro-USD) plus a
			// few input tokens; its reservation about 1,100.
			writeBudgetPolicy(t, dir, "0.05")
			g := startGateway(t, nil, args...)

			const n = 200
			body := chatBody("Count to a hundred. [sim:tokens=100] [sim:latency=300ms]", 100, false)
			var mu sync.Mutex
			codes := map[int]int{}
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, _, b := g.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", body)
					mu.Lock()
					codes[status]++
					mu.Unlock()
					switch status {
					case 200:
					case 429:
						openapitest.Validate(t, "ErrorResponse", b)
						if !strings.Contains(string(b), `"type":"insufficient_quota"`) || !strings.Contains(string(b), `"code":"budget_exceeded"`) {
							t.Errorf("429 body %s", b)
						}
					default:
						t.Errorf("status %d: %s", status, b)
					}
				}()
			}
			wg.Wait()

			// A settlement the store did not take within 3 s goes on in the
			// background: wait for those (on a busy machine DynamoDB Local
			// can be that slow), for at most a minute.
			u := g.usage(t, cappedSecret)
			for start := time.Now(); u.Key.ReservedUSD != 0 && time.Since(start) < time.Minute; {
				time.Sleep(100 * time.Millisecond)
				u = g.usage(t, cappedSecret)
			}
			spent := int64(u.Key.SpentUSD*1e6 + 0.5)
			t.Logf("%v; spent %d micro-USD of 50000; %d settlements deferred", codes, spent, strings.Count(g.logs.String(), "budget settlement deferred"))
			if spent > 50000 {
				t.Errorf("settled spend %d micro-USD is over the 50,000 cap", spent)
			}
			if u.Key.ReservedUSD != 0 {
				t.Errorf("%v USD still reserved after every request ended", u.Key.ReservedUSD)
			}
			// Each accepted request spent the same: its usage is
			// deterministic. The cap admits at least cap / worst case of
			// them at once, and never more than cap / actual cost.
			accepted := codes[200]
			perRequest := spent / int64(max(accepted, 1))
			if accepted < 40 || int64(accepted) > 50000/perRequest {
				t.Errorf("%d accepted at %d micro-USD each: outside [40, %d]", accepted, perRequest, 50000/perRequest)
			}
			if codes[200]+codes[429] != n {
				causes := map[string]int{}
				for _, line := range strings.Split(g.logs.String(), "\n") {
					var rec struct {
						Cause string `json:"error_cause"`
					}
					if json.Unmarshal([]byte(line), &rec) == nil && rec.Cause != "" {
						causes[rec.Cause]++
					}
				}
				t.Errorf("statuses %v: not all 200 or 429; causes: %v", codes, causes)
			}
		})
	}
}

// TestBudgetSurvivesRestart: the bbolt store keeps settled spend across a
// restart of the gateway.
func TestBudgetSurvivesRestart(t *testing.T) {
	dir, db := t.TempDir(), "bolt://"+filepath.Join(t.TempDir(), "usage.db")
	writeBudgetPolicy(t, dir, "5")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", db)
	for range 3 {
		if status, _, b := g.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", chatBody("hi [sim:tokens=10]", 10, false)); status != 200 {
			t.Fatalf("%d %s", status, b)
		}
	}
	before := g.usage(t, cappedSecret)
	if before.Key.SpentUSD <= 0 {
		t.Fatalf("nothing spent: %+v", before)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	g2 := startGateway(t, nil, "-sim", "-policies", dir, "-store", db)
	after := g2.usage(t, cappedSecret)
	if after.Key.SpentUSD != before.Key.SpentUSD {
		t.Errorf("spent %v before the restart, %v after", before.Key.SpentUSD, after.Key.SpentUSD)
	}
}

// TestUsageEndpoint checks GET /v1/usage's contract for a capped key and an
// uncapped one, and that streamed requests are billed like plain ones.
func TestUsageEndpoint(t *testing.T) {
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")

	fresh := g.usage(t, cappedSecret)
	if fresh.KeyID != "capped" || fresh.Period != time.Now().UTC().Format("2006-01") ||
		fresh.Key.LimitUSD == nil || *fresh.Key.LimitUSD != 20 || fresh.Key.SpentUSD != 0 ||
		fresh.Key.RemainingUSD == nil || *fresh.Key.RemainingUSD != 20 || fresh.Team != nil || fresh.Global != nil {
		t.Errorf("fresh usage %+v", fresh)
	}
	free := g.usage(t, freeSecret)
	if free.Key.LimitUSD != nil || free.Key.RemainingUSD != nil || len(free.Models) != 2 {
		t.Errorf("uncapped usage %+v", free)
	}

	// The same generation, plain and streamed, costs the same.
	for i, stream := range []bool{false, true} {
		status, _, b := g.do(t, "POST", "/v1/chat/completions", freeSecret, "application/json", chatBody("Tell me about toll roads. [sim:tokens=50]", 200, stream))
		if status != 200 {
			t.Fatalf("%d %s", status, b)
		}
		spent := g.usage(t, freeSecret).Key.SpentUSD
		// 50 output tokens at 10 micro-USD plus a few input tokens at 0.1.
		want := float64(i+1) * 0.000502
		if spent < want-0.000003*float64(i+1) || spent > want+0.000003*float64(i+1) {
			t.Errorf("after %d requests spent %v USD, want about %v", i+1, spent, want)
		}
	}
	// An alias routes to its model and is billed at its price.
	if status, _, b := g.do(t, "POST", "/v1/chat/completions", freeSecret, "application/json",
		`{"model":"cheap","messages":[{"role":"user","content":"hi"}]}`); status != 200 || !strings.Contains(string(b), `"model":"cheap"`) {
		t.Errorf("alias: %d %s", status, b)
	}
	// A model outside the allowlist is refused before Bedrock is called.
	status, _, b := g.do(t, "POST", "/v1/chat/completions", freeSecret, "application/json",
		`{"model":"amazon.nova-lite-v1:0","messages":[{"role":"user","content":"hi"}]}`)
	if status != 403 || !strings.Contains(string(b), `"code":"model_not_allowed"`) || !strings.Contains(string(b), `"type":"permission_error"`) {
		t.Errorf("disallowed model: %d %s", status, b)
	}
	openapitest.Validate(t, "ErrorResponse", b)
}

// TestDisconnectedClientIsBilled: a client that gives up before the answer
// is still billed exactly what Bedrock generated, since Bedrock bills it.
func TestDisconnectedClientIsBilled(t *testing.T) {
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")
	prompt := "A long answer please. [sim:tokens=80] [sim:latency=400ms]"

	// The price of one complete answer.
	if status, _, b := g.do(t, "POST", "/v1/chat/completions", freeSecret, "application/json", chatBody(prompt, 200, true)); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	one := g.usage(t, freeSecret).Key.SpentUSD

	for _, stream := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", g.baseURL+"/v1/chat/completions",
			strings.NewReader(chatBody(prompt, 200, stream)))
		req.Header.Set("Authorization", "Bearer "+freeSecret)
		req.Header.Set("Content-Type", "application/json")
		go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the request was not cut: %d", resp.StatusCode)
		}
	}
	// Both cut requests settle once Bedrock's answers arrive.
	deadline := time.Now().Add(5 * time.Second)
	for {
		spent := g.usage(t, freeSecret).Key.SpentUSD
		if d := spent - 3*one; d > -1e-9 && d < 1e-9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spent %v USD after 3 answers of %v each", spent, one)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPolicyReloadsWithoutRestart edits the policy of a running gateway: the
// change applies to new requests within 2 s, and a broken edit keeps the
// last good policy.
func TestPolicyReloadsWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")
	nova := `{"model":"amazon.nova-lite-v1:0","messages":[{"role":"user","content":"hi"}]}`
	if status, _, _ := g.do(t, "POST", "/v1/chat/completions", freeSecret, "application/json", nova); status != 403 {
		t.Fatalf("before the edit: %d", status)
	}
	version := func() string {
		_, _, b := g.do(t, "GET", "/healthz", "", "", "")
		var h struct {
			PolicyVersion string `json:"policy_version"`
		}
		_ = json.Unmarshal(b, &h)
		return h.PolicyVersion
	}
	v1 := version()

	edited := strings.Replace(fmt.Sprintf(budgetPolicy, policy.HashSecret(cappedSecret), "20", policy.HashSecret(freeSecret)),
		`"cheap"]`, `"cheap", "amazon.nova-*"]`, 1)
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, func() bool {
		status, _, _ := g.do(t, "POST", "/v1/chat/completions", freeSecret, "application/json", nova)
		return status == 200
	})
	v2 := version()
	if v2 == v1 {
		t.Errorf("policy version unchanged after an edit: %s", v2)
	}

	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(edited+"\nkeys: [oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if status, _, b := g.do(t, "POST", "/v1/chat/completions", freeSecret, "application/json", nova); status != 200 {
		t.Errorf("a broken edit changed the policy in force: %d %s", status, b)
	}
	if v := version(); v != v2 {
		t.Errorf("policy version %s after a broken edit, want %s", v, v2)
	}
	if !logged(g, "policy.yaml:") {
		t.Errorf("the broken edit was not logged with its file and line:\n%s", g.logs)
	}
}

func waitFor(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrokenStreamsAreBilled: a stream cut before Bedrock reported its usage
// is billed an estimate, marked as such; a call Bedrock refused before any
// output is billed nothing.
func TestBrokenStreamsAreBilled(t *testing.T) {
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")

	for _, prompt := range []string{"hi [sim:error=ThrottlingException]", "hi [sim:error=ValidationException]"} {
		for _, stream := range []bool{false, true} {
			g.do(t, "POST", "/v1/chat/completions", freeSecret, "application/json", chatBody(prompt, 100, stream))
		}
	}
	if spent := g.usage(t, freeSecret).Key.SpentUSD; spent != 0 {
		t.Errorf("failed calls billed %v USD", spent)
	}

	status, _, b := g.do(t, "POST", "/v1/chat/completions", freeSecret, "application/json", chatBody("A long story. [sim:tokens=200] [sim:cut]", 400, true))
	if status != 200 || !strings.Contains(string(b), "upstream_stream_incomplete") {
		t.Fatalf("cut stream: %d %s", status, b)
	}
	if spent := g.usage(t, freeSecret).Key.SpentUSD; spent <= 0 {
		t.Errorf("a cut stream billed %v USD: its output was generated", spent)
	}
	if m := g.scrape(t); m["tollgate_usage_estimated_total{key=free,model="+haiku+"}"] != 1 {
		t.Errorf("estimated usage not counted: %v", m["tollgate_usage_estimated_total{key=free,model="+haiku+"}"])
	}
	if !logged(g, `"usage_estimated":true`) {
		t.Error("the request log does not say the usage was estimated")
	}
}

// TestApplicationProfilePricedThroughItsModel: an application inference
// profile's ARN names no model; the gateway prices it through the model
// Bedrock lists behind it, so a capped key can use it and is billed at that
// model's price.
func TestApplicationProfilePricedThroughItsModel(t *testing.T) {
	const arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123" // Claude 3 Haiku
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")
	body := fmt.Sprintf(`{"model":%q,"max_tokens":100,"messages":[{"role":"user","content":"hi [sim:tokens=50]"}]}`, arn)
	status, _, b := g.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", body)
	if status != 200 {
		t.Fatalf("capped key on an application profile: %d %s", status, b)
	}
	// 50 output tokens at the policy's 10 USD per 1M for Claude 3 Haiku,
	// plus a few input tokens at 0.1.
	if spent := g.usage(t, cappedSecret).Key.SpentUSD; spent < 0.0005 || spent > 0.000505 {
		t.Errorf("spent %v USD, want Claude 3 Haiku's price for 50 output tokens", spent)
	}
	status, _, b = g.do(t, "GET", "/v1/models", cappedSecret, "", "")
	if status != 200 || !strings.Contains(string(b), arn) {
		t.Errorf("the capped key's model list lacks the profile: %d", status)
	}
}

// logged reports whether the gateway's log comes to hold s within a few
// seconds: log lines are written by a goroutine of their own
// (internal/logsink), a moment after the request they describe.
func logged(g *gateway, s string) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if strings.Contains(g.logs.String(), s) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// TestDailyBudgetReloads adds a day's cap to a running gateway's policy: new
// requests are held to it within 2 s, refused by name, and /v1/usage lists
// the day; removing it lifts it again.
func TestDailyBudgetReloads(t *testing.T) {
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")
	hi := chatBody("hi", 100, false)
	if status, _, b := g.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", hi); status != 200 {
		t.Fatalf("before the edit: %d %s", status, b)
	}
	if _, ok := g.usage(t, cappedSecret).Key.Periods["daily"]; ok {
		t.Fatal("GET /v1/usage lists a day before any daily cap")
	}

	body := fmt.Sprintf(budgetPolicy, policy.HashSecret(cappedSecret), "20\n    daily_budget_usd: 0.0001", policy.HashSecret(freeSecret))
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var refusal []byte
	waitFor(t, 2*time.Second, func() bool {
		status, _, b := g.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", hi)
		refusal = b
		return status == 429
	})
	if !strings.Contains(string(refusal), "daily budget") || !strings.Contains(string(refusal), "insufficient_quota") {
		t.Errorf("the day's refusal does not name it: %s", refusal)
	}
	d, ok := g.usage(t, cappedSecret).Key.Periods["daily"]
	if !ok || d.LimitUSD == nil || *d.LimitUSD != 0.0001 || d.Period != time.Now().UTC().Format(time.DateOnly) {
		t.Errorf("GET /v1/usage after the edit: daily %+v (listed %v)", d, ok)
	}

	writeBudgetPolicy(t, dir, "20")
	waitFor(t, 2*time.Second, func() bool {
		status, _, _ := g.do(t, "POST", "/v1/chat/completions", cappedSecret, "application/json", hi)
		return status == 200
	})
}
