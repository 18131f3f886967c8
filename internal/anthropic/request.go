package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
)

// MinThinkingBudget is the least thinking budget Claude accepts.
const MinThinkingBudget = 1024

// Request is a Messages request that passed [ParseRequest]. Its members are
// kept as sent, so that what the gateway does not read reaches Bedrock
// unchanged.
type Request struct {
	// Model is the model the client asked for, as sent.
	Model string
	// Stream is whether the client asked for server-sent events.
	Stream bool

	fields   map[string]json.RawMessage
	messages []message
	system   []block // the system prompt as blocks (a string is one text block)
	thinking *thinking
	tools    []tool
	size     int // the body's length

	cacheScope string // opens a cached prompt (ScopeCache)
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	blocks  []block
}

// block is any content block; Type says which members matter.
type block struct {
	Type     string          `json:"type"`
	Text     json.RawMessage `json:"text,omitempty"`     // a JSON string, unquoted only when counted (Texts)
	Thinking json.RawMessage `json:"thinking,omitempty"` // likewise
	RawSrc   json.RawMessage `json:"source,omitempty"`   // an object (images, documents) or a string (search results)
	Name     string          `json:"name,omitempty"`
	Input    json.RawMessage `json:"input,omitempty"`
	Content  json.RawMessage `json:"content,omitempty"` // tool_result: a string or blocks
	Title    string          `json:"title,omitempty"`
	Context  string          `json:"context,omitempty"`
	Cache    json.RawMessage `json:"cache_control,omitempty"`
	inner    []block         // tool_result content
	Source   *source         `json:"-"` // RawSrc of an image or a document
}

type source struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

type thinking struct {
	Type         string `json:"type"`
	BudgetTokens *int   `json:"budget_tokens,omitempty"`
}

type tool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	DeferLoading *bool           `json:"defer_loading"`
	Cache        json.RawMessage `json:"cache_control"`
}

// invalid is a 400 invalid_request_error about param.
func invalid(param, format string, args ...any) *tollgate.Error {
	e := tollgate.Errorf(tollgate.Invalid, "invalid_request_error", param, format, args...)
	e.Message = param + ": " + e.Message
	return e
}

// ParseRequest decodes and checks a Messages request body. Errors are
// *tollgate.Error of kind Invalid whose message starts with the offending
// field, as Anthropic's do.
func ParseRequest(body []byte) (*Request, error) {
	r := &Request{size: len(body)}
	if err := json.Unmarshal(body, &r.fields); err != nil || r.fields == nil {
		return nil, tollgate.Errorf(tollgate.Invalid, "invalid_request_error", "", "The request body must be a JSON object: %s", jsonProblem(err))
	}
	if err := r.decodeScalars(); err != nil {
		return nil, err
	}
	raw, ok := r.fields["messages"]
	if !ok {
		return nil, invalid("messages", "Field required")
	}
	if err := json.Unmarshal(raw, &r.messages); err != nil {
		return nil, invalid("messages", "Input should be a valid list of message objects")
	}
	if len(r.messages) == 0 {
		return nil, invalid("messages", "List should have at least 1 item")
	}
	for i := range r.messages {
		m := &r.messages[i]
		path := fmt.Sprintf("messages.%d", i)
		switch m.Role {
		case "user", "assistant", "system":
		case "":
			return nil, invalid(path+".role", "Field required")
		default:
			return nil, invalid(path+".role", "Input should be 'user', 'assistant' or 'system', not %q", m.Role)
		}
		blocks, err := decodeContent(m.Content, path+".content")
		if err != nil {
			return nil, err
		}
		m.blocks = blocks
	}
	if raw, ok := r.fields["system"]; ok && !isNull(raw) {
		blocks, err := decodeContent(raw, "system")
		if err != nil {
			return nil, err
		}
		r.system = blocks
	}
	if err := r.decodeThinking(); err != nil {
		return nil, err
	}
	if raw, ok := r.fields["tools"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &r.tools); err != nil {
			return nil, invalid("tools", "Input should be a valid list of tool objects")
		}
	}
	return r, nil
}

