package main

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"

	"github.com/tollgate-gw/tollgate/internal/openapitest"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

const (
	titanV2  = "amazon.titan-embed-text-v2:0"
	cohereEn = "cohere.embed-english-v3"
)

// embeddingsPolicy aliases OpenAI's model name to Titan v2 and prices Titan
// v2 at 1,000 USD per 1M input tokens, so that each token costs exactly
// 0.001 USD and a settlement is easy to check to the token.
const embeddingsPolicy = `
keys:
  - id: rag
    sha256: %q
    monthly_budget_usd: 10
aliases:
  text-embedding-3-small: amazon.titan-embed-text-v2:0
pricing:
  amazon.titan-embed-text-v2:0: {input: 1000, output: 0}
`

const ragSecret = "sk-test-rag-0123456789"

func embeddingsGateway(t *testing.T) *gateway {
	t.Helper()
	dir := t.TempDir()
	body := fmt.Sprintf(embeddingsPolicy, policy.HashSecret(ragSecret))
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, nil, "-sim", "-policies", dir, "-store", "bolt://"+filepath.Join(dir, "usage.db"))
}

// simTokens is what the simulator bills for texts embedded one per call:
// ceil(bytes/4), at least 1, each.
func simTokens(texts ...string) int64 {
	var n int64
	for _, s := range texts {
		n += max(1, int64(len(s)+3)/4)
	}
	return n
}

// validateEmbeddings checks an embeddings response body against OpenAI's
// CreateEmbeddingResponse. The spec describes the float form only: a
// base64 embedding is checked to be the base64 of little-endian float32
// values, then validated as the floats it encodes.
func validateEmbeddings(t *testing.T, body []byte) {
	t.Helper()
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Errorf("embeddings body %.200s: %v", body, err)
		return
	}
	data, _ := resp["data"].([]any)
	for i, d := range data {
		item, _ := d.(map[string]any)
		s, ok := item["embedding"].(string)
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(raw)%4 != 0 {
			t.Errorf("data[%d].embedding is not base64 of float32 values: %v", i, err)
			continue
		}
		floats := make([]float64, len(raw)/4)
		for j := range floats {
			floats[j] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])))
		}
		item["embedding"] = floats
	}
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	openapitest.Validate(t, "CreateEmbeddingResponse", b)
}

// float32s rounds the SDK's float64 values to the float32 the gateway sent.
func float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func vectorsOf(resp *openai.CreateEmbeddingResponse) [][]float32 {
	out := make([][]float32, len(resp.Data))
	for i, d := range resp.Data {
		if d.Index != int64(i) {
			panic(fmt.Sprintf("data[%d] has index %d", i, d.Index))
		}
		out[i] = float32s(d.Embedding)
	}
	return out
}

