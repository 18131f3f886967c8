package upstream_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// TestStreamInputKeepsEveryField: the stream form of a Converse input
// carries its guardrail (in its stream form), output config, additional
// fields and request metadata.
func TestStreamInputKeepsEveryField(t *testing.T) {
	in := &bedrockruntime.ConverseInput{
		ModelId:                      aws.String("anthropic.claude-sonnet-4-5-20250929-v1:0"),
		InferenceConfig:              &types.InferenceConfiguration{MaxTokens: aws.Int32(10)},
		GuardrailConfig:              &types.GuardrailConfiguration{GuardrailIdentifier: aws.String("g1"), GuardrailVersion: aws.String("1"), Trace: types.GuardrailTraceEnabled},
		OutputConfig:                 &types.OutputConfig{Effort: aws.String("low")},
		AdditionalModelRequestFields: document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 1024}}),
		RequestMetadata:              map[string]string{"tollgate_key_id": "k"},
	}
	sin := upstream.StreamInput(in)
	if sin.ModelId != in.ModelId || sin.InferenceConfig != in.InferenceConfig || sin.OutputConfig != in.OutputConfig ||
		sin.AdditionalModelRequestFields != in.AdditionalModelRequestFields || len(sin.RequestMetadata) != 1 {
		t.Errorf("StreamInput lost a field: %+v", sin)
	}
	if g := sin.GuardrailConfig; g == nil || aws.ToString(g.GuardrailIdentifier) != "g1" || aws.ToString(g.GuardrailVersion) != "1" || g.Trace != types.GuardrailTraceEnabled {
		t.Errorf("guardrail = %+v, want g1 version 1 with its trace", sin.GuardrailConfig)
	}
}
