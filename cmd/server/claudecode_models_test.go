package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// TestClaudeCodeDefaultModels: the models current Claude Code asks for
// when no model is set, by Anthropic name (ANTHROPIC_BASE_URL) and by
// Bedrock inference profile (CLAUDE_CODE_USE_BEDROCK), are served by
// `tollgate -sim` to its demo key, under a policy that prices no model: the
// simulator knows them, the Anthropic names route to profiles it lists,
// and the shipped price table bills each call (the key's spend grows).
// Claude Code 2.1.332's default is claude-opus-5-5, sent with adaptive
// thinking and an effort; count_tokens serves it too.
func TestClaudeCodeDefaultModels(t *testing.T) {
	const secret = DemoKey
	dir := t.TempDir()
	body := fmt.Sprintf("keys:\n  - id: dev\n    sha256: %q\n", policy.HashSecret("sk-test-claude-code-0123456789"))
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")

	post := func(path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", g.baseURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, path, body, want string
	}{
		// Anthropic form: Claude Code streams to /v1/messages?beta=true.
		{"opus 4.6 by name", "/v1/messages?beta=true",
			`{"model":"claude-opus-4-6","max_tokens":32000,"stream":true,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, "event: message_stop"},
		{"sonnet 4.6 by name", "/v1/messages?beta=true",
			`{"model":"claude-sonnet-4-6","max_tokens":32000,"stream":true,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, "event: message_stop"},
		{"haiku 4.5 by name (the small, fast model)", "/v1/messages?beta=true",
			`{"model":"claude-haiku-4-5-20251001","max_tokens":512,"stream":true,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, "event: message_stop"},
		{"opus 4.5 by name", "/v1/messages",
			`{"model":"claude-opus-4-5","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		// Claude Code 2.1.332: its default, claude-opus-5-5, with the body it
		// sends (adaptive thinking, an effort, context management, 128k).
		{"opus 5.5 by name, as Claude Code sends it", "/v1/messages?beta=true",
			`{"model":"claude-opus-5-5","max_tokens":128000,"stream":true,"thinking":{"type":"adaptive","display":"omitted"},"output_config":{"effort":"medium"},"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, "event: message_stop"},
		{"sonnet 5.5 by name", "/v1/messages?beta=true",
			`{"model":"claude-sonnet-5-5","max_tokens":128000,"stream":true,"thinking":{"type":"adaptive","display":"omitted"},"output_config":{"effort":"medium"},"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, "event: message_stop"},
		{"haiku 5.5 by name", "/v1/messages",
			`{"model":"claude-haiku-5-5","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		{"opus 4.8 by name", "/v1/messages",
			`{"model":"claude-opus-4-8","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		{"fable 5.2 by name", "/v1/messages",
			`{"model":"claude-fable-5-2","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		// Bedrock form: the profile ids in the path of InvokeModel.
		{"opus 4.6 us profile", "/bedrock/model/us.anthropic.claude-opus-4-6-v1/invoke",
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		{"opus 4.6 global profile", "/bedrock/model/global.anthropic.claude-opus-4-6-v1/invoke",
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		{"sonnet 4.6 us profile", "/bedrock/model/us.anthropic.claude-sonnet-4-6/invoke",
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		{"sonnet 4.6 global profile", "/bedrock/model/global.anthropic.claude-sonnet-4-6/invoke",
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		{"opus 5.5 us profile", "/bedrock/model/us.anthropic.claude-opus-5-5/invoke",
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		{"opus 5.5 global profile", "/bedrock/model/global.anthropic.claude-opus-5-5/invoke",
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		{"sonnet 5.5 us profile", "/bedrock/model/us.anthropic.claude-sonnet-5-5/invoke",
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		{"haiku 5.5 us profile", "/bedrock/model/us.anthropic.claude-haiku-5-5/invoke",
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`, `"type":"message"`},
		{"opus 5.5 us profile, streamed with adaptive thinking", "/bedrock/model/us.anthropic.claude-opus-5-5/invoke-with-response-stream",
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["effort-2025-11-24"],"max_tokens":128000,"thinking":{"type":"adaptive"},"output_config":{"effort":"high"},"messages":[{"role":"user","content":"hi [sim:tokens=5]"}]}`,
			"eyJ0eXBlIjoibWVzc2FnZV9zdG9w"}, // a chunk's bytes: base64 of {"type":"message_stop"
	}
	var spent float64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, b := post(tt.path, tt.body)
			if status != 200 || !strings.Contains(b, tt.want) {
				t.Fatalf("POST %s: %d, want 200 with %q: %s", tt.path, status, tt.want, b)
			}
			now := g.usage(t, secret).Key.SpentUSD
			if now <= spent {
				t.Errorf("spend %v USD after the call, %v before: not billed", now, spent)
			}
			spent = now
		})
	}
	// Claude Code counts tokens for its default too; counting is free.
	status, b := post("/v1/messages/count_tokens?beta=true", `{"model":"claude-opus-5-5","messages":[{"role":"user","content":"hello there"}]}`)
	if status != 200 || !strings.Contains(b, `"input_tokens":`) {
		t.Errorf("count_tokens for claude-opus-5-5: %d %s", status, b)
	}
	if now := g.usage(t, secret).Key.SpentUSD; now != spent {
		t.Errorf("spend %v USD after count_tokens, %v before: counting is free", now, spent)
	}
}
