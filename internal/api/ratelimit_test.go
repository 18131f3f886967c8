package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// TestRateLimitHeaders: every model response of a rate-limited key carries
// OpenAI's x-ratelimit-* headers, plain and streamed; past the limit the
// answer is a 429 rate_limit_exceeded of type requests or tokens with
// retry-after; /v1/models and /v1/usage are neither counted nor refused;
// the Messages route names them as Anthropic does, /bedrock not at all.
func TestRateLimitHeaders(t *testing.T) {
	srv := simServer(t, fmt.Sprintf(`
keys:
  - {id: rl, sha256: %s, requests_per_minute: 3, tokens_per_minute: 100000}
  - {id: tok, sha256: %s, tokens_per_minute: 500}
  - {id: free, sha256: %s}
  - {id: resp, sha256: %s, requests_per_minute: 5}
  - {id: msg, sha256: %s, requests_per_minute: 2}
  - {id: br, sha256: %s, requests_per_minute: 1}
`, policy.HashSecret("sk-rl"), policy.HashSecret("sk-tok"), policy.HashSecret("sk-free"), policy.HashSecret("sk-resp"), policy.HashSecret("sk-msg"), policy.HashSecret("sk-br")), nil)

	do := func(method, path, key, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	chat := func(key string, stream bool, maxTokens int) (*http.Response, string) {
		return do("POST", "/v1/chat/completions", key, fmt.Sprintf(
			`{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":%d,"stream":%v,"messages":[{"role":"user","content":"Hi"}]}`, maxTokens, stream))
	}
	headers := func(resp *http.Response) map[string]string {
		out := map[string]string{}
		for name := range resp.Header {
			if n := strings.ToLower(name); strings.HasPrefix(n, "x-ratelimit-") || n == "retry-after" {
				out[n] = resp.Header.Get(name)
			}
		}
		return out
	}
	want := func(remaining int, reset string, tokensLeft func(string) bool) func(t *testing.T, h map[string]string) {
		return func(t *testing.T, h map[string]string) {
			t.Helper()
			left := h["x-ratelimit-remaining-tokens"]
			delete(h, "x-ratelimit-remaining-tokens")
			delete(h, "x-ratelimit-reset-tokens")
			wantH := map[string]string{
				"x-ratelimit-limit-requests":     "3",
				"x-ratelimit-remaining-requests": fmt.Sprint(remaining),
				"x-ratelimit-reset-requests":     reset,
				"x-ratelimit-limit-tokens":       "100000",
			}
			if d := cmp.Diff(wantH, h); d != "" {
				t.Fatalf("headers (-want +got):\n%s", d)
			}
			if !tokensLeft(left) {
				t.Fatalf("x-ratelimit-remaining-tokens %q", left)
			}
		}
	}
	below := func(n int) func(string) bool {
		return func(s string) bool { var v int; fmt.Sscan(s, &v); return v > 0 && v < n }
	}

	resp, _ := chat("sk-rl", false, 50)
	if resp.StatusCode != 200 {
		t.Fatalf("first chat: %d", resp.StatusCode)
	}
	want(2, "1m0s", below(100000))(t, headers(resp))

	resp, body := chat("sk-rl", true, 50)
	if resp.StatusCode != 200 || !strings.Contains(body, "[DONE]") {
		t.Fatalf("streamed chat: %d %s", resp.StatusCode, body)
	}
	want(1, "1m0s", below(100000))(t, headers(resp))

	for _, path := range []string{"/v1/models", "/v1/usage"} {
		resp, _ := do("GET", path, "sk-rl", "")
		if resp.StatusCode != 200 || len(headers(resp)) != 0 {
			t.Fatalf("GET %s: %d with %v, want 200 and no rate-limit headers", path, resp.StatusCode, headers(resp))
		}
	}

	resp, _ = chat("sk-rl", false, 50)
	if resp.StatusCode != 200 {
		t.Fatalf("third chat (models and usage not counted): %d", resp.StatusCode)
	}
	resp, body = chat("sk-rl", false, 50)
	var e struct {
		Error struct{ Type, Code, Message string }
	}
	json.Unmarshal([]byte(body), &e)
	h := headers(resp)
	if resp.StatusCode != 429 || e.Error.Type != "requests" || e.Error.Code != "rate_limit_exceeded" || h["retry-after"] == "" || h["x-ratelimit-remaining-requests"] != "0" {
		t.Fatalf("fourth chat: %d %s, headers %v; want 429 requests rate_limit_exceeded with retry-after and 0 remaining", resp.StatusCode, body, h)
	}

	resp, body = chat("sk-tok", false, 1000)
	json.Unmarshal([]byte(body), &e)
	if resp.StatusCode != 429 || e.Error.Type != "tokens" || e.Error.Code != "rate_limit_exceeded" {
		t.Fatalf("chat over the tokens limit: %d %s; want 429 tokens rate_limit_exceeded", resp.StatusCode, body)
	}
	if h := headers(resp); h["x-ratelimit-limit-tokens"] != "500" || h["x-ratelimit-remaining-tokens"] != "500" {
		t.Fatalf("tokens refusal headers %v", h)
	}

	resp, body = do("POST", "/v1/responses", "sk-resp", `{"model":"anthropic.claude-3-haiku-20240307-v1:0","input":"Hi","max_output_tokens":50}`)
	if h := headers(resp); resp.StatusCode != 200 || h["x-ratelimit-limit-requests"] != "5" || h["x-ratelimit-remaining-requests"] != "4" {
		t.Fatalf("POST /v1/responses: %d %s with %v, want 200 and the rate-limit headers", resp.StatusCode, body, h)
	}

	// Anthropic's Messages route names the same limits its own way.
	for i, wantStatus := range []int{200, 200, 429} {
		resp, body = do("POST", "/v1/messages", "sk-msg", `{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":50,"messages":[{"role":"user","content":"Hi"}]}`)
		reset, err := time.Parse(time.RFC3339, resp.Header.Get("anthropic-ratelimit-requests-reset"))
		if resp.StatusCode != wantStatus || resp.Header.Get("anthropic-ratelimit-requests-limit") != "2" ||
			resp.Header.Get("anthropic-ratelimit-requests-remaining") != fmt.Sprint(max(1-i, 0)) || err != nil ||
			reset.Before(time.Now()) || len(headers(resp)) > 1 {
			t.Fatalf("POST /v1/messages %d: %d %s with %v; want %d and anthropic-ratelimit-* headers only", i, resp.StatusCode, body, resp.Header, wantStatus)
		}
		if wantStatus == 429 && (!strings.Contains(body, `"rate_limit_error"`) || resp.Header.Get("retry-after") == "") {
			t.Fatalf("POST /v1/messages over the limit: %s %v; want Anthropic's rate_limit_error with retry-after", body, resp.Header)
		}
	}

	// Bedrock's API has no rate-limit headers: none on /bedrock, and the
	// refusal is the ThrottlingException the AWS SDKs retry after retry-after.
	for i, wantStatus := range []int{200, 429} {
		resp, body = do("POST", "/bedrock/model/anthropic.claude-3-haiku-20240307-v1:0/converse", "sk-br",
			`{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":50}}`)
		h := headers(resp)
		delete(h, "retry-after")
		for name := range resp.Header {
			if strings.Contains(strings.ToLower(name), "ratelimit") {
				h[name] = resp.Header.Get(name)
			}
		}
		if resp.StatusCode != wantStatus || len(h) != 0 {
			t.Fatalf("POST /bedrock converse %d: %d %s with %v; want %d and no rate-limit headers", i, resp.StatusCode, body, h, wantStatus)
		}
		if wantStatus == 429 && (resp.Header.Get("X-Amzn-ErrorType") != "ThrottlingException" || resp.Header.Get("retry-after") == "") {
			t.Fatalf("POST /bedrock over the limit: %s %v; want ThrottlingException with retry-after", body, resp.Header)
		}
	}

	resp, _ = chat("sk-free", false, 50)
	if resp.StatusCode != 200 || len(headers(resp)) != 0 {
		t.Fatalf("a key without limits: %d with %v, want 200 and no rate-limit headers", resp.StatusCode, headers(resp))
	}
}
