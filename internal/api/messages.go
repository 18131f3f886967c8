package api

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/anthropic"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// This file is the front end of Anthropic's Messages API (POST /v1/messages
// and /v1/messages/count_tokens, as Claude Code and the Anthropic SDKs
// speak it): it decodes a request with package anthropic, describes the
// call to the gate, and encodes the answer, the stream and the errors in
// Anthropic's shapes. Money is the gate's business.

// ctxAnthropic marks a request whose errors are rendered in Anthropic's
// envelope.
const ctxAnthropic = "tollgate.anthropic"

// anthropicErrors makes the errors of the routes it wraps (authentication
// and limits included) Anthropic's. always false: only for a request that
// carries anthropic-version, which only Anthropic's clients send (GET
// /v1/models serves both protocols).
func anthropicErrors(always bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if always || c.GetHeader("anthropic-version") != "" {
			c.Set(ctxAnthropic, true)
		}
		c.Next()
	}
}

// writeAnthropicError sends e in Anthropic's envelope. A budget refusal
// carries x-should-retry: false, which Anthropic's clients (Claude Code
// among them) honour instead of retrying for minutes.
func writeAnthropicError(c *gin.Context, e *tollgate.Error) {
	status, body := anthropic.ErrorBody(e)
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if !anthropic.Retryable(e.Kind) {
		c.Header("X-Should-Retry", "false")
	}
	noteError(c, e)
	c.Data(status, "application/json", body)
	c.Abort()
}

// messagesModel resolves the model a Messages request names: a policy
// alias (or any name the policy prices) as is; else Anthropic's name
// through the documented table, in the inference-profile geography of the
// gateway's region; else, for a Claude name the table does not know (a
// newer model), the id Bedrock's catalog lists for it; else the name as a
// Bedrock id. An Anthropic name found nowhere is a 404 that says how to
// fix it.
func messagesModel(ctx context.Context, d Deps, pol *policy.Policy, name string) (string, error) {
	if pol.Knows(name) {
		return name, nil
	}
	geo := anthropic.Geography(d.Region)
	if id, ok := anthropic.BedrockModel(name, geo); ok {
		return id, nil
	}
	if !strings.HasPrefix(name, "claude-") {
		return name, nil
	}
	models, err := d.Catalog.Models(ctx)
	if err != nil {
		return "", err
	}
	ids := make([]string, len(models))
	for i, m := range models {
		ids[i] = m.ID
	}
	if id, ok := anthropic.MatchModel(name, geo, ids); ok {
		return id, nil
	}
	return "", tollgate.Errorf(tollgate.NotFound, "model_not_found", "model",
		"model: %s: Bedrock lists no such Claude model here. Use a model GET /v1/models lists, a Bedrock id, or ask your Tollgate administrator for an alias of this name (docs/anthropic-compat.md).", name)
}

// routeClaude routes a Messages request and refuses a model that is not
// Claude: only Claude takes the Messages body on Bedrock.
func routeClaude(c *gin.Context, d Deps, x *gate.Exchange, model string, stream bool) (policy.Route, string, error) {
	ctx := c.Request.Context()
	id, err := messagesModel(ctx, d, policyOf(c), model)
	if err != nil {
		return policy.Route{}, "", err
	}
	route, err := x.Route(ctx, id, stream)
	if err != nil {
		return route, "", err
	}
	family := x.FamilyModel(ctx)
	if !anthropic.IsClaude(family) {
		return route, "", tollgate.Errorf(tollgate.Invalid, "model_not_supported", "model",
			"model: %q is not a Claude model: the Messages API serves Claude models on Bedrock. Call it through /v1/chat/completions.", model)
	}
	return route, family, nil
}

// handleMessages serves POST /v1/messages, plain and streamed.
func handleMessages(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		x := exchangeOf(c)
		renderRateHeaders(c, anthropicRateHeaders)
		body, err := readJSONBody(c, d.MaxBodyBytes, d.BodyReadTimeout)
		if err != nil {
			writeError(c, err)
			return
		}
		req, err := anthropic.ParseRequest(body)
		if err != nil {
			writeError(c, err)
			return
		}
		ctx := c.Request.Context()
		if _, _, err := routeClaude(c, d, x, req.Model, req.Stream); err != nil {
			writeError(c, err)
			return
		}
		in := req.Input()
		grant, err := x.Admit(ctx, gate.Demand{
			InputBytes: in.TextBytes, Images: in.Images, Texts: req.Texts, DocumentTokens: in.DocumentTokens,
			Blocks: in.Blocks, Tools: in.Tools, CacheWrite: in.CacheWrite,
			MaxOutput: req.MaxTokens(), ThinkingBudget: req.ThinkingBudget(),
		})
		if err != nil {
			writeError(c, err)
			return
		}
		if grant.MaxOutput > 0 && grant.MaxOutput < req.MaxTokens() {
			req.SetMaxTokens(grant.MaxOutput)
		}
		req.ScopeCache(policyOf(c).CacheScope(keyOf(c)))
		out, err := req.BedrockBody(c.Request.Header.Values("anthropic-beta"))
		if err != nil {
			writeError(c, err)
			return
		}
		if req.Stream {
			s := newMessagesSink(c, d)
			s.finish(x.InvokeStream(ctx, out, s.meter, s))
			return
		}
		answer, err := x.InvokeBody(ctx, out, invokeMetadata(c), func(b []byte) (gate.Usage, error) {
			u, err := anthropic.ParseUsage(b)
			return gateUsage(u), err
		})
		if err != nil {
			writeError(c, err)
			return
		}
		c.Data(http.StatusOK, "application/json", answer)
	}
}

