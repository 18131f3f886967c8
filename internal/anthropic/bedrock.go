package anthropic

import (
	"encoding/json"
	"slices"
	"strings"
)

// BedrockVersion is the anthropic_version Bedrock requires.
const BedrockVersion = "bedrock-2023-05-31"

// bedrockBetas are the anthropic-beta flags Bedrock accepts for Claude; any
// other flag fails the whole request there ("invalid beta flag"), so the
// gateway drops it. The list is an allowlist on purpose: Claude Code adds new
// flags often, and an unknown flag must cost a feature, never the request.
var bedrockBetas = []string{
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

// renamedBetas are flags Bedrock knows under another name.
var renamedBetas = map[string]string{
	// Anthropic's tool search (defer_loading) is tool-search-tool on Bedrock.
	"advanced-tool-use-2025-11-20": "tool-search-tool-2025-10-19",
}

// gatedFields are body members Bedrock accepts only with a beta flag: when
// the client sends the member, the gateway adds the flag so that the feature
// passes through.
var gatedFields = map[string]string{
	"output_config":      "effort-2025-11-24",
	"context_management": "context-management-2025-06-27",
}

// droppedFields are top-level members of Anthropic's API that Bedrock's
// Claude refuses ("Extra inputs are not permitted") and that only matter to
// Anthropic's own service: they are removed.
var droppedFields = []string{"container", "diagnostics", "inference_geo", "mcp_servers", "metadata", "service_tier", "speed"}

// BedrockBetas returns the anthropic-beta flags Bedrock is sent, sorted.
func BedrockBetas() []string { return slices.Clone(bedrockBetas) }

// DroppedFields returns the request members never sent to Bedrock, sorted.
func DroppedFields() []string { return slices.Clone(droppedFields) }

// SplitBetas turns anthropic-beta header values (comma-separated, possibly
// repeated) into the flags Bedrock is sent, in order and without duplicates,
// and the flags dropped.
func SplitBetas(header []string) (kept, dropped []string) {
	for _, h := range header {
		for f := range strings.SplitSeq(h, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if to, ok := renamedBetas[f]; ok {
				f = to
			}
			switch {
			case !slices.Contains(bedrockBetas, f):
				if !slices.Contains(dropped, f) {
					dropped = append(dropped, f)
				}
			case !slices.Contains(kept, f):
				kept = append(kept, f)
			}
		}
	}
	return kept, dropped
}

// BedrockBody returns the InvokeModel body for the request: model and stream
// removed, anthropic_version set, anthropic_beta the flags of betaHeader
// that Bedrock accepts (plus those the body's gated members and deferred
// tools need), the dropped members removed, and messages with role system
// moved to the end of system.
func (r *Request) BedrockBody(betaHeader []string) ([]byte, error) {
	out := make(map[string]json.RawMessage, len(r.fields)+1)
	for k, v := range r.fields {
		out[k] = v
	}
	for _, k := range append([]string{"model", "stream", "anthropic_beta", "anthropic_version"}, droppedFields...) {
		delete(out, k)
	}
	out["anthropic_version"] = json.RawMessage(`"` + BedrockVersion + `"`)

	betas, _ := SplitBetas(betaHeader)
	need := func(flag string) {
		if !slices.Contains(betas, flag) {
			betas = append(betas, flag)
		}
	}
	for field, flag := range gatedFields {
		if _, ok := out[field]; ok {
			need(flag)
		}
	}
	for _, t := range r.tools {
		if t.DeferLoading != nil {
			need("tool-search-tool-2025-10-19")
		}
	}
	if len(betas) > 0 {
		slices.Sort(betas)
		raw, err := json.Marshal(betas)
		if err != nil {
			return nil, err
		}
		out["anthropic_beta"] = raw
	}
	if err := r.moveSystemMessages(out); err != nil {
		return nil, err
	}
	if r.cacheScope != "" && r.cacheMarked() {
		if err := r.scopeCache(out); err != nil {
			return nil, err
		}
	}
	return appendObject(make([]byte, 0, r.size+256), out), nil
}

// appendObject writes the members of an object whose values are JSON as the
// decoder kept them (valid, possibly spaced), in key order: a copy, where
// json.Marshal would validate and compact every value again.
func appendObject(dst []byte, members map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		key, _ := json.Marshal(k) // a string always encodes
		dst = append(dst, key...)
		dst = append(dst, ':')
		dst = append(dst, members[k]...)
	}
	return append(dst, '}')
}

