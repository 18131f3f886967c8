package converse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithydoc "github.com/aws/smithy-go/document"

	"github.com/tollgate-gw/tollgate"
)

// OpenAI error codes used for 400s, so that clients see the codes OpenAI
// itself sends.
const (
	codeInvalidType      = "invalid_type"
	codeInvalidValue     = "invalid_value"
	codeMissing          = "missing_required_parameter"
	codeEmptyArray       = "empty_array"
	codeUnsupportedParam = "unsupported_parameter"
	codeUnsupportedValue = "unsupported_value"
)

// maxStop is the most stop sequences OpenAI accepts.
const maxStop = 4

// wireRequest is the JSON shape of a chat request. Fields whose JSON type
// varies are kept raw and decoded by hand; fields Tollgate ignores are
// absent so that decoding skips them, whatever their type.
type wireRequest struct {
	Model               *string         `json:"model"`
	Messages            json.RawMessage `json:"messages"`
	Stream              *bool           `json:"stream"`
	StreamOptions       *wireStreamOpts `json:"stream_options"`
	User                *string         `json:"user"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	Tools               json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	N                   *int64          `json:"n"`
	Logprobs            *bool           `json:"logprobs"`
	TopLogprobs         *int64          `json:"top_logprobs"`
	Modalities          []string        `json:"modalities"`
	Audio               json.RawMessage `json:"audio"`
	ResponseFormat      json.RawMessage `json:"response_format"`
	ReasoningEffort     *string         `json:"reasoning_effort"`
	PromptCache         *bool           `json:"prompt_cache"`
	PromptCacheKey      *string         `json:"prompt_cache_key"`
}

type wireStreamOpts struct {
	IncludeUsage *bool `json:"include_usage"`
}

type wireMessage struct {
	Role       *string         `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolCallID *string         `json:"tool_call_id"`
	// ReasoningDetails is what an assistant message echoes of the reasoning
	// Tollgate returned with it.
	ReasoningDetails json.RawMessage `json:"reasoning_details"`
}

type wirePart struct {
	Type     *string         `json:"type"`
	Text     *string         `json:"text"`
	Refusal  *string         `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"`
	File     json.RawMessage `json:"file"`
}

type wireToolCall struct {
	ID       *string       `json:"id"`
	Type     *string       `json:"type"`
	Function *wireFunction `json:"function"`
}

type wireFunction struct {
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Arguments   *string         `json:"arguments"`
	Parameters  json.RawMessage `json:"parameters"`
}

type wireTool struct {
	Type     *string       `json:"type"`
	Function *wireFunction `json:"function"`
}

// ParseChatRequest decodes and validates an OpenAI chat completion request
// body. Every error is a *tollgate.Error of Kind tollgate.Invalid whose
// Param names the offending field the way OpenAI does ("model",
// "temperature", "messages[2].content", "tools[0].function.name") and whose
// Code is OpenAI's (invalid_type, invalid_value, missing_required_parameter,
// empty_array, unsupported_parameter, unsupported_value); a body that is not
// JSON has no Param and no Code. Unknown fields and the parameters Tollgate
// ignores (user, seed, penalties, logit_bias, parallel_tool_calls, store,
// metadata, service_tier, ...) never fail.
func ParseChatRequest(body []byte) (*ChatRequest, error) {
	// The fast path decodes the body and its messages in one pass. The
	// careful path decodes each level on its own, to name the offending
	// field of any error; it runs only when the fast one fails, so every
	// error comes from it.
	var f fastRequest
	if json.Unmarshal(body, &f) == nil && f.Messages != nil {
		if r, err := parseChat(&f.wireRequest, f.Messages); err == nil {
			return r, nil
		}
	}
	var w wireRequest
	if err := decodeBody(body, &w); err != nil {
		return nil, err
	}
	return parseChat(&w, nil)
}

// fastRequest is a wireRequest whose messages are decoded with it (its
// Messages field, shallower, hides wireRequest's).
type fastRequest struct {
	wireRequest
	Messages wireMessages `json:"messages"`
}

// wireMessages decodes each occurrence of "messages" into a slice of its
// own. Decoded in place, a second occurrence (a duplicate key, or one that
// differs in case) would be merged into the elements of the first, where
// the careful path takes the last occurrence alone.
type wireMessages []wireMessage

func (m *wireMessages) UnmarshalJSON(b []byte) error {
	var fresh []wireMessage
	if err := json.Unmarshal(b, &fresh); err != nil {
		return err
	}
	*m = fresh
	return nil
}

// parseChat validates a decoded request. msgs, when not nil, are its
// messages already decoded; otherwise w.Messages is decoded here.
func parseChat(w *wireRequest, msgs []wireMessage) (*ChatRequest, error) {
	r := &ChatRequest{}
	if w.Model == nil || *w.Model == "" {
		return nil, invalid(codeMissing, "model", "Missing required parameter: 'model'. Name the Bedrock model to call, e.g. \"anthropic.claude-3-haiku-20240307-v1:0\".")
	}
	r.Model = *w.Model
	if err := checkModelID(r.Model); err != nil {
		return nil, err
	}
	if w.Stream != nil {
		r.Stream = *w.Stream
	}
	if w.StreamOptions != nil {
		r.StreamOptions = &StreamOptions{IncludeUsage: w.StreamOptions.IncludeUsage != nil && *w.StreamOptions.IncludeUsage}
	}
	if w.User != nil {
		r.User = *w.User
	}

	if err := parseUnsupported(w); err != nil {
		return nil, err
	}
	var err error
	if r.MaxTokens, err = parseMaxTokens(w.MaxTokens, "max_tokens"); err != nil {
		return nil, err
	}
	if r.MaxCompletionTokens, err = parseMaxTokens(w.MaxCompletionTokens, "max_completion_tokens"); err != nil {
		return nil, err
	}
	if err := checkRange(w.Temperature, "temperature", 2); err != nil {
		return nil, err
	}
	r.Temperature = w.Temperature
	if err := checkRange(w.TopP, "top_p", 1); err != nil {
		return nil, err
	}
	r.TopP = w.TopP
	if r.Stop, err = parseStop(w.Stop); err != nil {
		return nil, err
	}
	if msgs != nil {
		r.Messages, err = parseMessageList(msgs)
	} else {
		r.Messages, err = parseMessages(w.Messages)
	}
	if err != nil {
		return nil, err
	}
	if r.Tools, err = parseTools(w.Tools); err != nil {
		return nil, err
	}
	if r.ToolChoice, err = parseToolChoice(w.ToolChoice, r.Tools); err != nil {
		return nil, err
	}
	if r.ReasoningEffort, err = parseReasoningEffort(w.ReasoningEffort); err != nil {
		return nil, err
	}
	if r.ResponseFormat, err = parseResponseFormat(w.ResponseFormat); err != nil {
		return nil, err
	}
	switch {
	case w.PromptCache != nil:
		r.PromptCache = w.PromptCache
	case w.PromptCacheKey != nil && *w.PromptCacheKey != "":
		r.PromptCache = ptr(true)
	}
	return r, nil
}

