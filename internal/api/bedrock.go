package api

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/anthropic"
	"github.com/tollgate-gw/tollgate/internal/bedrockapi"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/modelid"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// This file is the front end of Bedrock's own runtime API (/bedrock, for
// the AWS SDKs and Claude Code's Bedrock mode; docs/bedrock-compat.md): it
// reads a request with package bedrockapi, describes the call to the gate,
// and sends Bedrock's answer, or its event stream, as it came. Its errors
// are Bedrock's (x-amzn-ErrorType and {"message": ...}).

// Keys of the gin context of a /bedrock request.
const (
	ctxBedrock   = "tollgate.bedrock"    // errors are rendered in Bedrock's shape
	ctxBedrockOp = "tollgate.bedrock.op" // the operation of a /bedrock/model route
)

// bedrockErrors makes the errors of the routes it wraps (authentication and
// limits included) Bedrock's. A request signed with SigV4 is refused with
// what to do instead: Tollgate takes its own keys as bearer tokens.
func bedrockErrors() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(ctxBedrock, true)
		if strings.HasPrefix(c.GetHeader("Authorization"), "AWS4-") {
			writeError(c, tollgate.Errorf(tollgate.Unauthenticated, "invalid_api_key", "",
				"Tollgate takes its API key as a bearer token, not AWS credentials: set AWS_BEARER_TOKEN_BEDROCK to your Tollgate key (or send Authorization: Bearer YOUR_KEY)."))
			return
		}
		c.Next()
	}
}

// writeBedrockError sends e in Bedrock's shape. Bedrock's own errors keep
// their type and status.
func writeBedrockError(c *gin.Context, e *tollgate.Error) {
	status, typ := bedrockStatus(e)
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	c.Header("X-Amzn-ErrorType", typ)
	c.Header("X-Amzn-RequestId", c.GetString(ctxRequestID))
	noteError(c, e)
	c.Data(status, "application/json", bedrockapi.ErrorBody(e.Message))
	c.Abort()
}

// bedrockStatus is the status and error type of e: Bedrock's own when
// Bedrock failed the call, else bedrockapi's table.
func bedrockStatus(e *tollgate.Error) (int, string) {
	if code := upstream.ErrorCode(e); code != "" {
		if status := upstream.HTTPStatus(e); status >= 400 {
			return status, code
		}
	}
	return bedrockapi.Status(e.Kind)
}

// The operations of POST /bedrock/model/{modelId}/{operation}, with their
// metering endpoints.
var bedrockOps = map[string]string{
	"converse":                    "bedrock.converse",
	"converse-stream":             "bedrock.converse",
	"invoke":                      "bedrock.invoke",
	"invoke-with-response-stream": "bedrock.invoke",
	"count-tokens":                "bedrock.count-tokens",
}

// bedrockModelPath reads the model id and the operation of a /bedrock/model
// route: the id holds ':' and, for an ARN, '/', escaped by the SDKs or not.
func bedrockModelPath() gin.HandlerFunc {
	return func(c *gin.Context) {
		rest := strings.TrimPrefix(c.Param("rest"), "/")
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 || bedrockOps[rest[i+1:]] == "" {
			writeError(c, tollgate.Errorf(tollgate.NotFound, "unknown_url", "",
				"Unknown request URL: %s %s. Check the URL for typos; Tollgate serves "+bedrockRoutes+".",
				c.Request.Method, c.Request.URL.Path))
			return
		}
		c.Set(ctxModel, rest[:i])
		c.Set(ctxBedrockOp, rest[i+1:])
		c.Next()
	}
}

// bedrockEndpoint is the metering endpoint of a /bedrock/model request.
func bedrockEndpoint(c *gin.Context) string { return bedrockOps[c.GetString(ctxBedrockOp)] }

// handleBedrockModel serves POST /bedrock/model/{modelId}/{operation}.
func handleBedrockModel(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		x, model := exchangeOf(c), c.GetString(ctxModel)
		renderRateHeaders(c, nil) // Bedrock sends no rate-limit headers: none an AWS SDK would read
		switch op := c.GetString(ctxBedrockOp); op {
		case "converse", "converse-stream":
			bedrockConverse(c, d, x, model, op == "converse-stream")
		case "invoke", "invoke-with-response-stream":
			bedrockInvoke(c, d, x, model, op == "invoke-with-response-stream")
		case "count-tokens":
			bedrockCountTokens(c, d, x, model)
		}
	}
}

func demandOf(call *bedrockapi.Call) gate.Demand {
	return gate.Demand{
		InputBytes: call.InputBytes, Images: call.Images, Texts: call.Texts, DocumentTokens: call.DocumentTokens,
		Blocks: call.Blocks, Tools: call.Tools, CacheWrite: call.CacheWrite,
		MaxOutput: call.MaxOutput, ThinkingBudget: call.ThinkingBudget,
	}
}