func TestEmbeddings(t *testing.T) {
	g := embeddingsGateway(t)
	client := g.client(t, ragSecret)
	ctx := context.Background()
	texts := []string{"The food was delicious.", "The waiter was friendly.", "Tollgate meters every token."}
	embed := func(t *testing.T, params openai.EmbeddingNewParams) *openai.CreateEmbeddingResponse {
		t.Helper()
		resp, err := client.Embeddings.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	spentBefore := g.usage(t, ragSecret).Key.SpentUSD
	floats := embed(t, openai.EmbeddingNewParams{
		Model: openai.EmbeddingModelTextEmbedding3Small,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
	})
	if floats.Model != "text-embedding-3-small" || floats.Object != "list" || len(floats.Data) != len(texts) {
		t.Fatalf("model %q, object %q, %d embeddings", floats.Model, floats.Object, len(floats.Data))
	}
	want := vectorsOf(floats)
	for i, v := range want {
		if len(v) != 1024 {
			t.Errorf("data[%d] has %d dimensions, want Titan v2's 1024", i, len(v))
		}
	}
	tokens := simTokens(texts...)
	if u := floats.Usage; u.PromptTokens != tokens || u.TotalTokens != tokens {
		t.Errorf("usage = %+v, want %d prompt and total tokens", u, tokens)
	}
	// The capped key paid for exactly the tokens Bedrock counted.
	if spent := g.usage(t, ragSecret).Key.SpentUSD - spentBefore; math.Abs(spent-float64(tokens)*0.001) > 1e-9 {
		t.Errorf("spent %v USD, want %d tokens at 0.001 USD", spent, tokens)
	}

	t.Run("base64 decoded by the SDK gives the same vectors", func(t *testing.T) {
		b64 := embed(t, openai.EmbeddingNewParams{
			Model:          openai.EmbeddingModelTextEmbedding3Small,
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
		})
		if !strings.HasPrefix(b64.Data[0].JSON.Embedding.Raw(), `"`) {
			t.Fatalf("base64 asked, got %.40s", b64.Data[0].JSON.Embedding.Raw())
		}
		if diff := cmp.Diff(want, vectorsOf(b64)); diff != "" {
			t.Errorf("(-float +base64)\n%s", diff)
		}
	})

	t.Run("every input form", func(t *testing.T) {
		one := embed(t, openai.EmbeddingNewParams{Model: titanV2, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello world")}})
		tokens := embed(t, openai.EmbeddingNewParams{Model: titanV2, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{15339, 1917}}})
		lists := embed(t, openai.EmbeddingNewParams{Model: titanV2, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: [][]int64{{15339, 1917}, {15339}}}})
		hello := embed(t, openai.EmbeddingNewParams{Model: titanV2, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}})
		wantVecs := [][]float32{vectorsOf(one)[0], vectorsOf(hello)[0]}
		if diff := cmp.Diff(wantVecs[:1], vectorsOf(tokens)); diff != "" {
			t.Errorf("tokens of %q (-text +tokens)\n%s", "hello world", diff)
		}
		if diff := cmp.Diff(wantVecs, vectorsOf(lists)); diff != "" {
			t.Errorf("token lists (-texts +tokens)\n%s", diff)
		}
	})

	t.Run("dimensions", func(t *testing.T) {
		resp := embed(t, openai.EmbeddingNewParams{Model: titanV2, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}, Dimensions: openai.Int(256)})
		if n := len(resp.Data[0].Embedding); n != 256 {
			t.Errorf("%d dimensions, want 256", n)
		}
		resp = embed(t, openai.EmbeddingNewParams{Model: "amazon.titan-embed-text-v1", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}, Dimensions: openai.Int(1536)})
		if n := len(resp.Data[0].Embedding); n != 1536 {
			t.Errorf("titan v1: %d dimensions, want 1536", n)
		}
	})

	t.Run("order is kept across concurrent and batched calls", func(t *testing.T) {
		for _, tc := range []struct {
			model string
			n     int
		}{{titanV2, 20}, {cohereEn, 100}} {
			inputs := make([]string, tc.n)
			for i := range inputs {
				inputs[i] = fmt.Sprintf("text number %d", i)
			}
			all := vectorsOf(embed(t, openai.EmbeddingNewParams{Model: tc.model, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs}}))
			for _, i := range []int{0, tc.n / 2, tc.n - 1} {
				alone := vectorsOf(embed(t, openai.EmbeddingNewParams{Model: tc.model, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String(inputs[i])}}))
				if !cmp.Equal(alone[0], all[i]) {
					t.Errorf("%s: data[%d] of %d is not the embedding of input %d", tc.model, i, tc.n, i)
				}
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			params openai.EmbeddingNewParams
			status int
			param  string
			code   string
		}{
			{"unsupported dimensions", openai.EmbeddingNewParams{Model: titanV2, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}, Dimensions: openai.Int(300)}, 400, "dimensions", "unsupported_value"},
			{"titan v1 has no 512", openai.EmbeddingNewParams{Model: "amazon.titan-embed-text-v1", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}, Dimensions: openai.Int(512)}, 400, "dimensions", "unsupported_value"},
			{"a chat model", openai.EmbeddingNewParams{Model: haiku, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}}, 400, "model", "unsupported_value"},
			{"an empty string", openai.EmbeddingNewParams{Model: titanV2, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", ""}}}, 400, "input[1]", "invalid_value"},
			{"an unknown token", openai.EmbeddingNewParams{Model: titanV2, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{15339, 100256}}}, 400, "input", "invalid_value"},
			{"an unpriced model on a capped key", openai.EmbeddingNewParams{Model: cohereEn + "-nope", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}}, 403, "model", "model_not_priced"},
			{"Bedrock throttles", openai.EmbeddingNewParams{Model: titanV2, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x [sim:error=ThrottlingException]")}}, 429, "", "rate_limit_exceeded"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := client.Embeddings.New(ctx, tc.params)
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("err = %v, want an API error", err)
				}
				if apiErr.StatusCode != tc.status || apiErr.Param != tc.param || apiErr.Code != tc.code {
					t.Errorf("got %d param %q code %q (%s), want %d %q %q", apiErr.StatusCode, apiErr.Param, apiErr.Code, apiErr.Message, tc.status, tc.param, tc.code)
				}
			})
		}
	})

	t.Run("a failed call fails the request, the others are billed", func(t *testing.T) {
		inputs := []string{"first text", "second [sim:error=ModelErrorException]", "third text"}
		before := g.usage(t, ragSecret).Key.SpentUSD
		_, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: titanV2, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Code != "upstream_error" {
			t.Fatalf("err = %v, want Bedrock's ModelErrorException as a 502", err)
		}
		billed := simTokens(inputs[0], inputs[2])
		if spent := g.usage(t, ragSecret).Key.SpentUSD - before; math.Abs(spent-float64(billed)*0.001) > 1e-9 {
			t.Errorf("spent %v USD, want the %d tokens of the calls that succeeded", spent, billed)
		}
	})

	if u := g.usage(t, ragSecret); u.Key.ReservedUSD != 0 {
		t.Errorf("%v USD still reserved after every request settled", u.Key.ReservedUSD)
	}

	t.Run("metered as embeddings", func(t *testing.T) {
		m := g.scrape(t)
		for series, least := range map[string]float64{
			"tollgate_requests_total{endpoint=embeddings,key=rag,model=text-embedding-3-small,status=200,team=none}": 2,
			"tollgate_requests_total{endpoint=embeddings,key=rag,model=" + titanV2 + ",status=400,team=none}":        1,
			"tollgate_requests_total{endpoint=embeddings,key=rag,model=" + titanV2 + ",status=502,team=none}":        1,
			"tollgate_tokens_total{key=rag,kind=input,model=text-embedding-3-small,team=none}":                       float64(2 * tokens),
		} {
			if got := m[series]; got < least {
				t.Errorf("%s = %v, want at least %v", series, got, least)
			}
		}
	})
}

