package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/metering"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// Bedrock is what the gate needs from the Bedrock client
// ([upstream.Client] implements it). Errors are *tollgate.Error.
type Bedrock interface {
	Converse(ctx context.Context, in *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseOutput, error)
	ConverseStream(ctx context.Context, in *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseStreamEventStream, error)
	InvokeModel(ctx context.Context, modelID string, body []byte, metadata map[string]string) (out []byte, inputTokens int, err error)
}

// Catalog tells the foundation model behind an application inference
// profile ([upstream.Catalog] implements it).
type Catalog interface {
	Lookup(ctx context.Context, id string) (upstream.Model, bool, error)
}

// Meter records the metering events ([metering.Meter] implements it).
type Meter interface {
	InFlight() (done func())
	Record(ev metering.Event)
	Rejected(keyID, reason string)
}

// RateLimitMeter is told of each request a rate limit of the policy
// refused: the key, the scope whose window was full ("key" or "team") and
// the kind of limit ("requests", "tokens" or "concurrent")
// ([metering.Meter] implements it; a Meter without it counts none apart
// from Rejected).
type RateLimitMeter interface {
	RateLimited(keyID, scope, limit string)
}

// Defaults of Config.
const (
	// DefaultUpstreamTimeout bounds one Bedrock call, streams included:
	// long generations of the largest models take minutes.
	DefaultUpstreamTimeout = 10 * time.Minute
	// DefaultDrainTimeout bounds how long a stream whose client left is
	// still read for its usage.
	DefaultDrainTimeout = 2 * time.Minute
)

// Config are a Gate's collaborators. Bedrock, Catalog, Budget and Logger
// are required; zero values of the others take defaults.
type Config struct {
	Bedrock Bedrock
	Catalog Catalog
	Budget  *budget.Guard
	// Policies holds the policy in force: an exchange is admitted under it,
	// not under the one its caller authenticated with (Exchange.Admit).
	// nil: the caller's policy.
	Policies *policy.Holder
	Meter    Meter // nil: no metering
	Logger   *slog.Logger
	Now      func() time.Time // nil means time.Now
	// UpstreamTimeout bounds one call to Bedrock (a whole stream).
	UpstreamTimeout time.Duration
	// DrainTimeout bounds how long a stream is read, once its client left,
	// for the usage Bedrock reports at its end.
	DrainTimeout time.Duration
	// MaxConcurrent bounds the admitted calls in flight: an exchange takes
	// its place in Admit, once its request has arrived whole and been
	// routed, and gives it back in Finish. Past it, Admit is a 429
	// too_many_concurrent_requests. 0 or negative: no bound.
	MaxConcurrent int
}

// Gate runs model calls under the policy's guards. It is safe for
// concurrent use.
type Gate struct {
	c     Config
	slots chan struct{} // nil: no bound
}

// New returns a Gate.
func New(c Config) *Gate {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.UpstreamTimeout <= 0 {
		c.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	g := &Gate{c: c}
	if c.MaxConcurrent > 0 {
		g.slots = make(chan struct{}, c.MaxConcurrent)
	}
	return g
}

// acquire takes a place among the calls in flight, or refuses at once: a
// request that waited would hold its reservation and connection meanwhile.
func (g *Gate) acquire() (release func(), err error) {
	if g.slots == nil {
		return func() {}, nil
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	default:
		return nil, &tollgate.Error{Kind: tollgate.RateLimited, Code: "too_many_concurrent_requests", RetryAfter: time.Second,
			Message: fmt.Sprintf("The gateway is serving its limit of %d requests at once. Retry shortly.", cap(g.slots))}
	}
}

// Caller is who makes a request: the key it authenticated with, under the
// policy it keeps to its end whatever reloads happen meanwhile.
type Caller struct {
	Policy    *policy.Policy
	Key       *policy.Key
	RequestID string    // the gateway's request id: the reservation's id, in the metering event
	Start     time.Time // when the request arrived, for latency and time to first token; zero: Open's time
}

// Open begins the exchange of one model request of caller on an endpoint
// ("chat.completions", "embeddings", ...: the metering event's endpoint).
// The exchange must be finished with [Exchange.Finish].
func (g *Gate) Open(caller Caller, endpoint string) *Exchange {
	if caller.Start.IsZero() {
		caller.Start = time.Now()
	}
	x := &Exchange{g: g, caller: caller, endpoint: endpoint}
	if g.c.Meter != nil {
		x.done = g.c.Meter.InFlight()
	}
	return x
}

// baseModel prices an application inference profile, whose ARN names no
// model, through the foundation model Bedrock's catalog lists behind it.
func (g *Gate) baseModel(ctx context.Context) policy.BaseModel {
	return BaseModel(ctx, g.c.Catalog)
}

// BudgetStatus returns the caller's budgets this period, for a front end's
// usage endpoint. A usage store that cannot be read is a 503
// budget_store_unavailable.
func (g *Gate) BudgetStatus(ctx context.Context, caller Caller) (budget.Status, error) {
	st, err := g.c.Budget.Status(ctx, caller.Policy, caller.Key)
	if errors.Is(err, usage.ErrUnavailable) {
		return st, &tollgate.Error{Kind: tollgate.Unavailable, Code: "budget_store_unavailable", RetryAfter: 5 * time.Second,
			Message: "The gateway cannot read the usage store right now. Try again shortly.", Cause: err}
	}
	return st, err
}
