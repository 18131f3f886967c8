package converse_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/converse"
)

// signed is the encrypted_content Tollgate returns for a thinking block
// "Let me think." signed "sig-1".
var signed = converse.EncodeReasoning(converse.ReasoningDetail{Type: converse.ReasoningText, Text: "Let me think.", Signature: "sig-1"})

// TestResponsesToConverse is the translation table of the Responses API:
// a request body, and the JSON body Bedrock receives.
func TestResponsesToConverse(t *testing.T) {
	tests := []struct {
		name  string
		model string // haiku3 when empty
		body  string
		want  string
	}{
		{
			name: "string input",
			body: `{"model":"m","input":"Hello"}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}`,
		},
		{
			name: "instructions become the first system block",
			body: `{"model":"m","instructions":"Be brief.","input":"Hello"}`,
			want: `{"system":[{"text":"Be brief."}],"messages":[{"role":"user","content":[{"text":"Hello"}]}]}`,
		},
		{
			name: "instructions, then system and developer messages in order",
			body: `{"model":"m","instructions":"One.","input":[
				{"type":"message","role":"developer","content":"Two."},
				{"role":"system","content":[{"type":"input_text","text":"Three."}]},
				{"role":"user","content":"Hi"}]}`,
			want: `{"system":[{"text":"One."},{"text":"Two."},{"text":"Three."}],"messages":[{"role":"user","content":[{"text":"Hi"}]}]}`,
		},
		{
			name: "input_text parts",
			body: `{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"},{"text":"b"}]}]}`,
		},
		{
			name: "items carry id and status, echoed by clients",
			body: `{"model":"m","input":[{"type":"message","id":"msg_1","status":"completed","role":"user","content":"Hi"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}`,
		},
		{
			name: "consecutive user messages merge",
			body: `{"model":"m","input":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"},{"text":"b"}]}]}`,
		},
		{
			name: "assistant output_text in the history",
			body: `{"model":"m","input":[{"role":"user","content":"Hi"},{"type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Hello!","annotations":[]}]},{"role":"user","content":"Again"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]},{"role":"assistant","content":[{"text":"Hello!"}]},{"role":"user","content":[{"text":"Again"}]}]}`,
		},
		{
			name: "assistant refusal part",
			body: `{"model":"m","input":[{"role":"user","content":"Hi"},{"role":"assistant","content":[{"type":"refusal","refusal":"No."}]},{"role":"user","content":"Why?"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]},{"role":"assistant","content":[{"text":"No."}]},{"role":"user","content":[{"text":"Why?"}]}]}`,
		},
		{
			name: "blank text is dropped",
			body: `{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":" "},{"type":"input_text","text":"Hi"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}`,
		},
		{
			name: "input_image as a data URL",
			body: `{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"What is it?"},{"type":"input_image","image_url":"data:image/png;base64,` + pngB64 + `","detail":"auto"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"What is it?"},{"image":{"format":"png","source":{"bytes":"` + pngB64 + `"}}}]}]}`,
		},
		{
			name: "input_file PDF becomes a document",
			body: `{"model":"m","input":[{"role":"user","content":[{"type":"input_file","filename":"report.pdf","file_data":"data:application/pdf;base64,JVBERi0x"},{"type":"input_text","text":"Sum up"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"document":{"format":"pdf","name":"report","source":{"bytes":"JVBERi0x"}}},{"text":"Sum up"}]}]}`,
		},
		{
			name: "function_call and function_call_output",
			body: `{"model":"m","input":[
				{"role":"user","content":"Weather?"},
				{"type":"function_call","id":"fc_1","call_id":"c1","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"},
				{"type":"function_call_output","call_id":"c1","output":"18C","status":"completed"}],
				"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]}`,
			want: `{"messages":[
				{"role":"user","content":[{"text":"Weather?"}]},
				{"role":"assistant","content":[{"toolUse":{"toolUseId":"c1","name":"get_weather","input":{"city":"Paris"}}}]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"c1","content":[{"text":"18C"}]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}}]}}`,
		},
		{
			name: "parallel calls join one assistant turn, their outputs one user turn",
			body: `{"model":"m","input":[
				{"role":"user","content":"Both?"},
				{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking."}]},
				{"type":"function_call","call_id":"a","name":"f","arguments":"{}"},
				{"type":"function_call","call_id":"b","name":"f","arguments":""},
				{"type":"function_call_output","call_id":"a","output":"1"},
				{"type":"function_call_output","call_id":"b","output":[{"type":"input_text","text":"2"}]},
				{"role":"user","content":"Thanks"}],
				"tools":[{"type":"function","name":"f"}]}`,
			want: `{"messages":[
				{"role":"user","content":[{"text":"Both?"}]},
				{"role":"assistant","content":[{"text":"Checking."},{"toolUse":{"toolUseId":"a","name":"f","input":{}}},{"toolUse":{"toolUseId":"b","name":"f","input":{}}}]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"a","content":[{"text":"1"}]}},{"toolResult":{"toolUseId":"b","content":[{"text":"2"}]}},{"text":"Thanks"}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "an empty tool output becomes (empty)",
			body: `{"model":"m","input":[{"role":"user","content":"Go"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":""}],"tools":[{"type":"function","name":"f"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Go"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"c","name":"f","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"c","content":[{"text":"(empty)"}]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "an image in a tool output (Codex's view_image) goes into the toolResult",
			body: `{"model":"m","input":[{"role":"user","content":"Look"},{"type":"function_call","call_id":"c","name":"view_image","arguments":"{}"},
				{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"here"},{"type":"input_image","image_url":"data:image/png;base64,` + pngB64 + `"}]}],"tools":[{"type":"function","name":"view_image"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Look"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"c","name":"view_image","input":{}}}]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"c","content":[{"text":"here"},{"image":{"format":"png","source":{"bytes":"` + pngB64 + `"}}}]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"view_image","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "calls in the history without tools declared get synthesized specs",
			body: `{"model":"m","input":[{"role":"user","content":"Go"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Go"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"c","name":"f","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"c","content":[{"text":"ok"}]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "function tool: strict accepted, $schema removed, description kept",
			body: `{"model":"m","input":"Hi","tools":[{"type":"function","name":"f","description":"Does f","strict":true,"parameters":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","description":"Does f","inputSchema":{"json":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}}}}]}}`,
		},
		{
			name: "namespace tools are flattened namespace__name",
			body: `{"model":"m","input":"Hi","tools":[{"type":"namespace","name":"crm","description":"CRM","tools":[{"type":"function","name":"lookup","parameters":{"type":"object","properties":{}}},{"type":"function","name":"update","description":"Update"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"toolConfig":{"tools":[
				{"toolSpec":{"name":"crm__lookup","inputSchema":{"json":{"type":"object","properties":{}}}}},
				{"toolSpec":{"name":"crm__update","description":"Update","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "a namespace with characters Bedrock refuses",
			body: `{"model":"m","input":"Hi","tools":[{"type":"namespace","name":"mcp.git hub","description":"","tools":[{"type":"function","name":"x"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"mcp_git_hub__x","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "a namespaced call in the history is flattened the same way",
			body: `{"model":"m","input":[{"role":"user","content":"Find"},{"type":"function_call","call_id":"c","namespace":"crm","name":"lookup","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"Ann"}],
				"tools":[{"type":"namespace","name":"crm","description":"CRM","tools":[{"type":"function","name":"lookup"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Find"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"c","name":"crm__lookup","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"c","content":[{"text":"Ann"}]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"crm__lookup","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "custom (freeform) tool becomes a function of one string",
			body: `{"model":"m","input":"Patch it","tools":[{"type":"custom","name":"apply_patch","description":"Apply a patch"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Patch it"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"apply_patch","description":"Apply a patch","inputSchema":{"json":{"type":"object","required":["input"],"properties":{"input":{"type":"string","description":"The tool's input, as free text."}}}}}}]}}`,
		},
		{
			name: "custom_tool_call and its output in the history",
			body: `{"model":"m","input":[{"role":"user","content":"Patch"},{"type":"custom_tool_call","call_id":"c","name":"apply_patch","input":"*** Begin"},{"type":"custom_tool_call_output","call_id":"c","output":"done"}],"tools":[{"type":"custom","name":"apply_patch"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Patch"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"c","name":"apply_patch","input":{"input":"*** Begin"}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"c","content":[{"text":"done"}]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"apply_patch","inputSchema":{"json":{"type":"object","required":["input"],"properties":{"input":{"type":"string","description":"The tool's input, as free text."}}}}}}]}}`,
		},
		{
			name: "tool_choice required",
			body: `{"model":"m","input":"Hi","tools":[{"type":"function","name":"f"}],"tool_choice":"required"}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"any":{}}}}`,
		},
		{
			name: "tool_choice auto",
			body: `{"model":"m","input":"Hi","tools":[{"type":"function","name":"f"}],"tool_choice":"auto"}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"auto":{}}}}`,
		},
		{
			name: "tool_choice naming a function",
			body: `{"model":"m","input":"Hi","tools":[{"type":"function","name":"f"},{"type":"function","name":"g"}],"tool_choice":{"type":"function","name":"g"}}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}},{"toolSpec":{"name":"g","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"tool":{"name":"g"}}}}`,
		},
		{
			name: "tool_choice naming a namespaced function",
			body: `{"model":"m","input":"Hi","tools":[{"type":"namespace","name":"crm","description":"","tools":[{"type":"function","name":"lookup"}]}],"tool_choice":{"type":"function","namespace":"crm","name":"lookup"}}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"crm__lookup","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"tool":{"name":"crm__lookup"}}}}`,
		},
		{
			name: "tool_choice none writes the history's calls as text",
			body: `{"model":"m","input":[{"role":"user","content":"Go"},{"type":"function_call","call_id":"c","name":"f","arguments":"{\"a\": 1}"},{"type":"function_call_output","call_id":"c","output":"ok"}],"tools":[{"type":"function","name":"f"}],"tool_choice":"none"}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Go"}]},{"role":"assistant","content":[{"text":"[called tool f with {\"a\":1}]"}]},{"role":"user","content":[{"text":"[tool f result: ok]"}]}]}`,
		},
		{
			name: "max_output_tokens, temperature, top_p",
			body: `{"model":"m","input":"Hi","max_output_tokens":256,"temperature":0.5,"top_p":0.9}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":256,"temperature":0.5,"topP":0.9}}`,
		},
		{
			name: "accepted and ignored: store, include, metadata, client_metadata, parallel_tool_calls, truncation, service_tier, stream_options",
			body: `{"model":"m","input":"Hi","store":false,"include":["reasoning.encrypted_content"],"metadata":{"k":"v"},"client_metadata":{"session_id":"s"},"parallel_tool_calls":true,"truncation":"disabled","service_tier":"auto","stream_options":{"include_obfuscation":false}}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}`,
		},
		{
			name: "user goes to requestMetadata",
			body: `{"model":"m","input":"Hi","user":"alice@example.com"}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"requestMetadata":{"user":"alice@example.com"}}`,
		},
		{
			name:  "prompt_cache_key turns prompt caching on",
			model: sonnet45,
			body:  `{"model":"m","instructions":"Sys","input":"Hi","prompt_cache_key":"session-1"}`,
			want:  `{"system":[{"text":"Sys"},{"cachePoint":{"type":"default"}}],"messages":[{"role":"user","content":[{"text":"Hi"},{"cachePoint":{"type":"default"}}]}]}`,
		},
		{
			name:  "reasoning.effort maps to Claude's thinking",
			model: sonnet45,
			body:  `{"model":"m","input":"Think","reasoning":{"effort":"low","summary":"auto"}}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"Think"}]}],"inferenceConfig":{"maxTokens":6144},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":2048}}}`,
		},
		{
			name:  "reasoning.effort none leaves thinking off",
			model: sonnet45,
			body:  `{"model":"m","input":"Think","reasoning":{"effort":"none"}}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"Think"}]}]}`,
		},
		{
			name:  "a reasoning item echoed back opens its assistant turn, signature kept",
			model: sonnet45,
			body: `{"model":"m","reasoning":{"effort":"low"},"input":[{"role":"user","content":"Go"},
				{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Let me think."}],"content":null,"encrypted_content":"` + signed + `"},
				{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}],"tools":[{"type":"function","name":"f"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Go"}]},
				{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"Let me think.","signature":"sig-1"}}},{"toolUse":{"toolUseId":"c","name":"f","input":{}}}]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"c","content":[{"text":"ok"}]}}]}],
				"inferenceConfig":{"maxTokens":6144},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":2048}},
				"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name:  "without its reasoning item, a tool turn leaves thinking off",
			model: sonnet45,
			body: `{"model":"m","reasoning":{"effort":"low"},"input":[{"role":"user","content":"Go"},
				{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}],"tools":[{"type":"function","name":"f"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Go"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"c","name":"f","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"c","content":[{"text":"ok"}]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "another provider's reasoning item is skipped",
			body: `{"model":"m","input":[{"role":"user","content":"Hi"},{"type":"reasoning","id":"rs_x","summary":[],"encrypted_content":"gAAAAB-openai-blob"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Bye"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]},{"role":"assistant","content":[{"text":"Hello"}]},{"role":"user","content":[{"text":"Bye"}]}]}`,
		},
		{
			name: "reasoning dropped when the model does not think",
			body: `{"model":"m","input":[{"role":"user","content":"Hi"},{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"` + signed + `"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Bye"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]},{"role":"assistant","content":[{"text":"Hello"}]},{"role":"user","content":[{"text":"Bye"}]}]}`,
		},
		{
			name: "text.format json_schema becomes a forced tool on Claude 3",
			body: `{"model":"m","input":"Give JSON","text":{"format":{"type":"json_schema","name":"answer","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}}}}}}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Give JSON"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"json_response","description":"Respond with JSON matching the answer schema.","inputSchema":{"json":{"type":"object","properties":{"a":{"type":"string"}}}}}}],"toolChoice":{"tool":{"name":"json_response"}}}}`,
		},
		{
			name: "text.format text is plain output",
			body: `{"model":"m","input":"Hi","text":{"format":{"type":"text"},"verbosity":"low"}}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}`,
		},
		{
			name: "the Codex request of a tool turn",
			body: string(mustRead(t, "testdata/responses/codex_tool_turn.json")),
			want: "", // checked below: it translates
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := tt.model
			if model == "" {
				model = haiku3
			}
			r, err := converse.ParseResponsesRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseResponsesRequest: %v", err)
			}
			in, err := converse.ResponsesToConverse(r, model, converse.Options{})
			if err != nil {
				t.Fatalf("ResponsesToConverse: %v", err)
			}
			got, _ := wireBody(t, in)
			if tt.want == "" {
				return
			}
			if diff := cmp.Diff(decodeExact(t, []byte(tt.want)), got); diff != "" {
				t.Errorf("Bedrock body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResponsesRequestErrors: bad requests get a 400 naming the parameter
// the Responses way.
func TestResponsesRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, param, code string
	}{
		{"no model", `{"input":"Hi"}`, "model", "missing_required_parameter"},
		{"no input", `{"model":"m"}`, "input", "missing_required_parameter"},
		{"empty input", `{"model":"m","input":[]}`, "input", "empty_array"},
		{"input of the wrong type", `{"model":"m","input":3}`, "input", "invalid_type"},
		{"unknown role", `{"model":"m","input":[{"role":"tool","content":"x"}]}`, "input[0].role", "invalid_value"},
		{"unknown item type", `{"model":"m","input":[{"type":"computer_call_output","call_id":"c"}]}`, "input[0].type", "unsupported_value"},
		{"item_reference", `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0].type", "unsupported_value"},
		{"content part of the wrong type", `{"model":"m","input":[{"role":"user","content":[{"type":"output_audio"}]}]}`, "input[0].content[0].type", "invalid_value"},
		{"image by file_id", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}`, "input[0].content[0].file_id", "unsupported_parameter"},
		{"bad image data", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,!!"}]}]}`, "input[0].content[0].image_url", "invalid_value"},
		{"function_call without call_id", `{"model":"m","input":[{"role":"user","content":"Hi"},{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[1].call_id", "missing_required_parameter"},
		{"function_call with bad arguments", `{"model":"m","input":[{"role":"user","content":"Hi"},{"type":"function_call","call_id":"c","name":"f","arguments":"[1]"}]}`, "input[1].arguments", "invalid_value"},
		{"output answering no call", `{"model":"m","input":[{"role":"user","content":"Hi"},{"type":"function_call_output","call_id":"c9","output":"x"}]}`, "input[1].call_id", "invalid_value"},
		{"conversation starting with the assistant", `{"model":"m","instructions":"S","input":[{"role":"assistant","content":"Hi"}]}`, "input[0]", "invalid_value"},
		{"web_search tool", `{"model":"m","input":"Hi","tools":[{"type":"web_search"}]}`, "tools[0].type", "unsupported_value"},
		{"file_search tool", `{"model":"m","input":"Hi","tools":[{"type":"function","name":"f"},{"type":"file_search","vector_store_ids":["v"]}]}`, "tools[1].type", "unsupported_value"},
		{"code_interpreter tool", `{"model":"m","input":"Hi","tools":[{"type":"code_interpreter","container":{"type":"auto"}}]}`, "tools[0].type", "unsupported_value"},
		{"computer use tool", `{"model":"m","input":"Hi","tools":[{"type":"computer_use_preview","display_width":1,"display_height":1,"environment":"linux"}]}`, "tools[0].type", "unsupported_value"},
		{"hosted MCP tool", `{"model":"m","input":"Hi","tools":[{"type":"mcp","server_label":"x"}]}`, "tools[0].type", "unsupported_value"},
		{"image_generation tool", `{"model":"m","input":"Hi","tools":[{"type":"image_generation"}]}`, "tools[0].type", "unsupported_value"},
		{"tool_search tool", `{"model":"m","input":"Hi","tools":[{"type":"tool_search"}]}`, "tools[0].type", "unsupported_value"},
		{"hosted tool inside a namespace", `{"model":"m","input":"Hi","tools":[{"type":"namespace","name":"n","description":"","tools":[{"type":"web_search"}]}]}`, "tools[0].tools[0].type", "unsupported_value"},
		{"tool without a name", `{"model":"m","input":"Hi","tools":[{"type":"function"}]}`, "tools[0].name", "missing_required_parameter"},
		{"duplicate tool", `{"model":"m","input":"Hi","tools":[{"type":"function","name":"f"},{"type":"function","name":"f"}]}`, "tools[1].name", "invalid_value"},
		{"tool_choice required without tools", `{"model":"m","input":"Hi","tool_choice":"required"}`, "tool_choice", "invalid_value"},
		{"tool_choice naming an unknown tool", `{"model":"m","input":"Hi","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}`, "tool_choice", "invalid_value"},
		{"tool_choice of a hosted tool", `{"model":"m","input":"Hi","tool_choice":{"type":"web_search_preview"}}`, "tool_choice.type", "unsupported_value"},
		{"bad reasoning effort", `{"model":"m","input":"Hi","reasoning":{"effort":"extreme"}}`, "reasoning.effort", "invalid_value"},
		{"bad text format", `{"model":"m","input":"Hi","text":{"format":{"type":"yaml"}}}`, "text.format.type", "invalid_value"},
		{"json_schema without a name", `{"model":"m","input":"Hi","text":{"format":{"type":"json_schema","schema":{}}}}`, "text.format.name", "missing_required_parameter"},
		{"max_output_tokens below 1", `{"model":"m","input":"Hi","max_output_tokens":0}`, "max_output_tokens", "invalid_value"},
		{"temperature above 2", `{"model":"m","input":"Hi","temperature":3}`, "temperature", "invalid_value"},
		{"previous_response_id", `{"model":"m","input":"Hi","previous_response_id":"resp_1"}`, "previous_response_id", "unsupported_parameter"},
		{"conversation", `{"model":"m","input":"Hi","conversation":"conv_1"}`, "conversation", "unsupported_parameter"},
		{"background", `{"model":"m","input":"Hi","background":true}`, "background", "unsupported_value"},
		{"stored prompt", `{"model":"m","input":"Hi","prompt":{"id":"pmpt_1"}}`, "prompt", "unsupported_parameter"},
		{"a tool output part that is a file", `{"model":"m","input":[{"role":"user","content":"Hi"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":[{"type":"input_file","file_data":"eA=="}]}]}`, "input[2].output[0]", "unsupported_value"},
		{"an image URL in a tool output is not fetched by translation", `{"model":"m","input":[{"role":"user","content":"Hi"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","image_url":"https://x"}]}]}`, "input[2].output[0].image_url", "unsupported_value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := converse.ParseResponsesRequest([]byte(tt.body))
			if err == nil {
				_, err = converse.ResponsesToConverse(r, haiku3, converse.Options{})
			}
			if err == nil {
				t.Fatal("no error")
			}
			e := asError(t, err)
			if e.Param != tt.param || e.Code != tt.code {
				t.Errorf("param %q code %q, want %q %q: %s", e.Param, e.Code, tt.param, tt.code, e.Message)
			}
			if tt.param != "" && !strings.Contains(e.Message, tt.param) {
				t.Errorf("message does not name %s: %s", tt.param, e.Message)
			}
		})
	}
}
