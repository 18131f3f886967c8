package upstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// This file holds the calls of Bedrock's own API as a client protocol
// (/bedrock): the client's body goes to Bedrock as it came, and Bedrock's
// answer, or each frame of its event stream, comes back as it came. The
// SDK still makes the call (the standard credential chain, SigV4, the
// endpoint, the retries of NewClient) and still reads the answer, so that
// the usage is read as for any other call.

// ConverseRaw makes a Converse call on modelID with body, a Converse
// request as Bedrock's REST-JSON API takes it, and returns Bedrock's answer
// as it came, with the SDK's reading of it (for the usage). Errors are
// *tollgate.Error.
func (c *Client) ConverseRaw(ctx context.Context, modelID string, body []byte) ([]byte, *bedrockruntime.ConverseOutput, error) {
	var answer []byte
	out, err := c.runtime.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(modelID)},
		sendBody(body), keepAnswer(&answer))
	if err != nil {
		return nil, nil, MapError(err)
	}
	return answer, out, nil
}

// ConverseStreamRaw starts a ConverseStream call on modelID with body, and
// returns the SDK's event stream and the frames of Bedrock's answer as they
// came: the frame of each event is in frames before the event is on the
// stream. The caller must Close the stream. Errors before the stream
// starts are *tollgate.Error.
func (c *Client) ConverseStreamRaw(ctx context.Context, modelID string, body []byte) (*bedrockruntime.ConverseStreamEventStream, *Frames, error) {
	frames := &Frames{}
	out, err := c.runtime.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(modelID)},
		ownStreamCodec, sendBody(body), tapFrames(frames))
	if err != nil {
		return nil, nil, MapError(err)
	}
	return out.GetStream(), frames, nil
}

// Invocation is an InvokeModel call as a client made it: the model's own
// body and the call's headers.
type Invocation struct {
	ModelID          string
	Body             []byte
	ContentType      string // "" means application/json
	Accept           string // "" means application/json
	Trace            string // ENABLED, DISABLED, ENABLED_FULL; "" for none
	GuardrailID      string
	GuardrailVersion string
	Latency          string // performance config latency: standard, optimized
	ServiceTier      string
}

func (in *Invocation) input() *bedrockruntime.InvokeModelInput {
	return &bedrockruntime.InvokeModelInput{
		ModelId:                  aws.String(in.ModelID),
		Body:                     in.Body,
		ContentType:              aws.String(or(in.ContentType, "application/json")),
		Accept:                   aws.String(or(in.Accept, "application/json")),
		Trace:                    types.Trace(in.Trace),
		GuardrailIdentifier:      opt(in.GuardrailID),
		GuardrailVersion:         opt(in.GuardrailVersion),
		PerformanceConfigLatency: types.PerformanceConfigLatency(in.Latency),
		ServiceTier:              types.ServiceTierType(in.ServiceTier),
	}
}

// Tokens are the token counts Bedrock reports in an InvokeModel answer's
// headers (X-Amzn-Bedrock-Input-Token-Count, -Output-Token-Count,
// -Cache-Read-Input-Token-Count, -Cache-Write-Input-Token-Count).
type Tokens struct {
	Input, Output, CacheRead, CacheWrite int
	Reported                             bool // the input and output counts were there
}

// Answer is Bedrock's answer to an Invocation.
type Answer struct {
	Body        []byte
	ContentType string
	Tokens      Tokens
}

// InvokeRaw makes an InvokeModel call. Errors are *tollgate.Error.
func (c *Client) InvokeRaw(ctx context.Context, in *Invocation) (Answer, error) {
	out, err := c.runtime.InvokeModel(ctx, in.input())
	if err != nil {
		return Answer{}, MapError(err)
	}
	return Answer{Body: out.Body, ContentType: aws.ToString(out.ContentType), Tokens: tokensOf(out.ResultMetadata)}, nil
}

// InvokeStreamRaw starts an InvokeModelWithResponseStream call, and returns
// the SDK's event stream and the frames of Bedrock's answer as they came,
// as ConverseStreamRaw does. The caller must Close the stream.
func (c *Client) InvokeStreamRaw(ctx context.Context, in *Invocation) (*bedrockruntime.InvokeModelWithResponseStreamEventStream, *Frames, error) {
	i := in.input()
	frames := &Frames{}
	out, err := c.runtime.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: i.ModelId, Body: i.Body, ContentType: i.ContentType, Accept: i.Accept, Trace: i.Trace,
		GuardrailIdentifier: i.GuardrailIdentifier, GuardrailVersion: i.GuardrailVersion,
		PerformanceConfigLatency: i.PerformanceConfigLatency, ServiceTier: i.ServiceTier,
	}, ownStreamCodec, tapFrames(frames))
	if err != nil {
		return nil, nil, MapError(err)
	}
	return out.GetStream(), frames, nil
}

