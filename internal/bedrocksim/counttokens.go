package bedrocksim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
)

// This file simulates CountTokens (POST /model/{modelId}/count-tokens). The
// input is either {"invokeModel":{"body": base64 of an InvokeModel body}} or
// {"converse":{"messages", "system", "toolConfig",
// "additionalModelRequestFields"}}; the answer is {"inputTokens": N}, the
// input tokens (cache reads and writes included: nothing is cached when
// counting) that the same request would be billed. Bodies are validated as
// InvokeModel and Converse validate them. As on Bedrock, the model must be
// named by its bare foundation-model id or foundation-model ARN (inference
// profiles are refused, even for the models that can be invoked only through
// one), only some Claude models count tokens, and counting is free: nothing
// is billed.

// countTokensModels are the models whose tokens CountTokens counts.
var countTokensModels = []string{
	"anthropic.claude-3-5-haiku-20241022-v1:0",
	"anthropic.claude-3-5-sonnet-20241022-v2:0",
	"anthropic.claude-3-7-sonnet-20250219-v1:0",
	"anthropic.claude-sonnet-4-20250514-v1:0",
	"anthropic.claude-sonnet-4-5-20250929-v1:0",
	"anthropic.claude-haiku-4-5-20251001-v1:0",
	"anthropic.claude-opus-4-1-20250805-v1:0",
	// Claude Code's defaults, which it counts for (/v1/messages/count_tokens).
	"anthropic.claude-opus-4-5-20251101-v1:0",
	"anthropic.claude-opus-4-6-v1",
	"anthropic.claude-sonnet-4-6",
	"anthropic.claude-opus-5-5",
	"anthropic.claude-sonnet-5-5",
	"anthropic.claude-haiku-5-5",
	"anthropic.claude-opus-5",
	"anthropic.claude-sonnet-5",
	"anthropic.claude-opus-4-8",
	"anthropic.claude-opus-4-7",
	"anthropic.claude-fable-5",
	"anthropic.claude-fable-5-1",
	"anthropic.claude-fable-5-2",
}

const msgNoCountTokens = "The provided model doesn't support counting tokens."

type countTokensRequest struct {
	Input *struct {
		InvokeModel *struct {
			Body *string `json:"body"`
		} `json:"invokeModel"`
		Converse *converseRequest `json:"converse"`
	} `json:"input"`
}

// serveCountTokens answers CountTokens.
func (s *Server) serveCountTokens(w http.ResponseWriter, r *http.Request, modelID string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.fail(w, validationError("Input is too long for requested model."))
		}
		return
	}
	if !sleep(r.Context(), max(minFirstByte, s.opts.Latency)) {
		return
	}
	var req countTokensRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.fail(w, serializationError("Could not parse the request body: "+err.Error()))
		return
	}
	id := modelID
	if _, rest, ok := strings.Cut(id, "::foundation-model/"); ok && strings.HasPrefix(id, "arn:aws:bedrock:") {
		id = rest
	}
	if _, isProfile := findProfile(id); isProfile || strings.Contains(id, "inference-profile/") {
		s.fail(w, validationError(msgNoCountTokens))
		return
	}
	m, ok := findModel(id)
	if !ok {
		s.fail(w, validationError("The provided model identifier is invalid."))
		return
	}
	if !slices.Contains(countTokensModels, m.ID) {
		s.fail(w, validationError(msgNoCountTokens))
		return
	}
	if req.Input == nil || (req.Input.InvokeModel == nil) == (req.Input.Converse == nil) {
		s.fail(w, validationError("1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have exactly one of invokeModel, converse"))
		return
	}
	var conv *converseRequest
	if im := req.Input.InvokeModel; im != nil {
		if im.Body == nil {
			s.fail(w, constraintError("null", "input.invokeModel.body", "Member must not be null"))
			return
		}
		raw, ok := decodeBase64JSON(*im.Body)
		if !ok {
			s.fail(w, serializationError("Could not parse the request body: input.invokeModel.body is not base64"))
			return
		}
		var apiErr *apiError
		if _, conv, apiErr = parseClaude(raw, m); apiErr != nil {
			s.fail(w, apiErr)
			return
		}
	} else {
		conv = req.Input.Converse
		if apiErr := validate(conv, m, false); apiErr != nil {
			s.fail(w, apiErr)
			return
		}
	}
	writeJSON(w, map[string]int{"inputTokens": max(1, measurePrompt(m.ID, conv).tokens())})
}
