package bedrocksim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// This file simulates InvokeModel and InvokeModelWithResponseStream for the
// Claude models, which take Anthropic's Messages body on Bedrock:
//
//   - anthropic_version "bedrock-2023-05-31" and max_tokens and messages are
//     required; model and stream are refused (the model is in the path, the
//     operation says whether to stream).
//   - anthropic_beta lists beta flags; a flag outside [ClaudeBetas] is
//     refused as Bedrock refuses it ("invalid beta flag").
//   - Other top-level members the Messages API knows but Bedrock's Claude
//     does not (metadata, service_tier, container, inference_geo,
//     mcp_servers, ...) are refused ("Extra inputs are not permitted"), as are
//     output_config without the effort-2025-11-24 beta, context_management
//     without context-management-2025-06-27, and a tool's defer_loading
//     without tool-search-tool-2025-10-19.
//   - thinking {"type":"adaptive"} is refused except by the models that take it
//     (Model.AdaptiveThinking: the 4.6 models and newer), whose simulated
//     answer then has no thinking block, as a model that chose not to think.
//   - The 4.6 models and newer (Model.Effort, Model.SystemMessages) take
//     output_config without the effort beta, and messages with role
//     "system", read as more system prompt: Claude Code's Bedrock mode sends
//     both.
//
// The body is then checked with Anthropic's rules, worded as Bedrock relays
// the model's errors ("The model returned the following errors: ..."), turned
// into the Converse request the rest of the simulator understands, and
// answered with the same deterministic reply, token rule and prompt cache:
// an Anthropic "message" object, or a stream of "chunk" events whose bytes
// are Anthropic's stream events, the last carrying
// amazon-bedrock-invocationMetrics. A guardrail comes in the
// X-Amzn-Bedrock-GuardrailIdentifier, -GuardrailVersion and -Trace headers,
// checked as Converse's guardrailConfig; the answer then carries
// amazon-bedrock-guardrailAction (NONE, or INTERVENED with [sim:guardrail],
// the reply then being the guardrail's blocked message, ending the turn).

// Operation names of the Claude Messages path, as Stats counts them.
const (
	OpInvokeModelWithResponseStream = "InvokeModelWithResponseStream"
	OpCountTokens                   = "CountTokens"
)

// ClaudeAnthropicVersion is the only anthropic_version Bedrock accepts.
const ClaudeAnthropicVersion = "bedrock-2023-05-31"

// claudeBetas are the anthropic_beta flags Bedrock accepts for Claude. Any
// other is "invalid beta flag".
var claudeBetas = []string{
	"computer-use-2024-10-22",
	"computer-use-2025-01-24",
	"computer-use-2025-11-24",
	"context-1m-2025-08-07",
	"context-management-2025-06-27",
	"dev-full-thinking-2025-05-14",
	"effort-2025-11-24",
	"fine-grained-tool-streaming-2025-05-14",
	"interleaved-thinking-2025-05-14",
	"output-128k-2025-02-19",
	"token-efficient-tools-2025-02-19",
	"tool-examples-2025-10-29",
	"tool-search-tool-2025-10-19",
}

// ClaudeBetas returns the anthropic_beta flags the simulated Bedrock accepts,
// sorted.
func ClaudeBetas() []string { return slices.Clone(claudeBetas) }

// Response headers of InvokeModel for Claude, besides headerInputTokens and
// headerLatency.
const (
	headerOutputTokens     = "X-Amzn-Bedrock-Output-Token-Count"
	headerCacheReadTokens  = "X-Amzn-Bedrock-Cache-Read-Input-Token-Count"
	headerCacheWriteTokens = "X-Amzn-Bedrock-Cache-Write-Input-Token-Count"
)

// claudeKeys are the top-level members of the Anthropic body on Bedrock.
// Gated members need a beta flag.
var (
	claudeKeys  = []string{"anthropic_version", "anthropic_beta", "max_tokens", "messages", "system", "temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice", "thinking"}
	claudeGated = map[string]string{"output_config": "effort-2025-11-24", "context_management": "context-management-2025-06-27"}
)