// CountTokensRaw counts the input tokens of body, a CountTokens request as
// Bedrock's REST-JSON API takes it, on modelID (a foundation model id).
// Counting is free. Errors are *tollgate.Error.
func (c *Client) CountTokensRaw(ctx context.Context, modelID string, body []byte) (int, error) {
	out, err := c.runtime.CountTokens(ctx, &bedrockruntime.CountTokensInput{
		ModelId: aws.String(modelID),
		// The SDK checks its input before sendBody replaces it.
		Input: &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: []byte("{}")}},
	}, sendBody(body))
	if err != nil {
		return 0, MapError(err)
	}
	return int(aws.ToInt32(out.InputTokens)), nil
}

// sendBody makes a call send body instead of what the SDK serialized.
func sendBody(body []byte) func(*bedrockruntime.Options) {
	return func(o *bedrockruntime.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Serialize.Insert(middleware.SerializeMiddlewareFunc("TollgateSendBody",
				func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
					if req, ok := in.Request.(*smithyhttp.Request); ok {
						r, err := req.SetStream(bytes.NewReader(body))
						if err != nil {
							return middleware.SerializeOutput{}, middleware.Metadata{}, err
						}
						in.Request = r
					}
					return next.HandleSerialize(ctx, in)
				}), "OperationSerializer", middleware.After)
		})
	}
}

// onAnswer runs f on the raw response of a successful attempt, before the
// SDK reads it.
func onAnswer(f func(*smithyhttp.Response) error) func(*bedrockruntime.Options) {
	return func(o *bedrockruntime.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Deserialize.Add(middleware.DeserializeMiddlewareFunc("TollgateOnAnswer",
				func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleDeserialize(ctx, in)
					if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && err == nil && resp.StatusCode/100 == 2 {
						err = f(resp)
					}
					return out, md, err
				}), middleware.After)
		})
	}
}

// keepAnswer keeps the body of Bedrock's answer in *dst, and gives the SDK
// a copy to read.
func keepAnswer(dst *[]byte) func(*bedrockruntime.Options) {
	return onAnswer(func(resp *smithyhttp.Response) error {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		*dst = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return nil
	})
}

// tapFrames copies each frame of an event stream into frames as the SDK
// reads it.
func tapFrames(frames *Frames) func(*bedrockruntime.Options) {
	return onAnswer(func(resp *smithyhttp.Response) error {
		resp.Body = tap{ReadCloser: resp.Body, frames: frames}
		return nil
	})
}

type tap struct {
	io.ReadCloser
	frames *Frames
}

func (t tap) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		t.frames.write(p[:n])
	}
	return n, err
}

// Frames are the frames of an event stream as they came, in order. It is
// safe for concurrent use: the SDK's reader adds, the relay takes.
type Frames struct {
	mu      sync.Mutex
	partial []byte
	ready   [][]byte
}

// write adds the bytes read so far, splitting complete frames off: a
// frame starts with its total length (the event-stream prelude).
func (f *Frames) write(p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.partial = append(f.partial, p...)
	for len(f.partial) >= 4 {
		n := int(binary.BigEndian.Uint32(f.partial))
		if n < 16 || len(f.partial) < n {
			return // a frame under the minimum is the SDK's to refuse
		}
		f.ready = append(f.ready, f.partial[:n:n])
		f.partial = f.partial[n:]
	}
}

// Next returns the oldest complete frame not yet taken.
func (f *Frames) Next() ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ready) == 0 {
		return nil, false
	}
	b := f.ready[0]
	f.ready = f.ready[1:]
	return b, true
}

// tokensOf reads the token count headers of a call's raw response.
func tokensOf(md middleware.Metadata) Tokens {
	raw, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok {
		return Tokens{}
	}
	count := func(name string) (int, bool) {
		n, err := strconv.Atoi(raw.Header.Get(name))
		return n, err == nil && n >= 0
	}
	var t Tokens
	in, okIn := count(inputTokensHeader)
	out, okOut := count("X-Amzn-Bedrock-Output-Token-Count")
	t.Input, t.Output, t.Reported = in, out, okIn && okOut
	t.CacheRead, _ = count("X-Amzn-Bedrock-Cache-Read-Input-Token-Count")
	t.CacheWrite, _ = count("X-Amzn-Bedrock-Cache-Write-Input-Token-Count")
	return t
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
