package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// messagesRequest is a POST /v1/messages of prompt to Claude 3 Haiku, by
// Anthropic's name, with the headers Anthropic's SDKs send.
func messagesRequest(prompt string, stream bool) *http.Request {
	body := fmt.Sprintf(`{"model":"claude-3-haiku-20240307","max_tokens":%d,"stream":%v,"messages":[{"role":"user","content":%q}]}`,
		benchMaxTokens, stream, prompt)
	r := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(body))
	r.Header.Set("x-api-key", benchSecret)
	r.Header.Set("anthropic-version", "2023-06-01")
	r.Header.Set("anthropic-beta", "interleaved-thinking-2025-05-14,claude-code-20250219")
	r.Header.Set("Content-Type", "application/json")
	return r
}

// BenchmarkMessages is one non-streamed POST /v1/messages through the
// handler, as BenchmarkChatCompletion is for the OpenAI route: the
// difference between the two is the cost of each protocol's front end.
func BenchmarkMessages(b *testing.B) {
	h := newBenchEnv(b).gateway(b, memory.New())
	runParallel(b, func() error {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, messagesRequest(benchPrompt, false))
		if rec.Code != http.StatusOK {
			return fmt.Errorf("status %d: %s", rec.Code, rec.Body)
		}
		return nil
	})
}

// BenchmarkMessagesStream is one streamed POST /v1/messages of 200 output
// tokens; events/op counts its SSE events.
func BenchmarkMessagesStream(b *testing.B) {
	h := newBenchEnv(b).gateway(b, memory.New())
	var events atomic.Int64
	runParallel(b, func() error {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, messagesRequest(benchStreamPrompt, true))
		if rec.Code != http.StatusOK || !bytes.HasSuffix(rec.Body.Bytes(), []byte("data: {\"type\":\"message_stop\"}\n\n")) {
			return fmt.Errorf("status %d: %s", rec.Code, rec.Body)
		}
		events.Store(int64(bytes.Count(rec.Body.Bytes(), []byte("event: "))))
		return nil
	})
	b.ReportMetric(float64(events.Load()), "events/op")
}
