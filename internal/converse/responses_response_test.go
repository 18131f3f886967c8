package converse_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/openapitest"
)

var respMeta = converse.ResponsesMeta{ID: "resp_T", CreatedAt: 100, Model: "m"}

// baseResp is the response object of respMeta as it starts.
const baseResp = `"id":"resp_T","object":"response","created_at":100,"status":"in_progress","completed_at":null,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"m","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":false,"temperature":null,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":null,"truncation":"disabled","metadata":{}`

func TestResponsesStreamTranscript(t *testing.T) {
	events := []types.ConverseStreamOutput{msgStart(), text(0, "Hello"), text(0, ", world"), blockStop(0), msgStop("end_turn"), metadata(5, 3, 0, 0)}
	msg := `{"id":"msg_T_0","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello, world","annotations":[],"logprobs":[]}]}`
	done := strings.Replace(strings.Replace(baseResp, `"status":"in_progress","completed_at":null`, `"status":"completed","completed_at":100`, 1), `"output":[]`, `"output":[`+msg+`]`, 1)
	done = strings.Replace(done, `"truncation":"disabled"`, `"truncation":"disabled","usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":8}`, 1)
	want := `event: response.created
data: {"type":"response.created","sequence_number":0,"response":{` + baseResp + `}}

event: response.in_progress
data: {"type":"response.in_progress","sequence_number":1,"response":{` + baseResp + `}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"msg_T_0","type":"message","status":"in_progress","role":"assistant","content":[]}}

event: response.content_part.added
data: {"type":"response.content_part.added","sequence_number":3,"item_id":"msg_T_0","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_T_0","output_index":0,"content_index":0,"delta":"Hello","logprobs":[]}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_T_0","output_index":0,"content_index":0,"delta":", world","logprobs":[]}

event: response.output_text.done
data: {"type":"response.output_text.done","sequence_number":6,"item_id":"msg_T_0","output_index":0,"content_index":0,"text":"Hello, world","logprobs":[]}

event: response.content_part.done
data: {"type":"response.content_part.done","sequence_number":7,"item_id":"msg_T_0","output_index":0,"content_index":0,"part":{"type":"output_text","text":"Hello, world","annotations":[],"logprobs":[]}}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":8,"output_index":0,"item":` + msg + `}

event: response.completed
data: {"type":"response.completed","sequence_number":9,"response":{` + done + `}}

`
	// One event at a time, as the sink writes them.
	s := converse.NewResponsesStream(respMeta)
	var each []byte
	for _, ev := range events {
		each = append(each, s.AppendEvent(nil, ev)...)
	}
	if tail, err := s.End(); err != nil || tail != nil {
		t.Fatalf("End: %q, %v", tail, err)
	}
	if diff := cmp.Diff(want, string(each)); diff != "" {
		t.Errorf("transcript (-want +got):\n%s", diff)
	}
	// All at once, in one buffer.
	s = converse.NewResponsesStream(respMeta)
	var all []byte
	for _, ev := range events {
		all = s.AppendEvent(all, ev)
	}
	if diff := cmp.Diff(want, string(all)); diff != "" {
		t.Errorf("transcript in one buffer (-want +got):\n%s", diff)
	}
	openapitest.ValidateResponsesSSE(t, all)
}

// finalOf returns the response of a transcript's last event.
func finalOf(t *testing.T, events []map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(events[len(events)-1]["response"])
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func eventTypes(events []map[string]any) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev["type"].(string))
	}
	return out
}

