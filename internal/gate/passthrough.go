package gate

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// This file holds the calls of Bedrock's own API as a client protocol: the
// client's body goes to Bedrock as it came (with the output cap Admit
// granted), and Bedrock's answer, or each frame of its event stream, comes
// back as it came. Money is handled as for every call: on a context of its
// own, settled once from Bedrock's usage, also when the client leaves.

// Passthrough is what Bedrock's own API needs of the Bedrock client
// ([upstream.Client] implements it). Errors are *tollgate.Error.
type Passthrough interface {
	ConverseRaw(ctx context.Context, modelID string, body []byte) ([]byte, *bedrockruntime.ConverseOutput, error)
	ConverseStreamRaw(ctx context.Context, modelID string, body []byte) (*bedrockruntime.ConverseStreamEventStream, *upstream.Frames, error)
	InvokeRaw(ctx context.Context, in *upstream.Invocation) (upstream.Answer, error)
	InvokeStreamRaw(ctx context.Context, in *upstream.Invocation) (*bedrockruntime.InvokeModelWithResponseStreamEventStream, *upstream.Frames, error)
	CountTokensRaw(ctx context.Context, modelID string, body []byte) (int, error)
}

var _ Passthrough = (*upstream.Client)(nil)

// FrameSink receives the frames of an event stream for one client, as
// Bedrock sent them.
type FrameSink interface {
	// Open is called once the stream started, before the first frame.
	// When the call fails before it, the call returns the error and Open
	// is never called.
	Open()
	// Frame sends one frame. An error means the client is gone: no more
	// frames are sent, and the stream is read on (for at most the drain
	// timeout) for its usage.
	Frame(b []byte) error
}

// errNoPassthrough is the error of a Bedrock client that cannot pass
// bodies through.
var errNoPassthrough = &tollgate.Error{Kind: tollgate.Internal, Message: "The server had an error while processing your request."}

func (x *Exchange) passthrough(step string) (Passthrough, error) {
	if x.ticket == nil {
		return nil, x.outOfOrder(step)
	}
	p, ok := x.g.c.Bedrock.(Passthrough)
	if !ok {
		x.settle(context.Background(), Usage{})
		return nil, x.note(errNoPassthrough)
	}
	return p, nil
}

// ConverseRaw makes a Converse call with body, the client's Converse
// request, and returns Bedrock's answer as it came; it settles as Converse
// does.
func (x *Exchange) ConverseRaw(ctx context.Context, body []byte) ([]byte, error) {
	p, err := x.passthrough("ConverseRaw")
	if err != nil {
		return nil, err
	}
	cctx, cancel := x.attemptContext(ctx)
	answer, out, err := p.ConverseRaw(cctx, x.route.ModelID, body)
	for err != nil && x.fallback(ctx, cctx, err) {
		cancel()
		cctx, cancel = x.attemptContext(ctx)
		answer, out, err = p.ConverseRaw(cctx, x.route.ModelID, body)
	}
	defer cancel()
	if err != nil {
		x.settle(ctx, x.failedUsage(cctx))
		return nil, x.note(err)
	}
	x.settle(ctx, usageOf(out.Usage))
	return answer, nil
}

// ConverseStreamRaw makes a ConverseStream call with body and relays
// Bedrock's frames to sink as they came, then settles as ConverseStream
// does. After an exception event the exception's frame is relayed too.
// The error is the call's failure, before the stream started (Open was not
// called) or during it; nil when the stream ended without an error, which
// does not mean it was complete: the settlement says whether the usage was
// estimated.
func (x *Exchange) ConverseStreamRaw(ctx context.Context, body []byte, sink FrameSink) error {
	p, err := x.passthrough("ConverseStreamRaw")
	if err != nil {
		return err
	}
	cctx, cancel := x.attemptContext(ctx)
	stream, frames, err := p.ConverseStreamRaw(cctx, x.route.ModelID, body)
	for err != nil && x.fallback(ctx, cctx, err) { // before the stream started
		cancel()
		cctx, cancel = x.attemptContext(ctx)
		stream, frames, err = p.ConverseStreamRaw(cctx, x.route.ModelID, body)
	}
	defer cancel()
	if err != nil {
		x.settle(ctx, x.failedUsage(cctx))
		return x.note(err)
	}
	defer stream.Close()
	sink.Open()
	var meter streamMeter
	out := frameRelay{frames: frames, sink: sink}
	err = relay(x, ctx, stream, meter.read, func(types.ConverseStreamOutput) error { return out.one() })
	x.settleStream(ctx, cctx, &meter, err)
	out.finish() // settled first: a client that stops at the exception sees its spend
	if err != nil {
		return x.note(upstream.MapError(err))
	}
	return nil
}

