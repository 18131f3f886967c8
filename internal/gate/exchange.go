package gate

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/metering"
	"github.com/tollgate-gw/tollgate/internal/modelid"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// Usage is what a call consumed, in tokens (the budget's own type).
type Usage = budget.Usage

// Settlement is the outcome of settling a call (the budget's own type).
type Settlement = budget.Settlement

// Exchange is one model request on its way from route to metering event.
// Its methods are called in order by one goroutine: Route, Admit, one call,
// Finish; a step out of order is an Internal error.
type Exchange struct {
	g        *Gate
	caller   Caller
	endpoint string
	done     func() // the in-flight gauge's release
	release  func() // the place among the calls in flight, from Admit; nil before

	model  string // as requested
	stream bool
	route  *policy.Route
	// fallbacks are the models still to try, in order, when the route's
	// cannot answer; tried the models called so far (nil when the model
	// has no fallbacks: fallback.go).
	fallbacks []string
	tried     []string
	ticket    *budget.Ticket
	demand    budget.Request    // what Admit reserved for, to estimate an unreported usage alike
	rate      budget.RateStatus // the rate limits after Admit's decision
	// rateRefused: a rate limit of the policy refused the request (its
	// code, rate_limit_exceeded, is also Bedrock's throttling's);
	// rateScope and rateLimit say which ("key" or "team"; "requests",
	// "tokens" or "concurrent").
	rateRefused          bool
	rateScope, rateLimit string

	mu              sync.Mutex // settlement and notes may come from a call's goroutines
	settlement      Settlement
	settled         bool
	ttft            time.Duration
	upstreamCode    string
	upstreamRequest string
	errCode         string
	finished        bool
}

// Route resolves the requested model for the caller's key: aliases, the
// allow and deny lists (403 model_not_allowed), prices. stream tells
// whether the client asked for a stream (the metering event says so).
func (x *Exchange) Route(ctx context.Context, model string, stream bool) (policy.Route, error) {
	x.model, x.stream = model, stream
	r, err := x.caller.Policy.RouteVia(x.caller.Key, model, x.g.baseModel(ctx))
	if err != nil {
		return r, x.note(err)
	}
	x.route = &r
	x.chain()
	return r, nil
}

// Model returns the model as requested, "" before Route.
func (x *Exchange) Model() string { return x.model }

// FamilyModel returns the foundation model id of the routed model, for
// front ends whose request shape depends on the model family (embeddings):
// the model behind an application inference profile, as Bedrock's catalog
// lists it. "" before Route.
func (x *Exchange) FamilyModel(ctx context.Context) string {
	if x.route == nil {
		return ""
	}
	if base, ok := x.g.baseModel(ctx)(x.route.ModelID); ok {
		return base
	}
	return x.route.ModelID
}

// Demand is what a call may consume at worst, for its reservation: plain
// numbers a front end reads off its request (see [budget.Request]).
type Demand struct {
	InputBytes int             // an upper bound of the bytes of text the model reads
	Images     int             // images the model reads
	Texts      func() []string // the texts, for a precise count near a cap and for estimates
	// DocumentTokens bounds the text of the binary documents (PDF, Word,
	// Excel), which neither InputBytes nor Texts hold.
	DocumentTokens int
	// Blocks counts the messages, system blocks, content blocks and tools
	// (each framed by a few tokens); 0 for a request that is no
	// conversation (embeddings).
	Blocks int
	// Tools: the Bedrock request offers tools, so the model reads its
	// family's tool-use system prompt.
	Tools bool
	// CacheWrite: the Bedrock request carries cache points, so its input
	// may be billed at the cache-write price.
	CacheWrite bool
	// MaxOutput is the output cap the request asks for, its thinking
	// budget included; 0 when it sets none.
	MaxOutput int
	// ThinkingBudget is the part of MaxOutput extended thinking may use; 0
	// when thinking is off.
	ThinkingBudget int
}

// Grant is what an admitted call may do.
type Grant struct {
	// MaxOutput is the output cap to send Bedrock: the request's, or what
	// a budget lowered it to, or the budget's default for a capped key that
	// set none; 0 to send none. The front end sends exactly this.
	MaxOutput int
	Clamped   bool // MaxOutput was lowered to fit a budget
}

// MaxImages is the most images Bedrock takes in one request.
const MaxImages = 20

