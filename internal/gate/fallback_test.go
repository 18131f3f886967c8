package gate_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// failingModels fails Converse calls to some models with a Bedrock error
// code, answers the others, and records the models called.
type failingModels struct {
	fakeBedrock
	fail   map[string]string // model id → Bedrock error code
	called []string
}

func (f *failingModels) Converse(ctx context.Context, in *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseOutput, error) {
	id := aws.ToString(in.ModelId)
	f.called = append(f.called, id)
	if code, ok := f.fail[id]; ok {
		return nil, upstream.MapError(&smithy.GenericAPIError{Code: code, Message: "injected"})
	}
	return f.fakeBedrock.Converse(ctx, in)
}

// TestFallbackChain: the primary is called first, a fallback the budget no
// longer affords is skipped, each model is called once, and an error that
// is the request's own does not fall back.
func TestFallbackChain(t *testing.T) {
	const (
		primary = "amazon.nova-lite-v1:0"
		dear    = "amazon.nova-premier-v1:0"
		cheap   = "amazon.nova-micro-v1:0"
	)
	p, err := policy.Parse(map[string][]byte{"policy.yaml": fmt.Appendf(nil, `
keys:
  - id: k
    sha256: %q
    monthly_budget_usd: 0.01
fallbacks:
  %s: [%s, %s]
pricing:
  %s: {input: 1000, output: 1000}
`, policy.HashSecret("sk-k-0123456789"), primary, dear, cheap, dear)})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := p.KeyByID("k")
	tests := []struct {
		name       string
		fail       map[string]string
		wantCalled []string
		wantErr    string
		wantBy     string
	}{
		{"throttled: the dear one is skipped", map[string]string{primary: "ThrottlingException"}, []string{primary, cheap}, "", cheap},
		{"not ready", map[string]string{primary: "ModelNotReadyException"}, []string{primary, cheap}, "", cheap},
		{"all fail: the last error", map[string]string{primary: "ServiceUnavailableException", cheap: "ThrottlingException"}, []string{primary, cheap}, "ThrottlingException", cheap},
		{"the request's own error: no fallback", map[string]string{primary: "ValidationException"}, []string{primary}, "ValidationException", primary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &failingModels{fail: tt.fail}
			rec := &recorder{}
			g := gate.New(gate.Config{Bedrock: f, Catalog: noCatalog{}, Budget: budget.New(memory.New(), budget.Options{}),
				Meter: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			ctx := context.Background()
			x := g.Open(gate.Caller{Policy: p, Key: k, RequestID: "req-1"}, "chat.completions")
			if _, err := x.Route(ctx, primary, false); err != nil {
				t.Fatal(err)
			}
			if _, err := x.Admit(ctx, gate.Demand{InputBytes: 100, MaxOutput: 100}); err != nil {
				t.Fatal(err)
			}
			in := &bedrockruntime.ConverseInput{ModelId: aws.String(primary),
				Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}}}
			_, err := x.Converse(ctx, in)
			x.Finish(ctx, 200)
			if got := upstream.ErrorCode(err); got != tt.wantErr {
				t.Errorf("error %v (Bedrock code %q), want %q", err, got, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantCalled, f.called); diff != "" {
				t.Errorf("models called (-want +got):\n%s", diff)
			}
			if got := x.AnsweredBy(); got != tt.wantBy {
				t.Errorf("AnsweredBy %q, want %q", got, tt.wantBy)
			}
			if ev := rec.events[0]; ev.ResolvedModel != tt.wantBy {
				t.Errorf("metering event's resolved model %q, want %q", ev.ResolvedModel, tt.wantBy)
			}
		})
	}
}