// InvokeRaw makes an InvokeModel call to the route's model and returns
// Bedrock's answer as it came. It settles with the token counts of
// Bedrock's headers, or else with what read finds in the answer (nil: an
// estimate of the input), or at nothing when the call failed.
func (x *Exchange) InvokeRaw(ctx context.Context, in *upstream.Invocation, read func(answer []byte) (Usage, bool)) (upstream.Answer, error) {
	p, err := x.passthrough("InvokeRaw")
	if err != nil {
		return upstream.Answer{}, err
	}
	cctx, cancel := x.attemptContext(ctx)
	in.ModelID = x.route.ModelID
	a, err := p.InvokeRaw(cctx, in)
	for err != nil && x.fallback(ctx, cctx, err) {
		cancel()
		cctx, cancel = x.attemptContext(ctx)
		in.ModelID = x.route.ModelID
		a, err = p.InvokeRaw(cctx, in)
	}
	defer cancel()
	if err != nil {
		x.settle(ctx, x.failedUsage(cctx))
		return a, x.note(err)
	}
	t := a.Tokens
	u := Usage{Input: int64(t.Input), Output: int64(t.Output), CacheRead: int64(t.CacheRead), CacheWrite: int64(t.CacheWrite)}
	if !t.Reported {
		var ok bool
		if read != nil {
			u, ok = read(a.Body)
		}
		if !ok {
			u = x.estimate(len(a.Body))
		}
	}
	x.settle(ctx, u)
	return a, nil
}

// InvokeStreamRaw makes an InvokeModelWithResponseStream call to the
// route's model, relays Bedrock's frames to sink as they came, reads each
// chunk with meter, and settles as ConverseStreamRaw does.
func (x *Exchange) InvokeStreamRaw(ctx context.Context, in *upstream.Invocation, meter ChunkMeter, sink FrameSink) error {
	p, err := x.passthrough("InvokeStreamRaw")
	if err != nil {
		return err
	}
	cctx, cancel := x.attemptContext(ctx)
	in.ModelID = x.route.ModelID
	stream, frames, err := p.InvokeStreamRaw(cctx, in)
	for err != nil && x.fallback(ctx, cctx, err) { // before the stream started
		cancel()
		cctx, cancel = x.attemptContext(ctx)
		in.ModelID = x.route.ModelID
		stream, frames, err = p.InvokeStreamRaw(cctx, in)
	}
	defer cancel()
	if err != nil {
		x.settle(ctx, x.failedUsage(cctx))
		return x.note(err)
	}
	defer stream.Close()
	sink.Open()
	out := frameRelay{frames: frames, sink: sink}
	err = relay(x, ctx, stream, func(ev types.ResponseStream) int {
		if c, ok := ev.(*types.ResponseStreamMemberChunk); ok {
			meter.Add(c.Value.Bytes)
		}
		return meter.OutputBytes()
	}, func(types.ResponseStream) error { return out.one() })
	u, reported := meter.Usage()
	switch {
	case reported:
		x.settle(ctx, u)
	case meter.OutputBytes() == 0 && err != nil:
		x.settle(ctx, x.failedUsage(cctx))
	default:
		est := x.estimate(meter.OutputBytes())
		if u.Input > 0 { // the input the model reported at the start beats the estimate
			est.Input, est.CacheRead, est.CacheWrite = u.Input, u.CacheRead, u.CacheWrite
		}
		x.settle(ctx, est)
	}
	out.finish() // settled first: a client that stops at the exception sees its spend
	if err != nil {
		return x.note(upstream.MapError(err))
	}
	return nil
}

// CountTokensRaw counts the input tokens of body, a CountTokens request,
// on modelID (the foundation model behind the route's). The exchange must
// be routed: the key may use the model. Counting is free: nothing is
// admitted or settled.
func (x *Exchange) CountTokensRaw(ctx context.Context, modelID string, body []byte) (int, error) {
	if x.route == nil {
		return 0, x.outOfOrder("CountTokensRaw")
	}
	p, ok := x.g.c.Bedrock.(Passthrough)
	if !ok {
		return 0, x.note(errNoPassthrough)
	}
	cctx, cancel := x.callContext(ctx)
	defer cancel()
	n, err := p.CountTokensRaw(cctx, modelID, body)
	return n, x.note(err)
}

// frameRelay sends a stream's frames to the client as the events they
// carry arrive.
type frameRelay struct {
	frames *upstream.Frames
	sink   FrameSink
	gone   bool
}

// one sends the frame of the event just read: each event comes from one
// frame, in order, and its frame is read before the event is decoded.
func (r *frameRelay) one() error {
	if r.gone {
		return nil
	}
	b, ok := r.frames.Next()
	if !ok {
		return nil
	}
	if err := r.sink.Frame(b); err != nil {
		r.gone = true
		return err
	}
	return nil
}

// finish sends what came after the last event: an exception's frame.
func (r *frameRelay) finish() {
	for !r.gone {
		b, ok := r.frames.Next()
		if !ok {
			return
		}
		if r.sink.Frame(b) != nil {
			r.gone = true
		}
	}
}

// eventStream is an SDK event stream of events T.
type eventStream[T any] interface {
	Events() <-chan T
	Close() error
	Err() error
}

// relay reads stream to its end (for ConverseStream and the passthrough
// streams alike), calling meter on every event (it returns the bytes of
// output so far) and send with each event the client still gets. When ctx is done or send fails, the client is taken as gone: the
// stream is read on for at most the drain timeout. It returns the stream's
// error, the SDK's own.
func relay[T any](x *Exchange, ctx context.Context, stream eventStream[T], meter func(T) int, send func(T) error) error {
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
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return stream.Err()
			}
			outputBytes := meter(ev)
			if gone {
				continue
			}
			if err := send(ev); err != nil {
				leave()
				continue
			}
			if first && outputBytes > 0 {
				first = false
				x.mu.Lock()
				x.ttft = time.Since(x.caller.Start)
				x.mu.Unlock()
			}
		case <-clientDone:
			leave()
		case <-drain:
			drain = nil
			stream.Close() // the usage never came: stop reading, estimate after
		}
	}
}