// decodeScalars reads model, max_tokens and stream.
func (r *Request) decodeScalars() error {
	raw, ok := r.fields["model"]
	if !ok {
		return invalid("model", "Field required")
	}
	if json.Unmarshal(raw, &r.Model) != nil || r.Model == "" {
		return invalid("model", "Input should be a non-empty string naming a model")
	}
	raw, ok = r.fields["max_tokens"]
	if !ok {
		return invalid("max_tokens", "Field required")
	}
	var n int
	if json.Unmarshal(raw, &n) != nil {
		return invalid("max_tokens", "Input should be a valid integer, not %s", clip(raw))
	}
	if n < 1 {
		return invalid("max_tokens", "Input should be greater than or equal to 1")
	}
	if raw, ok := r.fields["stream"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &r.Stream) != nil {
			return invalid("stream", "Input should be a valid boolean, not %s", clip(raw))
		}
	}
	return nil
}

func (r *Request) decodeThinking() error {
	raw, ok := r.fields["thinking"]
	if !ok || isNull(raw) {
		return nil
	}
	var t thinking
	if json.Unmarshal(raw, &t) != nil {
		return invalid("thinking", "Input should be an object with a type")
	}
	switch t.Type {
	case "enabled":
		if t.BudgetTokens == nil {
			return invalid("thinking.enabled.budget_tokens", "Field required")
		}
		if *t.BudgetTokens < MinThinkingBudget {
			return invalid("thinking.enabled.budget_tokens", "Input should be greater than or equal to %d", MinThinkingBudget)
		}
	case "disabled", "adaptive":
	default:
		return invalid("thinking.type", "Input should be 'enabled', 'adaptive' or 'disabled', not %q", t.Type)
	}
	r.thinking = &t
	return nil
}

// decodeContent reads a message's content (or system): a string is one
// text block.
func decodeContent(raw json.RawMessage, path string) ([]block, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, invalid(path, "Field required")
	}
	if raw[0] == '"' {
		return []block{{Type: "text", Text: raw}}, nil // a valid string: the body was decoded
	}
	var blocks []block
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, invalid(path, "Input should be a string or a list of content blocks")
	}
	for j := range blocks {
		b := &blocks[j]
		bpath := fmt.Sprintf("%s.%d", path, j)
		if b.Type == "" {
			return nil, invalid(bpath+".type", "Field required")
		}
		switch b.Type {
		case "text":
			if len(b.Text) == 0 || b.Text[0] != '"' {
				return nil, invalid(bpath+".text", "Field required")
			}
		case "image", "document":
			if len(b.RawSrc) == 0 || isNull(b.RawSrc) {
				return nil, invalid(bpath+".source", "Field required")
			}
			if err := json.Unmarshal(b.RawSrc, &b.Source); err != nil {
				return nil, invalid(bpath+".source", "Input should be an object with a type")
			}
		case "tool_result":
			if len(b.Content) > 0 && !isNull(b.Content) {
				inner, err := decodeContent(b.Content, bpath+".content")
				if err != nil {
					return nil, err
				}
				b.inner = inner
			}
		}
	}
	return blocks, nil
}

// MaxTokens returns the request's max_tokens: the most output tokens
// (thinking included) the model may generate.
func (r *Request) MaxTokens() int {
	var n int
	_ = json.Unmarshal(r.fields["max_tokens"], &n) // checked by ParseRequest
	return n
}

// ThinkingBudget returns the extended-thinking budget the request enables,
// 0 when thinking is off or adaptive. It is part of MaxTokens, not on top.
func (r *Request) ThinkingBudget() int {
	if t := r.thinking; t != nil && t.Type == "enabled" && t.BudgetTokens != nil {
		return *t.BudgetTokens
	}
	return 0
}

// SetMaxTokens lowers max_tokens to n (a budget near its cap). When the
// thinking budget no longer fits below n it becomes half of n, or thinking
// is turned off when that is below Claude's minimum, so that Bedrock still
// accepts the request.
func (r *Request) SetMaxTokens(n int) {
	r.fields["max_tokens"] = json.RawMessage(fmt.Sprint(n))
	budget := r.ThinkingBudget()
	if budget == 0 || budget < n {
		return
	}
	if b := n / 2; b >= MinThinkingBudget {
		r.thinking.BudgetTokens = &b
		r.fields["thinking"], _ = json.Marshal(r.thinking)
		return
	}
	r.thinking = nil
	delete(r.fields, "thinking")
}

// InputSize bounds what a request sends the model, for its reservation.
type InputSize struct {
	TextBytes int // an upper bound of the bytes of every text the model reads
	Images    int // images, each billed by its pixels
	// DocumentTokens bounds the text of the base64 PDFs, which TextBytes
	// leaves out (converse.ExtractedTextBound).
	DocumentTokens int
	Blocks         int  // messages, system blocks, content blocks and tools
	Tools          bool // the request offers tools
	CacheWrite     bool // a cache_control mark: input may be billed at the cache-write price
}

