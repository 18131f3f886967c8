package converse_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/openapitest"
)

const (
	titanV2   = "amazon.titan-embed-text-v2:0"
	titanV1   = "amazon.titan-embed-text-v1"
	cohereEn  = "cohere.embed-english-v3"
	cohereMul = "cohere.embed-multilingual-v3"
)

// fakeVocab stands in for cl100k_base: the translation only needs a
// decoder, and the real one is tested in package tokens.
var fakeVocab = map[int]string{15339: "hello", 1917: " world", 9906: "Hello", 0: "!"}

func fakeDecode(ids []int) (string, error) {
	var b strings.Builder
	for i, id := range ids {
		s, ok := fakeVocab[id]
		if !ok {
			return "", fmt.Errorf("%d (at index %d) is not a cl100k_base token id", id, i)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func parseEmbeddings(t *testing.T, body string) *converse.EmbeddingRequest {
	t.Helper()
	r, err := converse.ParseEmbeddingRequest([]byte(body), fakeDecode)
	if err != nil {
		t.Fatalf("ParseEmbeddingRequest(%s): %v", body, err)
	}
	return r
}

func TestParseEmbeddingRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		want converse.EmbeddingRequest
	}{
		{"a string", `{"model":"m","input":"The food was delicious."}`,
			converse.EmbeddingRequest{Model: "m", Inputs: []string{"The food was delicious."}}},
		{"a list of strings", `{"model":"m","input":["a","b","c"]}`,
			converse.EmbeddingRequest{Model: "m", Inputs: []string{"a", "b", "c"}}},
		{"a token array is one input", `{"model":"m","input":[15339, 1917]}`,
			converse.EmbeddingRequest{Model: "m", Inputs: []string{"hello world"}}},
		{"token id 0 is a token", `{"model":"m","input":[9906,0]}`,
			converse.EmbeddingRequest{Model: "m", Inputs: []string{"Hello!"}}},
		{"a list of token arrays", `{"model":"m","input":[[15339],[9906,1917]]}`,
			converse.EmbeddingRequest{Model: "m", Inputs: []string{"hello", "Hello world"}}},
		{"base64", `{"model":"m","input":"x","encoding_format":"base64"}`,
			converse.EmbeddingRequest{Model: "m", Inputs: []string{"x"}, Base64: true}},
		{"float, dimensions and user", `{"model":"m","input":"x","encoding_format":"float","dimensions":256,"user":"u-1"}`,
			converse.EmbeddingRequest{Model: "m", Inputs: []string{"x"}, Dimensions: 256, User: "u-1"}},
		{"null options are absent", `{"model":"m","input":"x","encoding_format":null,"dimensions":null,"user":null}`,
			converse.EmbeddingRequest{Model: "m", Inputs: []string{"x"}}},
		{"unknown fields are ignored", `{"model":"m","input":"x","input_type":"query","extra":{"a":[1]}}`,
			converse.EmbeddingRequest{Model: "m", Inputs: []string{"x"}}},
		{"a blank text is a text", `{"model":"m","input":[" "]}`,
			converse.EmbeddingRequest{Model: "m", Inputs: []string{" "}}},
		{"2048 inputs", `{"model":"m","input":[` + strings.TrimSuffix(strings.Repeat(`"t",`, 2048), ",") + `]}`,
			converse.EmbeddingRequest{Model: "m", Inputs: repeat("t", 2048)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseEmbeddings(t, tt.body)
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestEmbeddingRequestErrors(t *testing.T) {
	type want struct {
		Param, Code string
		Msg         string // a substring of the message
	}
	tests := []struct {
		name string
		body string
		want want
	}{
		{"malformed JSON", `{"model":"m",`, want{"", "", "could not parse the JSON body"}},
		{"body is an array", `["x"]`, want{"", "", "must be a JSON object, but got an array"}},
		{"missing model", `{"input":"x"}`, want{"model", "missing_required_parameter", "'model'"}},
		{"model is a number", `{"model":3,"input":"x"}`, want{"model", "invalid_type", "expected a string, but got a number"}},
		{"missing input", `{"model":"m"}`, want{"input", "missing_required_parameter", "'input'"}},
		{"null input", `{"model":"m","input":null}`, want{"input", "missing_required_parameter", "'input'"}},
		{"empty string", `{"model":"m","input":""}`, want{"input", "invalid_value", "empty"}},
		{"empty array", `{"model":"m","input":[]}`, want{"input", "empty_array", "empty array"}},
		{"empty string item", `{"model":"m","input":["a",""]}`, want{"input[1]", "invalid_value", "empty"}},
		{"2049 inputs", `{"model":"m","input":[` + strings.TrimSuffix(strings.Repeat(`"t",`, 2049), ",") + `]}`, want{"input", "invalid_value", "maximum length 2048"}},
		{"input is a number", `{"model":"m","input":42}`, want{"input", "invalid_type", "but got a number instead"}},
		{"input is an object", `{"model":"m","input":{"text":"x"}}`, want{"input", "invalid_type", "but got an object instead"}},
		{"a string then a token", `{"model":"m","input":["a",15339]}`, want{"input[1]", "invalid_type", "must have the type of the first"}},
		{"a token list then a string", `{"model":"m","input":[[15339],"a"]}`, want{"input[1]", "invalid_type", "must have the type of the first"}},
		{"a null item", `{"model":"m","input":[null]}`, want{"input[0]", "invalid_type", "got null"}},
		{"a negative token", `{"model":"m","input":[15339,-1]}`, want{"input[1]", "invalid_value", "non-negative integer"}},
		{"a fractional token", `{"model":"m","input":[1.5]}`, want{"input[0]", "invalid_value", "got 1.5"}},
		{"a string among tokens", `{"model":"m","input":[15339,"x"]}`, want{"input[1]", "invalid_value", "token id"}},
		{"an unknown token id", `{"model":"m","input":[15339,999999]}`, want{"input", "invalid_value", "999999 (at index 1) is not a cl100k_base token id"}},
		{"an unknown id in a token list", `{"model":"m","input":[[15339],[7]]}`, want{"input[1]", "invalid_value", "7 (at index 0)"}},
		{"an empty token list", `{"model":"m","input":[[15339],[]]}`, want{"input[1]", "empty_array", "empty array"}},
		{"a nested token list of strings", `{"model":"m","input":[["a"]]}`, want{"input[0][0]", "invalid_value", "token id"}},
		{"unknown encoding_format", `{"model":"m","input":"x","encoding_format":"hex"}`, want{"encoding_format", "invalid_value", "'float' and 'base64'"}},
		{"encoding_format is a number", `{"model":"m","input":"x","encoding_format":1}`, want{"encoding_format", "invalid_type", "expected a string"}},
		{"dimensions zero", `{"model":"m","input":"x","dimensions":0}`, want{"dimensions", "invalid_value", "Expected a value >= 1, but got 0"}},
		{"dimensions is a string", `{"model":"m","input":"x","dimensions":"256"}`, want{"dimensions", "invalid_type", "expected an integer, but got a string"}},
		{"fractional dimensions", `{"model":"m","input":"x","dimensions":25.6}`, want{"dimensions", "invalid_type", "the number 25.6"}},
		{"user is a number", `{"model":"m","input":"x","user":7}`, want{"user", "invalid_type", "expected a string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := converse.ParseEmbeddingRequest([]byte(tt.body), fakeDecode)
			var e *tollgate.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want a *tollgate.Error", err)
			}
			got := want{e.Param, e.Code, tt.want.Msg}
			if !strings.Contains(e.Message, tt.want.Msg) {
				got.Msg = e.Message
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || e.Kind != tollgate.Invalid {
				t.Errorf("kind %v, (-want +got)\n%s", e.Kind, diff)
			}
		})
	}
}

func TestTokenDecoderFailureIsPassedOn(t *testing.T) {
	broken := &tollgate.Error{Kind: tollgate.Internal, Message: "no tokenizer"}
	_, err := converse.ParseEmbeddingRequest([]byte(`{"model":"m","input":[1]}`), func([]int) (string, error) { return "", broken })
	if err != broken {
		t.Errorf("err = %v, want the decoder's own error", err)
	}
}

// call is a planned InvokeModel call, for comparison.
type call struct {
	Body  string
	First int
	N     int
}

func plan(t *testing.T, body, modelID string) []call {
	t.Helper()
	p, err := converse.PlanEmbeddings(parseEmbeddings(t, body), modelID)
	if err != nil {
		t.Fatalf("PlanEmbeddings: %v", err)
	}
	out := make([]call, len(p.Calls))
	for i, c := range p.Calls {
		out[i] = call{string(c.Body), c.First, len(c.Texts)}
	}
	return out
}

func TestPlanEmbeddings(t *testing.T) {
	texts := func(n int) string {
		q := make([]string, n)
		for i := range q {
			q[i] = fmt.Sprintf("%q", fmt.Sprint("t", i))
		}
		return "[" + strings.Join(q, ",") + "]"
	}
	cohereCall := func(from, to int) string {
		q := make([]string, 0, to-from)
		for i := from; i < to; i++ {
			q = append(q, fmt.Sprintf("%q", fmt.Sprint("t", i)))
		}
		return `{"texts":[` + strings.Join(q, ",") + `],"input_type":"search_document"}`
	}
	tests := []struct {
		name  string
		model string
		body  string
		want  []call
	}{
		{"titan v2 at its default 1024 dimensions, normalized", titanV2, `{"model":"m","input":"Hi"}`,
			[]call{{`{"inputText":"Hi","dimensions":1024,"normalize":true}`, 0, 1}}},
		{"titan v2 at 256 dimensions", titanV2, `{"model":"m","input":"Hi","dimensions":256}`,
			[]call{{`{"inputText":"Hi","dimensions":256,"normalize":true}`, 0, 1}}},
		{"titan v2 at 512 dimensions", titanV2, `{"model":"m","input":"Hi","dimensions":512}`,
			[]call{{`{"inputText":"Hi","dimensions":512,"normalize":true}`, 0, 1}}},
		{"titan reads one text per call, in order", titanV2, `{"model":"m","input":["a","b","c"]}`, []call{
			{`{"inputText":"a","dimensions":1024,"normalize":true}`, 0, 1},
			{`{"inputText":"b","dimensions":1024,"normalize":true}`, 1, 1},
			{`{"inputText":"c","dimensions":1024,"normalize":true}`, 2, 1},
		}},
		{"titan v1 takes inputText alone", titanV1, `{"model":"m","input":"Hi"}`,
			[]call{{`{"inputText":"Hi"}`, 0, 1}}},
		{"titan v1 at its native dimensions", titanV1, `{"model":"m","input":"Hi","dimensions":1536}`,
			[]call{{`{"inputText":"Hi"}`, 0, 1}}},
		{"decoded tokens are sent as text", titanV1, `{"model":"m","input":[[15339,1917]]}`,
			[]call{{`{"inputText":"hello world"}`, 0, 1}}},
		{"cohere batches 96 texts per call", cohereEn, `{"model":"m","input":` + texts(200) + `}`, []call{
			{cohereCall(0, 96), 0, 96}, {cohereCall(96, 192), 96, 96}, {cohereCall(192, 200), 192, 8},
		}},
		{"cohere multilingual at its native dimensions", cohereMul, `{"model":"m","input":"Hallo","dimensions":1024}`,
			[]call{{`{"texts":["Hallo"],"input_type":"search_document"}`, 0, 1}}},
		{"a foundation-model ARN", "arn:aws:bedrock:us-east-1::foundation-model/" + titanV2, `{"model":"m","input":"Hi"}`,
			[]call{{`{"inputText":"Hi","dimensions":1024,"normalize":true}`, 0, 1}}},
		{"a cross-region profile id", "us." + cohereEn, `{"model":"m","input":"Hi"}`,
			[]call{{`{"texts":["Hi"],"input_type":"search_document"}`, 0, 1}}},
		{"cohere's 2048 characters, counted as characters", cohereEn, `{"model":"m","input":"` + strings.Repeat("é", 2048) + `"}`,
			[]call{{`{"texts":["` + strings.Repeat("é", 2048) + `"],"input_type":"search_document"}`, 0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, plan(t, tt.body, tt.model)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestPlanEmbeddingsErrors(t *testing.T) {
	tests := []struct {
		name, model, body string
		param, msg        string
	}{
		{"titan v2 has no 300 dimensions", titanV2, `{"model":"small","input":"x","dimensions":300}`, "dimensions", `'dimensions' 300 is not available for "small" (Amazon Titan Text Embeddings V2), which supports 256, 512 or 1024.`},
		{"titan v1 has only 1536", titanV1, `{"model":"m","input":"x","dimensions":1024}`, "dimensions", "supports only its native 1536"},
		{"cohere has only 1024", cohereEn, `{"model":"m","input":"x","dimensions":512}`, "dimensions", "supports only its native 1024"},
		{"a chat model", "anthropic.claude-3-haiku-20240307-v1:0", `{"model":"haiku","input":"x"}`, "model", `The model "haiku" cannot create embeddings`},
		{"an application profile cannot be told apart", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc", `{"model":"m","input":"x"}`, "model", "cannot create embeddings"},
		{"cohere's 2049 characters", cohereEn, `{"model":"m","input":["ok","` + strings.Repeat("a", 2049) + `"]}`, "input[1]", "at most 2048 characters, but this one has 2049"},
		{"titan's 50001 characters", titanV2, `{"model":"m","input":"` + strings.Repeat("a", 50001) + `"}`, "input[0]", "at most 50000 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := converse.PlanEmbeddings(parseEmbeddings(t, tt.body), tt.model)
			var e *tollgate.Error
			if !errors.As(err, &e) || e.Kind != tollgate.Invalid || e.Param != tt.param || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("err = %#v, want a 400 on %s saying %q", err, tt.param, tt.msg)
			}
		})
	}
}

func TestEmbeddingVectors(t *testing.T) {
	vec := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat("0.5,", n), ",") + "]" }
	halves := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 0.5
		}
		return v
	}
	type want struct {
		Vectors [][]float32
		Tokens  int
		Err     string // a substring of the error, "" for none
	}
	tests := []struct {
		name         string
		model, body  string
		answer       string
		headerTokens int
		want         want
	}{
		{"titan's own count wins", titanV2, `{"model":"m","input":"x","dimensions":256}`,
			`{"embedding":` + vec(256) + `,"inputTextTokenCount":7,"embeddingsByType":{"float":` + vec(256) + `}}`, 9,
			want{[][]float32{halves(256)}, 7, ""}},
		{"titan v1", titanV1, `{"model":"m","input":"x"}`,
			`{"embedding":` + vec(1536) + `,"inputTextTokenCount":3}`, 0,
			want{[][]float32{halves(1536)}, 3, ""}},
		{"cohere counts in the header", cohereEn, `{"model":"m","input":["a","b"]}`,
			`{"embeddings":[` + vec(1024) + `,` + vec(1024) + `],"id":"x","response_type":"embeddings_floats","texts":["a","b"]}`, 12,
			want{[][]float32{halves(1024), halves(1024)}, 12, ""}},
		{"cohere by type", cohereEn, `{"model":"m","input":"a"}`,
			`{"embeddings":{"float":[` + vec(1024) + `]},"response_type":"embeddings_by_type"}`, 4,
			want{[][]float32{halves(1024)}, 4, ""}},
		{"no count anywhere is 0: unknown", cohereEn, `{"model":"m","input":"a"}`,
			`{"embeddings":[` + vec(1024) + `]}`, 0,
			want{[][]float32{halves(1024)}, 0, ""}},
		{"too few vectors", cohereEn, `{"model":"m","input":["a","b"]}`,
			`{"embeddings":[` + vec(1024) + `]}`, 1, want{Err: "1 embeddings for 2 texts"}},
		{"wrong dimensions", titanV2, `{"model":"m","input":"x","dimensions":512}`,
			`{"embedding":` + vec(1024) + `}`, 1, want{Err: "1024 dimensions instead of 512"}},
		{"not JSON", titanV2, `{"model":"m","input":"x"}`, `<html>`, 1, want{Err: "not the JSON"}},
		{"titan's answer from cohere", cohereEn, `{"model":"m","input":"x"}`, `{"embedding":` + vec(1024) + `}`, 1, want{Err: "not the JSON Cohere Embed English v3 sends"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := converse.PlanEmbeddings(parseEmbeddings(t, tt.body), tt.model)
			if err != nil {
				t.Fatal(err)
			}
			vectors, tokens, err := p.Vectors(0, []byte(tt.answer), tt.headerTokens)
			got := want{Vectors: vectors, Tokens: tokens}
			if err != nil {
				var e *tollgate.Error
				if !errors.As(err, &e) || e.Kind != tollgate.BadGateway || e.Code != "upstream_invalid_response" {
					t.Errorf("err = %#v, want a 502 upstream_invalid_response", err)
				}
				got.Err = tt.want.Err
				if !strings.Contains(err.Error(), tt.want.Err) || tt.want.Err == "" {
					got.Err = err.Error()
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestEmbeddingResponse(t *testing.T) {
	vectors := [][]float32{{0.1, -0.25, 1e-7, 3}, {float32(math.Pi), 0}}
	float := parseEmbeddings(t, `{"model":"text-embedding-3-small","input":["a","b"]}`)
	b, err := json.Marshal(converse.NewEmbeddingResponse(float, vectors, 5))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"object":"list","data":[` +
		`{"object":"embedding","index":0,"embedding":[0.1,-0.25,1e-7,3]},` +
		`{"object":"embedding","index":1,"embedding":[3.1415927,0]}],` +
		`"model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("float body (-want +got)\n%s", diff)
	}
	openapitest.Validate(t, "CreateEmbeddingResponse", b)

	// base64 is the little-endian float32 bytes, as OpenAI sends them: the
	// bytes read back give the very same float32 values.
	b64 := parseEmbeddings(t, `{"model":"m","input":["a","b"],"encoding_format":"base64"}`)
	b, err = json.Marshal(converse.NewEmbeddingResponse(b64, vectors, 5))
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Data []struct {
			Index     int    `json:"index"`
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if resp.Data[0].Embedding != "zczMPQAAgL6Vv9YzAABAQA==" {
		t.Errorf("base64 of %v = %q", vectors[0], resp.Data[0].Embedding)
	}
	got := make([][]float32, len(resp.Data))
	for i, d := range resp.Data {
		raw, err := base64.StdEncoding.DecodeString(d.Embedding)
		if err != nil || len(raw)%4 != 0 || d.Index != i {
			t.Fatalf("data[%d] = %+v: %v", i, d, err)
		}
		for j := 0; j < len(raw); j += 4 {
			got[i] = append(got[i], math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
		}
	}
	if diff := cmp.Diff(vectors, got); diff != "" {
		t.Errorf("base64 round trip (-want +got)\n%s", diff)
	}
}
