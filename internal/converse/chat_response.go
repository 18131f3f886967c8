package converse

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate"
)

// Meta is what every response needs from the request.
type Meta struct {
	ID      string // "chatcmpl-...", from NewID
	Created int64  // Unix seconds
	Model   string // echoed as the client sent it

	// ThinkTags puts reasoning in content between <think> and </think>
	// instead of reasoning_content (reasoning_details are kept).
	ThinkTags bool
	// JSONTool names the tool whose input is the JSON answer, from
	// [ChatRequest.JSONTool]; "" when none. Its call becomes the content.
	JSONTool string
}

// NewID returns a new completion id: "chatcmpl-" and 26 random characters
// from crypto/rand (A-Z, 2-7). It is the package's one non-pure function.
func NewID() string {
	return "chatcmpl-" + rand.Text()
}

// Usage is Bedrock's token usage for one request, in tokens.
type Usage struct {
	Input      int // inputTokens: uncached input
	Output     int // outputTokens
	CacheRead  int // cacheReadInputTokens
	CacheWrite int // cacheWriteInputTokens
}

// Completion returns the usage as OpenAI reports it. prompt_tokens counts
// all the input the user is billed for (Input + CacheRead + CacheWrite) and
// cached_tokens the part read from the cache, so that a client that prices
// prompt_tokens never sees less input than AWS bills;
// total_tokens = prompt_tokens + completion_tokens.
func (u Usage) Completion() CompletionUsage {
	prompt := u.Input + u.CacheRead + u.CacheWrite
	return CompletionUsage{
		PromptTokens:        prompt,
		CompletionTokens:    u.Output,
		TotalTokens:         prompt + u.Output,
		PromptTokensDetails: PromptTokensDetails{CachedTokens: u.CacheRead},
	}
}

func usageFrom(u *types.TokenUsage) Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{
		Input:      int32Value(u.InputTokens),
		Output:     int32Value(u.OutputTokens),
		CacheRead:  int32Value(u.CacheReadInputTokens),
		CacheWrite: int32Value(u.CacheWriteInputTokens),
	}
}

