package anthropic_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/anthropic"
)

// decode turns JSON into a value for cmp.
func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

const hello = `"messages":[{"role":"user","content":"Hello"}]`

// TestBedrockBody is the translation table: a Messages request and its
// anthropic-beta header, and the InvokeModel body Bedrock gets.
func TestBedrockBody(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		header []string
		want   string
	}{
		{"model and stream removed, version set", `{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + hello + `}`},
		{"a client's anthropic_version replaced", `{"model":"m","anthropic_version":"2023-06-01","max_tokens":10,` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + hello + `}`},
		{"beta flags Bedrock takes pass", `{"model":"m","max_tokens":10,` + hello + `}`, []string{"interleaved-thinking-2025-05-14,context-1m-2025-08-07"},
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["context-1m-2025-08-07","interleaved-thinking-2025-05-14"],"max_tokens":10,` + hello + `}`},
		{"beta flags Bedrock refuses dropped", `{"model":"m","max_tokens":10,` + hello + `}`,
			[]string{"claude-code-20250219,oauth-2025-04-20,prompt-caching-scope-2026-01-05,fast-mode-2026-02-01,redact-thinking-2026-02-12"},
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + hello + `}`},
		{"an unknown future flag dropped", `{"model":"m","max_tokens":10,` + hello + `}`, []string{"brand-new-2027-01-01"},
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + hello + `}`},
		{"repeated headers and spaces", `{"model":"m","max_tokens":10,` + hello + `}`, []string{" effort-2025-11-24 , ", "effort-2025-11-24"},
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["effort-2025-11-24"],"max_tokens":10,` + hello + `}`},
		{"advanced tool use renamed", `{"model":"m","max_tokens":10,` + hello + `}`, []string{"advanced-tool-use-2025-11-20"},
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["tool-search-tool-2025-10-19"],"max_tokens":10,` + hello + `}`},
		{"anthropic_beta in the body replaced by the header's", `{"model":"m","anthropic_beta":["x"],"max_tokens":10,` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + hello + `}`},
		{"metadata dropped", `{"model":"m","max_tokens":10,"metadata":{"user_id":"u"},` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + hello + `}`},
		{"service_tier, container, inference_geo, mcp_servers dropped",
			`{"model":"m","max_tokens":10,"service_tier":"auto","container":"c","inference_geo":"us","mcp_servers":[],` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + hello + `}`},
		{"output_config passes with the effort beta added", `{"model":"m","max_tokens":10,"output_config":{"effort":"high"},` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["effort-2025-11-24"],"max_tokens":10,"output_config":{"effort":"high"},` + hello + `}`},
		{"context_management passes with its beta added", `{"model":"m","max_tokens":10,"context_management":{"edits":[{"type":"clear_thinking_20251015"}]},` + hello + `}`, []string{"context-management-2025-06-27"},
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["context-management-2025-06-27"],"max_tokens":10,"context_management":{"edits":[{"type":"clear_thinking_20251015"}]},` + hello + `}`},
		{"a deferred tool adds tool search", `{"model":"m","max_tokens":10,"tools":[{"name":"t","input_schema":{"type":"object"},"defer_loading":true}],` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["tool-search-tool-2025-10-19"],"max_tokens":10,"tools":[{"name":"t","input_schema":{"type":"object"},"defer_loading":true}],` + hello + `}`},
		{"thinking, signatures and cache marks unchanged",
			`{"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":[{"type":"text","text":"Hi","cache_control":{"type":"ephemeral","ttl":"5m"}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"c2ln"},{"type":"text","text":"Yo"}]},{"role":"user","content":"Go"}]}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":[{"type":"text","text":"Hi","cache_control":{"type":"ephemeral","ttl":"5m"}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"c2ln"},{"type":"text","text":"Yo"}]},{"role":"user","content":"Go"}]}`},
		{"adaptive thinking unchanged", `{"model":"m","max_tokens":10,"thinking":{"type":"adaptive"},` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"thinking":{"type":"adaptive"},` + hello + `}`},
		{"tools and tool_choice unchanged", `{"model":"m","max_tokens":10,"tools":[{"name":"t","description":"d","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true},` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"tools":[{"name":"t","description":"d","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true},` + hello + `}`},
		{"images and documents unchanged", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc"},"title":"T","citations":{"enabled":true}},{"type":"text","text":"What?"}]}]}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc"},"title":"T","citations":{"enabled":true}},{"type":"text","text":"What?"}]}]}`},
		{"sampling and stop sequences unchanged", `{"model":"m","max_tokens":10,"temperature":0.2,"top_k":5,"stop_sequences":["END"],` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"temperature":0.2,"top_k":5,"stop_sequences":["END"],` + hello + `}`},
		{"an unknown member passes for Bedrock to judge", `{"model":"m","max_tokens":10,"future_thing":{"a":1},` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"future_thing":{"a":1},` + hello + `}`},
		{"a system message moved to system", `{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}]}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":[{"type":"text","text":"Be brief."}],` + hello + `}`},
		{"a system message appended to a system string", `{"model":"m","max_tokens":10,"system":"You are Claude Code.","messages":[{"role":"user","content":"Hello"},{"role":"system","content":[{"type":"text","text":"Reminder","cache_control":{"type":"ephemeral"}}]}]}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":[{"type":"text","text":"You are Claude Code."},{"type":"text","text":"Reminder","cache_control":{"type":"ephemeral"}}],` + hello + `}`},
		{"a system block list kept", `{"model":"m","max_tokens":10,"system":[{"type":"text","text":"A","cache_control":{"type":"ephemeral"}}],` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":[{"type":"text","text":"A","cache_control":{"type":"ephemeral"}}],` + hello + `}`},
		{"speed and diagnostics dropped", `{"model":"m","max_tokens":10,"speed":"fast","diagnostics":{"x":1},` + hello + `}`, []string{"fast-mode-2026-02-01"},
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + hello + `}`},
		{"an empty beta header", `{"model":"m","max_tokens":10,` + hello + `}`, []string{"", " , "},
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,` + hello + `}`},
		{"Claude Code's usual header", `{"model":"m","max_tokens":10,` + hello + `}`,
			[]string{"claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,prompt-caching-scope-2026-01-05,effort-2025-11-24,advanced-tool-use-2025-11-20"},
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["context-management-2025-06-27","effort-2025-11-24","interleaved-thinking-2025-05-14","tool-search-tool-2025-10-19"],"max_tokens":10,` + hello + `}`},
		{"redacted thinking unchanged", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"redacted_thinking","data":"ZW5j"},{"type":"text","text":"b"}]},{"role":"user","content":"c"}]}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"redacted_thinking","data":"ZW5j"},{"type":"text","text":"b"}]},{"role":"user","content":"c"}]}`},
		{"server tools and search results unchanged", `{"model":"m","max_tokens":10,"tools":[{"type":"bash_20250124","name":"bash"}],"messages":[{"role":"user","content":[{"type":"search_result","source":"s","title":"t","content":[{"type":"text","text":"x"}]}]}]}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"tools":[{"type":"bash_20250124","name":"bash"}],"messages":[{"role":"user","content":[{"type":"search_result","source":"s","title":"t","content":[{"type":"text","text":"x"}]}]}]}`},
		{"tool_choice any and none unchanged", `{"model":"m","max_tokens":10,"tool_choice":{"type":"any"},"tools":[{"name":"t","input_schema":{"type":"object"}}],` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"tool_choice":{"type":"any"},"tools":[{"name":"t","input_schema":{"type":"object"}}],` + hello + `}`},
		{"two system messages kept in order", `{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"One"},{"role":"user","content":"Hello"},{"role":"system","content":"Two"}]}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":[{"type":"text","text":"One"},{"type":"text","text":"Two"}],` + hello + `}`},
		{"disabled thinking unchanged", `{"model":"m","max_tokens":10,"thinking":{"type":"disabled"},` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"thinking":{"type":"disabled"},` + hello + `}`},
		{"1M context beta passes", `{"model":"m","max_tokens":10,` + hello + `}`, []string{"context-1m-2025-08-07"},
			`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["context-1m-2025-08-07"],"max_tokens":10,` + hello + `}`},
		{"an unknown member with an odd name passes as valid JSON", `{"model":"m","max_tokens":10,"od\u0001d\"key":1,` + hello + `}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"od\u0001d\"key":1,` + hello + `}`},
		{"tool use and results unchanged", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"w","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"Sunny"}],"is_error":false}]}]}`, nil,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"w","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"Sunny"}],"is_error":false}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := anthropic.ParseRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			got, err := r.BedrockBody(tt.header)
			if err != nil {
				t.Fatalf("BedrockBody: %v", err)
			}
			if diff := cmp.Diff(decode(t, tt.want), decode(t, string(got))); diff != "" {
				t.Errorf("body (-want +got)\n%s", diff)
			}
		})
	}
}

