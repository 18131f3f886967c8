package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// errorBody is OpenAI's error envelope. param and code are null when unset.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// openAIStatus is the one table of OpenAI's protocol from an error kind to
// the HTTP status and the error.type a client gets. Another protocol (its
// front end) keeps a table of its own.
var openAIStatus = map[tollgate.Kind]struct {
	status int
	typ    string
}{
	tollgate.Internal:         {http.StatusInternalServerError, "server_error"},
	tollgate.Invalid:          {http.StatusBadRequest, "invalid_request_error"},
	tollgate.Unauthenticated:  {http.StatusUnauthorized, "invalid_request_error"},
	tollgate.PermissionDenied: {http.StatusForbidden, "permission_error"},
	tollgate.NotFound:         {http.StatusNotFound, "invalid_request_error"},
	tollgate.MethodNotAllowed: {http.StatusMethodNotAllowed, "invalid_request_error"},
	tollgate.TooLarge:         {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	tollgate.RequestTimeout:   {http.StatusRequestTimeout, "invalid_request_error"},
	tollgate.UnsupportedMedia: {http.StatusUnsupportedMediaType, "invalid_request_error"},
	tollgate.RateLimited:      {http.StatusTooManyRequests, "requests"},           // clients retry
	tollgate.QuotaExceeded:    {http.StatusTooManyRequests, "insufficient_quota"}, // clients do not retry
	tollgate.BadGateway:       {http.StatusBadGateway, "server_error"},
	tollgate.Unavailable:      {http.StatusServiceUnavailable, "server_error"},
	tollgate.GatewayTimeout:   {http.StatusGatewayTimeout, "server_error"},
}

// statusOf returns the HTTP status and OpenAI error.type of kind k; an
// unknown kind is a server error.
func statusOf(k tollgate.Kind) (int, string) {
	s, ok := openAIStatus[k]
	if !ok {
		return http.StatusInternalServerError, "server_error"
	}
	return s.status, s.typ
}

func envelope(e *tollgate.Error) (status int, body errorBody) {
	status, typ := statusOf(e.Kind)
	var rl *budget.RateLimited
	if e.Kind == tollgate.RateLimited && errors.As(e.Cause, &rl) && rl.Dimension == "tokens" {
		typ = "tokens" // OpenAI names the limit that refused: requests or tokens
	}
	body.Error = errorDetail{Message: e.Message, Type: typ}
	if e.Param != "" {
		body.Error.Param = &e.Param
	}
	if e.Code != "" {
		body.Error.Code = &e.Code
	}
	return status, body
}

// writeError sends err as an OpenAI error response and records it for the
// request log. Only server-side failures are logged with their cause.
func writeError(c *gin.Context, err error) {
	e := tollgate.AsError(err)
	if c.GetBool(ctxBedrock) {
		writeBedrockError(c, e)
		return
	}
	if c.GetBool(ctxAnthropic) {
		writeAnthropicError(c, e)
		return
	}
	status, body := envelope(e)
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if e.Kind == tollgate.QuotaExceeded {
		// OpenAI's and Anthropic's SDKs retry every 429 unless told not
		// to: a spent budget does not come back in seconds.
		c.Header("x-should-retry", "false")
	}
	noteError(c, e)
	c.AbortWithStatusJSON(status, body)
}

// streamErrorEvent renders err as the SSE event OpenAI sends when a stream
// fails after it started.
func streamErrorEvent(c *gin.Context, err error) []byte {
	e := tollgate.AsError(err)
	_, body := envelope(e)
	noteError(c, e)
	b, _ := json.Marshal(body) // a struct of strings cannot fail to encode
	out := make([]byte, 0, len(b)+8)
	out = append(out, "data: "...)
	out = append(out, b...)
	return append(out, '\n', '\n')
}

func noteError(c *gin.Context, e *tollgate.Error) {
	c.Set(ctxErrCode, e.Code)
	if code := upstream.ErrorCode(e); code != "" {
		c.Set(ctxUpstream, upstream.RequestID(e))
	}
	if status, _ := statusOf(e.Kind); status >= 500 && e.Cause != nil {
		c.Set(ctxErrCause, e.Cause.Error())
	}
}

// servedRoutes and bedrockRoutes name the API surface in a 404's message.
const (
	servedRoutes = "POST /v1/chat/completions, /v1/responses, /v1/messages, /v1/messages/count_tokens and /v1/embeddings; " +
		"GET /v1/models, /v1/models/{model} and /v1/usage (each also under /api/v1); and Bedrock's own API under /bedrock"
	bedrockRoutes = "POST /bedrock/model/{modelId}/converse, converse-stream, invoke, invoke-with-response-stream and count-tokens; " +
		"GET /bedrock/foundation-models and /bedrock/inference-profiles"
)

// speakAs marks a request no route took with the protocol its path (or
// its anthropic-version header) speaks, so that its error comes in the
// shape its client can read: Bedrock's under /bedrock, Anthropic's for
// the Messages API's paths and clients.
func speakAs(c *gin.Context) {
	p := c.Request.URL.Path
	switch {
	case p == "/bedrock" || strings.HasPrefix(p, "/bedrock/"):
		c.Set(ctxBedrock, true)
	case c.GetHeader("anthropic-version") != "" || strings.Contains(p, "/messages"):
		c.Set(ctxAnthropic, true)
	}
}

func handleNoRoute() gin.HandlerFunc {
	return func(c *gin.Context) {
		speakAs(c)
		served := servedRoutes
		if c.GetBool(ctxBedrock) {
			served = bedrockRoutes
		}
		writeError(c, tollgate.Errorf(tollgate.NotFound, "unknown_url", "",
			"Unknown request URL: %s %s. Check the URL for typos; Tollgate serves "+served+".", // served: no verbs
			c.Request.Method, c.Request.URL.Path))
	}
}

func handleNoMethod() gin.HandlerFunc {
	return func(c *gin.Context) {
		speakAs(c)
		writeError(c, tollgate.Errorf(tollgate.MethodNotAllowed, "method_not_allowed", "",
			"Method %s is not allowed for %s.", c.Request.Method, c.Request.URL.Path))
	}
}

// recovery turns a panic into a 500 in OpenAI's shape, logging the panic but
// never sending it.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic", "request_id", c.GetString(ctxRequestID), "panic", p)
				if !c.Writer.Written() {
					writeError(c, &tollgate.Error{Kind: tollgate.Internal,
						Message: "The server had an error while processing your request. Try again; if it persists, report the request id " + c.GetString(ctxRequestID) + "."})
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}
