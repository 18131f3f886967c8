package budget

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/tokens"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// RateStatus is what a key's rate limits allow right after its request was
// admitted (counting it) or refused (not counting it), protocol-neutral:
// each front end renders it in its protocol's headers (OpenAI's
// x-ratelimit-*, Anthropic's anthropic-ratelimit-*). A nil dimension has no
// limit. When both the key and its team limit a dimension, the one with
// the least remaining is shown.
type RateStatus struct {
	Requests *RateDimension
	Tokens   *RateDimension
}

// RateDimension is one rate limit's state: Limit per minute, what Remains
// of it in the sliding window, and Reset, how long until the oldest
// admission in the window leaves it (0 for an empty window).
type RateDimension struct {
	Limit, Remaining int64
	Reset            time.Duration
}

// RateLimited is the cause of a 429 rate_limit_exceeded (a *tollgate.Error
// of kind RateLimited): which limit refused, for a front end whose
// protocol names it (OpenAI's error.type "requests" or "tokens"), and the
// status to show in the headers.
type RateLimited struct {
	Dimension string // "requests", "tokens" or "concurrent"
	Scope     usage.Scope
	Status    RateStatus
}

// Error implements error.
func (e *RateLimited) Error() string {
	return fmt.Sprintf("budget: %s rate limit of %s reached", e.Dimension, e.Scope)
}

// rateLimits are the windows a request of k is limited by: its key's and
// its team's, each only when it sets a limit.
func rateLimits(k *policy.Key, rates policy.Rates) []usage.RateLimit {
	var out []usage.RateLimit
	for _, s := range []struct {
		scope usage.Scope
		r     policy.RateLimits
	}{{usage.Scope{Kind: usage.KindKey, ID: k.ID}, rates.Key}, {usage.Scope{Kind: usage.KindTeam, ID: rates.TeamID}, rates.Team}} {
		if !s.r.Limited() || s.scope.ID == "" {
			continue
		}
		out = append(out, usage.RateLimit{Scope: s.scope, Requests: deref(s.r.RequestsPerMinute),
			Tokens: deref(s.r.TokensPerMinute), Concurrent: deref(s.r.MaxConcurrentRequests)})
	}
	return out
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// tokensLimited reports whether a limit counts tokens.
func tokensLimited(limits []usage.RateLimit) bool {
	for _, l := range limits {
		if l.Tokens > 0 {
			return true
		}
	}
	return false
}

// rateTokens is what a request holds in the tokens window at admission:
// its input (as bounded for the budget) and its output cap. A request that
// is no conversation (embeddings) has no output.
func rateTokens(r *Request, input int64, maxOutput int) int64 {
	if r.Blocks == 0 && r.MaxOutput == 0 {
		return input
	}
	return input + int64(maxOutput)
}

// acquireRate admits r under its rate limits (nothing to do for a key
// without any), holding its worst-case tokens; near a tokens limit it
// counts the input precisely before refusing. On success the ticket
// releases the admission when it is settled, or cancels it when the budget
// refuses the request.
func (g *Guard) acquireRate(ctx context.Context, r *Request, t *Ticket, now time.Time) error {
	limits := rateLimits(r.Key, r.Policy.Rates(r.Key))
	if len(limits) == 0 {
		return nil
	}
	if tokensLimited(limits) && t.MaxOutput <= 0 && r.Blocks > 0 {
		t.MaxOutput = g.opts.MaxOutput // a tokens limit needs an output cap, as a budget does
	}
	fixed := fixedInput(r)
	input := int64(tokens.Bound(r.InputBytes)) + fixed
	a := &usage.Admission{ID: r.ID, Limits: limits, Tokens: rateTokens(r, input, t.MaxOutput), Now: now, Expires: now.Add(g.opts.Lease)}
	states, err := g.limiter.Acquire(ctx, a)
	var rl *usage.RateLimitedError
	if errors.As(err, &rl) && rl.Dimension == "tokens" && r.Texts != nil {
		// The byte bound is about four times the real count: count
		// before refusing.
		if precise := int64(g.counter.Count(r.Texts()...)) + fixed; precise < input {
			a.Tokens = rateTokens(r, precise, t.MaxOutput)
			states, err = g.limiter.Acquire(ctx, a)
		}
	}
	switch {
	case err == nil:
	case errors.As(err, &rl):
		return g.rateRefusal(rl, a.Tokens, now)
	case errors.Is(err, usage.ErrUnavailable) && g.opts.FailOpen:
		return nil
	case errors.Is(err, usage.ErrUnavailable):
		return &tollgate.Error{Kind: tollgate.Unavailable, Code: "rate_limit_store_unavailable", RetryAfter: 5 * time.Second,
			Message: "The gateway cannot check your rate limits right now, so it refuses rate-limited requests until it can. Try again shortly.", Cause: err}
	default:
		return &tollgate.Error{Kind: tollgate.Internal, Message: "The gateway could not check your rate limits.", Cause: err}
	}
	t.Rate = rateStatus(states)
	t.rate = &usage.RateRelease{ID: r.ID, Scopes: make([]usage.Scope, len(limits))}
	for i, l := range limits {
		t.rate.Scopes[i] = l.Scope
	}
	return nil
}

// releaseRate ends the ticket's rate admission: its tokens become what the
// request used (u), its concurrency slot frees; cancel removes it. A store
// that fails here leaves the worst case counted until the window moves on,
// and the slot taken until the lease ends: an over-count, never an
// under-count.
func (t *Ticket) releaseRate(ctx context.Context, u Usage, cancel bool) {
	if t.rate == nil {
		return
	}
	r := *t.rate
	r.Tokens, r.Cancel, r.Now = u.Input+u.Output+u.CacheRead+u.CacheWrite, cancel, t.g.opts.Now()
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), t.g.opts.SettleWait)
	defer stop()
	_ = t.g.limiter.Release(ctx, &r)
}

