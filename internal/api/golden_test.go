package api_test

// TestGoldenOpenAI pins what OpenAI clients see, byte for byte: each
// exchange's status, headers, body (or SSE transcript) and request log line,
// recorded against the simulator through the whole handler (policy, budget
// guard, translation, the SDK call, metering). Only what changes from run to
// run is normalised: request ids, completion ids, timestamps, latencies.
//
// Regenerate after an intended change with
//
//	go test ./internal/api/ -run TestGoldenOpenAI -update
//
// and read the diff of testdata/golden before committing it.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/metering"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGoldenOpenAI")

// goldenPolicy: an uncapped key, a key restricted to Claude 3 Haiku, a key
// whose budget affords about 100 output tokens (clamped, then refused),
// and an alias.
const goldenPolicy = `
keys:
  - id: free
    sha256: %q
  - id: narrow
    sha256: %q
    models: ["anthropic.claude-3-haiku-*"]
  - id: capped
    sha256: %q
    monthly_budget_usd: 0.001
aliases:
  cheap: anthropic.claude-3-haiku-20240307-v1:0
pricing:
  anthropic.claude-3-haiku-20240307-v1:0: {input: 0.1, output: 10}
`

const (
	goldenFree   = "sk-golden-free-0123456789"
	goldenNarrow = "sk-golden-narrow-0123456789"
	goldenCapped = "sk-golden-capped-0123456789"
)

type goldenExchange struct {
	name   string
	secret string // "" sends no key
	method string // "" is POST
	path   string
	body   string
}

const haiku = "anthropic.claude-3-haiku-20240307-v1:0"

func chatBody(model, prompt string, extra string) string {
	return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]%s}`, model, prompt, extra)
}

const weatherTool = `,"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]`

