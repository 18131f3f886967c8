package bedrocksim_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
)

// These tests drive the simulator's support for documents, extended
// thinking across tool calls, structured output, guardrails and request
// metadata with the real SDK.

const sonnet37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"

func thinking(budget int) document.Interface {
	return document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": budget}})
}

func docBlock(name, format string, data []byte) types.ContentBlock {
	return &types.ContentBlockMemberDocument{Value: types.DocumentBlock{
		Name: aws.String(name), Format: types.DocumentFormat(format), Source: &types.DocumentSourceMemberBytes{Value: data}}}
}

// toolHistory is a thinking tool round trip: the assistant's tool call,
// opened by reasoning when withReasoning, then its result.
func toolHistory(withReasoning bool) []types.Message {
	asst := []types.ContentBlock{&types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
		ToolUseId: aws.String("tooluse_1"), Name: aws.String("get_weather"),
		Input: document.NewLazyDocument(map[string]any{"city": "Paris", "unit": "celsius", "days": 1})}}}
	if withReasoning {
		asst = append([]types.ContentBlock{&types.ContentBlockMemberReasoningContent{Value: &types.ReasoningContentBlockMemberReasoningText{
			Value: types.ReasoningTextBlock{Text: aws.String("I need the weather."), Signature: aws.String("c2ln")}}}}, asst...)
	}
	return []types.Message{
		{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Weather in Paris?"}}},
		{Role: types.ConversationRoleAssistant, Content: asst},
		{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
			ToolUseId: aws.String("tooluse_1"), Content: []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: "Sunny"}}}}}},
	}
}