// parseUnsupported refuses the parameters that would change the answer in a
// way Bedrock cannot honour, rather than silently ignoring them.
func parseUnsupported(w *wireRequest) error {
	if w.N != nil && *w.N != 1 {
		if *w.N < 1 {
			return invalid(codeInvalidValue, "n", "Invalid 'n': integer below minimum value. Expected a value >= 1, but got %d instead.", *w.N)
		}
		return invalid(codeUnsupportedValue, "n", "Unsupported value: 'n' must be 1; Bedrock returns a single choice per request.")
	}
	if w.Logprobs != nil && *w.Logprobs {
		return invalid(codeUnsupportedValue, "logprobs", "Unsupported value: 'logprobs' must be false; Bedrock does not return log probabilities.")
	}
	if w.TopLogprobs != nil && *w.TopLogprobs != 0 {
		return invalid(codeUnsupportedParam, "top_logprobs", "Unsupported parameter: 'top_logprobs'; Bedrock does not return log probabilities.")
	}
	for _, m := range w.Modalities {
		if m == "audio" {
			return invalid(codeUnsupportedValue, "modalities", "Unsupported value: 'modalities' may only contain \"text\"; audio output is not supported.")
		}
	}
	if !isNull(w.Audio) {
		return invalid(codeUnsupportedParam, "audio", "Unsupported parameter: 'audio'; audio output is not supported.")
	}
	return nil
}

func parseMaxTokens(v *int64, param string) (int, error) {
	switch {
	case v == nil:
		return 0, nil
	case *v < 1:
		return 0, invalid(codeInvalidValue, param, "Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", param, *v)
	case *v > math.MaxInt32:
		return 0, invalid(codeInvalidValue, param, "Invalid '%s': integer above maximum value. Expected a value <= %d, but got %d instead.", param, math.MaxInt32, *v)
	}
	return int(*v), nil
}

func checkRange(v *float64, param string, max float64) error {
	switch {
	case v == nil:
		return nil
	case *v < 0:
		return invalid(codeInvalidValue, param, "Invalid '%s': decimal below minimum value. Expected a value >= 0, but got %v instead.", param, *v)
	case *v > max:
		return invalid(codeInvalidValue, param, "Invalid '%s': decimal above maximum value. Expected a value <= %v, but got %v instead.", param, max, *v)
	}
	return nil
}

