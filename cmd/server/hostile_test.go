package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/openapitest"
)

// This file throws hostile and malformed requests, and slow or abusive
// clients, at a running gateway: each is answered with the right 4xx in
// OpenAI's error envelope, never a 5xx, a panic or a hang.

// hostileMaxBody keeps the oversized-body cases fast.
const hostileMaxBody = 1 << 20

// hostileRequest is one request of the bad-input table. Headers replace
// the defaults (Authorization: Bearer DemoKey, Content-Type:
// application/json); a header set to "" is left out, and a header with
// several values is sent several times.
type hostileRequest struct {
	name    string
	method  string // POST when empty
	path    string // /v1/chat/completions when empty
	headers map[string][]string
	body    string
	chunked bool // send the body without a Content-Length

	want     int    // the status
	wantCode string // error.code, when it matters
	// notOpenAI marks answers net/http itself sends before any handler
	// runs (431 for huge headers): plain text, not OpenAI's envelope.
	notOpenAI bool
}

// chatWith returns a chat body with one user message "hi" and the extra
// top-level members extra (a JSON fragment, "" for none).
func chatWith(extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"model":"` + haiku + `","messages":[{"role":"user","content":"hi"}]` + extra + `}`
}

// chatMsgs returns a chat body with the given messages array.
func chatMsgs(messages string) string {
	return `{"model":"` + haiku + `","messages":` + messages + `}`
}

// chatModel returns a chat body for model (a JSON string literal).
func chatModel(modelJSON string) string {
	return `{"model":` + modelJSON + `,"messages":[{"role":"user","content":"hi"}]}`
}

func nested(open, close string, depth int) string {
	return strings.Repeat(open, depth) + strings.Repeat(close, depth)
}

func imagePart(url string) string {
	return chatMsgs(`[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":` + quote(url) + `}}]}]`)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// assistantCall is a conversation whose assistant turn calls a tool with
// the given tool_calls array, answered by a tool message for call_1.
func assistantCall(toolCalls string) string {
	return chatMsgs(`[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":` + toolCalls +
		`},{"role":"tool","tool_call_id":"call_1","content":"sunny"}]`)
}

func hostileRequests() []hostileRequest {
	pngHeader := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	text := base64.StdEncoding.EncodeToString([]byte("this is not an image at all, just text"))
	gif := base64.StdEncoding.EncodeToString([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	auth := func(v ...string) map[string][]string {
		return map[string][]string{"Authorization": v}
	}
	bigModel := strings.Repeat("m", hostileMaxBody-200)
	return []hostileRequest{
		// Not JSON, or not the JSON expected.
		{name: "empty body", body: "", want: 400},
		{name: "truncated object", body: `{"model":`, want: 400},
		{name: "lone brace", body: `{`, want: 400},
		{name: "null", body: `null`, want: 400},
		{name: "array", body: `[]`, want: 400},
		{name: "string", body: `"hello"`, want: 400},
		{name: "number", body: `42`, want: 400},
		{name: "trailing garbage", body: chatWith("") + ` trailing`, want: 400},
		{name: "two objects", body: chatWith("") + chatWith(""), want: 400},
		{name: "byte order mark", body: "\ufeff" + chatWith(""), want: 400},
		{name: "single quotes", body: `{'model': 'x', 'messages': []}`, want: 400},
		{name: "NaN literal", body: chatWith(`"temperature":NaN`), want: 400},
		{name: "Infinity literal", body: chatWith(`"temperature":Infinity`), want: 400},
		{name: "comment", body: `{/* hi */"model":"x"}`, want: 400},
		{name: "invalid UTF-8 outside strings", body: "{\"model\":\"x\",\xff\xfe}", want: 400, wantCode: "invalid_encoding"},
		{name: "invalid UTF-8 in a message", body: chatMsgs("[{\"role\":\"user\",\"content\":\"h\xe9llo\"}]"), want: 400, wantCode: "invalid_encoding"},
		{name: "UTF-8-encoded surrogate in a message", body: chatMsgs("[{\"role\":\"user\",\"content\":\"\xed\xa0\x80\"}]"), want: 400, wantCode: "invalid_encoding"},
		{name: "NUL byte outside strings", body: "{\"model\":\"x\"\x00}", want: 400},
		{name: "raw control character in string", body: chatMsgs("[{\"role\":\"user\",\"content\":\"a\x01b\"}]"), want: 400},

		// Wrong types.
		{name: "model number", body: chatModel(`123`), want: 400},
		{name: "model null", body: chatModel(`null`), want: 400, wantCode: "missing_required_parameter"},
		{name: "model empty", body: chatModel(`""`), want: 400, wantCode: "missing_required_parameter"},
		{name: "model object", body: chatModel(`{"id":"x"}`), want: 400},
		{name: "messages string", body: chatMsgs(`"hi"`), want: 400, wantCode: "invalid_type"},
		{name: "messages object", body: chatMsgs(`{"role":"user"}`), want: 400, wantCode: "invalid_type"},
		{name: "messages empty", body: chatMsgs(`[]`), want: 400, wantCode: "empty_array"},
		{name: "message number", body: chatMsgs(`[1]`), want: 400, wantCode: "invalid_type"},
		{name: "message null", body: chatMsgs(`[null]`), want: 400},
		{name: "role number", body: chatMsgs(`[{"role":5,"content":"hi"}]`), want: 400},
		{name: "content number", body: chatMsgs(`[{"role":"user","content":5}]`), want: 400, wantCode: "invalid_type"},
		{name: "content object", body: chatMsgs(`[{"role":"user","content":{"text":"hi"}}]`), want: 400, wantCode: "invalid_type"},
		{name: "content part without type", body: chatMsgs(`[{"role":"user","content":[{"text":"hi"}]}]`), want: 400},
		{name: "content part of unknown type", body: chatMsgs(`[{"role":"user","content":[{"type":"video","video":"x"}]}]`), want: 400},
		{name: "stream string", body: chatWith(`"stream":"yes"`), want: 400},
		{name: "stream_options string", body: chatWith(`"stream_options":"x"`), want: 400},
		{name: "max_tokens string", body: chatWith(`"max_tokens":"10"`), want: 400},
		{name: "temperature string", body: chatWith(`"temperature":"hot"`), want: 400},
		{name: "temperature NaN string", body: chatWith(`"temperature":"NaN"`), want: 400},
		{name: "stop number", body: chatWith(`"stop":5`), want: 400},
		{name: "stop numbers", body: chatWith(`"stop":[1,2]`), want: 400},
		{name: "tools string", body: chatWith(`"tools":"x"`), want: 400},
		{name: "tool_choice number", body: chatWith(`"tool_choice":5`), want: 400},

		// Sizes: huge arrays, deep nesting, giant strings.
		{name: "100k messages of {}", body: chatMsgs("[" + strings.TrimSuffix(strings.Repeat("{},", 100_000), ",") + "]"), want: 400},
		{name: "50k unknown content parts", body: chatMsgs(`[{"role":"user","content":[` + strings.TrimSuffix(strings.Repeat(`{"type":"x"},`, 50_000), ",") + `]}]`), want: 400},
		{name: "1000 stop sequences", body: chatWith(`"stop":[` + strings.TrimSuffix(strings.Repeat(`"s",`, 1000), ",") + `]`), want: 400},
		{name: "10000-deep arrays as messages", body: chatMsgs(nested("[", "]", 10_000)), want: 400},
		{name: "10000-deep objects in an ignored field", body: chatWith(`"metadata":` + nested(`{"a":`, `}`, 9_998) + ``), want: 400},
		{name: "100000-deep arrays in an ignored field", body: chatWith(`"metadata":` + nested("[", "]", 100_000)), want: 400},
		{name: "10000-deep tool schema", body: chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":` + nested(`{"a":`, `}`, 9_990) + `}}}]`), want: 400},
		{name: "model near the body limit", body: chatModel(quote(bigModel)), want: 400, wantCode: "invalid_value"},
		{name: "tool name of 100 KB", body: chatWith(`"tools":[{"type":"function","function":{"name":"` + strings.Repeat("n", 100_000) + `"}}]`), want: 400},
		{name: "role of 500 KB", body: chatMsgs(`[{"role":"` + strings.Repeat("r", 500_000) + `","content":"hi"}]`), want: 400},
		{name: "tool_choice of 200 KB", body: chatWith(`"tool_choice":"` + strings.Repeat("c", 200_000) + `"`), want: 400},

		// Numbers.
		{name: "max_tokens -1", body: chatWith(`"max_tokens":-1`), want: 400, wantCode: "invalid_value"},
		{name: "max_tokens 0", body: chatWith(`"max_tokens":0`), want: 400, wantCode: "invalid_value"},
		{name: "max_tokens 1e30", body: chatWith(`"max_tokens":1e30`), want: 400},
		{name: "max_tokens above int32", body: chatWith(`"max_tokens":99999999999`), want: 400, wantCode: "invalid_value"},
		{name: "max_tokens fraction", body: chatWith(`"max_tokens":1.5`), want: 400},
		{name: "max_completion_tokens min int64", body: chatWith(`"max_completion_tokens":-9223372036854775808`), want: 400},
		{name: "max_completion_tokens beyond int64", body: chatWith(`"max_completion_tokens":99999999999999999999999`), want: 400},
		{name: "temperature negative", body: chatWith(`"temperature":-0.1`), want: 400, wantCode: "invalid_value"},
		{name: "temperature 1e308", body: chatWith(`"temperature":1e308`), want: 400, wantCode: "invalid_value"},
		{name: "temperature 1e400", body: chatWith(`"temperature":1e400`), want: 400},
		{name: "top_p 2", body: chatWith(`"top_p":2`), want: 400, wantCode: "invalid_value"},
		{name: "n 0", body: chatWith(`"n":0`), want: 400},
		{name: "n 2", body: chatWith(`"n":2`), want: 400},

		// Roles.
		{name: "unknown role", body: chatMsgs(`[{"role":"hacker","content":"hi"}]`), want: 400, wantCode: "invalid_value"},
		{name: "empty role", body: chatMsgs(`[{"role":"","content":"hi"}]`), want: 400},
		{name: "upper-case role", body: chatMsgs(`[{"role":"USER","content":"hi"}]`), want: 400},
		{name: "function role", body: chatMsgs(`[{"role":"function","name":"f","content":"hi"}]`), want: 400},
		{name: "missing role", body: chatMsgs(`[{"content":"hi"}]`), want: 400, wantCode: "missing_required_parameter"},
		{name: "tool message without id", body: chatMsgs(`[{"role":"user","content":"hi"},{"role":"tool","content":"x"}]`), want: 400},
		{name: "tool message answering nothing", body: chatMsgs(`[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_x","content":"x"}]`), want: 400},
		{name: "image in a system message", body: chatMsgs(`[{"role":"system","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + pngHeader + `"}}]},{"role":"user","content":"hi"}]`), want: 400},

		// Tool calls with broken arguments.
		{name: "arguments not JSON", body: assistantCall(`[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{not json"}}]`), want: 400},
		{name: "arguments an array", body: assistantCall(`[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"[1,2]"}}]`), want: 400},
		{name: "arguments an object, not a string", body: assistantCall(`[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":{"city":"Paris"}}}]`), want: 400},
		{name: "arguments truncated", body: assistantCall(`[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Par"}}]`), want: 400},
		{name: "tool call without id", body: assistantCall(`[{"type":"function","function":{"name":"get_weather","arguments":"{}"}}]`), want: 400},
		{name: "tool call of type code", body: assistantCall(`[{"id":"call_1","type":"code","function":{"name":"get_weather","arguments":"{}"}}]`), want: 400},
		{name: "tool call without name", body: assistantCall(`[{"id":"call_1","type":"function","function":{"arguments":"{}"}}]`), want: 400},
		{name: "tool name with spaces", body: chatWith(`"tools":[{"type":"function","function":{"name":"get weather"}}]`), want: 400},
		{name: "tool name with path", body: chatWith(`"tools":[{"type":"function","function":{"name":"../../etc/passwd"}}]`), want: 400},
		{name: "tool defined twice", body: chatWith(`"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]`), want: 400},
		{name: "tool parameters a string", body: chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":"object"}}]`), want: 400},
		{name: "tool_choice names an unknown tool", body: chatWith(`"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}`), want: 400},
		{name: "tool_choice required without tools", body: chatWith(`"tool_choice":"required"`), want: 400},

		// Image data URLs that lie.
		{name: "image text declared png", body: imagePart("data:image/png;base64," + text), want: 400},
		{name: "image gif declared jpeg", body: imagePart("data:image/jpeg;base64," + gif), want: 400},
		{name: "image of type text/plain", body: imagePart("data:text/plain;base64," + text), want: 400},
		{name: "image of type svg", body: imagePart("data:image/svg+xml;base64," + text), want: 400},
		{name: "image not base64", body: imagePart("data:image/png,rawbytes"), want: 400},
		{name: "image bad base64", body: imagePart("data:image/png;base64,!!!!****"), want: 400},
		{name: "image empty data", body: imagePart("data:image/png;base64,"), want: 400},
		{name: "image from the metadata service", body: imagePart("http://169.254.169.254/latest/meta-data/iam/security-credentials/"), want: 400},
		{name: "image from a file URL", body: imagePart("file:///etc/passwd"), want: 400},
		{name: "image from loopback", body: imagePart("https://127.0.0.1:9090/metrics"), want: 400},

		// Oversized bodies.
		{name: "body over the limit", body: chatMsgs(`[{"role":"user","content":"` + strings.Repeat("a", hostileMaxBody) + `"}]`), want: 413, wantCode: "request_too_large"},
		{name: "chunked body over the limit", body: chatMsgs(`[{"role":"user","content":"` + strings.Repeat("a", hostileMaxBody) + `"}]`), chunked: true, want: 413, wantCode: "request_too_large"},
		{name: "junk body over the limit", body: strings.Repeat("\x00", 2*hostileMaxBody), chunked: true, want: 413},

		// Header abuse.
		{name: "no content type", headers: map[string][]string{"Content-Type": {""}}, body: chatWith(""), want: 400, wantCode: "invalid_content_type"},
		{name: "content type text/plain", headers: map[string][]string{"Content-Type": {"text/plain"}}, body: chatWith(""), want: 400, wantCode: "invalid_content_type"},
		{name: "content type multipart", headers: map[string][]string{"Content-Type": {"multipart/form-data; boundary=x"}}, body: chatWith(""), want: 400, wantCode: "invalid_content_type"},
		{name: "content type malformed", headers: map[string][]string{"Content-Type": {"application/json; ;;=="}}, body: chatWith(""), want: 400, wantCode: "invalid_content_type"},
		{name: "no key", headers: auth(""), body: chatWith(""), want: 401, wantCode: "invalid_api_key"},
		{name: "unknown key", headers: auth("Bearer sk-not-a-key"), body: chatWith(""), want: 401, wantCode: "invalid_api_key"},
		{name: "bearer without key", headers: auth("Bearer"), body: chatWith(""), want: 401},
		{name: "basic auth", headers: auth("Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+DemoKey))), body: chatWith(""), want: 401},
		{name: "bearer key with a space inside", headers: auth("Bearer sk-tollgate demo"), body: chatWith(""), want: 401},
		{name: "bearer key and junk", headers: auth("Bearer " + DemoKey + " extra"), body: chatWith(""), want: 401},
		{name: "bearer key with unicode", headers: auth("Bearer sk-tollgate-d\u00e9mo"), body: chatWith(""), want: 401},
		{name: "bearer key with a homoglyph", headers: auth("Bearer sk-t\u043fllgate-demo"), body: chatWith(""), want: 401},
		{name: "key of 200 KB", headers: auth("Bearer " + strings.Repeat("k", 200_000)), body: chatWith(""), want: 431, notOpenAI: true},
		{name: "headers over 1 MB", headers: map[string][]string{"X-Junk": {strings.Repeat("j", 2<<20)}}, body: chatWith(""), want: 431, notOpenAI: true},
		{name: "10000 headers", headers: manyHeaders(10_000), body: chatWith(""), want: 431, notOpenAI: true},
		{name: "duplicate Authorization, bad first", headers: auth("Bearer sk-not-a-key", "Bearer "+DemoKey), body: chatWith(""), want: 400, wantCode: "invalid_api_key"},
		{name: "duplicate Authorization, good first", headers: auth("Bearer "+DemoKey, "Bearer sk-not-a-key"), body: chatWith(""), want: 400},
		{name: "Authorization and x-api-key disagree", headers: map[string][]string{"X-Api-Key": {"sk-not-a-key"}}, body: chatWith(""), want: 400},

		// Path tricks in model ids.
		{name: "model dot-dot", body: chatModel(`"../../foundation-models"`), want: 404, wantCode: "model_not_found"},
		{name: "model id with dot-dot suffix", body: chatModel(`"` + haiku + `/../../foundation-models"`), want: 404, wantCode: "model_not_found"},
		{name: "model percent-encoded dot-dot", body: chatModel(`"%2e%2e%2f%2e%2e%2fconverse"`), want: 404, wantCode: "model_not_found"},
		{name: "model with NUL", body: chatModel(`"` + haiku + `\u0000"`), want: 404, wantCode: "model_not_found"},
		{name: "model with CRLF", body: chatModel(`"` + haiku + `\r\nX-Injected: 1"`), want: 404, wantCode: "model_not_found"},
		{name: "model with query", body: chatModel(`"` + haiku + `?x=1"`), want: 404, wantCode: "model_not_found"},
		{name: "model with fragment", body: chatModel(`"` + haiku + `#frag"`), want: 404, wantCode: "model_not_found"},
		{name: "model ARN with extra slashes", body: chatModel(`"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile//../x"`), want: 404, wantCode: "model_not_found"},
		{name: "model ARN of another service", body: chatModel(`"arn:aws:iam::123456789012:role/admin"`), want: 404, wantCode: "model_not_found"},
		{name: "model invalid UTF-8", body: chatModel("\"anthropic.\xff\xfe\""), want: 400, wantCode: "invalid_encoding"},
		{name: "model lone surrogate", body: chatModel(`"\ud800"`), want: 404, wantCode: "model_not_found"},
		{name: "GET model dot-dot", method: "GET", path: "/v1/models/../../healthz", want: 404, wantCode: "model_not_found"},
		{name: "GET model percent dot-dot", method: "GET", path: "/v1/models/%2e%2e%2f%2e%2e%2fhealthz", want: 404, wantCode: "model_not_found"},
		{name: "GET model ARN with extra slashes", method: "GET", path: "/v1/models/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile//x", want: 404, wantCode: "model_not_found"},
		{name: "GET model with NUL", method: "GET", path: "/v1/models/" + haiku + "%00", want: 404, wantCode: "model_not_found"},
		{name: "GET model of 8 KB", method: "GET", path: "/v1/models/" + strings.Repeat("a", 8000), want: 404, wantCode: "model_not_found"},

		// Methods, paths, query strings.
		{name: "PUT chat", method: "PUT", body: chatWith(""), want: 405, wantCode: "method_not_allowed"},
		{name: "DELETE chat", method: "DELETE", want: 405, wantCode: "method_not_allowed"},
		{name: "PATCH usage", method: "PATCH", path: "/v1/usage", want: 405, wantCode: "method_not_allowed"},
		{name: "POST models", method: "POST", path: "/v1/models", body: chatWith(""), want: 405, wantCode: "method_not_allowed"},
		{name: "OPTIONS chat", method: "OPTIONS", want: 405},
		{name: "TRACE root", method: "TRACE", path: "/", want: 404},
		{name: "trailing slash", path: "/v1/chat/completions/", body: chatWith(""), want: 404, wantCode: "unknown_url"},
		{name: "double slash", path: "//v1/chat/completions", body: chatWith(""), want: 404, wantCode: "unknown_url"},
		{name: "upper-case path", path: "/V1/chat/completions", body: chatWith(""), want: 404, wantCode: "unknown_url"},
		{name: "dot-dot path to metrics", path: "/v1/../metrics", body: chatWith(""), want: 404},
		{name: "query string does not override the body", path: "/v1/chat/completions?model=" + haiku + "&stream=true", body: chatMsgs(`[]`), want: 400},
		{name: "query string of 100 KB", path: "/v1/chat/completions?q=" + strings.Repeat("q", 100_000), body: chatMsgs(`[]`), want: 431, notOpenAI: true},
	}
}

func manyHeaders(n int) map[string][]string {
	h := map[string][]string{}
	for i := range n {
		h[fmt.Sprintf("X-H-%d", i)] = []string{"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"}
	}
	return h
}

// TestHostileRequests sends every request of the bad-input table: each gets
// its 4xx with OpenAI's error envelope and a message, in time, and the
// gateway is still healthy and has logged no panic afterwards.
func TestHostileRequests(t *testing.T) {
	g := simGateway(t, "-max-body-bytes", fmt.Sprint(hostileMaxBody))
	cases := hostileRequests()
	if len(cases) < 60 {
		t.Fatalf("only %d hostile requests", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, b := sendHostile(t, g, tc)
			if status >= 500 {
				t.Fatalf("status %d: %.500s", status, b)
			}
			if status != tc.want {
				t.Errorf("status %d, want %d: %.500s", status, tc.want, b)
			}
			if tc.notOpenAI || tc.method == "HEAD" {
				return
			}
			if status < 400 {
				return
			}
			openapitest.Validate(t, "ErrorResponse", b)
			var e struct {
				Error struct {
					Message string
					Code    *string
				}
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("%v: %.300s", err, b)
			}
			if len(e.Error.Message) < 10 {
				t.Errorf("message %q does not say what is wrong", e.Error.Message)
			}
			if tc.wantCode != "" && (e.Error.Code == nil || *e.Error.Code != tc.wantCode) {
				t.Errorf("code %v, want %q: %s", e.Error.Code, tc.wantCode, b)
			}
			// An error never echoes a whole hostile input back.
			if len(b) > 16<<10 {
				t.Errorf("error body of %d bytes echoes the input: %.200s...", len(b), b)
			}
			if strings.Contains(string(b), DemoKey) {
				t.Errorf("error body holds the key: %s", b)
			}
		})
	}
	if status, _, _ := g.do(t, "GET", "/healthz", "", "", ""); status != 200 {
		t.Errorf("healthz %d after the hostile requests", status)
	}
	if status, _, b := g.do(t, "POST", "/v1/chat/completions", DemoKey, "application/json", chatWith("")); status != 200 {
		t.Errorf("a good request after the hostile ones: %d %s", status, b)
	}
	if logs := g.logs.String(); strings.Contains(logs, `"msg":"panic"`) || strings.Contains(logs, `"status":5`) {
		t.Errorf("a panic or a 5xx was logged:\n%s", logs)
	}
}

// sendHostile sends one table request with a deadline: a gateway that does
// not answer in 20 s fails the test rather than hanging it.
func sendHostile(t *testing.T, g *gateway, tc hostileRequest) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	method, path := tc.method, tc.path
	if method == "" {
		method = "POST"
	}
	if path == "" {
		path = "/v1/chat/completions"
	}
	var body io.Reader = strings.NewReader(tc.body)
	if tc.chunked {
		body = io.MultiReader(strings.NewReader(tc.body)) // hides the length
	}
	req, err := http.NewRequestWithContext(ctx, method, g.baseURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(path, "%") && strings.Contains(path, "..") {
		req.URL.Opaque = path // keep the dot-dots as sent
	}
	req.Header.Set("Authorization", "Bearer "+DemoKey)
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range tc.headers {
		req.Header.Del(k)
		for _, v := range vs {
			if v != "" {
				req.Header.Add(k, v)
			}
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp.StatusCode, b
}

// Slow and abusive clients.

// rawConn opens a TCP connection to the gateway's public listener with a
// small receive buffer, so that a client that stops reading makes the
// gateway's writes block soon.
func rawConn(t *testing.T, g *gateway, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if rcvbuf > 0 {
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
		}
		return serr
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(g.baseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedWithin reports whether the server closes conn within d (reading
// and discarding anything it sends), and what it sent.
func closedWithin(conn net.Conn, d time.Duration) (bool, string) {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, string(b)
	}
	return true, string(b)
}

// gatewayReadHeaderTimeout is http.Server.ReadHeaderTimeout in run.go
// (not a flag).
const gatewayReadHeaderTimeout = 10 * time.Second

// TestSlowHeadersAreCut: a client that sends its headers a byte at a time
// (slowloris), or opens connections and sends nothing, is disconnected at
// the server's header read timeout.
func TestSlowHeadersAreCut(t *testing.T) {
	t.Parallel()
	g := simGateway(t)
	trickle := rawConn(t, g, 0)
	silent := make([]net.Conn, 50)
	for i := range silent {
		silent[i] = rawConn(t, g, 0)
	}
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		req := "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + DemoKey + "\r\nX-Slow: "
		_, _ = io.WriteString(trickle, req)
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
				if _, err := trickle.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	defer close(stop)
	limit := gatewayReadHeaderTimeout + 5*time.Second
	if closed, _ := closedWithin(trickle, limit); !closed {
		t.Errorf("a client trickling its headers is still connected after %s", limit)
	}
	t.Logf("trickling client cut after %s", time.Since(start).Round(100*time.Millisecond))
	for i, c := range silent {
		if closed, got := closedWithin(c, time.Until(start.Add(limit))+time.Second); !closed {
			t.Fatalf("silent connection %d still open after %s (got %q)", i, limit, got)
		}
	}
}

// TestSlowBodyIsCut: a client that sends its headers and then a body
// slower than anyone would (here: 10 of the 100 bytes it announced, then
// nothing) must be cut by a body read timeout, or it holds a connection
// and a handler goroutine for as long as it likes.
func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	g := simGateway(t, "-body-read-timeout", "2s")
	conn := rawConn(t, g, 0)
	_, err := io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+DemoKey+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":")
	if err != nil {
		t.Fatal(err)
	}
	wait := 2*time.Second + 5*time.Second
	closed, got := closedWithin(conn, wait)
	if !closed {
		t.Fatalf("a client that announced 100 bytes and sent 10 is still connected after %s", wait)
	}
	if !strings.HasPrefix(got, "HTTP/1.1 408") {
		t.Errorf("a slow body got %q, want a 408", got)
	}
	if strings.Contains(got, " 5") {
		t.Errorf("a slow body got a 5xx: %q", got)
	}
}

// TestSlowStreamReader: a client that asks for a long stream and then
// stops reading makes the gateway's writes block. Memory must stay
// bounded (the gateway stops reading Bedrock while it cannot write), and
// the request must still end: settled and its reservation released once
// the upstream timeout passes, whether or not the client ever reads again.
func TestSlowStreamReader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://",
		"-upstream-timeout", "3s", "-drain-timeout", "1s", "-stream-write-timeout", "1s")
	const model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
	body := fmt.Sprintf(`{"model":%q,"stream":true,"max_tokens":64000,"messages":[{"role":"user","content":"Everything. [sim:tokens=64000]"}]}`, model)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	conn := rawConn(t, g, 4096)
	_, err := fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		cappedSecret, len(body), body)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 512)
	if _, err := io.ReadAtLeast(conn, first, 100); err != nil || !strings.HasPrefix(string(first), "HTTP/1.1 200") {
		t.Fatalf("no stream started: %q %v", first, err)
	}
	// Stop reading. Sample the heap while the gateway is blocked.
	var peak uint64
	deadline := time.Now().Add(8 * time.Second) // upstream timeout 3s + drain 1s + slack
	released := false
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
		if u := g.usage(t, cappedSecret); u.Key.ReservedUSD == 0 {
			released = true
			break
		}
	}
	grew := int64(peak) - int64(before.HeapInuse)
	t.Logf("heap in use grew by at most %d KiB while the client did not read", grew>>10)
	if grew > 64<<20 {
		t.Errorf("the heap grew by %d MiB for one client that does not read", grew>>20)
	}
	if !released {
		t.Errorf("a client that stopped reading still held %v USD of budget after 8s: the stream write timeout did not end the request", g.usage(t, cappedSecret).Key.ReservedUSD)
	}
}

// TestConcurrentStreamsBounded: one key opening many streams at once must
// meet a bound (a 429 or 503 with retry-after past it), or a single client
// can hold every goroutine, Bedrock connection and file descriptor the
// gateway has.
func TestConcurrentStreamsBounded(t *testing.T) {
	t.Parallel()
	g := simGateway(t, "-upstream-timeout", "4s", "-drain-timeout", "1s", "-max-concurrent-requests", "50")
	const n = 200
	body := chatBody("A long story [sim:tokens=60] [sim:stall]", 200, true)
	type result struct {
		status int
		err    error
	}
	results := make(chan result, n)
	before := runtime.NumGoroutine()
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", g.baseURL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+DemoKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- result{0, err}
				return
			}
			defer resp.Body.Close()
			results <- result{resp.StatusCode, nil}
			_, _ = io.Copy(io.Discard, resp.Body) // held open until the stall ends at the upstream timeout
		}()
	}
	codes := map[int]int{}
	var peakGoroutines int
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("a stream got no answer: %v", r.err)
			continue
		}
		codes[r.status]++
		peakGoroutines = max(peakGoroutines, runtime.NumGoroutine())
	}
	for status := range codes {
		if status >= 500 && status != 503 {
			t.Errorf("%d streams got %d", codes[status], status)
		}
	}
	if codes[200] > 50 || codes[429] != n-codes[200] {
		t.Errorf("statuses %v for %d simultaneous streams under -max-concurrent-requests 50 (goroutines %d to %d)", codes, n, before, peakGoroutines)
	}
}

