package budget_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/budget"
)

const ratePolicy = `
keys:
  - id: rpm
    sha256: "#rpm"
    requests_per_minute: 60
  - id: tpm
    sha256: "#tpm"
    tokens_per_minute: 1500
  - id: conc
    sha256: "#conc"
    max_concurrent_requests: 2
  - id: broke
    sha256: "#broke"
    requests_per_minute: 1
    monthly_budget_usd: 0
  - id: m1
    sha256: "#m1"
    team: lab
    requests_per_minute: 100
  - id: m2
    sha256: "#m2"
    team: lab
teams:
  - id: lab
    requests_per_minute: 3
`

// rateRefusal returns the rate-limit cause of err, failing unless err is a
// 429 rate_limit_exceeded.
func rateRefusal(t *testing.T, err error) *budget.RateLimited {
	t.Helper()
	e := asError(t, err)
	var rl *budget.RateLimited
	if e.Kind != tollgate.RateLimited || e.Code != "rate_limit_exceeded" || !errors.As(err, &rl) {
		t.Fatalf("error %v (kind %d, code %q), want a 429 rate_limit_exceeded", err, e.Kind, e.Code)
	}
	return rl
}

// 300 concurrent requests of a key allowed 60 a minute: exactly 60 pass.
func TestRateLimitExactUnderConcurrency(t *testing.T) {
	f := newFixture(t, ratePolicy, budget.Options{})
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for range 300 {
		wg.Go(func() {
			r := f.req(t, "rpm")
			r.Blocks, r.MaxOutput = 1, 10
			tk, err := f.guard.Admit(context.Background(), r)
			if err != nil {
				if rl := rateRefusal(t, err); rl.Dimension != "requests" {
					t.Errorf("refused by %s, want requests", rl.Dimension)
				}
				refused.Add(1)
				return
			}
			admitted.Add(1)
			tk.Settle(context.Background(), budget.Usage{Input: 5, Output: 5})
		})
	}
	wg.Wait()
	if admitted.Load() != 60 || refused.Load() != 240 {
		t.Fatalf("admitted %d, refused %d; want exactly 60 and 240", admitted.Load(), refused.Load())
	}
	// The window slides: 60 s later the key may send again.
	f.clock.Set(midNovember.Add(time.Minute))
	f.hold(t, "rpm")
}

func TestRateLimitHeadersAndWindowEdge(t *testing.T) {
	f := newFixture(t, ratePolicy, budget.Options{})
	first := f.hold(t, "m1")
	want := budget.RateStatus{Requests: &budget.RateDimension{Limit: 3, Remaining: 2, Reset: time.Minute}}
	if d := cmp.Diff(want, first.Rate); d != "" {
		t.Fatalf("status after the first request (-want +got):\n%s", d)
	}
	f.clock.Set(midNovember.Add(20 * time.Second))
	f.hold(t, "m2") // the team's window is shared by its keys
	f.clock.Set(midNovember.Add(40 * time.Second))
	third := f.hold(t, "m1")
	want = budget.RateStatus{Requests: &budget.RateDimension{Limit: 3, Remaining: 0, Reset: 20 * time.Second}}
	if d := cmp.Diff(want, third.Rate); d != "" {
		t.Fatalf("status after the third request (-want +got):\n%s", d)
	}
	_, err := f.guard.Admit(context.Background(), f.req(t, "m2"))
	rl := rateRefusal(t, err)
	e := asError(t, err)
	if rl.Scope != teamScope("lab") || e.RetryAfter != 20*time.Second {
		t.Fatalf("refused by %v, retry after %v; want the team lab, 20s", rl.Scope, e.RetryAfter)
	}
	wantMsg := `Rate limit reached for requests: your team "lab" allows 3 requests per minute, and 3 were made in the last 60 seconds. Try again in 20s.`
	if e.Message != wantMsg {
		t.Fatalf("message %q, want %q", e.Message, wantMsg)
	}
	// A millisecond before the first request leaves the window: refused;
	// at 60 s: admitted.
	f.clock.Set(midNovember.Add(time.Minute - time.Millisecond))
	_, err = f.guard.Admit(context.Background(), f.req(t, "m1"))
	rateRefusal(t, err)
	f.clock.Set(midNovember.Add(time.Minute))
	f.hold(t, "m1")
}

