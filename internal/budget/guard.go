// Package budget decides whether a request fits the budgets that cap its
// key, its team and the whole gateway, each by the month, the week and the
// day (period.go), and holds its worst-case cost until the actual cost is
// known.
//
// The guarantee: a request is admitted only once its worst-case cost is
// reserved, atomically, on every capped scope and period, and settled spend never
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
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// Defaults for Options.
const (
	DefaultLease     = 15 * time.Minute
	DefaultMaxOutput = 4096
	DefaultMinOutput = 256
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
	// OnAlert, if set, is told of each alert threshold a budget reaches
	// (alert.go): once per scope, threshold and period across every
	// process sharing a store that implements usage.Alerter (once per
	// process otherwise). The check runs after each settlement and on each
	// budget refusal, in a goroutine of its own; OnAlert is called from it
	// and must not block.
	OnAlert func(Alert)
}

// Guard admits requests against the budgets of the policy. It is safe for
// concurrent use.
type Guard struct {
	store    usage.Store
	limiter  usage.Limiter // the store's, or a memory one of this process
	opts     Options
	counter  tokens.Counter
	settling *settling // deferred settlements (ticket.go)
	alerts   *alerter  // nil when Options.OnAlert is unset (alert.go)
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
	g := &Guard{store: store, opts: opts, settling: newSettling()}
	if opts.OnAlert != nil {
		g.alerts = newAlerter(g)
	}
	if l, ok := store.(usage.Limiter); ok {
		g.limiter = l
	} else {
		g.limiter = &memory.Limiter{}
	}
	return g
}

// Request is what the guard needs to know of a request about to be sent.
// Its input is bounded in parts: the texts (InputBytes, or Texts counted
// precisely near a cap), then what no text count measures: images, binary
// documents, framing and the tool-use system prompt.
type Request struct {
	ID         string // the gateway's request id: the reservation's id
	Policy     *policy.Policy
	Key        *policy.Key
	Route      policy.Route
	InputBytes int             // an upper bound of the bytes of the texts the model reads
	Texts      func() []string // the same texts, for a precise count; called only near a cap
	Images     int             // images the model reads, each at most ImageTokens of the model
	// DocumentTokens bounds the text extracted from the binary documents
	// (PDF, Word, Excel), which neither InputBytes nor Texts hold.
	DocumentTokens int
	// Blocks counts the messages, system blocks, content blocks and tools
	// the model reads, each framed by BlockTokens; 0 for a request that is
	// no conversation (embeddings), which gets no framing at all.
	Blocks int
	// Tools: the Converse request has a toolConfig, so the model reads its
	// family's tool-use system prompt (ToolPromptTokens).
	Tools bool
	// CacheWrite: the request carries cache points, so its input may be
	// written to the prompt cache, at the cache-write price.
	CacheWrite bool
	MaxOutput  int // the request's max output tokens; 0 when it set none
}

// Admit reserves r's worst-case cost on every capped scope and returns the
// ticket to settle once the cost is known. When the tightest remaining
// budget cannot cover the worst case, it first counts the input precisely,
// then lowers the output cap to what remains if at least MinOutput tokens
// fit; otherwise the error is a 429 insufficient_quota. Every admitted
// request must be settled, whatever happens to it.
//
// Rate limits are checked first (429 rate_limit_exceeded, rate.go): a
// request they admit holds its worst-case tokens and a concurrency slot,
// given back when the budget then refuses it, corrected and freed when it
// is settled.
func (g *Guard) Admit(ctx context.Context, r Request) (*Ticket, error) {
	now := g.opts.Now().UTC()
	caps := r.Policy.Caps(r.Key)
	t := &Ticket{
		g:          g,
		cacheWrite: r.CacheWrite,
		KeyID:      r.Key.ID,
		TeamID:     caps.TeamID,
		Price:      r.Route.Price,
		MaxOutput:  r.MaxOutput,
		Period:     Period(now),
	}
	t.res = &usage.Reservation{ID: r.ID, Charges: charges(r.Key.ID, caps, now)}
	t.alerts = g.alertScopes(r.Policy, r.Key, t.res.Charges)
	if err := g.acquireRate(ctx, &r, t, now); err != nil {
		return nil, err
	}
	tk, err := g.admitBudget(ctx, r, t, now)
	if err != nil {
		t.releaseRate(ctx, Usage{}, true)
	}
	return tk, err
}

