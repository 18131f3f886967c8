// Package api is Tollgate's HTTP layer and its OpenAI front end: routes,
// authentication, request decoding, the OpenAI error envelope and
// streaming. The life of a model call (route, admit, call, settle, meter)
// is package gate's; translation lives in package converse, decisions in
// package policy, Bedrock calls in package upstream.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/fetch"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/metering"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/tokens"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// DefaultMaxBodyBytes bounds a request body: Bedrock takes up to 20 images of
// 3.75 MB each in one Converse call, base64 makes them a third larger.
const DefaultMaxBodyBytes = 100 << 20

// Bedrock is what the model calls need from the Bedrock client
// ([upstream.Client] implements it). Errors are *tollgate.Error.
type Bedrock = gate.Bedrock

// Catalog lists the models clients may call ([upstream.Catalog] implements it).
type Catalog interface {
	Models(ctx context.Context) ([]upstream.Model, error)
	Lookup(ctx context.Context, id string) (upstream.Model, bool, error)
}

// Timeouts of a model call, defaults for Deps.
const (
	// DefaultUpstreamTimeout bounds one Bedrock call, streams included:
	// long generations of the largest models take minutes.
	DefaultUpstreamTimeout = gate.DefaultUpstreamTimeout
	// DefaultDrainTimeout bounds how long a stream whose client left is
	// still read for its usage.
	DefaultDrainTimeout = gate.DefaultDrainTimeout
	// DefaultBodyReadTimeout bounds how long a request body may take to
	// arrive.
	DefaultBodyReadTimeout = time.Minute
	// DefaultStreamWriteTimeout bounds one write of a stream to a client
	// that stopped reading; past it the client is taken as gone.
	DefaultStreamWriteTimeout = 30 * time.Second
	// DefaultMaxConcurrent bounds the model requests served at once.
	DefaultMaxConcurrent = 1024
	// DefaultMaxPendingPerKey bounds the requests of one key whose body
	// is still arriving: generous, since a client uploading large bodies
	// in parallel has many arriving at once (past it, a 429 its SDK
	// retries).
	DefaultMaxPendingPerKey = 128
	// DefaultMaxPendingPerAddr bounds the requests from one client address
	// whose body is still arriving.
	DefaultMaxPendingPerAddr = 512
)

// Deps are the server's collaborators. Logger, Policies, Bedrock, Catalog
// and Budget are required; zero values of the others take defaults.
type Deps struct {
	Logger          *slog.Logger
	Policies        *policy.Holder
	Bedrock         Bedrock
	Catalog         Catalog
	Budget          *budget.Guard
	Meter           *metering.Meter  // nil: no metering
	Images          *fetch.Fetcher   // fetches image URLs; nil: image URLs are refused
	Tokens          *tokens.Counter  // decodes token inputs; nil: one of its own
	Now             func() time.Time // nil means time.Now
	MaxBodyBytes    int64            // 0 means DefaultMaxBodyBytes
	UpstreamTimeout time.Duration
	DrainTimeout    time.Duration
	BodyReadTimeout time.Duration
	// StreamWriteTimeout bounds each write of a stream.
	StreamWriteTimeout time.Duration
	// MaxConcurrent bounds the model requests (chat, embeddings) in flight
	// once their body has arrived and their call is admitted; past it
	// requests get 429 with retry-after. Negative: no bound.
	MaxConcurrent int
	// MaxPendingPerKey and MaxPendingPerAddr bound the requests of one key,
	// and from one client address (the connection's, never a header's),
	// whose body is still arriving; past them, 429 at once. 0 takes the
	// default; negative: no bound.
	MaxPendingPerKey, MaxPendingPerAddr int

	pending *pendingBodies // the count behind MaxPending*, shared by every route

	// ThinkTags shows model reasoning in content between <think> and
	// </think> instead of reasoning_content, for UIs that expect it.
	ThinkTags bool
	// Region is the AWS region Bedrock is called in: the Messages API maps
	// Anthropic's model names to the inference profiles of its geography.
	Region string
	// OriginSecrets, when set, are the values of OriginHeader a request
	// must carry (ParseOriginSecrets): only the front door reaches the API.
	OriginSecrets []string
	// CORSOrigins are the origins (ParseCORSOrigins' patterns) whose
	// browser pages may call the API; none: no CORS headers.
	CORSOrigins []string
}

// NewServer returns the gateway's public HTTP handler.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if d.UpstreamTimeout <= 0 {
		d.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if d.DrainTimeout <= 0 {
		d.DrainTimeout = DefaultDrainTimeout
	}
	if d.BodyReadTimeout <= 0 {
		d.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if d.StreamWriteTimeout <= 0 {
		d.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	if d.MaxConcurrent == 0 {
		d.MaxConcurrent = DefaultMaxConcurrent
	}
	if d.MaxPendingPerKey == 0 {
		d.MaxPendingPerKey = DefaultMaxPendingPerKey
	}
	if d.MaxPendingPerAddr == 0 {
		d.MaxPendingPerAddr = DefaultMaxPendingPerAddr
	}
	if d.Tokens == nil {
		d.Tokens = &tokens.Counter{}
	}
	d.pending = newPendingBodies(d.MaxPendingPerKey, d.MaxPendingPerAddr)
	gin.SetMode(gin.ReleaseMode) // gin keeps its mode globally; release mode only silences its debug output
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.ContextWithFallback = true // c.Done() and c.Err() follow the request's context
	var meter gate.Meter
	if d.Meter != nil {
		meter = d.Meter // a nil *metering.Meter must stay a nil interface
	}
	g := gate.New(gate.Config{Bedrock: d.Bedrock, Catalog: d.Catalog, Budget: d.Budget, Policies: d.Policies, Meter: meter, Logger: d.Logger,
		Now: d.Now, UpstreamTimeout: d.UpstreamTimeout, DrainTimeout: d.DrainTimeout, MaxConcurrent: max(d.MaxConcurrent, 0)})
	addRoutes(r, d, g)
	return r
}
