package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

// model is OpenAI's Model object.
type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string  `json:"object"`
	Data   []model `json:"data"`
}

func toModel(m upstream.Model) model {
	return model{ID: m.ID, Object: "model", Created: m.Created, OwnedBy: m.OwnedBy}
}

// handleListModels serves GET /v1/models: the catalog, narrowed to what the
// caller's key may use.
func handleListModels(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		models, err := d.Catalog.Models(c.Request.Context())
		if err != nil {
			writeError(c, err)
			return
		}
		pol, k := policyOf(c), keyOf(c)
		aliases := pol.AliasesFor(k)
		if c.GetBool(ctxAnthropic) { // Claude Code's gateway model discovery
			writeAnthropicModels(c, d, pol, k, models, aliases)
			return
		}
		list := modelList{Object: "list", Data: make([]model, 0, len(models)+len(aliases))}
		for _, m := range models {
			if pol.VisibleVia(k, m.ID, listedBase(models)) {
				list.Data = append(list.Data, toModel(m))
			}
		}
		for _, a := range aliases {
			list.Data = append(list.Data, aliasModel(a))
		}
		c.JSON(http.StatusOK, list)
	}
}

// handleGetModel serves GET /v1/models/{id}. A model the key may not use is
// reported as not found, as OpenAI does for models outside a project.
func handleGetModel(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := strings.TrimPrefix(c.Param("id"), "/")
		if id == "" {
			handleListModels(d)(c)
			return
		}
		c.Set(ctxModel, id)
		pol, k := policyOf(c), keyOf(c)
		if slices.Contains(pol.AliasesFor(k), id) {
			c.JSON(http.StatusOK, aliasModel(id))
			return
		}
		m, ok, err := d.Catalog.Lookup(c.Request.Context(), id)
		if err != nil {
			writeError(c, err)
			return
		}
		if !ok || !pol.VisibleVia(k, id, baseModel(c.Request.Context(), d)) {
			writeError(c, tollgate.Errorf(tollgate.NotFound, "model_not_found", "model",
				"The model %q does not exist or your API key cannot use it. GET /v1/models lists the models you can use.", id))
			return
		}
		c.JSON(http.StatusOK, toModel(m))
	}
}

// aliasModel is the Model object of a policy alias: the alias's name, owned
// by the gateway (its target is the policy's business, not the client's).
func aliasModel(alias string) model {
	return model{ID: alias, Object: "model", OwnedBy: "tollgate"}
}

// baseModel prices an application inference profile, whose ARN names no
// model, through the foundation model Bedrock's catalog lists behind it.
func baseModel(ctx context.Context, d Deps) policy.BaseModel { return gate.BaseModel(ctx, d.Catalog) }

// listedBase is baseModel over a catalog list already in hand.
func listedBase(models []upstream.Model) policy.BaseModel {
	return func(id string) (string, bool) {
		i, ok := slices.BinarySearchFunc(models, id, func(m upstream.Model, id string) int { return strings.Compare(m.ID, id) })
		if !ok || models[i].Base == "" {
			return "", false
		}
		return models[i].Base, true
	}
}
