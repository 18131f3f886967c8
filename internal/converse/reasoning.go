package converse

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// This file holds reasoning for the request side (ParseChatRequest and
// ToConverse): reasoning_effort, the reasoning_details a client echoes, and
// the rule that keeps Claude's thinking valid across tool calls. The
// response side lives in chat_response.go and chat_stream.go.

func parseReasoningEffort(v *string) (string, error) {
	if v == nil {
		return "", nil
	}
	if !slices.Contains(reasoningEfforts, *v) {
		return "", invalid(codeInvalidValue, "reasoning_effort", "Invalid value for 'reasoning_effort': %q. Supported values are: %s.", *v, quoteList(reasoningEfforts))
	}
	return *v, nil
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = "'" + v + "'"
	}
	return strings.Join(q, ", ")
}

// parseReasoningDetails decodes the reasoning_details of an assistant
// message. Details of other providers (another format) and of unknown types
// are skipped: they could not be sent to Bedrock anyway.
func parseReasoningDetails(raw json.RawMessage, p string) ([]ReasoningDetail, error) {
	if isNull(raw) {
		return nil, nil
	}
	var ds []ReasoningDetail
	if err := decodeInto(raw, &ds, p); err != nil {
		return nil, invalid(codeInvalidType, p, "Invalid type for '%s': expected an array of reasoning detail objects, as Tollgate returned them.", p)
	}
	out := ds[:0]
	for j, d := range ds {
		if d.Format != "" && d.Format != reasoningFormat {
			continue
		}
		switch d.Type {
		case ReasoningText:
		case ReasoningEncrypted:
			if _, err := base64.StdEncoding.DecodeString(d.Data); err != nil || d.Data == "" {
				return nil, invalid(codeInvalidValue, fmt.Sprintf("%s[%d].data", p, j), "Invalid '%s[%d].data': expected the base64 data Tollgate returned.", p, j)
			}
		default:
			continue
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// reasoningPlan is how one request asks its model to reason.
type reasoningPlan struct {
	budget int            // Claude's budget_tokens; 0 when thinking is off
	effort string         // outputConfig.effort; "" when none
	fields map[string]any // additionalModelRequestFields; nil when none
}

// planReasoning decides how r's reasoning_effort reaches the model q
// describes. Claude's thinking is left off, whatever the effort, when the
// request forces a tool (Claude refuses thinking with a forced tool_choice)
// or when the last assistant turn calls tools without the reasoning block
// that came with it (Claude refuses that turn with thinking on: the client
// dropped reasoning_details). forcedTool tells whether the request forces a
// tool, structured output included.
func planReasoning(r *ChatRequest, q quirk, forcedTool bool) reasoningPlan {
	var rp reasoningPlan
	e := r.ReasoningEffort
	if e == "" || e == "none" {
		return rp
	}
	switch q.reasoning {
	case reasoningGPTOSS:
		rp.fields = map[string]any{"reasoning_effort": threeLevelEfforts[e]}
		return rp
	case reasoningNova:
		rp.fields = map[string]any{"reasoningConfig": map[string]any{"type": "enabled", "maxReasoningEffort": threeLevelEfforts[e]}}
		return rp
	case reasoningEffort:
		rp.effort = converseEfforts[e]
	case reasoningThinking:
	default:
		return rp
	}
	if forcedTool || !lastToolTurnHasReasoning(r) {
		return rp
	}
	rp.budget = thinkingBudgets[e]
	if q.maxOutput > 0 {
		rp.budget = min(rp.budget, q.maxOutput-thinkingAnswerTokens)
	}
	rp.fields = map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": rp.budget}}
	return rp
}

// fitWithin keeps thinking valid under an output cap of n tokens lowered
// below the budget (by a budget guard): the budget becomes half of n, or
// thinking is turned off when that is below Claude's minimum of 1024.
// Bedrock refuses a budget_tokens not below maxTokens.
func (rp *reasoningPlan) fitWithin(n int) {
	if rp.budget == 0 || rp.budget < n {
		return
	}
	if b := n / 2; b >= minThinkingBudget {
		rp.budget = b
		rp.fields["thinking"] = map[string]any{"type": "enabled", "budget_tokens": b}
		return
	}
	rp.budget = 0
	delete(rp.fields, "thinking")
	if len(rp.fields) == 0 {
		rp.fields = nil
	}
}

// lastToolTurnHasReasoning reports whether the last assistant turn either
// calls no tools or starts with a reasoning block Bedrock can take back: a
// signed text or redacted content.
func lastToolTurnHasReasoning(r *ChatRequest) bool {
	if r.ToolChoice.Mode == ToolChoiceNone {
		return true // tool calls travel as text
	}
	last := -1
	for i := len(r.Messages) - 1; i >= 0 && last < 0; i-- {
		if r.Messages[i].Role == RoleAssistant {
			last = i
		}
	}
	if last < 0 {
		return true
	}
	// The turn's first message: consecutive assistant messages merge, and
	// system messages between them go to the system prompt.
	first := last
	for first > 0 {
		role := r.Messages[first-1].Role
		if role != RoleAssistant && role != RoleSystem && role != RoleDeveloper {
			break
		}
		first--
	}
	calls := false
	for i := first; i <= last; i++ {
		if r.Messages[i].Role == RoleAssistant && len(r.Messages[i].ToolCalls) > 0 {
			calls = true
		}
	}
	if !calls {
		return true
	}
	for i := first; i <= last; i++ {
		m := &r.Messages[i]
		if m.Role != RoleAssistant {
			continue
		}
		if len(sendableReasoning(m.Reasoning)) > 0 {
			return true
		}
		if hasContent(m) || len(m.ToolCalls) > 0 {
			return false // the turn starts with something else
		}
	}
	return false
}

// hasContent reports whether m has a part that becomes a content block.
func hasContent(m *Message) bool {
	for _, p := range m.Parts {
		if p.Kind != PartText || !isBlank(p.Text) {
			return true
		}
	}
	return false
}

// sendableReasoning returns the details Bedrock takes back: signed texts and
// redacted content.
func sendableReasoning(ds []ReasoningDetail) []ReasoningDetail {
	var out []ReasoningDetail
	for _, d := range ds {
		if (d.Type == ReasoningText && d.Signature != "") || (d.Type == ReasoningEncrypted && d.Data != "") {
			out = append(out, d)
		}
	}
	return out
}

// reasoningBlocks converts echoed reasoning details to reasoningContent
// blocks.
func reasoningBlocks(ds []ReasoningDetail) []types.ContentBlock {
	var blocks []types.ContentBlock
	for _, d := range sendableReasoning(ds) {
		switch d.Type {
		case ReasoningText:
			blocks = append(blocks, &types.ContentBlockMemberReasoningContent{Value: &types.ReasoningContentBlockMemberReasoningText{
				Value: types.ReasoningTextBlock{Text: ptr(d.Text), Signature: ptr(d.Signature)},
			}})
		case ReasoningEncrypted:
			b, _ := base64.StdEncoding.DecodeString(d.Data) // checked by parseReasoningDetails
			blocks = append(blocks, &types.ContentBlockMemberReasoningContent{Value: &types.ReasoningContentBlockMemberRedactedContent{Value: b}})
		}
	}
	return blocks
}

// thinkOpen and thinkClose frame reasoning in content when the server
// shows it as <think> tags.
const (
	thinkOpen  = "<think>\n"
	thinkClose = "\n</think>\n\n"
)

// stripThink removes a leading <think>...</think> block from an assistant
// text the client sends back, when the server writes reasoning that way.
func stripThink(s string) string {
	t := strings.TrimLeft(s, " \t\r\n")
	if !strings.HasPrefix(t, "<think>") {
		return s
	}
	_, rest, ok := strings.Cut(t, "</think>")
	if !ok {
		return s
	}
	return strings.TrimLeft(rest, " \t\r\n")
}

// reasoningTokens estimates the tokens of reasoning text: its UTF-8 bytes
// / 4, rounded up, at most the output tokens.
func reasoningTokens(bytes, output int) int {
	return min((bytes+3)/4, output)
}
