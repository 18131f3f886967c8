package converse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-gw/tollgate"
)

// This file holds the request side of OpenAI's Responses API: a request
// body becomes the equivalent [ChatRequest], which ToConverse, OutputCap
// and the budget's measures then take as they take a chat request.

// ResponsesRequest is a decoded and validated Responses API request. Build
// it with [ParseResponsesRequest].
type ResponsesRequest struct {
	// Chat is the request as a chat completion: its messages (instructions
	// and the input items), tools, sampling and output settings.
	Chat ChatRequest
	// Echo is what the response object repeats of the request.
	Echo ResponsesEcho

	params []string        // the input item each of Chat.Messages came from, for errors
	names  toolNames       // Bedrock tool names ⇄ namespace and name
	custom map[string]bool // the tools that are custom (freeform) tools, by Bedrock name
}

// ResponsesEcho holds the request fields a response object repeats, as the
// client sent them (JSON), or the defaults OpenAI reports.
type ResponsesEcho struct {
	Instructions      json.RawMessage // null when absent
	Tools             json.RawMessage // [] when absent
	ToolChoice        json.RawMessage // "auto" when absent
	Metadata          json.RawMessage // {} when absent
	Text              json.RawMessage // {"format":{"type":"text"}} when absent
	Temperature       *float64
	TopP              *float64
	MaxOutputTokens   int // 0: null
	ParallelToolCalls bool
	Store             bool
	Effort            string // reasoning.effort, "" when absent
	Summary           string // reasoning.summary, "" when absent
	PromptCacheKey    string
	User              string
}

// toolNames maps the Bedrock name of each tool of a namespace to its
// namespace and name, and back. A function tool outside a namespace keeps
// its name.
type toolNames struct {
	flat map[string][2]string // Bedrock name → namespace, name
	back map[[2]string]string // namespace, name → Bedrock name
}

// namespaceSeparator joins a namespace and a tool name into a Bedrock tool
// name.
const namespaceSeparator = "__"

func (n *toolNames) add(ns, name string) string {
	if n.flat == nil {
		n.flat, n.back = map[string][2]string{}, map[[2]string]string{}
	}
	key := [2]string{ns, name}
	if f, ok := n.back[key]; ok {
		return f
	}
	f := flatName(ns, name)
	for i := 2; ; i++ {
		if _, taken := n.flat[f]; !taken {
			break
		}
		suffix := "_" + strconv.Itoa(i)
		f = flatName(ns, name)
		f = f[:min(len(f), 64-len(suffix))] + suffix
	}
	n.flat[f], n.back[key] = key, f
	return f
}

// flatName joins ns and name into a name Bedrock takes
// (^[a-zA-Z0-9_-]{1,64}$): other characters become '_', and the result is
// cut to 64 characters. The table in toolNames keeps the way back exact.
func flatName(ns, name string) string {
	s := []byte(ns + namespaceSeparator + name)
	if ns == "" {
		s = []byte(name)
	}
	for i, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			s[i] = '_'
		}
	}
	return string(s[:min(len(s), 64)])
}

// Split returns the namespace and name of the tool Bedrock calls bedrockName
// ("" and bedrockName for a tool outside a namespace).
func (r *ResponsesRequest) Split(bedrockName string) (namespace, name string) {
	if k, ok := r.names.flat[bedrockName]; ok {
		return k[0], k[1]
	}
	return "", bedrockName
}

// IsCustom reports whether the tool Bedrock calls bedrockName is a custom
// (freeform text) tool.
func (r *ResponsesRequest) IsCustom(bedrockName string) bool { return r.custom[bedrockName] }

// customInput is the one parameter of the function a custom tool becomes:
// its freeform text input.
const customInput = "input"

type wireResponsesRequest struct {
	Model              *string         `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       json.RawMessage `json:"instructions"`
	Stream             *bool           `json:"stream"`
	MaxOutputTokens    *int64          `json:"max_output_tokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"top_p"`
	Tools              json.RawMessage `json:"tools"`
	ToolChoice         json.RawMessage `json:"tool_choice"`
	ParallelToolCalls  *bool           `json:"parallel_tool_calls"`
	Reasoning          json.RawMessage `json:"reasoning"`
	Text               json.RawMessage `json:"text"`
	Metadata           json.RawMessage `json:"metadata"`
	User               *string         `json:"user"`
	SafetyIdentifier   *string         `json:"safety_identifier"`
	Store              *bool           `json:"store"`
	PreviousResponseID *string         `json:"previous_response_id"`
	Conversation       json.RawMessage `json:"conversation"`
	Background         *bool           `json:"background"`
	Prompt             json.RawMessage `json:"prompt"`
	TopLogprobs        *int64          `json:"top_logprobs"`
	PromptCacheKey     *string         `json:"prompt_cache_key"`
	PromptCache        *bool           `json:"prompt_cache"`
}