// Admit reserves d's worst-case cost on the caller's budgets (429
// insufficient_quota when it does not fit), deciding the output cap once.
// More than MaxImages images are a 400 too_many_images, before anything
// else. A front end fetches nothing on the client's behalf (image URLs)
// before its call is admitted. An admitted exchange is settled by its
// call; one that never calls is settled at nothing by Finish.
func (x *Exchange) Admit(ctx context.Context, d Demand) (Grant, error) {
	if x.route == nil || x.ticket != nil {
		return Grant{}, x.outOfOrder("Admit")
	}
	if d.Images > MaxImages {
		return Grant{}, x.note(TooManyImages(d.Images))
	}
	if err := x.current(ctx); err != nil {
		return Grant{}, x.note(err)
	}
	// The place among the calls in flight is taken only now, with the
	// request whole: a body still arriving holds none (issue 13).
	release, err := x.g.acquire()
	if err != nil {
		return Grant{}, x.note(err)
	}
	r := budget.Request{
		ID: x.caller.RequestID, Policy: x.caller.Policy, Key: x.caller.Key, Route: *x.route,
		InputBytes: d.InputBytes, Images: d.Images, Texts: d.Texts, DocumentTokens: d.DocumentTokens,
		Blocks: d.Blocks, Tools: d.Tools, CacheWrite: d.CacheWrite, MaxOutput: d.MaxOutput,
	}
	t, err := x.g.c.Budget.Admit(ctx, r)
	if err != nil {
		release()
		var rl *budget.RateLimited
		if errors.As(err, &rl) {
			x.rate, x.rateRefused = rl.Status, true
			x.rateScope, x.rateLimit = string(rl.Scope.Kind), rl.Dimension
		}
		return Grant{}, x.note(err)
	}
	x.ticket, x.demand, x.rate, x.release = t, r, t.Rate, release
	return Grant{MaxOutput: t.MaxOutput, Clamped: t.Clamped}, nil
}

// RateLimits returns what the caller's rate limits allow after Admit's
// decision, admitted or refused by a rate limit, for the front end's
// headers (each protocol names them its own way); the zero RateStatus
// before Admit, after another refusal, or for a key without rate limits.
func (x *Exchange) RateLimits() budget.RateStatus { return x.rate }

// TooManyImages is the 400 of a request with n images, more than
// MaxImages.
func TooManyImages(n int) error {
	return tollgate.Errorf(tollgate.Invalid, "too_many_images", "",
		"The request has %d images; Bedrock takes at most %d images in one request. Send at most %d.", n, MaxImages, MaxImages)
}

// current re-checks the caller against the policy in force, at admission:
// the policy the caller authenticated with, when the request's headers were
// read, may since have disabled or removed its key, or changed its caps or
// models, while the body arrived or images were fetched (issue 13: requests
// opened before a key was disabled still reached Bedrock). The exchange goes
// on under the current policy, key and route. A route that now makes another
// Bedrock call (model, guardrail, prompt caching) than the one the front end
// built is refused with a retryable 503: the request must be built again.
func (x *Exchange) current(ctx context.Context) error {
	h := x.g.c.Policies
	if h == nil {
		return nil
	}
	cur := h.Load()
	if cur == x.caller.Policy {
		return nil
	}
	k, err := cur.Reauthenticate(x.caller.Key, x.g.c.Now())
	if err != nil {
		return err
	}
	r, err := cur.RouteVia(k, x.model, x.g.baseModel(ctx))
	if err != nil {
		return err
	}
	if !sameCall(*x.route, r) {
		return &tollgate.Error{Kind: tollgate.Unavailable, Code: "policy_changed", RetryAfter: time.Second,
			Message: "The gateway's policy changed how this model is called while your request was read. Send the request again."}
	}
	x.caller.Policy, x.caller.Key, x.route = cur, k, &r
	x.chain()
	return nil
}

// sameCall reports whether two routes of one request make the same Bedrock
// call: the same model id, guardrail and prompt-caching default.
func sameCall(a, b policy.Route) bool {
	return a.ModelID == b.ModelID && sameGuards(a, b)
}

// sameGuards reports whether two routes send the same guardrail and
// prompt-caching default.
func sameGuards(a, b policy.Route) bool {
	return a.PromptCache == b.PromptCache &&
		(a.Guardrail == b.Guardrail || (a.Guardrail != nil && b.Guardrail != nil && *a.Guardrail == *b.Guardrail))
}

// Exhausted refuses, with the 429 budget_exceeded Admit would give, a caller
// with nothing left under one of its caps, found from the usage store alone:
// front ends call it before costly work on a large body (parsing, fetching
// images, counting tokens), which a key with nothing left must not make the
// gateway do. It costs a store read; nil when there is room or the store
// cannot be read (Admit then decides).
func (x *Exchange) Exhausted(ctx context.Context) error {
	return x.note(x.g.c.Budget.Exhausted(ctx, x.caller.Policy, x.caller.Key))
}

// callContext is the context of a Bedrock call: Bedrock bills a generation
// whether or not the client waits for it, so the call completes, and is
// settled, even when the client goes away.
func (x *Exchange) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), x.g.c.UpstreamTimeout)
}

// settle records what the call cost, once.
func (x *Exchange) settle(ctx context.Context, u Usage) {
	s, err := x.ticket.Settle(ctx, u)
	x.mu.Lock()
	x.settlement, x.settled = s, true
	x.mu.Unlock()
	if err != nil {
		// A store that is only slow or down defers the settlement (nil
		// error, retried in the background); this is a refusal, or a store
		// down after shutdown began.
		x.g.c.Logger.Error("settlement failed: a reserved request will be charged its reserved amount when its lease ends",
			"request_id", x.caller.RequestID, "key_id", x.ticket.KeyID, "cost_micros", s.CostMicros, "error", err.Error())
	}
}

