package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// These tests drive the OpenAI surface beyond plain chat (reasoning,
// structured output, documents, guardrails, prompt caching) through the
// official OpenAI Go SDK, against the gateway in -sim mode. Every response
// is validated against OpenAI's specification (gateway.client).

const (
	sonnet37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
	sonnet45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
)

// featurePolicy has a plain key, a key whose requests go through a
// guardrail, and prompt caching switched on for Claude 3.7 Sonnet.
const featurePolicy = `
keys:
  - id: alice
    sha256: %q
  - id: guarded
    sha256: %q
    guardrail: {id: abc123xyz, version: "1", trace: true}
models:
  "*claude-3-7-sonnet*":
    prompt_cache: true
`

const (
	aliceSecret   = "sk-test-alice-0123456789"
	guardedSecret = "sk-test-guarded-0123456789"
)

func featureGateway(t *testing.T, args ...string) *gateway {
	t.Helper()
	dir := t.TempDir()
	body := fmt.Sprintf(featurePolicy, policy.HashSecret(aliceSecret), policy.HashSecret(guardedSecret))
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, nil, append([]string{"-sim", "-policies", dir, "-store", "bolt://" + dir + "/usage.db"}, args...)...)
}

func TestReasoningStream(t *testing.T) {
	g := featureGateway(t)
	client := g.client(t, aliceSecret)
	// No max_tokens: the gateway must make room for the thinking budget
	// itself rather than let Bedrock refuse the request.
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:           sonnet37,
		Messages:        []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Why is the sky blue?")},
		ReasoningEffort: shared.ReasoningEffortLow,
		StreamOptions:   openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var (
		reasoning, content strings.Builder
		order              []string // "reasoning", "details", "content", in order of first appearance
		details            []map[string]any
		usage              openai.CompletionUsage
	)
	note := func(kind string) {
		if len(order) == 0 || order[len(order)-1] != kind {
			order = append(order, kind)
		}
	}
	for stream.Next() {
		c := stream.Current()
		if len(c.Choices) == 0 {
			usage = c.Usage
			continue
		}
		d := c.Choices[0].Delta
		if f, ok := d.JSON.ExtraFields["reasoning_content"]; ok {
			var s string
			if err := json.Unmarshal([]byte(f.Raw()), &s); err != nil {
				t.Fatal(err)
			}
			reasoning.WriteString(s)
			note("reasoning")
		}
		if f, ok := d.JSON.ExtraFields["reasoning_details"]; ok {
			var ds []map[string]any
			if err := json.Unmarshal([]byte(f.Raw()), &ds); err != nil {
				t.Fatal(err)
			}
			details = append(details, ds...)
			note("details")
		}
		if d.Content != "" {
			content.WriteString(d.Content)
			note("content")
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"reasoning", "details", "content"}, order); diff != "" {
		t.Errorf("order of the deltas (-want +got):\n%s", diff)
	}
	if reasoning.Len() == 0 || content.Len() == 0 {
		t.Errorf("reasoning %q, content %q", reasoning.String(), content.String())
	}
	if len(details) != 1 || details[0]["text"] != reasoning.String() || details[0]["signature"] == "" {
		t.Errorf("reasoning_details = %v, want one with the whole reasoning text and a signature", details)
	}
	if r := usage.CompletionTokensDetails.ReasoningTokens; r <= 0 || r >= usage.CompletionTokens {
		t.Errorf("reasoning_tokens = %d of %d completion tokens", r, usage.CompletionTokens)
	}
}

func TestThinkTagsOption(t *testing.T) {
	g := featureGateway(t, "-think-tags")
	client := g.client(t, aliceSecret)
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:           sonnet37,
		Messages:        []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Why is the sky blue?")},
		ReasoningEffort: shared.ReasoningEffortMedium,
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := resp.Choices[0].Message
	if !strings.HasPrefix(msg.Content, "<think>\n") || !strings.Contains(msg.Content, "\n</think>\n\nThis is a simulated reply") {
		t.Errorf("content = %q, want the reasoning in <think> tags before the answer", msg.Content)
	}
	if _, ok := msg.JSON.ExtraFields["reasoning_content"]; ok {
		t.Error("reasoning_content is set too")
	}
}