// TestParseRequestErrors: bad requests are 400 invalid_request_error with a
// message naming the field.
func TestParseRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"not JSON", `{"model":`, "The request body must be a JSON object"},
		{"an array", `[1]`, "The request body must be a JSON object"},
		{"no model", `{"max_tokens":10,` + hello + `}`, "model: Field required"},
		{"an empty model", `{"model":"","max_tokens":10,` + hello + `}`, "model: Input should be a non-empty string"},
		{"no max_tokens", `{"model":"m",` + hello + `}`, "max_tokens: Field required"},
		{"max_tokens a string", `{"model":"m","max_tokens":"10",` + hello + `}`, `max_tokens: Input should be a valid integer, not "10"`},
		{"max_tokens zero", `{"model":"m","max_tokens":0,` + hello + `}`, "max_tokens: Input should be greater than or equal to 1"},
		{"no messages", `{"model":"m","max_tokens":10}`, "messages: Field required"},
		{"empty messages", `{"model":"m","max_tokens":10,"messages":[]}`, "messages: List should have at least 1 item"},
		{"messages not a list", `{"model":"m","max_tokens":10,"messages":{}}`, "messages: Input should be a valid list"},
		{"a bad role", `{"model":"m","max_tokens":10,"messages":[{"role":"tool","content":"x"}]}`, `messages.0.role: Input should be 'user', 'assistant' or 'system', not "tool"`},
		{"no role", `{"model":"m","max_tokens":10,"messages":[{"content":"x"}]}`, "messages.0.role: Field required"},
		{"no content", `{"model":"m","max_tokens":10,"messages":[{"role":"user"}]}`, "messages.0.content: Field required"},
		{"a block without type", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages.0.content.0.type: Field required"},
		{"a text block without text", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages.0.content.0.text: Field required"},
		{"an image without source", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image"}]}]}`, "messages.0.content.0.source: Field required"},
		{"a bad tool_result content", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"x":1}]}]}]}`, "messages.0.content.0.content.0.type: Field required"},
		{"stream not a boolean", `{"model":"m","max_tokens":10,"stream":"yes",` + hello + `}`, "stream: Input should be a valid boolean"},
		{"thinking without budget", `{"model":"m","max_tokens":10,"thinking":{"type":"enabled"},` + hello + `}`, "thinking.enabled.budget_tokens: Field required"},
		{"thinking budget below the minimum", `{"model":"m","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":10},` + hello + `}`, "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{"thinking of an unknown type", `{"model":"m","max_tokens":10,"thinking":{"type":"deep"},` + hello + `}`, `thinking.type: Input should be 'enabled', 'adaptive' or 'disabled', not "deep"`},
		{"tools not a list", `{"model":"m","max_tokens":10,"tools":{},` + hello + `}`, "tools: Input should be a valid list"},
		{"system not text", `{"model":"m","max_tokens":10,"system":5,` + hello + `}`, "system: Input should be a string or a list of content blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := anthropic.ParseRequest([]byte(tt.body))
			var e *tollgate.Error
			if !errors.As(err, &e) {
				t.Fatalf("err %v, want a *tollgate.Error", err)
			}
			status, body := anthropic.ErrorBody(e)
			if status != 400 || !strings.HasPrefix(e.Message, tt.want) {
				t.Errorf("got %d %q, want 400 %q", status, e.Message, tt.want)
			}
			want := map[string]any{"type": "error", "error": map[string]any{"type": "invalid_request_error", "message": e.Message}}
			if diff := cmp.Diff(want, decode(t, string(body))); diff != "" {
				t.Errorf("envelope (-want +got)\n%s", diff)
			}
		})
	}
}

func TestMeasure(t *testing.T) {
	body := `{"model":"m","max_tokens":3000,"thinking":{"type":"enabled","budget_tokens":2048},"system":"Sys","tools":[{"name":"tl","description":"desc","input_schema":{"type":"object"}}],` +
		`"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAAAAAA"}},{"type":"text","text":"Look"},` +
		`{"type":"document","source":{"type":"text","data":"Doc text"},"title":"T"}]},` +
		`{"role":"assistant","content":[{"type":"thinking","thinking":"Hmm","signature":"s"},{"type":"tool_use","id":"1","name":"tl","input":{"a":1}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"1","content":[{"type":"text","text":"Res"},{"type":"image","source":{"type":"base64","data":"BBBB"}}]}]}]}`
	r, err := anthropic.ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Input(), (anthropic.InputSize{TextBytes: len(body) - 12, Images: 2, Blocks: 13, Tools: true}); got != want {
		t.Errorf("Input() = %+v, want %+v", got, want)
	}
	// A PDF counts by the text it may hold, not its base64; a cache mark
	// may bill the input at the cache-write price.
	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 (Hello) Tj"))
	body = `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"` + pdf + `"},"cache_control":{"type":"ephemeral"}}]}]}`
	doc, err := anthropic.ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Input(); got.TextBytes != len(body)-len(pdf) || got.DocumentTokens < len("%PDF-1.4 (Hello) Tj") || !got.CacheWrite || got.Blocks != 2 {
		t.Errorf("Input() of a PDF = %+v", got)
	}
	want := []string{"Sys", "Look", "T", "", "Doc text", "Hmm", "tl", `{"a":1}`, "Res", "tl", "desc", `{"type":"object"}`}
	if diff := cmp.Diff(want, r.Texts()); diff != "" {
		t.Errorf("Texts (-want +got)\n%s", diff)
	}
	if r.MaxTokens() != 3000 || r.ThinkingBudget() != 2048 {
		t.Errorf("MaxTokens %d ThinkingBudget %d", r.MaxTokens(), r.ThinkingBudget())
	}
}

// TestSetMaxTokens: a budget's clamp lowers max_tokens, and the thinking
// budget with it when it no longer fits.
func TestSetMaxTokens(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		thinking any
		max      float64
	}{
		{"budget fits", 4000, map[string]any{"type": "enabled", "budget_tokens": 2048.0}, 4000},
		{"budget halved", 2048, map[string]any{"type": "enabled", "budget_tokens": 1024.0}, 2048},
		{"thinking off below the minimum", 1500, nil, 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := anthropic.ParseRequest([]byte(`{"model":"m","max_tokens":8000,"thinking":{"type":"enabled","budget_tokens":2048},` + hello + `}`))
			if err != nil {
				t.Fatal(err)
			}
			r.SetMaxTokens(tt.n)
			body, err := r.BedrockBody(nil)
			if err != nil {
				t.Fatal(err)
			}
			got := decode(t, string(body)).(map[string]any)
			if diff := cmp.Diff(tt.thinking, got["thinking"]); diff != "" || got["max_tokens"] != tt.max {
				t.Errorf("max_tokens %v, thinking (-want +got)\n%s", got["max_tokens"], diff)
			}
		})
	}
}

func TestCountTokensBody(t *testing.T) {
	_, body, err := anthropic.CountTokensBody([]byte(`{"model":"claude-sonnet-4-5","thinking":{"type":"enabled","budget_tokens":1024},"metadata":{"user_id":"u"},`+hello+`}`), []string{"token-counting-2024-11-01"}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1025,"thinking":{"type":"enabled","budget_tokens":1024},` + hello + `}`
	if diff := cmp.Diff(decode(t, want), decode(t, string(body))); diff != "" {
		t.Errorf("body (-want +got)\n%s", diff)
	}
}

