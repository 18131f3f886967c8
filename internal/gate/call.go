package gate

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// Converse makes a Converse call with in (built for the route's model with
// the grant's output cap) and settles it with the usage Bedrock reports;
// a failed call is settled at nothing, since Bedrock bills none, unless the
// gate gave up on it at the upstream timeout (an estimate: failedUsage).
func (x *Exchange) Converse(ctx context.Context, in *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseOutput, error) {
	if x.ticket == nil {
		return nil, x.outOfOrder("Converse")
	}
	cctx, cancel := x.attemptContext(ctx)
	out, err := x.g.c.Bedrock.Converse(cctx, in)
	for err != nil && x.fallback(ctx, cctx, err) {
		cancel()
		in = x.retarget(in)
		cctx, cancel = x.attemptContext(ctx)
		out, err = x.g.c.Bedrock.Converse(cctx, in)
	}
	defer cancel()
	if err != nil {
		x.settle(ctx, x.failedUsage(cctx))
		return nil, x.note(err)
	}
	x.settle(ctx, usageOf(out.Usage))
	return out, nil
}

func usageOf(u *types.TokenUsage) Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{Input: int64(deref(u.InputTokens)), Output: int64(deref(u.OutputTokens)),
		CacheRead: int64(deref(u.CacheReadInputTokens)), CacheWrite: int64(deref(u.CacheWriteInputTokens))}
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// Sink receives a ConverseStream's events for one client: a front end
// encodes each in its protocol and sends it. The gate reads the usage from
// the events itself, so what a sink does with them cannot change the bill.
type Sink interface {
	// Open is called once the stream started, before the first event: the
	// front end sends its response head. When the call fails before it,
	// ConverseStream returns the error and Open is never called.
	Open()
	// Event encodes and sends one event. An error means the client is
	// gone: no more events are sent, and the stream is read on (for at most
	// the drain timeout) for its usage.
	Event(ev types.ConverseStreamOutput) error
}

// ConverseStream makes a ConverseStream call with in and relays its events
// to sink until the stream ends, then settles it: with the usage Bedrock
// reported; at nothing when it failed before any output (unless the gate
// gave up at the upstream timeout: failedUsage); else with an
// estimate (the stream broke, or the drain timeout passed, before the
// usage came). ctx is the client's: when it is done, or an Event fails,
// the client is taken as gone.
//
// The error is the call's failure, before the stream started (Open was not
// called) or during it; nil when the stream ended without an error, which
// does not mean it was complete: a dropped connection ends a stream
// cleanly, and the front end's translator tells whether it saw its end.
func (x *Exchange) ConverseStream(ctx context.Context, in *bedrockruntime.ConverseInput, sink Sink) error {
	if x.ticket == nil {
		return x.outOfOrder("ConverseStream")
	}
	cctx, cancel := x.attemptContext(ctx)
	stream, err := x.g.c.Bedrock.ConverseStream(cctx, in)
	for err != nil && x.fallback(ctx, cctx, err) { // before the stream started: nothing was sent
		cancel()
		in = x.retarget(in)
		cctx, cancel = x.attemptContext(ctx)
		stream, err = x.g.c.Bedrock.ConverseStream(cctx, in)
	}
	defer cancel()
	if err != nil {
		x.settle(ctx, x.failedUsage(cctx)) // nothing, unless the gate gave up waiting
		return x.note(err)
	}
	defer stream.Close()
	sink.Open()
	var meter streamMeter
	err = relay(x, ctx, stream, meter.read, sink.Event)
	x.settleStream(ctx, cctx, &meter, err)
	if err != nil {
		return x.note(upstream.MapError(err))
	}
	return nil
}

// settleStream settles a ConverseStream call once its stream ended with err
// (the SDK's own): with the usage Bedrock reported; at nothing when it
// failed before any output, unless abandoned (failedUsage); else with an
// estimate.
func (x *Exchange) settleStream(ctx, cctx context.Context, meter *streamMeter, err error) {
	switch {
	case meter.reported:
		x.settle(ctx, meter.usage)
	case meter.outputBytes == 0 && err != nil:
		x.settle(ctx, x.failedUsage(cctx))
	default:
		x.settle(ctx, x.estimate(meter.outputBytes))
	}
}

// streamMeter reads what a stream costs off its events: Bedrock's usage
// from the metadata event, and the bytes of output so far for an estimate
// when that never comes.
type streamMeter struct {
	usage       Usage
	reported    bool
	stopped     bool
	toolBlocks  map[int32]bool
	outputBytes int
}

// read adds ev and returns the bytes of output so far.
func (m *streamMeter) read(ev types.ConverseStreamOutput) int {
	m.add(ev)
	return m.outputBytes
}