// TestThinkingAcrossToolCalls sends Claude's thinking back with the tool
// result (reasoning_details echoed), and without it, as a client that
// drops unknown fields would: both must succeed.
func TestThinkingAcrossToolCalls(t *testing.T) {
	g := featureGateway(t)
	client := g.client(t, aliceSecret)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:           sonnet37,
		Messages:        []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris? Use get_weather.")},
		Tools:           []openai.ChatCompletionToolUnionParam{weatherTool},
		ReasoningEffort: shared.ReasoningEffortMedium,
	}
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	msg := resp.Choices[0].Message
	if resp.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 {
		t.Fatalf("finish %q, tool calls %+v", resp.Choices[0].FinishReason, msg.ToolCalls)
	}
	details := msg.JSON.ExtraFields["reasoning_details"].Raw()
	if !strings.Contains(details, `"signature"`) {
		t.Fatalf("reasoning_details = %s, want a signed reasoning block", details)
	}

	for _, echo := range []bool{true, false} {
		t.Run(map[bool]string{true: "signature echoed", false: "signature dropped"}[echo], func(t *testing.T) {
			asst := msg.ToAssistantMessageParam()
			if echo {
				asst.SetExtraFields(map[string]any{"reasoning_details": json.RawMessage(details)})
			}
			p := params
			p.Messages = append(append([]openai.ChatCompletionMessageParamUnion{}, params.Messages...),
				openai.ChatCompletionMessageParamUnion{OfAssistant: &asst},
				openai.ToolMessage("Sunny, 21 degrees", msg.ToolCalls[0].ID))
			resp, err := client.Chat.Completions.New(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			got := resp.Choices[0].Message
			if !strings.Contains(got.Content, "Sunny, 21 degrees") {
				t.Errorf("answer = %q", got.Content)
			}
			// Thinking stays on only when the signature came back.
			_, reasoned := got.JSON.ExtraFields["reasoning_content"]
			if reasoned != echo {
				t.Errorf("reasoning in the answer: %v, want %v", reasoned, echo)
			}
		})
	}
}

var citySchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"city":        map[string]any{"type": "string"},
		"population":  map[string]any{"type": "integer"},
		"is_capital":  map[string]any{"type": "boolean"},
		"coordinates": map[string]any{"type": "object", "properties": map[string]any{"lat": map[string]any{"type": "number"}}, "required": []string{"lat"}, "additionalProperties": false},
	},
	"required":             []string{"city", "population", "is_capital", "coordinates"},
	"additionalProperties": false,
}

// TestStructuredOutput asks for a json_schema answer from a model with
// outputConfig.textFormat (Sonnet 4.5) and from one without (Claude 3 Haiku,
// through a forced tool), plain and streamed: the content must parse as JSON
// matching the schema.
func TestStructuredOutput(t *testing.T) {
	g := featureGateway(t)
	client := g.client(t, aliceSecret)
	ctx := context.Background()
	for _, model := range []string{sonnet45, haiku} {
		for _, streamed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", model, streamed), func(t *testing.T) {
				params := openai.ChatCompletionNewParams{
					Model:    model,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Describe Paris.")},
					ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
						JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "city", Schema: citySchema, Strict: openai.Bool(true)},
					}},
				}
				var content, finish string
				if streamed {
					stream := client.Chat.Completions.NewStreaming(ctx, params)
					var acc openai.ChatCompletionAccumulator
					for stream.Next() {
						acc.AddChunk(stream.Current())
					}
					if err := stream.Err(); err != nil {
						t.Fatal(err)
					}
					if n := len(acc.Choices[0].Message.ToolCalls); n != 0 {
						t.Errorf("%d tool calls shown", n)
					}
					content, finish = acc.Choices[0].Message.Content, acc.Choices[0].FinishReason
				} else {
					resp, err := client.Chat.Completions.New(ctx, params)
					if err != nil {
						t.Fatal(err)
					}
					if n := len(resp.Choices[0].Message.ToolCalls); n != 0 {
						t.Errorf("%d tool calls shown", n)
					}
					content, finish = resp.Choices[0].Message.Content, resp.Choices[0].FinishReason
				}
				var got struct {
					City        *string `json:"city"`
					Population  *int    `json:"population"`
					IsCapital   *bool   `json:"is_capital"`
					Coordinates *struct {
						Lat *float64 `json:"lat"`
					} `json:"coordinates"`
				}
				dec := json.NewDecoder(strings.NewReader(content))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&got); err != nil {
					t.Fatalf("content %q is not the schema's JSON: %v", content, err)
				}
				if got.City == nil || got.Population == nil || got.IsCapital == nil || got.Coordinates == nil || got.Coordinates.Lat == nil {
					t.Errorf("content %q lacks required properties", content)
				}
				if finish != "stop" {
					t.Errorf("finish_reason %q, want stop", finish)
				}
			})
		}
	}
}