// Input bounds what the model reads: the body holds every text (messages,
// system, tools, text documents, thinking), only longer for JSON escapes,
// so the body less the base64 of its images and PDFs bounds the text; each
// image counts as one, each PDF by the text it may hold. It costs no pass
// over the text, one over each PDF.
func (r *Request) Input() InputSize {
	s := InputSize{TextBytes: r.size, Blocks: len(r.messages) + len(r.tools), Tools: len(r.tools) > 0}
	s.CacheWrite = r.cacheMarked()
	var walk func([]block)
	walk = func(bs []block) {
		for _, b := range bs {
			s.Blocks++
			switch {
			case b.Type == "image":
				s.Images++
				if b.Source != nil {
					s.TextBytes -= len(b.Source.Data)
				}
			case b.Type == "document" && b.Source != nil && b.Source.Type == "base64":
				s.TextBytes -= len(b.Source.Data)
				if data, err := base64.StdEncoding.DecodeString(b.Source.Data); err == nil {
					s.DocumentTokens += converse.ExtractedTextBound(types.DocumentFormatPdf, data)
				} else {
					s.DocumentTokens += len(b.Source.Data)
				}
			}
			walk(b.inner)
		}
	}
	walk(r.system)
	for _, m := range r.messages {
		walk(m.blocks)
	}
	s.TextBytes = max(s.TextBytes, 0)
	return s
}

// cacheMarked reports whether the request marks anything for the prompt
// cache: a cache_control on a block, a system block or a tool, or at the
// top level.
func (r *Request) cacheMarked() bool {
	if raw, ok := r.fields["cache_control"]; ok && !isNull(raw) {
		return true
	}
	var marked func([]block) bool
	marked = func(bs []block) bool {
		for _, b := range bs {
			if len(b.Cache) > 0 && !isNull(b.Cache) || marked(b.inner) {
				return true
			}
		}
		return false
	}
	if marked(r.system) {
		return true
	}
	for _, m := range r.messages {
		if marked(m.blocks) {
			return true
		}
	}
	for _, t := range r.tools {
		if len(t.Cache) > 0 && !isNull(t.Cache) {
			return true
		}
	}
	return false
}

// ScopeCache makes a request that marks anything for the prompt cache open
// its system prompt with scope (policy.CacheScope): Bedrock keeps one prompt
// cache per AWS account, so the prefixes of different scopes (keys, or
// teams that share a cache) must differ from their first block. The tools
// come before the system prompt in what Claude caches, so their own cache
// marks, which would not be scoped, are removed (the system prompt's mark
// still caches them). An empty scope changes nothing.
func (r *Request) ScopeCache(scope string) { r.cacheScope = scope }

// Texts returns every text the model reads, for a precise token count: the
// system prompt, message texts, thinking, tool calls and results, document
// texts, and the tools' names, descriptions and schemas. It allocates; use
// it only when the bound of Input is not good enough.
func (r *Request) Texts() []string {
	var texts []string
	var walk func([]block)
	walk = func(bs []block) {
		for _, b := range bs {
			switch {
			case len(b.Text) > 0:
				texts = append(texts, unquote(b.Text))
			case len(b.Thinking) > 0:
				texts = append(texts, unquote(b.Thinking))
			case b.Type == "tool_use" || b.Type == "server_tool_use":
				texts = append(texts, b.Name, string(b.Input))
			case b.Type == "document" && b.Source != nil:
				texts = append(texts, b.Title, b.Context, b.Source.Data)
			}
			walk(b.inner)
		}
	}
	walk(r.system)
	for _, m := range r.messages {
		walk(m.blocks)
	}
	for _, t := range r.tools {
		texts = append(texts, t.Name, t.Description, string(t.InputSchema))
	}
	return texts
}

// unquote returns the text of a JSON string (of anything else, its JSON).
func unquote(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return string(raw)
	}
	return s
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// clip quotes at most tollgate.MaxQuoted bytes of a client's JSON value.
func clip(raw json.RawMessage) string { return tollgate.Clip(string(bytes.TrimSpace(raw))) }

// jsonProblem says what is wrong with a body that is not a JSON object.
func jsonProblem(err error) string {
	if err == nil {
		return "it is not an object"
	}
	return err.Error()
}
