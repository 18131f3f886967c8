package openapitest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	chatCompletion = `{
  "id": "chatcmpl-tg-6f1c2a9e4b7d",
  "object": "chat.completion",
  "created": 1767225600,
  "model": "anthropic.claude-3-haiku-20240307-v1:0",
  "choices": [{
    "index": 0,
    "message": {"role": "assistant", "content": "Hello! How can I help?", "refusal": null},
    "logprobs": null,
    "finish_reason": "stop"
  }],
  "usage": {
    "prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0}
  },
  "service_tier": "default"
}`
	toolCallCompletion = `{
  "id": "chatcmpl-tg-1", "object": "chat.completion", "created": 1767225600, "model": "m",
  "choices": [{
    "index": 0,
    "message": {"role": "assistant", "content": null, "refusal": null, "tool_calls": [
      {"id": "tooluse_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"example\"}"}}
    ]},
    "logprobs": null,
    "finish_reason": "tool_calls"
  }],
  "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
}`
	roleChunk   = `{"id":"chatcmpl-tg-1","object":"chat.completion.chunk","created":1767225600,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`
	textChunk   = `{"id":"chatcmpl-tg-1","object":"chat.completion.chunk","created":1767225600,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}`
	stopChunk   = `{"id":"chatcmpl-tg-1","object":"chat.completion.chunk","created":1767225600,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`
	usageChunk  = `{"id":"chatcmpl-tg-1","object":"chat.completion.chunk","created":1767225600,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}`
	toolChunk   = `{"id":"chatcmpl-tg-1","object":"chat.completion.chunk","created":1767225600,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"tooluse_abc","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`
	argsChunk   = `{"id":"chatcmpl-tg-1","object":"chat.completion.chunk","created":1767225600,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}`
	errorBody   = `{"error":{"message":"Rate limit reached; retry after 1s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
	modelObject = `{"id":"anthropic.claude-3-haiku-20240307-v1:0","object":"model","created":1709769600,"owned_by":"anthropic"}`
	modelList   = `{"object":"list","data":[` + modelObject + `,{"id":"us.anthropic.claude-3-haiku-20240307-v1:0","object":"model","created":1709769600,"owned_by":"anthropic","shutdown_date":null}]}`
	embeddings  = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292,1e-7]}],"model":"amazon.titan-embed-text-v2:0","usage":{"prompt_tokens":8,"total_tokens":8}}`
)