func parseStop(raw json.RawMessage) ([]string, error) {
	var stops []string
	switch firstByte(raw) {
	case 'n', 0:
		return nil, nil
	case '"':
		var s string
		if err := decodeInto(raw, &s, "stop"); err != nil {
			return nil, err
		}
		stops = []string{s}
	case '[':
		if err := decodeInto(raw, &stops, "stop"); err != nil {
			return nil, invalid(codeInvalidType, "stop", "Invalid type for 'stop': expected a string or an array of strings.")
		}
		if len(stops) > maxStop {
			return nil, invalid(codeInvalidValue, "stop", "Invalid 'stop': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxStop, len(stops))
		}
	default:
		return nil, invalid(codeInvalidType, "stop", "Invalid type for 'stop': expected a string or an array of strings, but got %s instead.", rawKind(raw))
	}
	// Bedrock rejects an empty stop sequence, and one can never match anyway.
	out := stops[:0]
	for _, s := range stops {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func parseMessages(raw json.RawMessage) ([]Message, error) {
	if isNull(raw) {
		return nil, invalid(codeMissing, "messages", "Missing required parameter: 'messages'.")
	}
	var raws []json.RawMessage
	if err := decodeInto(raw, &raws, "messages"); err != nil {
		return nil, invalid(codeInvalidType, "messages", "Invalid type for 'messages': expected an array of message objects, but got %s instead.", rawKind(raw))
	}
	if len(raws) == 0 {
		return nil, invalid(codeEmptyArray, "messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	msgs := make([]Message, len(raws))
	calls := map[string]bool{} // ids of the tool calls seen so far
	for i, rm := range raws {
		p := messageParam(i)
		if firstByte(rm) != '{' {
			return nil, invalid(codeInvalidType, p, "Invalid type for '%s': expected a message object, but got %s instead.", p, rawKind(rm))
		}
		var w wireMessage
		if err := decodeInto(rm, &w, p); err != nil {
			return nil, err
		}
		if err := parseMessage(&msgs[i], &w, p, calls); err != nil {
			return nil, err
		}
	}
	if err := checkDocuments(msgs); err != nil {
		return nil, err
	}
	return msgs, nil
}

// parseMessageList is parseMessages for messages decoded already.
func parseMessageList(ws []wireMessage) ([]Message, error) {
	if len(ws) == 0 {
		return nil, invalid(codeEmptyArray, "messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	msgs := make([]Message, len(ws))
	calls := map[string]bool{}
	for i := range ws {
		if err := parseMessage(&msgs[i], &ws[i], messageParam(i), calls); err != nil {
			return nil, err
		}
	}
	if err := checkDocuments(msgs); err != nil {
		return nil, err
	}
	return msgs, nil
}

// messageParam names message i the way OpenAI's errors do.
func messageParam(i int) string { return "messages[" + strconv.Itoa(i) + "]" }

// parseMessage validates message w, named p, into m; calls holds the ids of
// the tool calls of the messages before it and gains this message's.
func parseMessage(m *Message, w *wireMessage, p string, calls map[string]bool) error {
	if w.Role == nil {
		return invalid(codeMissing, p+".role", "Missing required parameter: '%s.role'.", p)
	}
	m.Role = *w.Role
	var err error
	switch m.Role {
	case RoleSystem, RoleDeveloper, RoleUser:
		if isNull(w.Content) {
			return invalid(codeMissing, p+".content", "Missing required parameter: '%s.content'.", p)
		}
		m.Parts, err = parseContent(w.Content, p+".content", m.Role)
	case RoleAssistant:
		if m.Parts, err = parseContent(w.Content, p+".content", m.Role); err != nil {
			return err
		}
		if m.Reasoning, err = parseReasoningDetails(w.ReasoningDetails, p+".reasoning_details"); err != nil {
			return err
		}
		err = parseToolCalls(w.ToolCalls, p+".tool_calls", m, calls)
	case RoleTool:
		if w.ToolCallID == nil || *w.ToolCallID == "" {
			return invalid(codeMissing, p+".tool_call_id", "Missing required parameter: '%s.tool_call_id'.", p)
		}
		m.ToolCallID = *w.ToolCallID
		if !calls[m.ToolCallID] {
			return invalid(codeInvalidValue, p+".tool_call_id", "Invalid '%s.tool_call_id': %q answers no tool call of an earlier assistant message. A tool message must follow the assistant message whose tool_calls hold that id.", p, m.ToolCallID)
		}
		if isNull(w.Content) {
			return invalid(codeMissing, p+".content", "Missing required parameter: '%s.content'.", p)
		}
		m.Parts, err = parseContent(w.Content, p+".content", m.Role)
	case "function":
		return invalid(codeUnsupportedValue, p+".role", "Unsupported value: '%s.role' \"function\" is deprecated and not supported; use tool_calls and \"tool\" messages.", p)
	default:
		return invalid(codeInvalidValue, p+".role", "Invalid value for '%s.role': %q. Supported values are: 'system', 'developer', 'user', 'assistant', and 'tool'.", p, m.Role)
	}
	return err
}

// parseContent normalises a message's content (a string, an array of parts
// or null) to parts, accepting the part types that role may carry.
func parseContent(raw json.RawMessage, p, role string) ([]Part, error) {
	switch firstByte(raw) {
	case 'n', 0:
		return nil, nil
	case '"':
		if s, ok := plainString(raw); ok {
			return []Part{{Kind: PartText, Text: s}}, nil
		}
		var s string
		if err := decodeInto(raw, &s, p); err != nil {
			return nil, err
		}
		return []Part{{Kind: PartText, Text: s}}, nil
	case '[':
	default:
		return nil, invalid(codeInvalidType, p, "Invalid type for '%s': expected a string or an array of content parts, but got %s instead.", p, rawKind(raw))
	}
	var raws []json.RawMessage
	if err := decodeInto(raw, &raws, p); err != nil {
		return nil, err
	}
	parts := make([]Part, 0, len(raws))
	for j, rp := range raws {
		pp := fmt.Sprintf("%s[%d]", p, j)
		if firstByte(rp) != '{' {
			return nil, invalid(codeInvalidType, pp, "Invalid type for '%s': expected a content part object, but got %s instead.", pp, rawKind(rp))
		}
		var w wirePart
		if err := decodeInto(rp, &w, pp); err != nil {
			return nil, err
		}
		if w.Type == nil {
			return nil, invalid(codeMissing, pp+".type", "Missing required parameter: '%s.type'.", pp)
		}
		switch t := *w.Type; {
		case t == "text":
			if w.Text == nil {
				return nil, invalid(codeMissing, pp+".text", "Missing required parameter: '%s.text'.", pp)
			}
			parts = append(parts, Part{Kind: PartText, Text: *w.Text})
		case t == "refusal" && role == RoleAssistant:
			if w.Refusal == nil {
				return nil, invalid(codeMissing, pp+".refusal", "Missing required parameter: '%s.refusal'.", pp)
			}
			parts = append(parts, Part{Kind: PartText, Text: *w.Refusal})
		case t == "image_url" && role == RoleUser:
			img, err := parseImageURL(w.ImageURL, pp+".image_url")
			if err != nil {
				return nil, err
			}
			parts = append(parts, Part{Kind: PartImage, Image: img})
		case t == "file" && role == RoleUser:
			doc, err := parseFile(w.File, pp+".file")
			if err != nil {
				return nil, err
			}
			parts = append(parts, Part{Kind: PartDocument, Document: doc})
		case t == "input_audio" && role == RoleUser:
			return nil, invalid(codeUnsupportedValue, pp, "Unsupported value: content parts of type %q are not supported yet; send text or image_url parts.", t)
		default:
			return nil, invalid(codeInvalidValue, pp+".type", "Invalid value for '%s.type': %q is not a content part type a %s message may carry (%s).", pp, t, role, partTypesFor(role))
		}
	}
	return parts, nil
}

func partTypesFor(role string) string {
	switch role {
	case RoleUser:
		return "text, image_url, file"
	case RoleAssistant:
		return "text, refusal"
	}
	return "text"
}

// imageFormats maps the media types of data: URLs to Bedrock image formats.
var imageFormats = map[string]types.ImageFormat{
	"image/png":  types.ImageFormatPng,
	"image/jpeg": types.ImageFormatJpeg,
	"image/jpg":  types.ImageFormatJpeg,
	"image/gif":  types.ImageFormatGif,
	"image/webp": types.ImageFormatWebp,
}

// parseImageURL decodes an image_url part ({"url": ..., "detail": ...}, or
// a bare string some clients send). Only base64 data: URLs are accepted;
// detail is ignored.
func parseImageURL(raw json.RawMessage, p string) (*Image, error) {
	var url string
	switch firstByte(raw) {
	case '"':
		if err := decodeInto(raw, &url, p); err != nil {
			return nil, err
		}
	case '{':
		var w struct {
			URL *string `json:"url"`
		}
		if err := decodeInto(raw, &w, p); err != nil {
			return nil, err
		}
		if w.URL == nil {
			return nil, invalid(codeMissing, p+".url", "Missing required parameter: '%s.url'.", p)
		}
		url = *w.URL
	case 'n', 0:
		return nil, invalid(codeMissing, p, "Missing required parameter: '%s'.", p)
	default:
		return nil, invalid(codeInvalidType, p, "Invalid type for '%s': expected an object with a url, but got %s instead.", p, rawKind(raw))
	}

	lower := strings.ToLower(url[:min(len(url), 8)])
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		return &Image{URL: url}, nil // fetched by the gateway before translation
	}
	if !strings.HasPrefix(lower, "data:") {
		return nil, invalid(codeInvalidValue, p, "Invalid '%s': expected a data: URL such as data:image/png;base64,....", p)
	}
	meta, data, ok := strings.Cut(url[len("data:"):], ",")
	mediaType, isBase64 := strings.CutSuffix(strings.ToLower(meta), ";base64")
	if !ok || !isBase64 {
		return nil, invalid(codeInvalidValue, p, "Invalid '%s': the data: URL must be base64 encoded (data:image/png;base64,...).", p)
	}
	mediaType, _, _ = strings.Cut(mediaType, ";") // parameters such as charset
	format, ok := imageFormats[mediaType]
	if !ok {
		return nil, invalid(codeUnsupportedValue, p, "Invalid '%s': image type %q is not supported; use image/png, image/jpeg, image/gif or image/webp.", p, mediaType)
	}
	img, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		// Some encoders leave the padding out.
		img, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(data, "="))
	}
	if err != nil {
		return nil, invalid(codeInvalidValue, p, "Invalid '%s': the image data is not valid base64.", p)
	}
	if len(img) == 0 {
		return nil, invalid(codeInvalidValue, p, "Invalid '%s': the image data is empty.", p)
	}
	if got := sniffImage(img); got != format {
		what := "not a PNG, JPEG, GIF or WebP image"
		if got != "" {
			what = "a " + string(got) + " image"
		}
		return nil, invalid(codeInvalidValue, p, "Invalid '%s': the data: URL declares %s, but its bytes are %s. Send the image's real type.", p, mediaType, what)
	}
	return &Image{Format: format, Data: img}, nil
}

// parseToolCalls decodes an assistant message's tool_calls into m and records
// their ids in calls.
func parseToolCalls(raw json.RawMessage, p string, m *Message, calls map[string]bool) error {
	if isNull(raw) {
		return nil
	}
	var raws []json.RawMessage
	if err := decodeInto(raw, &raws, p); err != nil {
		return invalid(codeInvalidType, p, "Invalid type for '%s': expected an array of tool calls, but got %s instead.", p, rawKind(raw))
	}
	for j, rc := range raws {
		pp := fmt.Sprintf("%s[%d]", p, j)
		var w wireToolCall
		if firstByte(rc) != '{' {
			return invalid(codeInvalidType, pp, "Invalid type for '%s': expected a tool call object, but got %s instead.", pp, rawKind(rc))
		}
		if err := decodeInto(rc, &w, pp); err != nil {
			return err
		}
		if w.Type != nil && *w.Type != "function" {
			return invalid(codeUnsupportedValue, pp+".type", "Unsupported value: '%s.type' %q; only \"function\" tool calls are supported.", pp, *w.Type)
		}
		if w.ID == nil || *w.ID == "" {
			return invalid(codeMissing, pp+".id", "Missing required parameter: '%s.id'.", pp)
		}
		if w.Function == nil {
			return invalid(codeMissing, pp+".function", "Missing required parameter: '%s.function'.", pp)
		}
		if w.Function.Name == nil || *w.Function.Name == "" {
			return invalid(codeMissing, pp+".function.name", "Missing required parameter: '%s.function.name'.", pp)
		}
		args := ""
		if w.Function.Arguments != nil {
			args = *w.Function.Arguments
		}
		input, err := decodeArguments(args)
		if err != nil {
			return invalid(codeInvalidValue, pp+".function.arguments", "Invalid '%s.function.arguments': %v. Arguments must be a JSON object, as a string.", pp, err)
		}
		m.ToolCalls = append(m.ToolCalls, ToolCall{ID: *w.ID, Type: "function", Function: FunctionCall{Name: *w.Function.Name, Arguments: args}})
		m.toolInputs = append(m.toolInputs, input)
		calls[*w.ID] = true
	}
	return nil
}

// decodeArguments decodes a tool call's arguments: a JSON object as text,
// where "" and "null" stand for {} (clients send both for calls without
// arguments).
func decodeArguments(args string) (map[string]any, error) {
	if strings.TrimSpace(args) == "" {
		return map[string]any{}, nil
	}
	v, err := decodeJSONValue([]byte(args))
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return v, nil
	}
	return nil, errors.New("not a JSON object")
}

func parseTools(raw json.RawMessage) ([]Tool, error) {
	if isNull(raw) {
		return nil, nil
	}
	var raws []json.RawMessage
	if err := decodeInto(raw, &raws, "tools"); err != nil {
		return nil, invalid(codeInvalidType, "tools", "Invalid type for 'tools': expected an array of tools, but got %s instead.", rawKind(raw))
	}
	tools := make([]Tool, 0, len(raws))
	seen := make(map[string]bool, len(raws))
	for i, rt := range raws {
		p := fmt.Sprintf("tools[%d]", i)
		if firstByte(rt) != '{' {
			return nil, invalid(codeInvalidType, p, "Invalid type for '%s': expected a tool object, but got %s instead.", p, rawKind(rt))
		}
		var w wireTool
		if err := decodeInto(rt, &w, p); err != nil {
			return nil, err
		}
		if w.Type != nil && *w.Type != "function" {
			return nil, invalid(codeUnsupportedValue, p+".type", "Unsupported value: '%s.type' %q; only \"function\" tools are supported.", p, *w.Type)
		}
		if w.Function == nil {
			return nil, invalid(codeMissing, p+".function", "Missing required parameter: '%s.function'.", p)
		}
		if w.Function.Name == nil {
			return nil, invalid(codeMissing, p+".function.name", "Missing required parameter: '%s.function.name'.", p)
		}
		name := *w.Function.Name
		if !validToolName(name) {
			return nil, invalid(codeInvalidValue, p+".function.name", "Invalid '%s.function.name': %q does not match ^[a-zA-Z0-9_-]{1,64}$.", p, name)
		}
		if seen[name] {
			return nil, invalid(codeInvalidValue, p+".function.name", "Invalid '%s.function.name': %q is defined twice; tool names must be unique.", p, name)
		}
		seen[name] = true
		t := Tool{Name: name}
		if w.Function.Description != nil {
			t.Description = *w.Function.Description
		}
		params, err := parseParameters(w.Function.Parameters, p+".function.parameters")
		if err != nil {
			return nil, err
		}
		t.Parameters = params
		tools = append(tools, t)
	}
	return tools, nil
}

// parseParameters decodes a function's JSON schema. A missing schema means
// a function without arguments, and a schema without a type is an object
// schema: Bedrock requires the top-level type "object".
func parseParameters(raw json.RawMessage, p string) (map[string]any, error) {
	if isNull(raw) {
		return emptySchema(), nil
	}
	if firstByte(raw) != '{' {
		return nil, invalid(codeInvalidType, p, "Invalid type for '%s': expected a JSON Schema object, but got %s instead.", p, rawKind(raw))
	}
	v, err := decodeJSONValue(raw)
	if err != nil {
		return nil, invalid(codeInvalidValue, p, "Invalid '%s': %v.", p, err)
	}
	schema := v.(map[string]any)
	if _, ok := schema["type"]; !ok {
		schema["type"] = "object"
	}
	return schema, nil
}

func emptySchema() map[string]any {
	return map[string]any{"type": "object", "properties": map[string]any{}}
}

// validToolName reports whether name matches OpenAI's ^[a-zA-Z0-9_-]{1,64}$.
func validToolName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// toolChoiceMode reads a tool_choice given as a string ("none", "auto",
// "required"; "required" only with tools), as chat and Responses take it.
func toolChoiceMode(raw json.RawMessage, hasTools bool) (ToolChoice, error) {
	var tc ToolChoice
	var s string
	if err := decodeInto(raw, &s, "tool_choice"); err != nil {
		return tc, err
	}
	switch ToolChoiceMode(s) {
	case ToolChoiceAuto, ToolChoiceNone, ToolChoiceRequired:
		tc.Mode = ToolChoiceMode(s)
	default:
		return tc, invalid(codeInvalidValue, "tool_choice", "Invalid value for 'tool_choice': %q. Supported values are: 'none', 'auto', 'required', or an object naming a function.", s)
	}
	if tc.Mode == ToolChoiceRequired && !hasTools {
		return tc, invalid(codeInvalidValue, "tool_choice", "Invalid value for 'tool_choice': \"required\" is only allowed when 'tools' are specified.")
	}
	return tc, nil
}

func parseToolChoice(raw json.RawMessage, tools []Tool) (ToolChoice, error) {
	var tc ToolChoice
	switch firstByte(raw) {
	case 'n', 0:
		return tc, nil
	case '"':
		return toolChoiceMode(raw, len(tools) > 0)
	case '{':
		var w struct {
			Type     *string `json:"type"`
			Function *struct {
				Name *string `json:"name"`
			} `json:"function"`
		}
		if err := decodeInto(raw, &w, "tool_choice"); err != nil {
			return tc, err
		}
		if w.Type == nil {
			return tc, invalid(codeMissing, "tool_choice.type", "Missing required parameter: 'tool_choice.type'.")
		}
		if *w.Type != "function" {
			return tc, invalid(codeUnsupportedValue, "tool_choice.type", "Unsupported value: 'tool_choice.type' %q; only \"function\" is supported.", *w.Type)
		}
		if w.Function == nil || w.Function.Name == nil || *w.Function.Name == "" {
			return tc, invalid(codeMissing, "tool_choice.function.name", "Missing required parameter: 'tool_choice.function.name'.")
		}
		tc = ToolChoice{Mode: ToolChoiceFunction, Name: *w.Function.Name}
	default:
		return tc, invalid(codeInvalidType, "tool_choice", "Invalid type for 'tool_choice': expected a string or an object, but got %s instead.", rawKind(raw))
	}

	for _, t := range tools {
		if t.Name == tc.Name {
			return tc, nil
		}
	}
	return tc, invalid(codeInvalidValue, "tool_choice", "Invalid value for 'tool_choice': function %q is not among the request's tools.", tc.Name)
}

// ToConverse builds the Bedrock Converse input for modelID, the Bedrock
// model id or inference profile to call (usually r.Model), with the
// gateway's opts (guardrail, prompt caching, request metadata). r must come
// from [ParseChatRequest]; ToConverse does not modify it, and the input it
// returns shares r's image and document bytes and tool schemas.
//
// Its errors are *tollgate.Error of Kind tollgate.Invalid for a conversation
// that cannot be made into valid Converse turns, with Param "messages" or
// "messages[i]" (and "messages[i].tool_calls[j].function.arguments" for a
// hand-built r with invalid arguments), or "response_format.json_schema.schema"
// for a schema the model cannot take. The same fields feed a ConverseStream
// request (upstream.StreamInput).
func ToConverse(r *ChatRequest, modelID string, opts Options) (*bedrockruntime.ConverseInput, error) {
	for _, ref := range ImageURLs(r) {
		if ref.Image.Data == nil && !opts.ImagesPending {
			return nil, invalid(codeUnsupportedValue, ref.Param, "Invalid '%s': image URLs are not fetched by this gateway; send a data: URL (data:image/png;base64,...).", ref.Param)
		}
	}
	q := quirksFor(modelID)
	jt, rp := planOutput(r, q)
	// Whether the model thinks shapes the turns and the sampling whatever
	// budget the output cap leaves it.
	thinking := rp.budget > 0
	maxTokens := requestedMaxTokens(r, q, rp.budget)
	system, messages, histTools, err := buildTurns(r, thinking, opts.ThinkTags)
	if err != nil {
		return nil, err
	}
	in := &bedrockruntime.ConverseInput{
		ModelId:         &modelID,
		System:          system,
		Messages:        messages,
		InferenceConfig: inferenceConfig(r, q, maxTokens, thinking),
		GuardrailConfig: guardrailConfig(opts.Guardrail),
		RequestMetadata: requestMetadata(opts, r.User),
	}
	if in.ToolConfig, err = toolConfig(r, histTools, jt); err != nil {
		return nil, err
	}
	if rp.fields != nil {
		in.AdditionalModelRequestFields = document.NewLazyDocument(rp.fields)
	}
	var oc types.OutputConfig
	if rp.effort != "" {
		oc.Effort = ptr(rp.effort)
	}
	if rf := r.ResponseFormat; rf != nil && jt == "" && rf.Type == FormatJSONSchema && q.textFormat {
		if oc.TextFormat, err = textFormat(rf); err != nil {
			return nil, err
		}
	}
	if oc.Effort != nil || oc.TextFormat != nil {
		in.OutputConfig = &oc
	}
	cache := opts.PromptCache
	if r.PromptCache != nil {
		cache = *r.PromptCache
	}
	if cache && q.promptCache {
		addCachePoints(in)
	}
	scopeCache(in, opts.CacheScope)
	return in, nil
}

// planOutput decides the structured-output tool and the reasoning of r on
// the model q describes.
func planOutput(r *ChatRequest, q quirk) (jsonToolName string, rp reasoningPlan) {
	jt := jsonTool(r, q)
	forced := jt != "" || r.ToolChoice.Mode == ToolChoiceRequired || r.ToolChoice.Mode == ToolChoiceFunction
	return jt, planReasoning(r, q, forced)
}

// OutputCap returns the most tokens r asks modelID to generate, 0 when it
// sets no limit, and the part of them Claude's extended thinking may use
// (its budget_tokens; 0 when thinking is off). The cap is more than the
// request's max_tokens when thinking is on: the budget comes on top. The
// gateway decides the cap it sends from these numbers (a budget may lower
// it) and applies it with [CapOutput].
func OutputCap(r *ChatRequest, modelID string) (maxTokens, thinkingBudget int) {
	q := quirksFor(modelID)
	_, rp := planOutput(r, q)
	return requestedMaxTokens(r, q, rp.budget), rp.budget
}

// CapOutput sets the output cap the gateway decided, n tokens, on in, built
// by ToConverse for a request whose [OutputCap] gave thinkingBudget. When n
// leaves no room above the thinking budget, the budget becomes half of n,
// or thinking is turned off when that is below Claude's minimum of 1024, so
// that Bedrock still accepts in. It works from the plain numbers: nothing
// is decoded or re-encoded. n <= 0 leaves in as it is.
func CapOutput(in *bedrockruntime.ConverseInput, n, thinkingBudget int) {
	if n <= 0 {
		return
	}
	if in.InferenceConfig == nil {
		in.InferenceConfig = &types.InferenceConfiguration{}
	}
	in.InferenceConfig.MaxTokens = ptr(int32(min(n, math.MaxInt32)))
	if thinkingBudget == 0 || thinkingBudget < n {
		return
	}
	// Claude's thinking is the only additional field its plan sets.
	rp := reasoningPlan{budget: thinkingBudget, fields: map[string]any{}}
	rp.fitWithin(n)
	in.AdditionalModelRequestFields = nil
	if rp.fields != nil {
		in.AdditionalModelRequestFields = document.NewLazyDocument(rp.fields)
	}
}

// addCachePoints marks the prompt prefixes Bedrock may cache: after the
// system prompt, and at the end of the last user turn (which caches the
// whole conversation for the next request, which repeats it).
func addCachePoints(in *bedrockruntime.ConverseInput) {
	point := types.CachePointBlock{Type: types.CachePointTypeDefault}
	if len(in.System) > 0 {
		in.System = append(in.System, &types.SystemContentBlockMemberCachePoint{Value: point})
	}
	for i := len(in.Messages) - 1; i >= 0; i-- {
		if m := &in.Messages[i]; m.Role == types.ConversationRoleUser {
			m.Content = append(m.Content[:len(m.Content):len(m.Content)], &types.ContentBlockMemberCachePoint{Value: point})
			return
		}
	}
}

// buildTurns turns the messages into system blocks and alternating
// user/assistant turns. With thinking, an assistant message's echoed
// reasoning opens its blocks; without, it is dropped. With thinkTags, a
// leading <think> block is cut from assistant text. It returns the names of
// the tools the history calls, in order of first use, for toolConfig.
func buildTurns(r *ChatRequest, thinking, thinkTags bool) ([]types.SystemContentBlock, []types.Message, []string, error) {
	textTools := r.ToolChoice.Mode == ToolChoiceNone
	var (
		system    []types.SystemContentBlock
		turns     []types.Message
		firstTurn = -1 // the message that opened turns[0]
		dropped   = -1 // the first message left with no content
		callNames = map[string]string{}
		histTools []string
	)
	for i := range r.Messages {
		m := &r.Messages[i]
		var role types.ConversationRole
		var blocks []types.ContentBlock
		switch m.Role {
		case RoleSystem, RoleDeveloper:
			for _, p := range m.Parts {
				if !isBlank(p.Text) {
					system = append(system, &types.SystemContentBlockMemberText{Value: p.Text})
				}
			}
			continue
		case RoleUser:
			role = types.ConversationRoleUser
			blocks = contentBlocks(m.Parts, false)
		case RoleAssistant:
			role = types.ConversationRoleAssistant
			if thinking {
				blocks = reasoningBlocks(m.Reasoning)
			}
			blocks = append(blocks, contentBlocks(m.Parts, thinkTags)...)
			for j, tc := range m.ToolCalls {
				callNames[tc.ID] = tc.Function.Name
				if textTools {
					blocks = append(blocks, &types.ContentBlockMemberText{Value: "[called tool " + tc.Function.Name + " with " + compactArgs(tc.Function.Arguments) + "]"})
					continue
				}
				if !slices.Contains(histTools, tc.Function.Name) {
					histTools = append(histTools, tc.Function.Name)
				}
				input, err := toolInput(m, j)
				if err != nil {
					return nil, nil, nil, invalid(codeInvalidValue, fmt.Sprintf("messages[%d].tool_calls[%d].function.arguments", i, j), "Invalid 'messages[%d].tool_calls[%d].function.arguments': %v.", i, j, err)
				}
				blocks = append(blocks, &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
					ToolUseId: &tc.ID,
					Name:      &tc.Function.Name,
					Input:     document.NewLazyDocument(input),
				}})
			}
		case RoleTool:
			role = types.ConversationRoleUser
			blocks = []types.ContentBlock{toolResult(m, callNames[m.ToolCallID], textTools)}
		}
		if len(blocks) == 0 {
			if dropped < 0 {
				dropped = i
			}
			continue
		}
		if n := len(turns); n > 0 && turns[n-1].Role == role {
			turns[n-1].Content = append(turns[n-1].Content, blocks...)
			continue
		}
		if len(turns) == 0 {
			firstTurn = i
		}
		turns = append(turns, types.Message{Role: role, Content: blocks})
	}

	switch {
	case len(turns) == 0 && dropped >= 0:
		return nil, nil, nil, invalid(codeInvalidValue, fmt.Sprintf("messages[%d]", dropped), "messages[%d]: the message has no content (empty or whitespace-only text), and the conversation needs at least one user message with content.", dropped)
	case len(turns) == 0:
		return nil, nil, nil, invalid(codeInvalidValue, "messages", "Invalid 'messages': the conversation needs at least one user message; system and developer messages alone are not enough.")
	case turns[0].Role != types.ConversationRoleUser:
		return nil, nil, nil, invalid(codeInvalidValue, fmt.Sprintf("messages[%d]", firstTurn), "messages[%d]: the conversation starts with an assistant message; Bedrock requires the first message after the system messages to be a user message.", firstTurn)
	}
	return system, turns, histTools, nil
}

// contentBlocks converts text, image and document parts, dropping blank
// text, which Bedrock rejects. With thinkTags, a leading <think> block is
// cut from the text first.
func contentBlocks(parts []Part, thinkTags bool) []types.ContentBlock {
	blocks := make([]types.ContentBlock, 0, len(parts))
	for _, p := range parts {
		switch p.Kind {
		case PartText:
			text := p.Text
			if thinkTags {
				text = stripThink(text)
			}
			if !isBlank(text) {
				blocks = append(blocks, &types.ContentBlockMemberText{Value: text})
			}
		case PartImage:
			blocks = append(blocks, &types.ContentBlockMemberImage{Value: types.ImageBlock{
				Format: p.Image.Format,
				Source: &types.ImageSourceMemberBytes{Value: p.Image.Data},
			}})
		case PartDocument:
			blocks = append(blocks, &types.ContentBlockMemberDocument{Value: types.DocumentBlock{
				Format: p.Document.Format,
				Name:   ptr(p.Document.Name),
				Source: &types.DocumentSourceMemberBytes{Value: p.Document.Data},
			}})
		}
	}
	return blocks
}

// emptyToolResult stands in for a blank tool result: Bedrock rejects blank
// text, and an empty result list confuses some models.
const emptyToolResult = "(empty)"

// toolResult converts a tool message to a toolResult block, or to a text
// block when textTools (tool_choice "none") is set.
func toolResult(m *Message, name string, textTools bool) types.ContentBlock {
	var texts []string
	var content []types.ToolResultContentBlock
	for _, p := range m.Parts {
		switch {
		case p.Kind == PartImage && p.Image != nil:
			// A Responses function_call_output may carry images (Codex's
			// view_image); chat's tool messages carry text only.
			if textTools {
				texts = append(texts, "(an image)")
				continue
			}
			content = append(content, &types.ToolResultContentBlockMemberImage{Value: types.ImageBlock{
				Format: p.Image.Format, Source: &types.ImageSourceMemberBytes{Value: p.Image.Data}}})
		case p.Kind == PartText && !isBlank(p.Text):
			texts = append(texts, p.Text)
			content = append(content, &types.ToolResultContentBlockMemberText{Value: p.Text})
		}
	}
	if len(texts) == 0 && len(content) == 0 {
		texts = []string{emptyToolResult}
		content = []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: emptyToolResult}}
	}
	if textTools {
		return &types.ContentBlockMemberText{Value: "[tool " + name + " result: " + strings.Join(texts, "\n") + "]"}
	}
	return &types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{ToolUseId: &m.ToolCallID, Content: content}}
}

