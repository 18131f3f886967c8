package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/tollgate-gw/tollgate/internal/openapitest"
)

const haiku = "anthropic.claude-3-haiku-20240307-v1:0"

func simGateway(t *testing.T, args ...string) *gateway {
	dir := t.TempDir()
	return startGateway(t, nil, append([]string{"-sim", "-policies", dir, "-store", "bolt://" + dir + "/usage.db"}, args...)...)
}

func TestChatPlain(t *testing.T) {
	g := simGateway(t)
	client := g.client(t, DemoKey)
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: haiku,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are terse."),
			openai.UserMessage("Say hello to Tollgate."),
		},
		MaxCompletionTokens: openai.Int(200),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Model != haiku || resp.Object != "chat.completion" {
		t.Errorf("id, model, object = %q, %q, %q", resp.ID, resp.Model, resp.Object)
	}
	if len(resp.Choices) != 1 {
		t.Fatalf("%d choices", len(resp.Choices))
	}
	ch := resp.Choices[0]
	if ch.Message.Content == "" || ch.FinishReason != "stop" || ch.Message.Role != "assistant" {
		t.Errorf("choice = %+v", ch)
	}
	u := resp.Usage
	if u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage = %+v", u)
	}
}

func TestChatStreamWithUsage(t *testing.T) {
	g := simGateway(t)
	client := g.client(t, DemoKey)
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         haiku,
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a short story about a toll gate. [sim:tokens=40]")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var text strings.Builder
	var chunks, usageChunks int
	var finish string
	var usage openai.CompletionUsage
	for stream.Next() {
		c := stream.Current()
		chunks++
		if len(c.Choices) == 0 {
			usageChunks++
			usage = c.Usage
			continue
		}
		text.WriteString(c.Choices[0].Delta.Content)
		if c.Choices[0].FinishReason != "" {
			finish = c.Choices[0].FinishReason
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if chunks < 4 || text.Len() == 0 || finish != "stop" {
		t.Errorf("chunks=%d text=%q finish=%q", chunks, text.String(), finish)
	}
	if usageChunks != 1 || usage.CompletionTokens < 30 || usage.TotalTokens != usage.PromptTokens+usage.CompletionTokens {
		t.Errorf("usage chunks=%d usage=%+v", usageChunks, usage)
	}
}

var weatherTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "get_weather",
	Description: openai.String("Current weather for a city"),
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	},
})

func TestToolRoundTrip(t *testing.T) {
	g := simGateway(t)
	client := g.client(t, DemoKey)
	ctx := context.Background()
	for _, streamed := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "stream"}[streamed], func(t *testing.T) {
			params := openai.ChatCompletionNewParams{
				Model:    haiku,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris? Use get_weather.")},
				Tools:    []openai.ChatCompletionToolUnionParam{weatherTool},
			}
			var msg openai.ChatCompletionMessage
			var finish string
			if streamed {
				stream := client.Chat.Completions.NewStreaming(ctx, params)
				var acc openai.ChatCompletionAccumulator
				for stream.Next() {
					c := stream.Current()
					acc.AddChunk(c)
					for _, tc := range c.Choices[0].Delta.ToolCalls {
						if tc.Index != 0 {
							t.Errorf("tool call index %d, want 0", tc.Index)
						}
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				msg, finish = acc.Choices[0].Message, acc.Choices[0].FinishReason
			} else {
				resp, err := client.Chat.Completions.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				msg, finish = resp.Choices[0].Message, resp.Choices[0].FinishReason
			}
			if finish != "tool_calls" || len(msg.ToolCalls) != 1 {
				t.Fatalf("finish=%q tool_calls=%+v", finish, msg.ToolCalls)
			}
			call := msg.ToolCalls[0]
			var args map[string]any
			if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil || call.Function.Name != "get_weather" || call.ID == "" {
				t.Fatalf("tool call %+v: %v", call, err)
			}
			if _, ok := args["city"].(string); !ok {
				t.Errorf("arguments %s lack the required city", call.Function.Arguments)
			}

			params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("Sunny, 21 degrees", call.ID))
			resp, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Choices[0]; got.FinishReason != "stop" || !strings.Contains(got.Message.Content, "Sunny, 21 degrees") {
				t.Errorf("answer after the tool result = %+v", got)
			}
		})
	}
}