type wireItem struct {
	Type             *string         `json:"type"`
	Role             *string         `json:"role"`
	Content          json.RawMessage `json:"content"`
	CallID           *string         `json:"call_id"`
	Name             *string         `json:"name"`
	Namespace        *string         `json:"namespace"`
	Arguments        *string         `json:"arguments"`
	Input            *string         `json:"input"`
	Output           json.RawMessage `json:"output"`
	EncryptedContent *string         `json:"encrypted_content"`
}

type wireInputPart struct {
	Type     *string         `json:"type"`
	Text     *string         `json:"text"`
	Refusal  *string         `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"`
	FileID   *string         `json:"file_id"`
}

type wireResponsesTool struct {
	Type        *string         `json:"type"`
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Tools       json.RawMessage `json:"tools"`
}

// ParseResponsesRequest decodes and validates a Responses API request body
// (POST /v1/responses). Errors are *tollgate.Error of Kind Invalid naming
// the parameter as OpenAI does ("input[2].content[0].image_url",
// "tools[1].type"). Tool types Bedrock cannot run (web_search, file_search,
// code_interpreter, computer use, hosted MCP, image_generation, ...) and
// previous_response_id are refused with a 400 naming them: Tollgate keeps no
// responses, so a client sends the whole history every turn.
func ParseResponsesRequest(body []byte) (*ResponsesRequest, error) {
	var w wireResponsesRequest
	if err := decodeBody(body, &w); err != nil {
		return nil, err
	}
	r := &ResponsesRequest{}
	c := &r.Chat
	if w.Model == nil || *w.Model == "" {
		return nil, invalid(codeMissing, "model", "Missing required parameter: 'model'. Name the Bedrock model to call, e.g. \"anthropic.claude-3-haiku-20240307-v1:0\".")
	}
	c.Model = *w.Model
	if err := checkModelID(c.Model); err != nil {
		return nil, err
	}
	if err := responsesUnsupported(&w); err != nil {
		return nil, err
	}
	c.Stream = w.Stream != nil && *w.Stream
	var err error
	if c.MaxCompletionTokens, err = parseMaxTokens(w.MaxOutputTokens, "max_output_tokens"); err != nil {
		return nil, err
	}
	if err := checkRange(w.Temperature, "temperature", 2); err != nil {
		return nil, err
	}
	if err := checkRange(w.TopP, "top_p", 1); err != nil {
		return nil, err
	}
	c.Temperature, c.TopP = w.Temperature, w.TopP
	switch {
	case w.User != nil:
		c.User = *w.User
	case w.SafetyIdentifier != nil:
		c.User = *w.SafetyIdentifier
	}
	switch {
	case w.PromptCache != nil:
		c.PromptCache = w.PromptCache
	case w.PromptCacheKey != nil && *w.PromptCacheKey != "":
		c.PromptCache = ptr(true)
	}
	if err := r.parseTools(w.Tools); err != nil {
		return nil, err
	}
	if c.ToolChoice, err = r.parseToolChoice(w.ToolChoice); err != nil {
		return nil, err
	}
	if err := r.parseReasoning(w.Reasoning); err != nil {
		return nil, err
	}
	if c.ResponseFormat, err = parseTextFormat(w.Text); err != nil {
		return nil, err
	}
	if err := r.parseInstructions(w.Instructions); err != nil {
		return nil, err
	}
	if err := r.parseInput(w.Input); err != nil {
		return nil, err
	}
	if err := checkDocuments(c.Messages); err != nil {
		return nil, r.InputError(err)
	}

	e := &r.Echo
	e.Instructions = orJSON(w.Instructions, "null")
	e.Tools = echoTools(orJSON(w.Tools, "[]"))
	e.ToolChoice = orJSON(w.ToolChoice, `"auto"`)
	e.Metadata = orJSON(w.Metadata, "{}")
	e.Text = orJSON(w.Text, `{"format":{"type":"text"}}`)
	e.Temperature, e.TopP = w.Temperature, w.TopP
	e.MaxOutputTokens = c.MaxCompletionTokens
	e.ParallelToolCalls = w.ParallelToolCalls == nil || *w.ParallelToolCalls
	e.Store = w.Store == nil || *w.Store
	e.Effort = c.ReasoningEffort
	e.User = c.User
	if w.PromptCacheKey != nil {
		e.PromptCacheKey = *w.PromptCacheKey
	}
	return r, nil
}