func TestResponsesStreams(t *testing.T) {
	req, err := converse.ParseResponsesRequest([]byte(`{"model":"m","input":"Hi","tools":[{"type":"namespace","name":"crm","description":"","tools":[{"type":"function","name":"lookup"}]},{"type":"custom","name":"apply_patch"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	meta := respMeta
	meta.Req = req
	tests := []struct {
		name       string
		meta       converse.ResponsesMeta
		events     []types.ConverseStreamOutput
		wantTypes  string // the event types, space-separated, deltas once
		wantStatus string
		wantOutput string // JSON of the final output, ids and encrypted content left out
	}{
		{
			name: "reasoning, text and a namespaced tool call",
			meta: meta,
			events: []types.ConverseStreamOutput{msgStart(), reasoning(0, "Think"), reasoning(0, "ing."), reasoningSig(0, "sig"), blockStop(0),
				text(1, "Let me look."), blockStop(1), toolStart(2, "tu1", "crm__lookup"), toolInput(2, `{"q":`), toolInput(2, `"Ann"}`), blockStop(2), msgStop("tool_use"), metadata(10, 20, 0, 0)},
			wantTypes: "response.created response.in_progress response.output_item.added response.reasoning_summary_part.added response.reasoning_summary_text.delta response.reasoning_summary_text.done response.reasoning_summary_part.done response.output_item.done " +
				"response.output_item.added response.content_part.added response.output_text.delta response.output_text.done response.content_part.done response.output_item.done " +
				"response.output_item.added response.function_call_arguments.delta response.function_call_arguments.done response.output_item.done response.completed",
			wantStatus: "completed",
			wantOutput: `[{"type":"reasoning","status":"completed","summary":[{"type":"summary_text","text":"Thinking."}]},
				{"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Let me look.","annotations":[],"logprobs":[]}]},
				{"type":"function_call","status":"completed","call_id":"tu1","namespace":"crm","name":"lookup","arguments":"{\"q\":\"Ann\"}"}]`,
		},
		{
			name:       "a custom tool's input is sent whole",
			meta:       meta,
			events:     []types.ConverseStreamOutput{msgStart(), toolStart(0, "tu2", "apply_patch"), toolInput(0, `{"input":"*** Begin`), toolInput(0, ` Patch"}`), blockStop(0), msgStop("tool_use"), metadata(1, 2, 0, 0)},
			wantTypes:  "response.created response.in_progress response.output_item.added response.custom_tool_call_input.delta response.custom_tool_call_input.done response.output_item.done response.completed",
			wantStatus: "completed",
			wantOutput: `[{"type":"custom_tool_call","status":"completed","call_id":"tu2","name":"apply_patch","input":"*** Begin Patch"}]`,
		},
		{
			name:       "structured output through the JSON tool is text",
			meta:       converse.ResponsesMeta{ID: "resp_T", CreatedAt: 100, Model: "m", JSONTool: "json_response"},
			events:     []types.ConverseStreamOutput{msgStart(), text(0, "ignored"), toolStart(1, "tu3", "json_response"), toolInput(1, `{"a":`), toolInput(1, `1}`), blockStop(1), msgStop("tool_use"), metadata(1, 2, 0, 0)},
			wantTypes:  "response.created response.in_progress response.output_item.added response.content_part.added response.output_text.delta response.output_text.done response.content_part.done response.output_item.done response.completed",
			wantStatus: "completed",
			wantOutput: `[{"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"{\"a\":1}","annotations":[],"logprobs":[]}]}]`,
		},
		{
			name:       "max_tokens: incomplete",
			meta:       respMeta,
			events:     []types.ConverseStreamOutput{msgStart(), text(0, "Once upon"), msgStop("max_tokens"), metadata(1, 2, 0, 0)},
			wantTypes:  "response.created response.in_progress response.output_item.added response.content_part.added response.output_text.delta response.output_text.done response.content_part.done response.output_item.done response.incomplete",
			wantStatus: "incomplete",
			wantOutput: `[{"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Once upon","annotations":[],"logprobs":[]}]}]`,
		},
		{
			name:       "a guardrail: incomplete, content_filter; metadata before messageStop",
			meta:       respMeta,
			events:     []types.ConverseStreamOutput{msgStart(), text(0, "Blocked."), metadata(1, 2, 0, 0), msgStop("guardrail_intervened")},
			wantTypes:  "response.created response.in_progress response.output_item.added response.content_part.added response.output_text.delta response.output_text.done response.content_part.done response.output_item.done response.incomplete",
			wantStatus: "incomplete",
			wantOutput: `[{"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Blocked.","annotations":[],"logprobs":[]}]}]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := converse.NewResponsesStream(tt.meta)
			var out []byte
			for _, ev := range tt.events {
				out = s.AppendEvent(out, ev)
			}
			if _, err := s.End(); err != nil {
				t.Fatal(err)
			}
			events := openapitest.ValidateResponsesSSE(t, out)
			var types []string
			for _, typ := range eventTypes(events) {
				if n := len(types); n > 0 && types[n-1] == typ && strings.HasSuffix(typ, ".delta") {
					continue
				}
				types = append(types, typ)
			}
			if diff := cmp.Diff(tt.wantTypes, strings.Join(types, " ")); diff != "" {
				t.Errorf("event types (-want +got):\n%s", diff)
			}
			final := finalOf(t, events)
			if final["status"] != tt.wantStatus {
				t.Errorf("status %v, want %s", final["status"], tt.wantStatus)
			}
			items := final["output"].([]any)
			for _, it := range items {
				delete(it.(map[string]any), "id")
				delete(it.(map[string]any), "encrypted_content")
			}
			var want any
			if err := json.Unmarshal([]byte(tt.wantOutput), &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, any(items)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

// TestResponsesReasoningSurvives: the encrypted_content of a streamed
// reasoning item, sent back as input, gives Bedrock the same signed block.
func TestResponsesReasoningSurvives(t *testing.T) {
	s := converse.NewResponsesStream(respMeta)
	var out []byte
	for _, ev := range []types.ConverseStreamOutput{msgStart(), reasoning(0, "Hmm."), reasoningSig(0, "sig-9"), blockStop(0), toolStart(1, "tu", "f"), blockStop(1), msgStop("tool_use"), metadata(1, 2, 0, 0)} {
		out = s.AppendEvent(out, ev)
	}
	final := finalOf(t, openapitest.ValidateResponsesSSE(t, out))
	items, _ := json.Marshal(final["output"])
	body := `{"model":"m","reasoning":{"effort":"low"},"tools":[{"type":"function","name":"f"}],"input":[{"role":"user","content":"Go"}` +
		`,` + strings.Trim(string(items), "[]") + `,{"type":"function_call_output","call_id":"tu","output":"ok"}]}`
	r, err := converse.ParseResponsesRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	in, err := converse.ResponsesToConverse(r, sonnet45, converse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := wireBody(t, in)
	first := got.(map[string]any)["messages"].([]any)[1].(map[string]any)["content"].([]any)[0]
	want := decodeExact(t, []byte(`{"reasoningContent":{"reasoningText":{"text":"Hmm.","signature":"sig-9"}}}`))
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("the assistant turn's first block (-want +got):\n%s", diff)
	}
}

// TestResponsesStreamBroken: a stream without messageStop and metadata has
// failed; Fail ends it with an error event and response.failed.
func TestResponsesStreamBroken(t *testing.T) {
	s := converse.NewResponsesStream(respMeta)
	var out []byte
	for _, ev := range []types.ConverseStreamOutput{msgStart(), text(0, "Once")} {
		out = s.AppendEvent(out, ev)
	}
	_, err := s.End()
	if err == nil {
		t.Fatal("End: no error for a cut stream")
	}
	out = s.Fail(out, tollgate.AsError(err))
	events := openapitest.ValidateResponsesSSE(t, out)
	types := eventTypes(events)
	if got := strings.Join(types[len(types)-4:], " "); got != "response.content_part.done response.output_item.done error response.failed" {
		t.Errorf("ends with %s", got)
	}
	final := finalOf(t, events)
	if final["status"] != "failed" || final["error"].(map[string]any)["code"] != "server_error" {
		t.Errorf("failed response: %v", final)
	}
	if out2 := s.Fail(nil, tollgate.AsError(err)); out2 != nil {
		t.Errorf("a second Fail sent %q", out2)
	}
}

func TestFromConverseResponses(t *testing.T) {
	req, err := converse.ParseResponsesRequest([]byte(`{"model":"m","input":"Hi","instructions":"Sys","max_output_tokens":50,"user":"u1","prompt_cache_key":"k1","parallel_tool_calls":false,"store":false,"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"},"strict":true}},"temperature":0.2,"metadata":{"a":"b"},"reasoning":{"effort":"low","summary":"auto"},"tools":[{"type":"namespace","name":"crm","description":"","tools":[{"type":"function","name":"lookup"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	meta := respMeta
	meta.Req = req
	tests := []struct {
		name, body, status, output string
	}{
		{"text", `{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2,"cacheReadInputTokens":3,"cacheWriteInputTokens":4}}`,
			"completed", `[{"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[],"logprobs":[]}]}]`},
		{"reasoning and a namespaced call", `{"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"Hmm","signature":"s"}}},{"toolUse":{"toolUseId":"t","name":"crm__lookup","input":{"a":1}}}]}},"stopReason":"tool_use"}`,
			"completed", `[{"type":"reasoning","summary":[{"type":"summary_text","text":"Hmm"}]},{"type":"function_call","status":"completed","call_id":"t","namespace":"crm","name":"lookup","arguments":"{\"a\":1}"}]`},
		{"redacted reasoning", `{"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"redactedContent":"AAEC"}},{"text":"Ok"}]}},"stopReason":"end_turn"}`,
			"completed", `[{"type":"reasoning","summary":[]},{"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Ok","annotations":[],"logprobs":[]}]}]`},
		{"max_tokens", `{"output":{"message":{"role":"assistant","content":[{"text":"Once"}]}},"stopReason":"max_tokens"}`,
			"incomplete", `[{"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Once","annotations":[],"logprobs":[]}]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, err := converse.FromConverseResponses(converseOutput(t, tt.body), meta)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			openapitest.Validate(t, "Response", b)
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got["status"] != tt.status || got["instructions"] != "Sys" || got["max_output_tokens"] != 50.0 || got["temperature"] != 0.2 {
				t.Errorf("response: %s", b)
			}
			items := got["output"].([]any)
			for _, it := range items {
				m := it.(map[string]any)
				if m["type"] == "reasoning" && m["encrypted_content"] == nil {
					t.Errorf("reasoning without encrypted_content: %v", m)
				}
				delete(m, "id")
				delete(m, "encrypted_content")
			}
			var want any
			if err := json.Unmarshal([]byte(tt.output), &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, any(items)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
