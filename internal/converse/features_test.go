package converse_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/converse"
)

// These tables cover the features beyond plain chat: documents, reasoning,
// prompt caching, structured output, guardrails and request metadata.

const (
	sonnet37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
	sonnet45 = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
	opus45   = "anthropic.claude-opus-4-5-20251101-v1:0"
	opus46   = "us.anthropic.claude-opus-4-6-v1"
	gptOSS   = "openai.gpt-oss-120b-1:0"
	nova2    = "us.amazon.nova-2-lite-v1:0"
	novaPro  = "amazon.nova-pro-v1:0"
)

var (
	pdfB64 = base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 test"))
	mdB64  = base64.StdEncoding.EncodeToString([]byte("# Title"))
)

// weather is a tool declaration and an assistant turn calling it.
const (
	weatherTools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`
	weatherSpec  = `{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}}`
	callWeather  = `"tool_calls":[{"id":"tu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]`
	useWeather   = `{"toolUse":{"toolUseId":"tu_1","name":"get_weather","input":{"city":"Paris"}}}`
	signedDetail = `"reasoning_details":[{"type":"reasoning.text","text":"I need the weather.","signature":"c2ln","format":"bedrock-converse","index":0}]`
	signedBlock  = `{"reasoningContent":{"reasoningText":{"text":"I need the weather.","signature":"c2ln"}}}`
)

func TestToConverseFeatures(t *testing.T) {
	tests := []struct {
		name  string
		model string // haiku3 when empty
		opts  converse.Options
		body  string
		want  string // the JSON body Bedrock receives
	}{
		// Documents.
		{
			name: "file parts become documents, format from the media type, names reduced and made unique",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Compare."},
				{"type":"file","file":{"file_data":"data:application/pdf;base64,` + pdfB64 + `","filename":"Q3_report.v2 (final).pdf"}},
				{"type":"file","file":{"file_data":"data:text/markdown;base64,` + mdB64 + `","filename":"Q3 report v2 (final).md"}},
				{"type":"file","file":{"file_data":"` + mdB64 + `","filename":"notes.md"}}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Compare."},
				{"document":{"format":"pdf","name":"Q3 report v2 (final)","source":{"bytes":"` + pdfB64 + `"}}},
				{"document":{"format":"md","name":"Q3 report v2 (final) (2)","source":{"bytes":"` + mdB64 + `"}}},
				{"document":{"format":"md","name":"notes","source":{"bytes":"` + mdB64 + `"}}}]}]}`,
		},
		{
			name: "octet-stream takes the format from the extension; no filename gives document",
			body: `{"model":"m","messages":[{"role":"user","content":[
				{"type":"file","file":{"file_data":"data:application/octet-stream;base64,` + pdfB64 + `","filename":"a.xlsx"}},
				{"type":"file","file":{"file_data":"data:text/csv;base64,` + mdB64 + `"}}]}]}`,
			want: `{"messages":[{"role":"user","content":[
				{"document":{"format":"xlsx","name":"a","source":{"bytes":"` + pdfB64 + `"}}},
				{"document":{"format":"csv","name":"document","source":{"bytes":"` + mdB64 + `"}}}]}]}`,
		},

		// Reasoning.
		{
			name:  "Claude 3.7 thinking without max_tokens: budget from the effort, room for the answer",
			model: sonnet37,
			body:  `{"model":"m","reasoning_effort":"high","messages":[{"role":"user","content":"Why?"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Why?"}]}],"inferenceConfig":{"maxTokens":20480},
				"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":16384}}}`,
		},
		{
			name:  "max_tokens below the budget is raised above it; temperature other than 1 and top_p below 0.95 dropped",
			model: sonnet37,
			body:  `{"model":"m","reasoning_effort":"minimal","max_tokens":500,"temperature":0.2,"top_p":0.5,"messages":[{"role":"user","content":"Why?"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Why?"}]}],"inferenceConfig":{"maxTokens":1524},
				"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`,
		},
		{
			name:  "max_tokens above the budget is kept, as are temperature 1 and top_p 0.95",
			model: sonnet37,
			body:  `{"model":"m","reasoning_effort":"low","max_tokens":9000,"temperature":1,"top_p":0.95,"messages":[{"role":"user","content":"Why?"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Why?"}]}],"inferenceConfig":{"maxTokens":9000,"temperature":1,"topP":0.95},
				"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":2048}}}`,
		},
		{
			name:  "budget and max tokens stay within the model's output limit",
			model: "us.anthropic.claude-opus-4-1-20250805-v1:0",
			body:  `{"model":"m","reasoning_effort":"xhigh","messages":[{"role":"user","content":"Why?"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Why?"}]}],"inferenceConfig":{"maxTokens":32000},
				"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":27904}}}`,
		},
		{
			name:  "reasoning_effort none: no thinking",
			model: sonnet37,
			body:  `{"model":"m","reasoning_effort":"none","messages":[{"role":"user","content":"Why?"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"Why?"}]}]}`,
		},
		{
			name:  "Opus 4.5 takes no outputConfig.effort (a beta there): thinking only",
			model: opus45,
			body:  `{"model":"m","reasoning_effort":"minimal","max_tokens":4000,"messages":[{"role":"user","content":"Why?"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Why?"}]}],"inferenceConfig":{"maxTokens":4000},
				"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`,
		},
		{
			name:  "effort models get outputConfig.effort and thinking",
			model: opus46,
			body:  `{"model":"m","reasoning_effort":"minimal","max_tokens":4000,"messages":[{"role":"user","content":"Why?"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Why?"}]}],"inferenceConfig":{"maxTokens":4000},"outputConfig":{"effort":"low"},
				"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`,
		},
		{
			name:  "gpt-oss takes reasoning_effort in additionalModelRequestFields",
			model: gptOSS,
			body:  `{"model":"m","reasoning_effort":"medium","messages":[{"role":"user","content":"Why?"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"Why?"}]}],"additionalModelRequestFields":{"reasoning_effort":"medium"}}`,
		},
		{
			name:  "Nova 2 takes reasoningConfig",
			model: nova2,
			body:  `{"model":"m","reasoning_effort":"xhigh","messages":[{"role":"user","content":"Why?"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"Why?"}]}],"additionalModelRequestFields":{"reasoningConfig":{"type":"enabled","maxReasoningEffort":"high"}}}`,
		},
		{
			name: "models without reasoning ignore reasoning_effort",
			body: `{"model":"m","reasoning_effort":"high","messages":[{"role":"user","content":"Why?"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Why?"}]}]}`,
		},
		{
			name:  "echoed reasoning_details open the assistant turn before its tool call",
			model: sonnet37,
			body: `{"model":"m","reasoning_effort":"low","max_tokens":4000,` + weatherTools + `,"messages":[{"role":"user","content":"Weather?"},
				{"role":"assistant","content":null,` + signedDetail + `,` + callWeather + `},
				{"role":"tool","tool_call_id":"tu_1","content":"Sunny"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Weather?"}]},
				{"role":"assistant","content":[` + signedBlock + `,` + useWeather + `]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"tu_1","content":[{"text":"Sunny"}]}}]}],
				"inferenceConfig":{"maxTokens":4000},"toolConfig":{"tools":[` + weatherSpec + `]},
				"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":2048}}}`,
		},
		{
			name:  "a tool turn whose reasoning was dropped turns thinking off",
			model: sonnet37,
			body: `{"model":"m","reasoning_effort":"low",` + weatherTools + `,"messages":[{"role":"user","content":"Weather?"},
				{"role":"assistant","content":"Let me check.",` + callWeather + `},
				{"role":"tool","tool_call_id":"tu_1","content":"Sunny"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Weather?"}]},
				{"role":"assistant","content":[{"text":"Let me check."},` + useWeather + `]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"tu_1","content":[{"text":"Sunny"}]}}]}],
				"toolConfig":{"tools":[` + weatherSpec + `]}}`,
		},
		{
			name:  "without thinking, echoed reasoning is not sent",
			model: sonnet37,
			body: `{"model":"m",` + weatherTools + `,"messages":[{"role":"user","content":"Weather?"},
				{"role":"assistant",` + signedDetail + `,` + callWeather + `},{"role":"tool","tool_call_id":"tu_1","content":"Sunny"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Weather?"}]},{"role":"assistant","content":[` + useWeather + `]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"tu_1","content":[{"text":"Sunny"}]}}]}],
				"toolConfig":{"tools":[` + weatherSpec + `]}}`,
		},
		{
			name:  "a forced tool turns thinking off",
			model: sonnet37,
			body:  `{"model":"m","reasoning_effort":"low","tool_choice":"required",` + weatherTools + `,"messages":[{"role":"user","content":"Weather?"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"Weather?"}]}],"toolConfig":{"tools":[` + weatherSpec + `],"toolChoice":{"any":{}}}}`,
		},
		{
			name:  "with think tags, a <think> block is cut from assistant history",
			model: sonnet37,
			opts:  converse.Options{ThinkTags: true},
			body:  `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"<think>\nhmm\n</think>\n\nAnswer."},{"role":"user","content":"b"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"text":"Answer."}]},{"role":"user","content":[{"text":"b"}]}]}`,
		},

		// Prompt caching.
		{
			name:  "policy caching on: cache points after the system prompt and at the last user turn",
			model: sonnet37,
			opts:  converse.Options{PromptCache: true},
			body:  `{"model":"m","messages":[{"role":"system","content":"Handbook."},{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`,
			want: `{"system":[{"text":"Handbook."},{"cachePoint":{"type":"default"}}],"messages":[{"role":"user","content":[{"text":"a"}]},
				{"role":"assistant","content":[{"text":"b"}]},{"role":"user","content":[{"text":"c"},{"cachePoint":{"type":"default"}}]}]}`,
		},
		{
			name:  "the request's prompt_cache false wins over the policy",
			model: novaPro,
			opts:  converse.Options{PromptCache: true},
			body:  `{"model":"m","prompt_cache":false,"messages":[{"role":"user","content":"a"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"a"}]}]}`,
		},
		{
			name:  "prompt_cache_key asks for caching; no system prompt, no system cache point",
			model: novaPro,
			body:  `{"model":"m","prompt_cache_key":"tenant-1","messages":[{"role":"user","content":"a"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"a"},{"cachePoint":{"type":"default"}}]}]}`,
		},
		{
			name:  "a cache scope opens the system prompt of a cached request (issue 13, point 7)",
			model: sonnet37,
			opts:  converse.Options{PromptCache: true, CacheScope: "0123456789abcdef"},
			body:  `{"model":"m","messages":[{"role":"system","content":"Handbook."},{"role":"user","content":"a"}]}`,
			want: `{"system":[{"text":"[cache scope 0123456789abcdef]"},{"text":"Handbook."},{"cachePoint":{"type":"default"}}],
				"messages":[{"role":"user","content":[{"text":"a"},{"cachePoint":{"type":"default"}}]}]}`,
		},
		{
			name:  "a cache scope without a system prompt becomes one",
			model: novaPro,
			opts:  converse.Options{CacheScope: "0123456789abcdef"},
			body:  `{"model":"m","prompt_cache_key":"tenant-1","messages":[{"role":"user","content":"a"}]}`,
			want:  `{"system":[{"text":"[cache scope 0123456789abcdef]"}],"messages":[{"role":"user","content":[{"text":"a"},{"cachePoint":{"type":"default"}}]}]}`,
		},
		{
			name:  "no cache point, no cache scope",
			model: sonnet37,
			opts:  converse.Options{CacheScope: "0123456789abcdef"},
			body:  `{"model":"m","messages":[{"role":"system","content":"Handbook."},{"role":"user","content":"a"}]}`,
			want:  `{"system":[{"text":"Handbook."}],"messages":[{"role":"user","content":[{"text":"a"}]}]}`,
		},
		{
			name: "models without prompt caching get no cache points",
			opts: converse.Options{PromptCache: true},
			body: `{"model":"m","prompt_cache":true,"messages":[{"role":"system","content":"s"},{"role":"user","content":"a"}]}`,
			want: `{"system":[{"text":"s"}],"messages":[{"role":"user","content":[{"text":"a"}]}]}`,
		},

		// Structured output.
		{
			name:  "json_schema on a model with textFormat: outputConfig.textFormat, the schema as a string",
			model: sonnet45,
			body:  `{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"city","description":"A city.","strict":true,"schema":{"type":"object","properties":{"n":{"type":"number","maximum":1.50}},"required":["n"],"additionalProperties":false}}},"messages":[{"role":"user","content":"a"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"}]}],"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{
				"name":"city","description":"A city.","schema":"{\"additionalProperties\":false,\"properties\":{\"n\":{\"maximum\":1.50,\"type\":\"number\"}},\"required\":[\"n\"],\"type\":\"object\"}"}}}}}`,
		},
		{
			name: "json_schema elsewhere: a forced json_response tool with the schema",
			body: `{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"city","schema":{"type":"object","properties":{"n":{"type":"integer"}}}}},"messages":[{"role":"user","content":"a"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"json_response","description":"Respond with JSON matching the city schema.",
				"inputSchema":{"json":{"type":"object","properties":{"n":{"type":"integer"}}}}}}],"toolChoice":{"tool":{"name":"json_response"}}}}`,
		},
		{
			name:  "json_object, even on a model with textFormat: a forced tool taking any object",
			model: sonnet45,
			body:  `{"model":"m","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"a"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"json_response","description":"Respond with a JSON object.",
				"inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"tool":{"name":"json_response"}}}}`,
		},
		{
			name: "with the request's tools: the JSON tool comes first (renamed if taken) and some tool is required",
			body: `{"model":"m","response_format":{"type":"json_object"},"tools":[{"type":"function","function":{"name":"json_response"}}],"messages":[{"role":"user","content":"a"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"}]}],"toolConfig":{"tools":[
				{"toolSpec":{"name":"json_response_2","description":"Respond with a JSON object.","inputSchema":{"json":{"type":"object"}}}},
				{"toolSpec":{"name":"json_response","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"any":{}}}}`,
		},

		// Guardrails and metadata.
		{
			name: "guardrail and request metadata",
			opts: converse.Options{KeyID: "alice", RequestID: "req-1", Guardrail: &converse.Guardrail{ID: "abc123", Version: "2", Trace: true}},
			body: `{"model":"m","user":"jane@example.com (ops)!","messages":[{"role":"user","content":"a"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"}]}],"guardrailConfig":{"guardrailIdentifier":"abc123","guardrailVersion":"2","trace":"enabled"},
				"requestMetadata":{"tollgate_key_id":"alice","tollgate_request_id":"req-1","user":"jane@example.com _ops__"}}`,
		},
		{
			name: "guardrail without trace or version",
			opts: converse.Options{Guardrail: &converse.Guardrail{ID: "abc123"}},
			body: `{"model":"m","messages":[{"role":"user","content":"a"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"}]}],"guardrailConfig":{"guardrailIdentifier":"abc123","guardrailVersion":"DRAFT","trace":"disabled"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := tt.model
			if model == "" {
				model = haiku3
			}
			r, err := converse.ParseChatRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseChatRequest: %v", err)
			}
			in, err := converse.ToConverse(r, model, tt.opts)
			if err != nil {
				t.Fatalf("ToConverse: %v", err)
			}
			got, _ := wireBody(t, in)
			if diff := cmp.Diff(decodeExact(t, []byte(tt.want)), got); diff != "" {
				t.Errorf("Bedrock body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFeatureRequestErrors(t *testing.T) {
	doc := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = `{"type":"file","file":{"file_data":"data:application/pdf;base64,` + pdfB64 + `","filename":"f.pdf"}}`
		}
		return strings.Join(parts, ",")
	}
	big := base64.StdEncoding.EncodeToString(make([]byte, converse.MaxDocumentBytes+1))
	tests := []struct {
		name, model, body, param, code, msg string
	}{
		{"six documents", "", msgs(`[{"role":"user","content":[` + doc(3) + `]},{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"text","text":"x"},` + doc(3) + `]}]`),
			"messages[2].content[3]", "invalid_value", "at most 5 documents"},
		{"document over 4.5 MB", "", msgs(`[{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/pdf;base64,` + big + `","filename":"big.pdf"}}]}]`),
			"messages[0].content[0].file", "invalid_value", "4.5 MB"},
		{"unsupported file type", "", msgs(`[{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/zip;base64,` + pdfB64 + `","filename":"a.zip"}}]}]`),
			"messages[0].content[0].file.file_data", "unsupported_value", `"application/zip" is not supported`},
		{"bare base64 without a known extension", "", msgs(`[{"role":"user","content":[{"type":"file","file":{"file_data":"` + pdfB64 + `"}}]}]`),
			"messages[0].content[0].file.file_data", "invalid_value", "expected a data: URL"},
		{"file without data", "", msgs(`[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf"}}]}]`),
			"messages[0].content[0].file.file_data", "missing_required_parameter", ""},
		{"file in an assistant message", "", msgs(`[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"file","file":{"file_id":"f"}}]}]`),
			"messages[1].content[0].type", "invalid_value", "assistant message"},
		{"unknown reasoning_effort", "", `{"model":"m","reasoning_effort":"extreme","messages":[{"role":"user","content":"x"}]}`,
			"reasoning_effort", "invalid_value", `"extreme"`},
		{"reasoning_details not an array", "", msgs(`[{"role":"user","content":"x"},{"role":"assistant","content":"y","reasoning_details":"sig"}]`),
			"messages[1].reasoning_details", "invalid_type", "array of reasoning detail"},
		{"unknown response_format", "", `{"model":"m","response_format":{"type":"yaml"},"messages":[{"role":"user","content":"x"}]}`,
			"response_format.type", "invalid_value", `"yaml"`},
		{"json_schema without a name", "", `{"model":"m","response_format":{"type":"json_schema","json_schema":{"schema":{}}},"messages":[{"role":"user","content":"x"}]}`,
			"response_format.json_schema.name", "missing_required_parameter", ""},
		{"array schema through a forced tool", "", `{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"l","schema":{"type":"array"}}},"messages":[{"role":"user","content":"x"}]}`,
			"response_format.json_schema.schema", "unsupported_value", "must describe an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := tt.model
			if model == "" {
				model = haiku3
			}
			r, err := converse.ParseChatRequest([]byte(tt.body))
			if err == nil {
				_, err = converse.ToConverse(r, model, converse.Options{})
			}
			if err == nil {
				t.Fatal("no error")
			}
			e := asError(t, err)
			got := []string{e.Param, e.Code}
			if diff := cmp.Diff([]string{tt.param, tt.code}, got); diff != "" || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("param, code (-want +got):\n%s\nmessage: %s", diff, e.Message)
			}
		})
	}
}