func (m *streamMeter) add(ev types.ConverseStreamOutput) {
	switch ev := ev.(type) {
	case *types.ConverseStreamOutputMemberContentBlockStart:
		if tu, ok := ev.Value.Start.(*types.ContentBlockStartMemberToolUse); ok && !m.stopped {
			if m.toolBlocks == nil {
				m.toolBlocks = make(map[int32]bool, 2)
			}
			m.toolBlocks[deref(ev.Value.ContentBlockIndex)] = true
			m.outputBytes += len(str(tu.Value.Name))
		}
	case *types.ConverseStreamOutputMemberContentBlockDelta:
		if m.stopped {
			return
		}
		switch d := ev.Value.Delta.(type) {
		case *types.ContentBlockDeltaMemberText:
			m.outputBytes += len(d.Value)
		case *types.ContentBlockDeltaMemberToolUse:
			if m.toolBlocks[deref(ev.Value.ContentBlockIndex)] {
				m.outputBytes += len(str(d.Value.Input))
			}
		case *types.ContentBlockDeltaMemberReasoningContent:
			if t, ok := d.Value.(*types.ReasoningContentBlockDeltaMemberText); ok {
				m.outputBytes += len(t.Value)
			}
		}
	case *types.ConverseStreamOutputMemberMessageStop:
		m.stopped = true
	case *types.ConverseStreamOutputMemberMetadata:
		if !m.reported {
			m.reported = true
			m.usage = usageOf(ev.Value.Usage)
		}
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Invocation is one InvokeModel call: a raw model body (an embeddings
// batch, an Anthropic Messages body passed through), with the texts it
// sends, for an estimate when Bedrock counts nothing.
type Invocation struct {
	Body  []byte
	Texts []string
}

// ReadUsage reads call i's answer for its usage; headerTokens are the input
// tokens Bedrock reported in its response header (0 when none). A zero
// Usage means the answer counts nothing: the call's input is estimated from
// its texts. An error fails the request.
type ReadUsage func(i int, out []byte, headerTokens int) (Usage, error)

// InvokeConcurrency bounds the InvokeModel calls one request has in flight:
// a request of 2048 texts to a model that reads one per call must not open
// 2048 connections, nor take 2048 round trips one after the other.
const InvokeConcurrency = 8

// Invoke makes the calls to the route's model, at most InvokeConcurrency at
// a time, reads each answer with read, and settles what Bedrock billed,
// failed request or not: the usage of every call that succeeded. Once a
// call fails no new call starts, since the request has failed; calls in
// flight finish, so that what Bedrock bills is known. metadata, when not
// empty, is the request metadata Bedrock's invocation logs keep. The error
// is the first failed call's.
func (x *Exchange) Invoke(ctx context.Context, calls []Invocation, metadata map[string]string, read ReadUsage) error {
	if x.ticket == nil {
		return x.outOfOrder("Invoke")
	}
	cctx, cancel := x.callContext(ctx)
	defer cancel()
	results := make([]invokeResult, len(calls))
	one := func(i int) {
		out, headerTokens, err := x.g.c.Bedrock.InvokeModel(cctx, x.route.ModelID, calls[i].Body, metadata)
		if err == nil {
			results[i].usage, err = read(i, out, headerTokens)
		}
		results[i].err = err
	}
	if len(calls) == 1 {
		one(0)
	} else {
		invokeAll(len(calls), one, results)
	}
	var u Usage
	var failure error
	for i, r := range results {
		if r.err != nil {
			if failure == nil && r.err != errSkipped {
				failure = r.err
			}
			continue
		}
		if r.usage == (Usage{}) {
			texts := calls[i].Texts
			est := x.g.c.Budget.Estimate(budget.Request{Route: *x.route, Texts: func() []string { return texts }}, 0)
			r.usage.Input, r.usage.Estimated = est.Input, true
		}
		u.Input += r.usage.Input
		u.Output += r.usage.Output
		u.CacheRead += r.usage.CacheRead
		u.CacheWrite += r.usage.CacheWrite
		u.Estimated = u.Estimated || r.usage.Estimated
	}
	x.settle(ctx, u)
	return x.note(failure)
}

type invokeResult struct {
	usage Usage
	err   error // errSkipped: not made
}

// invokeAll runs one(i) for i in [0, n), at most InvokeConcurrency at a
// time, starting no new call once one failed.
func invokeAll(n int, one func(i int), results []invokeResult) {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed bool
	)
	sem := make(chan struct{}, InvokeConcurrency)
	for i := range n {
		sem <- struct{}{}
		mu.Lock()
		stop := failed
		mu.Unlock()
		if stop {
			<-sem
			results[i] = invokeResult{err: errSkipped}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			one(i)
			if results[i].err != nil {
				mu.Lock()
				failed = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// errSkipped marks a call not made because an earlier one failed; the
// failed call's error is the one reported.
var errSkipped = errors.New("gate: call skipped after an earlier failure")
