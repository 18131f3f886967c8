package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// handleChatCompletions serves POST /v1/chat/completions, plain and streamed.
func handleChatCompletions(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		body, err := readJSONBody(c, d.MaxBodyBytes)
		if err != nil {
			writeError(c, err)
			return
		}
		req, err := converse.ParseChatRequest(body)
		if err != nil {
			writeError(c, err)
			return
		}
		c.Set(ctxModel, req.Model)
		c.Set(ctxStream, req.Stream)
		if err := allowModel(keyOf(c), req.Model); err != nil {
			writeError(c, err)
			return
		}
		in, err := converse.ToConverse(req, req.Model)
		if err != nil {
			writeError(c, err)
			return
		}
		meta := converse.Meta{ID: converse.NewID(), Created: d.Now().Unix(), Model: req.Model}
		if req.Stream {
			streamChat(c, d, in, meta, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
			return
		}
		out, err := d.Bedrock.Converse(c.Request.Context(), in)
		if err != nil {
			writeError(c, err)
			return
		}
		resp, _, err := converse.FromConverse(out, meta)
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, resp)
	}
}

func allowModel(k *policy.Key, model string) error {
	if k.Allows(model) {
		return nil
	}
	return tollgate.Errorf(tollgate.PermissionDenied, "model_not_allowed", "model",
		"Your API key is not allowed to use the model %q. Ask your Tollgate administrator to add it to the key's models, or use one that GET /v1/models lists.", model)
}