// claudeRequest is the Anthropic Messages body as Bedrock takes it.
type claudeRequest struct {
	AnthropicVersion string            `json:"anthropic_version"`
	AnthropicBeta    []string          `json:"anthropic_beta"`
	MaxTokens        int               `json:"max_tokens"`
	Messages         []claudeMessage   `json:"messages"`
	System           json.RawMessage   `json:"system"`
	Temperature      *float64          `json:"temperature"`
	TopP             *float64          `json:"top_p"`
	TopK             *int              `json:"top_k"`
	StopSequences    []string          `json:"stop_sequences"`
	Tools            []claudeTool      `json:"tools"`
	ToolChoice       *claudeToolChoice `json:"tool_choice"`
	Thinking         *claudeThinking   `json:"thinking"`
}

type claudeMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"` // a string or blocks
}

// claudeBlock is any content block; Type says which members matter.
type claudeBlock struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text"`
	Source       *claudeSource   `json:"source"`
	Title        string          `json:"title"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"` // tool_result: a string or blocks
	IsError      bool            `json:"is_error"`
	Thinking     *string         `json:"thinking"`
	Signature    *string         `json:"signature"`
	Data         string          `json:"data"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type claudeSource struct {
	Type      string          `json:"type"` // base64, text, url, content
	MediaType string          `json:"media_type"`
	Data      string          `json:"data"`
	URL       string          `json:"url"`
	Content   json.RawMessage `json:"content"`
}

type claudeTool struct {
	Type         string          `json:"type"` // "custom" or empty for client tools; a versioned name for server tools
	Name         string          `json:"name"`
	Description  *string         `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control"`
	DeferLoading *bool           `json:"defer_loading"`
}

type claudeToolChoice struct {
	Type string `json:"type"` // auto, any, tool, none
	Name string `json:"name"`
}

type claudeThinking struct {
	Type         string `json:"type"` // enabled, disabled, adaptive
	BudgetTokens *int   `json:"budget_tokens"`
}

// minThinkingBudget is Claude's least thinking budget.
const minThinkingBudget = 1024

// claudeBlockTypes are the content block types Claude reads.
var claudeBlockTypes = []string{"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "search_result", "server_tool_use", "web_search_tool_result", "tool_reference"}

// claudeToolNamePattern is Anthropic's rule for client tool names.
var claudeToolNamePattern = lazyRegexp(`^[a-zA-Z0-9_-]{1,128}$`)

// modelErr words an error of the model as Bedrock relays it.
func modelErr(format string, args ...any) *apiError {
	return validationError("The model returned the following errors: " + fmt.Sprintf(format, args...))
}

// parseClaude decodes and validates an Anthropic body for model m and turns
// it into the equivalent Converse request.
func parseClaude(body []byte, m Model) (*claudeRequest, *converseRequest, *apiError) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil || fields == nil {
		return nil, nil, malformed("#: expected type: JSONObject, found: " + jsonTypeName(body))
	}
	for _, k := range []string{"model", "stream"} {
		if _, ok := fields[k]; ok {
			return nil, nil, validationError("Malformed input request: #: extraneous key [" + k + "] is not permitted, please reformat your input and try again.")
		}
	}
	for _, k := range []string{"anthropic_version", "max_tokens", "messages"} {
		if _, ok := fields[k]; !ok {
			return nil, nil, malformed("#: required key [" + k + "] not found")
		}
	}
	var req claudeRequest
	for _, f := range []struct {
		key, want string
		v         any
	}{
		{"anthropic_version", "String", &req.AnthropicVersion},
		{"max_tokens", "Integer", &req.MaxTokens},
		{"messages", "JSONArray", &req.Messages},
	} {
		if e := decodeMember(fields, f.key, f.want, f.v); e != nil {
			return nil, nil, e
		}
	}
	if req.AnthropicVersion != ClaudeAnthropicVersion {
		return nil, nil, malformed("#/anthropic_version: " + req.AnthropicVersion + " is not a valid enum value")
	}
	if _, ok := fields["anthropic_beta"]; ok {
		if e := decodeMember(fields, "anthropic_beta", "JSONArray", &req.AnthropicBeta); e != nil {
			return nil, nil, e
		}
		for _, b := range req.AnthropicBeta {
			if !slices.Contains(claudeBetas, b) {
				return nil, nil, modelErr("invalid beta flag")
			}
		}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if slices.Contains(claudeKeys, k) {
			continue
		}
		if beta, ok := claudeGated[k]; ok && slices.Contains(req.AnthropicBeta, beta) {
			continue
		}
		if k == "output_config" && m.Effort {
			continue // generally available on the model: no beta needed
		}
		return nil, nil, modelErr("%s: Extra inputs are not permitted", k)
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, modelErr("%s", describeJSONError(err))
	}
	conv, e := claudeToConverse(&req, m)
	if e != nil {
		return nil, nil, e
	}
	return &req, conv, nil
}

