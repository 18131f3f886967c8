package converse

import (
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// This file holds the OpenAI side of the translation: the validated request
// that [ParseChatRequest] returns and the response bodies that
// [FromConverse] builds.

// Message roles accepted in an OpenAI chat request.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// ChatRequest is a decoded and validated OpenAI chat completion request.
// Build it with [ParseChatRequest]: [ToConverse] relies on the validation done
// there. Parameters that Tollgate accepts and ignores (seed, penalties,
// logit_bias, metadata, ...) are not kept.
type ChatRequest struct {
	Model         string         // as the client sent it; never empty
	Messages      []Message      // never empty
	Stream        bool           // stream the answer as server-sent events
	StreamOptions *StreamOptions // nil when absent; kept even without Stream
	User          string         // the client's end-user id, "" when absent

	MaxTokens           int      // max_tokens, 0 when absent; else >= 1
	MaxCompletionTokens int      // max_completion_tokens, 0 when absent; else >= 1
	Temperature         *float64 // 0..2, nil when absent
	TopP                *float64 // 0..1, nil when absent
	Stop                []string // at most 4 non-empty stop sequences

	Tools      []Tool     // function tools offered to the model
	ToolChoice ToolChoice // zero when absent

	// ReasoningEffort is reasoning_effort: "" when absent, else one of
	// none, minimal, low, medium, high or xhigh.
	ReasoningEffort string
	// ResponseFormat is response_format; nil when absent or {"type":"text"}.
	ResponseFormat *ResponseFormat
	// PromptCache is Tollgate's prompt_cache extension: nil when absent,
	// else whether to place cache points (it overrides the policy's
	// default). A non-empty prompt_cache_key without prompt_cache counts as
	// true.
	PromptCache *bool
}

// MaxOutputTokens returns max_completion_tokens if set, else max_tokens, and 0
// when neither is set (the model's own default then applies).
func (r *ChatRequest) MaxOutputTokens() int {
	if r.MaxCompletionTokens > 0 {
		return r.MaxCompletionTokens
	}
	return r.MaxTokens
}

// StreamOptions is the request's stream_options object.
type StreamOptions struct {
	IncludeUsage bool // send a last chunk with the usage and empty choices
}

// Message is one message of the conversation, with its content normalised
// to a list of parts whatever form the client used.
type Message struct {
	Role       string     // one of the Role constants
	Parts      []Part     // content; nil when content was null or absent
	ToolCalls  []ToolCall // assistant messages only
	ToolCallID string     // tool messages only; names an earlier tool call

	// Reasoning is what an assistant message echoes of the reasoning that
	// came with it (its reasoning_details), in order; nil when none.
	Reasoning []ReasoningDetail

	// toolInputs holds the decoded arguments of ToolCalls, in order, ready
	// for a smithy document. nil when the Message was not built by
	// ParseChatRequest.
	toolInputs []any
}

// PartKind tells which field of a Part is set.
type PartKind int

// The content part kinds Tollgate translates.
const (
	PartText     PartKind = iota // Text holds text (also an assistant's refusal part)
	PartImage                    // Image holds a decoded image
	PartDocument                 // Document holds a decoded file
)

// Part is one piece of a message's content.
type Part struct {
	Kind     PartKind
	Text     string
	Image    *Image
	Document *Document
}

// Document is a file part decoded from its base64 file_data.
type Document struct {
	Format types.DocumentFormat // from the media type, else the file name's extension
	Name   string               // reduced to what Bedrock accepts, unique in the request
	Data   []byte               // the raw file bytes
}

// ResponseFormat is the request's response_format when it asks for JSON.
type ResponseFormat struct {
	Type        string         // "json_object" or "json_schema"
	Name        string         // json_schema.name; "" for json_object
	Description string         // json_schema.description; "" when absent
	Schema      map[string]any // json_schema.schema (decoded as tool schemas are); nil for json_object
}

// Image is an image decoded from a data: URL.
type Image struct {
	Format types.ImageFormat // png, jpeg, gif or webp
	Data   []byte            // the raw image bytes; nil until a URL image is fetched
	// URL is the http(s) address of an image the client sent by URL; ""
	// for a data: URL. The gateway fetches it (with its SSRF guard) and
	// fills Format and Data before ToConverse: translation does no I/O.
	URL string
}

// Tool is a function the model may call.
type Tool struct {
	Name        string // matches ^[a-zA-Z0-9_-]{1,64}$, unique in the request
	Description string // "" when absent
	// Parameters is the function's JSON schema as decoded JSON values
	// (map[string]any, []any, string, bool, nil, and smithy
	// document.Number for numbers so that they reach Bedrock exactly).
	Parameters map[string]any
}

// ToolChoiceMode is the request's tool_choice, when it is a mode.
type ToolChoiceMode string

// The tool_choice modes. ToolChoiceFunction means a named function.
const (
	ToolChoiceDefault  ToolChoiceMode = ""
	ToolChoiceAuto     ToolChoiceMode = "auto"
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required"
	ToolChoiceFunction ToolChoiceMode = "function"
)

// ToolChoice is the request's tool_choice.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string // the function's name when Mode is ToolChoiceFunction
}