// Tokens are reserved from the worst case at admission and corrected to
// what Bedrock counted at settlement.
func TestRateLimitTokensCorrectedAtSettlement(t *testing.T) {
	f := newFixture(t, ratePolicy, budget.Options{})
	r := f.req(t, "tpm")
	r.Blocks = 1 // no max_tokens: a tokens limit imposes the default cap
	_, err := f.guard.Admit(context.Background(), r)
	if rl := rateRefusal(t, err); rl.Dimension != "tokens" {
		t.Fatalf("refused by %s, want tokens", rl.Dimension)
	}
	if msg := asError(t, err).Message; msg != "This request may use up to 4120 tokens (its input and its output cap), more than the 1500 tokens per minute your API key allows: lower max_tokens (or max_completion_tokens) or shorten the prompt." {
		t.Fatalf("message %q", msg)
	}
	r = f.req(t, "tpm")
	r.Blocks, r.MaxOutput = 1, 1000 // 24 input + 1000 output
	tk, err := f.guard.Admit(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if got := *tk.Rate.Tokens; got.Remaining != 1500-1024 {
		t.Fatalf("tokens remaining %d, want %d", got.Remaining, 1500-1024)
	}
	r.ID = "second"
	_, err = f.guard.Admit(context.Background(), r)
	if rl := rateRefusal(t, err); rl.Dimension != "tokens" || rl.Status.Tokens.Remaining != 476 {
		t.Fatalf("second request: refused by %s with %+v, want tokens with 476 remaining", rl.Dimension, rl.Status.Tokens)
	}
	if _, err := tk.Settle(context.Background(), budget.Usage{Input: 20, Output: 30}); err != nil {
		t.Fatal(err)
	}
	r.ID = "third"
	tk, err = f.guard.Admit(context.Background(), r)
	if err != nil {
		t.Fatalf("after the first settled at 50 tokens: %v", err)
	}
	if got := tk.Rate.Tokens.Remaining; got != 1500-50-1024 {
		t.Fatalf("tokens remaining %d, want %d", got, 1500-50-1024)
	}
}

func TestRateLimitConcurrent(t *testing.T) {
	f := newFixture(t, ratePolicy, budget.Options{})
	a := f.hold(t, "conc")
	f.hold(t, "conc")
	_, err := f.guard.Admit(context.Background(), f.req(t, "conc"))
	if rl := rateRefusal(t, err); rl.Dimension != "concurrent" {
		t.Fatalf("refused by %s, want concurrent", rl.Dimension)
	}
	a.Settle(context.Background(), budget.Usage{})
	f.hold(t, "conc")
}

// A request the budget refuses does not count against the rate limits.
func TestRateLimitBudgetRefusalNotCounted(t *testing.T) {
	f := newFixture(t, ratePolicy, budget.Options{})
	_, err := f.guard.Admit(context.Background(), f.req(t, "broke"))
	if e := asError(t, err); e.Code != "budget_exceeded" {
		t.Fatalf("error %v, want budget_exceeded", err)
	}
	_, err = f.guard.Admit(context.Background(), f.req(t, "broke"))
	if e := asError(t, err); e.Code != "budget_exceeded" {
		t.Fatalf("second request: %v, want budget_exceeded (the first must not count against 1 request per minute)", err)
	}
}

// Keys without rate limits touch no window.
func TestNoRateLimitNoStatus(t *testing.T) {
	f := newFixture(t, uncappedPolicy, budget.Options{})
	if tk := f.hold(t, "solo"); tk.Rate != (budget.RateStatus{}) {
		t.Fatalf("status %+v of a key without rate limits, want none", tk.Rate)
	}
}