var goldenExchanges = []goldenExchange{
	{name: "chat_plain", secret: goldenFree, path: "/v1/chat/completions", body: chatBody(haiku, "Hello there", `,"max_tokens":100`)},
	{name: "chat_alias", secret: goldenFree, path: "/v1/chat/completions", body: chatBody("cheap", "Hello alias", ``)},
	{name: "chat_stream", secret: goldenFree, path: "/v1/chat/completions", body: chatBody(haiku, "Tell me a story [sim:tokens=30]", `,"stream":true`)},
	{name: "chat_stream_usage", secret: goldenFree, path: "/v1/chat/completions", body: chatBody(haiku, "Tell me a story [sim:tokens=20]", `,"stream":true,"stream_options":{"include_usage":true}`)},
	{name: "chat_tool_call", secret: goldenFree, path: "/v1/chat/completions", body: chatBody(haiku, "What is the weather in Paris? [sim:tool]", weatherTool)},
	{name: "chat_tool_call_stream", secret: goldenFree, path: "/v1/chat/completions", body: chatBody(haiku, "What is the weather in Paris? [sim:tool]", weatherTool+`,"stream":true`)},
	{name: "chat_reasoning", secret: goldenFree, path: "/v1/chat/completions", body: chatBody("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "Think about it", `,"reasoning_effort":"low","max_tokens":3000`)},
	{name: "chat_reasoning_stream", secret: goldenFree, path: "/v1/chat/completions", body: chatBody("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "Think about it", `,"reasoning_effort":"medium","stream":true,"stream_options":{"include_usage":true}`)},
	{name: "chat_budget_clamped", secret: goldenCapped, path: "/v1/chat/completions", body: chatBody(haiku, "Long story please [sim:tokens=300]", `,"max_tokens":1000`)},
	{name: "error_429_budget_exceeded", secret: goldenCapped, path: "/v1/chat/completions", body: chatBody(haiku, "Again", `,"max_tokens":1000`)},
	{name: "error_400_missing_messages", secret: goldenFree, path: "/v1/chat/completions", body: `{"model":"` + haiku + `"}`},
	{name: "error_400_bad_json", secret: goldenFree, path: "/v1/chat/completions", body: `{"model":`},
	{name: "error_401_no_key", path: "/v1/chat/completions", body: chatBody(haiku, "Hi", ``)},
	{name: "error_401_unknown_key", secret: "sk-nobody-0123456789", path: "/v1/chat/completions", body: chatBody(haiku, "Hi", ``)},
	{name: "error_403_model_not_allowed", secret: goldenNarrow, path: "/v1/chat/completions", body: chatBody("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "Hi", ``)},
	{name: "error_404_model", secret: goldenFree, path: "/v1/chat/completions", body: chatBody("anthropic.claude-nonexistent-v9:0", "Hi", ``)},
	{name: "error_429_throttled", secret: goldenFree, path: "/v1/chat/completions", body: chatBody(haiku, "Hi [sim:error=ThrottlingException]", ``)},
	{name: "error_stream_before_start", secret: goldenFree, path: "/v1/chat/completions", body: chatBody(haiku, "Hi [sim:error=ServiceUnavailableException]", `,"stream":true`)},
	{name: "stream_broken", secret: goldenFree, path: "/v1/chat/completions", body: chatBody(haiku, "Tell me a story [sim:tokens=40] [sim:cut]", `,"stream":true`)},
	{name: "stream_exception", secret: goldenFree, path: "/v1/chat/completions", body: chatBody(haiku, "Tell me a story [sim:tokens=40] [sim:exception=modelStreamErrorException]", `,"stream":true`)},
	{name: "embeddings_titan", secret: goldenFree, path: "/v1/embeddings", body: `{"model":"amazon.titan-embed-text-v2:0","input":["one","two"],"dimensions":256}`},
	{name: "embeddings_cohere", secret: goldenFree, path: "/v1/embeddings", body: `{"model":"cohere.embed-english-v3","input":"hello","encoding_format":"base64"}`},
	{name: "embeddings_error_400", secret: goldenFree, path: "/v1/embeddings", body: `{"model":"amazon.titan-embed-text-v2:0","input":[]}`},
	{name: "models_get", secret: goldenNarrow, method: "GET", path: "/v1/models/" + haiku},
	{name: "error_404_url", secret: goldenFree, path: "/v1/nowhere", body: `{}`},
	{name: "responses_plain", secret: goldenFree, path: "/v1/responses", body: `{"model":"` + haiku + `","instructions":"Be brief.","input":"Hello there","max_output_tokens":100,"store":false}`},
	{name: "responses_stream", secret: goldenFree, path: "/v1/responses", body: `{"model":"` + haiku + `","input":[{"role":"user","content":[{"type":"input_text","text":"Tell me a story [sim:tokens=12]"}]}],"stream":true}`},
	{name: "responses_tool_call_stream", secret: goldenFree, path: "/v1/responses", body: `{"model":"` + haiku + `","input":"What is the weather in Paris? [sim:tool]","stream":true,"tools":[{"type":"namespace","name":"wx","description":"Weather","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}]}`},
	{name: "responses_reasoning", secret: goldenFree, path: "/v1/responses", body: `{"model":"us.anthropic.claude-sonnet-4-5-20250929-v1:0","input":"Think about it","reasoning":{"effort":"low","summary":"auto"}}`},
	{name: "responses_error_403", secret: goldenNarrow, path: "/v1/responses", body: `{"model":"us.anthropic.claude-sonnet-4-5-20250929-v1:0","input":"Hi","stream":true}`},
	{name: "responses_stream_broken", secret: goldenFree, path: "/v1/responses", body: `{"model":"` + haiku + `","input":"Tell me a story [sim:tokens=40] [sim:cut]","stream":true}`},
}

func TestGoldenOpenAI(t *testing.T) {
	if testing.Short() {
		t.Skip("talks to the simulator")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	simURL, err := bedrocksim.New(bedrocksim.Options{}).Start(ctx, "127.0.0.1:0")
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
	meter, err := metering.New(metering.NewRegistry(), metering.Options{})
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
	defer srv.Close()

	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range goldenExchanges {
		got := goldenRecord(t, srv, logs, x)
		file := filepath.Join(dir, x.name+".txt")
		if *update {
			if err := os.WriteFile(file, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to record it)", x.name, err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", x.name, diff)
		}
	}
}

// goldenHeaders are the response headers a transcript keeps.
var goldenHeaders = []string{"Cache-Control", "Connection", "Content-Type", "Retry-After", "X-Accel-Buffering", "X-Should-Retry"}

// goldenRecord makes one exchange and renders it: the request, the status,
// the kept headers, the body, and the request log line without its volatile
// fields.
func goldenRecord(t *testing.T, srv *httptest.Server, logs *lockedWriter, x goldenExchange) []byte {
	t.Helper()
	logs.mu.Lock()
	logs.w.Reset()
	logs.mu.Unlock()
	method := x.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if x.body != "" {
		body = strings.NewReader(x.body)
	}
	req, err := http.NewRequest(method, srv.URL+x.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if x.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if x.secret != "" {
		req.Header.Set("Authorization", "Bearer "+x.secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s: no x-request-id", x.name)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%s %s\n%s\n\n", method, x.path, x.body)
	fmt.Fprintf(&out, "%d\n", resp.StatusCode)
	for _, h := range goldenHeaders {
		if v := resp.Header.Values(h); len(v) > 0 {
			fmt.Fprintf(&out, "%s: %s\n", h, strings.Join(v, ", "))
		}
	}
	out.WriteString("\n")
	out.Write(normalise(respBody))
	out.WriteString("\n--- log\n")
	out.Write(goldenLogLine(t, logs))
	out.WriteString("\n")
	return out.Bytes()
}

var volatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`"id":"chatcmpl-[^"]*"`), `"id":"chatcmpl-ID"`},
	{regexp.MustCompile(`"created":\d+`), `"created":0`},
	{regexp.MustCompile(`resp_[A-Z2-7]{26}`), `resp_ID`},
	{regexp.MustCompile(`\b(msg|fc|rs|ctc)_[A-Z2-7]{26}_`), `${1}_ID_`},
	{regexp.MustCompile(`"(created_at|completed_at)":\d+`), `"$1":0`},
	{regexp.MustCompile(`req_[0-9a-f]{24}`), `req_ID`},
	{regexp.MustCompile(`upstream_request_id="[^"]*"`), `upstream_request_id="ID"`},
	{regexp.MustCompile(`RequestID: [0-9a-f-]{36}`), `RequestID: ID`},
	// budget messages name the month and when it ends
	{regexp.MustCompile(` in \d{4}-\d{2}([ .),])`), ` in PERIOD$1`},
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC`), `NEXT-PERIOD`},
}

func normalise(b []byte) []byte {
	for _, v := range volatile {
		b = v.re.ReplaceAll(b, []byte(v.repl))
	}
	return b
}

// goldenLogLine waits for the request's log line and returns it with sorted
// keys, without time and latency.
func goldenLogLine(t *testing.T, logs *lockedWriter) []byte {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		logs.mu.Lock()
		line := bytes.TrimSpace(logs.w.Bytes())
		logs.mu.Unlock()
		if len(line) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log %q: %v", line, err)
		}
		delete(rec, "time")
		delete(rec, "latency_ms")
		keys := make([]string, 0, len(rec))
		for k := range rec {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var b bytes.Buffer
		for _, k := range keys {
			v, _ := json.Marshal(rec[k])
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
		return normalise(b.Bytes())
	}
	t.Fatal("no request log line")
	return nil
}