// admitBudget is Admit's budget part, for a ticket the rate limits
// admitted: Admit cancels that admission when it refuses.
func (g *Guard) admitBudget(ctx context.Context, r Request, t *Ticket, now time.Time) (*Ticket, error) {
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
	maxOutput := t.MaxOutput // before any clamp, for the refusal
	t.res.Expires = now.Add(g.opts.Lease)

	worst := worstPrice(&r)
	fixed := fixedInput(&r)
	input := int64(tokens.Bound(r.InputBytes)) + fixed
	err := g.reserve(ctx, t, worst, input)
	var exceeded *usage.ExceededError
	if !errors.As(err, &exceeded) {
		return t.admitted(err)
	}
	// A cap with nothing left refuses before anything is counted:
	// counting is the costly part, and a key with nothing left must not
	// make the gateway work.
	if exceeded.Limit-exceeded.Spent-exceeded.Reserved <= 0 {
		g.alerts.check(alertCheck{scopes: t.alerts, refused: exceeded})
		return nil, g.refusal(exceeded, worst, input, maxOutput, now)
	}
	// Near a cap: the byte bound is about four times the real count, so
	// count precisely before refusing.
	if r.Texts != nil {
		precise := int64(g.counter.Count(r.Texts()...)) + fixed
		if precise < input {
			input = precise
			if err = g.reserve(ctx, t, worst, input); !errors.As(err, &exceeded) {
				return t.admitted(err)
			}
		}
	}
	// Lower the output cap to what the tightest budget has left.
	left := exceeded.Limit - exceeded.Spent - exceeded.Reserved - worst.Cost(input, 0, 0, 0)
	if out := t.Price.Output; out > 0 && left > 0 {
		fit := left * 1000 / out // micro-USD over nano-USD per token
		if fit >= int64(min(g.opts.MinOutput, t.MaxOutput)) && fit < int64(t.MaxOutput) {
			t.MaxOutput, t.Clamped = int(fit), true
			if err = g.reserve(ctx, t, worst, input); !errors.As(err, &exceeded) {
				return t.admitted(err)
			}
		}
	}
	g.alerts.check(alertCheck{scopes: t.alerts, refused: exceeded})
	return nil, g.refusal(exceeded, worst, input, maxOutput, now)
}

// Exhausted returns the refusal Admit would give any request of k under p
// now, found without counting anything: a 429 budget_exceeded when a cap k
// is under (of any period) has nothing left (spent, or held by requests in
// flight).
// It reads the store once, so callers use it before costly work on a large
// request, not on every one. It returns nil when every cap has room, k is
// uncapped, or the store cannot be read (Admit then decides).
func (g *Guard) Exhausted(ctx context.Context, p *policy.Policy, k *policy.Key) error {
	if !p.Caps(k).Capped() {
		return nil
	}
	st, err := g.Status(ctx, p, k)
	if err != nil {
		return nil
	}
	now := g.opts.Now().UTC()
	for _, s := range []struct {
		kind  usage.Kind
		id    string
		scope *ScopeStatus
	}{{usage.KindKey, k.ID, &st.Key}, {usage.KindTeam, k.Team, st.Team}, {usage.KindGlobal, "", st.Global}} {
		if s.scope == nil {
			continue
		}
		for _, ps := range s.scope.Periods {
			if ps.Limit == usage.Uncapped || ps.Remaining() > 0 {
				continue
			}
			// Nothing is left: the refusal names no request's cost.
			e := &usage.ExceededError{Scope: usage.Scope{Kind: s.kind, ID: s.id}, Period: ps.Period,
				Limit: ps.Limit, Spent: ps.Spent, Reserved: ps.Reserved}
			g.alerts.check(alertCheck{scopes: g.alertScopes(p, k, charges(k.ID, p.Caps(k), now)), refused: e})
			return g.refusal(e, policy.Price{}, 0, 0, now)
		}
	}
	return nil
}

// reserve holds the cost of input tokens and t.MaxOutput output tokens at
// the worst-case price.
func (g *Guard) reserve(ctx context.Context, t *Ticket, worst policy.Price, input int64) error {
	t.res.Amount = worst.Cost(input, int64(t.MaxOutput), 0, 0)
	t.input = input
	return g.store.Reserve(ctx, t.res)
}

// worstPrice is the price of r's worst case: a request that carries cache
// points may write its whole prompt to the cache, so its input is priced at
// the dearer of plain and cache-write input; any other request's input is
// billed as plain input (or read from a cache, which costs less).
func worstPrice(r *Request) policy.Price {
	p := r.Route.Price
	in := p.Input
	if r.CacheWrite {
		in = max(in, p.CacheWrite)
	}
	return policy.Price{Input: in, Output: p.Output}
}

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