// admitBedrock reserves the call's worst case and writes the granted output
// cap into the body when it differs from the one asked for (a capped key
// that set none gets the budget's default).
func admitBedrock(c *gin.Context, x *gate.Exchange, call *bedrockapi.Call) error {
	grant, err := x.Admit(c.Request.Context(), demandOf(call))
	if err != nil {
		return err
	}
	if grant.MaxOutput > 0 && grant.MaxOutput != call.MaxOutput {
		if _, err := call.SetOutputCap(grant.MaxOutput); err != nil {
			return err
		}
	}
	return nil
}

func bedrockConverse(c *gin.Context, d Deps, x *gate.Exchange, model string, stream bool) {
	ctx := c.Request.Context()
	body, err := readJSONBody(c, d.MaxBodyBytes, d.BodyReadTimeout)
	if err != nil {
		writeError(c, err)
		return
	}
	if refuseExhausted(c, x, body) {
		return
	}
	call, err := bedrockapi.ParseConverse(body)
	if err != nil {
		writeError(c, err)
		return
	}
	route, err := x.Route(ctx, model, stream)
	if err != nil {
		writeError(c, err)
		return
	}
	if g := route.Guardrail; g != nil {
		if err := call.SetGuardrail(g.ID, g.Version, g.Trace); err != nil {
			writeError(c, err)
			return
		}
	}
	if err := call.ScopeCache(policyOf(c).CacheScope(keyOf(c))); err != nil {
		writeError(c, err)
		return
	}
	if err := admitBedrock(c, x, call); err != nil {
		writeError(c, err)
		return
	}
	if stream {
		s := newFrameSink(c, d)
		s.finish(x, x.ConverseStreamRaw(ctx, call.Body(), s))
		return
	}
	out, err := x.ConverseRaw(ctx, call.Body())
	if err != nil {
		writeError(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", out)
}

// invocation is an InvokeModel call as the client asked for it in its
// headers, under the key's guardrail when its policy names one.
func invocation(c *gin.Context, body []byte, route policy.Route) *upstream.Invocation {
	h := c.Request.Header
	in := &upstream.Invocation{
		Body: body, ContentType: h.Get("Content-Type"), Accept: h.Get("Accept"),
		Trace:       h.Get("X-Amzn-Bedrock-Trace"),
		GuardrailID: h.Get("X-Amzn-Bedrock-GuardrailIdentifier"), GuardrailVersion: h.Get("X-Amzn-Bedrock-GuardrailVersion"),
		Latency: h.Get("X-Amzn-Bedrock-PerformanceConfig-Latency"), ServiceTier: h.Get("X-Amzn-Bedrock-Service-Tier"),
	}
	if in.Accept == "*/*" {
		in.Accept = ""
	}
	if g := route.Guardrail; g != nil {
		in.GuardrailID, in.GuardrailVersion = g.ID, or(g.Version, "DRAFT")
		if g.Trace {
			in.Trace = "ENABLED"
		}
	}
	return in
}

func bedrockInvoke(c *gin.Context, d Deps, x *gate.Exchange, model string, stream bool) {
	ctx := c.Request.Context()
	body, err := readJSONBody(c, d.MaxBodyBytes, d.BodyReadTimeout)
	if err != nil {
		writeError(c, err)
		return
	}
	if refuseExhausted(c, x, body) {
		return
	}
	route, err := x.Route(ctx, model, stream)
	if err != nil {
		writeError(c, err)
		return
	}
	family := foundationOf(ctx, x)
	call, err := bedrockapi.ParseInvoke(family, body)
	if err != nil {
		writeError(c, err)
		return
	}
	if err := call.ScopeCache(policyOf(c).CacheScope(keyOf(c))); err != nil {
		writeError(c, err)
		return
	}
	if err := admitBedrock(c, x, call); err != nil {
		writeError(c, err)
		return
	}
	in := invocation(c, call.Body(), route)
	if stream {
		s := newFrameSink(c, d)
		s.contentType = "application/json"
		s.finish(x, x.InvokeStreamRaw(ctx, in, newChunkMeter(family), s))
		return
	}
	a, err := x.InvokeRaw(ctx, in, answerUsage(family))
	if err != nil {
		writeError(c, err)
		return
	}
	if t := a.Tokens; t.Reported {
		h := c.Writer.Header()
		h.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(t.Input))
		h.Set("X-Amzn-Bedrock-Output-Token-Count", strconv.Itoa(t.Output))
	}
	c.Data(http.StatusOK, or(a.ContentType, "application/json"), a.Body)
}

// answerUsage reads the usage of an InvokeModel answer whose headers did not
// carry it: Claude's is in its message.
func answerUsage(family string) func([]byte) (gate.Usage, bool) {
	if !anthropic.IsClaude(family) {
		return nil
	}
	return func(body []byte) (gate.Usage, bool) {
		u, err := anthropic.ParseUsage(body)
		if err != nil {
			return gate.Usage{}, false
		}
		return gate.Usage{Input: int64(u.Input), Output: int64(u.Output), CacheRead: int64(u.CacheRead), CacheWrite: int64(u.CacheWrite)}, true
	}
}

func bedrockCountTokens(c *gin.Context, d Deps, x *gate.Exchange, model string) {
	ctx := c.Request.Context()
	body, err := readJSONBody(c, d.MaxBodyBytes, d.BodyReadTimeout)
	if err != nil {
		writeError(c, err)
		return
	}
	if _, err := x.Route(ctx, model, false); err != nil {
		writeError(c, err)
		return
	}
	n, err := x.CountTokensRaw(ctx, foundationOf(ctx, x), body)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"inputTokens": n})
}

