package bedrocksim

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file simulates InvokeModel (POST /model/{modelId}/invoke) for the
// embedding models of the catalog:
//
//   - Amazon Titan Embeddings G1 - Text (amazon.titan-embed-text-v1):
//     {"inputText"} and nothing else; 1536 dimensions, not normalized.
//   - Amazon Titan Text Embeddings V2 (amazon.titan-embed-text-v2:0):
//     {"inputText", "dimensions" (256, 512, 1024 by default), "normalize"
//     (default true), "embeddingTypes" (float, binary)}; answers
//     {"embedding", "inputTextTokenCount", "embeddingsByType"}.
//   - Cohere Embed English and Multilingual v3: {"texts" (at most 96, each at
//     most 2048 characters), "input_type" (required), "truncate",
//     "embedding_types" (float, int8, uint8, binary, ubinary)}; answers
//     {"embeddings", "id", "response_type", "texts"}, 1024 dimensions,
//     normalized, with no token count in the body.
//
// Bodies are checked as Bedrock checks them, with its "Malformed input
// request: ..." messages. Vectors are deterministic: seeded by the model and
// the text with its markers removed. Every answer carries the input token
// count (the token rule of the package documentation, at least 1 per text)
// in X-Amzn-Bedrock-Input-Token-Count, and the markers [sim:error=Name],
// [sim:latency=D] and [sim:cut] work in any text as they do for Converse.
// InvokeModel on any other model is a ValidationException.

// OpInvokeModel is the InvokeModel operation, as Stats counts it.
const OpInvokeModel = "InvokeModel"

// Response headers of InvokeModel.
const (
	headerInputTokens = "X-Amzn-Bedrock-Input-Token-Count"
	headerLatency     = "X-Amzn-Bedrock-Invocation-Latency"
)

// Bedrock's limits on embedding inputs.
const (
	titanMaxChars    = 50000
	titanMaxTokens   = 8192
	cohereMaxTexts   = 96
	cohereMaxChars   = 2048
	titanV1Dims      = 1536
	titanV2Dims      = 1024
	cohereDimensions = 1024
)

// embedRequest is an InvokeModel body that passed validation.
type embedRequest struct {
	texts     []string // inputText, or texts
	dims      int
	normalize bool
	types     []string // embeddingTypes / embedding_types; nil when absent
	cohere    bool
	titanV1   bool
}

// serveInvoke answers InvokeModel: read the body, find its texts and their
// markers, wait the latency, inject a requested error, resolve the model,
// validate the body for its family, embed, bill, answer.
func (s *Server) serveInvoke(w http.ResponseWriter, r *http.Request, modelID, region string) {
	start := s.now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.fail(w, validationError("Input is too long for requested model."))
		}
		return // the client is gone
	}
	var fields map[string]json.RawMessage
	var apiErr *apiError
	if json.Unmarshal(body, &fields) != nil || fields == nil {
		apiErr = malformed("#: expected type: JSONObject, found: " + jsonTypeName(body))
	}
	mk, markErr := invokeMarkers(fields)
	if !sleep(r.Context(), max(minFirstByte, s.opts.Latency+mk.latency)) {
		return
	}
	for _, e := range []*apiError{apiErr, markErr} {
		if e != nil {
			s.fail(w, e)
			return
		}
	}
	if code := mk.failure(modelID); code != "" {
		s.fail(w, injectedError(code))
		return
	}
	m, apiErr := resolveEmbeddingModel(modelID, region)
	if apiErr != nil {
		s.fail(w, apiErr)
		return
	}
	var req *embedRequest
	if strings.HasPrefix(m.ID, "cohere.") {
		req, apiErr = parseCohere(fields)
	} else {
		req, apiErr = parseTitan(fields, m.ID == "amazon.titan-embed-text-v2:0")
	}
	if apiErr != nil {
		s.fail(w, apiErr)
		return
	}
	tokens := 0
	for _, t := range req.texts {
		tokens += max(1, tokensOf(len(t)))
	}
	if !req.cohere && tokens > titanMaxTokens {
		s.fail(w, validationErrorf("400 Bad Request: Too many input tokens. Max input tokens: %d, request input token: %d", titanMaxTokens, tokens))
		return
	}
	vectors := make([][]float32, len(req.texts))
	for i, t := range req.texts {
		vectors[i] = embedText(m.ID, stripMarkers(t), req.dims, req.normalize)
	}
	s.bill(modelID, usage{InputTokens: tokens, TotalTokens: tokens})
	if mk.cut {
		dropConnection(w)
		return
	}

	var resp any
	if req.cohere {
		resp = cohereAnswer(req, vectors)
	} else {
		resp = titanAnswer(req, vectors[0], tokens)
	}
	h := w.Header()
	h.Set(headerInputTokens, strconv.Itoa(tokens))
	h.Set(headerLatency, strconv.FormatInt(s.now().Sub(start).Milliseconds(), 10))
	writeJSON(w, resp)
}