func TestBedrockModel(t *testing.T) {
	tests := []struct {
		name, geo, want string
		ok              bool
	}{
		{"claude-sonnet-4-5-20250929", "us", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", true},
		{"claude-sonnet-4-5", "eu", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", true},
		{"claude-3-5-haiku-latest", "us", "us.anthropic.claude-3-5-haiku-20241022-v1:0", true},
		{"claude-haiku-4-5-20251001", "global", "global.anthropic.claude-haiku-4-5-20251001-v1:0", true},
		{"claude-3-haiku-20240307", "us", "anthropic.claude-3-haiku-20240307-v1:0", true},
		{"claude-9", "us", "", false},
		// Claude Code 2.1.332's default and its table: no version suffix.
		{"claude-opus-5-5", "us", "us.anthropic.claude-opus-5-5", true},
		{"claude-opus-5", "global", "global.anthropic.claude-opus-5", true},
		{"claude-haiku-5-5", "eu", "eu.anthropic.claude-haiku-5-5", true},
		{"claude-fable-5-1", "us", "us.anthropic.claude-fable-5-1", true},
		{"claude-opus-4-8", "us", "us.anthropic.claude-opus-4-8", true},
	}
	for _, tt := range tests {
		if got, ok := anthropic.BedrockModel(tt.name, tt.geo); got != tt.want || ok != tt.ok {
			t.Errorf("BedrockModel(%q, %q) = %q, %v; want %q, %v", tt.name, tt.geo, got, ok, tt.want, tt.ok)
		}
	}
	for in, want := range map[string]string{
		"us.anthropic.claude-sonnet-4-5-20250929-v1:0":                                                             "anthropic.claude-sonnet-4-5-20250929-v1:0",
		"arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0": "anthropic.claude-haiku-4-5-20251001-v1:0",
		"anthropic.claude-3-haiku-20240307-v1:0":                                                                   "anthropic.claude-3-haiku-20240307-v1:0",
	} {
		if got := anthropic.FoundationModel(in); got != want {
			t.Errorf("FoundationModel(%q) = %q, want %q", in, got, want)
		}
	}
	for id, want := range map[string]string{"us.anthropic.claude-opus-5-5": "claude-opus-5-5", "global.anthropic.claude-opus-5": "claude-opus-5"} {
		if got, ok := anthropic.ModelName(id); got != want || !ok {
			t.Errorf("ModelName(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
	if got := anthropic.FoundationModel("us.anthropic.claude-opus-5-5"); got != "anthropic.claude-opus-5-5" {
		t.Errorf("FoundationModel of the unversioned profile = %q", got)
	}
	if anthropic.Geography("eu-west-1") != "eu" || anthropic.Geography("ap-northeast-1") != "apac" || anthropic.Geography("us-west-2") != "us" {
		t.Error("Geography")
	}
}

func TestErrorTable(t *testing.T) {
	tests := []struct {
		kind   tollgate.Kind
		status int
		typ    string
		retry  bool
	}{
		{tollgate.Invalid, 400, "invalid_request_error", true},
		{tollgate.Unauthenticated, 401, "authentication_error", true},
		{tollgate.PermissionDenied, 403, "permission_error", true},
		{tollgate.NotFound, 404, "not_found_error", true},
		{tollgate.TooLarge, 413, "request_too_large", true},
		{tollgate.RateLimited, 429, "rate_limit_error", true},
		{tollgate.QuotaExceeded, 429, "rate_limit_error", false},
		{tollgate.Internal, 500, "api_error", true},
		{tollgate.BadGateway, 502, "api_error", true},
		{tollgate.Unavailable, 529, "overloaded_error", true},
		{tollgate.GatewayTimeout, 504, "timeout_error", true},
	}
	for _, tt := range tests {
		status, typ := anthropic.Status(tt.kind)
		if status != tt.status || typ != tt.typ || anthropic.Retryable(tt.kind) != tt.retry {
			t.Errorf("kind %d: %d %s retry %v, want %d %s %v", tt.kind, status, typ, anthropic.Retryable(tt.kind), tt.status, tt.typ, tt.retry)
		}
	}
}

func TestModelList(t *testing.T) {
	day := time.Date(2025, 9, 29, 0, 0, 0, 0, time.UTC)
	models := []anthropic.ModelInfo{{ID: "claude-sonnet-4-5-20250929", DisplayName: "Claude Sonnet 4.5", Created: day}, {ID: "fast"}, {ID: "claude-3-haiku-20240307"}}
	got := decode(t, string(anthropic.ModelList(models, "", "", 2)))
	want := decode(t, `{"data":[{"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},
		{"type":"model","id":"fast","display_name":"fast","created_at":"1970-01-01T00:00:00Z"}],
		"has_more":true,"first_id":"claude-sonnet-4-5-20250929","last_id":"fast"}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("page (-want +got)\n%s", diff)
	}
	got = decode(t, string(anthropic.ModelList(models, "fast", "", 1000)))
	if page := got.(map[string]any); page["has_more"] != false || page["first_id"] != "claude-3-haiku-20240307" {
		t.Errorf("second page %v", page)
	}
	// before_id: the page right before it, has_more when more precede it.
	got = decode(t, string(anthropic.ModelList(models, "", "claude-3-haiku-20240307", 1)))
	if page := got.(map[string]any); page["has_more"] != true || page["first_id"] != "fast" || page["last_id"] != "fast" {
		t.Errorf("page before claude-3-haiku, limit 1: %v", page)
	}
	got = decode(t, string(anthropic.ModelList(models, "", "fast", 5)))
	if page := got.(map[string]any); page["has_more"] != false || page["first_id"] != "claude-sonnet-4-5-20250929" || page["last_id"] != "claude-sonnet-4-5-20250929" {
		t.Errorf("page before fast: %v", page)
	}
	if got := decode(t, string(anthropic.ModelList(nil, "", "", 0))); got.(map[string]any)["first_id"] != nil {
		t.Errorf("empty page %v", got)
	}
	for id, want := range map[string]string{"us.anthropic.claude-sonnet-4-5-20250929-v1:0": "claude-sonnet-4-5-20250929", "anthropic.claude-3-haiku-20240307-v1:0": "claude-3-haiku-20240307"} {
		if got, ok := anthropic.ModelName(id); got != want || !ok {
			t.Errorf("ModelName(%q) = %q, %v", id, got, ok)
		}
	}
}

// TestScopeCache: a request that marks anything for the prompt cache opens
// its system prompt with its key's scope, and its tools lose their own
// marks; one that marks nothing is left alone.
func TestScopeCache(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"a marked system string", `{"model":"m","max_tokens":10,"system":"Sys","messages":[{"role":"user","content":[{"type":"text","text":"Hi","cache_control":{"type":"ephemeral"}}]}]}`,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":[{"type":"text","text":"[cache scope abc]"},{"type":"text","text":"Sys"}],"messages":[{"role":"user","content":[{"type":"text","text":"Hi","cache_control":{"type":"ephemeral"}}]}]}`},
		{"marked tools lose their marks", `{"model":"m","max_tokens":10,"tools":[{"name":"t","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],` + hello + `}`,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":[{"type":"text","text":"[cache scope abc]"}],"tools":[{"name":"t","input_schema":{"type":"object"}}],` + hello + `}`},
		{"nothing marked", `{"model":"m","max_tokens":10,"system":"Sys",` + hello + `}`,
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":"Sys",` + hello + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := anthropic.ParseRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			r.ScopeCache("abc")
			got, err := r.BedrockBody(nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(decode(t, tt.want), decode(t, string(got))); diff != "" {
				t.Errorf("body (-want +got)\n%s", diff)
			}
		})
	}
}
