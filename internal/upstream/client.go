package upstream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
)

// DefaultMaxAttempts is how many times a Bedrock call is tried in all when
// AWS_MAX_ATTEMPTS does not say otherwise. One retry absorbs a passing
// throttle; more would multiply the retries OpenAI clients already make on a
// 429 (they honour retry-after).
const DefaultMaxAttempts = 2

// MaxIdleConns is how many idle connections to Bedrock the gateway keeps.
const MaxIdleConns = 256

// Client calls Bedrock. It is safe for concurrent use.
type Client struct {
	runtime *bedrockruntime.Client
	control *bedrock.Client
}

// NewClient builds the Bedrock runtime and control-plane clients from cfg,
// which comes from the standard AWS configuration chain (so
// AWS_ENDPOINT_URL_BEDROCK_RUNTIME and AWS_ENDPOINT_URL_BEDROCK apply).
// endpoint, when not empty, overrides both endpoints (the built-in simulator).
//
// Retries are configured here, once: the SDK's standard retryer with
// cfg.RetryMaxAttempts (AWS_MAX_ATTEMPTS) or DefaultMaxAttempts, a backoff of
// at most one second, and no client-side retry quota, which would otherwise
// turn a burst of throttles into errors of its own. The gateway adds no
// retries on top. A call made under SingleAttempt (a fallback chain's) is
// tried once.
func NewClient(cfg aws.Config, endpoint string) *Client {
	attempts := cfg.RetryMaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	cfg.Retryer = func() aws.Retryer {
		return attemptsByContext{retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = time.Second
			o.RateLimiter = ratelimit.None
		})}
	}
	cfg.RetryMaxAttempts = 0 // the Retryer above decides
	// The SDK's transport keeps 10 idle connections per host: under more
	// concurrent calls than that the gateway would close and reopen (with a
	// TLS handshake each) a third of its Bedrock connections. A client the
	// SDK built (the default, or one with a custom CA bundle) keeps its
	// settings and gets more idle connections; a client of the user's own
	// is left as it is.
	switch hc := cfg.HTTPClient.(type) {
	case nil:
		cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(moreIdleConns)
	case *awshttp.BuildableClient:
		cfg.HTTPClient = hc.WithTransportOptions(moreIdleConns)
	}
	cfg.HTTPClient = bodyWithoutWriterTo{cfg.HTTPClient}
	var base *string
	if endpoint != "" {
		base = aws.String(endpoint)
	}
	return &Client{
		runtime: bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) {
			if base != nil {
				o.BaseEndpoint = base
			}
		}),
		control: bedrock.NewFromConfig(cfg, func(o *bedrock.Options) {
			if base != nil {
				o.BaseEndpoint = base
			}
		}),
	}
}

// Converse calls the Converse API. Errors are *tollgate.Error.
func (c *Client) Converse(ctx context.Context, in *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseOutput, error) {
	out, err := c.runtime.Converse(ctx, in)
	if err != nil {
		return nil, MapError(err)
	}
	return out, nil
}

// ConverseStream starts a ConverseStream call from a Converse input. Errors
// before the stream starts are *tollgate.Error; the caller must Close the
// returned stream.
func (c *Client) ConverseStream(ctx context.Context, in *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseStreamEventStream, error) {
	out, err := c.runtime.ConverseStream(ctx, StreamInput(in), ownStreamCodec)
	if err != nil {
		return nil, MapError(err)
	}
	return out.GetStream(), nil
}

// bodyWithoutWriterTo works around a race in smithy-go (v1.28): once Do
// returns, smithy closes the request body, whose WriteTo then fails with
// io.EOF; when net/http's writer has not yet made its last call on the body,
// it takes that for a write error and closes the connection, cutting the
// response being read (a stream ends early with "use of closed network
// connection"). Real Bedrock answers too slowly to lose the race, a local
// endpoint does not.
//
// A body of up to inMemoryBody bytes (every ordinary request) is copied into
// a reader of its own, which smithy never closes. net/http also recognises
// it as in memory and sends the headers and the body in one write, where it
// flushes the headers of any other body first: one system call and one TCP
// segment less per request. A larger body keeps smithy's reader with WriteTo
// hidden, so that net/http reads it instead, and a closed body reads as a
// clean end.
type bodyWithoutWriterTo struct {
	client aws.HTTPClient
}

// inMemoryBody bounds the request bodies that bodyWithoutWriterTo copies.
const inMemoryBody = 1 << 20

func (c bodyWithoutWriterTo) Do(r *http.Request) (*http.Response, error) {
	switch {
	case r.Body == nil || r.Body == http.NoBody:
	case r.ContentLength > 0 && r.ContentLength <= inMemoryBody:
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, fmt.Errorf("upstream: read the request body: %w", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	default:
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return c.client.Do(r)
}

func moreIdleConns(t *http.Transport) {
	t.MaxIdleConns = MaxIdleConns
	t.MaxIdleConnsPerHost = MaxIdleConns
}

// ownStreamCodec gives one ConverseStream call a protocol of its own.
// smithy-go v1.28's REST-JSON protocol keeps one event-stream decoder and
// payload buffer per client, shared by every stream that client reads: two
// concurrent streams overwrite each other's event payloads (a data race the
// race detector reports under concurrent streams). A protocol per stream
// costs one small allocation.
func ownStreamCodec(o *bedrockruntime.Options) {
	o.Protocol = restjson1.New(nil)
}
