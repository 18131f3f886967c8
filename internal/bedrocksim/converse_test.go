package bedrocksim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
)

// toolTurn returns a conversation where the assistant called get_weather and
// the user answers with its result.
func toolTurn(result string) []types.Message {
	return []types.Message{
		userText("Use get_weather for Paris")[0],
		{Role: types.ConversationRoleAssistant, Content: []types.ContentBlock{
			&types.ContentBlockMemberText{Value: "I'll call get_weather."},
			&types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
				ToolUseId: aws.String("tooluse_1"), Name: aws.String("get_weather"),
				Input: document.NewLazyDocument(map[string]any{"city": "Paris"}),
			}},
		}},
		{Role: types.ConversationRoleUser, Content: []types.ContentBlock{
			&types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
				ToolUseId: aws.String("tooluse_1"),
				Content: []types.ToolResultContentBlock{
					&types.ToolResultContentBlockMemberJson{Value: document.NewLazyDocument(map[string]any{"temp": 21})},
					&types.ToolResultContentBlockMemberText{Value: "sunny"},
				},
			}},
		}},
	}
}

func TestConverse(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()

	withTools := func(text string, choice types.ToolChoice) *bedrockruntime.ConverseInput {
		in := converseInput(haiku, text)
		in.ToolConfig = weatherTools()
		in.ToolConfig.ToolChoice = choice
		return in
	}
	tests := []struct {
		name      string
		in        *bedrockruntime.ConverseInput
		want      []string
		wantStop  types.StopReason
		wantUsage usageOf
	}{
		{
			name:      "plain reply",
			in:        converseInput(haiku, "Hello there"),
			want:      []string{"text: This is a simulated reply from Claude 3 Haiku to: Hello there."},
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 3, Output: 16, Total: 19}, // 11 and 62 bytes
		},
		{
			name:      "markers never appear in the reply",
			in:        converseInput(haiku, "Hello [sim:latency=1ms] there"),
			want:      []string{"text: This is a simulated reply from Claude 3 Haiku to: Hello there."},
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 8, Output: 16, Total: 24},
		},
		{
			name:      "long user text is quoted up to 60 characters",
			in:        converseInput("amazon.nova-micro-v1:0", strings.Repeat("abcdefghij ", 10)),
			want:      []string{"text: This is a simulated reply from Nova Micro to: abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij abcde..."},
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 28, Output: 28, Total: 56},
		},
		{
			name: "user text naming a tool calls it",
			in:   withTools("Use get_weather for Paris", nil),
			want: []string{
				"text: I'll call get_weather.",
				`toolUse get_weather: {"city":"example","days":1,"unit":"celsius"}`,
			},
			wantStop:  types.StopReasonToolUse,
			wantUsage: usageOf{Input: 94, Output: 20, Total: 114},
		},
		{
			name: "toolChoice tool picks the tool; all properties when none is required",
			in:   withTools("What time is it?", &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String("get_time")}}),
			want: []string{
				"text: I'll call get_time.",
				`toolUse get_time: {"tz":"example","utc":true}`,
			},
			wantStop:  types.StopReasonToolUse,
			wantUsage: usageOf{Input: 92, Output: 14, Total: 106},
		},
		{
			name: "toolChoice any calls the first tool",
			in:   withTools("Anything", &types.ToolChoiceMemberAny{}),
			want: []string{
				"text: I'll call get_weather.",
				`toolUse get_weather: {"city":"example","days":1,"unit":"celsius"}`,
			},
			wantStop:  types.StopReasonToolUse,
			wantUsage: usageOf{Input: 90, Output: 20, Total: 110},
		},
		{
			name:      "toolChoice auto without a mention answers text",
			in:        withTools("Hello", &types.ToolChoiceMemberAuto{}),
			want:      []string{"text: This is a simulated reply from Claude 3 Haiku to: Hello."},
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 89, Output: 14, Total: 103},
		},
		{
			name: "toolChoice auto: a question about what a tool does calls it",
			in:   withTools("What's the weather in Paris?", &types.ToolChoiceMemberAuto{}),
			want: []string{
				"text: I'll call get_weather.",
				`toolUse get_weather: {"city":"example","days":1,"unit":"celsius"}`,
			},
			wantStop:  types.StopReasonToolUse,
			wantUsage: usageOf{Input: 95, Output: 20, Total: 115},
		},
		{
			name: "no toolChoice: the best-matching tool, by name or description",
			in:   withTools("Which timezone is Tokyo in?", nil),
			want: []string{
				"text: I'll call get_time.",
				`toolUse get_time: {"tz":"example","utc":true}`,
			},
			wantStop:  types.StopReasonToolUse,
			wantUsage: usageOf{Input: 95, Output: 14, Total: 109},
		},
		{
			// Codex sends its context (naming tools, paths, the shell)
			// before the question: only the question is matched.
			name: "toolChoice auto: tools named in a context block before the question are not called",
			in: func() *bedrockruntime.ConverseInput {
				in := withTools("Say hello", &types.ToolChoiceMemberAuto{})
				in.Messages[0].Content = append([]types.ContentBlock{&types.ContentBlockMemberText{
					Value: "<environment_context>tools: get_weather, get_time; weather and timezone lookups</environment_context>"}}, in.Messages[0].Content...)
				return in
			}(),
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 116, Output: 29, Total: 145},
		},
		{
			name:      "toolChoice auto: a question no tool answers gets text",
			in:        withTools("Write a haiku about toll gates", &types.ToolChoiceMemberAuto{}),
			want:      []string{"text: This is a simulated reply from Claude 3 Haiku to: Write a haiku about toll gates."},
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 96, Output: 21, Total: 117},
		},
		{
			name: "parallel tool calls",
			in:   withTools("Weather please [sim:parallel]", nil),
			want: []string{
				"text: I'll call get_weather and get_time.",
				`toolUse get_weather: {"city":"example","days":1,"unit":"celsius"}`,
				`toolUse get_time: {"tz":"example","utc":true}`,
			},
			wantStop:  types.StopReasonToolUse,
			wantUsage: usageOf{Input: 95, Output: 32, Total: 127},
		},
		{
			name: "tool results are quoted",
			in: &bedrockruntime.ConverseInput{
				ModelId: aws.String(haiku), Messages: toolTurn("sunny"), ToolConfig: weatherTools(),
			},
			want:      []string{`text: The tool returned: {"temp":21} sunny.`},
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 111, Output: 10, Total: 121},
		},
		{
			name: "maxTokens cuts the reply",
			in: func() *bedrockruntime.ConverseInput {
				in := converseInput(haiku, "Hello there")
				in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(5)}
				return in
			}(),
			want:      []string{"text: This is a simulated "},
			wantStop:  types.StopReasonMaxTokens,
			wantUsage: usageOf{Input: 3, Output: 5, Total: 8},
		},
		{
			name: "maxTokens too small for the tool call drops it",
			in: func() *bedrockruntime.ConverseInput {
				in := withTools("Use get_weather", nil)
				in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(10)}
				return in
			}(),
			want:      []string{"text: I'll call get_weather."},
			wantStop:  types.StopReasonMaxTokens,
			wantUsage: usageOf{Input: 92, Output: 6, Total: 98},
		},
		{
			name: "stop sequence cuts before its first occurrence",
			in: func() *bedrockruntime.ConverseInput {
				in := converseInput(haiku, "Hello there")
				in.InferenceConfig = &types.InferenceConfiguration{StopSequences: []string{"Haiku", "reply"}}
				return in
			}(),
			want:      []string{"text: This is a simulated "},
			wantStop:  types.StopReasonStopSequence,
			wantUsage: usageOf{Input: 3, Output: 5, Total: 8},
		},
		{
			name:      "tokens marker sets the reply length",
			in:        converseInput(haiku, "Hi [sim:tokens=40]"),
			want:      nil, // checked by length below
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 5, Output: 40, Total: 45},
		},
		{
			name:      "stop marker sets the stop reason",
			in:        converseInput(haiku, "Hi [sim:stop=content_filtered]"),
			want:      []string{"text: This is a simulated reply from Claude 3 Haiku to: Hi."},
			wantStop:  types.StopReasonContentFiltered,
			wantUsage: usageOf{Input: 8, Output: 14, Total: 22},
		},
		{
			name:      "application inference profile ARN",
			in:        converseInput(bedrocksim.AppProfileARN, "Hello there"),
			want:      []string{"text: This is a simulated reply from Claude 3 Haiku to: Hello there."},
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 3, Output: 16, Total: 19},
		},
		{
			name:      "foundation model ARN",
			in:        converseInput("arn:aws:bedrock:us-east-1::foundation-model/"+haiku, "Hello there"),
			want:      []string{"text: This is a simulated reply from Claude 3 Haiku to: Hello there."},
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 3, Output: 16, Total: 19},
		},
		{
			name:      "global inference profile",
			in:        converseInput("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "Hello there"),
			want:      []string{"text: This is a simulated reply from Claude Sonnet 4.5 to: Hello there."},
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 3, Output: 17, Total: 20},
		},
		{
			name: "extended thinking answers a signed reasoning block first",
			in: func() *bedrockruntime.ConverseInput {
				in := converseInput(sonnet4, "Hello there")
				in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(4096)}
				in.AdditionalModelRequestFields = document.NewLazyDocument(map[string]any{
					"thinking": map[string]any{"type": "enabled", "budget_tokens": 1024},
				})
				return in
			}(),
			want: []string{
				"reasoning: The user asks about: Hello there. I will answer briefly. (signed true)",
				"text: This is a simulated reply from Claude Sonnet 4 to: Hello there.",
			},
			wantStop:  types.StopReasonEndTurn,
			wantUsage: usageOf{Input: 3, Output: 30, Total: 33},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rt.Converse(context.Background(), tt.in)
			if err != nil {
				t.Fatalf("Converse: %v", err)
			}
			msg := out.Output.(*types.ConverseOutputMemberMessage).Value
			if msg.Role != types.ConversationRoleAssistant {
				t.Errorf("role = %q, want assistant", msg.Role)
			}
			got := contentTranscript(t, msg.Content)
			if tt.want == nil {
				if len(got) != 1 || strings.Contains(got[0], "[sim:") {
					t.Errorf("content = %q, want one text block without markers", got)
				}
			} else if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
			if out.StopReason != tt.wantStop {
				t.Errorf("stopReason = %q, want %q", out.StopReason, tt.wantStop)
			}
			if diff := cmp.Diff(tt.wantUsage, flattenUsage(out.Usage)); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if out.Metrics == nil || out.Metrics.LatencyMs == nil {
				t.Errorf("metrics.latencyMs missing")
			}
		})
	}
}