// rateStatus is what the states of a request's scopes show: per dimension,
// the scope with the least remaining.
func rateStatus(states []usage.RateState) RateStatus {
	var s RateStatus
	for _, st := range states {
		if l := st.Limit.Requests; l > 0 {
			d := &RateDimension{Limit: l, Remaining: max(0, l-st.Requests), Reset: st.RequestsReset}
			if s.Requests == nil || d.Remaining < s.Requests.Remaining {
				s.Requests = d
			}
		}
		if l := st.Limit.Tokens; l > 0 {
			d := &RateDimension{Limit: l, Remaining: max(0, l-st.Tokens), Reset: st.TokensReset}
			if s.Tokens == nil || d.Remaining < s.Tokens.Remaining {
				s.Tokens = d
			}
		}
	}
	return s
}

// rateRefusal explains a rate-limit refusal: which limit, of the key or its
// team, and when to try again.
func (g *Guard) rateRefusal(e *usage.RateLimitedError, need int64, now time.Time) error {
	whose := "your API key"
	if e.Scope.Kind == usage.KindTeam {
		whose = fmt.Sprintf("your team %q", e.Scope.ID)
	}
	wait := fmt.Sprintf(" Try again in %s.", roundUp(e.RetryAfter))
	var msg string
	switch e.Dimension {
	case "requests":
		msg = fmt.Sprintf("Rate limit reached for requests: %s allows %d requests per minute, and %d were made in the last 60 seconds.",
			whose, e.State.Limit.Requests, e.State.Requests)
	case "concurrent":
		msg = fmt.Sprintf("Rate limit reached for concurrent requests: %s allows %d requests at a time, and %d are in progress.",
			whose, e.State.Limit.Concurrent, e.State.InFlight)
		wait = " Try again when one of them has finished."
	default:
		msg = fmt.Sprintf("Rate limit reached for tokens: this request may use up to %d tokens (its input and its output cap), and %s allows %d tokens per minute, of which %d are in use.",
			need, whose, e.State.Limit.Tokens, e.State.Tokens)
		if e.RetryAfter <= 0 {
			msg = fmt.Sprintf("This request may use up to %d tokens (its input and its output cap), more than the %d tokens per minute %s allows: lower max_tokens (or max_completion_tokens) or shorten the prompt.",
				need, e.State.Limit.Tokens, whose)
			wait = ""
		}
	}
	retry := e.RetryAfter
	if e.Dimension == "concurrent" || retry <= 0 && e.Dimension != "tokens" {
		retry = time.Second
	}
	return &tollgate.Error{Kind: tollgate.RateLimited, Code: "rate_limit_exceeded", RetryAfter: retry,
		Message: msg + wait, Cause: &RateLimited{Dimension: e.Dimension, Scope: e.Scope, Status: rateStatus(e.States)}}
}

// roundUp renders d in whole seconds, rounded up, at least 1s.
func roundUp(d time.Duration) time.Duration {
	return time.Duration(max(1, math.Ceil(d.Seconds()))) * time.Second
}
