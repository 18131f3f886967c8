package api

import (
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
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

func envelope(e *tollgate.Error) (status int, body errorBody) {
	status, typ := e.Kind.Status()
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
		c.Set(ctxUpstreamCode, code)
		c.Set(ctxUpstream, upstream.RequestID(e))
	}
	if status, _ := e.Kind.Status(); status >= 500 && e.Cause != nil {
		c.Set(ctxErrCause, e.Cause.Error())
	}
}

func handleNoRoute() gin.HandlerFunc {
	return func(c *gin.Context) {
		writeError(c, tollgate.Errorf(tollgate.NotFound, "unknown_url", "",
			"Unknown request URL: %s %s. Check the URL for typos; Tollgate serves /v1/chat/completions, /v1/embeddings, /v1/models and /v1/models/{model}.",
			c.Request.Method, c.Request.URL.Path))
	}
}

func handleNoMethod() gin.HandlerFunc {
	return func(c *gin.Context) {
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