func orJSON(raw json.RawMessage, dflt string) json.RawMessage {
	if isNull(raw) {
		return json.RawMessage(dflt)
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return json.RawMessage(dflt)
	}
	return b.Bytes()
}

// echoTools returns the request's tools as a response repeats them: every
// function tool with the strict and parameters fields OpenAI's schema
// requires (null when the request left them out).
func echoTools(raw json.RawMessage) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tools []map[string]any
	if dec.Decode(&tools) != nil {
		return raw
	}
	var fill func(ts []map[string]any)
	fill = func(ts []map[string]any) {
		for _, t := range ts {
			switch t["type"] {
			case "function":
				for _, k := range []string{"strict", "parameters"} {
					if _, ok := t[k]; !ok {
						t[k] = nil
					}
				}
			case "namespace":
				if inner, ok := t["tools"].([]any); ok {
					for _, it := range inner {
						if m, ok := it.(map[string]any); ok {
							fill([]map[string]any{m})
						}
					}
				}
			}
		}
	}
	fill(tools)
	b, err := json.Marshal(tools)
	if err != nil {
		return raw
	}
	return b
}

// responsesUnsupported refuses what needs state Tollgate does not keep, or
// would change the answer in a way Bedrock cannot honour.
func responsesUnsupported(w *wireResponsesRequest) error {
	if w.PreviousResponseID != nil && *w.PreviousResponseID != "" {
		return invalid(codeUnsupportedParam, "previous_response_id", "Unsupported parameter: 'previous_response_id'. Tollgate stores no responses: send the whole conversation in 'input' every turn (with store: false), as Codex does.")
	}
	if !isNull(w.Conversation) {
		return invalid(codeUnsupportedParam, "conversation", "Unsupported parameter: 'conversation'. Tollgate stores no conversations: send the whole conversation in 'input' every turn.")
	}
	if w.Background != nil && *w.Background {
		return invalid(codeUnsupportedValue, "background", "Unsupported value: 'background' must be false; Tollgate answers while the request waits, or streams.")
	}
	if !isNull(w.Prompt) {
		return invalid(codeUnsupportedParam, "prompt", "Unsupported parameter: 'prompt'. Stored prompt templates are not supported; send 'instructions' and 'input'.")
	}
	if w.TopLogprobs != nil && *w.TopLogprobs != 0 {
		return invalid(codeUnsupportedParam, "top_logprobs", "Unsupported parameter: 'top_logprobs'; Bedrock does not return log probabilities.")
	}
	return nil
}

// parseInstructions makes instructions (a string, or a list of input items)
// the first system message.
func (r *ResponsesRequest) parseInstructions(raw json.RawMessage) error {
	switch firstByte(raw) {
	case 'n', 0:
		return nil
	case '"':
		var s string
		if err := decodeInto(raw, &s, "instructions"); err != nil {
			return err
		}
		r.add(Message{Role: RoleSystem, Parts: []Part{{Kind: PartText, Text: s}}}, "instructions")
		return nil
	case '[':
		return r.parseItems(raw, "instructions")
	}
	return invalid(codeInvalidType, "instructions", "Invalid type for 'instructions': expected a string or an array of input items, but got %s instead.", rawKind(raw))
}

func (r *ResponsesRequest) parseInput(raw json.RawMessage) error {
	switch firstByte(raw) {
	case 'n', 0:
		return invalid(codeMissing, "input", "Missing required parameter: 'input'.")
	case '"':
		var s string
		if err := decodeInto(raw, &s, "input"); err != nil {
			return err
		}
		r.add(Message{Role: RoleUser, Parts: []Part{{Kind: PartText, Text: s}}}, "input")
		return nil
	case '[':
		if err := r.parseItems(raw, "input"); err != nil {
			return err
		}
		if len(r.Chat.Messages) == 0 {
			return invalid(codeEmptyArray, "input", "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.")
		}
		return nil
	}
	return invalid(codeInvalidType, "input", "Invalid type for 'input': expected a string or an array of input items, but got %s instead.", rawKind(raw))
}

