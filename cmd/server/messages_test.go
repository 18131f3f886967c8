package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// messagesPolicy prices Claude Sonnet 4.5 with cache reads and writes apart
// (USD per 1M tokens), gives the key "free" no cap and the key "broke" a
// cap of 0.
const messagesPolicy = `
keys:
  - id: free
    sha256: %q
  - id: broke
    sha256: %q
    monthly_budget_usd: 0
  - id: narrow
    sha256: %q
    models: ["anthropic.claude-3-haiku-*"]
  - id: other
    sha256: %q
  - id: guarded
    sha256: %q
    guardrail: {id: abc123, version: "1"}
pricing:
  anthropic.claude-sonnet-4-5-20250929-v1:0: {input: 3, output: 15, cache_read: 0.3, cache_write: 3.75}
`

const (
	brokeSecret      = "sk-test-broke-0123456789"
	narrowSecret     = "sk-test-narrow-0123456789"
	otherSecret      = "sk-test-other-0123456789"
	msgGuardedSecret = "sk-test-msg-guarded-0123456789"
)

const claudeSonnet45 = "claude-sonnet-4-5-20250929"

func messagesGateway(t *testing.T) *gateway {
	t.Helper()
	dir := t.TempDir()
	body := fmt.Sprintf(messagesPolicy, policy.HashSecret(freeSecret), policy.HashSecret(brokeSecret), policy.HashSecret(narrowSecret), policy.HashSecret(otherSecret), policy.HashSecret(msgGuardedSecret))
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")
}

func anthropicClient(g *gateway, key string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(g.baseURL), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func userMessage(text string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: claudeSonnet45, MaxTokens: 300,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))}}
}

// sonnetCost is what usage costs at messagesPolicy's prices, in USD, as the
// budget rounds it (up to the micro-dollar).
func sonnetCost(u anthropic.Usage) float64 {
	nano := u.InputTokens*3000 + u.OutputTokens*15000 + u.CacheReadInputTokens*300 + u.CacheCreationInputTokens*3750
	return math.Ceil(float64(nano)/1000) / 1e6
}

