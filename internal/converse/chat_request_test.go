package converse_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
)

const haiku3 = "anthropic.claude-3-haiku-20240307-v1:0"

// png is a PNG signature, enough for Bedrock's input shape.
const pngB64 = "iVBORw0KGgo="

// The first bytes of a JPEG, a GIF and a WebP file: the formats' magic
// numbers, which the gateway checks against the declared type.
const (
	jpegB64 = "/9j/4AAQSkZJRg=="
	gifB64  = "R0lGODlhAQABAA=="
	webpB64 = "UklGRhoAAABXRUJQVlA4IA=="
)

func TestToConverse(t *testing.T) {
	tests := []struct {
		name  string
		model string // haiku3 when empty
		body  string // the OpenAI request
		want  string // the JSON body Bedrock receives
	}{
		{
			name: "user string",
			body: `{"model":"m","messages":[{"role":"user","content":"Hello"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}`,
		},
		{
			name: "system and developer messages anywhere become system blocks in order",
			body: `{"model":"m","messages":[
				{"role":"system","content":"Be brief."},
				{"role":"user","content":"Hi"},
				{"role":"developer","content":"Answer in French."},
				{"role":"assistant","content":"Salut"},
				{"role":"user","content":"Again"}]}`,
			want: `{"system":[{"text":"Be brief."},{"text":"Answer in French."}],"messages":[
				{"role":"user","content":[{"text":"Hi"}]},
				{"role":"assistant","content":[{"text":"Salut"}]},
				{"role":"user","content":[{"text":"Again"}]}]}`,
		},
		{
			name: "system content as text parts, blank parts dropped",
			body: `{"model":"m","messages":[
				{"role":"system","content":[{"type":"text","text":"One."},{"type":"text","text":"  "},{"type":"text","text":"Two."}]},
				{"role":"user","content":"Hi"}]}`,
			want: `{"system":[{"text":"One."},{"text":"Two."}],"messages":[{"role":"user","content":[{"text":"Hi"}]}]}`,
		},
		{
			name: "consecutive user messages merge",
			body: `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"},{"text":"b"}]}]}`,
		},
		{
			name: "consecutive assistant messages merge",
			body: `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"assistant","content":"c"},{"role":"user","content":"d"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"text":"b"},{"text":"c"}]},{"role":"user","content":[{"text":"d"}]}]}`,
		},
		{
			name: "a blank message is dropped and its neighbours merge",
			body: `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":" \n"},{"role":"assistant","content":"c"},{"role":"user","content":"d"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"text":"b"},{"text":"c"}]},{"role":"user","content":[{"text":"d"}]}]}`,
		},
		{
			name: "blank parts dropped, others kept",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"x"},{"type":"text","text":"\t"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"x"}]}]}`,
		},
		{
			name: "text and a png data URL",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + pngB64 + `","detail":"high"}}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"What is this?"},{"image":{"format":"png","source":{"bytes":"` + pngB64 + `"}}}]}]}`,
		},
		{
			name: "jpg, jpeg, gif and webp formats",
			body: `{"model":"m","messages":[{"role":"user","content":[
				{"type":"image_url","image_url":{"url":"data:image/jpg;base64,` + jpegB64 + `"}},
				{"type":"image_url","image_url":{"url":"data:IMAGE/JPEG;base64,` + jpegB64 + `"}},
				{"type":"image_url","image_url":{"url":"data:image/gif;name=a.gif;base64,` + gifB64 + `"}},
				{"type":"image_url","image_url":{"url":"data:image/webp;base64,` + webpB64 + `"}}]}]}`,
			want: `{"messages":[{"role":"user","content":[
				{"image":{"format":"jpeg","source":{"bytes":"` + jpegB64 + `"}}},
				{"image":{"format":"jpeg","source":{"bytes":"` + jpegB64 + `"}}},
				{"image":{"format":"gif","source":{"bytes":"` + gifB64 + `"}}},
				{"image":{"format":"webp","source":{"bytes":"` + webpB64 + `"}}}]}]}`,
		},
		{
			name: "unpadded base64 and a bare string image_url",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":"data:image/png;base64,iVBORw0KGgo"}]}]}`,
			want: `{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"` + pngB64 + `"}}}]}]}`,
		},
		{
			name: "tool call and result with tools",
			body: `{"model":"m","tools":[{"type":"function","function":{"name":"get_weather","description":"Weather by city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
				"messages":[
				{"role":"user","content":"Weather in Paris?"},
				{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}]},
				{"role":"tool","tool_call_id":"call_1","content":"18C"}]}`,
			want: `{"messages":[
				{"role":"user","content":[{"text":"Weather in Paris?"}]},
				{"role":"assistant","content":[{"toolUse":{"toolUseId":"call_1","name":"get_weather","input":{"city":"Paris"}}}]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"call_1","content":[{"text":"18C"}]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","description":"Weather by city","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}}]}}`,
		},
		{
			name: "parallel tool results and a following user message form one user turn",
			body: `{"model":"m","tools":[{"type":"function","function":{"name":"f"}}],"messages":[
				{"role":"user","content":"go"},
				{"role":"assistant","content":"Calling both.","tool_calls":[
					{"id":"a","type":"function","function":{"name":"f","arguments":"{\"n\":1}"}},
					{"id":"b","type":"function","function":{"name":"f","arguments":"{\"n\":2}"}}]},
				{"role":"tool","tool_call_id":"a","content":"one"},
				{"role":"tool","tool_call_id":"b","content":[{"type":"text","text":"two"}]},
				{"role":"user","content":"and?"}]}`,
			want: `{"messages":[
				{"role":"user","content":[{"text":"go"}]},
				{"role":"assistant","content":[{"text":"Calling both."},
					{"toolUse":{"toolUseId":"a","name":"f","input":{"n":1}}},
					{"toolUse":{"toolUseId":"b","name":"f","input":{"n":2}}}]},
				{"role":"user","content":[
					{"toolResult":{"toolUseId":"a","content":[{"text":"one"}]}},
					{"toolResult":{"toolUseId":"b","content":[{"text":"two"}]}},
					{"text":"and?"}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "empty and null arguments become {}; blank tool result becomes (empty)",
			body: `{"model":"m","tools":[{"type":"function","function":{"name":"f","description":""}}],"messages":[
				{"role":"user","content":"go"},
				{"role":"assistant","content":"","tool_calls":[
					{"id":"a","type":"function","function":{"name":"f","arguments":""}},
					{"id":"b","function":{"name":"f","arguments":"null"}}]},
				{"role":"tool","tool_call_id":"a","content":""},
				{"role":"tool","tool_call_id":"b","content":[{"type":"text","text":"  "}]}]}`,
			want: `{"messages":[
				{"role":"user","content":[{"text":"go"}]},
				{"role":"assistant","content":[
					{"toolUse":{"toolUseId":"a","name":"f","input":{}}},
					{"toolUse":{"toolUseId":"b","name":"f","input":{}}}]},
				{"role":"user","content":[
					{"toolResult":{"toolUseId":"a","content":[{"text":"(empty)"}]}},
					{"toolResult":{"toolUseId":"b","content":[{"text":"(empty)"}]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "numbers in arguments and schemas reach Bedrock digit for digit",
			body: `{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{"n":{"type":"integer","maximum":18446744073709551615}}}}}],"messages":[
				{"role":"user","content":"go"},
				{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"id\":9007199254740993,\"f\":1.5e-3,\"l\":[1,2.0,-0]}"}}]},
				{"role":"tool","tool_call_id":"a","content":"ok"}]}`,
			want: `{"messages":[
				{"role":"user","content":[{"text":"go"}]},
				{"role":"assistant","content":[{"toolUse":{"toolUseId":"a","name":"f","input":{"id":9007199254740993,"f":1.5e-3,"l":[1,2.0,-0]}}}]},
				{"role":"user","content":[{"toolResult":{"toolUseId":"a","content":[{"text":"ok"}]}}]}],
				"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{"n":{"type":"integer","maximum":18446744073709551615}}}}}}]}}`,
		},
		{
			name: "tool_choice auto",
			body: `{"model":"m","tool_choice":"auto","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}],"messages":[{"role":"user","content":"go"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"go"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"auto":{}}}}`,
		},
		{
			name: "tool_choice required",
			body: `{"model":"m","tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"go"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"go"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"any":{}}}}`,
		},
		{
			name: "tool_choice names a function",
			body: `{"model":"m","tool_choice":{"type":"function","function":{"name":"g"}},"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g","description":"G."}}],"messages":[{"role":"user","content":"go"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"go"}]}],"toolConfig":{"tools":[
				{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}},
				{"toolSpec":{"name":"g","description":"G.","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"tool":{"name":"g"}}}}`,
		},
		{
			name: "tool_choice none: no toolConfig, tool history as text",
			body: `{"model":"m","tool_choice":"none","tools":[{"type":"function","function":{"name":"get_weather"}}],"messages":[
				{"role":"user","content":"Weather in Paris?"},
				{"role":"assistant","content":"Let me check.","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{ \"city\" : \"Paris\" }"}}]},
				{"role":"tool","tool_call_id":"c1","content":"18C, sunny"},
				{"role":"user","content":"Summarise."}]}`,
			want: `{"messages":[
				{"role":"user","content":[{"text":"Weather in Paris?"}]},
				{"role":"assistant","content":[{"text":"Let me check."},{"text":"[called tool get_weather with {\"city\":\"Paris\"}]"}]},
				{"role":"user","content":[{"text":"[tool get_weather result: 18C, sunny]"},{"text":"Summarise."}]}]}`,
		},
		{
			name: "tool history without tools: specs synthesized",
			body: `{"model":"m","messages":[
				{"role":"user","content":"go"},
				{"role":"assistant","tool_calls":[
					{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},
					{"id":"b","type":"function","function":{"name":"g","arguments":"{}"}},
					{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"a","content":"1"},
				{"role":"tool","tool_call_id":"b","content":"2"},
				{"role":"tool","tool_call_id":"c","content":"3"}]}`,
			want: `{"messages":[
				{"role":"user","content":[{"text":"go"}]},
				{"role":"assistant","content":[
					{"toolUse":{"toolUseId":"a","name":"f","input":{}}},
					{"toolUse":{"toolUseId":"b","name":"g","input":{}}},
					{"toolUse":{"toolUseId":"c","name":"f","input":{}}}]},
				{"role":"user","content":[
					{"toolResult":{"toolUseId":"a","content":[{"text":"1"}]}},
					{"toolResult":{"toolUseId":"b","content":[{"text":"2"}]}},
					{"toolResult":{"toolUseId":"c","content":[{"text":"3"}]}}]}],
				"toolConfig":{"tools":[
					{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}},
					{"toolSpec":{"name":"g","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
		},
		{
			name: "max_completion_tokens wins over max_tokens",
			body: `{"model":"m","max_tokens":100,"max_completion_tokens":200,"messages":[{"role":"user","content":"go"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"go"}]}],"inferenceConfig":{"maxTokens":200}}`,
		},
		{
			name: "max_tokens alone",
			body: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"go"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"go"}]}],"inferenceConfig":{"maxTokens":100}}`,
		},
		{
			name: "temperature, top_p and stop list pass through; empty stop dropped",
			body: `{"model":"m","temperature":1.5,"top_p":0.5,"stop":["END","","STOP"],"messages":[{"role":"user","content":"go"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"go"}]}],"inferenceConfig":{"temperature":1.5,"topP":0.5,"stopSequences":["END","STOP"]}}`,
		},
		{
			name: "stop as a string",
			body: `{"model":"m","stop":"\n\n","messages":[{"role":"user","content":"go"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"go"}]}],"inferenceConfig":{"stopSequences":["\n\n"]}}`,
		},
		{
			name:  "Sonnet 4.5 profile: top_p dropped when temperature is set",
			model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
			body:  `{"model":"m","temperature":0.5,"top_p":0.5,"messages":[{"role":"user","content":"go"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"go"}]}],"inferenceConfig":{"temperature":0.5}}`,
		},
		{
			name:  "Haiku 4.5 global profile: top_p dropped",
			model: "global.anthropic.claude-haiku-4-5-20251001-v1:0",
			body:  `{"model":"m","temperature":0,"top_p":0.9,"messages":[{"role":"user","content":"go"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"go"}]}],"inferenceConfig":{"temperature":0}}`,
		},
		{
			name:  "Opus 4.1 inference profile ARN: top_p dropped",
			model: "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0",
			body:  `{"model":"m","temperature":1,"top_p":0.9,"messages":[{"role":"user","content":"go"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"go"}]}],"inferenceConfig":{"temperature":1}}`,
		},
		{
			name:  "Opus 4.5 base id: top_p alone is kept",
			model: "anthropic.claude-opus-4-5-20251101-v1:0",
			body:  `{"model":"m","top_p":0.9,"messages":[{"role":"user","content":"go"}]}`,
			want:  `{"messages":[{"role":"user","content":[{"text":"go"}]}],"inferenceConfig":{"topP":0.9}}`,
		},
		{
			name: "ignored parameters and unknown fields; user goes to requestMetadata",
			body: `{"model":"m","messages":[{"role":"user","content":"go","name":"bob"}],"user":"u-1","seed":7,"frequency_penalty":0.5,"presence_penalty":-1,
				"logit_bias":{"50256":-100},"parallel_tool_calls":false,"store":true,"metadata":{"k":"v"},"service_tier":"auto","x_unknown":{"deep":[1]},
				"stream_options":{"include_usage":true},"n":1,"logprobs":false,"top_logprobs":0,"response_format":{"type":"text"},"modalities":["text"],"audio":null,"temperature":null}`,
			want: `{"messages":[{"role":"user","content":[{"text":"go"}]}],"requestMetadata":{"user":"u-1"}}`,
		},
		{
			name: "assistant refusal and text parts",
			body: `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"refusal","refusal":"I can't."},{"type":"text","text":"Sorry."}]},{"role":"user","content":"ok"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"text":"I can't."},{"text":"Sorry."}]},{"role":"user","content":[{"text":"ok"}]}]}`,
		},
		{
			name: "trailing assistant message is kept as a prefill",
			body: `{"model":"m","messages":[{"role":"user","content":"Count"},{"role":"assistant","content":"1, 2,"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"Count"}]},{"role":"assistant","content":[{"text":"1, 2,"}]}]}`,
		},
		{
			name: "assistant message with null content and no tool calls is dropped",
			body: `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":null},{"role":"user","content":"b"}]}`,
			want: `{"messages":[{"role":"user","content":[{"text":"a"},{"text":"b"}]}]}`,
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
			in, err := converse.ToConverse(r, model, converse.Options{})
			if err != nil {
				t.Fatalf("ToConverse: %v", err)
			}
			if *in.ModelId != model {
				t.Errorf("ModelId = %q, want %q", *in.ModelId, model)
			}
			got, _ := wireBody(t, in)
			if diff := cmp.Diff(decodeExact(t, []byte(tt.want)), got); diff != "" {
				t.Errorf("Bedrock body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseChatRequestFields(t *testing.T) {
	tests := []struct {
		name string
		body string
		want converse.ChatRequest
	}{
		{
			name: "stream, stream_options, user and max tokens",
			body: `{"model":"us.anthropic.claude-3-haiku","stream":true,"stream_options":{"include_usage":true},"user":"u-1","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`,
			want: converse.ChatRequest{Model: "us.anthropic.claude-3-haiku", Stream: true, StreamOptions: &converse.StreamOptions{IncludeUsage: true}, User: "u-1", MaxTokens: 10,
				Messages: []converse.Message{{Role: "user", Parts: []converse.Part{{Kind: converse.PartText, Text: "x"}}}}},
		},
		{
			name: "stream_options without stream is kept and harmless",
			body: `{"model":"m","stream_options":{"include_usage":false},"messages":[{"role":"user","content":"x"}]}`,
			want: converse.ChatRequest{Model: "m", StreamOptions: &converse.StreamOptions{},
				Messages: []converse.Message{{Role: "user", Parts: []converse.Part{{Kind: converse.PartText, Text: "x"}}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := converse.ParseChatRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got, cmp.AllowUnexported(converse.Message{})); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMaxOutputTokens(t *testing.T) {
	tests := []struct {
		name string
		in   converse.ChatRequest
		want int
	}{
		{"neither", converse.ChatRequest{}, 0},
		{"max_tokens", converse.ChatRequest{MaxTokens: 5}, 5},
		{"max_completion_tokens wins", converse.ChatRequest{MaxTokens: 5, MaxCompletionTokens: 7}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.MaxOutputTokens()); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// msgs wraps messages JSON in a request body.
func msgs(messages string) string {
	return `{"model":"m","messages":` + messages + `}`
}

const userHi = `{"role":"user","content":"hi"}`

func TestRequestErrors(t *testing.T) {
	type want struct {
		param, code string
		msg         string // a substring of the message
	}
	tests := []struct {
		name string
		body string
		want want
	}{
		{"malformed JSON", `{"model":"m",`, want{"", "", "We could not parse the JSON body of your request"}},
		{"empty body", ``, want{"", "", "could not parse the JSON body"}},
		{"body is an array", `[1]`, want{"", "", "must be a JSON object, but got an array"}},
		{"missing model", `{"messages":[` + userHi + `]}`, want{"model", "missing_required_parameter", "Missing required parameter: 'model'"}},
		{"null model", `{"model":null,"messages":[` + userHi + `]}`, want{"model", "missing_required_parameter", "'model'"}},
		{"model is a number", `{"model":42,"messages":[` + userHi + `]}`, want{"model", "invalid_type", "Invalid type for 'model': expected a string, but got a number instead."}},
		{"missing messages", `{"model":"m"}`, want{"messages", "missing_required_parameter", "Missing required parameter: 'messages'"}},
		{"messages is an object", msgs(`{}`), want{"messages", "invalid_type", "expected an array of message objects, but got an object instead"}},
		{"messages is empty", msgs(`[]`), want{"messages", "empty_array", "empty array"}},
		{"temperature is a string", `{"model":"m","temperature":"hot","messages":[` + userHi + `]}`, want{"temperature", "invalid_type", "Invalid type for 'temperature': expected a number, but got a string instead."}},
		{"temperature above 2", `{"model":"m","temperature":2.5,"messages":[` + userHi + `]}`, want{"temperature", "invalid_value", "Expected a value <= 2, but got 2.5"}},
		{"negative temperature", `{"model":"m","temperature":-0.1,"messages":[` + userHi + `]}`, want{"temperature", "invalid_value", "Expected a value >= 0"}},
		{"top_p above 1", `{"model":"m","top_p":1.5,"messages":[` + userHi + `]}`, want{"top_p", "invalid_value", "Expected a value <= 1"}},
		{"max_tokens zero", `{"model":"m","max_tokens":0,"messages":[` + userHi + `]}`, want{"max_tokens", "invalid_value", "Expected a value >= 1, but got 0"}},
		{"negative max_completion_tokens", `{"model":"m","max_completion_tokens":-5,"messages":[` + userHi + `]}`, want{"max_completion_tokens", "invalid_value", "got -5"}},
		{"fractional max_tokens", `{"model":"m","max_tokens":1.5,"messages":[` + userHi + `]}`, want{"max_tokens", "invalid_type", "expected an integer, but got the number 1.5 instead"}},
		{"huge max_tokens", `{"model":"m","max_tokens":3000000000,"messages":[` + userHi + `]}`, want{"max_tokens", "invalid_value", "Expected a value <= 2147483647"}},
		{"stream is a string", `{"model":"m","stream":"yes","messages":[` + userHi + `]}`, want{"stream", "invalid_type", "expected a boolean, but got a string"}},
		{"include_usage is a string", `{"model":"m","stream_options":{"include_usage":"yes"},"messages":[` + userHi + `]}`, want{"stream_options.include_usage", "invalid_type", "expected a boolean"}},
		{"five stop sequences", `{"model":"m","stop":["a","b","c","d","e"],"messages":[` + userHi + `]}`, want{"stop", "invalid_value", "maximum length 4"}},
		{"stop is a number", `{"model":"m","stop":42,"messages":[` + userHi + `]}`, want{"stop", "invalid_type", "expected a string or an array of strings"}},
		{"stop holds a number", `{"model":"m","stop":["a",1],"messages":[` + userHi + `]}`, want{"stop", "invalid_type", "expected a string or an array of strings"}},
		{"n is 2", `{"model":"m","n":2,"messages":[` + userHi + `]}`, want{"n", "unsupported_value", "'n' must be 1"}},
		{"logprobs", `{"model":"m","logprobs":true,"messages":[` + userHi + `]}`, want{"logprobs", "unsupported_value", "log probabilities"}},
		{"top_logprobs", `{"model":"m","top_logprobs":3,"messages":[` + userHi + `]}`, want{"top_logprobs", "unsupported_parameter", "log probabilities"}},
		{"audio modality", `{"model":"m","modalities":["text","audio"],"messages":[` + userHi + `]}`, want{"modalities", "unsupported_value", "audio output is not supported"}},
		{"audio object", `{"model":"m","audio":{"voice":"alloy","format":"mp3"},"messages":[` + userHi + `]}`, want{"audio", "unsupported_parameter", "audio output"}},
		{"response_format json_schema without json_schema", `{"model":"m","response_format":{"type":"json_schema"},"messages":[` + userHi + `]}`, want{"response_format.json_schema", "missing_required_parameter", "'response_format.json_schema'"}},
		{"response_format is a string", `{"model":"m","response_format":"json","messages":[` + userHi + `]}`, want{"response_format", "invalid_type", "expected an object"}},
		{"unknown role", msgs(`[` + userHi + `,{"role":"robot","content":"x"}]`), want{"messages[1].role", "invalid_value", `"robot"`}},
		{"missing role", msgs(`[{"content":"x"}]`), want{"messages[0].role", "missing_required_parameter", "'messages[0].role'"}},
		{"function role", msgs(`[{"role":"function","name":"f","content":"x"}]`), want{"messages[0].role", "unsupported_value", "deprecated"}},
		{"message is a string", msgs(`["hi"]`), want{"messages[0]", "invalid_type", "expected a message object, but got a string"}},
		{"content is a number", msgs(`[{"role":"user","content":5}]`), want{"messages[0].content", "invalid_type", "expected a string or an array of content parts, but got a number"}},
		{"user content missing", msgs(`[{"role":"user"}]`), want{"messages[0].content", "missing_required_parameter", "'messages[0].content'"}},
		{"text part without text", msgs(`[{"role":"user","content":[{"type":"text"}]}]`), want{"messages[0].content[0].text", "missing_required_parameter", ""}},
		{"text part text is a number", msgs(`[{"role":"user","content":[{"type":"text","text":3}]}]`), want{"messages[0].content[0].text", "invalid_type", "expected a string, but got a number"}},
		{"part without type", msgs(`[{"role":"user","content":[{"text":"x"}]}]`), want{"messages[0].content[0].type", "missing_required_parameter", ""}},
		{"http image URL", msgs(`[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]`),
			want{"messages[0].content[1].image_url", "unsupported_value", "image URLs are not fetched by this gateway; send a data: URL"}},
		{"bad base64", msgs(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,***"}}]}]`), want{"messages[0].content[0].image_url", "invalid_value", "not valid base64"}},
		{"unsupported image type", msgs(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,` + pngB64 + `"}}]}]`), want{"messages[0].content[0].image_url", "unsupported_value", `"image/bmp" is not supported`}},
		{"data URL not base64", msgs(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]`), want{"messages[0].content[0].image_url", "invalid_value", "must be base64"}},
		{"image_url without url", msgs(`[{"role":"user","content":[{"type":"image_url","image_url":{"detail":"low"}}]}]`), want{"messages[0].content[0].image_url.url", "missing_required_parameter", ""}},
		{"input_audio part", msgs(`[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]`), want{"messages[0].content[0]", "unsupported_value", `"input_audio" are not supported yet`}},
		{"file part with a file_id", msgs(`[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]`), want{"messages[0].content[0].file.file_id", "unsupported_value", "no Files API"}},
		{"image in a system message", msgs(`[{"role":"system","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + pngB64 + `"}}]},` + userHi + `]`), want{"messages[0].content[0].type", "invalid_value", "system message"}},
		{"invalid tool arguments", msgs(`[` + userHi + `,{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{city:"}}]}]`),
			want{"messages[1].tool_calls[0].function.arguments", "invalid_value", "not valid JSON"}},
		{"tool arguments are an array", msgs(`[` + userHi + `,{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]`),
			want{"messages[1].tool_calls[0].function.arguments", "invalid_value", "not a JSON object"}},
		{"tool arguments are an object, not a string", msgs(`[` + userHi + `,{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":{"x":1}}}]}]`),
			want{"messages[1].tool_calls[0].function.arguments", "invalid_type", "expected a string, but got an object"}},
		{"tool call without id", msgs(`[` + userHi + `,{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]`), want{"messages[1].tool_calls[0].id", "missing_required_parameter", ""}},
		{"tool result for an unknown call", msgs(`[` + userHi + `,{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"b","content":"x"}]`),
			want{"messages[2].tool_call_id", "invalid_value", `"b" answers no tool call of an earlier assistant message`}},
		{"tool result before its call", msgs(`[` + userHi + `,{"role":"tool","tool_call_id":"a","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f"}}]}]`),
			want{"messages[1].tool_call_id", "invalid_value", "answers no tool call"}},
		{"tool message without tool_call_id", msgs(`[` + userHi + `,{"role":"tool","content":"x"}]`), want{"messages[1].tool_call_id", "missing_required_parameter", ""}},
		{"tools is an object", `{"model":"m","tools":{},"messages":[` + userHi + `]}`, want{"tools", "invalid_type", "expected an array of tools"}},
		{"custom tool", `{"model":"m","tools":[{"type":"custom","custom":{"name":"x"}}],"messages":[` + userHi + `]}`, want{"tools[0].type", "unsupported_value", `only "function" tools`}},
		{"tool name with a space", `{"model":"m","tools":[{"type":"function","function":{"name":"get weather"}}],"messages":[` + userHi + `]}`, want{"tools[0].function.name", "invalid_value", "^[a-zA-Z0-9_-]{1,64}$"}},
		{"empty tool name", `{"model":"m","tools":[{"type":"function","function":{"name":""}}],"messages":[` + userHi + `]}`, want{"tools[0].function.name", "invalid_value", "does not match"}},
		{"tool name too long", `{"model":"m","tools":[{"type":"function","function":{"name":"` + strings.Repeat("a", 65) + `"}}],"messages":[` + userHi + `]}`, want{"tools[0].function.name", "invalid_value", "does not match"}},
		{"duplicate tool name", `{"model":"m","tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}],"messages":[` + userHi + `]}`, want{"tools[1].function.name", "invalid_value", "defined twice"}},
		{"tool without function", `{"model":"m","tools":[{"type":"function"}],"messages":[` + userHi + `]}`, want{"tools[0].function", "missing_required_parameter", ""}},
		{"parameters is a string", `{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":"{}"}}],"messages":[` + userHi + `]}`, want{"tools[0].function.parameters", "invalid_type", "expected a JSON Schema object"}},
		{"tool_choice names an unknown tool", `{"model":"m","tool_choice":{"type":"function","function":{"name":"g"}},"tools":[{"type":"function","function":{"name":"f"}}],"messages":[` + userHi + `]}`, want{"tool_choice", "invalid_value", `"g" is not among the request's tools`}},
		{"tool_choice required without tools", `{"model":"m","tool_choice":"required","messages":[` + userHi + `]}`, want{"tool_choice", "invalid_value", "only allowed when 'tools' are specified"}},
		{"tool_choice unknown mode", `{"model":"m","tool_choice":"sometimes","messages":[` + userHi + `]}`, want{"tool_choice", "invalid_value", `"sometimes"`}},
		{"tool_choice allowed_tools", `{"model":"m","tool_choice":{"type":"allowed_tools"},"messages":[` + userHi + `]}`, want{"tool_choice.type", "unsupported_value", `"allowed_tools"`}},
		{"tool_choice is a number", `{"model":"m","tool_choice":1,"messages":[` + userHi + `]}`, want{"tool_choice", "invalid_type", "expected a string or an object"}},
		// Errors found while building the Converse turns.
		{"leading assistant message", msgs(`[{"role":"system","content":"s"},{"role":"assistant","content":"Hello!"},` + userHi + `]`), want{"messages[1]", "invalid_value", "messages[1]: the conversation starts with an assistant message"}},
		{"only a blank user message", msgs(`[{"role":"system","content":"s"},{"role":"user","content":"  "}]`), want{"messages[1]", "invalid_value", "messages[1]: the message has no content"}},
		{"only system messages", msgs(`[{"role":"system","content":"s"},{"role":"developer","content":"d"}]`), want{"messages", "invalid_value", "at least one user message"}},
		{"leading tool-only assistant turn", `{"model":"m","tool_choice":"none","messages":[{"role":"user","content":" "},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f"}}]}]}`,
			want{"messages[1]", "invalid_value", "starts with an assistant message"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := converse.ParseChatRequest([]byte(tt.body))
			if err == nil {
				_, err = converse.ToConverse(r, haiku3, converse.Options{})
			}
			if err == nil {
				t.Fatal("no error")
			}
			e := asError(t, err)
			got := want{param: e.Param, code: e.Code}
			if strings.Contains(e.Message, tt.want.msg) {
				got.msg = tt.want.msg
			} else {
				got.msg = e.Message
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if e.Kind != tollgate.Invalid {
				t.Errorf("Kind = %v, want Invalid", e.Kind)
			}
		})
	}
}