// add appends m, which came from the item named p.
func (r *ResponsesRequest) add(m Message, p string) {
	r.Chat.Messages = append(r.Chat.Messages, m)
	r.params = append(r.params, p)
}

// lastAssistant returns the last message when it is the assistant's, to
// which the items of the same turn (reasoning, text, calls) are added, so
// that the turn's reasoning opens it; nil otherwise.
func (r *ResponsesRequest) lastAssistant() *Message {
	if n := len(r.Chat.Messages); n > 0 && r.Chat.Messages[n-1].Role == RoleAssistant {
		return &r.Chat.Messages[n-1]
	}
	return nil
}

// assistant returns the assistant message the item named p belongs to.
func (r *ResponsesRequest) assistant(p string) *Message {
	if m := r.lastAssistant(); m != nil {
		return m
	}
	r.add(Message{Role: RoleAssistant}, p)
	return r.lastAssistant()
}

func (r *ResponsesRequest) parseItems(raw json.RawMessage, base string) error {
	var raws []json.RawMessage
	if err := decodeInto(raw, &raws, base); err != nil {
		return invalid(codeInvalidType, base, "Invalid type for '%s': expected an array of input items, but got %s instead.", base, rawKind(raw))
	}
	calls := map[string]string{} // call id → Bedrock tool name, of the calls so far
	for i, ri := range raws {
		p := base + "[" + strconv.Itoa(i) + "]"
		if firstByte(ri) != '{' {
			return invalid(codeInvalidType, p, "Invalid type for '%s': expected an input item object, but got %s instead.", p, rawKind(ri))
		}
		var w wireItem
		if err := decodeInto(ri, &w, p); err != nil {
			return err
		}
		typ := "message"
		if w.Type != nil {
			typ = *w.Type
		}
		if err := r.parseItem(typ, &w, p, calls); err != nil {
			return err
		}
	}
	return nil
}

func (r *ResponsesRequest) parseItem(typ string, w *wireItem, p string, calls map[string]string) error {
	switch typ {
	case "message":
		return r.parseMessageItem(w, p)
	case "function_call", "custom_tool_call":
		if w.CallID == nil || *w.CallID == "" {
			return invalid(codeMissing, p+".call_id", "Missing required parameter: '%s.call_id'.", p)
		}
		if w.Name == nil || *w.Name == "" {
			return invalid(codeMissing, p+".name", "Missing required parameter: '%s.name'.", p)
		}
		ns := ""
		if w.Namespace != nil {
			ns = *w.Namespace
		}
		name := *w.Name
		if ns != "" {
			name = r.names.add(ns, name)
		} else if !validToolName(name) {
			name = r.names.add("", name)
		}
		var args string
		var input map[string]any
		if typ == "custom_tool_call" {
			text := ""
			if w.Input != nil {
				text = *w.Input
			}
			b, _ := json.Marshal(map[string]string{customInput: text}) // a map of strings cannot fail to encode
			args, input = string(b), map[string]any{customInput: text}
		} else {
			if w.Arguments != nil {
				args = *w.Arguments
			}
			var err error
			if input, err = decodeArguments(args); err != nil {
				return invalid(codeInvalidValue, p+".arguments", "Invalid '%s.arguments': %v. Arguments must be a JSON object, as a string.", p, err)
			}
		}
		m := r.assistant(p)
		m.ToolCalls = append(m.ToolCalls, ToolCall{ID: *w.CallID, Type: "function", Function: FunctionCall{Name: name, Arguments: args}})
		m.toolInputs = append(m.toolInputs, input)
		calls[*w.CallID] = name
		return nil
	case "function_call_output", "custom_tool_call_output":
		if w.CallID == nil || *w.CallID == "" {
			return invalid(codeMissing, p+".call_id", "Missing required parameter: '%s.call_id'.", p)
		}
		if _, ok := calls[*w.CallID]; !ok {
			return invalid(codeInvalidValue, p+".call_id", "Invalid '%s.call_id': %q answers no %s item before it. Send the call with its output, in order.", p, *w.CallID, strings.TrimSuffix(typ, "_output"))
		}
		parts, err := parseToolOutput(w.Output, p+".output")
		if err != nil {
			return err
		}
		r.add(Message{Role: RoleTool, ToolCallID: *w.CallID, Parts: parts}, p)
		return nil
	case "reasoning":
		if w.EncryptedContent == nil || *w.EncryptedContent == "" {
			return nil // nothing Bedrock can take back
		}
		d, ok := decodeReasoning(*w.EncryptedContent)
		if !ok {
			return nil // another provider's reasoning: Bedrock cannot read it
		}
		m := r.assistant(p)
		d.Index = len(m.Reasoning)
		m.Reasoning = append(m.Reasoning, d)
		return nil
	case "item_reference":
		return invalid(codeUnsupportedValue, p+".type", "Unsupported value: '%s.type' \"item_reference\". Tollgate stores no items: send the item itself.", p)
	}
	return invalid(codeUnsupportedValue, p+".type", "Unsupported value: '%s.type' %q. Tollgate takes input items of type message, function_call, function_call_output, custom_tool_call, custom_tool_call_output and reasoning.", p, typ)
}

