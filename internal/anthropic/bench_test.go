package anthropic_test

import (
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/anthropic"
)

// claudeCodeTurn is a request shaped like one of Claude Code's: a long
// system prompt, a dozen tools, a few turns of history (~40 KB).
var claudeCodeTurn = func() string {
	var tools []string
	for i := range 12 {
		tools = append(tools, `{"name":"Tool`+string(rune('A'+i))+`","description":"`+strings.Repeat("Does a thing. ", 40)+`","input_schema":{"type":"object","properties":{"path":{"type":"string"},"limit":{"type":"integer"}},"required":["path"]}}`)
	}
	var turns []string
	for range 6 {
		turns = append(turns, `{"role":"user","content":[{"type":"text","text":"`+strings.Repeat("Please look at the code. ", 60)+`"}]}`,
			`{"role":"assistant","content":[{"type":"thinking","thinking":"`+strings.Repeat("hmm ", 50)+`","signature":"`+strings.Repeat("c2ln", 40)+`"},{"type":"text","text":"`+strings.Repeat("Sure. ", 80)+`"}]}`)
	}
	turns = append(turns, `{"role":"user","content":"Go on."}`)
	return `{"model":"claude-sonnet-4-5-20250929","max_tokens":32000,"stream":true,"thinking":{"type":"enabled","budget_tokens":31999},` +
		`"metadata":{"user_id":"u"},"system":[{"type":"text","text":"` + strings.Repeat("You are Claude Code. ", 400) + `","cache_control":{"type":"ephemeral"}}],` +
		`"tools":[` + strings.Join(tools, ",") + `],"messages":[` + strings.Join(turns, ",") + `]}`
}()

// BenchmarkRequest is the per-request CPU of the Messages front end's
// translation: parse, measure, build the Bedrock body.
func BenchmarkRequest(b *testing.B) {
	body := []byte(claudeCodeTurn)
	header := []string{"claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,prompt-caching-scope-2026-01-05"}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := anthropic.ParseRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		_ = r.Input()
		if _, err := r.BedrockBody(header); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEvent is the per-event CPU of a stream: one text delta
// read for its usage and framed as SSE.
func BenchmarkStreamEvent(b *testing.B) {
	chunk := []byte(`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Here is a line of generated text "}}`)
	m := anthropic.NewMeter()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		m.Add(chunk)
		var err error
		if buf, err = anthropic.AppendFrame(buf[:0], chunk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	body := []byte(claudeCodeTurn)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := anthropic.ParseRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBedrockBody(b *testing.B) {
	r, err := anthropic.ParseRequest([]byte(claudeCodeTurn))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(claudeCodeTurn)))
	for b.Loop() {
		if _, err := r.BedrockBody(nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSmallRequest is BenchmarkRequest for a one-message request, as
// an SDK user sends.
func BenchmarkSmallRequest(b *testing.B) {
	body := []byte(`{"model":"claude-sonnet-4-5-20250929","max_tokens":1024,"messages":[{"role":"user","content":"Hello, Claude"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		r, err := anthropic.ParseRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		_ = r.Input()
		if _, err := r.BedrockBody([]string{"interleaved-thinking-2025-05-14"}); err != nil {
			b.Fatal(err)
		}
	}
}
