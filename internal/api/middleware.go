package api

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
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
		// Every authenticated route bounds its caller's bodies still
		// arriving (pendingBodies).
		release, ok := d.pending.hold(c, k.ID)
		if !ok {
			return
		}
		defer release()
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

// pendingBodies counts the requests whose body is still arriving, per key
// and per client address, for authenticate (one count for every route): a client that sends its bodies slowly holds
// connections and goroutines (no model-request slot: those are taken once
// the body is in, by the gate's Admit), so one key, or one address, may
// hold only so many. Past a bound the request gets 429 at once, its body
// unread. A bound of 0 or less: none.
type pendingBodies struct {
	perKey, perAddr int
	mu              sync.Mutex
	keys, addrs     map[string]int
}

func newPendingBodies(perKey, perAddr int) *pendingBodies {
	return &pendingBodies{perKey: perKey, perAddr: perAddr, keys: map[string]int{}, addrs: map[string]int{}}
}

// hold counts the body of c's request, from key, as pending until it has
// been read to its end (or release is called: when the request ends), or,
// past a bound, writes the 429 and returns false. A request without a body
// is not counted. A nil p bounds nothing.
func (p *pendingBodies) hold(c *gin.Context, key string) (release func(), ok bool) {
	r := c.Request
	if p == nil || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return func() {}, true
	}
	addr := c.RemoteIP() // never X-Forwarded-For: a client writes it
	which, ok := p.take(key, addr)
	if !ok {
		c.Header("Connection", "close") // net/http would otherwise wait for the body to discard it
		writeError(c, &tollgate.Error{Kind: tollgate.RateLimited, Code: "too_many_pending_requests", RetryAfter: time.Second,
			Message: fmt.Sprintf("%s already has %d requests whose body is still arriving. Send each request's body whole, at once, and retry.", which, p.bound(which))})
		return nil, false
	}
	var once sync.Once
	release = func() { once.Do(func() { p.give(key, addr) }) }
	r.Body = &doneReader{ReadCloser: r.Body, done: release}
	return release, true
}

func (p *pendingBodies) take(key, addr string) (which string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.perKey > 0 && p.keys[key] >= p.perKey {
		return "Your API key", false
	}
	if p.perAddr > 0 && p.addrs[addr] >= p.perAddr {
		return "Your address", false
	}
	p.keys[key]++
	p.addrs[addr]++
	return "", true
}

func (p *pendingBodies) bound(which string) int {
	if which == "Your API key" {
		return p.perKey
	}
	return p.perAddr
}

func (p *pendingBodies) give(key, addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys[key]--; p.keys[key] <= 0 {
		delete(p.keys, key)
	}
	if p.addrs[addr]--; p.addrs[addr] <= 0 {
		delete(p.addrs, addr)
	}
}

// doneReader calls done once its body has been read to its end or failed.
type doneReader struct {
	io.ReadCloser
	done func()
}

func (d *doneReader) Read(b []byte) (int, error) {
	n, err := d.ReadCloser.Read(b)
	if err != nil {
		d.done()
	}
	return n, err
}
