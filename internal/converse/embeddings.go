package converse

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/modelid"
)

// This file translates OpenAI embeddings requests into Bedrock InvokeModel
// bodies, one per call, and the models' answers back into OpenAI's
// embedding list. Each model family speaks its own JSON: the families table
// below is the one place that knows them.

// MaxEmbeddingInputs is the most inputs OpenAI accepts in one embeddings
// request.
const MaxEmbeddingInputs = 2048

// EmbeddingRequest is a decoded and validated OpenAI embeddings request.
// Build it with [ParseEmbeddingRequest].
type EmbeddingRequest struct {
	Model      string   // as the client sent it; never empty
	Inputs     []string // the texts to embed, in order; token inputs decoded; never empty, no item empty
	Base64     bool     // encoding_format "base64": vectors as base64 of little-endian float32
	Dimensions int      // dimensions, 0 when absent
	User       string   // the client's end-user id, "" when absent
}

// InputBytes returns the bytes of every text the model reads: with one text
// per input and nothing around them, an exact bound for a budget
// reservation.
func (r *EmbeddingRequest) InputBytes() int {
	n := 0
	for _, s := range r.Inputs {
		n += len(s)
	}
	return n
}

// TokenDecoder turns cl100k_base token ids into the text they encode.
// Its error names the offending id; it is reported to the client as a 400
// unless it is a *tollgate.Error, which is passed on as is.
type TokenDecoder func(ids []int) (string, error)

