package main

// The client side: one request of the mix, and what came back.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Kinds of request in the mix.
const (
	kindPlain      = "plain"
	kindStream     = "stream"
	kindTool       = "tool"
	kindToolStream = "tool-stream"
	kindEmbed      = "embedding"
	kindDisconnect = "disconnect-mid-stream"
	kindCapped     = "capped-key"
	kindBadInput   = "bad-input"
	kindFault      = "fault:" // + the fault's name
)

// fault is an injected Bedrock failure and the statuses it may produce: for
// a stream that started, 200 ending with an error event.
type fault struct {
	name, marker string
	stream       bool
	status       int
}

var faults = []fault{
	{"ThrottlingException", "[sim:error=ThrottlingException]", false, 429},
	{"InternalServerException", "[sim:error=InternalServerException]", false, 502},
	{"ServiceUnavailableException", "[sim:error=ServiceUnavailableException]", false, 503},
	{"ModelTimeoutException", "[sim:error=ModelTimeoutException]", false, 504},
	{"ValidationException", "[sim:error=ValidationException]", false, 400},
	{"ThrottlingException/stream", "[sim:error=ThrottlingException]", true, 429},
	{"modelStreamErrorException", "[sim:tokens=80] [sim:exception=modelStreamErrorException]", true, 200},
	{"throttlingException", "[sim:tokens=80] [sim:exception=throttlingException]", true, 200},
	{"cut", "[sim:tokens=80] [sim:cut]", true, 200},
	{"cut/plain", "[sim:cut]", false, 502},
}

// result is one request as the client saw it.
type result struct {
	kind      string
	key       string
	status    int
	requestID string
	sawUsage  bool  // the response reported usage (plain, streams with include_usage, embeddings)
	in, out   int64 // its prompt and completion tokens
	errEvent  string
	clientErr string // a transport error, or a stream that ended wrong
	detail    string
	injected  bool // a fault was injected: a 5xx or an error event is expected
	wantFault fault
}

// one picks the n-th request of the mix and sends it.
func (r *rig) one(ctx context.Context, n int) result {
	slot := n % 100
	key := keyIDs[n%2]
	switch {
	case slot < 28:
		return r.do(ctx, key, "/v1/chat/completions", chat(fmt.Sprintf("Plain request %d. [sim:tokens=%d]", n, 20+n%60), false, false), kindPlain)
	case slot < 50:
		return r.do(ctx, key, "/v1/chat/completions", chat(fmt.Sprintf("Streamed request %d. [sim:tokens=%d]", n, 30+n%90), true, false), kindStream)
	case slot < 58:
		return r.do(ctx, key, "/v1/chat/completions", chat(fmt.Sprintf("Weather in Paris? %d [sim:tool]", n), false, true), kindTool)
	case slot < 64:
		return r.do(ctx, key, "/v1/chat/completions", chat(fmt.Sprintf("Weather in Oslo? %d [sim:tool]", n), true, true), kindToolStream)
	case slot < 72:
		if r.embed {
			return r.do(ctx, key, "/v1/embeddings", embedBody(), kindEmbed)
		}
		return r.do(ctx, key, "/v1/chat/completions", chat(fmt.Sprintf("Plain request %d.", n), false, false), kindPlain)
	case slot < 78:
		return r.disconnect(ctx, key, n)
	case slot < 88:
		return r.do(ctx, "soak-capped", "/v1/chat/completions", chat(fmt.Sprintf("Capped request %d. [sim:tokens=100]", n), n%2 == 0, false), kindCapped)
	case slot < 97:
		f := faults[(n/100)%len(faults)]
		res := r.do(ctx, key, "/v1/chat/completions", chat("Fault "+f.marker, f.stream, false), kindFault+f.name)
		res.injected, res.wantFault = true, f
		return res
	default:
		bad := []string{`{"model":`, `{"model":"` + chatModel + `","messages":[]}`, `{"model":"` + chatModel + `","messages":[{"role":"hacker","content":"x"}]}`,
			`{"model":"` + chatModel + `","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}`}
		return r.do(ctx, key, "/v1/chat/completions", []byte(bad[n%len(bad)]), kindBadInput)
	}
}

func chat(prompt string, stream, tools bool) []byte {
	req := map[string]any{
		"model":      chatModel,
		"max_tokens": 400,
		"messages":   []map[string]any{{"role": "user", "content": prompt}},
	}
	if stream {
		req["stream"] = true
		req["stream_options"] = map[string]any{"include_usage": true}
	}
	if tools {
		req["tools"] = []map[string]any{{"type": "function", "function": map[string]any{
			"name": "get_weather", "description": "Current weather for a city",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
		}}}
	}
	b, _ := json.Marshal(req)
	return b
}

func embedBody() []byte {
	return []byte(`{"model":"` + embedModel + `","input":["The toll gate opens at dawn.","Bedrock bills every token."]}`)
}

// do sends one request with a deadline and reads the whole answer.
func (r *rig) do(ctx context.Context, key, path string, body []byte, kind string) result {
	res := result{kind: kind, key: key}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", r.base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.secrets[key])
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		res.clientErr = err.Error()
		return res
	}
	defer resp.Body.Close()
	res.status = resp.StatusCode
	res.requestID = resp.Header.Get("X-Request-Id")
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		r.readStream(resp.Body, &res)
		return res
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		res.clientErr = err.Error()
		return res
	}
	if res.status != 200 {
		res.detail = string(b[:min(len(b), 300)])
		return res
	}
	var u struct {
		Usage *struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(b, &u); err != nil || u.Usage == nil {
		res.clientErr = fmt.Sprintf("a 200 without usage: %.200s", b)
		return res
	}
	res.sawUsage, res.in, res.out = true, u.Usage.PromptTokens, u.Usage.CompletionTokens
	return res
}

// readStream reads SSE to its end: data: [DONE] after a usage chunk, or an
// error event.
func (r *rig) readStream(body io.Reader, res *result) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	done := false
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var ev struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   *struct {
				PromptTokens     int64 `json:"prompt_tokens"`
				CompletionTokens int64 `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct {
				Code *string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			res.clientErr = "bad SSE data: " + data
			return
		}
		switch {
		case ev.Error != nil:
			res.errEvent = "error"
			if ev.Error.Code != nil {
				res.errEvent = *ev.Error.Code
			}
		case len(ev.Choices) == 0 && ev.Usage != nil:
			res.sawUsage, res.in, res.out = true, ev.Usage.PromptTokens, ev.Usage.CompletionTokens
		}
	}
	if err := sc.Err(); err != nil {
		res.clientErr = err.Error()
		return
	}
	if !done && res.errEvent == "" {
		res.clientErr = "stream ended without [DONE] or an error event"
	}
	if done && !res.sawUsage {
		res.clientErr = "stream ended without its usage chunk"
	}
}

// disconnect starts a long stream and goes away after its first chunks.
func (r *rig) disconnect(ctx context.Context, key string, n int) result {
	res := result{kind: kindDisconnect, key: key}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", r.base+"/v1/chat/completions",
		bytes.NewReader(chat(fmt.Sprintf("A long story %d. [sim:tokens=600]", n), true, false)))
	req.Header.Set("Authorization", "Bearer "+r.secrets[key])
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		res.clientErr = err.Error()
		return res
	}
	res.status = resp.StatusCode
	res.requestID = resp.Header.Get("X-Request-Id")
	buf := make([]byte, 1024)
	_, _ = io.ReadAtLeast(resp.Body, buf, 600)
	cancel()
	resp.Body.Close()
	return res
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
