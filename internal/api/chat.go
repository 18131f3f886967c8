package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// handleChatCompletions serves POST /v1/chat/completions, plain and streamed.
func handleChatCompletions(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		body, err := readJSONBody(c, d.MaxBodyBytes, d.BodyReadTimeout)
		if err != nil {
			writeError(c, err)
			return
		}
		if refuseExhausted(c, d, body) {
			return
		}
		req, err := converse.ParseChatRequest(body)
		if err != nil {
			writeError(c, err)
			return
		}
		c.Set(ctxModel, req.Model)
		c.Set(ctxStream, req.Stream)
		pol, key := policyOf(c), keyOf(c)
		route, err := pol.RouteVia(key, req.Model, baseModel(c.Request.Context(), d))
		if err != nil {
			writeError(c, err)
			return
		}
		if err := fetchImages(c.Request.Context(), d.Images, req); err != nil {
			writeError(c, err)
			return
		}
		c.Set(ctxResolved, route.ModelID)
		in, err := converse.ToConverse(req, route.ModelID, chatOptions(c, d, key, route))
		if err != nil {
			writeError(c, err)
			return
		}
		// Admitted under the policy in force now, not the one of when the
		// headers were read.
		if pol2, key2, err := currentPolicy(c, d); err != nil {
			writeError(c, err)
			return
		} else if pol2 != pol {
			route2, err := pol2.RouteVia(key2, req.Model, baseModel(c.Request.Context(), d))
			if err != nil {
				writeError(c, err)
				return
			}
			if !sameCall(route, route2) {
				c.Set(ctxResolved, route2.ModelID)
				if in, err = converse.ToConverse(req, route2.ModelID, chatOptions(c, d, key2, route2)); err != nil {
					writeError(c, err)
					return
				}
			}
			pol, key, route = pol2, key2, route2
		}
		size := converse.MeasureInput(req, len(body))
		ticket, err := d.Budget.Admit(c.Request.Context(), budget.Request{
			ID: c.GetString(ctxRequestID), Policy: pol, Key: key, Route: route,
			InputBytes: size.TextBytes, Images: size.Images,
			Texts:     func() []string { return converse.InputTexts(req) },
			MaxOutput: converse.MaxTokens(in), // Claude's thinking budget comes on top of max_tokens
		})
		if err != nil {
			writeError(c, err)
			return
		}
		if ticket.MaxOutput > 0 && ticket.MaxOutput != converse.MaxTokens(in) {
			converse.SetMaxTokens(in, ticket.MaxOutput)
		}
		x := &exchange{c: c, d: d, ticket: ticket, req: req, images: size.Images}
		// Bedrock bills a generation whether or not the client waits for it,
		// so the call runs on its own bounded context: it completes and is
		// settled even when the client goes away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), d.UpstreamTimeout)
		defer cancel()
		meta := converse.Meta{ID: converse.NewID(), Created: d.Now().Unix(), Model: req.Model,
			ThinkTags: d.ThinkTags, JSONTool: req.JSONTool(route.ModelID)}
		if req.Stream {
			streamChat(ctx, x, in, meta, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
			return
		}
		out, err := d.Bedrock.Converse(ctx, in)
		if err != nil {
			x.settle(x.failedUsage(ctx, in))
			writeError(c, err)
			return
		}
		resp, u, err := converse.FromConverse(out, meta)
		x.settle(usageOf(u))
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, resp)
	}
}

// chatOptions are what the gateway adds to a chat request: the key and
// request ids for Bedrock's invocation logs, the policy's guardrail, prompt
// caching default and cache scope, and the server's reasoning display.
func chatOptions(c *gin.Context, d Deps, key *policy.Key, route policy.Route) converse.Options {
	o := converse.Options{KeyID: key.ID, RequestID: c.GetString(ctxRequestID), PromptCache: route.PromptCache, ThinkTags: d.ThinkTags,
		CacheScope: policyOf(c).CacheScope(key)}
	if g := route.Guardrail; g != nil {
		o.Guardrail = &converse.Guardrail{ID: g.ID, Version: g.Version, Trace: g.Trace}
	}
	return o
}

// exchange is one admitted model call on its way to settlement.
type exchange struct {
	c      *gin.Context
	d      Deps
	ticket *budget.Ticket
	req    *converse.ChatRequest
	images int
}

// settle records what the call cost, once, and notes it for the request log.
func (x *exchange) settle(u budget.Usage) {
	s, err := x.ticket.Settle(x.c.Request.Context(), u)
	x.c.Set(ctxSettlement, s)
	if err != nil {
		x.d.Logger.Error("settlement failed: the reservation will expire at the end of its lease",
			"request_id", x.c.GetString(ctxRequestID), "key_id", x.ticket.KeyID, "cost_micros", s.CostMicros, "error", err.Error())
	}
}

// failedUsage is what a call that failed before any output is billed.
// Bedrock bills no call it failed, so nothing, unless the gateway gave up
// on the call at the upstream timeout: Bedrock may still be generating,
// and bills that, so it is settled at the estimate of its input and its
// whole output cap, marked estimated.
func (x *exchange) failedUsage(ctx context.Context, in *bedrockruntime.ConverseInput) budget.Usage {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return budget.Usage{}
	}
	u := x.estimate(0)
	u.Output = int64(converse.MaxTokens(in))
	if u.Output <= 0 {
		u.Output = budget.DefaultMaxOutput
	}
	return u
}

// estimate is the usage of a stream that ended before Bedrock reported it.
func (x *exchange) estimate(outputBytes int) budget.Usage {
	return x.d.Budget.Estimate(converse.InputTexts(x.req), x.images, outputBytes)
}

func usageOf(u converse.Usage) budget.Usage {
	return budget.Usage{Input: int64(u.Input), Output: int64(u.Output), CacheRead: int64(u.CacheRead), CacheWrite: int64(u.CacheWrite)}
}
