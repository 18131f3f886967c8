package anthropic_test

import (
	"encoding/json"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/anthropic"
)

// FuzzRequest: whatever the body, ParseRequest answers a request or an
// error, never a panic, and what it accepts becomes a Bedrock body that is
// valid JSON without model or stream, whatever the cap, the scope and the
// betas.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		claudeCodeTurn,
		`{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"x","cache_control":{}}]}]}`,
		`{"model":"m","max_tokens":3000,"thinking":{"type":"enabled","budget_tokens":2048},"system":"s","tools":[{"name":"t","cache_control":{}}],"messages":[{"role":"user","content":[{"type":"tool_result","content":[{"type":"image","source":{"type":"base64","data":"AA=="}}]}]}]}`,
		`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","data":"JVBERi0xLjQ="}}]}]}`,
	} {
		f.Add([]byte(s), 100)
	}
	f.Fuzz(func(t *testing.T, body []byte, maxTokens int) {
		r, err := anthropic.ParseRequest(body)
		if err != nil {
			return
		}
		_ = r.Input()
		_ = r.Texts()
		if maxTokens > 0 {
			r.SetMaxTokens(maxTokens)
		}
		r.ScopeCache("scope")
		out, err := r.BedrockBody([]string{"interleaved-thinking-2025-05-14,claude-code-20250219"})
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("the Bedrock body is not JSON: %v\n%s", err, out)
		}
		if _, ok := m["model"]; ok {
			t.Fatalf("model kept: %s", out)
		}
		if _, ok := m["stream"]; ok {
			t.Fatalf("stream kept: %s", out)
		}
		_, _, _ = anthropic.CountTokensBody(body, nil, "scope")
	})
}