// describeJSONError names the member a type error is about.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s: Input should be a valid %s", te.Field, te.Type.Kind())
	}
	return "Could not parse the request body: " + err.Error()
}

// claudeToConverse checks req against Anthropic's rules for model m and
// builds the Converse request that measures and answers the same prompt.
func claudeToConverse(req *claudeRequest, m Model) (*converseRequest, *apiError) {
	out := &converseRequest{}
	if req.MaxTokens < 1 {
		return nil, modelErr("max_tokens: Input should be greater than or equal to 1")
	}
	if req.MaxTokens > m.MaxOutputTokens {
		return nil, modelErr("max_tokens: %d > %d, which is the maximum allowed number of output tokens for %s", req.MaxTokens, m.MaxOutputTokens, anthropicModelName(m.ID))
	}
	maxTokens := req.MaxTokens
	out.InferenceConfig = &inferenceConfig{MaxTokens: &maxTokens, Temperature: req.Temperature, TopP: req.TopP, StopSequences: req.StopSequences}
	for _, p := range []struct {
		name string
		v    *float64
	}{{"temperature", req.Temperature}, {"top_p", req.TopP}} {
		if p.v != nil && (*p.v < 0 || *p.v > 1) {
			return nil, modelErr("%s: Input should be less than or equal to 1", p.name)
		}
	}
	if m.ExclusiveSampling && req.Temperature != nil && req.TopP != nil {
		return nil, modelErr("`temperature` and `top_p` cannot both be specified for this model. Please use only one.")
	}

	if e := claudeTools(req, out); e != nil {
		return nil, e
	}
	if e := claudeSystem(req.System, out); e != nil {
		return nil, e
	}
	if t := req.Thinking; t != nil {
		switch t.Type {
		case "disabled":
		case "enabled":
			if !m.Reasoning {
				return nil, modelErr("thinking: This model does not support extended thinking.")
			}
			budget := t.BudgetTokens
			// Interleaved thinking lets the budget exceed max_tokens: it
			// spans the whole turn.
			if budget != nil && *budget >= req.MaxTokens && req.MaxTokens > minThinkingBudget && slices.Contains(req.AnthropicBeta, "interleaved-thinking-2025-05-14") {
				b := req.MaxTokens - 1
				budget = &b
			}
			fields, _ := json.Marshal(map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": budget}})
			out.AdditionalModelRequestFields = fields
		case "adaptive":
			// The simulated model, left to choose, never thinks: the
			// answer is as with thinking disabled.
			if !m.AdaptiveThinking {
				return nil, modelErr("thinking.type: Input tag 'adaptive' found using 'type' does not match any of the expected tags: 'disabled', 'enabled'")
			}
		default:
			return nil, modelErr("thinking.type: Input tag '%s' found using 'type' does not match any of the expected tags: 'disabled', 'enabled'", t.Type)
		}
	}

	if len(req.Messages) == 0 {
		return nil, modelErr("messages: List should have at least 1 item after validation, not 0")
	}
	for i, msg := range req.Messages {
		if msg.Role == "system" && m.SystemMessages {
			// Instructions in the middle of the conversation: the
			// simulated model reads them as more system prompt.
			if e := claudeSystem(msg.Content, out); e != nil {
				return nil, e
			}
			continue
		}
		if msg.Role != "user" && msg.Role != "assistant" {
			return nil, modelErr("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		blocks, e := claudeContent(msg.Content, fmt.Sprintf("messages.%d.content", i))
		if e != nil {
			return nil, e
		}
		if len(blocks) == 0 && i != len(req.Messages)-1 {
			return nil, modelErr("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
		}
		cm := message{Role: msg.Role}
		for j, b := range blocks {
			cb, e := claudeBlockToConverse(b, fmt.Sprintf("messages.%d.content.%d", i, j), m)
			if e != nil {
				return nil, e
			}
			if cb != nil {
				cm.Content = append(cm.Content, *cb)
			}
			if len(b.CacheControl) > 0 && string(b.CacheControl) != "null" {
				cm.Content = append(cm.Content, contentBlock{CachePoint: &cachePoint{Type: "default"}})
			}
		}
		// Anthropic merges consecutive turns of one role.
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == msg.Role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, cm.Content...)
			continue
		}
		out.Messages = append(out.Messages, cm)
	}
	if e := claudeToolPairing(req); e != nil {
		return nil, e
	}
	if e := validateThinking(out, m); e != nil {
		return nil, e
	}
	return out, nil
}

// claudeTools checks the tools and tool_choice and sets out's toolConfig.
func claudeTools(req *claudeRequest, out *converseRequest) *apiError {
	if len(req.Tools) == 0 {
		if tc := req.ToolChoice; tc != nil && tc.Type != "auto" && tc.Type != "none" {
			return modelErr("tool_choice: tool_choice may only be specified while providing tools.")
		}
		return nil
	}
	tc := &toolConfig{}
	seen := map[string]bool{}
	for i, t := range req.Tools {
		if t.Type != "" && t.Type != "custom" { // a server or Anthropic-defined tool
			tc.Tools = append(tc.Tools, tool{SystemTool: &struct {
				Name string `json:"name"`
			}{Name: t.Name}})
		} else {
			if !claudeToolNamePattern().MatchString(t.Name) {
				return modelErr("tools.%d.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'", i)
			}
			if len(t.InputSchema) == 0 || jsonTypeName(t.InputSchema) != "JSONObject" {
				return modelErr("tools.%d.custom.input_schema: Field required", i)
			}
			if t.DeferLoading != nil && !slices.Contains(req.AnthropicBeta, "tool-search-tool-2025-10-19") {
				return modelErr("tools.%d.custom.defer_loading: Extra inputs are not permitted", i)
			}
			spec := tool{}
			spec.ToolSpec = &struct {
				Name        string  `json:"name"`
				Description *string `json:"description"`
				InputSchema struct {
					JSON json.RawMessage `json:"json"`
				} `json:"inputSchema"`
			}{Name: t.Name, Description: t.Description}
			spec.ToolSpec.InputSchema.JSON = t.InputSchema
			tc.Tools = append(tc.Tools, spec)
		}
		if seen[t.Name] {
			return modelErr("tools: Tool names must be unique.")
		}
		seen[t.Name] = true
		if len(t.CacheControl) > 0 && string(t.CacheControl) != "null" {
			tc.Tools = append(tc.Tools, tool{CachePoint: &cachePoint{Type: "default"}})
		}
	}
	if c := req.ToolChoice; c != nil {
		tc.ToolChoice = &toolChoice{}
		switch c.Type {
		case "auto", "none":
			tc.ToolChoice.Auto = &struct{}{}
		case "any":
			tc.ToolChoice.Any = &struct{}{}
		case "tool":
			if !seen[c.Name] {
				return modelErr("tool_choice.tool.name: Tool '%s' not found in provided tools", c.Name)
			}
			tc.ToolChoice.Tool = &struct {
				Name string `json:"name"`
			}{Name: c.Name}
		default:
			return modelErr("tool_choice.type: Input tag '%s' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", c.Type)
		}
	}
	out.ToolConfig = tc
	return nil
}

// claudeSystem turns the system prompt (a string or text blocks) into
// system blocks.
func claudeSystem(raw json.RawMessage, out *converseRequest) *apiError {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s != "" {
			out.System = append(out.System, systemBlock{Text: &s})
		}
		return nil
	}
	var blocks []claudeBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return modelErr("system: Input should be a valid string")
	}
	for i, b := range blocks {
		if b.Type != "text" || b.Text == nil {
			return modelErr("system.%d.type: Input should be 'text'", i)
		}
		if *b.Text == "" {
			return modelErr("system: text content blocks must be non-empty")
		}
		t := *b.Text
		out.System = append(out.System, systemBlock{Text: &t})
		if len(b.CacheControl) > 0 && string(b.CacheControl) != "null" {
			out.System = append(out.System, systemBlock{CachePoint: &cachePoint{Type: "default"}})
		}
	}
	return nil
}

