package upstream

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"
)

// embeddingModels lists Bedrock's embedding models that can be called on
// demand (ACTIVE or LEGACY), for /v1/models: OpenAI's list holds its
// embedding models too. ListFoundationModels filters by one output modality
// at a time, so they take a call of their own.
func (c *Catalog) embeddingModels(ctx context.Context) ([]Model, error) {
	out, err := c.client.control.ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{
		ByOutputModality: types.ModelModalityEmbedding,
	})
	if err != nil {
		return nil, err
	}
	var models []Model
	for _, s := range out.ModelSummaries {
		if !slices.Contains(s.OutputModalities, types.ModelModalityEmbedding) ||
			!slices.Contains(s.InferenceTypesSupported, types.InferenceTypeOnDemand) {
			continue
		}
		if lc := s.ModelLifecycle; lc != nil && lc.Status != types.FoundationModelLifecycleStatusActive && lc.Status != types.FoundationModelLifecycleStatusLegacy {
			continue
		}
		models = append(models, Model{ID: aws.ToString(s.ModelId), OwnedBy: strings.ToLower(aws.ToString(s.ProviderName)), Created: launched(s)})
	}
	return models, nil
}
