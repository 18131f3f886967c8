package bedrockapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/anthropic"
	"github.com/tollgate-gw/tollgate/internal/converse"
)

// minThinkingBudget is the least thinking budget Claude accepts.
const minThinkingBudget = 1024

// Call is what the gate needs of one request body: the measures of its
// worst case, and the body itself, sent as it came unless the output cap is
// lowered. Create it with [ParseConverse] or [ParseInvoke].
type Call struct {
	// InputBytes bounds the bytes of text the model reads: the body less
	// its images', videos' and binary documents' base64.
	InputBytes int
	// Images counts the images.
	Images int
	// DocumentTokens bounds the text of the binary documents (PDF, Word,
	// Excel).
	DocumentTokens int
	// Blocks counts messages, content blocks, system blocks and tools; 0
	// for an InvokeModel body.
	Blocks int
	// Tools: the request offers tools.
	Tools bool
	// CacheWrite: the request carries cache points.
	CacheWrite bool
	// MaxOutput is the output cap the body asks for, 0 when it sets none.
	MaxOutput int
	// ThinkingBudget is Claude's extended-thinking budget, 0 when off.
	ThinkingBudget int

	texts    []string
	body     []byte
	shape    shape
	capPath  []string // where the body holds its output cap; nil: unknown
	thinking []string // where it holds Claude's thinking object; nil: none
}

// Texts returns the texts the model reads, for a precise count.
func (c *Call) Texts() []string { return c.texts }

// Body returns the body to send Bedrock.
func (c *Call) Body() []byte { return c.body }

// SetOutputCap writes n as the body's output cap (the cap a budget
// granted). A thinking budget that no longer fits below n becomes half of
// n, or thinking is turned off when that is under Claude's minimum, so that
// Bedrock accepts the request. It reports false when the body's family has
// no output cap this package knows where to write.
func (c *Call) SetOutputCap(n int) (bool, error) {
	if c.capPath == nil {
		return false, nil
	}
	body, err := setPath(c.body, c.capPath, json.RawMessage(strconv.Itoa(n)))
	if err != nil {
		return false, err
	}
	if c.ThinkingBudget > 0 && c.ThinkingBudget >= n {
		if b := n / 2; b >= minThinkingBudget {
			body, err = setPath(body, append(c.thinking, "budget_tokens"), json.RawMessage(strconv.Itoa(b)))
			c.ThinkingBudget = b
		} else {
			body, err = setPath(body, c.thinking, nil)
			c.ThinkingBudget = 0
		}
		if err != nil {
			return false, err
		}
	}
	c.body, c.MaxOutput = body, n
	return true, nil
}

// shape is the kind of body a Call holds.
type shape int

const (
	converseShape shape = iota
	claudeShape         // Anthropic's Messages body on InvokeModel
	otherShape          // another model's own body
)