func TestErrorsThroughTheSDK(t *testing.T) {
	g := simGateway(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		key        string
		model      string
		prompt     string
		wantStatus int
		wantType   string
		wantCode   string
	}{
		{"unknown key", "sk-wrong", haiku, "hi", 401, "invalid_request_error", "invalid_api_key"},
		{"unknown model", DemoKey, "anthropic.no-such-model-v9:0", "hi", 404, "invalid_request_error", "model_not_found"},
		{"throttled", DemoKey, haiku, "hi [sim:error=ThrottlingException]", 429, "requests", "rate_limit_exceeded"},
		{"access denied", DemoKey, haiku, "hi [sim:error=AccessDeniedException]", 403, "permission_error", "upstream_access_denied"},
		{"model timeout", DemoKey, haiku, "hi [sim:error=ModelTimeoutException]", 504, "server_error", "upstream_timeout"},
		{"unavailable", DemoKey, haiku, "hi [sim:error=ServiceUnavailableException]", 503, "server_error", "upstream_unavailable"},
		{"model error", DemoKey, haiku, "hi [sim:error=ModelErrorException]", 502, "server_error", "upstream_error"},
		{"validation", DemoKey, haiku, "hi [sim:error=ValidationException]", 400, "invalid_request_error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := g.client(t, tt.key)
			var rawResp *http.Response
			_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    tt.model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(tt.prompt)},
			})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *openai.Error", err)
			}
			rawResp = apiErr.Response
			got := []any{apiErr.StatusCode, apiErr.Type, apiErr.Code}
			if diff := cmp.Diff([]any{tt.wantStatus, tt.wantType, tt.wantCode}, got); diff != "" {
				t.Errorf("status, type, code (-want +got):\n%s", diff)
			}
			if apiErr.Message == "" || strings.Contains(apiErr.Message, tt.key) {
				t.Errorf("message %q is empty or holds the key", apiErr.Message)
			}
			if tt.wantStatus == 429 && rawResp.Header.Get("Retry-After") == "" {
				t.Error("429 without retry-after")
			}
		})
	}
}

func TestStreamFailures(t *testing.T) {
	g := simGateway(t)
	tests := []struct {
		name, marker, wantCode string
	}{
		{"exception mid-stream", "[sim:exception=modelStreamErrorException]", "upstream_error"},
		{"throttling mid-stream", "[sim:exception=throttlingException]", "rate_limit_exceeded"},
		{"connection cut", "[sim:cut]", "upstream_stream_incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"model":"` + haiku + `","stream":true,"messages":[{"role":"user","content":"Write a long poem ` + tt.marker + `"}]}`
			status, _, b := g.do(t, "POST", "/v1/chat/completions", DemoKey, "application/json", body)
			if status != 200 {
				t.Fatalf("status %d: %s", status, b)
			}
			openapitest.ValidateSSE(t, b)
			events := sseEvents(b)
			last := events[len(events)-1]
			var e struct {
				Error struct{ Message, Type, Code string }
			}
			if err := json.Unmarshal([]byte(last), &e); err != nil || e.Error.Code != tt.wantCode || e.Error.Message == "" {
				t.Errorf("last event = %s, want an error with code %q", last, tt.wantCode)
			}
			if len(events) < 2 {
				t.Errorf("no content before the error: %s", b)
			}
		})
	}

	// The official SDK surfaces the error event as an error while iterating.
	client := g.client(t, DemoKey)
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    haiku,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("poem [sim:exception=modelStreamErrorException]")},
	})
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Error("the SDK saw no error for a failed stream")
	}
}

