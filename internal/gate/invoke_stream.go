package gate

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// This file holds the calls of front ends that pass a model's own body
// through (Anthropic's Messages API on Claude): a raw InvokeModel stream,
// and CountTokens.

// BodyInvoker calls a model with its own body, through a guardrail
// ([upstream.Client] implements it). A Bedrock client without it cannot
// serve the front ends that pass bodies through.
type BodyInvoker interface {
	InvokeMessage(ctx context.Context, modelID string, body []byte, g upstream.Guardrail, metadata map[string]string) ([]byte, error)
	InvokeModelStream(ctx context.Context, modelID string, body []byte, g upstream.Guardrail) (*bedrockruntime.InvokeModelWithResponseStreamEventStream, error)
}

// guardrail is the route's guardrail in the Bedrock client's terms: the
// gate applies it, so that no front end can forget it.
func (x *Exchange) guardrail() upstream.Guardrail {
	if g := x.route.Guardrail; g != nil {
		return upstream.Guardrail{ID: g.ID, Version: g.Version, Trace: g.Trace}
	}
	return upstream.Guardrail{}
}

// InvokeBody makes one InvokeModel call to the route's model with body
// (built with the grant's output cap), through the route's guardrail, and
// settles it with the usage read finds in the answer; a failed call is
// settled at nothing. An answer read cannot price is settled at an
// estimate, since Bedrock billed it, and fails the request.
func (x *Exchange) InvokeBody(ctx context.Context, body []byte, metadata map[string]string, read func(answer []byte) (Usage, error)) ([]byte, error) {
	if x.ticket == nil {
		return nil, x.outOfOrder("InvokeBody")
	}
	invoker, ok := x.g.c.Bedrock.(BodyInvoker)
	if !ok {
		x.settle(ctx, Usage{})
		return nil, x.note(errNoStreams)
	}
	cctx, cancel := x.attemptContext(ctx)
	out, err := invoker.InvokeMessage(cctx, x.route.ModelID, body, x.guardrail(), metadata)
	for err != nil && x.fallback(ctx, cctx, err) {
		cancel()
		cctx, cancel = x.attemptContext(ctx)
		out, err = invoker.InvokeMessage(cctx, x.route.ModelID, body, x.guardrail(), metadata)
	}
	defer cancel()
	if err != nil {
		x.settle(ctx, Usage{})
		return nil, x.note(err)
	}
	u, err := read(out)
	if err != nil {
		x.settle(ctx, x.estimate(len(out)))
		return nil, x.note(err)
	}
	x.settle(ctx, u)
	return out, nil
}

// TokenCounter counts the input tokens of an InvokeModel body
// ([upstream.Client] implements it).
type TokenCounter interface {
	CountTokens(ctx context.Context, modelID string, body []byte) (int, error)
}

// ChunkMeter reads the chunks of a raw stream for what the call costs: the
// front end's reader of its model's events. The gate feeds it every chunk,
// also those a client that left never sees, so what the front end sends
// cannot change the bill.
type ChunkMeter interface {
	Add(chunk []byte)
	// Usage returns the usage so far, and whether Bedrock reported it in
	// full.
	Usage() (u Usage, reported bool)
	// OutputBytes is what the model generated so far, for an estimate.
	OutputBytes() int
}

// ChunkSink receives a raw stream's chunks for one client.
type ChunkSink interface {
	// Open is called once the stream started, before the first chunk.
	// When the call fails before it, InvokeStream returns the error and
	// Open is never called.
	Open()
	// Chunk encodes and sends one chunk. An error means the client is gone:
	// no more chunks are sent, and the stream is read on (for at most the
	// drain timeout) for its usage.
	Chunk(b []byte) error
}

// errNoStreams is the error of a Bedrock client that cannot pass bodies
// through.
var errNoStreams = &tollgate.Error{Kind: tollgate.Internal, Message: "The server had an error while processing your request."}

// InvokeStream makes an InvokeModelWithResponseStream call to the route's
// model with body (built with the grant's output cap), through the route's
// guardrail, relays its chunks to
// sink and settles it as ConverseStream does: with the usage meter read,
// at nothing when it failed before any output, else with an estimate.
// ctx is the client's. The error is the call's failure, before the stream
// started (Open was not called) or during it; nil when the stream ended
// without an error, which does not mean it was complete: the meter tells
// whether it saw the end.
func (x *Exchange) InvokeStream(ctx context.Context, body []byte, meter ChunkMeter, sink ChunkSink) error {
	if x.ticket == nil {
		return x.outOfOrder("InvokeStream")
	}
	invoker, ok := x.g.c.Bedrock.(BodyInvoker)
	if !ok {
		x.settle(ctx, Usage{})
		return x.note(errNoStreams)
	}
	cctx, cancel := x.attemptContext(ctx)
	stream, err := invoker.InvokeModelStream(cctx, x.route.ModelID, body, x.guardrail())
	for err != nil && x.fallback(ctx, cctx, err) { // before the stream started
		cancel()
		cctx, cancel = x.attemptContext(ctx)
		stream, err = invoker.InvokeModelStream(cctx, x.route.ModelID, body, x.guardrail())
	}
	defer cancel()
	if err != nil {
		x.settle(ctx, Usage{}) // Bedrock bills no call that failed to start
		return x.note(err)
	}
	defer stream.Close()
	sink.Open()

	var (
		drain      <-chan time.Time
		gone       bool
		clientDone = ctx.Done()
		first      = true
	)
	leave := func() {
		gone, clientDone = true, nil
		drain = time.After(x.g.c.DrainTimeout)
	}
	events := stream.Events()
loop:
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				break loop
			}
			chunk, isChunk := ev.(*types.ResponseStreamMemberChunk)
			if !isChunk {
				continue
			}
			meter.Add(chunk.Value.Bytes)
			if gone {
				continue
			}
			if err := sink.Chunk(chunk.Value.Bytes); err != nil {
				leave()
				continue
			}
			if first && meter.OutputBytes() > 0 {
				first = false
				x.mu.Lock()
				x.ttft = time.Since(x.caller.Start)
				x.mu.Unlock()
			}
		case <-clientDone:
			leave()
		case <-drain:
			drain = nil
			stream.Close() // the usage never came: stop reading, estimate below
		}
	}

	err = stream.Err()
	u, reported := meter.Usage()
	switch {
	case reported:
		x.settle(ctx, u)
	case meter.OutputBytes() == 0 && err != nil:
		x.settle(ctx, Usage{}) // failed before any output: nothing to bill
	default:
		est := x.estimate(meter.OutputBytes())
		// The input the model reported at the start beats the estimate.
		if u.Input > 0 {
			est.Input, est.CacheRead, est.CacheWrite = u.Input, u.CacheRead, u.CacheWrite
		}
		x.settle(ctx, est)
	}
	if err != nil {
		return x.note(upstream.MapError(err))
	}
	return nil
}

// CountTokens returns the input tokens Bedrock counts for an InvokeModel
// body on modelID (a foundation model id), for a routed exchange: the key
// may use the model. Counting is free: nothing is admitted or settled.
func (x *Exchange) CountTokens(ctx context.Context, modelID string, body []byte) (int, error) {
	if x.route == nil {
		return 0, x.outOfOrder("CountTokens")
	}
	counter, ok := x.g.c.Bedrock.(TokenCounter)
	if !ok {
		return 0, x.note(errNoStreams)
	}
	cctx, cancel := x.callContext(ctx)
	defer cancel()
	n, err := counter.CountTokens(cctx, modelID, body)
	return n, x.note(err)
}