// Settlement returns the call's settlement, and false before it is settled.
func (x *Exchange) Settlement() (Settlement, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.settlement, x.settled
}

// failedUsage is what a call that failed before any output is billed
// (cctx is the call's context). Bedrock bills no call it failed, so
// nothing, unless the gate gave up on the call at the upstream timeout:
// Bedrock may still be generating, and bills that, so it is settled at the
// estimate of its input and its whole output cap, marked estimated (issue
// 13: such calls were settled at 0).
func (x *Exchange) failedUsage(cctx context.Context) Usage {
	if !errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return Usage{}
	}
	u := x.estimate(0)
	u.Output = int64(max(x.ticket.MaxOutput, x.demand.MaxOutput))
	if u.Output <= 0 {
		u.Output = budget.DefaultMaxOutput
	}
	return u
}

// estimate is the usage of a call that ended before Bedrock reported it:
// its input counted as Admit counts it near a cap.
func (x *Exchange) estimate(outputBytes int) Usage {
	return x.g.c.Budget.Estimate(x.demand, outputBytes)
}

// note remembers what the metering event and the request log say of err,
// and returns it as a *tollgate.Error.
func (x *Exchange) note(err error) error {
	if err == nil {
		return nil
	}
	e := tollgate.AsError(err)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.errCode == "" {
		x.errCode = e.Code
	}
	if code := upstream.ErrorCode(e); code != "" {
		x.upstreamCode, x.upstreamRequest = code, upstream.RequestID(e)
	}
	return e
}

// UpstreamError returns Bedrock's error code and request id of the call's
// failure, "" when Bedrock did not fail.
func (x *Exchange) UpstreamError() (code, requestID string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.upstreamCode, x.upstreamRequest
}

// Stream reports whether the client asked for a stream.
func (x *Exchange) Stream() bool { return x.stream }

func (x *Exchange) outOfOrder(step string) error {
	return x.note(&tollgate.Error{Kind: tollgate.Internal, Message: "The server had an error while processing your request.",
		Cause: errors.New("gate: " + step + " out of order")})
}

// refusals are the error codes counted as budget or policy rejections.
var refusals = map[string]bool{
	"budget_exceeded":          true,
	"model_not_allowed":        true,
	"model_not_priced":         true,
	"budget_store_unavailable": true,
}

// Finish ends the exchange with the status the client was sent and records
// its one metering event. An admitted call that was never made is settled
// at nothing; an admitted exchange gives back its place among the calls in
// flight. Only the first call counts.
func (x *Exchange) Finish(ctx context.Context, status int) {
	if x.finished {
		return
	}
	x.finished = true
	if x.ticket != nil {
		if _, settled := x.Settlement(); !settled {
			x.settle(ctx, Usage{}) // the front end failed before the call: nothing to bill
		}
	}
	if x.release != nil {
		x.release()
	}
	m := x.g.c.Meter
	if m == nil {
		return
	}
	defer x.done()
	ev := x.Event(status)
	if refusals[x.errCode] || x.rateRefused {
		m.Rejected(ev.KeyID, x.errCode)
	}
	if rm, ok := m.(RateLimitMeter); ok && x.rateRefused {
		rm.RateLimited(ev.KeyID, x.rateScope, x.rateLimit)
	}
	m.Record(ev)
}

// Event returns the metering event of the exchange so far, with the status
// sent to the client.
func (x *Exchange) Event(status int) metering.Event {
	k, pol := x.caller.Key, x.caller.Policy
	ev := metering.Event{
		RequestID:     x.caller.RequestID,
		Time:          x.g.c.Now(),
		KeyID:         k.ID,
		Team:          pol.Caps(k).TeamID,
		Model:         x.model,
		Endpoint:      x.endpoint,
		Stream:        x.stream,
		Status:        status,
		Latency:       time.Since(x.caller.Start),
		PolicyVersion: pol.Version,
	}
	if x.route != nil {
		ev.ResolvedModel = x.route.ModelID
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	ev.UpstreamError = x.upstreamCode
	ev.TimeToFirstToken = x.ttft
	if x.settled {
		s := x.settlement
		ev.InputTokens, ev.OutputTokens = s.Usage.Input, s.Usage.Output
		ev.CacheReadTokens, ev.CacheWriteTokens = s.Usage.CacheRead, s.Usage.CacheWrite
		ev.CostMicros, ev.Estimated = s.CostMicros, s.Usage.Estimated
	}
	return ev
}

// BaseModel reads an application inference profile, whose ARN names no
// model, as the foundation model Bedrock's catalog lists behind it. Only
// such ARNs wait for the catalog (on its first fetch); other ids are the
// policy's business alone.
func BaseModel(ctx context.Context, c Catalog) policy.BaseModel {
	return func(id string) (string, bool) {
		if !modelid.IsApplicationProfile(id) {
			return "", false
		}
		m, ok, err := c.Lookup(ctx, id)
		if err != nil || !ok || m.Base == "" {
			return "", false
		}
		return m.Base, true
	}
}