// toolInput returns the decoded arguments of m's j-th tool call.
func toolInput(m *Message, j int) (map[string]any, error) {
	if j < len(m.toolInputs) {
		return m.toolInputs[j].(map[string]any), nil
	}
	return decodeArguments(m.ToolCalls[j].Function.Arguments)
}

// compactArgs renders tool call arguments on one line for the text form of
// a tool call.
func compactArgs(args string) string {
	if strings.TrimSpace(args) == "" {
		return "{}"
	}
	var b bytes.Buffer
	if json.Compact(&b, []byte(args)) != nil {
		return args
	}
	return b.String()
}

// requestedMaxTokens is the max tokens r asks for, 0 when it sets none.
// With Claude's thinking on (budget > 0) they leave room above the budget:
// budget + 4096 when the request sets none, budget + the request's when that
// is not more than the budget, never more than the model's maximum.
func requestedMaxTokens(r *ChatRequest, q quirk, budget int) int {
	n := r.MaxOutputTokens()
	if budget > 0 {
		switch {
		case n == 0:
			n = budget + thinkingAnswerTokens
		case n <= budget:
			n += budget
		}
		if q.maxOutput > 0 {
			n = min(n, q.maxOutput)
		}
	}
	return n
}

// inferenceConfig maps the sampling parameters and maxTokens (0: none).
// With Claude's thinking on, temperature is dropped unless it is 1, and
// top_p below 0.95 is dropped, as Claude requires.
func inferenceConfig(r *ChatRequest, q quirk, maxTokens int, thinking bool) *types.InferenceConfiguration {
	var c types.InferenceConfiguration
	set := false
	if n := maxTokens; n > 0 {
		c.MaxTokens = ptr(int32(min(n, math.MaxInt32)))
		set = true
	}
	temperature, topP := r.Temperature, r.TopP
	if thinking {
		if temperature != nil && *temperature != thinkingTemperature {
			temperature = nil
		}
		if topP != nil && *topP < thinkingMinTopP {
			topP = nil
		}
	}
	if temperature != nil {
		c.Temperature = ptr(float32(*temperature))
		set = true
	}
	if topP != nil && !(q.exclusiveSampling && temperature != nil) {
		c.TopP = ptr(float32(*topP))
		set = true
	}
	if len(r.Stop) > 0 {
		c.StopSequences = r.Stop
		set = true
	}
	if !set {
		return nil
	}
	return &c
}