// TestIdleKeepAliveConnections: many clients that make one request and keep
// their connection idle are all served, and shutting down closes them.
// The keep-alive idle timeout itself (http.Server.IdleTimeout, 2 minutes,
// not a flag) is too long to wait for here.
func TestIdleKeepAliveConnections(t *testing.T) {
	t.Parallel()
	g := simGateway(t)
	const n = 100
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = rawConn(t, g, 0)
		if _, err := io.WriteString(conns[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = conns[i].SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conns[i]), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	// Still served while they idle.
	if status, _, _ := g.do(t, "GET", "/healthz", "", "", ""); status != 200 {
		t.Fatalf("healthz %d with %d idle connections", status, n)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		if closed, _ := closedWithin(c, 5*time.Second); !closed {
			t.Fatalf("idle connection %d still open after shutdown", i)
		}
	}
}

// TestSecretsNeverLeak sends known secrets, good and bad, in every place a
// client might put them, through successes and failures, then greps
// everything the gateway produced (its logs at debug level, EMF lines, the
// metrics, every response's headers and body, /healthz) for them and for
// their SHA-256. It also checks that request ids are the server's own.
func TestSecretsNeverLeak(t *testing.T) {
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://", "-emf", "-log-level", "debug")
	badSecret := "sk-bad-guess-0123456789abcdef"
	secrets := []string{cappedSecret, freeSecret, badSecret}

	var transcript strings.Builder
	send := func(method, path string, headers map[string]string, body string) (int, http.Header) {
		req, _ := http.NewRequest(method, g.baseURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for k, vs := range resp.Header {
			fmt.Fprintf(&transcript, "%s: %s\n", k, strings.Join(vs, ","))
		}
		transcript.Write(b)
		return resp.StatusCode, resp.Header
	}
	ok := chatWith("")
	for _, secret := range secrets {
		for _, h := range []map[string]string{
			{"Authorization": "Bearer " + secret},
			{"X-Api-Key": secret},
			{"Authorization": "Basic " + secret},
			{"Authorization": "Bearer " + secret + " trailing"},
		} {
			send("POST", "/v1/chat/completions", h, ok)
			send("POST", "/v1/chat/completions", h, `{"model":`)
			send("POST", "/v1/chat/completions", h, chatBody("hi [sim:error=InternalServerException]", 50, false))
			send("POST", "/v1/chat/completions", h, chatBody("hi [sim:tokens=20] [sim:cut]", 50, true))
			send("GET", "/v1/models", h, "")
			send("GET", "/v1/usage", h, "")
		}
		// Secrets where they do not belong: the query string, the path, the
		// prompt. (Not the model field: the model a client asks for is
		// logged as sent, see TestClientStringsInLogsBounded.)
		send("POST", "/v1/chat/completions", map[string]string{"Authorization": "Bearer " + freeSecret}, chatBody("my key is "+secret, 50, false))
		send("GET", "/v1/models?api_key="+secret, map[string]string{"Authorization": "Bearer " + freeSecret}, "")
		send("GET", "/v1/nothing/"+secret, nil, "")
		send("POST", "/v1/chat/completions?key="+secret, nil, ok)
	}
	_, _ = io.WriteString(&transcript, "\n")
	status, _ := send("GET", "/healthz", nil, "")
	if status != 200 {
		t.Fatalf("healthz %d", status)
	}
	health := transcript.String()
	metrics := g.scrapeRaw(t)

	// Request ids are generated by the server, never taken from the client.
	ids := map[string]bool{}
	for _, secret := range []string{cappedSecret, freeSecret} {
		_, h := send("POST", "/v1/chat/completions", map[string]string{"Authorization": "Bearer " + secret, "X-Request-Id": "client-chosen-id"}, ok)
		id := h.Get("X-Request-Id")
		if id == "client-chosen-id" || !strings.HasPrefix(id, "req_") || ids[id] {
			t.Errorf("response request id %q: taken from the client or reused", id)
		}
		ids[id] = true
	}

	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	places := map[string]string{
		"logs":      g.logs.String(),
		"EMF lines": g.stdout.String(),
		"metrics":   metrics,
		"responses": health,
	}
	for _, secret := range secrets {
		hash := sha256Hex(secret)
		for where, text := range places {
			if strings.Contains(text, secret) && !(where == "responses" && secretEchoedToSender(text, secret)) {
				i := strings.Index(text, secret)
				t.Errorf("the secret %s… appears in the %s: …%s…", secret[:10], where, text[max(0, i-200):min(len(text), i+len(secret)+50)])
			}
			if where != "responses" && strings.Contains(text, hash) {
				t.Errorf("the SHA-256 of %s… appears in the %s", secret[:10], where)
			}
		}
	}
	if strings.Contains(g.logs.String(), "client-chosen-id") || strings.Contains(g.stdout.String(), "client-chosen-id") {
		t.Error("a client's x-request-id reached the logs or EMF lines")
	}
	if strings.Contains(g.logs.String(), "Bearer") {
		t.Error("an Authorization header reached the logs")
	}
}

// secretEchoedToSender reports whether every occurrence of secret in the
// responses is one the client itself put in the request line or body and
// the gateway quoted back to that same client (an unknown URL's path, the
// simulator's reply quoting the prompt), which reveals nothing it did not send.
func secretEchoedToSender(responses, secret string) bool {
	for rest := responses; ; {
		i := strings.Index(rest, secret)
		if i < 0 {
			return true
		}
		before := rest[max(0, i-120):i]
		if !strings.Contains(before, "/v1/nothing/") && !strings.HasSuffix(before, "my key is ") {
			return false
		}
		rest = rest[i+len(secret):]
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestAdminEndpointsOffThePublicListener: nothing but the API and /healthz
// answers on the public listener.
func TestAdminEndpointsOffThePublicListener(t *testing.T) {
	g := simGateway(t)
	for _, path := range []string{"/metrics", "/usage", "/debug/pprof/", "/debug/pprof/goroutine", "/debug/vars", "/admin", "/v1/metrics", "/api/v1/metrics"} {
		if status, _, _ := g.do(t, "GET", path, DemoKey, "", ""); status != 404 {
			t.Errorf("public %s answered %d", path, status)
		}
	}
	for _, path := range []string{"/debug/pprof/", "/debug/vars"} {
		resp, err := http.Get(g.adminURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("admin %s answered 200: profiling is not meant to be exposed", path)
		}
	}
}

// TestClientStringsInLogsBounded: the model name is the one string a client
// chooses that the request log and the EMF line carry. A huge one must not
// make a huge log line: every request could otherwise write up to
// -max-body-bytes into the logs (CloudWatch Logs bills ingestion per GB).
func TestClientStringsInLogsBounded(t *testing.T) {
	g := simGateway(t, "-emf")
	huge := strings.Repeat("m", 500_000)
	status, _, b := g.do(t, "POST", "/v1/chat/completions", DemoKey, "application/json", chatModel(quote(huge)))
	if status >= 500 || len(b) > 16<<10 {
		t.Fatalf("status %d, %d-byte body", status, len(b))
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	longest := func(s string) int {
		n := 0
		for _, l := range strings.Split(s, "\n") {
			n = max(n, len(l))
		}
		return n
	}
	logLine, emfLine := longest(g.logs.String()), longest(g.stdout.String())
	if logLine > 8<<10 || emfLine > 8<<10 {
		t.Errorf("a request whose model is a 500 KB string wrote a %d-byte log line and a %d-byte EMF line", logLine, emfLine)
	}
}
