package gate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/metering"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// fakeBedrock answers Converse with fixed usage and records the inputs it
// was sent. The seam under test is what the gate sends and settles; the
// simulator runs in Example and in internal/api's golden tests.
type fakeBedrock struct {
	mu   sync.Mutex
	sent []*bedrockruntime.ConverseInput
	fail error
}

func (f *fakeBedrock) Converse(_ context.Context, in *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseOutput, error) {
	f.mu.Lock()
	f.sent = append(f.sent, in)
	f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	return &bedrockruntime.ConverseOutput{
		Output: &types.ConverseOutputMemberMessage{Value: types.Message{Role: types.ConversationRoleAssistant,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "ok"}}}},
		StopReason: types.StopReasonEndTurn,
		Usage:      &types.TokenUsage{InputTokens: aws.Int32(10), OutputTokens: aws.Int32(20), TotalTokens: aws.Int32(30)},
	}, nil
}

func (f *fakeBedrock) ConverseStream(context.Context, *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseStreamEventStream, error) {
	return nil, errors.New("not used")
}

func (f *fakeBedrock) InvokeModel(context.Context, string, []byte, map[string]string) ([]byte, int, error) {
	return nil, 0, errors.New("not used")
}

type noCatalog struct{}

func (noCatalog) Lookup(context.Context, string) (upstream.Model, bool, error) {
	return upstream.Model{}, false, nil
}

// recorder keeps the metering events.
type recorder struct {
	mu       sync.Mutex
	events   []metering.Event
	rejected []string
}

func (r *recorder) InFlight() func() { return func() {} }
func (r *recorder) Record(ev metering.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}
func (r *recorder) Rejected(_, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected = append(r.rejected, reason)
}

const sonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

// cappedGate is a gate over f with one key, "k", whose budget is budgetUSD,
// and a price of 1 USD per 1M input tokens and 10 per 1M output tokens
// (an output token costs 10 micro-USD) for Claude Sonnet 4.5.
func cappedGate(t *testing.T, f gate.Bedrock, budgetUSD string) (*gate.Gate, gate.Caller, *recorder) {
	t.Helper()
	p, err := policy.Parse(map[string][]byte{"policy.yaml": fmt.Appendf(nil, `
keys:
  - id: k
    sha256: %q
    monthly_budget_usd: %s
pricing:
  anthropic.claude-sonnet-4-5-20250929-v1:0: {input: 1, output: 10}
`, policy.HashSecret("sk-k-0123456789"), budgetUSD)})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := p.KeyByID("k")
	rec := &recorder{}
	g := gate.New(gate.Config{Bedrock: f, Catalog: noCatalog{}, Budget: budget.New(memory.New(), budget.Options{}),
		Meter: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return g, gate.Caller{Policy: p, Key: k, RequestID: "req-" + t.Name()}, rec
}

// TestOutputCapDecidedOnce: the output cap a budget grants is the one cap
// Bedrock receives, and Claude's thinking budget is lowered under it,
// from plain numbers, whatever the request asked.
func TestOutputCapDecidedOnce(t *testing.T) {
	tests := []struct {
		name         string
		budgetUSD    string
		body         string
		wantCap      int
		wantClamped  bool
		wantThinking bool
	}{
		{"no clamp: the request's cap, thinking on top", "100", `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":1000,"reasoning_effort":"low"}`, 3048, false, true},
		{"capped key without max_tokens: the guard's default", "100", `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`, budget.DefaultMaxOutput, false, false},
		{"clamped below the thinking budget: halved", "0.03", `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":8000,"reasoning_effort":"medium"}`, 0, true, true},
		{"clamped below twice the least thinking budget: thinking off", "0.015", `{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":8000,"reasoning_effort":"low"}`, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeBedrock{}
			g, caller, rec := cappedGate(t, f, tt.budgetUSD)
			ctx := context.Background()
			req, err := converse.ParseChatRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			x := g.Open(caller, "chat.completions")
			route, err := x.Route(ctx, sonnet, false)
			if err != nil {
				t.Fatal(err)
			}
			in, err := converse.ToConverse(req, route.ModelID, converse.Options{})
			if err != nil {
				t.Fatal(err)
			}
			asked, thinking := converse.OutputCap(req, route.ModelID)
			grant, err := x.Admit(ctx, gate.Demand{InputBytes: len(tt.body), MaxOutput: asked, ThinkingBudget: thinking})
			if err != nil {
				t.Fatal(err)
			}
			if grant.MaxOutput != asked {
				converse.CapOutput(in, grant.MaxOutput, thinking)
			}
			if _, err := x.Converse(ctx, in); err != nil {
				t.Fatal(err)
			}
			x.Finish(ctx, 200)

			if tt.wantCap == 0 {
				tt.wantCap = grant.MaxOutput
				if grant.MaxOutput >= thinking {
					t.Fatalf("clamped to %d, not below the thinking budget %d: the case tests nothing", grant.MaxOutput, thinking)
				}
			}
			sent := f.sent[0]
			got := []any{grant.MaxOutput, grant.Clamped, int(*sent.InferenceConfig.MaxTokens), sent.AdditionalModelRequestFields != nil}
			want := []any{tt.wantCap, tt.wantClamped, tt.wantCap, tt.wantThinking}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("granted cap, clamped, cap sent, thinking sent (-want +got)\n%s", diff)
			}
			if len(f.sent) != 1 || len(rec.events) != 1 || rec.events[0].OutputTokens != 20 || rec.events[0].CostMicros == 0 {
				t.Errorf("%d calls, events %+v: want one call, one event settled with Bedrock's usage", len(f.sent), rec.events)
			}
		})
	}
}