func TestDocumentInput(t *testing.T) {
	g := featureGateway(t)
	client := g.client(t, aliceSecret)
	ctx := context.Background()
	pdf := []byte("%PDF-1.4\n" + strings.Repeat("Quarterly revenue grew by twelve percent. ", 100))
	ask := func(parts ...openai.ChatCompletionContentPartUnionParam) (*openai.ChatCompletion, error) {
		return client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    haiku,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(parts)},
		})
	}
	question := openai.TextContentPart("Summarize the report.")
	plain, err := ask(question)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ask(question, openai.FileContentPart(openai.ChatCompletionContentPartFileFileParam{
		FileData: openai.String("data:application/pdf;base64," + base64.StdEncoding.EncodeToString(pdf)),
		Filename: openai.String("Q3 report (final).pdf"),
	}))
	if err != nil {
		t.Fatal(err)
	}
	// The simulator bills a document by its bytes: 4 per token.
	if got, want := resp.Usage.PromptTokens-plain.Usage.PromptTokens, int64(len(pdf)/4); got < want {
		t.Errorf("the document added %d prompt tokens, want at least %d", got, want)
	}

	_, err = ask(question, openai.FileContentPart(openai.ChatCompletionContentPartFileFileParam{FileID: openai.String("file-abc123")}))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "messages[0].content[1].file.file_id" {
		t.Errorf("file_id: err = %v, want a 400 naming messages[0].content[1].file.file_id", err)
	}
}

func TestGuardrailIntervention(t *testing.T) {
	g := featureGateway(t)
	ctx := context.Background()
	for _, streamed := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", streamed), func(t *testing.T) {
			client := g.client(t, guardedSecret)
			params := openai.ChatCompletionNewParams{
				Model:    haiku,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Something the guardrail blocks [sim:guardrail]")},
			}
			var content, finish string
			if streamed {
				stream := client.Chat.Completions.NewStreaming(ctx, params)
				var acc openai.ChatCompletionAccumulator
				for stream.Next() {
					acc.AddChunk(stream.Current())
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				content, finish = acc.Choices[0].Message.Content, acc.Choices[0].FinishReason
			} else {
				resp, err := client.Chat.Completions.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				content, finish = resp.Choices[0].Message.Content, resp.Choices[0].FinishReason
			}
			if finish != "content_filter" || content != "Sorry, the model cannot answer this question." {
				t.Errorf("finish %q, content %q", finish, content)
			}
		})
	}
	// A key without a guardrail is not filtered by the same prompt.
	plain := g.client(t, aliceSecret)
	resp, err := plain.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    haiku,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Something the guardrail blocks [sim:guardrail]")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].FinishReason != "stop" {
		t.Errorf("unguarded key: finish %q", resp.Choices[0].FinishReason)
	}
}

// TestPromptCaching repeats a request whose system prompt is past Claude
// 3.7 Sonnet's 1,024-token cache minimum, on a model the policy caches: the
// second request reads the cache and costs less.
func TestPromptCaching(t *testing.T) {
	g := featureGateway(t)
	client := g.client(t, aliceSecret)
	ctx := context.Background()
	system := strings.Repeat("You are the Tollgate handbook. Answer from it, briefly. ", 120) // ~6,700 bytes
	params := openai.ChatCompletionNewParams{
		Model:    sonnet37,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(system), openai.UserMessage("What is a budget?")},
	}
	var cached []int64
	var costs []float64
	for range 2 {
		before := g.usage(t, aliceSecret).Key.SpentUSD
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		cached = append(cached, resp.Usage.PromptTokensDetails.CachedTokens)
		costs = append(costs, g.usage(t, aliceSecret).Key.SpentUSD-before)
	}
	if cached[0] != 0 || cached[1] < 1024 {
		t.Errorf("cached_tokens = %v, want 0 then at least 1024", cached)
	}
	if !(costs[1] < costs[0]) || costs[1] <= 0 {
		t.Errorf("costs = %v USD, want the cached request cheaper", costs)
	}

	// The request's prompt_cache switches it off.
	off := params
	off.SetExtraFields(map[string]any{"prompt_cache": false})
	resp, err := client.Chat.Completions.New(ctx, off)
	if err != nil {
		t.Fatal(err)
	}
	if n := resp.Usage.PromptTokensDetails.CachedTokens; n != 0 {
		t.Errorf("prompt_cache false: cached_tokens = %d", n)
	}
}