// toolConfig returns the tools Bedrock must be told about. Bedrock has no
// tool_choice "none" and requires a toolConfig whenever the history holds
// tool blocks, so with "none" the history's tool blocks became text (see
// buildTurns) and only a JSON tool is sent. Without tools but with tool
// calls in the history, it declares those tools with an empty schema.
//
// jt names the tool that carries a JSON answer (structured output on a
// model without textFormat), "" when none: it comes first, and the model
// must call it, or one of the request's tools when there are some.
func toolConfig(r *ChatRequest, histTools []string, jt string) (*types.ToolConfiguration, error) {
	var tools []types.Tool
	if jt != "" {
		spec, err := jsonToolSpec(r.ResponseFormat, jt)
		if err != nil {
			return nil, err
		}
		tools = append(tools, spec)
	}
	none := r.ToolChoice.Mode == ToolChoiceNone
	switch {
	case none:
	case len(r.Tools) > 0:
		for i := range r.Tools {
			t := &r.Tools[i]
			spec := types.ToolSpecification{
				Name:        &t.Name,
				InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(t.Parameters)},
			}
			// Bedrock rejects an empty description.
			if t.Description != "" {
				spec.Description = &t.Description
			}
			tools = append(tools, &types.ToolMemberToolSpec{Value: spec})
		}
	case len(histTools) > 0:
		for i := range histTools {
			tools = append(tools, &types.ToolMemberToolSpec{Value: types.ToolSpecification{
				Name:        &histTools[i],
				InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(emptySchema())},
			}})
		}
	}
	if len(tools) == 0 {
		return nil, nil
	}
	c := &types.ToolConfiguration{Tools: tools}
	switch {
	case jt != "" && len(tools) == 1:
		c.ToolChoice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: &jt}}
	case jt != "":
		c.ToolChoice = &types.ToolChoiceMemberAny{}
	case r.ToolChoice.Mode == ToolChoiceAuto:
		c.ToolChoice = &types.ToolChoiceMemberAuto{}
	case r.ToolChoice.Mode == ToolChoiceRequired:
		c.ToolChoice = &types.ToolChoiceMemberAny{}
	case r.ToolChoice.Mode == ToolChoiceFunction:
		c.ToolChoice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: &r.ToolChoice.Name}}
	}
	return c, nil
}