// resolveEmbeddingModel maps the modelId of an InvokeModel request to an
// embedding model: a model id or its foundation-model ARN. Other ids get
// the error resolveModel gives them, or, for a chat model, the
// ValidationException Bedrock gives a body the model does not read.
func resolveEmbeddingModel(modelID, region string) (Model, *apiError) {
	id := modelID
	if _, rest, ok := strings.Cut(id, "::foundation-model/"); ok && strings.HasPrefix(id, "arn:aws:bedrock:") {
		id = rest
	}
	if m, ok := findModel(id); ok && slices.Contains(m.OutputModalities, ModalityEmbedding) {
		return m, nil
	}
	m, apiErr := resolveModel(modelID, region)
	if apiErr != nil {
		return Model{}, apiErr
	}
	return Model{}, malformed("#: the simulator serves InvokeModel only for embedding models and Claude; call " + m.ID + " with Converse")
}

// invokeMarkers reads the markers in the body's texts. InvokeModel honours
// error, latency and cut; any other marker is a ValidationException.
func invokeMarkers(fields map[string]json.RawMessage) (markers, *apiError) {
	var texts []string
	var one string
	if json.Unmarshal(fields["inputText"], &one) == nil {
		texts = append(texts, one)
	}
	var many []string
	if json.Unmarshal(fields["texts"], &many) == nil {
		texts = append(texts, many...)
	}
	var mk markers
	for _, t := range texts {
		for _, m := range markerRE().FindAllStringSubmatch(t, -1) {
			if err := mk.set(m[1], m[2]); err != nil {
				return markers{}, validationErrorf("bedrocksim: marker %s: %s", m[0], err)
			}
			switch m[1] {
			case "error", "latency", "cut":
			default:
				return markers{}, validationErrorf("bedrocksim: marker %s: InvokeModel honours only error, latency and cut", m[0])
			}
		}
	}
	return mk, nil
}

// malformed words a rejected body as Bedrock does for InvokeModel.
func malformed(detail string) *apiError {
	return validationError("Malformed input request: " + detail + ", please reformat your input and try again.")
}

// parseTitan validates a Titan text embeddings body: v1 reads inputText and
// nothing else; v2 also dimensions, normalize and embeddingTypes.
func parseTitan(fields map[string]json.RawMessage, v2 bool) (*embedRequest, *apiError) {
	allowed := []string{"inputText"}
	if v2 {
		allowed = append(allowed, "dimensions", "normalize", "embeddingTypes")
	}
	if e := checkKeys(fields, allowed, []string{"inputText"}); e != nil {
		return nil, e
	}
	req := &embedRequest{dims: titanV1Dims, titanV1: !v2}
	var text string
	if e := decodeMember(fields, "inputText", "String", &text); e != nil {
		return nil, e
	}
	if n := utf8.RuneCountInString(text); n == 0 || n > titanMaxChars {
		if n == 0 {
			return nil, malformed("#/inputText: expected minLength: 1, actual: 0")
		}
		return nil, malformed(fmt.Sprintf("#/inputText: expected maxLength: %d, actual: %d", titanMaxChars, n))
	}
	req.texts = []string{text}
	if !v2 {
		return req, nil
	}
	req.dims, req.normalize = titanV2Dims, true
	if raw, ok := fields["dimensions"]; ok {
		if e := decodeMember(fields, "dimensions", "Integer", &req.dims); e != nil {
			return nil, e
		}
		if !slices.Contains([]int{256, 512, 1024}, req.dims) {
			return nil, malformed("#/dimensions: " + string(bytes.TrimSpace(raw)) + " is not a valid enum value")
		}
	}
	if _, ok := fields["normalize"]; ok {
		if e := decodeMember(fields, "normalize", "Boolean", &req.normalize); e != nil {
			return nil, e
		}
	}
	if _, ok := fields["embeddingTypes"]; ok {
		if e := decodeTypes(fields, "embeddingTypes", []string{"float", "binary"}, &req.types); e != nil {
			return nil, e
		}
	}
	return req, nil
}

