package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/tokens"
)

// handleEmbeddings serves POST /v1/embeddings: it decodes the OpenAI
// request, plans the InvokeModel calls for the model's family, and has the
// gate route, admit, make the calls and settle the input tokens Bedrock
// counted.
func handleEmbeddings(d Deps) gin.HandlerFunc {
	decode := tokenDecoder(d.Tokens)
	return func(c *gin.Context) {
		x := exchangeOf(c)
		body, err := readJSONBody(c, d.MaxBodyBytes, d.BodyReadTimeout)
		if err != nil {
			writeError(c, err)
			return
		}
		if refuseExhausted(c, x, body) {
			return
		}
		req, err := converse.ParseEmbeddingRequest(body, decode)
		if err != nil {
			writeError(c, err)
			return
		}
		ctx := c.Request.Context()
		if _, err := x.Route(ctx, req.Model, false); err != nil {
			writeError(c, err)
			return
		}
		// An application inference profile's ARN names no model: plan the
		// calls for the model Bedrock's catalog lists behind it.
		plan, err := converse.PlanEmbeddings(req, x.FamilyModel(ctx))
		if err != nil {
			writeError(c, err)
			return
		}
		// Embedding models bill input only: a guard that imposes an
		// output cap on a capped key reserves nothing for it (the output
		// price is 0), and no output cap is sent to Bedrock.
		if _, err := x.Admit(ctx, gate.Demand{
			InputBytes: req.InputBytes(),
			Texts:      func() []string { return req.Inputs },
		}); err != nil {
			writeError(c, err)
			return
		}
		calls := make([]gate.Invocation, len(plan.Calls))
		for i, pc := range plan.Calls {
			calls[i] = gate.Invocation{Body: pc.Body, Texts: pc.Texts}
		}
		vectors := make([][][]float32, len(plan.Calls))
		err = x.Invoke(ctx, calls, embeddingMetadata(keyOf(c).ID, req.User), func(i int, out []byte, headerTokens int) (gate.Usage, error) {
			v, tokens, err := plan.Vectors(i, out, headerTokens)
			vectors[i] = v
			return gate.Usage{Input: int64(tokens)}, err
		})
		if err != nil {
			writeError(c, err)
			return
		}
		s, _ := x.Settlement()
		c.JSON(http.StatusOK, converse.NewEmbeddingResponse(req, slices.Concat(vectors...), int(s.Usage.Input)))
	}
}

// tokenDecoder adapts the tokenizer for converse: an id cl100k_base does not
// define is the client's mistake, a tokenizer that cannot load is ours.
func tokenDecoder(tc *tokens.Counter) converse.TokenDecoder {
	return func(ids []int) (string, error) {
		s, err := tc.Decode(ids)
		var unknown *tokens.UnknownTokenError
		if err != nil && !errors.As(err, &unknown) {
			return "", &tollgate.Error{Kind: tollgate.Internal, Message: "The gateway could not decode the token input.", Cause: err}
		}
		return s, err
	}
}

// embeddingMetadata is the request metadata Bedrock's invocation logs keep
// for an embeddings call, so that they join with Tollgate's metering: the
// key id and the client's end-user id. Bedrock accepts letters, digits,
// spaces and :_@$#=/+,.- in at most 256 characters; anything else in a
// user id becomes '_'.
func embeddingMetadata(keyID, user string) map[string]string {
	md := map[string]string{"tollgate_key_id": metadataValue(keyID)}
	if user != "" {
		md["user"] = metadataValue(user)
	}
	return md
}

func metadataValue(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" :_@$#=/+,.-", r):
			return r
		}
		return '_'
	}, s)
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}
