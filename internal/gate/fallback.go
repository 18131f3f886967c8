package gate

import (
	"context"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// This file holds the fallback chains of the policy's fallbacks section:
// when the routed model cannot answer (throttled, not ready, unavailable,
// timed out before any output), the call moves to the next model of the
// requested model's list that the key may use and the budget affords. The
// primary comes first, always; each model is called at most once, without
// the SDK's retries; a stream moves on only before it started.

// FallbackMeter is told of each move along a fallback chain
// ([metering.Meter] implements it; a Meter without it counts none).
type FallbackMeter interface {
	Fallback(from, to, reason string)
}

// Fallback reasons, the reason label of the fallback counter.
const (
	ReasonThrottled     = "throttled"
	ReasonModelNotReady = "model_not_ready"
	ReasonUnavailable   = "unavailable"
	ReasonTimeout       = "timeout"
)

// fallbackReason says why a call that failed with err before any output
// may move on to a fallback, or "" when it may not: the request itself is
// at fault, or the gate's own upstream timeout is spent (cctx is the
// call's context).
func fallbackReason(cctx context.Context, err error) string {
	if err == nil || cctx.Err() != nil {
		return ""
	}
	switch strings.ToLower(upstream.ErrorCode(err)) {
	case "throttlingexception", "servicequotaexceededexception", "toomanyrequestsexception":
		return ReasonThrottled
	case "modelnotreadyexception":
		return ReasonModelNotReady
	case "serviceunavailableexception":
		return ReasonUnavailable
	case "modeltimeoutexception":
		return ReasonTimeout
	case "":
		// No answer from Bedrock: a connection that timed out.
		if e := tollgate.AsError(err); e.Kind == tollgate.GatewayTimeout {
			return ReasonTimeout
		}
		return ""
	}
	switch e := tollgate.AsError(err); {
	case e.Kind == tollgate.RateLimited:
		return ReasonThrottled
	case e.Kind == tollgate.Unavailable:
		return ReasonUnavailable
	}
	return ""
}

// chain sets up the exchange's fallbacks for its route, at Route.
func (x *Exchange) chain() {
	x.fallbacks = x.caller.Policy.Fallbacks(x.model, x.route.ModelID)
	x.tried = nil
	if len(x.fallbacks) > 0 {
		x.tried = []string{x.route.ModelID}
	}
}

// AnsweredBy returns the Bedrock model id that answered (or was last
// tried) for a request whose model has fallbacks, for the front end's
// x-tollgate-model header; "" when the model has none.
func (x *Exchange) AnsweredBy() string {
	if x.route == nil || x.tried == nil {
		return ""
	}
	return x.route.ModelID
}

// attemptContext is the context of one call of the exchange: the call
// context, tried once when the model has fallbacks.
func (x *Exchange) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	cctx, cancel := x.callContext(ctx)
	if x.tried != nil {
		cctx = upstream.SingleAttempt(cctx)
	}
	return cctx, cancel
}

// fallback moves the exchange to its next fallback after the call to the
// current model failed with err before any output (cctx its context),
// and reports whether there is one to call. A fallback the key may not
// use, that would make another call than the primary (guardrail, prompt
// caching), that was already tried, or whose worst case the budget no
// longer affords is skipped. The failed call cost nothing: its hold moves
// to the next model's price (budget.Ticket.Reprice).
func (x *Exchange) fallback(ctx, cctx context.Context, err error) bool {
	reason := fallbackReason(cctx, err)
	if reason == "" {
		return false
	}
	for len(x.fallbacks) > 0 {
		next := x.fallbacks[0]
		x.fallbacks = x.fallbacks[1:]
		from := x.route.ModelID
		r, rerr := x.caller.Policy.RouteVia(x.caller.Key, next, x.g.baseModel(ctx))
		skip := ""
		switch {
		case rerr != nil:
			skip = tollgate.AsError(rerr).Code
		case !sameGuards(*x.route, r):
			skip = "another guardrail or prompt caching"
		case containsString(x.tried, r.ModelID):
			skip = "already tried"
		}
		if skip == "" {
			x.tried = append(x.tried, r.ModelID)
			if perr := x.ticket.Reprice(ctx, x.caller.RequestID+"/"+strconv.Itoa(len(x.tried)-1), r); perr != nil {
				skip = tollgate.AsError(perr).Code
			}
		}
		if skip != "" {
			x.g.c.Logger.Info("fallback skipped", "request_id", x.caller.RequestID, "key_id", x.caller.Key.ID,
				"from", from, "fallback", next, "why", skip)
			continue
		}
		x.g.c.Logger.Info("falling back", "request_id", x.caller.RequestID, "key_id", x.caller.Key.ID,
			"from", from, "to", r.ModelID, "reason", reason, "error_code", upstream.ErrorCode(err))
		if m, ok := x.g.c.Meter.(FallbackMeter); ok {
			m.Fallback(from, r.ModelID, reason)
		}
		x.route = &r
		x.demand.Route = r
		return true
	}
	return false
}

// retarget returns in sent to the exchange's current model.
func (x *Exchange) retarget(in *bedrockruntime.ConverseInput) *bedrockruntime.ConverseInput {
	c := *in
	c.ModelId = aws.String(x.route.ModelID)
	return &c
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