// foundationOf returns the foundation model id a routed exchange calls:
// the model behind a profile or ARN.
func foundationOf(ctx context.Context, x *gate.Exchange) string {
	id := x.FamilyModel(ctx)
	if base, ok := modelid.Base(id); ok {
		return base
	}
	return id
}

// frameSink sends an event stream's frames as Bedrock sent them, flushing
// each. It implements gate.FrameSink.
type frameSink struct {
	streamOut
	contentType string // X-Amzn-Bedrock-Content-Type of an InvokeModel stream; "" for none
	last        []byte // the last frame sent
}

func newFrameSink(c *gin.Context, d Deps) *frameSink {
	return &frameSink{streamOut: newStreamOut(c, d)}
}

// Open implements [gate.FrameSink.Open]: the head of Bedrock's event
// stream, in place of the server-sent events' one.
func (s *frameSink) Open() {
	h := s.c.Writer.Header()
	h.Set("Content-Type", "application/vnd.amazon.eventstream")
	h.Set("X-Amzn-RequestId", s.c.GetString(ctxRequestID))
	if s.contentType != "" {
		h.Set("X-Amzn-Bedrock-Content-Type", s.contentType)
	}
	s.c.Status(http.StatusOK)
	s.opened = true
}

// Frame implements [gate.FrameSink.Frame].
func (s *frameSink) Frame(b []byte) error {
	s.last = b
	return s.write(b)
}

// finish ends the stream once the gate is done with it. A failure before
// the stream started is an ordinary error response. After it, a stream
// that failed without Bedrock's exception event, or that ended before
// Bedrock reported its usage (a dropped connection ends the SDK's stream
// cleanly), ends with an exception event, so that the client's SDK raises
// an error instead of taking a cut answer for a whole one.
func (s *frameSink) finish(x *gate.Exchange, err error) {
	if !s.opened {
		writeError(s.c, err)
		return
	}
	defer func() { _ = s.rc.SetWriteDeadline(time.Time{}) }()
	if s.gone || s.c.Request.Context().Err() != nil || isException(s.last) {
		if err != nil {
			noteError(s.c, tollgate.AsError(err))
		}
		return
	}
	if err == nil {
		if st, ok := x.Settlement(); !ok || !st.Usage.Estimated {
			return
		}
		err = &tollgate.Error{Kind: tollgate.BadGateway, Code: "upstream_error",
			Message: "The stream from Bedrock ended before it was complete. Retry the request."}
	}
	e := tollgate.AsError(err)
	noteError(s.c, e)
	_, typ := bedrockStatus(e)
	if typ == "InternalServerException" && e.Kind == tollgate.BadGateway {
		typ = "ModelStreamErrorException"
	}
	_ = s.Frame(bedrockapi.ExceptionFrame(typ, e.Message))
}

// isException reports whether frame is an exception event.
func isException(frame []byte) bool {
	if frame == nil {
		return false
	}
	msg, err := eventstream.NewDecoder().Decode(bytes.NewReader(frame), nil)
	if err != nil {
		return false
	}
	v := msg.Headers.Get(":message-type")
	return v != nil && v.String() == "exception"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// chunkMeter is bedrockapi's Meter as the gate reads it.
type chunkMeter struct{ *bedrockapi.Meter }

func newChunkMeter(family string) chunkMeter { return chunkMeter{bedrockapi.NewMeter(family)} }

// Usage implements [gate.ChunkMeter.Usage].
func (m chunkMeter) Usage() (gate.Usage, bool) {
	u, ok := m.Meter.Usage()
	return gate.Usage{Input: int64(u.Input), Output: int64(u.Output), CacheRead: int64(u.CacheRead), CacheWrite: int64(u.CacheWrite)}, ok
}