// TestConverseDeterministic checks that the reply, tool ids included, depends
// only on model and conversation.
func TestConverseDeterministic(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	in := converseInput(haiku, "Use get_weather [sim:tokens=30]")
	in.ToolConfig = weatherTools()
	var ids []string
	for range 2 {
		out, err := rt.Converse(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range out.Output.(*types.ConverseOutputMemberMessage).Value.Content {
			if tu, ok := b.(*types.ContentBlockMemberToolUse); ok {
				ids = append(ids, aws.ToString(tu.Value.ToolUseId))
			}
		}
	}
	if len(ids) != 2 || ids[0] != ids[1] || !strings.HasPrefix(ids[0], "tooluse_") || len(ids[0]) != len("tooluse_")+22 {
		t.Errorf("tool use ids = %q, want two equal tooluse_ ids of 22 characters", ids)
	}
}

// TestPromptCache checks cache writes, reads, and expiry on the injected
// clock.
func TestPromptCache(t *testing.T) {
	clock := newFakeClock()
	s := startSim(t, bedrocksim.Options{Now: clock.Now})
	rt := s.runtime()
	long := strings.Repeat("You are a careful assistant. ", 200) // 5800 bytes: 1450 tokens
	in := func(question string) *bedrockruntime.ConverseInput {
		in := converseInput(sonnet4, question)
		in.System = []types.SystemContentBlock{
			&types.SystemContentBlockMemberText{Value: long},
			&types.SystemContentBlockMemberCachePoint{Value: types.CachePointBlock{Type: types.CachePointTypeDefault}},
		}
		return in
	}
	steps := []struct {
		name    string
		advance int // minutes
		in      *bedrockruntime.ConverseInput
		want    usageOf
	}{
		{"first sight writes", 0, in("Hello there"), usageOf{Input: 3, Output: 16, Total: 1469, CacheWrite: 1450}},
		{"same prefix reads", 1, in("Something else"), usageOf{Input: 4, Output: 17, Total: 1471, CacheRead: 1450}},
		{"read refreshed the entry", 4, in("Hello there"), usageOf{Input: 3, Output: 16, Total: 1469, CacheRead: 1450}},
		{"expired entry is written again", 6, in("Hello there"), usageOf{Input: 3, Output: 16, Total: 1469, CacheWrite: 1450}},
		{"short prefix is not cached", 0, func() *bedrockruntime.ConverseInput {
			in := in("Hello there")
			in.System[0] = &types.SystemContentBlockMemberText{Value: "Be brief."}
			return in
		}(), usageOf{Input: 5, Output: 16, Total: 21}},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		out, err := rt.Converse(context.Background(), st.in)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if diff := cmp.Diff(st.want, flattenUsage(out.Usage)); diff != "" {
			t.Errorf("%s: usage (-want +got):\n%s", st.name, diff)
		}
	}
}
