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
	r.NoRoute(handleNoRoute())
	r.NoMethod(handleNoMethod())

	r.GET("/healthz", handleHealth(d))

	limit := limitConcurrency(d.MaxConcurrent) // one bound for both prefixes
	for _, prefix := range []string{"/v1", "/api/v1"} {
		v1 := r.Group(prefix, authenticate(d))
		v1.POST("/chat/completions", openExchange(g, "chat.completions"), limit, handleChatCompletions(d))
		v1.POST("/responses", openExchange(g, "responses"), limit, handleResponses(d))
		v1.POST("/embeddings", openExchange(g, "embeddings"), limit, handleEmbeddings(d))
		v1.GET("/models", handleListModels(d))
		v1.GET("/models/*id", handleGetModel(d)) // ids hold ':' and, for ARNs, '/'
		v1.GET("/usage", handleUsage(g))
	}
}
