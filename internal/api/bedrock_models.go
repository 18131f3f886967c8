package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/modelid"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// This file serves the two control-plane lists of Bedrock's own API that
// clients read at start (Claude Code lists the inference profiles): the
// catalog, narrowed to what the caller's key may use, in the shapes of
// ListFoundationModels and ListInferenceProfiles. One page holds all.

type foundationModel struct {
	ModelArn                   string            `json:"modelArn"`
	ModelID                    string            `json:"modelId"`
	ModelName                  string            `json:"modelName"`
	ProviderName               string            `json:"providerName"`
	InputModalities            []string          `json:"inputModalities"`
	OutputModalities           []string          `json:"outputModalities"`
	ResponseStreamingSupported bool              `json:"responseStreamingSupported"`
	InferenceTypesSupported    []string          `json:"inferenceTypesSupported"`
	ModelLifecycle             map[string]string `json:"modelLifecycle"`
}

type inferenceProfile struct {
	InferenceProfileID   string              `json:"inferenceProfileId"`
	InferenceProfileName string              `json:"inferenceProfileName"`
	InferenceProfileArn  string              `json:"inferenceProfileArn"`
	Models               []map[string]string `json:"models"`
	Status               string              `json:"status"`
	Type                 string              `json:"type"`
}

// visibleModels returns the catalog's models the caller's key may use.
func visibleModels(c *gin.Context, d Deps) ([]upstream.Model, error) {
	models, err := d.Catalog.Models(c.Request.Context())
	if err != nil {
		return nil, err
	}
	pol, k := policyOf(c), keyOf(c)
	var out []upstream.Model
	for _, m := range models {
		if pol.VisibleVia(k, m.ID, listedBase(models)) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (d Deps) modelArn(id string) string {
	return "arn:aws:bedrock:" + d.Region + "::foundation-model/" + id
}

// handleBedrockFoundationModels serves GET /bedrock/foundation-models.
func handleBedrockFoundationModels(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		models, err := visibleModels(c, d)
		if err != nil {
			writeError(c, err)
			return
		}
		provider := strings.ToLower(c.Query("byProvider"))
		list := make([]foundationModel, 0, len(models))
		for _, m := range models {
			if m.Base != "" || strings.HasPrefix(m.ID, "arn:") || (provider != "" && m.OwnedBy != provider) {
				continue
			}
			out := []string{"TEXT"}
			if strings.Contains(m.ID, "embed") {
				out = []string{"EMBEDDING"}
			}
			list = append(list, foundationModel{
				ModelArn: d.modelArn(m.ID), ModelID: m.ID, ModelName: m.ID, ProviderName: m.OwnedBy,
				InputModalities: []string{"TEXT"}, OutputModalities: out, ResponseStreamingSupported: out[0] == "TEXT",
				InferenceTypesSupported: []string{"ON_DEMAND"}, ModelLifecycle: map[string]string{"status": "ACTIVE"},
			})
		}
		c.JSON(http.StatusOK, gin.H{"modelSummaries": list})
	}
}

// handleBedrockInferenceProfiles serves GET /bedrock/inference-profiles
// (typeEquals SYSTEM_DEFINED or APPLICATION narrows it).
func handleBedrockInferenceProfiles(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		models, err := visibleModels(c, d)
		if err != nil {
			writeError(c, err)
			return
		}
		want := strings.ToUpper(c.Query("typeEquals"))
		list := make([]inferenceProfile, 0, len(models))
		for _, m := range models {
			if m.Base == "" {
				continue
			}
			p := inferenceProfile{InferenceProfileID: m.ID, InferenceProfileName: m.ID, Status: "ACTIVE", Type: "SYSTEM_DEFINED",
				InferenceProfileArn: "arn:aws:bedrock:" + d.Region + "::inference-profile/" + m.ID,
				Models:              []map[string]string{{"modelArn": d.modelArn(m.Base)}}}
			if modelid.IsApplicationProfile(m.ID) {
				p.Type, p.InferenceProfileArn = "APPLICATION", m.ID
				p.InferenceProfileID = m.ID[strings.LastIndexByte(m.ID, '/')+1:]
			}
			if want == "" || want == p.Type {
				list = append(list, p)
			}
		}
		c.JSON(http.StatusOK, gin.H{"inferenceProfileSummaries": list})
	}
}
