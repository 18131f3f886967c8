package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/tokens"
)

// embeddingConcurrency bounds the InvokeModel calls one embeddings request
// has in flight: a request of 2048 texts to a model that reads one per call
// must not open 2048 connections, nor take 2048 round trips one after the
// other.
const embeddingConcurrency = 8

// handleEmbeddings serves POST /v1/embeddings through InvokeModel, with the
// enforcement of chat: policy routing, a budget reservation, one settlement
// with the input tokens Bedrock counted.
func handleEmbeddings(d Deps) gin.HandlerFunc {
	decode := tokenDecoder(d.Tokens)
	return func(c *gin.Context) {
		body, err := readJSONBody(c, d.MaxBodyBytes, d.BodyReadTimeout)
		if err != nil {
			writeError(c, err)
			return
		}
		if refuseExhausted(c, d, body) {
			return
		}
		req, err := converse.ParseEmbeddingRequest(body, decode)
		if err != nil {
			writeError(c, err)
			return
		}
		c.Set(ctxModel, req.Model)
		// Routed and admitted under the policy in force now, not the one of
		// when the headers were read: nothing slow comes between.
		pol, key, err := currentPolicy(c, d)
		if err != nil {
			writeError(c, err)
			return
		}
		route, err := pol.RouteVia(key, req.Model, baseModel(c.Request.Context(), d))
		if err != nil {
			writeError(c, err)
			return
		}
		c.Set(ctxResolved, route.ModelID)
		// An application inference profile's ARN names no model: plan the
		// calls for the model Bedrock's catalog lists behind it.
		family := route.ModelID
		if base, ok := baseModel(c.Request.Context(), d)(route.ModelID); ok {
			family = base
		}
		plan, err := converse.PlanEmbeddings(req, family)
		if err != nil {
			writeError(c, err)
			return
		}
		// Embedding models bill input only: a guard that imposes an
		// output cap on a capped key reserves nothing for it (the output
		// price is 0), and no output cap is sent to Bedrock.
		ticket, err := d.Budget.Admit(c.Request.Context(), budget.Request{
			ID: c.GetString(ctxRequestID), Policy: pol, Key: key, Route: route,
			InputBytes: req.InputBytes(),
			Texts:      func() []string { return req.Inputs },
		})
		if err != nil {
			writeError(c, err)
			return
		}
		x := &exchange{c: c, d: d, ticket: ticket}
		// As for chat, the calls run on a context of their own: Bedrock
		// bills them whether or not the client waits.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), d.UpstreamTimeout)
		defer cancel()
		results := invokeAll(ctx, d, route.ModelID, plan, embeddingMetadata(key.ID, req.User))

		// Settle what Bedrock billed, failed request or not.
		var u budget.Usage
		vectors := make([][]float32, 0, len(req.Inputs))
		var failure error
		for i, r := range results {
			if r.err != nil {
				if failure == nil && r.err != errSkipped {
					failure = r.err
				}
				continue
			}
			if r.tokens > 0 {
				u.Input += int64(r.tokens)
			} else {
				est := d.Budget.Estimate(plan.Calls[i].Texts, 0, 0)
				u.Input += est.Input
				u.Estimated = true
			}
			vectors = append(vectors, r.vectors...)
		}
		x.settle(u)
		if failure != nil {
			writeError(c, failure)
			return
		}
		c.JSON(http.StatusOK, converse.NewEmbeddingResponse(req, vectors, int(u.Input)))
	}
}

// callResult is the outcome of one InvokeModel call of a plan.
type callResult struct {
	vectors [][]float32
	tokens  int   // 0 when Bedrock reported none
	err     error // errSkipped: not made
}

// invokeAll makes the plan's calls, at most embeddingConcurrency at a time,
// and returns their results in the plan's order. Once a call fails no new
// call starts, since the request has failed; calls in flight finish, so
// that what Bedrock bills is known.
func invokeAll(ctx context.Context, d Deps, modelID string, plan *converse.EmbeddingPlan, metadata map[string]string) []callResult {
	results := make([]callResult, len(plan.Calls))
	one := func(i int) {
		out, headerTokens, err := d.Bedrock.InvokeModel(ctx, modelID, plan.Calls[i].Body, metadata)
		r := callResult{err: err}
		if err == nil {
			r.vectors, r.tokens, r.err = plan.Vectors(i, out, headerTokens)
		}
		results[i] = r
	}
	if len(plan.Calls) == 1 {
		one(0)
		return results
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed bool
	)
	sem := make(chan struct{}, embeddingConcurrency)
	for i := range plan.Calls {
		sem <- struct{}{}
		mu.Lock()
		stop := failed
		mu.Unlock()
		if stop {
			<-sem
			results[i] = callResult{err: errSkipped}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			one(i)
			if results[i].err != nil {
				mu.Lock()
				failed = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return results
}

// errSkipped marks a call not made because an earlier one failed; the
// failed call's error is the one reported.
var errSkipped = errors.New("embeddings: call skipped after an earlier failure")

// tokenDecoder adapts the tokenizer for converse: an id cl100k_base does not
// define is the client's mistake, a tokenizer that cannot load is ours.
func tokenDecoder(tc *tokens.Counter) converse.TokenDecoder {
	return func(ids []int) (string, error) {
		s, err := tc.Decode(ids)
		var unknown *tokens.UnknownTokenError
		if err != nil && !errors.As(err, &unknown) {
			return "", &tollgate.Error{Kind: tollgate.Internal, Message: "The gateway could not decode the token input.", Cause: err}
		}
		return s, err
	}
}

// embeddingMetadata is the request metadata Bedrock's invocation logs keep
// for an embeddings call, so that they join with Tollgate's metering: the
// key id and the client's end-user id. Bedrock accepts letters, digits,
// spaces and :_@$#=/+,.- in at most 256 characters; anything else in a
// user id becomes '_'.
func embeddingMetadata(keyID, user string) map[string]string {
	md := map[string]string{"tollgate_key_id": metadataValue(keyID)}
	if user != "" {
		md["user"] = metadataValue(user)
	}
	return md
}

func metadataValue(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" :_@$#=/+,.-", r):
			return r
		}
		return '_'
	}, s)
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}