func (r *ResponsesRequest) parseMessageItem(w *wireItem, p string) error {
	if w.Role == nil {
		return invalid(codeMissing, p+".role", "Missing required parameter: '%s.role'.", p)
	}
	role := *w.Role
	switch role {
	case RoleUser, RoleSystem, RoleDeveloper, RoleAssistant:
	default:
		return invalid(codeInvalidValue, p+".role", "Invalid value for '%s.role': %q. Supported values are: 'user', 'assistant', 'system', and 'developer'.", p, role)
	}
	if isNull(w.Content) {
		return invalid(codeMissing, p+".content", "Missing required parameter: '%s.content'.", p)
	}
	parts, err := parseInputContent(w.Content, p+".content", role)
	if err != nil {
		return err
	}
	if role == RoleAssistant {
		m := r.assistant(p)
		m.Parts = append(m.Parts, parts...)
		return nil
	}
	r.add(Message{Role: role, Parts: parts}, p)
	return nil
}

// parseInputContent normalises a message item's content (a string or a
// list of input_text, input_image, input_file parts; output_text and
// refusal for the assistant).
func parseInputContent(raw json.RawMessage, p, role string) ([]Part, error) {
	if firstByte(raw) == '"' {
		var s string
		if err := decodeInto(raw, &s, p); err != nil {
			return nil, err
		}
		return []Part{{Kind: PartText, Text: s}}, nil
	}
	if firstByte(raw) != '[' {
		return nil, invalid(codeInvalidType, p, "Invalid type for '%s': expected a string or an array of content parts, but got %s instead.", p, rawKind(raw))
	}
	var raws []json.RawMessage
	if err := decodeInto(raw, &raws, p); err != nil {
		return nil, err
	}
	parts := make([]Part, 0, len(raws))
	for j, rp := range raws {
		pp := p + "[" + strconv.Itoa(j) + "]"
		if firstByte(rp) != '{' {
			return nil, invalid(codeInvalidType, pp, "Invalid type for '%s': expected a content part object, but got %s instead.", pp, rawKind(rp))
		}
		var w wireInputPart
		if err := decodeInto(rp, &w, pp); err != nil {
			return nil, err
		}
		if w.Type == nil {
			return nil, invalid(codeMissing, pp+".type", "Missing required parameter: '%s.type'.", pp)
		}
		t := *w.Type
		switch {
		case t == "input_text" || t == "output_text" || t == "text" || t == "summary_text" || t == "reasoning_text":
			if w.Text == nil {
				return nil, invalid(codeMissing, pp+".text", "Missing required parameter: '%s.text'.", pp)
			}
			parts = append(parts, Part{Kind: PartText, Text: *w.Text})
		case t == "refusal" && role == RoleAssistant:
			if w.Refusal == nil {
				return nil, invalid(codeMissing, pp+".refusal", "Missing required parameter: '%s.refusal'.", pp)
			}
			parts = append(parts, Part{Kind: PartText, Text: *w.Refusal})
		case t == "input_image" && role == RoleUser:
			if w.FileID != nil && *w.FileID != "" {
				return nil, invalid(codeUnsupportedParam, pp+".file_id", "Unsupported parameter: '%s.file_id'. Tollgate has no Files API: send image_url (a data: URL or an https URL).", pp)
			}
			img, err := parseImageURL(w.ImageURL, pp+".image_url")
			if err != nil {
				return nil, err
			}
			parts = append(parts, Part{Kind: PartImage, Image: img})
		case t == "input_file" && role == RoleUser:
			doc, err := parseFile(rp, pp)
			if err != nil {
				return nil, err
			}
			parts = append(parts, Part{Kind: PartDocument, Document: doc})
		default:
			return nil, invalid(codeInvalidValue, pp+".type", "Invalid value for '%s.type': %q is not a content part type a %s message may carry (%s).", pp, t, role, responsesPartTypes(role))
		}
	}
	return parts, nil
}