// parseCohere validates a Cohere Embed v3 body.
func parseCohere(fields map[string]json.RawMessage) (*embedRequest, *apiError) {
	if e := checkKeys(fields, []string{"texts", "images", "input_type", "truncate", "embedding_types"}, []string{"input_type"}); e != nil {
		return nil, e
	}
	req := &embedRequest{dims: cohereDimensions, normalize: true, cohere: true}
	var inputType string
	if e := decodeMember(fields, "input_type", "String", &inputType); e != nil {
		return nil, e
	}
	if !slices.Contains([]string{"search_document", "search_query", "classification", "clustering", "image"}, inputType) {
		return nil, malformed("#/input_type: " + inputType + " is not a valid enum value")
	}
	if _, ok := fields["images"]; ok {
		return nil, validationError("bedrocksim: Cohere image embeddings are not simulated; send texts")
	}
	if _, ok := fields["texts"]; !ok {
		return nil, malformed("#: required key [texts] not found")
	}
	if e := decodeMember(fields, "texts", "JSONArray", &req.texts); e != nil {
		return nil, e
	}
	if len(req.texts) > cohereMaxTexts {
		return nil, malformed(fmt.Sprintf("#/texts: expected maxItems: %d, actual: %d", cohereMaxTexts, len(req.texts)))
	}
	for i, t := range req.texts {
		if n := utf8.RuneCountInString(t); n > cohereMaxChars {
			return nil, malformed(fmt.Sprintf("#/texts/%d: expected maxLength: %d, actual: %d", i, cohereMaxChars, n))
		}
	}
	if raw, ok := fields["truncate"]; ok {
		var tr string
		if e := decodeMember(fields, "truncate", "String", &tr); e != nil {
			return nil, e
		}
		if !slices.Contains([]string{"NONE", "START", "END"}, tr) {
			return nil, malformed("#/truncate: " + string(bytes.TrimSpace(raw)) + " is not a valid enum value")
		}
	}
	if _, ok := fields["embedding_types"]; ok {
		if e := decodeTypes(fields, "embedding_types", []string{"float", "int8", "uint8", "binary", "ubinary"}, &req.types); e != nil {
			return nil, e
		}
	}
	return req, nil
}

// checkKeys refuses keys outside allowed and requires those of required, in
// Bedrock's words.
func checkKeys(fields map[string]json.RawMessage, allowed, required []string) *apiError {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return validationError("Malformed input request: extraneous key [" + k + "] is not permitted, please reformat your input and try again.")
		}
	}
	for _, k := range required {
		if _, ok := fields[k]; !ok {
			return malformed("#: required key [" + k + "] not found")
		}
	}
	return nil
}

// decodeMember decodes fields[key] into v, which must be of the JSON type
// Bedrock's schema names want.
func decodeMember(fields map[string]json.RawMessage, key, want string, v any) *apiError {
	raw := fields[key]
	if got := jsonTypeName(raw); got != want && !(want == "Integer" && got == "Number" && isIntegral(raw)) {
		return malformed("#/" + key + ": expected type: " + want + ", found: " + got)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return malformed("#/" + key + ": expected type: " + want + ", found: " + jsonTypeName(raw))
	}
	return nil
}

func decodeTypes(fields map[string]json.RawMessage, key string, allowed []string, dst *[]string) *apiError {
	if e := decodeMember(fields, key, "JSONArray", dst); e != nil {
		return e
	}
	for i, t := range *dst {
		if !slices.Contains(allowed, t) {
			return malformed(fmt.Sprintf("#/%s/%d: %s is not a valid enum value", key, i, t))
		}
	}
	return nil
}