func TestFeatureValidation(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	pdf := []byte("%PDF-1.4 test")
	tests := []struct {
		name    string
		in      *bedrockruntime.ConverseInput
		wantMsg string // "" when the request must succeed
	}{
		{"thinking tool turn with its reasoning", &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet37), Messages: toolHistory(true),
			ToolConfig: weatherTools(), AdditionalModelRequestFields: thinking(1024), InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(2048)}}, ""},
		{"thinking tool turn without its reasoning", &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet37), Messages: toolHistory(false),
			ToolConfig: weatherTools(), AdditionalModelRequestFields: thinking(1024), InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(2048)}},
			"The model returned the following errors: messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block"},
		{"no thinking, no reasoning needed", &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet37), Messages: toolHistory(false), ToolConfig: weatherTools()}, ""},
		{"thinking with a forced tool", &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet37), Messages: userText("hi"),
			ToolConfig: &types.ToolConfiguration{Tools: weatherTools().Tools, ToolChoice: &types.ToolChoiceMemberAny{}}, AdditionalModelRequestFields: thinking(1024)},
			"Thinking may not be enabled when tool_choice forces tool use."},
		{"budget below 1024", &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet37), Messages: userText("hi"), AdditionalModelRequestFields: thinking(1000)},
			"budget_tokens: Input should be greater than or equal to 1024"},
		{"budget not below maxTokens", &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet37), Messages: userText("hi"), AdditionalModelRequestFields: thinking(2048),
			InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(2048)}}, "`max_tokens` must be greater than `thinking.budget_tokens`"},
		{"documents", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Read."}, docBlock("Q3 report (final)", "pdf", pdf), docBlock("notes [1]", "md", []byte("# x"))}}}}, ""},
		{"document name with a dot", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{docBlock("report.pdf", "pdf", pdf)}}}}, "A document name can only contain alphanumeric characters"},
		{"document name with two spaces", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{docBlock("a  b", "pdf", pdf)}}}}, "no more than one in a row"},
		{"duplicate document names", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{docBlock("a", "pdf", pdf), docBlock("a", "txt", pdf)}}}}, "unique names"},
		{"six documents", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{docBlock("a", "pdf", pdf), docBlock("b", "pdf", pdf), docBlock("c", "pdf", pdf), docBlock("d", "pdf", pdf), docBlock("e", "pdf", pdf), docBlock("f", "pdf", pdf)}}}},
			"more than 5 documents"},
		{"unknown document format", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{docBlock("a", "zip", pdf)}}}}, "Member must satisfy enum value set: [pdf, csv, doc, docx, xls, xlsx, html, txt, md]"},
		{"documents on a model without them", &bedrockruntime.ConverseInput{ModelId: aws.String("mistral.mistral-7b-instruct-v0:2"), Messages: []types.Message{{Role: types.ConversationRoleUser,
			Content: []types.ContentBlock{docBlock("a", "pdf", pdf)}}}}, "doesn't support the document content block"},
		{"guardrail id with a hyphen", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: userText("hi"),
			GuardrailConfig: &types.GuardrailConfiguration{GuardrailIdentifier: aws.String("block-all"), GuardrailVersion: aws.String("1")}},
			"at 'guardrailConfig.guardrailIdentifier' failed to satisfy constraint"},
		{"guardrail version", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: userText("hi"),
			GuardrailConfig: &types.GuardrailConfiguration{GuardrailIdentifier: aws.String("abc123"), GuardrailVersion: aws.String("v1")}},
			"at 'guardrailConfig.guardrailVersion' failed to satisfy constraint"},
		{"guardrail ARN", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: userText("hi"),
			GuardrailConfig: &types.GuardrailConfiguration{GuardrailIdentifier: aws.String("arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123"), GuardrailVersion: aws.String("DRAFT"), Trace: types.GuardrailTraceEnabled}}, ""},
		{"request metadata", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: userText("hi"),
			RequestMetadata: map[string]string{"tollgate_key_id": "alice", "user": "jane@example.com"}}, ""},
		{"request metadata with a bad character", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: userText("hi"),
			RequestMetadata: map[string]string{"user": "jane (ops)"}}, "Map value must satisfy constraint"},
		{"structured output on a model without it", &bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: userText("hi"),
			OutputConfig: &types.OutputConfig{TextFormat: jsonFormat(`{"type":"object"}`)}}, "doesn't support structured output"},
		{"structured output with a broken schema", &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet45), Messages: userText("hi"),
			OutputConfig: &types.OutputConfig{TextFormat: jsonFormat(`{"type":`)}}, "is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rt.Converse(context.Background(), tt.in)
			switch {
			case tt.wantMsg == "" && err != nil:
				t.Fatalf("Converse: %v", err)
			case tt.wantMsg == "":
				return
			case err == nil:
				t.Fatalf("no error, want %q", tt.wantMsg)
			}
			if code, status := apiError(t, err); code != "ValidationException" || status != 400 || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %v (%s, %d), want a ValidationException with %q", err, code, status, tt.wantMsg)
			}
		})
	}
}

func jsonFormat(schema string) *types.OutputFormat {
	return &types.OutputFormat{Type: types.OutputFormatTypeJsonSchema, Structure: &types.OutputFormatStructureMemberJsonSchema{
		Value: types.JsonSchemaDefinition{Name: aws.String("answer"), Schema: aws.String(schema)}}}
}

func TestThinkingReply(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	ctx := context.Background()
	in := &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet37), Messages: userText("Why is the sky blue?"),
		AdditionalModelRequestFields: thinking(1024), InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(4096)}}
	out, err := rt.Converse(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	lines := contentTranscript(t, msg.Content)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "reasoning: ") || !strings.HasSuffix(lines[0], "(signed true)") {
		t.Fatalf("content %q, want a signed reasoning block then text", lines)
	}
	// Reasoning counts in the output tokens.
	reasoning := msg.Content[0].(*types.ContentBlockMemberReasoningContent).Value.(*types.ReasoningContentBlockMemberReasoningText).Value
	answer := msg.Content[1].(*types.ContentBlockMemberText).Value
	if got, want := aws.ToInt32(out.Usage.OutputTokens), int32((len(*reasoning.Text)+len(answer)+3)/4); got != want {
		t.Errorf("outputTokens = %d, want %d", got, want)
	}

	// Streamed: reasoning deltas, then the signature, in one block.
	sout, err := rt.ConverseStream(ctx, streamInput(in))
	if err != nil {
		t.Fatal(err)
	}
	res := readStream(t, sout)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.Lines) < 3 || !strings.HasPrefix(res.Lines[1], "delta 0: The user asks") || !strings.HasSuffix(res.Lines[1], " (signed)") {
		t.Errorf("stream %q, want reasoning deltas ending with a signature first", res.Lines)
	}
	if res.Usage != flattenUsage(out.Usage) {
		t.Errorf("stream usage %+v, Converse usage %+v", res.Usage, flattenUsage(out.Usage))
	}
}

