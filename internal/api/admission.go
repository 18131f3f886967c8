package api

import (
	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/gate"
)

// earlyCheckBytes is the body size from which a request's budget is checked
// before the body is parsed, its images fetched or its tokens counted: a key
// with nothing left must not make the gateway do that work (issue 13). Below
// it the work is cheaper than the store read the check costs.
const earlyCheckBytes = 64 << 10

// refuseExhausted answers 429 and reports true when a large request's key
// has no budget left under one of its caps ([gate.Exchange.Exhausted]).
func refuseExhausted(c *gin.Context, x *gate.Exchange, body []byte) bool {
	if len(body) < earlyCheckBytes {
		return false
	}
	if err := x.Exhausted(c.Request.Context()); err != nil {
		writeError(c, err)
		return true
	}
	return false
}
