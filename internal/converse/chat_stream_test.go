package converse_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
)

// Recorded ConverseStream events, as the SDK hands them over.

func msgStart() types.ConverseStreamOutput {
	return &types.ConverseStreamOutputMemberMessageStart{Value: types.MessageStartEvent{Role: types.ConversationRoleAssistant}}
}

func text(block int32, s string) types.ConverseStreamOutput {
	return &types.ConverseStreamOutputMemberContentBlockDelta{Value: types.ContentBlockDeltaEvent{
		ContentBlockIndex: aws.Int32(block), Delta: &types.ContentBlockDeltaMemberText{Value: s}}}
}

func reasoning(block int32, s string) types.ConverseStreamOutput {
	return &types.ConverseStreamOutputMemberContentBlockDelta{Value: types.ContentBlockDeltaEvent{
		ContentBlockIndex: aws.Int32(block), Delta: &types.ContentBlockDeltaMemberReasoningContent{Value: &types.ReasoningContentBlockDeltaMemberText{Value: s}}}}
}

func toolStart(block int32, id, name string) types.ConverseStreamOutput {
	return &types.ConverseStreamOutputMemberContentBlockStart{Value: types.ContentBlockStartEvent{
		ContentBlockIndex: aws.Int32(block), Start: &types.ContentBlockStartMemberToolUse{Value: types.ToolUseBlockStart{ToolUseId: &id, Name: &name}}}}
}

func toolInput(block int32, s string) types.ConverseStreamOutput {
	return &types.ConverseStreamOutputMemberContentBlockDelta{Value: types.ContentBlockDeltaEvent{
		ContentBlockIndex: aws.Int32(block), Delta: &types.ContentBlockDeltaMemberToolUse{Value: types.ToolUseBlockDelta{Input: &s}}}}
}

func blockStop(block int32) types.ConverseStreamOutput {
	return &types.ConverseStreamOutputMemberContentBlockStop{Value: types.ContentBlockStopEvent{ContentBlockIndex: aws.Int32(block)}}
}

func msgStop(r types.StopReason) types.ConverseStreamOutput {
	return &types.ConverseStreamOutputMemberMessageStop{Value: types.MessageStopEvent{StopReason: r}}
}

func metadata(in, out, cacheRead, cacheWrite int32) types.ConverseStreamOutput {
	return &types.ConverseStreamOutputMemberMetadata{Value: types.ConverseStreamMetadataEvent{
		Usage: &types.TokenUsage{InputTokens: aws.Int32(in), OutputTokens: aws.Int32(out), TotalTokens: aws.Int32(in + out + cacheRead + cacheWrite),
			CacheReadInputTokens: aws.Int32(cacheRead), CacheWriteInputTokens: aws.Int32(cacheWrite)},
		Metrics: &types.ConverseStreamMetrics{LatencyMs: aws.Int64(120)}}}
}

// unknownEvent is an event type a newer SDK might add.
type unknownEvent struct {
	types.ConverseStreamOutputMemberMessageStart
}

