package upstream

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// inputTokensHeader is where InvokeModel reports the input tokens it billed,
// whatever the model's own body says.
const inputTokensHeader = "X-Amzn-Bedrock-Input-Token-Count"

// InvokeModel calls InvokeModel with a JSON body and returns the model's
// JSON answer and the input tokens Bedrock counted
// (X-Amzn-Bedrock-Input-Token-Count), 0 when the answer does not say.
// metadata, when not empty, is sent as the request metadata Bedrock's
// invocation logs keep. Errors are *tollgate.Error.
func (c *Client) InvokeModel(ctx context.Context, modelID string, body []byte, metadata map[string]string) ([]byte, int, error) {
	in := &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(modelID),
		Body:        body,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	}
	if len(metadata) > 0 {
		b, err := json.Marshal(metadata) // a map of strings always encodes
		if err == nil {
			in.RequestMetadata = aws.String(string(b))
		}
	}
	out, err := c.runtime.InvokeModel(ctx, in)
	if err != nil {
		return nil, 0, MapError(err)
	}
	return out.Body, inputTokens(out.ResultMetadata), nil
}

// inputTokens reads the input token count header of a call's raw response.
func inputTokens(md middleware.Metadata) int {
	raw, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(raw.Header.Get(inputTokensHeader))
	if err != nil || n < 0 {
		return 0
	}
	return n
}
