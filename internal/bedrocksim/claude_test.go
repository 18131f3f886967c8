package bedrocksim_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
)

// claudeBody is an Anthropic body on Bedrock asking text.
func claudeBody(text string, extra ...string) string {
	b := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":200,"messages":[{"role":"user","content":` + mustJSON(text) + `}]`
	for _, e := range extra {
		b += "," + e
	}
	return b + "}"
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// invokeClaude calls InvokeModel and returns the message and the token
// headers.
func invokeClaude(t *testing.T, rt *bedrockruntime.Client, modelID, body string) (map[string]any, map[string]string, error) {
	t.Helper()
	out, err := rt.InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{
		ModelId: aws.String(modelID), Body: []byte(body), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return nil, nil, err
	}
	raw := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
	headers := map[string]string{}
	for _, h := range []string{"Input-Token-Count", "Output-Token-Count", "Cache-Read-Input-Token-Count", "Cache-Write-Input-Token-Count"} {
		headers[h] = raw.Header.Get("X-Amzn-Bedrock-" + h)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Body, &m); err != nil {
		t.Fatalf("answer %s: %v", out.Body, err)
	}
	return m, headers, nil
}

// streamClaude calls InvokeModelWithResponseStream and returns the decoded
// Anthropic events and the stream's error.
func streamClaude(t *testing.T, rt *bedrockruntime.Client, modelID, body string) ([]map[string]any, error) {
	t.Helper()
	out, err := rt.InvokeModelWithResponseStream(context.Background(), &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String(modelID), Body: []byte(body), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return nil, err
	}
	st := out.GetStream()
	defer st.Close()
	var events []map[string]any
	for ev := range st.Events() {
		chunk, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			t.Fatalf("event %T", ev)
		}
		var m map[string]any
		if err := json.Unmarshal(chunk.Value.Bytes, &m); err != nil {
			t.Fatalf("chunk %s: %v", chunk.Value.Bytes, err)
		}
		events = append(events, m)
	}
	return events, st.Err()
}

func TestClaudeInvoke(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	got, headers, err := invokeClaude(t, rt, sonnet45, claudeBody("Hello there"))
	if err != nil {
		t.Fatal(err)
	}
	delete(got, "id")
	want := map[string]any{
		"type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
		"content":     []any{map[string]any{"type": "text", "text": "This is a simulated reply from Claude Sonnet 4.5 to: Hello there."}},
		"stop_reason": "end_turn", "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 3.0, "output_tokens": 17.0, "cache_creation_input_tokens": 0.0, "cache_read_input_tokens": 0.0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("message (-want +got)\n%s", diff)
	}
	wantHeaders := map[string]string{"Input-Token-Count": "3", "Output-Token-Count": "17", "Cache-Read-Input-Token-Count": "0", "Cache-Write-Input-Token-Count": "0"}
	if diff := cmp.Diff(wantHeaders, headers); diff != "" {
		t.Errorf("headers (-want +got)\n%s", diff)
	}
}

func TestClaudeFeatures(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	tools := `"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`
	tests := []struct {
		name  string
		body  string
		types []string // content block types of the answer
		stop  string
	}{
		{"tool use", claudeBody("What is the get_weather in Paris?", tools), []string{"text", "tool_use"}, "tool_use"},
		{"thinking", strings.Replace(claudeBody("Think", `"thinking":{"type":"enabled","budget_tokens":1024}`), `"max_tokens":200`, `"max_tokens":2000`, 1), []string{"thinking", "text"}, "end_turn"},
		{"stop sequence", claudeBody("Hello", `"stop_sequences":["simulated"]`), []string{"text"}, "stop_sequence"},
		{"max tokens", strings.Replace(claudeBody("Hello"), `"max_tokens":200`, `"max_tokens":2`, 1), []string{"text"}, "max_tokens"},
		{"system prompt blocks with cache marks", claudeBody("Hello", `"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}]`), []string{"text"}, "end_turn"},
		{"deferred tool with the tool search beta", claudeBody("Hello", `"anthropic_beta":["tool-search-tool-2025-10-19"]`,
			`"tools":[{"name":"t","input_schema":{"type":"object"},"defer_loading":true}]`), []string{"text"}, "end_turn"},
		{"gated members with their betas", claudeBody("Hello", `"anthropic_beta":["effort-2025-11-24","context-management-2025-06-27"]`,
			`"output_config":{"effort":"high"}`, `"context_management":{"edits":[]}`), []string{"text"}, "end_turn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := invokeClaude(t, rt, sonnet45, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, b := range got["content"].([]any) {
				block := b.(map[string]any)
				types = append(types, block["type"].(string))
				switch block["type"] {
				case "thinking":
					if block["signature"] == "" {
						t.Error("thinking without signature")
					}
				case "tool_use":
					if !strings.HasPrefix(block["id"].(string), "toolu_bdrk_01") || block["input"].(map[string]any)["city"] != "example" {
						t.Errorf("tool_use %v", block)
					}
				}
			}
			if diff := cmp.Diff(tt.types, types); diff != "" || got["stop_reason"] != tt.stop {
				t.Errorf("types (-want +got)\n%s\nstop %v, want %s", diff, got["stop_reason"], tt.stop)
			}
		})
	}
}