// TestEmbeddingsHTTP checks the raw wire, under both prefixes: bodies valid
// against OpenAI's specification, errors in its envelope, authentication.
func TestEmbeddingsHTTP(t *testing.T) {
	g := simGateway(t)
	for _, tc := range []struct {
		name, path, key, body string
		status                int
		schema                string
	}{
		{"float", "/v1/embeddings", DemoKey, `{"model":"cohere.embed-multilingual-v3","input":["Bonjour","Hallo"]}`, 200, "CreateEmbeddingResponse"},
		{"base64 under /api/v1", "/api/v1/embeddings", DemoKey, `{"model":"amazon.titan-embed-text-v2:0","input":"x","encoding_format":"base64","dimensions":512}`, 200, "CreateEmbeddingResponse"},
		{"tokens", "/v1/embeddings", DemoKey, `{"model":"amazon.titan-embed-text-v1","input":[[15339,1917]],"user":"end-user 7"}`, 200, "CreateEmbeddingResponse"},
		{"no key", "/v1/embeddings", "", `{"model":"amazon.titan-embed-text-v2:0","input":"x"}`, 401, "ErrorResponse"},
		{"not JSON", "/v1/embeddings", DemoKey, `{"model":`, 400, "ErrorResponse"},
		{"no input", "/v1/embeddings", DemoKey, `{"model":"amazon.titan-embed-text-v2:0"}`, 400, "ErrorResponse"},
		{"bad encoding_format", "/v1/embeddings", DemoKey, `{"model":"amazon.titan-embed-text-v2:0","input":"x","encoding_format":"int8"}`, 400, "ErrorResponse"},
		{"a model Tollgate cannot embed with", "/v1/embeddings", DemoKey, `{"model":"amazon.titan-embed-text-v9","input":"x"}`, 400, "ErrorResponse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, b := g.do(t, "POST", tc.path, tc.key, "application/json", tc.body)
			if status != tc.status || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %s: %s", status, h.Get("Content-Type"), b)
			}
			if tc.schema == "CreateEmbeddingResponse" {
				validateEmbeddings(t, b)
			} else {
				openapitest.Validate(t, tc.schema, b)
			}
		})
	}
}