// claudeContent decodes a message's content: a string is one text block.
func claudeContent(raw json.RawMessage, path string) ([]claudeBlock, *apiError) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, nil
		}
		return []claudeBlock{{Type: "text", Text: &s}}, nil
	}
	var blocks []claudeBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, modelErr("%s: Input should be a valid list", path)
	}
	return blocks, nil
}

// claudeBlockToConverse checks one content block and returns its Converse
// form, or nil for blocks that only the real model reads (counted as their
// JSON text would be too costly to model; the simulator ignores them).
func claudeBlockToConverse(b claudeBlock, path string, m Model) (*contentBlock, *apiError) {
	if !slices.Contains(claudeBlockTypes, b.Type) {
		return nil, modelErr("%s.type: Input tag '%s' found using 'type' does not match any of the expected tags: %s", path, b.Type, "'"+strings.Join(claudeBlockTypes, "', '")+"'")
	}
	switch b.Type {
	case "text":
		if b.Text == nil {
			return nil, modelErr("%s.text: Field required", path)
		}
		if *b.Text == "" {
			return nil, modelErr("messages: text content blocks must be non-empty")
		}
		if strings.TrimSpace(*b.Text) == "" {
			return nil, modelErr("messages: text content blocks must contain non-whitespace text")
		}
		t := *b.Text
		return &contentBlock{Text: &t}, nil
	case "image":
		if !m.Images {
			return nil, modelErr("%s.image: This model does not support image input.", path)
		}
		if b.Source == nil {
			return nil, modelErr("%s.image.source: Field required", path)
		}
		img := &imageBlock{Format: strings.TrimPrefix(b.Source.MediaType, "image/")}
		switch b.Source.Type {
		case "base64":
			data, err := base64.StdEncoding.DecodeString(b.Source.Data)
			if err != nil {
				return nil, modelErr("%s.image.source.base64.data: Input should be valid base64", path)
			}
			img.Source.Bytes = data
		case "url":
			img.Source.Bytes = []byte(b.Source.URL)
		default:
			return nil, modelErr("%s.image.source.type: Input tag '%s' found using 'type' does not match any of the expected tags: 'base64', 'url'", path, b.Source.Type)
		}
		return &contentBlock{Image: img}, nil
	case "document":
		if b.Source == nil {
			return nil, modelErr("%s.document.source: Field required", path)
		}
		d := &documentBlock{Name: b.Title}
		switch b.Source.Type {
		case "base64":
			data, err := base64.StdEncoding.DecodeString(b.Source.Data)
			if err != nil {
				return nil, modelErr("%s.document.source.base64.data: Input should be valid base64", path)
			}
			d.Source.Bytes = data
		case "text":
			d.Source.Text = b.Source.Data
		case "content", "url":
			d.Source.Text = compactJSON(b.Source.Content) + b.Source.URL
		default:
			return nil, modelErr("%s.document.source.type: Input tag '%s' found using 'type' does not match any of the expected tags: 'base64', 'text', 'content', 'url'", path, b.Source.Type)
		}
		return &contentBlock{Document: d}, nil
	case "tool_use":
		input := b.Input
		if len(input) == 0 {
			input = json.RawMessage("{}")
		}
		return &contentBlock{ToolUse: &toolUseBlock{ToolUseID: b.ID, Name: b.Name, Input: input}}, nil
	case "tool_result":
		tr := &toolResultBlock{ToolUseID: b.ToolUseID}
		if b.IsError {
			tr.Status = "error"
		}
		if len(b.Content) > 0 {
			inner, e := claudeContent(b.Content, path+".content")
			if e != nil {
				return nil, e
			}
			for k, ib := range inner {
				cb, e := claudeBlockToConverse(ib, fmt.Sprintf("%s.content.%d", path, k), m)
				if e != nil {
					return nil, e
				}
				switch {
				case cb == nil:
				case cb.Text != nil:
					tr.Content = append(tr.Content, toolResultContent{Text: cb.Text})
				case cb.Image != nil:
					tr.Content = append(tr.Content, toolResultContent{Image: cb.Image})
				case cb.Document != nil:
					tr.Content = append(tr.Content, toolResultContent{Document: cb.Document})
				}
			}
		}
		return &contentBlock{ToolResult: tr}, nil
	case "thinking":
		if b.Signature == nil || *b.Signature == "" {
			return nil, modelErr("%s.thinking.signature: Field required", path)
		}
		text := ""
		if b.Thinking != nil {
			text = *b.Thinking
		}
		return &contentBlock{ReasoningContent: &reasoningBlock{ReasoningText: &reasoningText{Text: text, Signature: *b.Signature}}}, nil
	case "redacted_thinking":
		return &contentBlock{ReasoningContent: &reasoningBlock{RedactedContent: []byte(b.Data)}}, nil
	}
	return nil, nil
}