// decodeJSONValue decodes one JSON value, keeping numbers exact as smithy
// document.Number: Bedrock's serializer writes those as JSON numbers
// digit for digit, while it would quote a json.Number and round a float64.
func decodeJSONValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON (%v)", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not valid JSON (data after the value)")
	}
	return toDocNumbers(v), nil
}

func toDocNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		return smithydoc.Number(v)
	case map[string]any:
		for k, e := range v {
			v[k] = toDocNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = toDocNumbers(e)
		}
	}
	return v
}

func invalid(code, param, format string, args ...any) *tollgate.Error {
	return tollgate.Errorf(tollgate.Invalid, code, param, format, args...)
}

// decodeInto decodes raw into v, turning a JSON type mismatch into an
// OpenAI-style error that names the field under param.
func decodeInto(raw []byte, v any, param string) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return typeError(err, param)
	}
	return nil
}

func typeError(err error, param string) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return invalid(codeInvalidValue, param, "Invalid '%s': %v.", param, err)
	}
	p := param
	switch {
	case p == "":
		p = te.Field
	case te.Field != "":
		p += "." + te.Field
	}
	return invalid(codeInvalidType, p, "Invalid type for '%s': expected %s, but got %s instead.", p, expectedKind(te.Type), jsonKind(te.Value))
}

