package upstream

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// This file holds the calls of the Anthropic Messages front end: Claude's
// own body on InvokeModelWithResponseStream, and CountTokens. InvokeModel
// itself is in invoke.go.

// InvokeModelStream starts an InvokeModelWithResponseStream call with a
// JSON body. Errors before the stream starts are *tollgate.Error; the
// caller must Close the returned stream. Each call gets a protocol of its
// own, as ConverseStream does (see ownStreamCodec).
func (c *Client) InvokeModelStream(ctx context.Context, modelID string, body []byte) (*bedrockruntime.InvokeModelWithResponseStreamEventStream, error) {
	out, err := c.runtime.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId:     aws.String(modelID),
		Body:        body,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	}, ownStreamCodec)
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