// claudeToolPairing applies Anthropic's rule: the tool_use blocks of an
// assistant turn are answered by tool_result blocks in the next user turn,
// and every tool_result answers one of them.
func claudeToolPairing(req *claudeRequest) *apiError {
	var pending []string // tool_use ids of the previous assistant turn
	pendingAt := -1
	for i, msg := range req.Messages {
		blocks, _ := claudeContent(msg.Content, "")
		var uses, results []string
		for _, b := range blocks {
			switch b.Type {
			case "tool_use":
				uses = append(uses, b.ID)
			case "tool_result":
				results = append(results, b.ToolUseID)
			}
		}
		if msg.Role == "user" {
			for _, id := range results {
				if !slices.Contains(pending, id) {
					return modelErr("messages.%d.content.0: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, id)
				}
			}
			var missing []string
			for _, id := range pending {
				if !slices.Contains(results, id) {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return modelErr("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", pendingAt, strings.Join(missing, ", "))
			}
			pending = nil
			continue
		}
		pending, pendingAt = uses, i
	}
	return nil
}

// anthropicModelName is the name Anthropic gives a Bedrock Claude model id:
// "anthropic.claude-sonnet-4-5-20250929-v1:0" → "claude-sonnet-4-5-20250929".
func anthropicModelName(id string) string {
	name := strings.TrimPrefix(id, "anthropic.")
	if i := strings.LastIndex(name, "-v"); i > 0 && strings.Contains(name[i:], ":") {
		name = name[:i]
	}
	return name
}

// isClaude reports whether m takes the Anthropic Messages body on
// InvokeModel.
func isClaude(m Model) bool { return m.Provider == "Anthropic" && m.Conversational() }

// claudeInvocation is an InvokeModel call for Claude on its way to an
// answer.
type claudeInvocation struct {
	invocation
	claude *claudeRequest
}

// serveClaude answers InvokeModel and InvokeModelWithResponseStream for a
// Claude model: read the body, wait the latency, inject a requested error,
// resolve the model, validate, generate, bill, answer.
func (s *Server) serveClaude(w http.ResponseWriter, r *http.Request, modelID, region string, stream bool) {
	inv := &claudeInvocation{invocation: invocation{start: s.now(), modelID: modelID}}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.fail(w, validationError("Input is too long for requested model."))
		}
		return // the client is gone
	}
	m, resolveErr := resolveModel(modelID, region)
	var apiErr *apiError
	var conv *converseRequest
	if resolveErr == nil {
		inv.model = m
		if inv.claude, conv, apiErr = parseClaude(body, m); apiErr == nil {
			inv.req = *conv
			inv.req.GuardrailConfig, apiErr = headerGuardrail(r.Header)
		}
		if apiErr == nil {
			inv.marks, apiErr = parseMarkers(conv.Messages)
		}
	}
	if !sleep(r.Context(), max(minFirstByte, s.opts.Latency+inv.marks.latency)) {
		return
	}
	if code := inv.marks.failure(modelID); code != "" {
		s.fail(w, injectedError(code))
		return
	}
	for _, e := range []*apiError{resolveErr, apiErr} {
		if e != nil {
			s.fail(w, e)
			return
		}
	}
	meter := measurePrompt(inv.model.ID, &inv.req)
	inv.reply = generate(inv.model, &inv.req, meter.digest(), inv.marks)
	inv.usage = s.charge(inv.model, meter, inv.reply)
	s.bill(modelID, inv.usage)

	if stream {
		s.streamClaude(w, r, inv)
		return
	}
	if inv.marks.cut {
		dropConnection(w)
		return
	}
	h := w.Header()
	h.Set(headerInputTokens, strconv.Itoa(inv.usage.InputTokens))
	h.Set(headerOutputTokens, strconv.Itoa(inv.usage.OutputTokens))
	h.Set(headerCacheReadTokens, strconv.Itoa(inv.usage.CacheReadInputTokens))
	h.Set(headerCacheWriteTokens, strconv.Itoa(inv.usage.CacheWriteInputTokens))
	h.Set(headerLatency, strconv.FormatInt(s.now().Sub(inv.start).Milliseconds(), 10))
	writeJSON(w, inv.message())
}

