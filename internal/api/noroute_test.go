package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// TestUnknownRoutes: a request no route takes gets its 404 (or 405) in the
// protocol its path speaks — Bedrock's under /bedrock, Anthropic's on the
// Messages API's paths or with anthropic-version, OpenAI's elsewhere — and
// the message lists the routes Tollgate serves, the new ones included.
func TestUnknownRoutes(t *testing.T) {
	p, err := policy.Parse(map[string][]byte{"p.yaml": []byte("keys:\n  - {id: k, sha256: " + policy.HashSecret("sk-k") + "}\n")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policies: policy.NewHolder(p),
		Budget:   budget.New(memory.New(), budget.Options{}),
	}))
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name, method, path, header string
		status                     int
		check                      func(h http.Header, body map[string]any) bool
		mentions                   []string
	}{
		{"OpenAI path", "GET", "/v1/nothing", "", 404, func(_ http.Header, b map[string]any) bool {
			e, _ := b["error"].(map[string]any)
			return e["code"] == "unknown_url"
		}, []string{"/v1/responses", "/v1/messages", "/v1/chat/completions", "/bedrock"}},
		{"Anthropic client", "POST", "/v1/complete", "2023-06-01", 404, isAnthropic("not_found_error"), []string{"/v1/messages"}},
		{"Messages path", "POST", "/v1/messages/batches", "", 404, isAnthropic("not_found_error"), []string{"/v1/messages/count_tokens"}},
		{"Messages wrong method", "GET", "/v1/messages", "", 405, isAnthropic("invalid_request_error"), nil},
		{"Bedrock path", "POST", "/bedrock/guardrail/g1/apply", "", 404, isBedrock("ResourceNotFoundException"), []string{"converse-stream", "/bedrock/inference-profiles"}},
		{"Bedrock operation", "POST", "/bedrock/model/m/retrieve", "", 404, isBedrock("ResourceNotFoundException"), []string{"count-tokens", "/bedrock/foundation-models"}},
		{"Bedrock wrong method", "GET", "/bedrock/model/m/converse", "", 400, isBedrock("ValidationException"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer sk-k")
			if tc.header != "" {
				req.Header.Set("anthropic-version", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body map[string]any
			if resp.StatusCode != tc.status || json.Unmarshal(raw, &body) != nil || !tc.check(resp.Header, body) {
				t.Fatalf("%s %s: %d %v %s", tc.method, tc.path, resp.StatusCode, resp.Header, raw)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(string(raw), m) {
					t.Errorf("message does not name %s: %s", m, raw)
				}
			}
		})
	}
}

func isAnthropic(typ string) func(http.Header, map[string]any) bool {
	return func(_ http.Header, b map[string]any) bool {
		e, _ := b["error"].(map[string]any)
		return b["type"] == "error" && e["type"] == typ && e["message"] != ""
	}
}

func isBedrock(typ string) func(http.Header, map[string]any) bool {
	return func(h http.Header, b map[string]any) bool {
		m, _ := b["message"].(string)
		return h.Get("X-Amzn-ErrorType") == typ && m != "" && len(b) == 1
	}
}

// TestMessagesTooLarge: a Messages body over the limit is Anthropic's 413
// request_too_large, before anything is parsed or Bedrock called.
func TestMessagesTooLarge(t *testing.T) {
	p, err := policy.Parse(map[string][]byte{"p.yaml": []byte("keys:\n  - {id: k, sha256: " + policy.HashSecret("sk-k") + "}\n")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policies:     policy.NewHolder(p),
		Budget:       budget.New(memory.New(), budget.Options{}),
		MaxBodyBytes: 1 << 10,
	}))
	t.Cleanup(srv.Close)
	body := `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"` + strings.Repeat("a", 2<<10) + `"}]}`
	req, _ := http.NewRequest("POST", srv.URL+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", "sk-k")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var b map[string]any
	if resp.StatusCode != 413 || json.Unmarshal(raw, &b) != nil || !isAnthropic("request_too_large")(resp.Header, b) {
		t.Fatalf("%d %s, want 413 request_too_large in Anthropic's envelope", resp.StatusCode, raw)
	}
}