// TestSettledOnceWhatever: every admitted exchange is settled exactly once
// and makes exactly one metering event: a failed call at nothing, a front
// end that gave up between admission and the call at nothing, a refusal
// without settlement but counted as a rejection.
func TestSettledOnceWhatever(t *testing.T) {
	throttled := &tollgate.Error{Kind: tollgate.RateLimited, Code: "rate_limit_exceeded", Message: "Bedrock: Too many requests"}
	tests := []struct {
		name        string
		budgetUSD   string
		fail        error
		call        bool
		wantSettled bool
		wantReject  []string
	}{
		{"call failed", "100", throttled, true, true, nil},
		{"front end failed before the call", "100", nil, false, true, nil},
		{"refused", "0.000001", nil, true, false, []string{"budget_exceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeBedrock{fail: tt.fail}
			g, caller, rec := cappedGate(t, f, tt.budgetUSD)
			ctx := context.Background()
			x := g.Open(caller, "chat.completions")
			if _, err := x.Route(ctx, sonnet, true); err != nil {
				t.Fatal(err)
			}
			_, err := x.Admit(ctx, gate.Demand{InputBytes: 100, MaxOutput: 1000})
			if err == nil && tt.call {
				_, err = x.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet)})
			}
			x.Finish(ctx, 429)
			x.Finish(ctx, 500) // a second Finish records nothing
			s, settled := x.Settlement()
			if settled != tt.wantSettled || s.CostMicros != 0 {
				t.Errorf("settled %v at %d micro-USD, want settled %v at 0", settled, s.CostMicros, tt.wantSettled)
			}
			if len(rec.events) != 1 || rec.events[0].Status != 429 || !rec.events[0].Stream || rec.events[0].ResolvedModel != sonnet {
				t.Errorf("events %+v: want one, with status 429, stream, the resolved model", rec.events)
			}
			if diff := cmp.Diff(tt.wantReject, rec.rejected); diff != "" {
				t.Errorf("rejections (-want +got)\n%s", diff)
			}
		})
	}
}

// TestOutOfOrder: a call before admission is refused, not made unguarded.
func TestOutOfOrder(t *testing.T) {
	f := &fakeBedrock{}
	g, caller, _ := cappedGate(t, f, "100")
	x := g.Open(caller, "chat.completions")
	_, err := x.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet)})
	var te *tollgate.Error
	if !errors.As(err, &te) || te.Kind != tollgate.Internal || len(f.sent) != 0 {
		t.Errorf("Converse before Admit: %v, %d calls; want an Internal error and no call", err, len(f.sent))
	}
}