// ScopeCache opens the cached prompt of a body with cache points with the
// key's cache scope (policy.CacheScope), as the chat front end does, so
// that keys that do not share a scope never share a cached prefix: a text
// block first in the system prompt, and no cache point on the tools, which
// come before it. A body without cache points, or of a model without
// prompt caching, is left as it is.
func (c *Call) ScopeCache(scope string) error {
	if scope == "" {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(c.body, &fields); err != nil {
		return err
	}
	var system []json.RawMessage
	if raw, ok := fields["system"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if raw[0] == '"' && c.shape == claudeShape {
			system = []json.RawMessage{textBlock(raw, true)}
		} else if err := json.Unmarshal(raw, &system); err != nil {
			return invalid("system must be a list of blocks.")
		}
	}
	scopeText, _ := json.Marshal("[cache scope " + scope + "]") // a string always encodes
	switch c.shape {
	case converseShape:
		if !c.CacheWrite {
			return nil
		}
		if raw, ok := getPath(fields, []string{"toolConfig", "tools"}); ok {
			var tools []json.RawMessage
			if json.Unmarshal(raw, &tools) == nil {
				kept := tools[:0]
				for _, t := range tools {
					if !bytes.Contains(t, []byte(`"cachePoint"`)) {
						kept = append(kept, t)
					}
				}
				b, _ := json.Marshal(kept) // raw messages re-encode
				body, err := setPath(c.body, []string{"toolConfig", "tools"}, b)
				if err != nil {
					return err
				}
				_ = json.Unmarshal(body, &fields)
			}
		}
		system = append([]json.RawMessage{textBlock(scopeText, false)}, system...)
	case claudeShape:
		if !bytes.Contains(c.body, []byte(`"cache_control"`)) {
			return nil
		}
		if raw, ok := fields["tools"]; ok {
			var tools []map[string]json.RawMessage
			if json.Unmarshal(raw, &tools) == nil {
				for _, t := range tools {
					delete(t, "cache_control")
				}
				fields["tools"], _ = json.Marshal(tools) // raw messages re-encode
			}
		}
		system = append([]json.RawMessage{textBlock(scopeText, true)}, system...)
	default:
		return nil
	}
	var err error
	if fields["system"], err = json.Marshal(system); err != nil {
		return err
	}
	c.InputBytes += len(scopeText)
	c.texts = append(c.texts, string(scopeText))
	c.body, err = json.Marshal(fields)
	return err
}

// textBlock is a text block holding the JSON string str: Anthropic's
// ({"type":"text","text":...}) or Converse's ({"text":...}).
func textBlock(str json.RawMessage, anthropicShape bool) json.RawMessage {
	if anthropicShape {
		return json.RawMessage(`{"type":"text","text":` + string(str) + `}`)
	}
	return json.RawMessage(`{"text":` + string(str) + `}`)
}

// SetGuardrail puts a Converse call under a guardrail, whatever guardrail
// the client named: the key's policy decides.
func (c *Call) SetGuardrail(id, version string, trace bool) error {
	if version == "" {
		version = "DRAFT" // as the chat route sends it
	}
	g := map[string]string{"guardrailIdentifier": id, "guardrailVersion": version}
	if trace {
		g["trace"] = "enabled"
	}
	raw, err := json.Marshal(g)
	if err != nil {
		return err
	}
	c.body, err = setPath(c.body, []string{"guardrailConfig"}, raw)
	return err
}

func invalid(format string, args ...any) *tollgate.Error {
	return tollgate.Errorf(tollgate.Invalid, "invalid_request_error", "", format, args...)
}

// converseBody is what ParseConverse reads of a Converse request.
type converseBody struct {
	Messages []struct {
		Role    string `json:"role"`
		Content []any  `json:"content"`
	} `json:"messages"`
	System          []any `json:"system"`
	InferenceConfig *struct {
		MaxTokens *int `json:"maxTokens"`
	} `json:"inferenceConfig"`
	ToolConfig *struct {
		Tools []any `json:"tools"`
	} `json:"toolConfig"`
	AdditionalModelRequestFields map[string]json.RawMessage `json:"additionalModelRequestFields"`
}

// ParseConverse reads a Converse or ConverseStream request body. Errors are
// *tollgate.Error of kind Invalid naming the member to fix.
func ParseConverse(body []byte) (*Call, error) {
	var b converseBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, invalid("The request body must be a Converse request, a JSON object: %s", jsonProblem(err))
	}
	c := &Call{body: body, InputBytes: len(body), capPath: []string{"inferenceConfig", "maxTokens"}}
	if b.InferenceConfig != nil && b.InferenceConfig.MaxTokens != nil {
		if *b.InferenceConfig.MaxTokens < 1 {
			return nil, invalid("inferenceConfig.maxTokens must be at least 1, not %d.", *b.InferenceConfig.MaxTokens)
		}
		c.MaxOutput = *b.InferenceConfig.MaxTokens
	}
	if raw, ok := b.AdditionalModelRequestFields["thinking"]; ok {
		c.ThinkingBudget = thinkingBudget(raw)
		c.thinking = []string{"additionalModelRequestFields", "thinking"}
	}
	w := walker{c: c}
	for _, m := range b.Messages {
		c.Blocks++
		for _, block := range m.Content {
			c.Blocks++
			w.walk(block, "")
		}
	}
	for _, block := range b.System {
		c.Blocks++
		w.walk(block, "")
	}
	if b.ToolConfig != nil && len(b.ToolConfig.Tools) > 0 {
		c.Tools = true
		for _, t := range b.ToolConfig.Tools {
			c.Blocks++
			w.walk(t, "")
		}
	}
	c.InputBytes = max(c.InputBytes, 0)
	return c, nil
}

