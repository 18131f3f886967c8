package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/metering"
	"github.com/tollgate-gw/tollgate/internal/openapitest"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

const sonnet45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

// responsesEnv is the gateway on the simulator, with the golden policy.
type responsesEnv struct {
	srv  *httptest.Server
	logs *lockedWriter
	reg  *prometheus.Registry
	sim  *bedrocksim.Server
}

func newResponsesEnv(t *testing.T) *responsesEnv {
	t.Helper()
	return newResponsesEnvWith(t, bedrocksim.Options{})
}

func newResponsesEnvWith(t *testing.T, opts bedrocksim.Options) *responsesEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("talks to the simulator")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sim := bedrocksim.New(opts)
	simURL, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("x", "x", "")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(map[string][]byte{"policy.yaml": fmt.Appendf(nil, goldenPolicy,
		policy.HashSecret(goldenFree), policy.HashSecret(goldenNarrow), policy.HashSecret(goldenCapped))})
	if err != nil {
		t.Fatal(err)
	}
	reg := metering.NewRegistry()
	meter, err := metering.New(reg, metering.Options{})
	if err != nil {
		t.Fatal(err)
	}
	client := upstream.NewClient(cfg, simURL)
	logs := &lockedWriter{}
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		Policies: policy.NewHolder(p),
		Bedrock:  client,
		Catalog:  upstream.NewCatalog(ctx, client, time.Minute, time.Now),
		Budget:   budget.New(memory.New(), budget.Options{MinOutput: 10}),
		Meter:    meter,
	}))
	t.Cleanup(srv.Close)
	return &responsesEnv{srv: srv, logs: logs, reg: reg, sim: sim}
}

// post sends body to /v1/responses with secret and returns the status,
// the content type and the body.
func (e *responsesEnv) post(t *testing.T, secret, body string) (int, string, []byte) {
	t.Helper()
	e.logs.mu.Lock()
	e.logs.w.Reset()
	e.logs.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/responses", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}

// types lists the events' types.
func eventTypes(events []map[string]any) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev["type"].(string))
	}
	return out
}

const nsTools = `,"tools":[{"type":"function","name":"get_weather","description":"Weather of a city","strict":true,"parameters":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}},` +
	`{"type":"namespace","name":"crm","description":"The CRM","tools":[{"type":"function","name":"lookup","description":"Find a customer","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}]}]`

func responsesBody(model string, input string, extra string) string {
	return fmt.Sprintf(`{"model":%q,"input":%s%s}`, model, input, extra)
}