func TestClaudeValidation(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	tests := []struct {
		name, model, body, msg string
	}{
		{"anthropic_version missing", sonnet45, `{"max_tokens":10,"messages":[{"role":"user","content":"x"}]}`,
			"Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."},
		{"max_tokens missing", sonnet45, `{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"x"}]}`,
			"Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again."},
		{"wrong anthropic_version", sonnet45, strings.Replace(claudeBody("x"), "bedrock-2023-05-31", "2023-06-01", 1),
			"#/anthropic_version: 2023-06-01 is not a valid enum value"},
		{"model in the body", sonnet45, claudeBody("x", `"model":"claude"`), "extraneous key [model] is not permitted"},
		{"stream in the body", sonnet45, claudeBody("x", `"stream":true`), "extraneous key [stream] is not permitted"},
		{"unknown beta flag", sonnet45, claudeBody("x", `"anthropic_beta":["claude-code-20250219"]`),
			"The model returned the following errors: invalid beta flag"},
		{"metadata", sonnet45, claudeBody("x", `"metadata":{"user_id":"u"}`), "The model returned the following errors: metadata: Extra inputs are not permitted"},
		{"output_config without its beta", sonnet45, claudeBody("x", `"output_config":{"effort":"low"}`), "output_config: Extra inputs are not permitted"},
		{"defer_loading without its beta", sonnet45, claudeBody("x", `"tools":[{"name":"t","input_schema":{"type":"object"},"defer_loading":true}]`),
			"tools.0.custom.defer_loading: Extra inputs are not permitted"},
		{"max_tokens above the model's", haiku, strings.Replace(claudeBody("x"), `"max_tokens":200`, `"max_tokens":5000`, 1),
			"max_tokens: 5000 > 4096, which is the maximum allowed number of output tokens for claude-3-haiku-20240307"},
		{"a system role in messages", sonnet45, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"system","content":"x"},{"role":"user","content":"y"}]}`,
			"messages.0.role: Input should be 'user' or 'assistant'"},
		{"empty text", sonnet45, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`,
			"text content blocks must be non-empty"},
		{"thinking budget below 1024", sonnet45, claudeBody("x", `"thinking":{"type":"enabled","budget_tokens":100}`),
			"thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{"adaptive thinking on a model without it", sonnet45, claudeBody("x", `"thinking":{"type":"adaptive"}`),
			"thinking.type: Input tag 'adaptive'"},
		{"temperature and top_p on Sonnet 4.5", sonnet45, claudeBody("x", `"temperature":0.5`, `"top_p":0.5`),
			"`temperature` and `top_p` cannot both be specified for this model"},
		{"a tool result without its tool use", sonnet45, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"r"}]}]}`,
			"unexpected `tool_use_id` found in `tool_result` blocks: toolu_1"},
		{"a tool use without its result", sonnet45, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"t","input":{}}]},{"role":"user","content":"y"}]}`,
			"messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1"},
		{"a thinking block without signature", sonnet45, `{"anthropic_version":"bedrock-2023-05-31","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"thinking","thinking":"hm"}]},{"role":"user","content":"y"}]}`,
			"messages.1.content.0.thinking.signature: Field required"},
		{"a profile-only model by its bare id", "anthropic.claude-sonnet-4-5-20250929-v1:0", claudeBody("x"),
			"Invocation of model ID anthropic.claude-sonnet-4-5-20250929-v1:0 with on-demand throughput isn't supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := invokeClaude(t, rt, tt.model, tt.body)
			var ae smithy.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v, want a ValidationException", err)
			}
			if ae.ErrorCode() != "ValidationException" || !strings.Contains(ae.ErrorMessage(), tt.msg) {
				t.Errorf("got %s %q, want ValidationException %q", ae.ErrorCode(), ae.ErrorMessage(), tt.msg)
			}
		})
	}
}

