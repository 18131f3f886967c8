package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// replyingBedrock answers every Converse call with a short reply and counts
// the calls: the seam under test is what reaches Bedrock at all.
type replyingBedrock struct {
	fakeBedrock
	converse atomic.Int64
}

func (b *replyingBedrock) Converse(context.Context, *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseOutput, error) {
	b.converse.Add(1)
	return &bedrockruntime.ConverseOutput{
		Output: &types.ConverseOutputMemberMessage{Value: types.Message{Role: types.ConversationRoleAssistant,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "ok"}}}},
		StopReason: types.StopReasonEndTurn,
		Usage:      &types.TokenUsage{InputTokens: aws.Int32(5), OutputTokens: aws.Int32(1), TotalTokens: aws.Int32(6)},
	}, nil
}

// TestReauthenticateAtAdmission: a request is admitted under the policy in
// force when it reaches its budget check. A key disabled, removed, denied
// the model or given a $0 budget while its request's body was still
// arriving is refused, and Bedrock is never called (issue 13, point 5:
// requests opened before a key was disabled still got 200).
func TestReauthenticateAtAdmission(t *testing.T) {
	const secret = "sk-reauth-test"
	const model = "anthropic.claude-3-haiku-20240307-v1:0"
	policyWith := func(t *testing.T, keyYAML string) *policy.Policy {
		t.Helper()
		p, err := policy.Parse(map[string][]byte{"p.yaml": []byte(fmt.Sprintf("keys:\n  - {id: k, sha256: %s%s}\n", policy.HashSecret(secret), keyYAML))})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name       string
		then       string // the key's fields in the policy swapped in mid-body; "-" removes the key
		wantStatus int
		wantCode   string
	}{
		{"unchanged", ", monthly_budget_usd: 10", 200, ""},
		{"disabled", ", enabled: false", 401, "invalid_api_key"},
		{"removed", "-", 401, "invalid_api_key"},
		{"budget set to 0", ", monthly_budget_usd: 0", 429, "budget_exceeded"},
		{"model denied", `, deny: ["*haiku*"]`, 403, "model_not_allowed"},
		// The request was built without the guardrail: it must be sent again.
		{"guardrail added", `, guardrail: {id: abc123, version: "1"}`, 503, "policy_changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			holder := policy.NewHolder(policyWith(t, ", monthly_budget_usd: 10"))
			authenticated := make(chan struct{})
			var once sync.Once
			bedrock := &replyingBedrock{}
			srv := httptest.NewServer(api.NewServer(api.Deps{
				Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
				Policies: holder,
				Bedrock:  bedrock,
				Catalog:  fakeCatalog{},
				Budget:   budget.New(memory.New(), budget.Options{}),
				// authenticate reads the clock once the headers are in.
				Now: func() time.Time { once.Do(func() { close(authenticated) }); return time.Now() },
			}))
			t.Cleanup(srv.Close)

			body := fmt.Sprintf(`{"model":%q,"max_tokens":10,"messages":[{"role":"user","content":"hello"}]}`, model)
			pr, pw := io.Pipe()
			req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", pr)
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = int64(len(body))
			type result struct {
				status int
				body   string
				err    error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- result{err: err}
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				done <- result{status: resp.StatusCode, body: string(b)}
			}()
			if _, err := pw.Write([]byte(body[:10])); err != nil {
				t.Fatal(err)
			}
			select {
			case <-authenticated:
			case <-time.After(10 * time.Second):
				t.Fatal("the request was not authenticated")
			}
			if tt.then == "-" {
				empty, err := policy.Parse(nil)
				if err != nil {
					t.Fatal(err)
				}
				holder.Store(empty)
			} else {
				holder.Store(policyWith(t, tt.then))
			}
			if _, err := pw.Write([]byte(body[10:])); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.status != tt.wantStatus || (tt.wantCode != "" && !strings.Contains(r.body, `"code":"`+tt.wantCode+`"`)) {
				t.Errorf("status %d %s, want %d %s", r.status, r.body, tt.wantStatus, tt.wantCode)
			}
			wantCalls := int64(0)
			if tt.wantStatus == 200 {
				wantCalls = 1
			}
			if got := bedrock.converse.Load(); got != wantCalls {
				t.Errorf("Bedrock called %d times, want %d", got, wantCalls)
			}
		})
	}
}
