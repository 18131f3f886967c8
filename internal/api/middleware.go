package api

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// Keys of values the handlers leave in the gin context for the request log.
const (
	ctxStart     = "tollgate.start"
	ctxRequestID = "tollgate.request_id"
	ctxKey       = "tollgate.key"
	ctxPolicy    = "tollgate.policy"
	ctxModel     = "tollgate.model" // of GET /v1/models/{id}; a model request's is its exchange's
	ctxErrCode   = "tollgate.err_code"
	ctxErrCause  = "tollgate.err_cause"
	ctxUpstream  = "tollgate.upstream_request_id"
)

// newRequestID returns a request id that sorts by time: 8 bytes of Unix
// nanoseconds then 4 random ones. Stores key settlements by request id, and
// ids that arrive in order append to a B+tree's edge instead of dirtying
// pages all over it. Ids are always made here, never taken from a client.
func newRequestID() string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	_, _ = rand.Read(b[8:]) // crypto/rand.Read never fails on supported platforms
	return "req_" + hex.EncodeToString(b[:])
}

// requestLog gives every request an id (in the x-request-id response header)
// and logs one line when it ends: never a prompt, a completion or a secret.
func requestLog(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := newRequestID()
		c.Set(ctxStart, start)
		c.Set(ctxRequestID, id)
		c.Header("X-Request-Id", id)
		c.Next()

		status := c.Writer.Status()
		level := slog.LevelInfo
		if c.FullPath() == "/healthz" {
			level = slog.LevelDebug // probes would drown the request log
		}
		if status >= 500 {
			level = slog.LevelError
		}
		attrs := make([]slog.Attr, 0, 12)
		attrs = append(attrs,
			slog.String("request_id", id),
			slog.String("method", c.Request.Method),
			slog.String("path", c.FullPath()),
			slog.Int("status", status),
			slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
		)
		if k, ok := c.Get(ctxKey); ok {
			attrs = append(attrs, slog.String("key_id", k.(*policy.Key).ID))
		}
		var x *gate.Exchange
		if v, ok := c.Get(ctxExchange); ok {
			x = v.(*gate.Exchange)
			if m := x.Model(); m != "" {
				c.Set(ctxModel, m)
			}
		}
		for _, f := range []struct{ ctx, name string }{
			{ctxModel, "model"}, {ctxErrCode, "error_code"}, {ctxErrCause, "error_cause"}, {ctxUpstream, "upstream_request_id"},
		} {
			if v := c.GetString(f.ctx); v != "" {
				attrs = append(attrs, slog.String(f.name, v))
			}
		}
		if x != nil {
			if st, ok := x.Settlement(); ok {
				attrs = append(attrs,
					slog.Int64("input_tokens", st.Usage.Input), slog.Int64("output_tokens", st.Usage.Output),
					slog.Int64("cost_micros", st.CostMicros))
				if st.Usage.Estimated {
					attrs = append(attrs, slog.Bool("usage_estimated", true))
				}
			}
			if x.Stream() {
				attrs = append(attrs, slog.Bool("stream", true))
			}
		}
		d.Logger.LogAttrs(c.Request.Context(), level, "request", attrs...)
	}
}

// authenticate finds the caller's key from "Authorization: Bearer <secret>"
// or "x-api-key: <secret>" under the current policy, and pins that policy for
// the rest of the request.
func authenticate(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		auths := c.Request.Header.Values("Authorization")
		secret := ""
		if len(auths) > 0 {
			secret = bearer(auths[0])
		}
		apiKey := strings.TrimSpace(c.GetHeader("X-Api-Key"))
		// Two credentials are refused rather than one picked: a proxy in
		// front that reads the other would see another caller.
		if len(auths) > 1 || len(c.Request.Header.Values("X-Api-Key")) > 1 || (secret != "" && apiKey != "" && secret != apiKey) {
			writeError(c, tollgate.Errorf(tollgate.Invalid, "invalid_api_key", "",
				"The request carries more than one API key. Send exactly one, in an Authorization header (Authorization: Bearer YOUR_KEY) or in an x-api-key header."))
			return
		}
		if secret == "" {
			secret = apiKey
		}
		if secret == "" {
			writeError(c, tollgate.Errorf(tollgate.Unauthenticated, "invalid_api_key", "",
				"You didn't provide an API key. Send it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY), or in an x-api-key header."))
			return
		}
		p := d.Policies.Load()
		k, err := p.Authenticate(secret, d.Now())
		if err != nil {
			writeError(c, err)
			return
		}
		c.Set(ctxPolicy, p)
		c.Set(ctxKey, k)
		c.Next()
	}
}

func bearer(h string) string {
	const prefix = "bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}

func keyOf(c *gin.Context) *policy.Key { return c.MustGet(ctxKey).(*policy.Key) }

// policyOf returns the policy the request was authenticated under.
func policyOf(c *gin.Context) *policy.Policy { return c.MustGet(ctxPolicy).(*policy.Policy) }

// limitConcurrency bounds the model requests in flight at once: past max,
// a request gets 429 at once with retry-after, instead of holding a
// goroutine, a Bedrock connection and a reservation. A request holds its
// place until its handler returns, a drained stream included. Negative
// max: no bound.
func limitConcurrency(max int) gin.HandlerFunc {
	if max < 0 {
		return func(c *gin.Context) { c.Next() }
	}
	slots := make(chan struct{}, max)
	return func(c *gin.Context) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			c.Next()
		default:
			writeError(c, &tollgate.Error{Kind: tollgate.RateLimited, Code: "too_many_concurrent_requests", RetryAfter: time.Second,
				Message: fmt.Sprintf("The gateway is serving its limit of %d requests at once. Retry shortly.", max)})
		}
	}
}
