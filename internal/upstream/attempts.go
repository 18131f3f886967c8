package upstream

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
)

type singleAttemptKey struct{}

// SingleAttempt returns a context under which a Bedrock call is tried once,
// without the SDK's retries: a fallback chain moves on to its next model
// instead, so that each model of the chain is called at most once per
// request.
func SingleAttempt(ctx context.Context) context.Context {
	return context.WithValue(ctx, singleAttemptKey{}, true)
}

// errSingleAttempt stops the SDK's retries; the call's error is the
// attempt's own, joined with this one.
var errSingleAttempt = errors.New("upstream: a single attempt: the fallback chain decides what comes next")

// attemptsByContext is the configured retryer, which retries no call made
// under SingleAttempt.
type attemptsByContext struct {
	aws.RetryerV2
}

// GetRetryToken implements [aws.Retryer.GetRetryToken].
func (r attemptsByContext) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	if single, _ := ctx.Value(singleAttemptKey{}).(bool); single {
		return nil, errSingleAttempt
	}
	return r.RetryerV2.GetRetryToken(ctx, opErr)
}
