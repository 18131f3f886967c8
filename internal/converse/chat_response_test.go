package converse_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
)

var testMeta = converse.Meta{ID: "chatcmpl-test", Created: 1700000000, Model: "claude-haiku"}

func TestFromConverse(t *testing.T) {
	tests := []struct {
		name      string
		body      string // Bedrock's Converse response
		want      string // the OpenAI response
		wantUsage converse.Usage
	}{
		{
			name: "text with cache usage",
			body: `{"output":{"message":{"role":"assistant","content":[{"text":"Hello!"}]}},"stopReason":"end_turn",
				"usage":{"inputTokens":10,"outputTokens":5,"totalTokens":45,"cacheReadInputTokens":20,"cacheWriteInputTokens":10}}`,
			want: `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude-haiku",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"stop"}],
				"usage":{"prompt_tokens":40,"completion_tokens":5,"total_tokens":45,"prompt_tokens_details":{"cached_tokens":20},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			wantUsage: converse.Usage{Input: 10, Output: 5, CacheRead: 20, CacheWrite: 10},
		},
		{
			name: "text blocks are joined with nothing in between",
			body: `{"output":{"message":{"role":"assistant","content":[{"text":"Hello, "},{"text":"world."}]}},"stopReason":"max_tokens","usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7}}`,
			want: `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude-haiku",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Hello, world.","refusal":null},"logprobs":null,"finish_reason":"length"}],
				"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			wantUsage: converse.Usage{Input: 3, Output: 4},
		},
		{
			name: "text and two tool calls, numbers exact",
			body: `{"output":{"message":{"role":"assistant","content":[{"text":"Checking."},
				{"toolUse":{"toolUseId":"tooluse_a","name":"get_weather","input":{"city":"Paris","id":9007199254740993,"f":1.5e-3,"nested":{"l":[1,2.0,null,true]}}}},
				{"toolUse":{"toolUseId":"tooluse_b","name":"get_time","input":{}}}]}},
				"stopReason":"tool_use","usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}`,
			want: `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude-haiku",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Checking.","refusal":null,"tool_calls":[
					{"id":"tooluse_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"f\":1.5e-3,\"id\":9007199254740993,\"nested\":{\"l\":[1,2.0,null,true]}}"}},
					{"id":"tooluse_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
				"logprobs":null,"finish_reason":"tool_calls"}],
				"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			wantUsage: converse.Usage{Input: 1, Output: 2},
		},
		{
			name: "only a tool call: content is null",
			body: `{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"f","input":{"a":"b"}}}]}},"stopReason":"tool_use","usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}`,
			want: `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude-haiku",
				"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\":\"b\"}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],
				"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			wantUsage: converse.Usage{Input: 1, Output: 2},
		},
		{
			name: "reasoning blocks become reasoning_content and reasoning_details",
			body: `{"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"Let me think.","signature":"sig"}}},{"reasoningContent":{"redactedContent":"AQI="}},{"text":"42"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":9,"totalTokens":10}}`,
			want: `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude-haiku",
				"choices":[{"index":0,"message":{"role":"assistant","content":"42","refusal":null,"reasoning_content":"Let me think.",
					"reasoning_details":[{"type":"reasoning.text","text":"Let me think.","signature":"sig","format":"bedrock-converse","index":0},{"type":"reasoning.encrypted","data":"AQI=","format":"bedrock-converse","index":1}]},"logprobs":null,"finish_reason":"stop"}],
				"usage":{"prompt_tokens":1,"completion_tokens":9,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":4}}}`,
			wantUsage: converse.Usage{Input: 1, Output: 9},
		},
		{
			name: "guardrail with no usage",
			body: `{"output":{"message":{"role":"assistant","content":[{"text":"Sorry, the model cannot answer this question."}]}},"stopReason":"guardrail_intervened"}`,
			want: `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"claude-haiku",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Sorry, the model cannot answer this question.","refusal":null},"logprobs":null,"finish_reason":"content_filter"}],
				"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := converseOutput(t, tt.body)
			got, usage, err := converse.FromConverse(out, testMeta)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			// Compare as text first: the arguments string must be exact.
			if diff := cmp.Diff(decodeExact(t, []byte(tt.want)), decodeExact(t, b)); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantUsage, usage); diff != "" {
				t.Errorf("usage mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromConverseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   *bedrockruntime.ConverseOutput
	}{
		{"nil output", nil},
		{"no message", &bedrockruntime.ConverseOutput{StopReason: types.StopReasonEndTurn}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := converse.FromConverse(tt.in, testMeta)
			e := asError(t, err)
			got := [2]any{e.Kind, e.Code}
			if diff := cmp.Diff([2]any{tollgate.BadGateway, "upstream_invalid_response"}, got); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestFinishReason(t *testing.T) {
	tests := []struct {
		in   types.StopReason
		want string
	}{
		{types.StopReasonEndTurn, "stop"},
		{types.StopReasonStopSequence, "stop"},
		{types.StopReasonMaxTokens, "length"},
		{types.StopReasonModelContextWindowExceeded, "length"},
		{types.StopReasonToolUse, "tool_calls"},
		{types.StopReasonContentFiltered, "content_filter"},
		{types.StopReasonGuardrailIntervened, "content_filter"},
		{types.StopReasonMalformedToolUse, "stop"},
		{types.StopReasonMalformedModelOutput, "stop"},
		{"", "stop"},
		{"Brand_New_Reason", "stop"},
	}
	for _, tt := range tests {
		t.Run(string(tt.in), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, converse.FinishReason(tt.in)); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestNewID(t *testing.T) {
	a, b := converse.NewID(), converse.NewID()
	if a == b || len(a) != len("chatcmpl-")+26 || a[:9] != "chatcmpl-" {
		t.Errorf("NewID() = %q, %q", a, b)
	}
}
