package upstream

import (
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// StreamInput is in for the ConverseStream API: the same request, field for
// field (a guardrail in its stream form). Translation builds one Converse
// input for both operations; the client picks the form the call needs.
func StreamInput(in *bedrockruntime.ConverseInput) *bedrockruntime.ConverseStreamInput {
	out := &bedrockruntime.ConverseStreamInput{
		ModelId:                           in.ModelId,
		Messages:                          in.Messages,
		System:                            in.System,
		InferenceConfig:                   in.InferenceConfig,
		ToolConfig:                        in.ToolConfig,
		AdditionalModelRequestFields:      in.AdditionalModelRequestFields,
		AdditionalModelResponseFieldPaths: in.AdditionalModelResponseFieldPaths,
		OutputConfig:                      in.OutputConfig,
		PerformanceConfig:                 in.PerformanceConfig,
		PromptVariables:                   in.PromptVariables,
		RequestMetadata:                   in.RequestMetadata,
		ServiceTier:                       in.ServiceTier,
	}
	if g := in.GuardrailConfig; g != nil {
		out.GuardrailConfig = &types.GuardrailStreamConfiguration{GuardrailIdentifier: g.GuardrailIdentifier, GuardrailVersion: g.GuardrailVersion, Trace: g.Trace}
	}
	return out
}