func responsesPartTypes(role string) string {
	switch role {
	case RoleUser:
		return "input_text, input_image, input_file"
	case RoleAssistant:
		return "output_text, refusal"
	}
	return "input_text"
}

// parseToolOutput reads a function_call_output's output: a string, or a
// list of parts of which the text ones are kept.
func parseToolOutput(raw json.RawMessage, p string) ([]Part, error) {
	switch firstByte(raw) {
	case 'n', 0:
		return nil, invalid(codeMissing, p, "Missing required parameter: '%s'.", p)
	case '"':
		var s string
		if err := decodeInto(raw, &s, p); err != nil {
			return nil, err
		}
		return []Part{{Kind: PartText, Text: s}}, nil
	case '[':
		var ws []wireInputPart
		if err := decodeInto(raw, &ws, p); err != nil {
			return nil, err
		}
		var parts []Part
		for j, w := range ws {
			pp := p + "[" + strconv.Itoa(j) + "]"
			switch {
			case w.Type != nil && (*w.Type == "input_text" || *w.Type == "output_text") && w.Text != nil:
				parts = append(parts, Part{Kind: PartText, Text: *w.Text})
			case w.Type != nil && *w.Type == "input_image" && (w.FileID == nil || *w.FileID == ""):
				img, err := parseImageURL(w.ImageURL, pp+".image_url")
				if err != nil {
					return nil, err
				}
				parts = append(parts, Part{Kind: PartImage, Image: img})
			default:
				return nil, invalid(codeUnsupportedValue, pp, "Unsupported value: '%s': a tool output may carry input_text and input_image parts (an image_url).", pp)
			}
		}
		return parts, nil
	}
	return nil, invalid(codeInvalidType, p, "Invalid type for '%s': expected a string or an array of content parts, but got %s instead.", p, rawKind(raw))
}

// hostedTools are the Responses tool types OpenAI runs itself: Bedrock has
// no counterpart, so they are refused rather than dropped.
var hostedTools = map[string]bool{
	"web_search": true, "web_search_preview": true, "web_search_2025_08_26": true, "web_search_preview_2025_03_11": true,
	"file_search": true, "code_interpreter": true, "computer_use_preview": true, "computer": true,
	"mcp": true, "image_generation": true, "local_shell": true, "shell": true, "apply_patch": true, "tool_search": true,
}

func (r *ResponsesRequest) parseTools(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var raws []json.RawMessage
	if err := decodeInto(raw, &raws, "tools"); err != nil {
		return invalid(codeInvalidType, "tools", "Invalid type for 'tools': expected an array of tools, but got %s instead.", rawKind(raw))
	}
	seen := map[string]bool{}
	for i, rt := range raws {
		p := "tools[" + strconv.Itoa(i) + "]"
		if err := r.parseTool(rt, p, "", seen); err != nil {
			return err
		}
	}
	return nil
}