type wireEmbeddingRequest struct {
	Model          *string         `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat *string         `json:"encoding_format"`
	Dimensions     *int64          `json:"dimensions"`
	User           *string         `json:"user"`
}

// ParseEmbeddingRequest decodes and validates an OpenAI embeddings request
// body. input may be a string, a list of strings, a list of token ids or a
// list of token id lists; token ids are turned into text with decode. Every
// error is a *tollgate.Error of Kind tollgate.Invalid whose Param names the
// offending field as OpenAI does ("input", "input[3]", "dimensions"), except
// an error of decode that is itself a *tollgate.Error. Unknown fields are
// ignored.
func ParseEmbeddingRequest(body []byte, decode TokenDecoder) (*EmbeddingRequest, error) {
	var w wireEmbeddingRequest
	if err := decodeBody(body, &w); err != nil {
		return nil, err
	}
	r := &EmbeddingRequest{}
	if w.Model == nil || *w.Model == "" {
		return nil, invalid(codeMissing, "model", "Missing required parameter: 'model'. Name the Bedrock embedding model to call, e.g. \"amazon.titan-embed-text-v2:0\".")
	}
	r.Model = *w.Model
	if err := checkModelID(r.Model); err != nil {
		return nil, err
	}
	if w.User != nil {
		r.User = *w.User
	}
	if w.EncodingFormat != nil {
		switch *w.EncodingFormat {
		case "float":
		case "base64":
			r.Base64 = true
		default:
			return nil, invalid(codeInvalidValue, "encoding_format", "Invalid value for 'encoding_format': %q. Supported values are: 'float' and 'base64'.", *w.EncodingFormat)
		}
	}
	if w.Dimensions != nil {
		if *w.Dimensions < 1 {
			return nil, invalid(codeInvalidValue, "dimensions", "Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got %d instead.", *w.Dimensions)
		}
		r.Dimensions = int(min(*w.Dimensions, math.MaxInt32))
	}
	var err error
	if r.Inputs, err = parseEmbeddingInput(w.Input, decode); err != nil {
		return nil, err
	}
	return r, nil
}

// parseEmbeddingInput normalises the four forms of input to a list of texts.
func parseEmbeddingInput(raw json.RawMessage, decode TokenDecoder) ([]string, error) {
	switch firstByte(raw) {
	case 0, 'n':
		return nil, invalid(codeMissing, "input", "Missing required parameter: 'input'. Send the text to embed as a string or a list of strings.")
	case '"':
		var s string
		if err := decodeInto(raw, &s, "input"); err != nil {
			return nil, err
		}
		if s == "" {
			return nil, invalid(codeInvalidValue, "input", "Invalid 'input': the text to embed is empty. Send at least one character.")
		}
		return []string{s}, nil
	case '[':
	default:
		return nil, invalid(codeInvalidType, "input", "Invalid type for 'input': expected a string, an array of strings, an array of integers or an array of arrays of integers, but got %s instead.", rawKind(raw))
	}
	var items []json.RawMessage
	if err := decodeInto(raw, &items, "input"); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, invalid(codeEmptyArray, "input", "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	if len(items) > MaxEmbeddingInputs {
		return nil, invalid(codeInvalidValue, "input", "Invalid 'input': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", MaxEmbeddingInputs, len(items))
	}
	switch firstByte(items[0]) {
	case '"':
		texts := make([]string, len(items))
		for i, item := range items {
			p := "input[" + strconv.Itoa(i) + "]"
			if firstByte(item) != '"' {
				return nil, mixedInput(p, item)
			}
			if err := decodeInto(item, &texts[i], p); err != nil {
				return nil, err
			}
			if texts[i] == "" {
				return nil, invalid(codeInvalidValue, p, "Invalid '%s': the text to embed is empty. Send at least one character.", p)
			}
		}
		return texts, nil
	case '[':
		texts := make([]string, len(items))
		for i, item := range items {
			p := "input[" + strconv.Itoa(i) + "]"
			if firstByte(item) != '[' {
				return nil, mixedInput(p, item)
			}
			var ids []json.RawMessage
			if err := decodeInto(item, &ids, p); err != nil {
				return nil, err
			}
			if len(ids) == 0 {
				return nil, invalid(codeEmptyArray, p, "Invalid '%s': empty array. Expected an array of token ids with minimum length 1, but got an empty array instead.", p)
			}
			text, err := decodeTokens(ids, p, decode)
			if err != nil {
				return nil, err
			}
			texts[i] = text
		}
		return texts, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		text, err := decodeTokens(items, "input", decode)
		if err != nil {
			return nil, err
		}
		return []string{text}, nil
	default:
		return nil, invalid(codeInvalidType, "input[0]", "Invalid type for 'input[0]': expected a string, a token id or an array of token ids, but got %s instead.", rawKind(items[0]))
	}
}

func mixedInput(p string, item json.RawMessage) error {
	return invalid(codeInvalidType, p, "Invalid type for '%s': got %s, but every item of 'input' must have the type of the first: all strings, all token ids or all arrays of token ids.", p, rawKind(item))
}

// decodeTokens checks that raw holds token ids (non-negative integers) and
// decodes them; p names the list.
func decodeTokens(raw []json.RawMessage, p string, decode TokenDecoder) (string, error) {
	ids := make([]int, len(raw))
	for j, item := range raw {
		n, err := strconv.ParseInt(string(bytes.TrimSpace(item)), 10, 32)
		if err != nil || n < 0 {
			return "", invalid(codeInvalidValue, p+"["+strconv.Itoa(j)+"]", "Invalid '%s[%d]': expected a token id (a non-negative integer), but got %s.", p, j, shortJSON(item))
		}
		ids[j] = int(n)
	}
	text, err := decode(ids)
	if err != nil {
		var te *tollgate.Error
		if errors.As(err, &te) {
			return "", te
		}
		return "", invalid(codeInvalidValue, p, "Invalid '%s': %v. Token inputs must be cl100k_base token ids, as tiktoken produces them.", p, err)
	}
	if text == "" {
		return "", invalid(codeInvalidValue, p, "Invalid '%s': the tokens decode to an empty text.", p)
	}
	return text, nil
}

func shortJSON(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// embeddingFamily is what Tollgate must know of a family of Bedrock
// embedding models to call them through InvokeModel.
type embeddingFamily struct {
	match      string // substring of the model id, as in the quirks table
	name       string // the family's name, for error messages
	native     int    // dimensions of the vectors when none are asked for
	dimensions []int  // the dimensions a request may ask for (native included)
	batch      int    // texts per InvokeModel call
	maxChars   int    // most characters of one text Bedrock accepts; 0: not checked here
	// body is the InvokeModel body embedding texts (at most batch of them)
	// with vectors of dims dimensions.
	body func(texts []string, dims int) any
	// parse reads the model's answer: the vectors in order and the input
	// tokens it reports, 0 when it reports none.
	parse func(out []byte) (vectors [][]float32, tokens int, err error)
}

// embeddingFamilies is the one table of embedding models. The first match
// wins. Titan reads one text per call; Cohere up to 96. Cohere requires an
// input_type: OpenAI has no such parameter, and search_document is what an
// embeddings API is most often fed (documents for a vector store).
var embeddingFamilies = []embeddingFamily{
	{
		match: "amazon.titan-embed-text-v2", name: "Amazon Titan Text Embeddings V2",
		native: 1024, dimensions: []int{256, 512, 1024}, batch: 1, maxChars: 50000,
		body: func(texts []string, dims int) any {
			return titanRequest{InputText: texts[0], Dimensions: dims, Normalize: ptr(true)}
		},
		parse: parseTitan,
	},
	{
		match: "amazon.titan-embed-text-v1", name: "Amazon Titan Embeddings G1 - Text",
		native: 1536, dimensions: []int{1536}, batch: 1, maxChars: 50000,
		body: func(texts []string, _ int) any {
			return titanRequest{InputText: texts[0]}
		},
		parse: parseTitan,
	},
	{
		match: "cohere.embed-english-v3", name: "Cohere Embed English v3",
		native: 1024, dimensions: []int{1024}, batch: 96, maxChars: 2048,
		body: cohereBody, parse: parseCohere,
	},
	{
		match: "cohere.embed-multilingual-v3", name: "Cohere Embed Multilingual v3",
		native: 1024, dimensions: []int{1024}, batch: 96, maxChars: 2048,
		body: cohereBody, parse: parseCohere,
	},
}

func embeddingFamilyFor(modelID string) *embeddingFamily {
	base, ok := modelid.Base(modelID)
	if !ok {
		return nil
	}
	for i := range embeddingFamilies {
		if strings.HasPrefix(base, embeddingFamilies[i].match) {
			return &embeddingFamilies[i]
		}
	}
	return nil
}

// titanRequest is the InvokeModel body of Titan text embeddings; v1 takes
// only inputText and rejects any other key.
type titanRequest struct {
	InputText  string `json:"inputText"`
	Dimensions int    `json:"dimensions,omitempty"`
	Normalize  *bool  `json:"normalize,omitempty"`
}

type titanResponse struct {
	Embedding           []float32 `json:"embedding"`
	InputTextTokenCount int       `json:"inputTextTokenCount"`
}

func parseTitan(out []byte) ([][]float32, int, error) {
	var r titanResponse
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, 0, err
	}
	return [][]float32{r.Embedding}, r.InputTextTokenCount, nil
}

// cohereRequest is the InvokeModel body of Cohere Embed v3. truncate and
// embedding_types are left to their defaults: an over-long text fails, as
// it does at OpenAI, and the vectors come back as floats.
type cohereRequest struct {
	Texts     []string `json:"texts"`
	InputType string   `json:"input_type"`
}

func cohereBody(texts []string, _ int) any {
	return cohereRequest{Texts: texts, InputType: "search_document"}
}

// cohereResponse is Cohere's answer: embeddings is a list of float vectors
// (response_type embeddings_floats), or, when embedding_types was sent, an
// object of lists by type (embeddings_by_type). Cohere reports no token
// count in the body.
type cohereResponse struct {
	Embeddings json.RawMessage `json:"embeddings"`
}

func parseCohere(out []byte) ([][]float32, int, error) {
	var r cohereResponse
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, 0, err
	}
	var vectors [][]float32
	if firstByte(r.Embeddings) == '{' {
		var byType struct {
			Float [][]float32 `json:"float"`
		}
		if err := json.Unmarshal(r.Embeddings, &byType); err != nil {
			return nil, 0, err
		}
		return byType.Float, 0, nil
	}
	if err := json.Unmarshal(r.Embeddings, &vectors); err != nil {
		return nil, 0, err
	}
	return vectors, 0, nil
}

// EmbeddingPlan is the InvokeModel calls that answer an embeddings request.
// Build it with [PlanEmbeddings].
type EmbeddingPlan struct {
	Calls []EmbeddingCall
	fam   *embeddingFamily
	dims  int
}

// EmbeddingCall is one InvokeModel call of a plan.
type EmbeddingCall struct {
	Body  []byte   // the JSON body to send
	Texts []string // the inputs it embeds, in order
	First int      // the index of Texts[0] among the request's inputs
}

// PlanEmbeddings checks r against what the Bedrock model modelID accepts
// (its dimensions, the length of each text) and builds the InvokeModel
// calls that embed every input, in order: one per text for the models that
// take one, batches for the others. Its errors are *tollgate.Error of Kind
// Invalid naming "model", "dimensions" or "input[i]".
func PlanEmbeddings(r *EmbeddingRequest, modelID string) (*EmbeddingPlan, error) {
	fam := embeddingFamilyFor(modelID)
	if fam == nil {
		return nil, invalid(codeUnsupportedValue, "model", "The model %q cannot create embeddings through Tollgate. Use an embedding model: Amazon Titan Text Embeddings V2 (amazon.titan-embed-text-v2:0), Titan Embeddings G1 - Text (amazon.titan-embed-text-v1), Cohere Embed English or Multilingual v3 (cohere.embed-english-v3, cohere.embed-multilingual-v3).", r.Model)
	}
	dims := fam.native
	if r.Dimensions != 0 {
		if !slices.Contains(fam.dimensions, r.Dimensions) {
			return nil, invalid(codeUnsupportedValue, "dimensions", "Unsupported value: 'dimensions' %d is not available for %q (%s), which supports %s.", r.Dimensions, r.Model, fam.name, listDims(fam.dimensions))
		}
		dims = r.Dimensions
	}
	if fam.maxChars > 0 {
		for i, s := range r.Inputs {
			if n := utf8.RuneCountInString(s); n > fam.maxChars {
				p := "input[" + strconv.Itoa(i) + "]"
				return nil, invalid(codeInvalidValue, p, "Invalid '%s': %s accepts texts of at most %d characters, but this one has %d. Split it into smaller texts.", p, fam.name, fam.maxChars, n)
			}
		}
	}
	p := &EmbeddingPlan{fam: fam, dims: dims, Calls: make([]EmbeddingCall, 0, (len(r.Inputs)+fam.batch-1)/fam.batch)}
	for first := 0; first < len(r.Inputs); first += fam.batch {
		texts := r.Inputs[first:min(first+fam.batch, len(r.Inputs))]
		body, err := json.Marshal(fam.body(texts, dims))
		if err != nil {
			return nil, &tollgate.Error{Kind: tollgate.Internal, Message: "The gateway could not encode the Bedrock request.", Cause: err}
		}
		p.Calls = append(p.Calls, EmbeddingCall{Body: body, Texts: texts, First: first})
	}
	return p, nil
}

func listDims(ds []int) string {
	if len(ds) == 1 {
		return "only its native " + strconv.Itoa(ds[0])
	}
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Vectors reads the answer to call i of the plan: one vector per text of the
// call, in order, each of the planned dimensions, and the input tokens
// Bedrock counted: those the body reports, else headerTokens (Bedrock's
// X-Amzn-Bedrock-Input-Token-Count, 0 when absent), else 0, which means
// unknown. Its error is a *tollgate.Error of Kind BadGateway, code
// "upstream_invalid_response", when the answer is not what the model
// family sends.
func (p *EmbeddingPlan) Vectors(i int, out []byte, headerTokens int) ([][]float32, int, error) {
	call := p.Calls[i]
	vectors, tokens, err := p.fam.parse(out)
	if err != nil {
		return nil, 0, badEmbeddings("Bedrock returned an embeddings answer that is not the JSON " + p.fam.name + " sends.")
	}
	if len(vectors) != len(call.Texts) {
		return nil, 0, badEmbeddings("Bedrock returned " + strconv.Itoa(len(vectors)) + " embeddings for " + strconv.Itoa(len(call.Texts)) + " texts.")
	}
	for _, v := range vectors {
		if len(v) != p.dims {
			return nil, 0, badEmbeddings("Bedrock returned an embedding of " + strconv.Itoa(len(v)) + " dimensions instead of " + strconv.Itoa(p.dims) + ".")
		}
	}
	if tokens <= 0 {
		tokens = max(headerTokens, 0)
	}
	return vectors, tokens, nil
}

func badEmbeddings(msg string) *tollgate.Error {
	return &tollgate.Error{Kind: tollgate.BadGateway, Code: "upstream_invalid_response", Message: msg}
}

// EmbeddingResponse is the body of an embeddings response (OpenAI's
// CreateEmbeddingResponse).
type EmbeddingResponse struct {
	Object string          `json:"object"` // always "list"
	Data   []EmbeddingData `json:"data"`
	Model  string          `json:"model"` // as the client sent it
	Usage  EmbeddingUsage  `json:"usage"`
}

// EmbeddingData is one embedding of an EmbeddingResponse.
type EmbeddingData struct {
	Object    string `json:"object"` // always "embedding"
	Index     int    `json:"index"`
	Embedding Vector `json:"embedding"`
}

// EmbeddingUsage is the usage of an embeddings response: total_tokens
// equals prompt_tokens.
type EmbeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// Vector is an embedding vector. It encodes as a JSON array of numbers, each
// the shortest text that reads back as the same float32, or with Base64 as
// a string: the standard base64 of its values as little-endian float32
// bytes, which is what OpenAI sends for encoding_format "base64".
type Vector struct {
	Values []float32
	Base64 bool
}

// MarshalJSON implements [json.Marshaler].
func (v Vector) MarshalJSON() ([]byte, error) {
	if !v.Base64 {
		if v.Values == nil {
			return []byte("[]"), nil
		}
		return json.Marshal(v.Values)
	}
	raw := make([]byte, 4*len(v.Values))
	for i, f := range v.Values {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	out := make([]byte, 0, base64.StdEncoding.EncodedLen(len(raw))+2)
	out = append(out, '"')
	out = base64.StdEncoding.AppendEncode(out, raw)
	return append(out, '"'), nil
}

// NewEmbeddingResponse builds the response to r from the vectors of its
// inputs, in order, and the input tokens billed.
func NewEmbeddingResponse(r *EmbeddingRequest, vectors [][]float32, promptTokens int) *EmbeddingResponse {
	resp := &EmbeddingResponse{
		Object: "list",
		Data:   make([]EmbeddingData, len(vectors)),
		Model:  r.Model,
		Usage:  EmbeddingUsage{PromptTokens: promptTokens, TotalTokens: promptTokens},
	}
	for i, v := range vectors {
		resp.Data[i] = EmbeddingData{Object: "embedding", Index: i, Embedding: Vector{Values: v, Base64: r.Base64}}
	}
	return resp
}
