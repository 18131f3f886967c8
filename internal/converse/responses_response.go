package converse

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// This file holds the response side of OpenAI's Responses API: the
// response object built from a Converse output, and the types the stream
// (responses_stream.go) shares.

// ResponsesMeta is what a response object needs from the request.
type ResponsesMeta struct {
	ID        string // "resp_...", from NewResponseID
	CreatedAt int64  // Unix seconds
	Model     string // echoed as the client sent it
	// JSONTool names the tool whose input is the JSON answer
	// ([ChatRequest.JSONTool] of the request's Chat); "" when none.
	JSONTool string
	Req      *ResponsesRequest
	// Now returns the time in Unix seconds, for completed_at; nil means
	// CreatedAt (translation reads no clock).
	Now func() int64
}

func (m *ResponsesMeta) now() int64 {
	if m.Now == nil {
		return m.CreatedAt
	}
	return m.Now()
}

// NewResponseID returns a new response id: "resp_" and 26 random characters
// from crypto/rand. Item ids derive from it.
func NewResponseID() string { return "resp_" + rand.Text() }

// itemID is the id of output item n of the response: prefix ("msg",
// "fc", "rs", "ctc") and the response id's random part.
func (m *ResponsesMeta) itemID(prefix string, n int) string {
	return prefix + "_" + strings.TrimPrefix(m.ID, "resp_") + "_" + strconv.Itoa(n)
}

// Response is OpenAI's response object (components.schemas.Response).
type Response struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"` // always "response"
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"` // in_progress, completed, incomplete, failed
	CompletedAt        *int64             `json:"completed_at"`
	Error              *ResponseError     `json:"error"`
	IncompleteDetails  *IncompleteDetails `json:"incomplete_details"`
	Instructions       json.RawMessage    `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []OutputItem       `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          ReasoningEcho      `json:"reasoning"`
	Store              bool               `json:"store"`
	Temperature        *float64           `json:"temperature"`
	Text               json.RawMessage    `json:"text"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	Tools              json.RawMessage    `json:"tools"`
	TopP               *float64           `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *ResponseUsage     `json:"usage,omitempty"`
	User               *string            `json:"user,omitempty"`
	PromptCacheKey     *string            `json:"prompt_cache_key,omitempty"`
	Metadata           json.RawMessage    `json:"metadata"`
}

// ResponseError is a failed response's error.
type ResponseError struct {
	Code    string `json:"code"` // server_error or rate_limit_exceeded
	Message string `json:"message"`
}

// IncompleteDetails says why a response is incomplete.
type IncompleteDetails struct {
	Reason string `json:"reason"` // max_output_tokens or content_filter
}

// ReasoningEcho is the response's reasoning settings.
type ReasoningEcho struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

// ResponseUsage is the Responses API's usage. InputTokens counts every
// input token billed, cached or not, as prompt_tokens does in chat.
type ResponseUsage struct {
	InputTokens         int                     `json:"input_tokens"`
	InputTokensDetails  InputTokensDetails      `json:"input_tokens_details"`
	OutputTokens        int                     `json:"output_tokens"`
	OutputTokensDetails CompletionTokensDetails `json:"output_tokens_details"`
	TotalTokens         int                     `json:"total_tokens"`
}

// InputTokensDetails breaks down ResponseUsage.InputTokens.
type InputTokensDetails struct {
	CachedTokens     int `json:"cached_tokens"`      // Bedrock's cacheReadInputTokens
	CacheWriteTokens int `json:"cache_write_tokens"` // Bedrock's cacheWriteInputTokens
}

// Responses returns the usage as the Responses API reports it;
// reasoningBytes are the bytes of reasoning text, for the estimate of
// reasoning_tokens.
func (u Usage) Responses(reasoningBytes int) ResponseUsage {
	in := u.Input + u.CacheRead + u.CacheWrite
	return ResponseUsage{
		InputTokens:         in,
		InputTokensDetails:  InputTokensDetails{CachedTokens: u.CacheRead, CacheWriteTokens: u.CacheWrite},
		OutputTokens:        u.Output,
		OutputTokensDetails: CompletionTokensDetails{ReasoningTokens: reasoningTokens(reasoningBytes, u.Output)},
		TotalTokens:         in + u.Output,
	}
}

// OutputItem is one item of a response's output: a message, a function
// call, a custom tool call or a reasoning item. Fields of other types are
// left out.
type OutputItem struct {
	ID     string `json:"id"`
	Type   string `json:"type"` // message, function_call, custom_tool_call, reasoning
	Status string `json:"status,omitempty"`

	// message
	Role    string       `json:"role,omitempty"`
	Content []OutputPart `json:"content,omitempty"`

	// function_call, custom_tool_call
	CallID    string  `json:"call_id,omitempty"`
	Namespace string  `json:"namespace,omitempty"`
	Name      string  `json:"name,omitempty"`
	Arguments *string `json:"arguments,omitempty"` // function_call
	Input     *string `json:"input,omitempty"`     // custom_tool_call

	// reasoning
	Summary          []SummaryPart `json:"summary,omitempty"`
	EncryptedContent *string       `json:"encrypted_content,omitempty"`
}