// invokeMetadata is what Bedrock's invocation logs keep of the request: the
// key and request ids, as on the chat route.
func invokeMetadata(c *gin.Context) map[string]string {
	return map[string]string{converse.MetadataKeyID: keyOf(c).ID, converse.MetadataRequestID: c.GetString(ctxRequestID)}
}

func gateUsage(u anthropic.Usage) gate.Usage {
	return gate.Usage{Input: int64(u.Input), Output: int64(u.Output), CacheRead: int64(u.CacheRead), CacheWrite: int64(u.CacheWrite)}
}

// handleCountTokens serves POST /v1/messages/count_tokens with Bedrock's
// CountTokens, on the foundation model behind the route (CountTokens takes
// no inference profile). Counting is free: nothing is reserved.
func handleCountTokens(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		x := exchangeOf(c)
		body, err := readJSONBody(c, d.MaxBodyBytes, d.BodyReadTimeout)
		if err != nil {
			writeError(c, err)
			return
		}
		req, out, err := anthropic.CountTokensBody(body, c.Request.Header.Values("anthropic-beta"), policyOf(c).CacheScope(keyOf(c)))
		if err != nil {
			writeError(c, err)
			return
		}
		_, family, err := routeClaude(c, d, x, req.Model, false)
		if err != nil {
			writeError(c, err)
			return
		}
		n, err := x.CountTokens(c.Request.Context(), anthropic.FoundationModel(family), out)
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"input_tokens": n})
	}
}

// messagesMeter is package anthropic's stream meter in the gate's terms.
type messagesMeter struct{ *anthropic.Meter }

// Usage implements [gate.ChunkMeter.Usage].
func (m messagesMeter) Usage() (gate.Usage, bool) {
	u, reported := m.Meter.Usage()
	return gateUsage(u), reported
}

// messagesSink sends a Messages stream as Anthropic's server-sent events,
// flushing each event as it comes. It implements gate.ChunkSink.
type messagesSink struct {
	streamOut
	meter  messagesMeter
	buf    []byte
	pinged bool
}

var messageStart = []byte("event: message_start\n")

func newMessagesSink(c *gin.Context, d Deps) *messagesSink {
	return &messagesSink{streamOut: newStreamOut(c, d), meter: messagesMeter{anthropic.NewMeter()},
		buf: make([]byte, 0, 1024)}
}

// Chunk implements [gate.ChunkSink.Chunk]. A chunk that is not an
// Anthropic event is skipped; the stream's end tells whether it completed.
func (s *messagesSink) Chunk(b []byte) error {
	var err error
	if s.buf, err = anthropic.AppendFrame(s.buf[:0], b); err != nil {
		return nil
	}
	if !s.pinged && bytes.HasPrefix(s.buf, messageStart) {
		s.pinged = true // Anthropic sends a ping after message_start; Bedrock's stream has none
		s.buf = append(s.buf, anthropic.Ping...)
	}
	return s.write(s.buf)
}

// finish ends the stream once the gate is done with it (err is what
// [gate.Exchange.InvokeStream] returned). A failure before the stream
// started is an ordinary error response (a budget refusal of a stream
// too); after it, an error event ends the stream, also when the stream
// ended without message_stop. Nothing is sent to a client that left.
func (s *messagesSink) finish(err error) {
	if !s.opened {
		writeError(s.c, err)
		return
	}
	defer func() { _ = s.rc.SetWriteDeadline(time.Time{}) }()
	if err == nil && !s.meter.Done() {
		err = &tollgate.Error{Kind: tollgate.BadGateway, Code: "upstream_stream_cut",
			Message: "The Bedrock stream ended before the message was complete. Retry the request."}
	}
	if err == nil {
		return
	}
	e := tollgate.AsError(err)
	noteError(s.c, e)
	if !s.gone && s.c.Request.Context().Err() == nil {
		_ = s.write(anthropic.ErrorEvent(e))
	}
}

// writeAnthropicModels answers GET /v1/models in Anthropic's shape, for a
// request that carries anthropic-version: the Claude models the key may
// use, by the Anthropic name that routes to them when the table has one,
// then the key's aliases. limit, after_id and before_id page through it.
func writeAnthropicModels(c *gin.Context, d Deps, pol *policy.Policy, k *policy.Key, models []upstream.Model, aliases []string) {
	geo := anthropic.Geography(d.Region)
	seen := map[string]bool{}
	var list []anthropic.ModelInfo
	for _, m := range models {
		family := m.ID
		if m.Base != "" {
			family = m.Base
		}
		if !anthropic.IsClaude(family) || !pol.VisibleVia(k, m.ID, listedBase(models)) {
			continue
		}
		id := m.ID
		if name, ok := anthropic.ModelName(m.ID); ok {
			if routed, _ := anthropic.BedrockModel(name, geo); routed == m.ID {
				id = name
			}
		}
		if !seen[id] {
			seen[id] = true
			list = append(list, anthropic.ModelInfo{ID: id, DisplayName: id, Created: time.Unix(m.Created, 0)})
		}
	}
	for _, a := range aliases {
		if !seen[a] {
			list = append(list, anthropic.ModelInfo{ID: a, DisplayName: a})
		}
	}
	limit, _ := strconv.Atoi(c.Query("limit"))
	c.Data(http.StatusOK, "application/json", anthropic.ModelList(list, c.Query("after_id"), c.Query("before_id"), limit))
}