func TestModels(t *testing.T) {
	g := simGateway(t)
	client := g.client(t, DemoKey)
	ctx := context.Background()
	page, err := client.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range page.Data {
		ids[m.ID] = true
		if m.Object != "model" || m.OwnedBy == "" {
			t.Errorf("model %+v", m)
		}
	}
	for _, want := range []string{haiku, "us.anthropic.claude-3-haiku-20240307-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "amazon.titan-embed-text-v2:0"} {
		if !ids[want] {
			t.Errorf("models lack %s", want)
		}
	}
	for _, absent := range []string{"amazon.nova-canvas-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"} {
		if ids[absent] {
			t.Errorf("models list %s, which cannot be called on demand for chat or embeddings", absent)
		}
	}
	m, err := client.Models.Get(ctx, haiku)
	if err != nil || m.ID != haiku {
		t.Fatalf("get %s: %+v %v", haiku, m, err)
	}
	// Application inference profile ARNs hold '/'.
	for id := range ids {
		if strings.HasPrefix(id, "arn:") {
			status, _, b := g.do(t, "GET", "/v1/models/"+id, DemoKey, "", "")
			if status != 200 {
				t.Errorf("GET /v1/models/%s = %d %s", id, status, b)
			}
		}
	}
	_, err = client.Models.Get(ctx, "no.such-model")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model: %v", err)
	}
}