// expectedKind names the JSON type that decodes into t.
func expectedKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t == reflect.TypeFor[json.RawMessage]() {
			return "a JSON value"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a JSON value"
}

// jsonKind names the JSON type that encoding/json reports as value.
func jsonKind(value string) string {
	switch {
	case value == "string":
		return "a string"
	case value == "bool":
		return "a boolean"
	case value == "object":
		return "an object"
	case value == "array":
		return "an array"
	case value == "number":
		return "a number"
	case strings.HasPrefix(value, "number "):
		return "the number " + strings.TrimPrefix(value, "number ")
	}
	return value
}

// rawKind names the JSON type of a raw value.
func rawKind(raw json.RawMessage) string {
	switch firstByte(raw) {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func firstByte(raw []byte) byte {
	for _, c := range raw {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}

// plainString returns the JSON string raw holds when it needs no decoding:
// no escape and valid UTF-8 (encoding/json would replace invalid bytes).
// raw comes from a body that was decoded already, so it is valid JSON.
func plainString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') >= 0 || !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

func isNull(raw json.RawMessage) bool {
	b := firstByte(raw)
	return b == 0 || b == 'n'
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

func ptr[T any](v T) *T { return &v }

// sniffImage tells an image's format from its first bytes, "" when they
// are none of the formats Bedrock takes. A client's declared type is never
// trusted: Bedrock refuses a mislabelled image only after the budget is
// reserved.
func sniffImage(b []byte) types.ImageFormat {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return types.ImageFormatPng
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return types.ImageFormatJpeg
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return types.ImageFormatGif
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return types.ImageFormatWebp
	}
	return ""
}
