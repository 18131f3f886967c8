package gate

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

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
		return nil, x.note(errNoPassthrough)
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
		return x.note(errNoPassthrough)
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
		x.settle(ctx, x.failedUsage(cctx)) // nothing, unless the gate gave up waiting
		return x.note(err)
	}
	defer stream.Close()
	sink.Open()
	err = relay(x, ctx, stream, readChunk(meter), func(ev types.ResponseStream) error {
		if c, ok := ev.(*types.ResponseStreamMemberChunk); ok {
			return sink.Chunk(c.Value.Bytes)
		}
		return nil
	})
	x.settleChunks(ctx, cctx, meter, err)
	if err != nil {
		return x.note(upstream.MapError(err))
	}
	return nil
}

// CountTokens returns the input tokens Bedrock counts for an InvokeModel
// body on modelID (a foundation model id), for a routed exchange: the key
// may use the model. Counting is free: nothing is admitted or settled.
func (x *Exchange) CountTokens(ctx context.Context, modelID string, body []byte) (int, error) {
	counter, ok := x.g.c.Bedrock.(TokenCounter)
	return x.count(ctx, "CountTokens", ok, func(cctx context.Context) (int, error) {
		return counter.CountTokens(cctx, modelID, body)
	})
}

// count makes a free counting call (CountTokens, CountTokensRaw) for a
// routed exchange, with the call's timeout; ok is whether the Bedrock
// client can make it.
func (x *Exchange) count(ctx context.Context, step string, ok bool, call func(cctx context.Context) (int, error)) (int, error) {
	if x.route == nil {
		return 0, x.outOfOrder(step)
	}
	if !ok {
		return 0, x.note(errNoPassthrough)
	}
	cctx, cancel := x.callContext(ctx)
	defer cancel()
	n, err := call(cctx)
	return n, x.note(err)
}