// MarshalJSON writes the fields each item type requires, even when empty
// (a message's content, a reasoning item's summary, a call's name).
func (it OutputItem) MarshalJSON() ([]byte, error) {
	type plain OutputItem
	switch it.Type {
	case "message":
		content := it.Content
		if content == nil {
			content = []OutputPart{}
		}
		return json.Marshal(struct {
			ID      string       `json:"id"`
			Type    string       `json:"type"`
			Status  string       `json:"status"`
			Role    string       `json:"role"`
			Content []OutputPart `json:"content"`
		}{it.ID, it.Type, it.Status, it.Role, content})
	case "reasoning":
		summary := it.Summary
		if summary == nil {
			summary = []SummaryPart{}
		}
		return json.Marshal(struct {
			ID               string        `json:"id"`
			Type             string        `json:"type"`
			Status           string        `json:"status,omitempty"`
			Summary          []SummaryPart `json:"summary"`
			EncryptedContent *string       `json:"encrypted_content,omitempty"`
		}{it.ID, it.Type, it.Status, summary, it.EncryptedContent})
	case "function_call":
		args := ""
		if it.Arguments != nil {
			args = *it.Arguments
		}
		return json.Marshal(struct {
			ID        string `json:"id"`
			Type      string `json:"type"`
			Status    string `json:"status,omitempty"`
			CallID    string `json:"call_id"`
			Namespace string `json:"namespace,omitempty"`
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		}{it.ID, it.Type, it.Status, it.CallID, it.Namespace, it.Name, args})
	case "custom_tool_call":
		input := ""
		if it.Input != nil {
			input = *it.Input
		}
		return json.Marshal(struct {
			ID     string `json:"id"`
			Type   string `json:"type"`
			Status string `json:"status,omitempty"`
			CallID string `json:"call_id"`
			Name   string `json:"name"`
			Input  string `json:"input"`
		}{it.ID, it.Type, it.Status, it.CallID, it.Name, input})
	}
	return json.Marshal(plain(it))
}

// OutputPart is an output_text part of a message item.
type OutputPart struct {
	Type        string `json:"type"` // output_text
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"` // always empty
	Logprobs    []any  `json:"logprobs"`    // always empty
}

func outputText(s string) OutputPart {
	return OutputPart{Type: "output_text", Text: s, Annotations: []any{}, Logprobs: []any{}}
}

// SummaryPart is a summary_text part of a reasoning item.
type SummaryPart struct {
	Type string `json:"type"` // summary_text
	Text string `json:"text"`
}

// incomplete returns a response's status and incomplete_details for stop
// reason r.
func incomplete(r types.StopReason) (string, *IncompleteDetails) {
	switch FinishReason(r) {
	case "length":
		return "incomplete", &IncompleteDetails{Reason: "max_output_tokens"}
	case "content_filter":
		return "incomplete", &IncompleteDetails{Reason: "content_filter"}
	}
	return "completed", nil
}

// base returns the response object as it starts: in progress, no output,
// the request's settings echoed.
func (m *ResponsesMeta) base() *Response {
	resp := &Response{ID: m.ID, Object: "response", CreatedAt: m.CreatedAt, Status: "in_progress", Model: m.Model,
		Output: []OutputItem{}, Truncation: "disabled", Instructions: json.RawMessage("null"), Tools: json.RawMessage("[]"),
		ToolChoice: json.RawMessage(`"auto"`), Metadata: json.RawMessage("{}"), Text: json.RawMessage(`{"format":{"type":"text"}}`), ParallelToolCalls: true}
	if m.Req == nil {
		return resp
	}
	e := &m.Req.Echo
	resp.Instructions, resp.Tools, resp.ToolChoice, resp.Metadata, resp.Text = e.Instructions, e.Tools, e.ToolChoice, e.Metadata, e.Text
	resp.Temperature, resp.TopP = e.Temperature, e.TopP
	if e.MaxOutputTokens > 0 {
		resp.MaxOutputTokens = ptr(e.MaxOutputTokens)
	}
	resp.ParallelToolCalls, resp.Store = e.ParallelToolCalls, e.Store
	if e.Effort != "" {
		resp.Reasoning.Effort = ptr(e.Effort)
	}
	if e.Summary != "" {
		resp.Reasoning.Summary = ptr(e.Summary)
	}
	if e.User != "" {
		resp.User = ptr(e.User)
	}
	if e.PromptCacheKey != "" {
		resp.PromptCacheKey = ptr(e.PromptCacheKey)
	}
	return resp
}

