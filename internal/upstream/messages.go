package upstream

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// This file holds the calls of the Anthropic Messages front end: Claude's
// own body on InvokeModelWithResponseStream, and CountTokens. InvokeModel
// itself is in invoke.go.

// Guardrail is a Bedrock guardrail an InvokeModel call goes through (sent
// in headers, apart from the model's body); the zero value is none.
type Guardrail struct {
	ID      string // a guardrail id or ARN
	Version string // a version number or "DRAFT"
	Trace   bool   // ask Bedrock for the guardrail's trace
}

// apply sets g on an InvokeModel call's guardrail members.
func (g Guardrail) apply(id, version **string, trace *types.Trace) {
	if g.ID == "" {
		return
	}
	*id, *version, *trace = aws.String(g.ID), aws.String(g.Version), types.TraceDisabled
	if g.Trace {
		*trace = types.TraceEnabled
	}
}

// InvokeMessage calls InvokeModel with a model's own JSON body (Claude's
// Messages body) through guardrail g, and returns the model's JSON answer.
// metadata, when not empty, is sent as the request metadata Bedrock's
// invocation logs keep. Errors are *tollgate.Error.
func (c *Client) InvokeMessage(ctx context.Context, modelID string, body []byte, g Guardrail, metadata map[string]string) ([]byte, error) {
	in := &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(modelID),
		Body:        body,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	}
	g.apply(&in.GuardrailIdentifier, &in.GuardrailVersion, &in.Trace)
	if len(metadata) > 0 {
		if b, err := json.Marshal(metadata); err == nil { // a map of strings always encodes
			in.RequestMetadata = aws.String(string(b))
		}
	}
	out, err := c.runtime.InvokeModel(ctx, in)
	if err != nil {
		return nil, MapError(err)
	}
	return out.Body, nil
}

// InvokeModelStream starts an InvokeModelWithResponseStream call with a
// JSON body, through guardrail g. Errors before the stream starts are
// *tollgate.Error; the caller must Close the returned stream. Each call
// gets a protocol of its own, as ConverseStream does (see ownStreamCodec).
func (c *Client) InvokeModelStream(ctx context.Context, modelID string, body []byte, g Guardrail) (*bedrockruntime.InvokeModelWithResponseStreamEventStream, error) {
	in := &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId:     aws.String(modelID),
		Body:        body,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	}
	g.apply(&in.GuardrailIdentifier, &in.GuardrailVersion, &in.Trace)
	out, err := c.runtime.InvokeModelWithResponseStream(ctx, in, ownStreamCodec)
	if err != nil {
		return nil, MapError(err)
	}
	return out.GetStream(), nil
}

// CountTokens returns the input tokens Bedrock counts for an InvokeModel
// body on modelID, which must be a foundation model id. Counting is free.
// Errors are *tollgate.Error.
func (c *Client) CountTokens(ctx context.Context, modelID string, body []byte) (int, error) {
	out, err := c.runtime.CountTokens(ctx, &bedrockruntime.CountTokensInput{
		ModelId: aws.String(modelID),
		Input:   &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: body}},
	})
	if err != nil {
		return 0, MapError(err)
	}
	return int(aws.ToInt32(out.InputTokens)), nil
}