// walker collects the texts of a Converse body's blocks, and takes what is
// no text (the base64 of images, videos and binary documents) off the input
// bound.
type walker struct{ c *Call }

func (w walker) walk(v any, key string) {
	switch v := v.(type) {
	case string:
		w.c.texts = append(w.c.texts, v)
	case []any:
		for _, e := range v {
			w.walk(e, key)
		}
	case map[string]any:
		if _, ok := v["cachePoint"]; ok {
			w.c.CacheWrite = true
		}
		for k, e := range v {
			switch k {
			case "image":
				w.c.Images++
				w.dropBytes(e)
			case "video":
				w.dropBytes(e)
			case "document":
				w.document(e)
			default:
				w.walk(e, k)
			}
		}
	}
}

// dropBytes takes a media block's base64 off the input bound.
func (w walker) dropBytes(block any) {
	if s, ok := sourceBytes(block); ok {
		w.c.InputBytes -= len(s)
	}
}

// document reads a document block: a text document's bytes are its text, a
// binary one's text is bounded by converse.ExtractedTextBound.
func (w walker) document(block any) {
	m, _ := block.(map[string]any)
	s, ok := sourceBytes(block)
	if !ok {
		w.walk(block, "document") // a text or content source: its texts
		return
	}
	w.c.InputBytes -= len(s)
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return // Bedrock refuses it
	}
	format, _ := m["format"].(string)
	switch types.DocumentFormat(format) {
	case types.DocumentFormatTxt, types.DocumentFormatMd, types.DocumentFormatCsv, types.DocumentFormatHtml:
		w.c.InputBytes += len(data)
		w.c.texts = append(w.c.texts, string(data))
	default:
		w.c.DocumentTokens += converse.ExtractedTextBound(types.DocumentFormat(format), data)
	}
	if name, ok := m["name"].(string); ok {
		w.c.texts = append(w.c.texts, name)
	}
}

func sourceBytes(block any) (string, bool) {
	m, _ := block.(map[string]any)
	src, _ := m["source"].(map[string]any)
	s, ok := src["bytes"].(string)
	return s, ok
}

func thinkingBudget(raw json.RawMessage) int {
	var t struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	}
	if json.Unmarshal(raw, &t) != nil || t.Type != "enabled" {
		return 0
	}
	return t.BudgetTokens
}

// outputCaps says where an InvokeModel body of each model family holds its
// output cap. Embedding models generate nothing and have none.
var outputCaps = []struct {
	family string
	path   []string
}{
	{"anthropic.claude", []string{"max_tokens"}},
	{"meta.llama", []string{"max_gen_len"}},
	{"amazon.titan-text", []string{"textGenerationConfig", "maxTokenCount"}},
	{"amazon.nova", []string{"inferenceConfig", "max_new_tokens"}},
	{"mistral.", []string{"max_tokens"}},
	{"cohere.command", []string{"max_tokens"}},
	{"ai21.", []string{"max_tokens"}},
	{"deepseek.", []string{"max_tokens"}},
	{"openai.", []string{"max_completion_tokens"}},
	{"qwen.", []string{"max_tokens"}},
}

