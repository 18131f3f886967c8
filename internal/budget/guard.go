// Package budget decides whether a request fits the monthly budgets that cap
// its key, its team and the whole gateway, and holds its worst-case cost
// until the actual cost is known.
//
// The guarantee: a request is admitted only once its worst-case cost is
// reserved, atomically, on every capped scope, and settled spend never
// exceeds what was reserved except by the input-token estimation error. So
// concurrency alone never pushes settled spend past a cap; the only possible
// overshoot is the sum of the input-estimation errors of the requests in
// flight. Output tokens cannot overshoot: the request's max tokens are part
// of the reservation and Bedrock stops there.
package budget

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/tokens"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// Defaults for Options.
const (
	DefaultLease     = 15 * time.Minute
	DefaultMaxOutput = 4096
	DefaultMinOutput = 256
	// ImageTokens bounds what one image costs: Bedrock scales images down to
	// about 1.15 megapixels, which Claude bills at about 1,600 tokens.
	ImageTokens = 1600
	// Overhead covers what the model reads besides the texts: message
	// framing and the system prompt Bedrock adds for tool use.
	Overhead = 512
)

// Options tune a Guard. Zero values take the defaults.
type Options struct {
	Now       func() time.Time
	Lease     time.Duration // how long an unsettled reservation holds budget
	MaxOutput int           // max tokens imposed on capped requests that set none
	MinOutput int           // below this many output tokens, refuse rather than clamp
	FailOpen  bool          // admit capped requests when the store is unreachable
	// SettleWait bounds how long Ticket.Settle waits for the store before
	// deferring the settlement to the background (DefaultSettleWait).
	SettleWait time.Duration
	// OnDeferred, if set, is told of each settlement deferred to the
	// background and of how it ended (for logs and metrics). It is called
	// from the settling goroutines and must not block.
	OnDeferred func(Deferred)
}

// Guard admits requests against the budgets of the policy. It is safe for
// concurrent use.
type Guard struct {
	store    usage.Store
	opts     Options
	counter  tokens.Counter
	settling *settling // deferred settlements (ticket.go)
}

// New returns a Guard recording in store.
func New(store usage.Store, opts Options) *Guard {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	if opts.MinOutput <= 0 {
		opts.MinOutput = DefaultMinOutput
	}
	if opts.SettleWait <= 0 {
		opts.SettleWait = DefaultSettleWait
	}
	return &Guard{store: store, opts: opts, settling: newSettling()}
}

// Request is what the guard needs to know of a request about to be sent.
type Request struct {
	ID         string // the gateway's request id: the reservation's id
	Policy     *policy.Policy
	Key        *policy.Key
	Route      policy.Route
	InputBytes int             // an upper bound of the bytes of text the model reads
	Images     int             // images the model reads
	Texts      func() []string // the texts, for a precise count; called only near a cap
	MaxOutput  int             // the request's max output tokens; 0 when it set none
}

// Admit reserves r's worst-case cost on every capped scope and returns the
// ticket to settle once the cost is known. When the tightest remaining
// budget cannot cover the worst case, it first counts the input precisely,
// then lowers the output cap to what remains if at least MinOutput tokens
// fit; otherwise the error is a 429 insufficient_quota. Every admitted
// request must be settled, whatever happens to it.
func (g *Guard) Admit(ctx context.Context, r Request) (*Ticket, error) {
	now := g.opts.Now().UTC()
	caps := r.Policy.Caps(r.Key)
	t := &Ticket{
		g:         g,
		KeyID:     r.Key.ID,
		TeamID:    caps.TeamID,
		Price:     r.Route.Price,
		MaxOutput: r.MaxOutput,
		Period:    Period(now),
	}
	t.res = &usage.Reservation{ID: r.ID, Period: t.Period, Charges: charges(r.Key.ID, caps)}
	if !capped(t.res.Charges) {
		return t, nil // nothing to hold: the settlement records the spend
	}
	if !r.Route.Priced {
		// policy.Route refuses budgeted keys unpriced models; never guess.
		return nil, tollgate.Errorf(tollgate.PermissionDenied, "model_not_priced", "model",
			"The model %q has no price, so a budgeted key cannot use it. Ask your Tollgate administrator to add it to the policy's pricing.", r.Route.Requested)
	}
	if t.MaxOutput <= 0 {
		t.MaxOutput = g.opts.MaxOutput
	}
	t.res.Expires = now.Add(g.opts.Lease)

	input := int64(tokens.Bound(r.InputBytes) + r.Images*ImageTokens + Overhead)
	err := g.reserve(ctx, t, input)
	var exceeded *usage.ExceededError
	if !errors.As(err, &exceeded) {
		return t.admitted(err)
	}
	// Near a cap: the byte bound is about four times the real count, so
	// count precisely before refusing.
	if r.Texts != nil {
		precise := int64(g.counter.Count(r.Texts()...) + r.Images*ImageTokens + Overhead)
		if precise < input {
			input = precise
			if err = g.reserve(ctx, t, input); !errors.As(err, &exceeded) {
				return t.admitted(err)
			}
		}
	}
	// Lower the output cap to what the tightest budget has left.
	left := exceeded.Limit - exceeded.Spent - exceeded.Reserved - t.inputCost(input)
	if out := t.Price.Output; out > 0 && left > 0 {
		fit := left * 1000 / out // micro-USD over nano-USD per token
		if fit >= int64(min(g.opts.MinOutput, t.MaxOutput)) && fit < int64(t.MaxOutput) {
			t.MaxOutput, t.Clamped = int(fit), true
			if err = g.reserve(ctx, t, input); !errors.As(err, &exceeded) {
				return t.admitted(err)
			}
		}
	}
	return nil, g.refusal(exceeded, now)
}