// TestRateLimitRefusal: a request over its key's rate limit is refused at
// Admit, before Bedrock, counted as a rejection, and the exchange tells the
// front end what the limit allows (for its headers).
func TestRateLimitRefusal(t *testing.T) {
	f := &fakeBedrock{}
	g, caller, rec := cappedGate(t, f, "100\n    requests_per_minute: 1")
	ctx := context.Background()
	for i, want := range []string{"", "rate_limit_exceeded"} {
		caller.RequestID = fmt.Sprint("req-", i)
		x := g.Open(caller, "chat.completions")
		if _, err := x.Route(ctx, sonnet, false); err != nil {
			t.Fatal(err)
		}
		_, err := x.Admit(ctx, gate.Demand{InputBytes: 100, MaxOutput: 10})
		if err == nil {
			_, err = x.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet)})
		}
		code := ""
		if err != nil {
			code = tollgate.AsError(err).Code
		}
		x.Finish(ctx, 200)
		rs := x.RateLimits()
		if code != want || rs.Requests == nil || rs.Requests.Limit != 1 || rs.Requests.Remaining != 0 {
			t.Fatalf("request %d: error %q, status %+v; want %q and 0 of 1 remaining", i, code, rs.Requests, want)
		}
	}
	if len(f.sent) != 1 || !cmp.Equal(rec.rejected, []string{"rate_limit_exceeded"}) {
		t.Fatalf("%d calls, rejections %v; want 1 call and one rate_limit_exceeded", len(f.sent), rec.rejected)
	}
}

// TestConcurrencySlots: an exchange takes its place among the calls in
// flight at admission, not before, and gives it back at Finish, whether
// it was admitted or refused; a refusal by the budget holds none.
func TestConcurrencySlots(t *testing.T) {
	p, err := policy.Parse(map[string][]byte{"policy.yaml": fmt.Appendf(nil, `
keys:
  - id: k
    sha256: %q
  - id: broke
    sha256: %q
    monthly_budget_usd: 0
pricing:
  anthropic.claude-sonnet-4-5-20250929-v1:0: {input: 1, output: 10}
`, policy.HashSecret("sk-k-0123456789"), policy.HashSecret("sk-broke-0123456789"))})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := p.KeyByID("k")
	broke, _ := p.KeyByID("broke")
	g := gate.New(gate.Config{Bedrock: &fakeBedrock{}, Catalog: noCatalog{}, Budget: budget.New(memory.New(), budget.Options{}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxConcurrent: 2})
	ctx := context.Background()
	admit := func(key *policy.Key, images int) (*gate.Exchange, error) {
		x := g.Open(gate.Caller{Policy: p, Key: key, RequestID: fmt.Sprint("req-", time.Now().UnixNano())}, "chat.completions")
		if _, err := x.Route(ctx, sonnet, false); err != nil {
			t.Fatal(err)
		}
		_, err := x.Admit(ctx, gate.Demand{InputBytes: 10, MaxOutput: 10, Images: images})
		return x, err
	}
	code := func(err error) string {
		if err == nil {
			return ""
		}
		return tollgate.AsError(err).Code
	}
	// Opened and routed exchanges hold nothing.
	for range 10 {
		x := g.Open(gate.Caller{Policy: p, Key: k, RequestID: "idle"}, "chat.completions")
		if _, err := x.Route(ctx, sonnet, false); err != nil {
			t.Fatal(err)
		}
	}
	x1, err1 := admit(k, 0)
	xb, errb := admit(broke, 0) // refused by its budget: gives its place back at once
	x2, err2 := admit(k, 0)
	x3, err3 := admit(k, 0)
	_, err4 := admit(k, gate.MaxImages+1)
	got := []string{code(err1), code(errb), code(err2), code(err3), code(err4)}
	want := []string{"", "budget_exceeded", "", "too_many_concurrent_requests", "too_many_images"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("admissions (-want +got)\n%s", diff)
	}
	xb.Finish(ctx, 429)
	x3.Finish(ctx, 429)
	x1.Finish(ctx, 200)
	if _, err := admit(k, 0); err != nil {
		t.Errorf("after a Finish: %v", err)
	}
	x2.Finish(ctx, 200)
}