// ParseInvoke reads an InvokeModel body for family, the foundation model id
// the call goes to (the model behind a profile). A Claude body is checked
// as Anthropic's Messages body; another model's is read for its output cap
// (outputCaps) and texts. Errors are *tollgate.Error of kind Invalid.
func ParseInvoke(family string, body []byte) (*Call, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, invalid("The request body must be a JSON object, the model's own request: %s", jsonProblem(err))
	}
	c := &Call{body: body, InputBytes: len(body)}
	for _, oc := range outputCaps {
		if strings.HasPrefix(family, oc.family) {
			c.capPath = oc.path
			break
		}
	}
	if c.capPath == nil {
		if _, ok := fields["max_tokens"]; ok {
			c.capPath = []string{"max_tokens"}
		}
	}
	c.shape = otherShape
	if anthropic.IsClaude(family) {
		c.shape = claudeShape
		return parseClaude(c, fields)
	}
	if c.capPath != nil {
		if raw, ok := getPath(fields, c.capPath); ok {
			n, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
			if err != nil || n < 1 {
				return nil, invalid("%s must be a positive integer, not %s.", strings.Join(c.capPath, "."), tollgate.Clip(string(raw)))
			}
			c.MaxOutput = n
		}
	}
	var all any
	_ = json.Unmarshal(body, &all) // decoded above
	collectStrings(all, &c.texts)
	return c, nil
}

// parseClaude checks a Claude body as the Messages API's (the model is in
// the path, so the check supplies one) and reads it with package anthropic.
func parseClaude(c *Call, fields map[string]json.RawMessage) (*Call, error) {
	if _, ok := fields["model"]; ok {
		return nil, invalid("model: Extra inputs are not permitted: the model is in the path.")
	}
	// Members of Anthropic's own API that Bedrock's Claude refuses (Claude
	// Code's Bedrock mode sends metadata), and anthropic_beta flags Bedrock
	// does not accept (one fails the whole request), are dropped, as
	// /v1/messages does: an unknown flag costs a feature, not the request.
	dropped := false
	for _, k := range anthropic.DroppedFields() {
		if _, ok := fields[k]; ok {
			delete(fields, k)
			dropped = true
		}
	}
	if raw, ok := fields["anthropic_beta"]; ok {
		var betas []string
		if json.Unmarshal(raw, &betas) == nil {
			kept, unknown := anthropic.SplitBetas(betas)
			if len(unknown) > 0 {
				dropped = true
				if len(kept) == 0 {
					delete(fields, "anthropic_beta")
				} else {
					fields["anthropic_beta"], _ = json.Marshal(kept) // strings always encode
				}
			}
		}
	}
	if dropped {
		body, err := json.Marshal(fields)
		if err != nil {
			return nil, err
		}
		c.body = body
	}
	fields["model"] = json.RawMessage(`"bedrock"`)
	withModel, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	r, err := anthropic.ParseRequest(withModel)
	if err != nil {
		return nil, err
	}
	in := r.Input()
	c.InputBytes, c.Images = min(in.TextBytes, len(c.body)), in.Images
	c.texts = r.Texts()
	c.MaxOutput, c.ThinkingBudget = r.MaxTokens(), r.ThinkingBudget()
	c.thinking = []string{"thinking"}
	return c, nil
}

func collectStrings(v any, out *[]string) {
	switch v := v.(type) {
	case string:
		*out = append(*out, v)
	case []any:
		for _, e := range v {
			collectStrings(e, out)
		}
	case map[string]any:
		for _, e := range v {
			collectStrings(e, out)
		}
	}
}

func getPath(fields map[string]json.RawMessage, path []string) (json.RawMessage, bool) {
	raw, ok := fields[path[0]]
	if !ok || len(path) == 1 {
		return raw, ok
	}
	var inner map[string]json.RawMessage
	if json.Unmarshal(raw, &inner) != nil {
		return nil, false
	}
	return getPath(inner, path[1:])
}

// setPath returns the JSON object doc with the member at path set to value
// (removed when value is nil), creating the objects on the way.
func setPath(doc []byte, path []string, value json.RawMessage) ([]byte, error) {
	var fields map[string]json.RawMessage
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &fields); err != nil {
			return nil, invalid("%s must be a JSON object.", path[0])
		}
	}
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	switch {
	case len(path) > 1:
		inner, err := setPath(fields[path[0]], path[1:], value)
		if err != nil {
			return nil, err
		}
		fields[path[0]] = inner
	case value == nil:
		delete(fields, path[0])
	default:
		fields[path[0]] = value
	}
	return json.Marshal(fields)
}

func jsonProblem(err error) string {
	if err == nil {
		return "it is null"
	}
	return fmt.Sprint(err)
}
