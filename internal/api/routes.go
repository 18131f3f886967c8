package api

import (
	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/gate"
)

// addRoutes lists the whole API surface. Every /v1 route is also served
// under /api/v1 for clients configured for the reference Bedrock gateway.
func addRoutes(r *gin.Engine, d Deps, g *gate.Gate) {
	r.Use(requestLog(d), recovery(d.Logger))
	if len(d.OriginSecrets) > 0 {
		r.Use(requireOrigin(d.OriginSecrets)) // before any other work: origin.go
	}
	if len(d.CORSOrigins) > 0 {
		r.Use(cors(d.CORSOrigins)) // answers preflights before authentication: cors.go
	}
	r.NoRoute(handleNoRoute())
	r.NoMethod(handleNoMethod())

	r.GET("/healthz", handleHealth(d))

	for _, prefix := range []string{"/v1", "/api/v1"} {
		// Anthropic's Messages API, for Claude Code and the Anthropic SDKs
		// (messages.go, docs/anthropic-compat.md); its errors are Anthropic's.
		messages := r.Group(prefix, anthropicErrors(true), authenticate(d))
		messages.POST("/messages", openExchange(g, "messages"), handleMessages(d))
		messages.POST("/messages/count_tokens", openExchange(g, "messages.count_tokens"), handleCountTokens(d))

		// anthropicErrors(false): Anthropic's errors for a request carrying
		// anthropic-version (GET /v1/models serves both protocols).
		v1 := r.Group(prefix, anthropicErrors(false), authenticate(d))
		v1.POST("/chat/completions", openExchange(g, "chat.completions"), limitItems(chatItems, false), handleChatCompletions(d))
		v1.POST("/responses", openExchange(g, "responses"), limitItems(responsesItems, false), handleResponses(d))
		v1.POST("/embeddings", openExchange(g, "embeddings"), limitItems(embeddingItems, true), handleEmbeddings(d))
		v1.GET("/models", handleListModels(d))
		v1.GET("/models/*id", handleGetModel(d)) // ids hold ':' and, for ARNs, '/'
		v1.GET("/usage", handleUsage(g))
	}

	// Bedrock's own API, for the AWS SDKs and Claude Code's Bedrock mode
	// (bedrock.go, docs/bedrock-compat.md); its errors are Bedrock's.
	br := r.Group("/bedrock", bedrockErrors(), authenticate(d))
	br.POST("/model/*rest", bedrockModelPath(), openExchangeAs(g, bedrockEndpoint), handleBedrockModel(d))
	br.GET("/foundation-models", handleBedrockFoundationModels(d))
	br.GET("/inference-profiles", handleBedrockInferenceProfiles(d))
}
