package api

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
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

// limitBodies bounds the requests of one key, and of one client address,
// whose bodies are still arriving: past a bound, a request gets 429 with
// retry-after at once. A slow body holds nothing else: the gate takes a
// model-request place only once the body is in and the budget reserved
// (gate.Config.MaxConcurrent), so 1,024 half-sent bodies from one key no
// longer lock every other key out (issue 13). A request counts until its
// body has been read to its end, or its handler returns. perKey or perAddr
// of 0 or less: no bound of that kind. The address is the connection's
// (RemoteAddr), never a header a client can set.
func limitBodies(perKey, perAddr int) gin.HandlerFunc {
	var (
		mu     sync.Mutex
		byKey  = map[string]int{}
		byAddr = map[string]int{}
	)
	return func(c *gin.Context) {
		key := keyOf(c).ID
		addr, _, err := net.SplitHostPort(c.Request.RemoteAddr)
		if err != nil {
			addr = c.Request.RemoteAddr
		}
		mu.Lock()
		overKey := perKey > 0 && byKey[key] >= perKey
		overAddr := perAddr > 0 && byAddr[addr] >= perAddr
		if !overKey && !overAddr {
			byKey[key]++
			byAddr[addr]++
		}
		mu.Unlock()
		if overKey || overAddr {
			who, limit := "your API key", perKey
			if !overKey {
				who, limit = "your address", perAddr
			}
			// The body is left unread: net/http would wait for it after the
			// handler, so the connection closes at once instead.
			c.Header("Connection", "close")
			_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now())
			writeError(c, &tollgate.Error{Kind: tollgate.RateLimited, Code: "too_many_unread_bodies", RetryAfter: time.Second,
				Message: fmt.Sprintf("The gateway is already receiving %d request bodies from %s. Send each body at once, and retry shortly.", limit, who)})
			return
		}
		var once sync.Once
		release := func() {
			once.Do(func() {
				mu.Lock()
				defer mu.Unlock()
				if byKey[key]--; byKey[key] <= 0 {
					delete(byKey, key)
				}
				if byAddr[addr]--; byAddr[addr] <= 0 {
					delete(byAddr, addr)
				}
			})
		}
		defer release()
		c.Request.Body = &releasingBody{ReadCloser: c.Request.Body, release: release}
		c.Next()
	}
}

// releasingBody calls release once its body has been read to its end (or
// has failed).
type releasingBody struct {
	io.ReadCloser
	release func()
}

// Read implements [io.Reader].
func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}