func TestHTTPContract(t *testing.T) {
	g := simGateway(t)
	chat := `{"model":"` + haiku + `","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name, method, path, key, contentType, body string
		wantStatus                                 int
		wantCode                                   string
		wantParam                                  string
	}{
		{"reference gateway prefix", "POST", "/api/v1/chat/completions", DemoKey, "application/json", chat, 200, "", ""},
		{"no key", "POST", "/v1/chat/completions", "", "application/json", chat, 401, "invalid_api_key", ""},
		{"unknown route", "GET", "/v1/nothing", DemoKey, "", "", 404, "unknown_url", ""},
		{"wrong method", "GET", "/v1/chat/completions", DemoKey, "", "", 405, "method_not_allowed", ""},
		{"malformed json", "POST", "/v1/chat/completions", DemoKey, "application/json", `{"model":`, 400, "", ""},
		{"wrong content type", "POST", "/v1/chat/completions", DemoKey, "text/plain", chat, 400, "invalid_content_type", "Content-Type"},
		{"missing model", "POST", "/v1/chat/completions", DemoKey, "application/json", `{"messages":[{"role":"user","content":"hi"}]}`, 400, "", "model"},
		{"missing messages", "POST", "/v1/chat/completions", DemoKey, "application/json", `{"model":"` + haiku + `"}`, 400, "", "messages"},
		{"too large", "POST", "/v1/chat/completions", DemoKey, "application/json", `{"model":"` + haiku + `","messages":[{"role":"user","content":"` + strings.Repeat("a", 2<<20) + `"}]}`, 413, "request_too_large", ""},
	}
	g2 := simGateway(t, "-max-body-bytes", "1048576")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := g
			if tt.wantStatus == 413 {
				gw = g2
			}
			status, _, b := gw.do(t, tt.method, tt.path, tt.key, tt.contentType, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, b)
			}
			if status == 200 {
				openapitest.Validate(t, "CreateChatCompletionResponse", b)
				return
			}
			openapitest.Validate(t, "ErrorResponse", b)
			var e struct {
				Error struct {
					Message string
					Code    *string
					Param   *string
				}
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			if tt.wantCode != "" && (e.Error.Code == nil || *e.Error.Code != tt.wantCode) {
				t.Errorf("code = %v, want %q", e.Error.Code, tt.wantCode)
			}
			if tt.wantParam != "" && (e.Error.Param == nil || *e.Error.Param != tt.wantParam) {
				t.Errorf("param = %v, want %q", e.Error.Param, tt.wantParam)
			}
		})
	}

	// The Responses and Messages routes are served under /api/v1 too.
	hi := `"messages":[{"role":"user","content":"hi"}]`
	for _, tt := range []struct{ path, body, want string }{
		{"/api/v1/responses", `{"model":"` + haiku + `","input":"hi","max_output_tokens":10}`, `"object":"response"`},
		{"/api/v1/messages", `{"model":"` + haiku + `","max_tokens":10,` + hi + `}`, `"type":"message"`},
		{"/api/v1/messages/count_tokens", `{"model":"claude-sonnet-4-5",` + hi + `}`, `"input_tokens":`},
	} {
		if status, _, b := g.do(t, "POST", tt.path, DemoKey, "application/json", tt.body); status != 200 || !strings.Contains(string(b), tt.want) {
			t.Errorf("POST %s: %d %s, want 200 with %s", tt.path, status, b, tt.want)
		}
	}
}

// TestRequestLogsNameTheKeyNeverTheSecret: every model route, whatever its
// protocol, logs one request line naming the key, the model, the status,
// the tokens and the cost, and never the prompt or the credential.
func TestRequestLogsNameTheKeyNeverTheSecret(t *testing.T) {
	g := simGateway(t)
	routes := []struct{ path, logPath, body string }{
		{"/v1/chat/completions", "/v1/chat/completions", `{"model":"` + haiku + `","messages":[{"role":"user","content":"a very private prompt"}]}`},
		{"/v1/responses", "/v1/responses", `{"model":"` + haiku + `","input":"a very private prompt"}`},
		{"/v1/messages", "/v1/messages", `{"model":"` + haiku + `","max_tokens":50,"messages":[{"role":"user","content":"a very private prompt"}]}`},
		{"/bedrock/model/" + haiku + "/converse", "/bedrock/model/*rest", `{"messages":[{"role":"user","content":[{"text":"a very private prompt"}]}]}`},
	}
	for _, r := range routes {
		if status, _, b := g.do(t, "POST", r.path, DemoKey, "application/json", r.body); status != 200 {
			t.Fatalf("POST %s: %d %s", r.path, status, b)
		}
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	logs := g.logs.String()
	for _, r := range routes {
		var found bool
		for _, line := range strings.Split(logs, "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" || rec["path"] != r.logPath {
				continue
			}
			found = true
			for _, k := range []string{"request_id", "key_id", "model", "status", "latency_ms", "input_tokens", "output_tokens", "cost_micros"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("%s: request log line lacks %s: %s", r.path, k, line)
				}
			}
			if rec["key_id"] != "demo" || rec["status"] != float64(200) {
				t.Errorf("%s: request log line names key %v, status %v: %s", r.path, rec["key_id"], rec["status"], line)
			}
		}
		if !found {
			t.Errorf("%s: no request log line:\n%s", r.path, logs)
		}
	}
	if strings.Contains(logs, "a very private prompt") || strings.Contains(logs, "Bearer") {
		t.Errorf("logs hold a prompt or a credential:\n%s", logs)
	}
}

// TestShutdownDrainsStreams cancels run while a stream is in flight: the
// stream finishes and run returns nil.
func TestShutdownDrainsStreams(t *testing.T) {
	g := simGateway(t)
	type result struct {
		status int
		body   []byte
	}
	res := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", g.baseURL+"/v1/chat/completions", strings.NewReader(
			`{"model":"`+haiku+`","stream":true,"messages":[{"role":"user","content":"slow [sim:latency=500ms]"}]}`))
		req.Header.Set("Authorization", "Bearer "+DemoKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{0, []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, b}
	}()
	time.Sleep(200 * time.Millisecond) // the request is now waiting on the simulator
	if err := g.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	r := <-res
	if r.status != 200 || !strings.HasSuffix(string(r.body), "data: [DONE]\n\n") {
		t.Errorf("in-flight stream cut by shutdown: %d %s", r.status, r.body)
	}
}