// callItem builds the output item of a tool call: a function_call, split
// back into namespace and name, or a custom_tool_call.
func (m *ResponsesMeta) callItem(n int, callID, bedrockName, args, status string) OutputItem {
	if m.Req != nil && m.Req.IsCustom(bedrockName) {
		var in map[string]any
		text := args
		if json.Unmarshal([]byte(args), &in) == nil {
			if s, ok := in[customInput].(string); ok {
				text = s
			}
		}
		return OutputItem{ID: m.itemID("ctc", n), Type: "custom_tool_call", Status: status, CallID: callID, Name: bedrockName, Input: &text}
	}
	ns, name := "", bedrockName
	if m.Req != nil {
		ns, name = m.Req.Split(bedrockName)
	}
	return OutputItem{ID: m.itemID("fc", n), Type: "function_call", Status: status, CallID: callID, Namespace: ns, Name: name, Arguments: &args}
}

func reasoningItem(id, text string, d ReasoningDetail, status string) OutputItem {
	it := OutputItem{ID: id, Type: "reasoning", Status: status, Summary: []SummaryPart{}}
	if text != "" {
		it.Summary = []SummaryPart{{Type: "summary_text", Text: text}}
	}
	if d.Type != "" {
		it.EncryptedContent = ptr(EncodeReasoning(d))
	}
	return it
}

// FromConverseResponses builds the response object from a Converse output:
// one output item per Bedrock content block, in order (a reasoning item
// whose summary is the reasoning text and whose encrypted_content carries
// the block, signature included, for the client to send back; a message
// with one output_text part; a function_call, or custom_tool_call, per tool
// use). A call to meta.JSONTool becomes the message's text. Status is
// completed, or incomplete with the reason (max_output_tokens,
// content_filter). Errors are those of [FromConverse].
func FromConverseResponses(out *bedrockruntime.ConverseOutput, meta ResponsesMeta) (*Response, Usage, error) {
	if out == nil {
		return nil, Usage{}, badResponse("Bedrock returned an empty response.")
	}
	usage := usageFrom(out.Usage)
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		return nil, usage, badResponse("Bedrock returned a response without a message.")
	}
	resp := meta.base()
	reasoningBytes := 0
	for _, b := range msg.Value.Content {
		n := len(resp.Output)
		switch b := b.(type) {
		case *types.ContentBlockMemberText:
			if meta.JSONTool != "" || b.Value == "" {
				continue
			}
			resp.Output = append(resp.Output, OutputItem{ID: meta.itemID("msg", n), Type: "message", Status: "completed", Role: RoleAssistant, Content: []OutputPart{outputText(b.Value)}})
		case *types.ContentBlockMemberToolUse:
			args, err := toolUseArguments(b.Value)
			if err != nil {
				e := badResponse("Bedrock returned a tool call whose input cannot be read.")
				e.Cause = err
				return nil, usage, e
			}
			if name := stringValue(b.Value.Name); meta.JSONTool != "" && name == meta.JSONTool {
				resp.Output = append(resp.Output, OutputItem{ID: meta.itemID("msg", n), Type: "message", Status: "completed", Role: RoleAssistant, Content: []OutputPart{outputText(args)}})
				continue
			}
			resp.Output = append(resp.Output, meta.callItem(n, stringValue(b.Value.ToolUseId), stringValue(b.Value.Name), args, "completed"))
		case *types.ContentBlockMemberReasoningContent:
			switch rc := b.Value.(type) {
			case *types.ReasoningContentBlockMemberReasoningText:
				t := stringValue(rc.Value.Text)
				reasoningBytes += len(t)
				d := ReasoningDetail{Type: ReasoningText, Text: t, Signature: stringValue(rc.Value.Signature)}
				if d.Signature == "" {
					d = ReasoningDetail{}
				}
				resp.Output = append(resp.Output, reasoningItem(meta.itemID("rs", n), t, d, ""))
			case *types.ReasoningContentBlockMemberRedactedContent:
				d := ReasoningDetail{Type: ReasoningEncrypted, Data: base64.StdEncoding.EncodeToString(rc.Value)}
				resp.Output = append(resp.Output, reasoningItem(meta.itemID("rs", n), "", d, ""))
			}
		}
	}
	resp.Status, resp.IncompleteDetails = incomplete(out.StopReason)
	if resp.Status == "completed" {
		resp.CompletedAt = ptr(meta.now())
	}
	u := usage.Responses(reasoningBytes)
	resp.Usage = &u
	return resp, usage, nil
}
