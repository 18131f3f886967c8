package api

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/metering"
)

// Keys of values the model handlers leave for the meter.
const (
	ctxResolved     = "tollgate.resolved_model"
	ctxTTFT         = "tollgate.ttft"
	ctxUpstreamCode = "tollgate.upstream_code"
)

// refusals are the error codes counted as budget or policy rejections.
var refusals = map[string]bool{
	"budget_exceeded":          true,
	"model_not_allowed":        true,
	"model_not_priced":         true,
	"budget_store_unavailable": true,
}

// meterRequest records one usage event for every authenticated request to
// a model endpoint, after the handler settled it: what it used and cost,
// or how it failed.
func meterRequest(d Deps, endpoint string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if d.Meter == nil {
			c.Next()
			return
		}
		done := d.Meter.InFlight()
		defer done()
		c.Next()

		k := keyOf(c)
		code := c.GetString(ctxErrCode)
		if refusals[code] {
			d.Meter.Rejected(k.ID, code)
		}
		ev := metering.Event{
			RequestID:     c.GetString(ctxRequestID),
			Time:          d.Now(),
			KeyID:         k.ID,
			Team:          policyOf(c).Caps(k).TeamID,
			Model:         c.GetString(ctxModel),
			ResolvedModel: c.GetString(ctxResolved),
			Endpoint:      endpoint,
			Stream:        c.GetBool(ctxStream),
			Status:        c.Writer.Status(),
			UpstreamError: c.GetString(ctxUpstreamCode),
			Latency:       time.Since(c.GetTime(ctxStart)),
			PolicyVersion: policyOf(c).Version,
		}
		if v, ok := c.Get(ctxTTFT); ok {
			ev.TimeToFirstToken = v.(time.Duration)
		}
		if v, ok := c.Get(ctxSettlement); ok {
			s := v.(budget.Settlement)
			ev.InputTokens, ev.OutputTokens = s.Usage.Input, s.Usage.Output
			ev.CacheReadTokens, ev.CacheWriteTokens = s.Usage.CacheRead, s.Usage.CacheWrite
			ev.CostMicros, ev.Estimated = s.CostMicros, s.Usage.Estimated
		}
		d.Meter.Record(ev)
	}
}