const (
	chunkSchema = "#/components/schemas/CreateChatCompletionStreamResponse"
	respSchema  = "#/components/schemas/CreateChatCompletionResponse"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		body   string
		want   []Violation // nil: valid
	}{
		{name: "chat completion", schema: "CreateChatCompletionResponse", body: chatCompletion},
		{name: "chat completion with tool call", schema: "CreateChatCompletionResponse", body: toolCallCompletion},
		{name: "first chunk", schema: "CreateChatCompletionStreamResponse", body: roleChunk},
		{name: "text chunk", schema: "CreateChatCompletionStreamResponse", body: textChunk},
		{name: "last choice chunk", schema: "CreateChatCompletionStreamResponse", body: stopChunk},
		{name: "usage chunk", schema: "CreateChatCompletionStreamResponse", body: usageChunk},
		{name: "tool call chunk", schema: "CreateChatCompletionStreamResponse", body: toolChunk},
		{name: "tool arguments chunk", schema: "CreateChatCompletionStreamResponse", body: argsChunk},
		{name: "error", schema: "ErrorResponse", body: errorBody},
		{name: "model", schema: "Model", body: modelObject},
		{name: "model list", schema: "ListModelsResponse", body: modelList},
		{name: "embeddings", schema: "CreateEmbeddingResponse", body: embeddings},
		{
			name:   "chunk choice without finish_reason",
			schema: "CreateChatCompletionStreamResponse",
			body:   strings.Replace(textChunk, `,"finish_reason":null`, ``, 1),
			want: []Violation{{
				Pointer: "/choices/0",
				Keyword: chunkSchema + "/properties/choices/items/required",
				Message: "missing property 'finish_reason'",
			}},
		},
		{
			name:   "chunk with the object of a completion",
			schema: "CreateChatCompletionStreamResponse",
			body:   strings.Replace(textChunk, `chat.completion.chunk`, `chat.completion`, 1),
			want: []Violation{{
				Pointer: "/object",
				Keyword: chunkSchema + "/properties/object/enum",
				Message: "value must be 'chat.completion.chunk'",
			}},
		},
		{
			name:   "unknown finish_reason shows both alternatives of nullable",
			schema: "CreateChatCompletionStreamResponse",
			body:   strings.Replace(stopChunk, `"stop"`, `"end_turn"`, 1),
			want: []Violation{
				{
					Pointer: "/choices/0/finish_reason",
					Keyword: chunkSchema + "/properties/choices/items/properties/finish_reason/anyOf",
					Message: "'anyOf' failed",
				},
				{
					Pointer:      "/choices/0/finish_reason",
					Keyword:      chunkSchema + "/properties/choices/items/properties/finish_reason/anyOf/0/type",
					Message:      "got string, want null",
					Alternatives: 1,
				},
				{
					Pointer:      "/choices/0/finish_reason",
					Keyword:      chunkSchema + "/properties/choices/items/properties/finish_reason/anyOf/1/enum",
					Message:      "value must be one of 'stop', 'length', 'tool_calls', 'content_filter', 'function_call'",
					Alternatives: 1,
				},
			},
		},
		{
			name:   "created in milliseconds",
			schema: "CreateChatCompletionResponse",
			body:   strings.Replace(chatCompletion, `1767225600`, `1767225600000`, 1),
			want: []Violation{{
				Pointer: "/created",
				Keyword: respSchema + "/properties/created/format",
				Message: "1767225600000 is not valid unixtime: 1767225600000 is not in seconds (milliseconds?)",
			}},
		},
		{
			name:   "message without refusal, usage as string",
			schema: "CreateChatCompletionResponse",
			body: strings.NewReplacer(`, "refusal": null`, ``,
				`"prompt_tokens": 12`, `"prompt_tokens": "12"`).Replace(chatCompletion),
			want: []Violation{
				{
					Pointer: "/choices/0/message",
					Keyword: "#/components/schemas/ChatCompletionResponseMessage/required",
					Message: "missing property 'refusal'",
				},
				{
					Pointer: "/usage/prompt_tokens",
					Keyword: "#/components/schemas/CompletionUsage/properties/prompt_tokens/type",
					Message: "got string, want integer",
				},
			},
		},
		{
			name:   "error without message",
			schema: "ErrorResponse",
			body:   `{"error":{"type":"server_error","param":null,"code":null}}`,
			want: []Violation{{
				Pointer: "/error",
				Keyword: "#/components/schemas/Error/required",
				Message: "missing property 'message'",
			}},
		},
		{
			name:   "bare error object",
			schema: "ErrorResponse",
			body:   `{"message":"boom","type":"server_error"}`,
			want: []Violation{{
				Pointer: "",
				Keyword: "#/components/schemas/ErrorResponse/required",
				Message: "missing property 'error'",
			}},
		},
		{
			name:   "model list entry without owned_by",
			schema: "ListModelsResponse",
			body:   `{"object":"list","data":[{"id":"m","object":"model","created":1709769600}]}`,
			want: []Violation{{
				Pointer: "/data/0",
				Keyword: "#/components/schemas/Model/required",
				Message: "missing property 'owned_by'",
			}},
		},
		{
			name:   "shutdown_date not a date",
			schema: "Model",
			body:   strings.Replace(modelObject, `}`, `,"shutdown_date":"soon"}`, 1),
			want: []Violation{
				{
					Pointer: "/shutdown_date",
					Keyword: "#/components/schemas/Model/properties/shutdown_date/anyOf",
					Message: "'anyOf' failed",
				},
				{
					Pointer:      "/shutdown_date",
					Keyword:      "#/components/schemas/Model/properties/shutdown_date/anyOf/0/format",
					Message:      `'soon' is not valid date: parsing time "soon" as "2006-01-02": cannot parse "soon" as "2006"`,
					Alternatives: 1,
				},
				{
					Pointer:      "/shutdown_date",
					Keyword:      "#/components/schemas/Model/properties/shutdown_date/anyOf/1/type",
					Message:      "got string, want null",
					Alternatives: 1,
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // Check is safe for concurrent use
			err := Check(tt.schema, []byte(tt.body))
			var got []Violation
			if err != nil {
				var se *Error
				if !errors.As(err, &se) {
					t.Fatalf("Check() = %v, want a schema violation or nil", err)
				}
				if se.Schema != tt.schema {
					t.Errorf("Error.Schema = %q, want %q", se.Schema, tt.schema)
				}
				got = se.Violations
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check() violations (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestCheckErrorMessage(t *testing.T) {
	body := strings.Replace(textChunk, `,"finish_reason":null`, ``, 1)
	err := Check("CreateChatCompletionStreamResponse", []byte(body))
	want := "body does not match OpenAI's CreateChatCompletionStreamResponse (1 violation(s)):\n" +
		"  /choices/0: missing property 'finish_reason' [" + chunkSchema + "/properties/choices/items/required]"
	if err == nil || err.Error() != want {
		t.Errorf("Check() error =\n%v\nwant\n%s", err, want)
	}
}

func TestCheckNotChecked(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		body   string
		want   string // regexp the error must match
	}{
		{"not JSON", "ErrorResponse", `{"error":`, `^ErrorResponse: body is not JSON: `},
		{"two values", "ErrorResponse", `{} {}`, `^ErrorResponse: body is not JSON: trailing data`},
		{"unknown schema", "NoSuchSchema", `{}`, `compile NoSuchSchema: `},
		{"pointer as schema name", "Model/properties", `{}`, `bad schema name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.schema, []byte(tt.body))
			if err == nil || !regexp.MustCompile(tt.want).MatchString(err.Error()) {
				t.Errorf("Check() = %v, want an error matching %q", err, tt.want)
			}
			var se *Error
			if errors.As(err, &se) {
				t.Errorf("Check() = %v, want an error other than a schema violation", err)
			}
		})
	}
}

func sse(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString("data: " + e + "\n\n")
	}
	return b.String()
}

// summary renders an error of checkSSE on one line: framing errors as they
// are, schema violations as the pointers and messages of their top level.
func summary(err error) string {
	var ee *eventError
	if !errors.As(err, &ee) {
		return "not an eventError: " + err.Error()
	}
	var se *Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	var parts []string
	for _, v := range se.Violations {
		if v.Alternatives == 0 {
			parts = append(parts, v.Pointer+": "+v.Message)
		}
	}
	return fmt.Sprintf("SSE event %d: %s: %s", ee.Event, se.Schema, strings.Join(parts, "; "))
}

func TestCheckSSE(t *testing.T) {
	otherID := strings.Replace(stopChunk, `chatcmpl-tg-1`, `chatcmpl-tg-2`, 1)
	otherCreated := strings.Replace(stopChunk, `1767225600`, `1767225601`, 1)
	tests := []struct {
		name       string
		transcript string
		wantEvents int
		wantErrs   []string
	}{
		{
			name:       "text with usage",
			transcript: sse(roleChunk, textChunk, stopChunk, usageChunk, "[DONE]"),
			wantEvents: 4,
		},
		{
			name:       "tool call",
			transcript: sse(roleChunk, toolChunk, argsChunk, strings.Replace(stopChunk, `"stop"`, `"tool_calls"`, 1), "[DONE]"),
			wantEvents: 4,
		},
		{
			name:       "ends with an error event",
			transcript: sse(roleChunk, textChunk, errorBody),
			wantEvents: 3,
		},
		{
			name:       "error before any chunk",
			transcript: sse(errorBody),
			wantEvents: 1,
		},
		{
			name:       "no [DONE]",
			transcript: sse(roleChunk, textChunk, stopChunk),
			wantEvents: 3,
			wantErrs:   []string{"SSE transcript: ends without data: [DONE] (or an error event) after 3 chunk(s)"},
		},
		{
			name:       "empty",
			transcript: "",
			wantErrs:   []string{"SSE transcript: empty: want data: lines ending with data: [DONE]"},
		},
		{
			name:       "[DONE] after an error event",
			transcript: sse(textChunk, errorBody, "[DONE]"),
			wantEvents: 2,
			wantErrs:   []string{"SSE event 3: follows an error event: [DONE]"},
		},
		{
			name:       "chunk after [DONE]",
			transcript: sse(textChunk, "[DONE]", stopChunk),
			wantEvents: 1,
			wantErrs:   []string{"SSE event 3: follows [DONE]: " + stopChunk},
		},
		{
			name:       "chunk without finish_reason",
			transcript: sse(strings.Replace(textChunk, `,"finish_reason":null`, ``, 1), "[DONE]"),
			wantEvents: 1,
			wantErrs:   []string{"SSE event 1: CreateChatCompletionStreamResponse: /choices/0: missing property 'finish_reason'"},
		},
		{
			name:       "error event without message",
			transcript: sse(textChunk, `{"error":{"type":"server_error","param":null,"code":null}}`),
			wantEvents: 2,
			wantErrs:   []string{"SSE event 2: ErrorResponse: /error: missing property 'message'"},
		},
		{
			name:       "chunks disagree on id and created",
			transcript: sse(textChunk, otherID, otherCreated, "[DONE]"),
			wantEvents: 3,
			wantErrs: []string{
				"SSE event 2: id is chatcmpl-tg-2, the first chunk's is chatcmpl-tg-1: every chunk must share it",
				"SSE event 3: created is 1767225601, the first chunk's is 1767225600: every chunk must share it",
			},
		},
		{
			name:       "named events",
			transcript: "event: message\ndata: " + textChunk + "\n\ndata: [DONE]\n\n",
			wantErrs:   []string{`SSE event 1: has more than one line, want a single data: line: "event: message\ndata: ` + strings.ReplaceAll(textChunk, `"`, `\"`) + `"`},
		},
		{
			name:       "no space after data:",
			transcript: "data:" + textChunk + "\n\ndata: [DONE]\n\n",
			wantErrs:   []string{`SSE event 1: is not a data: line: "data:` + strings.ReplaceAll(textChunk, `"`, `\"`) + `"`},
		},
		{
			name:       "CRLF and a cut last event",
			transcript: "data: " + textChunk + "\r\n\r\ndata: [DONE]\n",
			wantEvents: 1,
			wantErrs: []string{
				`SSE transcript: contains "\r": OpenAI separates lines with "\n" only`,
				"SSE transcript: does not end with a blank line: the last event is cut short",
			},
		},
		{
			name:       "extra blank line",
			transcript: "data: " + textChunk + "\n\n\n\ndata: [DONE]\n\n",
			wantEvents: 1,
			wantErrs:   []string{"SSE event 2: empty event (more than one blank line)"},
		},
		{
			name:       "payload not JSON",
			transcript: sse(`{"id":`, "[DONE]"),
			wantErrs:   []string{`SSE event 1: payload is not JSON: unexpected EOF: {"id":`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, errs := checkSSE([]byte(tt.transcript))
			var got []string
			for _, err := range errs {
				got = append(got, summary(err))
			}
			if diff := cmp.Diff(tt.wantErrs, got); diff != "" {
				t.Errorf("checkSSE() errors (-want +got):\n%s", diff)
			}
			if len(events) != tt.wantEvents {
				t.Errorf("checkSSE() returned %d events, want %d", len(events), tt.wantEvents)
			}
		})
	}
}

func TestValidateSSEReturnsPayloads(t *testing.T) {
	events := ValidateSSE(t, []byte(sse(roleChunk, textChunk, usageChunk, errorBody)))
	var got []string
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	want := []string{roleChunk, textChunk, usageChunk, errorBody}
	for i := range want {
		want[i] = compact(t, want[i])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ValidateSSE() payloads (-want +got):\n%s", diff)
	}
}

// compact re-encodes s the way json.Marshal orders a map: by key.
func compact(t *testing.T, s string) string {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestYAMLToJSON(t *testing.T) {
	in := `
responses:
  200: {description: ok}
  "404": {description: missing}
numbers: [1, 1.0, 0.000001, 1e3, 0x10, -2, .5]
strings: [2024-01-01, "1", yes, ~str]
nothing: ~
flag: true
base: &b {type: string}
alias: *b
`
	got, err := yamlToJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"responses": map[string]any{
			"200": map[string]any{"description": "ok"},
			"404": map[string]any{"description": "missing"},
		},
		"numbers": []any{json.Number("1"), json.Number("1.0"), json.Number("0.000001"),
			json.Number("1e3"), json.Number("16"), json.Number("-2"), json.Number("0.5")},
		"strings": []any{"2024-01-01", "1", "yes", "~str"},
		"nothing": nil,
		"flag":    true,
		"base":    map[string]any{"type": "string"},
		"alias":   map[string]any{"type": "string"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("yamlToJSON() (-want +got):\n%s", diff)
	}

	for _, bad := range []string{"a: 1\na: 2\n", "base: &b {x: 1}\nc:\n  <<: *b\n", "x: .inf\n"} {
		if v, err := yamlToJSON([]byte(bad)); err == nil {
			t.Errorf("yamlToJSON(%q) = %v, want an error", bad, v)
		}
	}
}

func TestNormalize(t *testing.T) {
	doc, err := decodeJSON([]byte(`{"components":{"schemas":{
		"Tree": {
			"$recursiveAnchor": true,
			"type": "object",
			"required": ["kind", "kind"],
			"properties": {
				"nullable": {"type": "boolean", "nullable": false},
				"kind": {"type": "string", "enum": ["a"], "nullable": true, "description": "d"},
				"size": {"type": "number", "minimum": 0, "maximum": 2, "exclusiveMinimum": true, "exclusiveMaximum": false},
				"children": {"type": "array", "items": {"anyOf": [{"$ref": "#/components/schemas/Leaf"}, {"$recursiveRef": "#"}]}}
			}
		},
		"Leaf": {"$ref": "#/components/schemas/Other", "nullable": true}
	}}}`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := normalize(doc)
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeJSON([]byte(`{"components":{"schemas":{
		"Tree": {
			"type": "object",
			"required": ["kind"],
			"properties": {
				"nullable": {"type": "boolean"},
				"kind": {"anyOf": [{"type": "null"}, {"type": "string", "enum": ["a"], "description": "d"}]},
				"size": {"type": "number", "maximum": 2, "exclusiveMinimum": 0},
				"children": {"type": "array", "items": {"anyOf": [{"$ref": "#/components/schemas/Leaf"}, {"$ref": "#/components/schemas/Tree"}]}}
			}
		},
		"Leaf": {"anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/Other"}]}
	}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("normalize() document (-want +got):\n%s", diff)
	}
	wantSt := normalizeStats{Nullable: 2, NotNullable: 1, ExclusiveBoolean: 2, RecursiveRef: 1, RecursiveAnchor: 1, DuplicateRequired: 1}
	if diff := cmp.Diff(wantSt, st); diff != "" {
		t.Errorf("normalize() stats (-want +got):\n%s", diff)
	}

	for _, bad := range []string{
		`{"components":{"schemas":{"A":{"exclusiveMinimum":true}}}}`,
		`{"components":{"schemas":{"A":{"nullable":"yes"}}}}`,
		`{"components":{"schemas":{"A":{"properties":{"b":{"$recursiveAnchor":true}}}}}}`,
		`{"components":{"schemas":{"A":{"$recursiveRef":"#/x"}}}}`,
	} {
		doc, err := decodeJSON([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := normalize(doc); err == nil {
			t.Errorf("normalize(%s) succeeded, want an error", bad)
		}
	}
}

// TestSpec pins the spec file and what normalize had to rewrite in it: when
// the spec is refreshed, a change here means the package documentation's
// list of rewrites needs a second look.
func TestSpec(t *testing.T) {
	if err := loadOnce(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(spec.path)
	if err != nil {
		t.Fatal(err)
	}
	note, err := os.ReadFile(filepath.Join(filepath.Dir(spec.path), "openai-openapi.SOURCE.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	wantLine := fmt.Sprintf("%d bytes / %s", len(raw), hex.EncodeToString(sum[:]))
	if !strings.Contains(string(note), wantLine) {
		t.Errorf("openai-openapi.SOURCE.txt does not record the spec's size and SHA-256 %q", wantLine)
	}

	want := normalizeStats{Nullable: 109, NotNullable: 1, ExclusiveBoolean: 7, RecursiveRef: 2, RecursiveAnchor: 2, DuplicateRequired: 4}
	if diff := cmp.Diff(want, spec.st); diff != "" {
		t.Errorf("normalize() rewrites in the spec (-want +got):\n%s", diff)
	}
}

func TestFindSpec(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want, err := findSpec(filepath.Join(wd, "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	got, err := findSpec(wd)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("findSpec(%s) = %s, want %s", wd, got, want)
	}
	if _, err := findSpec(t.TempDir()); err == nil {
		t.Errorf("findSpec(temp dir) succeeded, want an error")
	}
}

// TestEverySchemaCompiles proves that normalize leaves no schema of the spec
// that the library rejects, so Check works for any of them.
func TestEverySchemaCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles all of the spec's schemas (about 2 s)")
	}
	if err := loadOnce(); err != nil {
		t.Fatal(err)
	}
	doc, err := loadSpec(spec.path)
	if err != nil {
		t.Fatal(err)
	}
	names := sortedKeys(doc.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any))
	for _, name := range names {
		if _, err := compile(name); err != nil {
			t.Error(err)
		}
	}
}
