package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

const (
	originCurrent  = "Zq8mW3cY7tLr2VxN9bKd4HsP6gJf1AeU5oTn0RiQ" // 40 characters
	originPrevious = "Bv7kX2pL9sDw4MzQ1nHc8RtY3fGj6EaU0oKi5WuN"
	originKey      = "sk-origin-test"
)

func TestOriginSecret(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string // a part of the error; "" for none
	}{
		{"unset: no check", "", nil, ""},
		{"blank: no check", "  ", nil, ""},
		{"one", originCurrent, []string{originCurrent}, ""},
		{"two during a rotation", originCurrent + "," + originPrevious, []string{originCurrent, originPrevious}, ""},
		{"spaces around the comma", originCurrent + " , " + originPrevious, []string{originCurrent, originPrevious}, ""},
		{"three", originCurrent + "," + originPrevious + "," + originCurrent, nil, "3 comma-separated values"},
		{"too short", "hunter2", nil, "value 1 of 1 has 7 characters, want at least 32"},
		{"second empty", originCurrent + ",", nil, "value 2 of 2 has 0 characters"},
		{"the same twice", originCurrent + "," + originCurrent, nil, "the two values are the same"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := api.ParseOriginSecrets(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				for _, s := range []string{originCurrent, originPrevious, "hunter2"} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("the error quotes a secret: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("secrets (-want +got):\n%s", diff)
			}
		})
	}
}

// countingBedrock counts the model calls that reach it and fails them.
type countingBedrock struct{ calls atomic.Int32 }

func (b *countingBedrock) Converse(context.Context, *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseOutput, error) {
	b.calls.Add(1)
	return nil, &tollgate.Error{Kind: tollgate.BadGateway, Message: "test Bedrock"}
}

func (b *countingBedrock) ConverseStream(context.Context, *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseStreamEventStream, error) {
	b.calls.Add(1)
	return nil, &tollgate.Error{Kind: tollgate.BadGateway, Message: "test Bedrock"}
}

func (b *countingBedrock) InvokeModel(context.Context, string, []byte, map[string]string) ([]byte, int, error) {
	b.calls.Add(1)
	return nil, 0, &tollgate.Error{Kind: tollgate.BadGateway, Message: "test Bedrock"}
}

type originCatalog struct{}

func (originCatalog) Models(context.Context) ([]upstream.Model, error) { return nil, nil }
func (originCatalog) Lookup(_ context.Context, id string) (upstream.Model, bool, error) {
	return upstream.Model{ID: id, OwnedBy: "anthropic"}, true, nil
}

// originServer is the gateway's handler with an uncapped key and the given
// origin secrets, logging to logs.
func originServer(t testing.TB, secrets []string, bedrock api.Bedrock, logs io.Writer) http.Handler {
	t.Helper()
	p, err := policy.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = p.WithKey(policy.Key{ID: "k", SHA256: policy.HashSecret(originKey)}); err != nil {
		t.Fatal(err)
	}
	return api.NewServer(api.Deps{
		Logger:        slog.New(slog.NewJSONHandler(logs, nil)),
		Policies:      policy.NewHolder(p),
		Bedrock:       bedrock,
		Catalog:       originCatalog{},
		Budget:        budget.New(memory.New(), budget.Options{}),
		OriginSecrets: secrets,
	})
}

const originChat = `{"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"hi"}]}`

func TestRequireOrigin(t *testing.T) {
	both := []string{originCurrent, originPrevious}
	tests := []struct {
		name        string
		secrets     []string
		method      string
		path        string
		origin      []string // values of X-Tollgate-Origin
		wantStatus  int
		wantBedrock int32 // model calls that reached Bedrock
	}{
		{"no header", both, "POST", "/v1/chat/completions", nil, 403, 0},
		{"wrong secret", both, "POST", "/v1/chat/completions", []string{"not-the-secret-but-long-enough-to-pass-as-one"}, 403, 0},
		{"a prefix of the secret", both, "POST", "/v1/chat/completions", []string{originCurrent[:39]}, 403, 0},
		{"empty header", both, "POST", "/v1/chat/completions", []string{""}, 403, 0},
		{"two headers, one right", both, "POST", "/v1/chat/completions", []string{originCurrent, "x"}, 403, 0},
		{"the current secret", both, "POST", "/v1/chat/completions", []string{originCurrent}, 502, 1},
		{"the previous secret, during a rotation", both, "POST", "/v1/chat/completions", []string{originPrevious}, 502, 1},
		{"the previous secret, after the rotation", []string{originCurrent}, "POST", "/v1/chat/completions", []string{originPrevious}, 403, 0},
		{"models without a key: 403, not 401", both, "GET", "/v1/models", nil, 403, 0},
		{"unknown path: 403, not 404", both, "GET", "/admin", nil, 403, 0},
		{"readiness probe needs no header", both, "GET", "/healthz", nil, 200, 0},
		{"no secrets configured: no check", nil, "POST", "/v1/chat/completions", nil, 502, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bedrock := &countingBedrock{}
			var logs strings.Builder
			h := originServer(t, tt.secrets, bedrock, &logs)
			var body io.Reader
			if tt.method == "POST" {
				body = strings.NewReader(originChat)
			}
			req := httptest.NewRequest(tt.method, tt.path, body)
			req.Header.Set("Authorization", "Bearer "+originKey)
			req.Header.Set("Content-Type", "application/json")
			for _, v := range tt.origin {
				req.Header.Add(api.OriginHeader, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := bedrock.calls.Load(); got != tt.wantBedrock {
				t.Errorf("%d model calls reached Bedrock, want %d", got, tt.wantBedrock)
			}
			if tt.wantStatus != http.StatusForbidden {
				return
			}
			var got struct {
				Error struct{ Type, Code, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if got.Error.Type != "permission_error" || got.Error.Code != "origin_forbidden" || !strings.Contains(got.Error.Message, "front door") {
				t.Errorf("error %+v, want permission_error origin_forbidden naming the front door", got.Error)
			}
			// The request log names the refusal, and no key: authentication
			// never ran.
			var line map[string]any
			if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
				t.Fatalf("request log %q: %v", logs.String(), err)
			}
			if line["error_code"] != "origin_forbidden" || line["key_id"] != nil {
				t.Errorf("request log %v: want error_code origin_forbidden and no key_id", line)
			}
			for _, s := range both {
				if strings.Contains(logs.String(), s) || strings.Contains(rec.Body.String(), s) {
					t.Error("an origin secret is in the log or the response")
				}
			}
		})
	}
}

// BenchmarkOriginRejected is the gateway's own time to refuse a chat
// request that bypassed the front door: the request log, the hash and the
// 403 body, on the handler (the Web Adapter's hop is not in it).
func BenchmarkOriginRejected(b *testing.B) {
	bedrock := &countingBedrock{}
	h := originServer(b, []string{originCurrent, originPrevious}, bedrock, io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(originChat))
		req.Header.Set("Authorization", "Bearer "+originKey)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(api.OriginHeader, "not-the-secret-but-long-enough-to-pass-as-one")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			b.Fatalf("status %d", rec.Code)
		}
	}
	if bedrock.calls.Load() != 0 {
		b.Fatal("a refused request reached Bedrock")
	}
}