// moveSystemMessages appends the content of messages with role system to
// out's system, in order, and removes them from out's messages.
func (r *Request) moveSystemMessages(out map[string]json.RawMessage) error {
	if !slices.ContainsFunc(r.messages, func(m message) bool { return m.Role == "system" }) {
		return nil
	}
	var system []json.RawMessage
	if raw, ok := out["system"]; ok && !isNull(raw) {
		if raw[0] == '"' {
			system = append(system, textBlock(raw))
		} else if err := json.Unmarshal(raw, &system); err != nil {
			return err
		}
	}
	var messages []json.RawMessage
	if err := json.Unmarshal(out["messages"], &messages); err != nil {
		return err
	}
	kept := messages[:0]
	for i, m := range r.messages {
		if m.Role != "system" {
			kept = append(kept, messages[i])
			continue
		}
		if m.Content[0] == '"' {
			system = append(system, textBlock(m.Content))
			continue
		}
		var blocks []json.RawMessage
		if err := json.Unmarshal(m.Content, &blocks); err != nil {
			return err
		}
		system = append(system, blocks...)
	}
	var err error
	if out["system"], err = json.Marshal(system); err != nil {
		return err
	}
	out["messages"], err = json.Marshal(kept)
	return err
}

// scopeCache opens out's system prompt with the cache scope, and removes
// the tools' cache marks.
func (r *Request) scopeCache(out map[string]json.RawMessage) error {
	scope, err := json.Marshal(map[string]string{"type": "text", "text": "[cache scope " + r.cacheScope + "]"})
	if err != nil {
		return err
	}
	system := []json.RawMessage{scope}
	if raw, ok := out["system"]; ok && !isNull(raw) {
		if raw[0] == '"' {
			system = append(system, textBlock(raw))
		} else {
			var blocks []json.RawMessage
			if err := json.Unmarshal(raw, &blocks); err != nil {
				return err
			}
			system = append(system, blocks...)
		}
	}
	if out["system"], err = json.Marshal(system); err != nil {
		return err
	}
	if raw, ok := out["tools"]; ok && slices.ContainsFunc(r.tools, func(t tool) bool { return len(t.Cache) > 0 }) {
		var tools []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &tools); err != nil {
			return err
		}
		for _, t := range tools {
			delete(t, "cache_control")
		}
		if out["tools"], err = json.Marshal(tools); err != nil {
			return err
		}
	}
	return nil
}

// textBlock wraps a JSON string as a text block.
func textBlock(str json.RawMessage) json.RawMessage {
	b := make([]byte, 0, len(str)+24)
	b = append(b, `{"type":"text","text":`...)
	b = append(b, str...)
	return append(b, '}')
}

// CountTokensBody returns the InvokeModel body that Bedrock's CountTokens
// counts for a count_tokens request: the request with a max_tokens of 1
// when it has none (count_tokens takes no max_tokens; InvokeModel requires
// one), scoped as the request itself would be (ScopeCache), so that the
// count is what the request will cost.
func CountTokensBody(body []byte, betaHeader []string, cacheScope string) (*Request, []byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err == nil && fields != nil {
		if _, ok := fields["max_tokens"]; !ok {
			fields["max_tokens"] = json.RawMessage("1")
			if b, err := json.Marshal(fields); err == nil {
				body = b
			}
		}
	}
	r, err := ParseRequest(body)
	if err != nil {
		return nil, nil, err
	}
	if r.thinking != nil && r.ThinkingBudget() > 0 && r.ThinkingBudget() >= r.MaxTokens() {
		r.fields["max_tokens"] = json.RawMessage(jsonInt(r.ThinkingBudget() + 1))
	}
	r.ScopeCache(cacheScope)
	out, err := r.BedrockBody(betaHeader)
	return r, out, err
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