func TestDocumentName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"report.pdf", "report"},
		{"Q3_report.v2 (final).pdf", "Q3 report v2 (final)"},
		{"  a\t\tb  [1].docx", "a b [1]"},
		{"C:\\Users\\me\\My File.txt", "My File"},
		{"résumé.pdf", "r sum"},
		{"日本語.pdf", "document"},
		{"", "document"},
		{strings.Repeat("a", 250) + ".md", strings.Repeat("a", 200)},
	}
	for _, tt := range tests {
		if got := converse.DocumentName(tt.in); got != tt.want {
			t.Errorf("DocumentName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSanitizeMetadata(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"user@example.com", "user@example.com"},
		{"a/b+c=d,e:f#g$h-i.j k", "a/b+c=d,e:f#g$h-i.j k"},
		{"jane (ops)!", "jane _ops__"},
		{"é", "_"},
		{strings.Repeat("x", 300), strings.Repeat("x", 256)},
		{strings.Repeat("x", 256), strings.Repeat("x", 256)},
		{"", ""},
		{"a\xffb\x00", "a_b_"},
		{strings.Repeat("é", 300), strings.Repeat("_", 256)},
		{"tab\tnew\nline\r", "tab\tnew\nline\r"},
	}
	for _, tt := range tests {
		if got := converse.SanitizeMetadata(tt.in); got != tt.want {
			t.Errorf("SanitizeMetadata(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// A clean value, as every request id and key id is, is not copied.
	if n := testing.AllocsPerRun(100, func() { _ = converse.SanitizeMetadata("req-01HX:key.alice") }); n != 0 {
		t.Errorf("SanitizeMetadata of a clean value allocates %v times, want 0", n)
	}
}

// TestSetMaxTokensKeepsThinkingValid: an output cap a budget lowered below
// Claude's thinking budget (CapOutput) halves the budget, or turns thinking
// off below its minimum.
func TestSetMaxTokensKeepsThinkingValid(t *testing.T) {
	tests := []struct {
		name       string
		budget     int // 0: no thinking
		n          int
		wantBudget int // 0: thinking off
	}{
		{"room above the budget", 16384, 20000, 16384},
		{"clamped below the budget: halved", 16384, 4000, 2000},
		{"too little for the minimum: off", 16384, 2000, 0},
		{"no thinking", 0, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`
			if tt.budget > 0 {
				body = `{"model":"m","messages":[{"role":"user","content":"Hi"}],"reasoning_effort":"high"}`
			}
			r, err := converse.ParseChatRequest([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if _, budget := converse.OutputCap(r, sonnet37); budget != tt.budget {
				t.Fatalf("OutputCap's thinking budget = %d, want %d", budget, tt.budget)
			}
			in, err := converse.ToConverse(r, sonnet37, converse.Options{})
			if err != nil {
				t.Fatal(err)
			}
			converse.CapOutput(in, tt.n, tt.budget)
			if got := int(*in.InferenceConfig.MaxTokens); got != tt.n {
				t.Errorf("MaxTokens = %d, want %d", got, tt.n)
			}
			got := 0
			if in.AdditionalModelRequestFields != nil {
				var f struct {
					Thinking struct {
						BudgetTokens int `json:"budget_tokens"`
					} `json:"thinking"`
				}
				raw, _ := in.AdditionalModelRequestFields.MarshalSmithyDocument()
				_ = json.Unmarshal(raw, &f)
				got = f.Thinking.BudgetTokens
			}
			if got != tt.wantBudget {
				t.Errorf("budget_tokens = %d, want %d", got, tt.wantBudget)
			}
		})
	}
}

func TestFromConverseFeatures(t *testing.T) {
	const reasoned = `{"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"Think.","signature":"sig"}}},{"text":"42"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":9,"totalTokens":10}}`
	tests := []struct {
		name string
		meta converse.Meta
		body string
		want string // choices[0] and usage.completion_tokens_details
	}{
		{
			name: "think tags put the reasoning in content; details kept",
			meta: converse.Meta{ThinkTags: true},
			body: reasoned,
			want: `{"choice":{"index":0,"message":{"role":"assistant","content":"<think>\nThink.\n</think>\n\n42","refusal":null,
				"reasoning_details":[{"type":"reasoning.text","text":"Think.","signature":"sig","format":"bedrock-converse","index":0}]},"logprobs":null,"finish_reason":"stop"},
				"details":{"reasoning_tokens":2}}`,
		},
		{
			name: "the JSON tool's input is the content, its text dropped, finish stop",
			meta: converse.Meta{JSONTool: "json_response"},
			body: `{"output":{"message":{"role":"assistant","content":[{"text":"Here:"},{"toolUse":{"toolUseId":"t1","name":"json_response","input":{"n":1.50}}}]}},"stopReason":"tool_use","usage":{"inputTokens":1,"outputTokens":9,"totalTokens":10}}`,
			want: `{"choice":{"index":0,"message":{"role":"assistant","content":"{\"n\":1.50}","refusal":null},"logprobs":null,"finish_reason":"stop"},"details":{"reasoning_tokens":0}}`,
		},
		{
			name: "a call to another tool instead stays a tool call",
			meta: converse.Meta{JSONTool: "json_response"},
			body: `{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"get_weather","input":{}}}]}},"stopReason":"tool_use","usage":{"inputTokens":1,"outputTokens":9,"totalTokens":10}}`,
			want: `{"choice":{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"},"details":{"reasoning_tokens":0}}`,
		},
		{
			name: "without JSONTool a json_response call is the client's own tool",
			body: `{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"json_response","input":{}}}]}},"stopReason":"tool_use","usage":{"inputTokens":1,"outputTokens":9,"totalTokens":10}}`,
			want: `{"choice":{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"json_response","arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"},"details":{"reasoning_tokens":0}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := tt.meta
			meta.ID, meta.Created, meta.Model = testMeta.ID, testMeta.Created, testMeta.Model
			got, _, err := converse.FromConverse(converseOutput(t, tt.body), meta)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(map[string]any{"choice": got.Choices[0], "details": got.Usage.CompletionTokensDetails})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(decodeExact(t, []byte(tt.want)), decodeExact(t, b)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func reasoningSig(block int32, sig string) types.ConverseStreamOutput {
	return &types.ConverseStreamOutputMemberContentBlockDelta{Value: types.ContentBlockDeltaEvent{
		ContentBlockIndex: aws.Int32(block), Delta: &types.ContentBlockDeltaMemberReasoningContent{Value: &types.ReasoningContentBlockDeltaMemberSignature{Value: sig}}}}
}

func TestStreamFeatures(t *testing.T) {
	const head = `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[{"index":0,"delta":`
	const tail = `,"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
	chunk := func(delta string) string { return head + delta + tail }
	tests := []struct {
		name   string
		meta   converse.Meta
		events []types.ConverseStreamOutput
		want   string
	}{
		{
			name: "reasoning deltas, then one detail with the whole text and the signature, then content; reasoning tokens estimated",
			events: []types.ConverseStreamOutput{msgStart(), reasoning(0, "Let me "), reasoning(0, "think."), reasoningSig(0, "c2ln"), blockStop(0),
				text(1, "42"), msgStop("end_turn"), metadata(5, 20, 0, 0)},
			want: chunk(`{"role":"assistant","content":""}`) +
				chunk(`{"reasoning_content":"Let me "}`) + chunk(`{"reasoning_content":"think."}`) +
				chunk(`{"reasoning_details":[{"type":"reasoning.text","text":"Let me think.","signature":"c2ln","format":"bedrock-converse","index":0}]}`) +
				chunk(`{"content":"42"}`) +
				head + `{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":20,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":4}}}` + "\n\n" +
				"data: [DONE]\n\n",
		},
		{
			name: "think tags wrap the reasoning in content",
			meta: converse.Meta{ThinkTags: true},
			events: []types.ConverseStreamOutput{msgStart(), reasoning(0, "Hmm."), reasoningSig(0, "c2ln"), blockStop(0),
				text(1, "42"), msgStop("end_turn"), metadata(5, 20, 0, 0)},
			want: chunk(`{"role":"assistant","content":""}`) +
				chunk(`{"content":"<think>\nHmm."}`) +
				chunk(`{"reasoning_details":[{"type":"reasoning.text","text":"Hmm.","signature":"c2ln","format":"bedrock-converse","index":0}]}`) +
				chunk(`{"content":"\n</think>\n\n"}`) + chunk(`{"content":"42"}`) +
				head + `{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":20,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":1}}}` + "\n\n" +
				"data: [DONE]\n\n",
		},
		{
			name: "the JSON tool's input streams as content; text dropped; finish stop",
			meta: converse.Meta{JSONTool: "json_response"},
			events: []types.ConverseStreamOutput{msgStart(), text(0, "Here:"), toolStart(1, "t1", "json_response"), toolInput(1, `{"n":`), toolInput(1, `1}`), blockStop(1),
				msgStop("tool_use"), metadata(5, 20, 0, 0)},
			want: chunk(`{"role":"assistant","content":""}`) +
				chunk(`{"content":"{\"n\":"}`) + chunk(`{"content":"1}"}`) +
				head + `{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":20,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n" +
				"data: [DONE]\n\n",
		},
		{
			name:   "guardrail intervention: content_filter",
			events: []types.ConverseStreamOutput{msgStart(), text(0, "Sorry, the model cannot answer this question."), msgStop("guardrail_intervened"), metadata(5, 0, 0, 0)},
			want: chunk(`{"role":"assistant","content":""}`) + chunk(`{"content":"Sorry, the model cannot answer this question."}`) +
				head + `{},"logprobs":null,"finish_reason":"content_filter"}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"claude-haiku","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n" +
				"data: [DONE]\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := tt.meta
			meta.ID, meta.Created, meta.Model = testMeta.ID, testMeta.Created, testMeta.Model
			// One event at a time, and all at once.
			s := converse.NewStream(meta, true)
			var one strings.Builder
			for _, ev := range tt.events {
				one.Write(s.Event(ev))
			}
			end, err := s.End()
			if err != nil {
				t.Fatal(err)
			}
			one.Write(end)
			all, err := converse.TranslateStream(meta, true, tt.events)
			if err != nil {
				t.Fatal(err)
			}
			for what, got := range map[string]string{"one at a time": one.String(), "all at once": string(all)} {
				if diff := cmp.Diff(sseLines(tt.want), sseLines(got)); diff != "" {
					t.Errorf("%s: transcript mismatch (-want +got):\n%s", what, diff)
				}
			}
		})
	}
}