// parseTool adds one tool of the request (of namespace ns when not "").
func (r *ResponsesRequest) parseTool(raw json.RawMessage, p, ns string, seen map[string]bool) error {
	if firstByte(raw) != '{' {
		return invalid(codeInvalidType, p, "Invalid type for '%s': expected a tool object, but got %s instead.", p, rawKind(raw))
	}
	var w wireResponsesTool
	if err := decodeInto(raw, &w, p); err != nil {
		return err
	}
	if w.Type == nil {
		return invalid(codeMissing, p+".type", "Missing required parameter: '%s.type'.", p)
	}
	typ := *w.Type
	switch {
	case typ == "function" || typ == "custom":
	case typ == "namespace" && ns == "":
		if w.Name == nil || *w.Name == "" {
			return invalid(codeMissing, p+".name", "Missing required parameter: '%s.name'.", p)
		}
		var raws []json.RawMessage
		if err := decodeInto(w.Tools, &raws, p+".tools"); err != nil || len(raws) == 0 {
			return invalid(codeInvalidValue, p+".tools", "Invalid '%s.tools': expected a non-empty array of function tools.", p)
		}
		for j, rt := range raws {
			if err := r.parseTool(rt, p+".tools["+strconv.Itoa(j)+"]", *w.Name, seen); err != nil {
				return err
			}
		}
		return nil
	case hostedTools[typ]:
		return invalid(codeUnsupportedValue, p+".type", "Unsupported value: '%s.type' %q. Bedrock cannot run OpenAI's hosted tools; Tollgate takes function, custom and namespace tools (for Codex, disable web search: web_search = \"disabled\").", p, typ)
	default:
		return invalid(codeUnsupportedValue, p+".type", "Unsupported value: '%s.type' %q. Tollgate takes function, custom and namespace tools.", p, typ)
	}
	if w.Name == nil || *w.Name == "" {
		return invalid(codeMissing, p+".name", "Missing required parameter: '%s.name'.", p)
	}
	name := *w.Name
	if ns != "" || !validToolName(name) {
		name = r.names.add(ns, name)
	}
	if seen[name] {
		return invalid(codeInvalidValue, p+".name", "Invalid '%s.name': %q is defined twice; tool names must be unique.", p, *w.Name)
	}
	seen[name] = true
	t := Tool{Name: name}
	if w.Description != nil {
		t.Description = *w.Description
	}
	if typ == "custom" {
		if r.custom == nil {
			r.custom = map[string]bool{}
		}
		r.custom[name] = true
		t.Parameters = map[string]any{"type": "object", "required": []any{customInput},
			"properties": map[string]any{customInput: map[string]any{"type": "string", "description": "The tool's input, as free text."}}}
	} else {
		params, err := parseParameters(w.Parameters, p+".parameters")
		if err != nil {
			return err
		}
		delete(params, "$schema") // Bedrock's validator takes no meta-schema
		t.Parameters = params
	}
	r.Chat.Tools = append(r.Chat.Tools, t)
	return nil
}

func (r *ResponsesRequest) parseToolChoice(raw json.RawMessage) (ToolChoice, error) {
	var tc ToolChoice
	switch firstByte(raw) {
	case 'n', 0:
		return tc, nil
	case '"':
		return toolChoiceMode(raw, len(r.Chat.Tools) > 0)
	case '{':
	default:
		return tc, invalid(codeInvalidType, "tool_choice", "Invalid type for 'tool_choice': expected a string or an object, but got %s instead.", rawKind(raw))
	}
	var w struct {
		Type      *string `json:"type"`
		Name      *string `json:"name"`
		Namespace *string `json:"namespace"`
	}
	if err := decodeInto(raw, &w, "tool_choice"); err != nil {
		return tc, err
	}
	if w.Type == nil {
		return tc, invalid(codeMissing, "tool_choice.type", "Missing required parameter: 'tool_choice.type'.")
	}
	if *w.Type != "function" && *w.Type != "custom" {
		return tc, invalid(codeUnsupportedValue, "tool_choice.type", "Unsupported value: 'tool_choice.type' %q; Tollgate takes \"function\" and \"custom\".", *w.Type)
	}
	if w.Name == nil || *w.Name == "" {
		return tc, invalid(codeMissing, "tool_choice.name", "Missing required parameter: 'tool_choice.name'.")
	}
	name := *w.Name
	if w.Namespace != nil && *w.Namespace != "" {
		name = r.names.back[[2]string{*w.Namespace, name}]
	} else if f, ok := r.names.back[[2]string{"", name}]; ok {
		name = f
	}
	if !r.Chat.hasTool(name) {
		return tc, invalid(codeInvalidValue, "tool_choice", "Invalid value for 'tool_choice': tool %q is not among the request's tools.", *w.Name)
	}
	return ToolChoice{Mode: ToolChoiceFunction, Name: name}, nil
}

func (r *ResponsesRequest) parseReasoning(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var w struct {
		Effort  *string `json:"effort"`
		Summary *string `json:"summary"`
	}
	if err := decodeInto(raw, &w, "reasoning"); err != nil {
		return err
	}
	if w.Effort != nil {
		e, err := parseReasoningEffort(w.Effort)
		if err != nil {
			return invalid(codeInvalidValue, "reasoning.effort", "Invalid value for 'reasoning.effort': %q. Supported values are: %s.", *w.Effort, quoteList(reasoningEfforts))
		}
		r.Chat.ReasoningEffort = e
	}
	if w.Summary != nil {
		r.Echo.Summary = *w.Summary
	}
	return nil
}