func TestStream(t *testing.T) {
	tests := []struct {
		name         string
		includeUsage bool
		events       []types.ConverseStreamOutput
		want         string // the SSE transcript
		wantErr      string // End's error message, when the stream is incomplete
		wantUsage    converse.Usage
		wantBytes    int
	}{
		{
			name:   "text only",
			events: []types.ConverseStreamOutput{msgStart(), text(0, "Hello"), text(0, ", world"), blockStop(0), msgStop("end_turn"), metadata(5, 3, 0, 0)},
			want: `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"content":", world"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n" +
				"data: [DONE]\n\n",
			wantUsage: converse.Usage{Input: 5, Output: 3},
			wantBytes: 12,
		},
		{
			name:         "text with usage",
			includeUsage: true,
			events:       []types.ConverseStreamOutput{msgStart(), text(0, "Hi"), blockStop(0), msgStop("end_turn"), metadata(10, 2, 20, 10)},
			want: `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":2,"total_tokens":42,"prompt_tokens_details":{"cached_tokens":20},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n" +
				"data: [DONE]\n\n",
			wantUsage: converse.Usage{Input: 10, Output: 2, CacheRead: 20, CacheWrite: 10},
			wantBytes: 2,
		},
		{
			name: "two parallel tool calls with argument fragments",
			events: []types.ConverseStreamOutput{msgStart(),
				toolStart(0, "tooluse_a", "get_weather"), toolInput(0, `{"city":`), toolInput(0, `"Paris"}`), blockStop(0),
				toolStart(1, "tooluse_b", "get_weather"), toolInput(1, ""), toolInput(1, `{"city":"Rome"}`), blockStop(1),
				msgStop("tool_use"), metadata(50, 40, 0, 0)},
			want: `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"tooluse_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"tooluse_b","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"city\":\"Rome\"}"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}` + "\n\n" +
				"data: [DONE]\n\n",
			wantUsage: converse.Usage{Input: 50, Output: 40},
			wantBytes: len("get_weather") + len(`{"city":"Paris"}`) + len("get_weather") + len(`{"city":"Rome"}`),
		},
		{
			name: "tool call after a text block keeps index 0",
			events: []types.ConverseStreamOutput{msgStart(), text(0, "Let me check."), blockStop(0),
				toolStart(1, "tooluse_x", "lookup"), toolInput(1, `{}`), blockStop(1), msgStop("tool_use"), metadata(1, 1, 0, 0)},
			want: `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"content":"Let me check."},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"tooluse_x","type":"function","function":{"name":"lookup","arguments":""}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}` + "\n\n" +
				"data: [DONE]\n\n",
			wantUsage: converse.Usage{Input: 1, Output: 1},
			wantBytes: len("Let me check.") + len("lookup") + 2,
		},
		{
			name:   "max_tokens",
			events: []types.ConverseStreamOutput{msgStart(), text(0, "Once upon"), msgStop("max_tokens"), metadata(3, 2, 0, 0)},
			want: `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"content":"Once upon"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}` + "\n\n" +
				"data: [DONE]\n\n",
			wantUsage: converse.Usage{Input: 3, Output: 2},
			wantBytes: 9,
		},
		{
			name:         "missing metadata: End fails",
			includeUsage: true,
			events:       []types.ConverseStreamOutput{msgStart(), text(0, "Hi"), msgStop("end_turn")},
			want: `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n",
			wantErr:   "The Bedrock stream ended before it was complete (no metadata event): the connection was probably lost, and the answer may be truncated.",
			wantBytes: 2,
		},
		{
			name:   "missing messageStop: End fails",
			events: []types.ConverseStreamOutput{msgStart(), text(0, "Hel")},
			want: `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}` + "\n\n",
			wantErr:   "The Bedrock stream ended before it was complete (no messageStop and metadata event): the connection was probably lost, and the answer may be truncated.",
			wantBytes: 3,
		},
		{
			name:    "no events at all",
			events:  nil,
			want:    "",
			wantErr: "The Bedrock stream ended before it was complete (no messageStop and metadata event): the connection was probably lost, and the answer may be truncated.",
		},
		{
			name:         "metadata before messageStop: usage chunk still last",
			includeUsage: true,
			events:       []types.ConverseStreamOutput{msgStart(), text(0, "Hi"), metadata(1, 1, 0, 0), msgStop("end_turn")},
			want: `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n" +
				"data: [DONE]\n\n",
			wantUsage: converse.Usage{Input: 1, Output: 1},
			wantBytes: 2,
		},
		{
			name: "unknown, nil and late events are ignored; missing messageStart tolerated",
			events: []types.ConverseStreamOutput{nil, &unknownEvent{}, text(1, ""), text(1, "ok"),
				toolInput(5, `{"orphan":1}`), msgStop("end_turn"), text(1, "late"), toolStart(2, "t", "f"), msgStart(), msgStop("max_tokens"),
				metadata(1, 1, 0, 0), metadata(9, 9, 9, 9)},
			want: `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"content":"ok"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n" +
				"data: [DONE]\n\n",
			wantUsage: converse.Usage{Input: 1, Output: 1},
			wantBytes: 2,
		},
		{
			name:   "escaping",
			events: []types.ConverseStreamOutput{msgStart(), text(0, "a\"b\\c\nd\te\x01<&>é😀\u2028\xff"), msgStop("end_turn"), metadata(1, 1, 0, 0)},
			want: `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{"content":"a\"b\\c\nd\te\u0001<&>é😀\u2028\ufffd"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n" +
				"data: [DONE]\n\n",
			wantUsage: converse.Usage{Input: 1, Output: 1},
			wantBytes: len("a\"b\\c\nd\te\x01<&>é😀\u2028\xff"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One event at a time, as the server writes them.
			s := converse.NewStream(testMeta, tt.includeUsage)
			var got bytes.Buffer
			for _, ev := range tt.events {
				got.Write(s.Event(ev))
			}
			tail, err := s.End()
			got.Write(tail)
			checkEnd(t, err, tt.wantErr)
			if diff := cmp.Diff(sseLines(tt.want), sseLines(got.String())); diff != "" {
				t.Errorf("one at a time: transcript mismatch (-want +got):\n%s", diff)
			}
			usage, ok := s.Usage()
			if diff := cmp.Diff(tt.wantUsage, usage); diff != "" || ok != (tt.wantUsage != converse.Usage{}) {
				t.Errorf("Usage() = %+v, %v; mismatch (-want +got):\n%s", usage, ok, diff)
			}
			if diff := cmp.Diff(tt.wantBytes, s.OutputBytes()); diff != "" {
				t.Errorf("OutputBytes mismatch (-want +got):\n%s", diff)
			}
			for _, line := range sseLines(got.String()) {
				if payload := strings.TrimPrefix(line, "data: "); payload != "[DONE]" && !json.Valid([]byte(payload)) {
					t.Errorf("invalid JSON chunk: %s", payload)
				}
			}

			// All at once.
			all, err := converse.TranslateStream(testMeta, tt.includeUsage, tt.events)
			checkEnd(t, err, tt.wantErr)
			if diff := cmp.Diff(sseLines(tt.want), sseLines(string(all))); diff != "" {
				t.Errorf("all at once: transcript mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func checkEnd(t *testing.T, err error, wantMsg string) {
	t.Helper()
	if wantMsg == "" {
		if err != nil {
			t.Errorf("End: %v", err)
		}
		return
	}
	e := asError(t, err)
	got := [3]any{e.Kind, e.Code, e.Message}
	if diff := cmp.Diff([3]any{tollgate.BadGateway, "upstream_stream_incomplete", wantMsg}, got); diff != "" {
		t.Errorf("End error mismatch (-want +got):\n%s", diff)
	}
}

// sseLines splits a transcript into events, so that diffs show whole chunks.
func sseLines(s string) []string {
	if s == "" {
		return nil
	}
	if !strings.HasSuffix(s, "\n\n") {
		return []string{"unterminated: " + s}
	}
	return strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n")
}