// TestMessagesSDK drives POST /v1/messages with the official Anthropic Go
// SDK: a plain message and a stream, each billed exactly what its usage
// costs, cache reads and writes priced apart.
func TestMessagesSDK(t *testing.T) {
	g := messagesGateway(t)
	client := anthropicClient(g, freeSecret)
	ctx := context.Background()

	msg, err := client.Messages.New(ctx, userMessage("Hello there"))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || !strings.Contains(msg.Content[0].Text, "simulated reply from Claude Sonnet 4.5 to: Hello there") || msg.StopReason != "end_turn" {
		t.Errorf("message %+v", msg)
	}
	spent := sonnetCost(msg.Usage)
	if got := g.usage(t, freeSecret).Key.SpentUSD; math.Abs(got-spent) > 1e-9 {
		t.Errorf("spent %v USD, want %v for usage %+v", got, spent, msg.Usage)
	}

	// A long system prompt marked for caching: written, then read.
	params := userMessage("Hello again")
	params.System = []anthropic.TextBlockParam{{Text: strings.Repeat("You are a careful assistant. ", 200), CacheControl: anthropic.NewCacheControlEphemeralParam()}}
	for i, want := range []string{"write", "read"} {
		stream := client.Messages.NewStreaming(ctx, params)
		var acc anthropic.Message
		var events []string
		for stream.Next() {
			ev := stream.Current()
			events = append(events, ev.Type)
			if err := acc.Accumulate(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if events[0] != "message_start" || events[len(events)-1] != "message_stop" || !strings.Contains(acc.Content[0].Text, "simulated reply") {
			t.Errorf("stream %d: events %v, message %+v", i, events, acc)
		}
		u := acc.Usage
		if (want == "write") != (u.CacheCreationInputTokens > 0) || (want == "read") != (u.CacheReadInputTokens > 0) {
			t.Errorf("stream %d: usage %+v, want a cache %s", i, u, want)
		}
		spent += sonnetCost(u)
		if got := g.usage(t, freeSecret).Key.SpentUSD; math.Abs(got-spent) > 1e-9 {
			t.Errorf("stream %d: spent %v USD, want %v (usage %+v)", i, got, spent, u)
		}
	}

	// Another key sending the same prompt does not read the first key's
	// cache entry: its prompt opens with its own cache scope.
	otherClient := anthropicClient(g, otherSecret)
	other, err := otherClient.Messages.New(ctx, params)
	if err != nil || other.Usage.CacheReadInputTokens != 0 || other.Usage.CacheCreationInputTokens == 0 {
		t.Errorf("another key: %v, usage %+v; want a cache write, no read", err, other.Usage)
	}

	// The beta route Claude Code uses, with flags Bedrock does not take.
	beta, err := client.Beta.Messages.New(ctx, anthropic.BetaMessageNewParams{Model: claudeSonnet45, MaxTokens: 50,
		Betas:    []anthropic.AnthropicBeta{"claude-code-20250219", "interleaved-thinking-2025-05-14", "prompt-caching-scope-2026-01-05"},
		Messages: []anthropic.BetaMessageParam{anthropic.NewBetaUserMessage(anthropic.NewBetaTextBlock("Hi"))}})
	if err != nil || !strings.Contains(beta.Content[0].Text, "simulated reply") {
		t.Errorf("beta: %v %+v", err, beta)
	}

	n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: claudeSonnet45,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello there"))}})
	if err != nil || n.InputTokens != 3 {
		t.Errorf("count_tokens: %v %+v", err, n)
	}
}

// TestMessagesErrors: Anthropic's envelope and statuses; a budget refusal
// is a 429 that says so, with x-should-retry: false, before a stream too.
func TestMessagesErrors(t *testing.T) {
	g := messagesGateway(t)
	ctx := context.Background()
	broke := anthropicClient(g, brokeSecret)
	for _, stream := range []bool{false, true} {
		var err error
		if stream {
			s := broke.Messages.NewStreaming(ctx, userMessage("Hi"))
			for s.Next() {
			}
			err = s.Err()
		} else {
			_, err = broke.Messages.New(ctx, userMessage("Hi"))
		}
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Response.Header.Get("X-Should-Retry") != "false" ||
			!strings.Contains(ae.Error(), "rate_limit_error") || !strings.Contains(ae.Error(), "budget") || !strings.Contains(ae.Error(), "resets") {
			t.Errorf("stream %v: %v", stream, err)
		}
	}
	for _, tt := range []struct {
		name, key, body string
		status          int
		typ, msg        string
	}{
		{"no key", "", `{}`, 401, "authentication_error", "API key"},
		{"bad key", "sk-nobody", `{}`, 401, "authentication_error", ""},
		{"a model the key may not use", narrowSecret, `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, 403, "permission_error", "not allowed to use"},
		{"a model it may use, by Anthropic's name", narrowSecret, `{"model":"claude-3-haiku-20240307","max_tokens":5,"messages":[{"role":"user","content":"x [sim:error=ResourceNotFoundException]"}]}`, 404, "not_found_error", "end of its life"},
		{"no max_tokens", freeSecret, `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "max_tokens: Field required"},
		{"a Claude model Bedrock does not list", freeSecret, `{"model":"claude-opus-9-9","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, 404, "not_found_error", "alias"},
		{"not Claude", freeSecret, `{"model":"amazon.nova-micro-v1:0","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "not a Claude model"},
		{"Bedrock refuses", freeSecret, `{"model":"claude-sonnet-4-5","max_tokens":5,"temperature":0.5,"top_p":0.5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "cannot both be specified"},
		{"Bedrock throttles", freeSecret, `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"x [sim:error=ThrottlingException]"}]}`, 429, "rate_limit_error", "Too many requests"},
		{"Bedrock unavailable", freeSecret, `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"x [sim:error=ServiceUnavailableException]"}]}`, 529, "overloaded_error", ""},
	} {
		req, _ := http.NewRequest("POST", g.baseURL+"/v1/messages?beta=true", strings.NewReader(tt.body))
		if tt.key != "" {
			req.Header.Set("x-api-key", tt.key)
		}
		req.Header.Set("anthropic-version", "2023-06-01")
		req.Header.Set("content-type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		err = decodeJSON(resp, &body)
		if err != nil || resp.StatusCode != tt.status || body.Type != "error" || body.Error.Type != tt.typ || !strings.Contains(body.Error.Message, tt.msg) {
			t.Errorf("%s: %d %+v %v; want %d %s %q", tt.name, resp.StatusCode, body, err, tt.status, tt.typ, tt.msg)
		}
	}
}

// TestMessagesGuardrail: a key's guardrail applies on the Messages route,
// plain and streamed: Bedrock's own intervention comes back as the answer,
// and Bedrock's guardrail field never reaches the client in a stream.
func TestMessagesGuardrail(t *testing.T) {
	g := messagesGateway(t)
	client := anthropicClient(g, msgGuardedSecret)
	msg, err := client.Messages.New(context.Background(), userMessage("Tell me [sim:guardrail]"))
	if err != nil || len(msg.Content) != 1 || msg.Content[0].Text != "Sorry, the model cannot answer this question." {
		t.Fatalf("plain: %v %+v", err, msg)
	}
	status, _, b := g.do(t, "POST", "/v1/messages", msgGuardedSecret, "application/json",
		`{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Tell me [sim:guardrail]"}]}`)
	if status != 200 || !strings.Contains(string(b), `"text":"cannot answer this "`) || strings.Contains(string(b), "amazon-bedrock") {
		t.Errorf("stream: %d\n%s", status, b)
	}
	if start, ping := strings.Index(string(b), "event: message_start\n"), strings.Index(string(b), "event: ping\ndata: {\"type\": \"ping\"}\n\n"); start < 0 || ping < start || strings.Count(string(b), "event: ping") != 1 {
		t.Errorf("stream: want one ping after message_start, as Anthropic sends it:\n%s", b)
	}
	// The same prompt by a key without a guardrail is answered.
	free := anthropicClient(g, freeSecret)
	if msg, err := free.Messages.New(context.Background(), userMessage("Tell me [sim:guardrail]")); err != nil || !strings.Contains(msg.Content[0].Text, "simulated reply") {
		t.Errorf("unguarded: %v %+v", err, msg)
	}
}

// TestMessagesStreamClientLeaves: a stream whose client leaves is still
// read to its end and billed what Bedrock reports, as the same complete
// stream is; a stream Bedrock cuts ends with an error event.
func TestMessagesStreamClientLeaves(t *testing.T) {
	g := messagesGateway(t)
	client := anthropicClient(g, freeSecret)
	params := userMessage("A long answer please. [sim:tokens=80] [sim:latency=300ms]")
	if _, err := client.Messages.New(context.Background(), params); err != nil {
		t.Fatal(err)
	}
	one := g.usage(t, freeSecret).Key.SpentUSD

	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	s := client.Messages.NewStreaming(ctx, params)
	for s.Next() {
	}
	if s.Err() == nil {
		t.Fatal("the stream was not cut")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		spent := g.usage(t, freeSecret).Key.SpentUSD
		if math.Abs(spent-2*one) < 1e-9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spent %v USD after 2 answers of %v each", spent, one)
		}
		time.Sleep(50 * time.Millisecond)
	}

	status, _, b := g.do(t, "POST", "/v1/messages", freeSecret, "application/json",
		`{"model":"claude-sonnet-4-5","max_tokens":300,"stream":true,"messages":[{"role":"user","content":"Story [sim:tokens=60] [sim:exception=modelStreamErrorException]"}]}`)
	if status != 200 || !strings.Contains(string(b), "event: error\ndata: {\"type\":\"error\"") || strings.Contains(string(b), "message_stop") {
		t.Errorf("a broken stream: %d\n%s", status, b)
	}
}

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