func TestStructuredOutputReply(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	in := &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet45), Messages: userText("Describe Paris."),
		OutputConfig: &types.OutputConfig{TextFormat: jsonFormat(`{"type":"object","properties":{"city":{"type":"string"},"size":{"enum":["big","small"]}},"required":["city","size"]}`)}}
	out, err := s.runtime().Converse(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	text := out.Output.(*types.ConverseOutputMemberMessage).Value.Content[0].(*types.ContentBlockMemberText).Value
	var got map[string]any
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		t.Fatalf("reply %q is not JSON: %v", text, err)
	}
	if diff := cmp.Diff(map[string]any{"city": "example", "size": "big"}, got); diff != "" {
		t.Errorf("reply mismatch (-want +got):\n%s", diff)
	}
}

func TestGuardrailReply(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	ctx := context.Background()
	guard := &types.GuardrailConfiguration{GuardrailIdentifier: aws.String("abc123"), GuardrailVersion: aws.String("1")}
	tests := []struct {
		name      string
		guard     *types.GuardrailConfiguration
		text      string
		wantStop  types.StopReason
		wantReply string
	}{
		{"intervenes", guard, "Tell me [sim:guardrail]", types.StopReasonGuardrailIntervened, "Sorry, the model cannot answer this question."},
		{"passes", guard, "Tell me", types.StopReasonEndTurn, "This is a simulated reply from Claude 3 Haiku to: Tell me."},
		{"no guardrail, no intervention", nil, "Tell me [sim:guardrail]", types.StopReasonEndTurn, "This is a simulated reply from Claude 3 Haiku to: Tell me."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := converseInput(haiku, tt.text)
			in.GuardrailConfig = tt.guard
			out, err := rt.Converse(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got := []any{out.StopReason, contentTranscript(t, out.Output.(*types.ConverseOutputMemberMessage).Value.Content)}
			if diff := cmp.Diff([]any{tt.wantStop, []string{"text: " + tt.wantReply}}, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
			// ConverseStream takes the stream form of the guardrail.
			sin := streamInput(in)
			if tt.guard != nil {
				sin.GuardrailConfig = &types.GuardrailStreamConfiguration{GuardrailIdentifier: tt.guard.GuardrailIdentifier, GuardrailVersion: tt.guard.GuardrailVersion}
			}
			sout, err := rt.ConverseStream(ctx, sin)
			if err != nil {
				t.Fatal(err)
			}
			res := readStream(t, sout)
			if last := res.Lines[len(res.Lines)-2]; last != "messageStop: "+string(tt.wantStop) {
				t.Errorf("stream ends %q", last)
			}
		})
	}
}

func TestDocumentTokens(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	ctx := context.Background()
	data := []byte(strings.Repeat("x", 4000))
	plain, err := rt.Converse(ctx, converseInput(haiku, "Read."))
	if err != nil {
		t.Fatal(err)
	}
	in := converseInput(haiku, "Read.")
	in.Messages[0].Content = append(in.Messages[0].Content, docBlock("notes", "txt", data))
	out, err := rt.Converse(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// The document's name and bytes, at 4 bytes a token.
	if got, want := aws.ToInt32(out.Usage.InputTokens)-aws.ToInt32(plain.Usage.InputTokens), int32((len("notes")+len(data)+3)/4); got < want-1 || got > want+1 {
		t.Errorf("the document added %d input tokens, want about %d", got, want)
	}
}