// parseTextFormat reads text.format: text, json_object, or json_schema with
// its fields beside the type (where chat nests them under json_schema).
func parseTextFormat(raw json.RawMessage) (*ResponseFormat, error) {
	if isNull(raw) {
		return nil, nil
	}
	var w struct {
		Format json.RawMessage `json:"format"`
	}
	if err := decodeInto(raw, &w, "text"); err != nil {
		return nil, err
	}
	if isNull(w.Format) {
		return nil, nil
	}
	var f struct {
		Type        *string         `json:"type"`
		Name        json.RawMessage `json:"name"`
		Description json.RawMessage `json:"description"`
		Schema      json.RawMessage `json:"schema"`
	}
	if err := decodeInto(w.Format, &f, "text.format"); err != nil {
		return nil, err
	}
	chat := map[string]json.RawMessage{}
	if f.Type != nil {
		t, _ := json.Marshal(*f.Type)
		chat["type"] = t
		if *f.Type == FormatJSONSchema {
			js := map[string]json.RawMessage{}
			for k, v := range map[string]json.RawMessage{"name": f.Name, "description": f.Description, "schema": f.Schema} {
				if v != nil {
					js[k] = v
				}
			}
			b, _ := json.Marshal(js)
			chat["json_schema"] = b
		}
	}
	b, _ := json.Marshal(chat)
	rf, err := parseResponseFormat(b)
	if err != nil {
		e := tollgate.AsError(err)
		e.Param = strings.Replace(strings.Replace(e.Param, "response_format", "text.format", 1), ".json_schema", "", 1)
		e.Message = strings.Replace(strings.Replace(e.Message, "response_format", "text.format", 1), ".json_schema", "", 1)
		return nil, e
	}
	return rf, nil
}

// reasoningPrefix marks the encrypted_content of the reasoning items
// Tollgate returns: a reasoning block (its text and signature, or
// redacted data) as base64 JSON, to be sent back as it is.
const reasoningPrefix = "tollgate.v1."

// EncodeReasoning returns the encrypted_content of reasoning detail d.
func EncodeReasoning(d ReasoningDetail) string {
	d.Index, d.Format = 0, ""
	b, _ := json.Marshal(d) // a struct of strings cannot fail to encode
	return reasoningPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeReasoning(s string) (ReasoningDetail, bool) {
	var d ReasoningDetail
	rest, ok := strings.CutPrefix(s, reasoningPrefix)
	if !ok {
		return d, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || json.Unmarshal(b, &d) != nil {
		return d, false
	}
	switch d.Type {
	case ReasoningText, ReasoningEncrypted:
	default:
		return d, false
	}
	if d.Type == ReasoningEncrypted {
		if _, err := base64.StdEncoding.DecodeString(d.Data); err != nil {
			return d, false
		}
	}
	d.Format = reasoningFormat
	return d, true
}

// ResponsesToConverse is [ToConverse] for a Responses request: its errors
// name the input item at fault rather than a chat message.
func ResponsesToConverse(r *ResponsesRequest, modelID string, opts Options) (*bedrockruntime.ConverseInput, error) {
	in, err := ToConverse(&r.Chat, modelID, opts)
	return in, r.InputError(err)
}

// InputError names, in an error about r.Chat (from ToConverse, or an
// image fetch), the input item at fault: the "messages[i]..." of a chat
// error becomes the item message i came from ("input[3].content[0]...").
func (r *ResponsesRequest) InputError(err error) error {
	if err == nil {
		return nil
	}
	e := tollgate.AsError(err)
	if !strings.HasPrefix(e.Param, "messages") {
		return e
	}
	p := r.renameParam(e.Param)
	if p == e.Param {
		return e
	}
	c := *e
	c.Message = strings.ReplaceAll(c.Message, e.Param, p)
	c.Param = p
	old, _, _ := strings.Cut(e.Param, ".")
	nw, _, _ := strings.Cut(p, ".")
	c.Message = strings.ReplaceAll(c.Message, old, nw)
	return &c
}

func (r *ResponsesRequest) renameParam(p string) string {
	var i int
	var rest string
	if n, _ := fmt.Sscanf(p, "messages[%d]", &i); n != 1 || i < 0 || i >= len(r.params) {
		if p == "messages" {
			return "input"
		}
		return p
	}
	_, rest, _ = strings.Cut(p, "]")
	if r.Chat.Messages[i].Role == RoleTool {
		rest = strings.Replace(rest, ".content", ".output", 1) // a function_call_output's parts
	}
	return r.params[i] + rest
}