// FromConverse builds the OpenAI chat.completion response from a Converse
// output. The message content is the answer's text blocks joined with
// nothing in between, or null when there is no text (only tool calls); tool
// calls keep Bedrock's toolUseId as their id and carry the toolUse input as
// compact JSON whose numbers are those Bedrock sent, digit for digit.
// Reasoning blocks become reasoning_content (their texts joined) and
// reasoning_details (to echo), or a <think> block opening the content with
// meta.ThinkTags; completion_tokens_details.reasoning_tokens is estimated
// from their text. A call to meta.JSONTool becomes the content (the text
// blocks are then dropped), with finish_reason "stop" unless the answer
// calls other tools too. Other non-text blocks are skipped.
//
// It returns the usage even when the response has none (all zeros). Its
// error is a *tollgate.Error of Kind tollgate.BadGateway, code
// "upstream_invalid_response", when out holds no message or a tool input
// that cannot be encoded.
func FromConverse(out *bedrockruntime.ConverseOutput, meta Meta) (*ChatCompletion, Usage, error) {
	if out == nil {
		return nil, Usage{}, badResponse("Bedrock returned an empty response.")
	}
	usage := usageFrom(out.Usage)
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		return nil, usage, badResponse("Bedrock returned a response without a message.")
	}
	var (
		text      strings.Builder
		hasText   bool
		calls     []ToolCall
		reasoning strings.Builder
		details   []ReasoningDetail
		jsonArgs  *string
	)
	for _, b := range msg.Value.Content {
		switch b := b.(type) {
		case *types.ContentBlockMemberText:
			text.WriteString(b.Value)
			hasText = true
		case *types.ContentBlockMemberToolUse:
			args, err := toolUseArguments(b.Value)
			if err != nil {
				e := badResponse("Bedrock returned a tool call whose input cannot be read.")
				e.Cause = err
				return nil, usage, e
			}
			if name := stringValue(b.Value.Name); meta.JSONTool != "" && name == meta.JSONTool {
				jsonArgs = &args
				continue
			}
			calls = append(calls, ToolCall{
				ID:       stringValue(b.Value.ToolUseId),
				Type:     "function",
				Function: FunctionCall{Name: stringValue(b.Value.Name), Arguments: args},
			})
		case *types.ContentBlockMemberReasoningContent:
			switch rc := b.Value.(type) {
			case *types.ReasoningContentBlockMemberReasoningText:
				t := stringValue(rc.Value.Text)
				reasoning.WriteString(t)
				details = append(details, ReasoningDetail{Type: ReasoningText, Text: t, Signature: stringValue(rc.Value.Signature), Format: reasoningFormat, Index: len(details)})
			case *types.ReasoningContentBlockMemberRedactedContent:
				details = append(details, ReasoningDetail{Type: ReasoningEncrypted, Data: base64.StdEncoding.EncodeToString(rc.Value), Format: reasoningFormat, Index: len(details)})
			}
		}
		// Other blocks (citations, ...) have no place in OpenAI's message.
	}
	m := ResponseMessage{Role: RoleAssistant, ToolCalls: calls, ReasoningDetails: details}
	finish := FinishReason(out.StopReason)
	if jsonArgs != nil {
		text.Reset()
		text.WriteString(*jsonArgs)
		hasText = true
		if len(calls) == 0 && finish == "tool_calls" {
			finish = "stop"
		}
	}
	switch r := reasoning.String(); {
	case r == "":
	case meta.ThinkTags:
		t := thinkOpen + r + thinkClose + text.String()
		text.Reset()
		text.WriteString(t)
		hasText = true
	default:
		m.ReasoningContent = &r
	}
	if hasText {
		s := text.String()
		m.Content = &s
	}
	cu := usage.Completion()
	cu.CompletionTokensDetails.ReasoningTokens = reasoningTokens(reasoning.Len(), usage.Output)
	return &ChatCompletion{
		ID:      meta.ID,
		Object:  "chat.completion",
		Created: meta.Created,
		Model:   meta.Model,
		Choices: []Choice{{Message: m, FinishReason: finish}},
		Usage:   cu,
	}, usage, nil
}

// toolUseArguments renders a toolUse input as compact JSON. It asks the
// document for its JSON rather than decoding it into an any: that decoding
// turns numbers into smithy document.Number strings, which json.Marshal would
// quote.
func toolUseArguments(tu types.ToolUseBlock) (string, error) {
	if tu.Input == nil {
		return "{}", nil
	}
	raw, err := tu.Input.MarshalSmithyDocument()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	if b.Len() == 0 || b.String() == "null" {
		return "{}", nil
	}
	return b.String(), nil
}

// FinishReason maps a Bedrock stop reason to an OpenAI finish_reason:
// end_turn and stop_sequence → stop; max_tokens and
// model_context_window_exceeded → length; tool_use → tool_calls;
// guardrail_intervened and content_filtered → content_filter;
// malformed_model_output and malformed_tool_use → stop (the answer ended,
// and OpenAI has no better value). Any other reason is passed through
// lower-cased, so that a new Bedrock reason stays visible to clients.
func FinishReason(r types.StopReason) string {
	switch r {
	case types.StopReasonEndTurn, types.StopReasonStopSequence,
		types.StopReasonMalformedModelOutput, types.StopReasonMalformedToolUse:
		return "stop"
	case types.StopReasonMaxTokens, types.StopReasonModelContextWindowExceeded:
		return "length"
	case types.StopReasonToolUse:
		return "tool_calls"
	case types.StopReasonGuardrailIntervened, types.StopReasonContentFiltered:
		return "content_filter"
	}
	// A reason Bedrock added after this table (or none) ends the answer as
	// "stop": OpenAI's schema allows only its four reasons, and strict
	// clients reject any other.
	return "stop"
}

func badResponse(msg string) *tollgate.Error {
	return tollgate.Errorf(tollgate.BadGateway, "upstream_invalid_response", "", "%s", msg)
}

func int32Value(p *int32) int {
	if p == nil {
		return 0
	}
	return int(*p)
}

func stringValue(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