// TestClaudeBetasAccepted: every flag of ClaudeBetas passes.
func TestClaudeBetasAccepted(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	if _, _, err := invokeClaude(t, s.runtime(), sonnet45, claudeBody("x", `"anthropic_beta":`+mustJSON(bedrocksim.ClaudeBetas()))); err != nil {
		t.Fatal(err)
	}
}

func TestClaudeStream(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	tools := `"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	// Interleaved thinking lets the budget exceed max_tokens.
	body := strings.Replace(claudeBody("Use get_weather", tools, `"thinking":{"type":"enabled","budget_tokens":4096}`, `"anthropic_beta":["interleaved-thinking-2025-05-14"]`), `"max_tokens":200`, `"max_tokens":2000`, 1)
	events, err := streamClaude(t, rt, sonnet45, body)
	if err != nil {
		t.Fatal(err)
	}
	var transcript []string
	var text, thinking, signature, input string
	for _, ev := range events {
		typ := ev["type"].(string)
		if d, ok := ev["delta"].(map[string]any); ok && typ == "content_block_delta" {
			typ += ":" + d["type"].(string)
			switch d["type"] {
			case "text_delta":
				text += d["text"].(string)
			case "thinking_delta":
				thinking += d["thinking"].(string)
			case "signature_delta":
				signature += d["signature"].(string)
			case "input_json_delta":
				input += d["partial_json"].(string)
			}
		}
		if b, ok := ev["content_block"].(map[string]any); ok {
			typ += ":" + b["type"].(string)
		}
		if len(transcript) == 0 || transcript[len(transcript)-1] != typ {
			transcript = append(transcript, typ)
		}
	}
	want := []string{
		"message_start",
		"content_block_start:thinking", "content_block_delta:thinking_delta", "content_block_delta:signature_delta", "content_block_stop",
		"content_block_start:text", "content_block_delta:text_delta", "content_block_stop",
		"content_block_start:tool_use", "content_block_delta:input_json_delta", "content_block_stop",
		"message_delta", "message_stop",
	}
	if diff := cmp.Diff(want, transcript); diff != "" {
		t.Errorf("events (-want +got)\n%s", diff)
	}
	if text != "I'll call get_weather." || thinking == "" || signature == "" || input != `{"city":"example"}` {
		t.Errorf("text %q thinking %q signature %q input %q", text, thinking, signature, input)
	}
	start := events[0]["message"].(map[string]any)["usage"].(map[string]any)
	delta := events[len(events)-2]
	stop := events[len(events)-1]
	metrics, ok := stop["amazon-bedrock-invocationMetrics"].(map[string]any)
	if !ok {
		t.Fatalf("message_stop %v has no invocation metrics", stop)
	}
	if delta["delta"].(map[string]any)["stop_reason"] != "tool_use" ||
		delta["usage"].(map[string]any)["output_tokens"] != metrics["outputTokenCount"] ||
		start["input_tokens"] != metrics["inputTokenCount"] {
		t.Errorf("message_start usage %v, message_delta %v, metrics %v disagree", start, delta, metrics)
	}
	st := s.Stats()
	if st.Requests[bedrocksim.OpInvokeModelWithResponseStream] != 1 || st.Invocations != 1 || st.OutputTokens != int64(metrics["outputTokenCount"].(float64)) {
		t.Errorf("stats %+v", st)
	}
}

func TestClaudeStreamException(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	events, err := streamClaude(t, s.runtime(), sonnet45, claudeBody("Hello [sim:exception=throttlingException] [sim:tokens=40]"))
	var te *types.ThrottlingException
	if !errors.As(err, &te) {
		t.Fatalf("stream error %v, want a ThrottlingException", err)
	}
	if last := events[len(events)-1]["type"]; last != "content_block_delta" {
		t.Errorf("last event %v, want a delta before the exception", last)
	}
}

// TestClaudePromptCache: a cache_control mark writes the prefix, then reads
// it; the tokens come back apart from input_tokens, in the body and in the
// stream's invocation metrics.
func TestClaudePromptCache(t *testing.T) {
	clock := newFakeClock()
	s := startSim(t, bedrocksim.Options{Now: clock.Now})
	rt := s.runtime()
	long := strings.Repeat("word ", 1000) // 5000 bytes: 1250 tokens, above Sonnet 4.5's minimum of 1024
	body := claudeBody("Hello", `"system":[{"type":"text","text":`+mustJSON(long)+`,"cache_control":{"type":"ephemeral"}}]`)
	first, _, err := invokeClaude(t, rt, sonnet45, body)
	if err != nil {
		t.Fatal(err)
	}
	second, headers, err := invokeClaude(t, rt, sonnet45, body)
	if err != nil {
		t.Fatal(err)
	}
	u1, u2 := first["usage"].(map[string]any), second["usage"].(map[string]any)
	if u1["cache_creation_input_tokens"] != 1250.0 || u1["cache_read_input_tokens"] != 0.0 ||
		u2["cache_read_input_tokens"] != 1250.0 || u2["cache_creation_input_tokens"] != 0.0 || u2["input_tokens"] != 2.0 {
		t.Errorf("first usage %v, second %v", u1, u2)
	}
	if headers["Cache-Read-Input-Token-Count"] != "1250" {
		t.Errorf("headers %v", headers)
	}
	events, err := streamClaude(t, rt, sonnet45, body)
	if err != nil {
		t.Fatal(err)
	}
	metrics := events[len(events)-1]["amazon-bedrock-invocationMetrics"].(map[string]any)
	if metrics["cacheReadInputTokenCount"] != 1250.0 {
		t.Errorf("metrics %v", metrics)
	}
}

func TestCountTokens(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	count := func(modelID string, in types.CountTokensInput) (int32, error) {
		out, err := rt.CountTokens(context.Background(), &bedrockruntime.CountTokensInput{ModelId: aws.String(modelID), Input: in})
		if err != nil {
			return 0, err
		}
		return aws.ToInt32(out.InputTokens), nil
	}
	const bare = "anthropic.claude-sonnet-4-5-20250929-v1:0"
	n, err := count(bare, &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: []byte(claudeBody("Hello there"))}})
	if err != nil || n != 3 {
		t.Errorf("invokeModel: %d, %v; want 3", n, err)
	}
	n, err = count(bare, &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{Messages: userText("Hello there")}})
	if err != nil || n != 3 {
		t.Errorf("converse: %d, %v; want 3", n, err)
	}
	n, err = count("anthropic.claude-opus-5-5", &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: []byte(claudeBody("Hello there"))}})
	if err != nil || n != 3 {
		t.Errorf("Claude Code's default, Opus 5.5: %d, %v; want 3", n, err)
	}
	for _, tt := range []struct{ name, model, body, msg string }{
		{"an inference profile", sonnet45, claudeBody("x"), "The provided model doesn't support counting tokens."},
		{"a model that does not count", "amazon.nova-micro-v1:0", claudeBody("x"), "The provided model doesn't support counting tokens."},
		{"an invalid body", bare, `{"max_tokens":1}`, "required key [anthropic_version] not found"},
	} {
		_, err := count(tt.model, &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: []byte(tt.body)}})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || !strings.Contains(ae.ErrorMessage(), tt.msg) {
			t.Errorf("%s: %v, want ValidationException %q", tt.name, err, tt.msg)
		}
	}
	if st := s.Stats(); st.Invocations != 0 || st.Requests[bedrocksim.OpCountTokens] != 6 {
		t.Errorf("stats %+v: counting is free", st)
	}
}

// TestClaudeGuardrail: InvokeModel takes its guardrail in headers; the
// answer says what it did, and [sim:guardrail] makes it intervene.
func TestClaudeGuardrail(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	invokeGuarded := func(id, version, body string) (map[string]any, error) {
		out, err := rt.InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{
			ModelId: aws.String(sonnet45), Body: []byte(body), GuardrailIdentifier: aws.String(id), GuardrailVersion: aws.String(version),
		})
		if err != nil {
			return nil, err
		}
		var m map[string]any
		return m, json.Unmarshal(out.Body, &m)
	}
	m, err := invokeGuarded("abc123", "1", claudeBody("Hello"))
	if err != nil || m["amazon-bedrock-guardrailAction"] != "NONE" || !strings.Contains(mustJSON(m["content"]), "simulated reply") {
		t.Errorf("a call through a guardrail: %v %v", m, err)
	}
	m, err = invokeGuarded("abc123", "1", claudeBody("Hello [sim:guardrail]"))
	if err != nil || m["amazon-bedrock-guardrailAction"] != "INTERVENED" || m["stop_reason"] != "end_turn" ||
		!strings.Contains(mustJSON(m["content"]), "Sorry, the model cannot answer this question.") {
		t.Errorf("an intervention: %v %v", m, err)
	}
	_, err = invokeGuarded("abc123", "", claudeBody("Hello"))
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		t.Errorf("a guardrail without version: %v", err)
	}
	if m, _, err := invokeClaude(t, rt, sonnet45, claudeBody("Hello [sim:guardrail]")); err != nil || m["amazon-bedrock-guardrailAction"] != nil {
		t.Errorf("no guardrail: %v %v", m, err)
	}
}

// TestClaudeCodeDefaultBody: the body Claude Code 2.1.332 sends its default
// model, Opus 5.5 (adaptive thinking, an effort, context management, the
// model's whole 128k output), is answered with text, on every profile; a
// model without adaptive thinking still refuses it, and effort reaches
// Converse only on the models that take it.
func TestClaudeCodeDefaultBody(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	body := strings.Replace(claudeBody("Say hello",
		`"anthropic_beta":["interleaved-thinking-2025-05-14","context-management-2025-06-27","effort-2025-11-24"]`,
		`"thinking":{"type":"adaptive","display":"omitted"}`, `"output_config":{"effort":"medium"}`,
		`"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]}`), `"max_tokens":200`, `"max_tokens":128000`, 1)
	for _, id := range []string{"us.anthropic.claude-opus-5-5", "global.anthropic.claude-opus-5-5", "us.anthropic.claude-sonnet-5-5",
		"us.anthropic.claude-haiku-5-5", "us.anthropic.claude-fable-5-2", "us.anthropic.claude-opus-4-6-v1"} {
		got, headers, err := invokeClaude(t, rt, id, body)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		content := got["content"].([]any)
		if len(content) != 1 || content[0].(map[string]any)["type"] != "text" || headers["Output-Token-Count"] == "" {
			t.Errorf("%s: content %v, headers %v: want one text block, billed", id, content, headers)
		}
	}
	_, _, err := invokeClaude(t, rt, "us.anthropic.claude-opus-4-5-20251101-v1:0", claudeBody("x", `"thinking":{"type":"adaptive"}`))
	if err == nil || !strings.Contains(err.Error(), "Input tag 'adaptive'") {
		t.Errorf("adaptive thinking on Opus 4.5: %v, want refused", err)
	}

	// Claude Code's Bedrock mode: output_config with no effort beta, and
	// a message with role system after the user's.
	bedrockMode := `{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14"],"max_tokens":128000,` +
		`"thinking":{"type":"adaptive","display":"omitted"},"output_config":{"effort":"medium"},` +
		`"messages":[{"role":"user","content":"Say hello"},{"role":"system","content":[{"type":"text","text":"# Environment"}]}]}`
	got, _, err := invokeClaude(t, rt, "us.anthropic.claude-opus-5-5", bedrockMode)
	if err != nil {
		t.Fatalf("Bedrock-mode body on Opus 5.5: %v", err)
	}
	if text := got["content"].([]any)[0].(map[string]any)["text"]; !strings.Contains(text.(string), "Say hello") {
		t.Errorf("Bedrock-mode body on Opus 5.5: %v, want the reply to the user's message", text)
	}
	for _, tt := range []struct{ body, msg string }{
		{claudeBody("x", `"output_config":{"effort":"low"}`), "output_config: Extra inputs are not permitted"},
		{`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"x"},{"role":"system","content":"y"}]}`,
			"messages.1.role: Input should be 'user' or 'assistant'"},
	} {
		_, _, err := invokeClaude(t, rt, "us.anthropic.claude-opus-4-5-20251101-v1:0", tt.body)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Opus 4.5: %v, want %q", err, tt.msg)
		}
	}

	converse := func(id string) error {
		_, err := rt.Converse(context.Background(), &bedrockruntime.ConverseInput{
			ModelId:      aws.String(id),
			Messages:     []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}},
			OutputConfig: &types.OutputConfig{Effort: aws.String("high")},
		})
		return err
	}
	if err := converse("us.anthropic.claude-opus-5-5"); err != nil {
		t.Errorf("effort on Opus 5.5: %v", err)
	}
	if err := converse("us.anthropic.claude-sonnet-4-5-20250929-v1:0"); err == nil || !strings.Contains(err.Error(), "does not support the effort parameter") {
		t.Errorf("effort on Sonnet 4.5: %v, want refused", err)
	}
}