// headerGuardrail reads the guardrail an InvokeModel call goes through, from
// its headers, and checks it as Converse's guardrailConfig is checked; nil
// when there is none.
func headerGuardrail(h http.Header) (*guardrailConfig, *apiError) {
	id := h.Get("X-Amzn-Bedrock-GuardrailIdentifier")
	if id == "" {
		return nil, nil
	}
	g := &guardrailConfig{GuardrailIdentifier: id, GuardrailVersion: h.Get("X-Amzn-Bedrock-GuardrailVersion"),
		Trace: strings.ToLower(h.Get("X-Amzn-Bedrock-Trace"))}
	if e := validateGuardrail(g); e != nil {
		return nil, e
	}
	return g, nil
}

// guardrailAction is what Bedrock adds to an answer that went through a
// guardrail: INTERVENED or NONE; "" without a guardrail.
func (inv *claudeInvocation) guardrailAction() string {
	switch {
	case inv.req.GuardrailConfig == nil:
		return ""
	case inv.reply.stopReason == stopGuardrail:
		return "INTERVENED"
	}
	return "NONE"
}

// claudeUsage is Anthropic's usage object.
type claudeUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// claudeMessageOut is Anthropic's message object.
type claudeMessageOut struct {
	ID           string           `json:"id"`
	Type         string           `json:"type"`
	Role         string           `json:"role"`
	Model        string           `json:"model"`
	Content      []map[string]any `json:"content"`
	StopReason   *string          `json:"stop_reason"`
	StopSequence *string          `json:"stop_sequence"`
	Usage        claudeUsage      `json:"usage"`
	// GuardrailAction is Bedrock's, for a call through a guardrail.
	GuardrailAction string `json:"amazon-bedrock-guardrailAction,omitempty"`
}

