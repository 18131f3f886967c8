package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/gate"
)

// ctxExchange is the gin context key of a model request's gate.Exchange.
const ctxExchange = "tollgate.exchange"

// openExchange wraps a model route: it opens the request's exchange with
// the gate for the authenticated caller, and finishes it once the handler
// is done, which records the request's one metering event (what it used
// and cost, or how it failed) with the status the client got. A handler
// that panics still finishes it, as a 500: its reservation is released and
// the event recorded.
func openExchange(g *gate.Gate, endpoint string) gin.HandlerFunc {
	return openExchangeAs(g, func(*gin.Context) string { return endpoint })
}

// openExchangeAs is openExchange for a route whose endpoint depends on the
// request (Bedrock's model routes).
func openExchangeAs(g *gate.Gate, endpoint func(*gin.Context) string) gin.HandlerFunc {
	return func(c *gin.Context) {
		x := g.Open(gate.Caller{Policy: policyOf(c), Key: keyOf(c), RequestID: c.GetString(ctxRequestID), Start: c.GetTime(ctxStart)}, endpoint(c))
		c.Set(ctxExchange, x)
		c.Writer = &rateHeaderWriter{ResponseWriter: c.Writer, x: x, render: rateHeaders} // x-ratelimit-*: ratelimit.go
		status := http.StatusInternalServerError                                          // if the handler panics
		defer func() { x.Finish(c.Request.Context(), status) }()
		c.Next()
		status = c.Writer.Status()
	}
}

func exchangeOf(c *gin.Context) *gate.Exchange { return c.MustGet(ctxExchange).(*gate.Exchange) }
