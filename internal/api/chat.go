package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// handleChatCompletions serves POST /v1/chat/completions, plain and
// streamed: it decodes the OpenAI request, describes the call to the gate
// (which routes, admits, calls Bedrock and settles), and encodes the answer.
func handleChatCompletions(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		x := exchangeOf(c)
		body, err := readJSONBody(c, d.MaxBodyBytes, d.BodyReadTimeout)
		if err != nil {
			writeError(c, err)
			return
		}
		if refuseExhausted(c, x, body) {
			return
		}
		req, err := converse.ParseChatRequest(body)
		if err != nil {
			writeError(c, err)
			return
		}
		route, in, err := prepareConverse(c, d, x, req, len(body), nil)
		if err != nil {
			writeError(c, err)
			return
		}
		ctx := c.Request.Context()
		meta := converse.Meta{ID: converse.NewID(), Created: d.Now().Unix(), Model: req.Model,
			ThinkTags: d.ThinkTags, JSONTool: req.JSONTool(route.ModelID)}
		if req.Stream {
			s := newSSESink(c, d, meta, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
			s.finish(x.ConverseStream(ctx, in, s))
			return
		}
		out, err := x.Converse(ctx, in)
		if err != nil {
			writeError(c, err)
			return
		}
		resp, _, err := converse.FromConverse(out, meta)
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, resp)
	}
}

// converseDemand describes a Converse call (measured by converse.Measure)
// to the gate, for its reservation: chat and Responses requests alike.
func converseDemand(m converse.Measures, maxTokens, thinking int) gate.Demand {
	return gate.Demand{
		InputBytes: m.Size.TextBytes, Images: m.Size.Images,
		Texts:          m.Texts,
		DocumentTokens: m.DocumentTokens,
		Blocks:         m.Framing.Blocks, Tools: m.Framing.Tools, CacheWrite: m.Framing.CachePoints,
		MaxOutput: maxTokens, ThinkingBudget: thinking,
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