// reserve holds the cost of input tokens and t.MaxOutput output tokens.
// Input is priced at the dearer of plain and cache-write input, since a
// prompt-caching request may write its whole prompt to the cache.
func (g *Guard) reserve(ctx context.Context, t *Ticket, input int64) error {
	t.res.Amount = t.worstPrice().Cost(input, int64(t.MaxOutput), 0, 0)
	return g.store.Reserve(ctx, t.res)
}

// worstPrice prices input at the dearer of plain and cache-write input.
func (t *Ticket) worstPrice() policy.Price {
	return policy.Price{Input: max(t.Price.Input, t.Price.CacheWrite), Output: t.Price.Output}
}

// inputCost is what the reservation holds for input tokens alone.
func (t *Ticket) inputCost(input int64) int64 { return t.worstPrice().Cost(input, 0, 0, 0) }

func (t *Ticket) admitted(err error) (*Ticket, error) {
	switch {
	case err == nil:
		t.reserved = true
		return t, nil
	case errors.Is(err, usage.ErrUnavailable) && t.g.opts.FailOpen:
		return t, nil // settled later if the store comes back; logged by the caller
	case errors.Is(err, usage.ErrUnavailable):
		return nil, &tollgate.Error{Kind: tollgate.Unavailable, Code: "budget_store_unavailable", RetryAfter: 5 * time.Second,
			Message: "The gateway cannot check your budget right now, so it refuses budgeted requests until it can. Try again shortly.", Cause: err}
	default:
		return nil, &tollgate.Error{Kind: tollgate.Internal, Message: "The gateway could not reserve your request's budget.", Cause: err}
	}
}

func (g *Guard) refusal(e *usage.ExceededError, now time.Time) error {
	scope := "Your API key's"
	switch e.Scope.Kind {
	case usage.KindTeam:
		scope = fmt.Sprintf("Your team %q's", e.Scope.ID)
	case usage.KindGlobal:
		scope = "The gateway's total"
	}
	held := ""
	if e.Reserved > 0 {
		held = fmt.Sprintf(" (%s more is held by requests in flight)", USD(e.Reserved))
	}
	return &tollgate.Error{Kind: tollgate.QuotaExceeded, Code: "budget_exceeded",
		Message: fmt.Sprintf("%s monthly budget is exhausted: %s spent of %s in %s%s. It resets on %s.",
			scope, USD(e.Spent), USD(e.Limit), Period(now), held, NextPeriod(now).Format("2006-01-02 15:04 MST"))}
}

// charges are the counters a request of keyID writes: its key's always (the
// record of what each key spent), its team's and the global one only when
// they have a cap. Every request writing the global counter made it one hot
// item for the whole gateway; an uncapped team's or the gateway's spend is
// the sum of its keys' (Status, Overview).
func charges(keyID string, caps policy.Caps) []usage.Charge {
	cs := make([]usage.Charge, 0, 3)
	cs = append(cs, usage.Charge{Scope: usage.Scope{Kind: usage.KindKey, ID: keyID}, Limit: caps.Key})
	if caps.TeamID != "" && caps.Team != usage.Uncapped {
		cs = append(cs, usage.Charge{Scope: usage.Scope{Kind: usage.KindTeam, ID: caps.TeamID}, Limit: caps.Team})
	}
	if caps.Global != usage.Uncapped {
		cs = append(cs, usage.Charge{Scope: usage.Global, Limit: caps.Global})
	}
	return cs
}

func capped(cs []usage.Charge) bool {
	for _, c := range cs {
		if c.Limit != usage.Uncapped {
			return true
		}
	}
	return false
}

// Period returns the budget period of t: its calendar month in UTC, "2026-11".
func Period(t time.Time) string { return t.UTC().Format("2006-01") }

// NextPeriod returns when the period of t ends: the first instant of the
// next calendar month, UTC.
func NextPeriod(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}

// USD formats micro-USD as dollars: "$1.234567" trimmed to cents when exact.
func USD(micros int64) string {
	if micros%10000 == 0 {
		return fmt.Sprintf("$%.2f", float64(micros)/1e6)
	}
	return fmt.Sprintf("$%.6f", float64(micros)/1e6)
}
