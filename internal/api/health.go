package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// handleHealth serves GET /healthz. The server is built only once a policy
// is loaded, so answering at all means it can serve.
func handleHealth(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok", "policy_version": d.Policies.Load().Version})
	}
}