// jsonTypeName names the JSON type of raw as Bedrock's schema validator
// does.
func jsonTypeName(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "Null"
	}
	switch raw[0] {
	case '{':
		return "JSONObject"
	case '[':
		return "JSONArray"
	case '"':
		return "String"
	case 't', 'f':
		return "Boolean"
	case 'n':
		return "Null"
	}
	if isIntegral(raw) {
		return "Integer"
	}
	return "Number"
}

func isIntegral(raw []byte) bool {
	_, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	return err == nil
}

// embedText returns the simulated embedding of text: dims values drawn from
// a generator seeded by the model and the text, scaled to unit length when
// normalize is set, rounded to float32 as Bedrock's vectors are.
func embedText(modelID, text string, dims int, normalize bool) []float32 {
	seed := sha256.Sum256([]byte(modelID + "\x00" + text))
	rng := rand.New(rand.NewChaCha8(seed))
	v := make([]float64, dims)
	var norm float64
	for i := range v {
		v[i] = rng.NormFloat64() * 0.05
		norm += v[i] * v[i]
	}
	scale := 1.0
	if normalize && norm > 0 {
		scale = 1 / math.Sqrt(norm)
	}
	out := make([]float32, dims)
	for i, x := range v {
		out[i] = float32(x * scale)
	}
	return out
}

type titanEmbedding struct {
	Embedding           []float32      `json:"embedding"`
	InputTextTokenCount int            `json:"inputTextTokenCount"`
	EmbeddingsByType    map[string]any `json:"embeddingsByType,omitempty"`
}

// titanAnswer is Titan's answer; v2 always adds embeddingsByType (float
// unless embeddingTypes says otherwise), v1 never does.
func titanAnswer(req *embedRequest, v []float32, tokens int) titanEmbedding {
	out := titanEmbedding{Embedding: v, InputTextTokenCount: tokens}
	if req.titanV1 {
		return out
	}
	types := req.types
	if len(types) == 0 {
		types = []string{"float"}
	}
	out.EmbeddingsByType = map[string]any{}
	for _, t := range types {
		if t == "binary" { // Titan's binary is one 0 or 1 per dimension
			bits := make([]int, len(v))
			for i, x := range v {
				if x > 0 {
					bits[i] = 1
				}
			}
			out.EmbeddingsByType[t] = bits
			continue
		}
		out.EmbeddingsByType[t] = quantize(v, t)
	}
	return out
}

type cohereEmbedding struct {
	Embeddings   any      `json:"embeddings"`
	ID           string   `json:"id"`
	ResponseType string   `json:"response_type"`
	Texts        []string `json:"texts"`
}

// cohereAnswer is Cohere's answer: a list of float vectors, or with
// embedding_types an object of lists by type.
func cohereAnswer(req *embedRequest, vectors [][]float32) cohereEmbedding {
	out := cohereEmbedding{ID: newRequestID(), Texts: req.texts, ResponseType: "embeddings_floats", Embeddings: vectors}
	if out.Texts == nil {
		out.Texts = []string{}
	}
	if vectors == nil {
		out.Embeddings = [][]float32{}
	}
	if len(req.types) > 0 {
		byType := map[string]any{}
		for _, t := range req.types {
			qs := make([]any, len(vectors))
			for i, v := range vectors {
				qs[i] = quantize(v, t)
			}
			byType[t] = qs
		}
		out.ResponseType, out.Embeddings = "embeddings_by_type", byType
	}
	return out
}

// quantize renders v as the Cohere embedding type t: float as is; int8 and
// uint8 scaled to the largest magnitude; binary and ubinary as packed sign
// bits, eight dimensions per byte (signed for binary).
func quantize(v []float32, t string) any {
	var peak float64
	for _, x := range v {
		peak = max(peak, math.Abs(float64(x)))
	}
	if peak == 0 {
		peak = 1
	}
	switch t {
	case "int8", "uint8":
		out := make([]int, len(v))
		for i, x := range v {
			q := int(math.Round(float64(x) / peak * 127))
			if t == "uint8" {
				q += 128
			}
			out[i] = q
		}
		return out
	case "binary", "ubinary":
		out := make([]int, (len(v)+7)/8)
		for i, x := range v {
			if x > 0 {
				out[i/8] |= 1 << (7 - i%8)
			}
		}
		if t == "binary" {
			for i := range out {
				out[i] -= 128
			}
		}
		return out
	}
	return v
}