func TestResponsesPlain(t *testing.T) {
	e := newResponsesEnv(t)
	status, ctype, body := e.post(t, goldenFree, responsesBody(haiku, `"Hello there"`, `,"instructions":"Be brief.","max_output_tokens":100,"store":false,"metadata":{"a":"b"}`))
	if status != 200 || !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("status %d %s: %s", status, ctype, body)
	}
	openapitest.Validate(t, "Response", body)
	r := decode(t, body)
	out := r["output"].([]any)
	if len(out) != 1 {
		t.Fatalf("output: %v", out)
	}
	msg := out[0].(map[string]any)
	if msg["type"] != "message" || msg["role"] != "assistant" || !strings.HasPrefix(r["id"].(string), "resp_") || r["status"] != "completed" {
		t.Errorf("response: %s", body)
	}
	u := r["usage"].(map[string]any)
	if u["input_tokens"].(float64) < 1 || u["output_tokens"].(float64) < 1 || u["total_tokens"].(float64) != u["input_tokens"].(float64)+u["output_tokens"].(float64) {
		t.Errorf("usage: %v", u)
	}
	if r["instructions"] != "Be brief." || r["max_output_tokens"].(float64) != 100 {
		t.Errorf("echo: %s", body)
	}
	log := e.logs.logLine(t)
	if log["status"].(float64) != 200 || log["model"] != haiku {
		t.Errorf("log line: %v", log)
	}
	want := `
# HELP tollgate_requests_total Requests that reached settlement, by key policy id, team, requested model, endpoint and HTTP status sent.
# TYPE tollgate_requests_total counter
tollgate_requests_total{endpoint="responses",key="free",model="anthropic.claude-3-haiku-20240307-v1:0",status="200",team="none"} 1
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "tollgate_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestResponsesStream(t *testing.T) {
	e := newResponsesEnv(t)
	status, ctype, body := e.post(t, goldenFree, responsesBody(haiku, `[{"type":"message","role":"user","content":[{"type":"input_text","text":"Tell me a story [sim:tokens=12]"}]}]`, `,"stream":true`))
	if status != 200 || !strings.HasPrefix(ctype, "text/event-stream") {
		t.Fatalf("status %d %s: %s", status, ctype, body)
	}
	events := openapitest.ValidateResponsesSSE(t, body)
	got := eventTypes(events)
	n := len(got)
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"}
	for range n - 8 {
		want = append(want, "response.output_text.delta")
	}
	want = append(want, "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	var text strings.Builder
	for _, ev := range events {
		if ev["type"] == "response.output_text.delta" {
			text.WriteString(ev["delta"].(string))
		}
	}
	final := events[n-1]["response"].(map[string]any)
	item := final["output"].([]any)[0].(map[string]any)
	if got := item["content"].([]any)[0].(map[string]any)["text"]; got != text.String() || text.Len() == 0 {
		t.Errorf("completed text %q, deltas %q", got, text.String())
	}
	if u := final["usage"].(map[string]any); u["output_tokens"].(json.Number).String() != "12" {
		t.Errorf("usage: %v", u)
	}
}

func TestResponsesToolCallNamespace(t *testing.T) {
	e := newResponsesEnv(t)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("stream=", stream), func(t *testing.T) {
			status, _, body := e.post(t, goldenFree, responsesBody(haiku, `"Find customer Ann with crm__lookup"`,
				nsTools+fmt.Sprintf(`,"tool_choice":{"type":"function","namespace":"crm","name":"lookup"},"stream":%v,"parallel_tool_calls":true`, stream)))
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			var r map[string]any
			if stream {
				events := openapitest.ValidateResponsesSSE(t, body)
				r = events[len(events)-1]["response"].(map[string]any)
				types := eventTypes(events)
				for _, want := range []string{"response.function_call_arguments.delta", "response.function_call_arguments.done"} {
					if !strings.Contains(strings.Join(types, " "), want) {
						t.Errorf("no %s in %v", want, types)
					}
				}
				r = toPlain(t, r)
			} else {
				openapitest.Validate(t, "Response", body)
				r = decode(t, body)
			}
			out := r["output"].([]any)
			call := out[len(out)-1].(map[string]any)
			if call["type"] != "function_call" || call["namespace"] != "crm" || call["name"] != "lookup" || !strings.HasPrefix(call["call_id"].(string), "tooluse_") {
				t.Errorf("call: %v", call)
			}
			if !json.Valid([]byte(call["arguments"].(string))) {
				t.Errorf("arguments: %v", call["arguments"])
			}
		})
	}
}

// toPlain re-decodes v with float64 numbers.
func toPlain(t *testing.T, v map[string]any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, b)
}

// TestResponsesReasoningRoundTrip: Claude's thinking comes back as a
// reasoning item whose encrypted_content carries its signature; sent back
// with the tool call and its output, the next turn is accepted by Bedrock
// with thinking on (the simulator refuses a tool turn without its signed
// thinking block).
func TestResponsesReasoningRoundTrip(t *testing.T) {
	e := newResponsesEnv(t)
	status, _, body := e.post(t, goldenFree, responsesBody(sonnet45, `"Weather in Paris? [sim:tool]"`, nsTools+`,"reasoning":{"effort":"low","summary":"auto"},"include":["reasoning.encrypted_content"],"store":false,"stream":true`))
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	events := openapitest.ValidateResponsesSSE(t, body)
	final := events[len(events)-1]["response"].(map[string]any)
	out := final["output"].([]any)
	if len(out) < 2 {
		t.Fatalf("output: %v", out)
	}
	rs := out[0].(map[string]any)
	if rs["type"] != "reasoning" || rs["encrypted_content"] == nil || len(rs["summary"].([]any)) != 1 {
		t.Fatalf("reasoning item: %v", rs)
	}
	if u := final["usage"].(map[string]any)["output_tokens_details"].(map[string]any); u["reasoning_tokens"].(json.Number).String() == "0" {
		t.Errorf("reasoning tokens: %v", u)
	}
	var call map[string]any
	for _, it := range out {
		if m := it.(map[string]any); m["type"] == "function_call" {
			call = m
		}
	}
	if call == nil {
		t.Fatalf("no call in %v", out)
	}
	history, _ := json.Marshal([]any{
		map[string]any{"type": "message", "role": "developer", "content": "You are a helper."},
		map[string]any{"type": "message", "role": "user", "content": "Weather in Paris?"},
		rs, call,
		map[string]any{"type": "function_call_output", "call_id": call["call_id"], "output": "18C and sunny", "status": "completed"},
	})
	status, _, body = e.post(t, goldenFree, responsesBody(sonnet45, string(history), nsTools+`,"reasoning":{"effort":"low"},"store":false`))
	if status != 200 {
		t.Fatalf("second turn: status %d: %s", status, body)
	}
	openapitest.Validate(t, "Response", body)

	// Without the reasoning item the turn still works: thinking is left off.
	history, _ = json.Marshal([]any{
		map[string]any{"type": "message", "role": "user", "content": "Weather in Paris?"},
		call,
		map[string]any{"type": "function_call_output", "call_id": call["call_id"], "output": "18C"},
	})
	if status, _, body = e.post(t, goldenFree, responsesBody(sonnet45, string(history), nsTools+`,"reasoning":{"effort":"low"}`)); status != 200 {
		t.Fatalf("turn without reasoning: status %d: %s", status, body)
	}
}

func TestResponsesErrors(t *testing.T) {
	e := newResponsesEnv(t)
	// The capped key spends its budget (its output clamped to fit), then is
	// refused.
	if status, _, body := e.post(t, goldenCapped, responsesBody(haiku, `"Long story please [sim:tokens=300]"`, `,"max_output_tokens":1000`)); status != 200 {
		t.Fatalf("capped key's first call: %d %s", status, body)
	}
	for _, tc := range []struct {
		name, secret, body string
		status             int
		typ, code, param   string
	}{
		{"budget refused, stream", goldenCapped, responsesBody(haiku, `"Again"`, `,"max_output_tokens":1000,"stream":true`), 429, "insufficient_quota", "budget_exceeded", ""},
		{"model not allowed", goldenNarrow, responsesBody(sonnet45, `"Hi"`, `,"stream":true`), 403, "permission_error", "model_not_allowed", "model"},
		{"unknown key", "sk-nobody-0123456789", responsesBody(haiku, `"Hi"`, ``), 401, "invalid_request_error", "invalid_api_key", ""},
		{"hosted tool", goldenFree, responsesBody(haiku, `"Hi"`, `,"tools":[{"type":"web_search"}]`), 400, "invalid_request_error", "unsupported_value", "tools[0].type"},
		{"previous response", goldenFree, responsesBody(haiku, `"Hi"`, `,"previous_response_id":"resp_1"`), 400, "invalid_request_error", "unsupported_parameter", "previous_response_id"},
		{"output without call", goldenFree, responsesBody(haiku, `[{"role":"user","content":"Hi"},{"type":"function_call_output","call_id":"c1","output":"x"}]`, ``), 400, "invalid_request_error", "invalid_value", "input[1].call_id"},
		{"assistant first", goldenFree, responsesBody(haiku, `[{"role":"developer","content":"Be nice"},{"role":"assistant","content":"Hi"}]`, ``), 400, "invalid_request_error", "invalid_value", "input[1]"},
		{"image URL, no fetcher", goldenFree, responsesBody(haiku, `[{"role":"user","content":[{"type":"input_text","text":"What?"},{"type":"input_image","image_url":"https://example.com/cat.png"}]}]`, ``), 400, "invalid_request_error", "unsupported_value", "input[0].content[1].image_url"},
		{"throttled", goldenFree, responsesBody(haiku, `"Hi [sim:error=ThrottlingException]"`, `,"stream":true`), 429, "requests", "rate_limit_exceeded", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ctype, body := e.post(t, tc.secret, tc.body)
			if status != tc.status || !strings.HasPrefix(ctype, "application/json") {
				t.Fatalf("status %d %s, want %d: %s", status, ctype, tc.status, body)
			}
			openapitest.Validate(t, "ErrorResponse", body)
			er := decode(t, body)["error"].(map[string]any)
			param, _ := er["param"].(string)
			if er["type"] != tc.typ || er["code"] != tc.code || param != tc.param {
				t.Errorf("error %v, want type %s code %s param %q", er, tc.typ, tc.code, tc.param)
			}
		})
	}
}

// TestResponsesBrokenStream: a Bedrock stream cut mid-way ends with an
// error event and response.failed, never response.completed, and is
// settled (estimated).
func TestResponsesBrokenStream(t *testing.T) {
	e := newResponsesEnv(t)
	for _, marker := range []string{"[sim:cut]", "[sim:exception=modelStreamErrorException]"} {
		status, _, body := e.post(t, goldenFree, responsesBody(haiku, `"Tell me a story [sim:tokens=40] `+marker+`"`, `,"stream":true`))
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		events := openapitest.ValidateResponsesSSE(t, body)
		got := eventTypes(events)
		if n := len(got); n < 2 || got[n-2] != "error" || got[n-1] != "response.failed" {
			t.Errorf("%s: events end %v", marker, got)
		}
		if r := events[len(events)-1]["response"].(map[string]any); r["status"] != "failed" || r["error"] == nil {
			t.Errorf("%s: failed response %v", marker, r)
		}
	}
}

// TestResponsesClientLeaves: a client that leaves after the first event
// does not stop the bill: the gate reads the stream on and settles it with
// Bedrock's usage.
func TestResponsesClientLeaves(t *testing.T) {
	e := newResponsesEnvWith(t, bedrocksim.Options{ChunkInterval: 5 * time.Millisecond}) // the stream outlasts the client
	start := time.Now()
	e.logs.mu.Lock()
	e.logs.w.Reset()
	e.logs.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/v1/responses",
		strings.NewReader(responsesBody(haiku, `"Tell me a long story [sim:tokens=300]"`, `,"stream":true`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+goldenFree)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || !strings.HasPrefix(string(buf), "event: response.created") {
		t.Fatalf("first bytes %q, %v", buf, err)
	}
	cancel()
	resp.Body.Close()
	log := e.logs.logLine(t)
	if log["output_tokens"].(float64) != 300 || log["cost_micros"].(float64) <= 0 || log["estimated"] != nil {
		t.Errorf("settled: %v", log)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Errorf("the stream ended in %v: the client did not leave before its end", time.Since(start))
	}
}

// TestResponsesImageToolOutput: an image in a function_call_output (Codex's
// view_image) reaches Bedrock in the toolResult.
func TestResponsesImageToolOutput(t *testing.T) {
	e := newResponsesEnv(t)
	png := "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	status, _, body := e.post(t, goldenFree, responsesBody(haiku, `[{"role":"user","content":"Look at it"},{"type":"function_call","call_id":"c1","name":"view_image","arguments":"{\"path\":\"a.png\"}"},`+
		`{"type":"function_call_output","call_id":"c1","output":[{"type":"input_image","image_url":"data:image/png;base64,`+png+`"}]}]`,
		`,"tools":[{"type":"function","name":"view_image","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}]`))
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	openapitest.Validate(t, "Response", body)
	if u := decode(t, body)["usage"].(map[string]any); u["input_tokens"].(float64) < 1600 {
		t.Errorf("the image is not billed as input: %v", u)
	}
}