// refusal explains why a request whose worst case is input tokens and
// maxOutput output tokens at worst did not fit the scope and period of e.
// A budget is called exhausted only when nothing is left of it; otherwise
// the message says what is left, what the request could cost, and what
// would fit. A shared scope (team, gateway) shows only what is left of it,
// rounded down to the cent, never what other keys spent or hold. It names
// the period (daily, weekly, monthly) and when that period resets.
func (g *Guard) refusal(e *usage.ExceededError, worst policy.Price, input int64, maxOutput int, now time.Time) error {
	kind := kindOf(e.Period)
	scope := "your API key's " + string(kind)
	switch e.Scope.Kind {
	case usage.KindTeam:
		scope = fmt.Sprintf("your team %q's %s", e.Scope.ID, kind)
	case usage.KindGlobal:
		scope = "the gateway's total " + string(kind)
	}
	shared := e.Scope.Kind != usage.KindKey
	resets := "It resets on " + PeriodEnd(kind, now).Format("2006-01-02 15:04 MST") + "."
	left := e.Limit - e.Spent - e.Reserved
	var msg string
	switch {
	case left <= 0 && shared:
		msg = fmt.Sprintf("%s budget of %s is exhausted for %s.", capitalize(scope), USD(e.Limit), e.Period)
	case left <= 0:
		held := ""
		if e.Reserved > 0 {
			held = fmt.Sprintf(" (%s more is held by requests in flight)", USD(e.Reserved))
		}
		msg = fmt.Sprintf("%s budget is exhausted: %s spent of %s in %s%s.", capitalize(scope), USD(e.Spent), USD(e.Limit), e.Period, held)
	default:
		shown := left // what the client may know of what is left
		var figures string
		if shared {
			shown = SharedRemaining(e.Limit, e.Spent+e.Reserved)
			roughly := "less than $0.01"
			if shown > 0 {
				roughly = "about " + USD(shown) + ", rounded down to the cent"
			}
			figures = fmt.Sprintf("what is left of %s budget (%s)", scope, roughly)
		} else {
			figures = fmt.Sprintf("the %s left of %s budget (%s spent of %s in %s", USD(left), scope, USD(e.Spent), USD(e.Limit), e.Period)
			if e.Reserved > 0 {
				figures += fmt.Sprintf(", %s held by requests in flight", USD(e.Reserved))
			}
			figures += ")"
		}
		tokens := fmt.Sprintf("%d input and %d output tokens at most", input, maxOutput)
		if worst.Output == 0 { // embeddings: input only
			tokens = fmt.Sprintf("%d input tokens at most", input)
		}
		msg = fmt.Sprintf("This request could cost up to %s (%s), more than %s.",
			USD(worst.Cost(input, int64(maxOutput), 0, 0)), tokens, figures)
		inputCost := worst.Cost(input, 0, 0, 0)
		fit := (shown - inputCost) * 1000 / max(worst.Output, 1)
		switch {
		case shown > 0 && inputCost >= shown:
			msg += fmt.Sprintf(" Its input alone could cost up to %s: shorten the prompt (fewer or shorter messages, images, documents or tools).", USD(inputCost))
		case shown > 0 && worst.Output > 0 && fit > 0:
			msg += fmt.Sprintf(" Set max_tokens (or max_completion_tokens) to %d or less, or shorten the prompt.", fit)
		default:
			msg += " Shorten the prompt or lower max_tokens."
		}
	}
	return &tollgate.Error{Kind: tollgate.QuotaExceeded, Code: "budget_exceeded", Message: msg + " " + resets}
}

// capitalize upper-cases the first letter of an ASCII s.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// SharedRemaining is what a key is shown of a budget it shares with other
// keys: what is left of limit after committed (spent and reserved, in
// micro-USD), rounded down to the cent, never below 0.
func SharedRemaining(limit, committed int64) int64 {
	return max(0, limit-committed) / 10_000 * 10_000
}

func capped(cs []usage.Charge) bool {
	for _, c := range cs {
		if c.Limit != usage.Uncapped {
			return true
		}
	}
	return false
}

// USD formats micro-USD as dollars: "$1.234567" trimmed to cents when exact.
func USD(micros int64) string {
	if micros%10000 == 0 {
		return fmt.Sprintf("$%.2f", float64(micros)/1e6)
	}
	return fmt.Sprintf("$%.6f", float64(micros)/1e6)
}