// messageID is an Anthropic-on-Bedrock message id derived from the
// conversation: "msg_bdrk_01" and 24 characters.
func (inv *claudeInvocation) messageID() string {
	return "msg_bdrk_01" + strings.TrimPrefix(toolUseID([]byte(inv.modelID+inv.reply.text), 99), "tooluse_")[:22]
}

// claudeToolID turns a simulated tool use id into Anthropic's form.
func claudeToolID(id string) string { return "toolu_bdrk_01" + strings.TrimPrefix(id, "tooluse_") }

// blocks returns the reply's content blocks in Anthropic's form.
func (inv *claudeInvocation) blocks() []map[string]any {
	var out []map[string]any
	for _, b := range inv.reply.content() {
		switch {
		case b.ReasoningContent != nil:
			rt := b.ReasoningContent.ReasoningText
			out = append(out, map[string]any{"type": "thinking", "thinking": rt.Text, "signature": rt.Signature})
		case b.Text != nil:
			out = append(out, map[string]any{"type": "text", "text": *b.Text})
		case b.ToolUse != nil:
			out = append(out, map[string]any{"type": "tool_use", "id": claudeToolID(b.ToolUse.ToolUseID), "name": b.ToolUse.Name, "input": json.RawMessage(b.ToolUse.Input)})
		}
	}
	return out
}

func (inv *claudeInvocation) usageOut() claudeUsage {
	return claudeUsage{
		InputTokens:              inv.usage.InputTokens,
		CacheCreationInputTokens: inv.usage.CacheWriteInputTokens,
		CacheReadInputTokens:     inv.usage.CacheReadInputTokens,
		OutputTokens:             inv.usage.OutputTokens,
	}
}

// stopSequence returns the stop sequence that ended the reply, or nil.
func (inv *claudeInvocation) stopSequence() *string {
	if inv.reply.stopReason != stopStopSequence {
		return nil
	}
	s := inv.reply.stopSequence
	return &s
}

// message is the non-streamed answer. A guardrail's intervention replaces
// the answer with its blocked message, which ends the turn.
func (inv *claudeInvocation) message() claudeMessageOut {
	stop := inv.stopReason()
	return claudeMessageOut{
		ID: inv.messageID(), Type: "message", Role: "assistant", Model: anthropicModelName(inv.model.ID),
		Content: inv.blocks(), StopReason: &stop, StopSequence: inv.stopSequence(), Usage: inv.usageOut(),
		GuardrailAction: inv.guardrailAction(),
	}
}

// stopReason is the reply's stop reason in Anthropic's terms.
func (inv *claudeInvocation) stopReason() string {
	if inv.reply.stopReason == stopGuardrail {
		return stopEndTurn
	}
	return inv.reply.stopReason
}

// decodeBase64JSON decodes a base64 blob holding JSON, for CountTokens.
func decodeBase64JSON(s string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return bytes.TrimSpace(b), true
}