// ToolCall is a function call made by the model, as OpenAI shapes it in
// requests (assistant history) and responses.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // always "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall is the function part of a ToolCall.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"` // a JSON object, as text
}

// ChatCompletion is the body of a non-streamed chat completion response
// (OpenAI's CreateChatCompletionResponse).
type ChatCompletion struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"` // always "chat.completion"
	Created int64           `json:"created"`
	Model   string          `json:"model"`
	Choices []Choice        `json:"choices"`
	Usage   CompletionUsage `json:"usage"`
}

// Choice is the one choice of a ChatCompletion.
type Choice struct {
	Index        int             `json:"index"`
	Message      ResponseMessage `json:"message"`
	Logprobs     *struct{}       `json:"logprobs"` // always null: logprobs are refused
	FinishReason string          `json:"finish_reason"`
}

// ResponseMessage is the assistant's answer. Content and Refusal are
// required by the spec and encode as null when nil.
type ResponseMessage struct {
	Role      string     `json:"role"` // always "assistant"
	Content   *string    `json:"content"`
	Refusal   *string    `json:"refusal"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`

	// ReasoningContent is the model's reasoning as text, the field
	// DeepSeek, vLLM and most OpenAI-compatible clients read; absent when
	// the model did not reason or the server puts it in <think> tags.
	ReasoningContent *string `json:"reasoning_content,omitempty"`
	// ReasoningDetails are the reasoning blocks with their signatures, for
	// the client to send back unchanged with the assistant message: Claude
	// needs them to keep thinking across tool calls.
	ReasoningDetails []ReasoningDetail `json:"reasoning_details,omitempty"`
}

// Reasoning detail types, as OpenRouter names them.
const (
	ReasoningText      = "reasoning.text"      // Text and Signature
	ReasoningEncrypted = "reasoning.encrypted" // Data: Bedrock's redactedContent
)

// reasoningFormat marks the reasoning details Tollgate produces, so that a
// client mixing providers can tell them apart.
const reasoningFormat = "bedrock-converse"

// ReasoningDetail is one reasoning block as the response carries it and
// the client echoes it in reasoning_details.
type ReasoningDetail struct {
	Type      string `json:"type"`                // ReasoningText or ReasoningEncrypted
	Text      string `json:"text,omitempty"`      // the reasoning text
	Signature string `json:"signature,omitempty"` // proves Text came from the model
	Data      string `json:"data,omitempty"`      // base64 redacted reasoning
	Format    string `json:"format,omitempty"`    // "bedrock-converse"
	Index     int    `json:"index"`               // order among the message's reasoning blocks
}

// CompletionUsage is OpenAI's usage object. PromptTokens counts every input
// token billed, cached or not: see [Usage.Completion].
type CompletionUsage struct {
	PromptTokens            int                     `json:"prompt_tokens"`
	CompletionTokens        int                     `json:"completion_tokens"`
	TotalTokens             int                     `json:"total_tokens"`
	PromptTokensDetails     PromptTokensDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails CompletionTokensDetails `json:"completion_tokens_details"`
}

// PromptTokensDetails breaks down CompletionUsage.PromptTokens.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"` // Bedrock's cacheReadInputTokens
}

// CompletionTokensDetails breaks down CompletionUsage.CompletionTokens.
type CompletionTokensDetails struct {
	// ReasoningTokens estimates the part of CompletionTokens spent on
	// reasoning: Bedrock does not report it, so it is the reasoning text's
	// UTF-8 bytes / 4, rounded up, at most CompletionTokens.
	ReasoningTokens int `json:"reasoning_tokens"`
}
