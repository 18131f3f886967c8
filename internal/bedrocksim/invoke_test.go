package bedrocksim_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
)

const (
	titanV1  = "amazon.titan-embed-text-v1"
	titanV2  = "amazon.titan-embed-text-v2:0"
	cohereEn = "cohere.embed-english-v3"
)

// invoke calls InvokeModel through the SDK and returns the decoded answer
// and the input token count header.
func invoke(t *testing.T, rt *bedrockruntime.Client, modelID, body string) (map[string]any, int, error) {
	t.Helper()
	out, err := rt.InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{
		ModelId: aws.String(modelID), Body: []byte(body),
		ContentType: aws.String("application/json"), Accept: aws.String("application/json"),
	})
	if err != nil {
		return nil, 0, err
	}
	raw := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
	n, err := strconv.Atoi(raw.Header.Get("X-Amzn-Bedrock-Input-Token-Count"))
	if err != nil {
		t.Errorf("X-Amzn-Bedrock-Input-Token-Count: %v", err)
	}
	if raw.Header.Get("X-Amzn-Bedrock-Invocation-Latency") == "" {
		t.Error("no X-Amzn-Bedrock-Invocation-Latency")
	}
	var m map[string]any
	if err := json.Unmarshal(out.Body, &m); err != nil {
		t.Fatalf("answer %s: %v", out.Body, err)
	}
	return m, n, nil
}

// shape summarises an answer: the keys it has and each vector's length and
// norm (rounded), which is what the simulator promises.
type shape struct {
	Keys    []string
	Lengths []int
	Norms   []float64
	Tokens  any // inputTextTokenCount, when present
	Header  int
}

func shapeOf(m map[string]any, header int) shape {
	s := shape{Header: header, Tokens: m["inputTextTokenCount"]}
	for k := range m {
		s.Keys = append(s.Keys, k)
	}
	var vectors []any
	if v, ok := m["embedding"].([]any); ok {
		vectors = append(vectors, v)
	}
	if vs, ok := m["embeddings"].([]any); ok {
		vectors = append(vectors, vs...)
	}
	for _, v := range vectors {
		var sum float64
		for _, x := range v.([]any) {
			sum += x.(float64) * x.(float64)
		}
		s.Lengths = append(s.Lengths, len(v.([]any)))
		s.Norms = append(s.Norms, math.Round(math.Sqrt(sum)*1000)/1000)
	}
	return s
}

func TestInvokeEmbeddings(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	tests := []struct {
		name, model, body string
		want              shape
	}{
		{"titan v2 defaults to 1024 normalized dimensions", titanV2, `{"inputText":"Hello, embeddings!"}`,
			shape{Keys: []string{"embedding", "embeddingsByType", "inputTextTokenCount"}, Lengths: []int{1024}, Norms: []float64{1}, Tokens: 5.0, Header: 5}},
		{"titan v2 at 256 dimensions", titanV2, `{"inputText":"Hi","dimensions":256,"normalize":true}`,
			shape{Keys: []string{"embedding", "embeddingsByType", "inputTextTokenCount"}, Lengths: []int{256}, Norms: []float64{1}, Tokens: 1.0, Header: 1}},
		{"titan v1 at 1536, not normalized", titanV1, `{"inputText":"12345678"}`,
			shape{Keys: []string{"embedding", "inputTextTokenCount"}, Lengths: []int{1536}, Norms: []float64{1.963}, Tokens: 2.0, Header: 2}},
		{"titan by foundation-model ARN", "arn:aws:bedrock:us-east-1::foundation-model/" + titanV1, `{"inputText":"12345678"}`,
			shape{Keys: []string{"embedding", "inputTextTokenCount"}, Lengths: []int{1536}, Norms: []float64{1.963}, Tokens: 2.0, Header: 2}},
		{"cohere counts tokens in the header only", cohereEn, `{"texts":["one","two two"],"input_type":"search_query","truncate":"END"}`,
			shape{Keys: []string{"embeddings", "id", "response_type", "texts"}, Lengths: []int{1024, 1024}, Norms: []float64{1, 1}, Header: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, n, err := invoke(t, rt, tt.model, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			got := shapeOf(m, n)
			if diff := cmp.Diff(tt.want, got, cmp.Transformer("sort", func(in []string) []string {
				out := slices.Clone(in)
				slices.Sort(out)
				return out
			})); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	// Vectors are a function of the model and the text, markers aside.
	a, _, _ := invoke(t, rt, titanV2, `{"inputText":"same"}`)
	b, _, _ := invoke(t, rt, titanV2, `{"inputText":"same[sim:latency=1ms]"}`)
	c, _, _ := invoke(t, rt, titanV2, `{"inputText":"other"}`)
	if !cmp.Equal(a["embedding"], b["embedding"]) || cmp.Equal(a["embedding"], c["embedding"]) {
		t.Error("vectors are not a deterministic function of the text")
	}
	co, _, _ := invoke(t, rt, cohereEn, `{"texts":["x"],"input_type":"clustering","embedding_types":["float","int8"]}`)
	if co["response_type"] != "embeddings_by_type" {
		t.Errorf("embedding_types: %v", co["response_type"])
	}
	byType, _ := co["embeddings"].(map[string]any)
	if f, _ := byType["float"].([]any); len(f) != 1 || len(f[0].([]any)) != 1024 {
		t.Errorf("embeddings by type: %v", shapeOf(byType, 0))
	}
}

func TestInvokeValidation(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	long := strings.Repeat("a", 2049)
	tests := []struct {
		name, model, body string
		code              string
		status            int
		msg               string
	}{
		{"titan v1 rejects dimensions", titanV1, `{"inputText":"x","dimensions":512}`, "ValidationException", 400,
			"Malformed input request: extraneous key [dimensions] is not permitted, please reformat your input and try again."},
		{"titan v2 dimensions are 256, 512 or 1024", titanV2, `{"inputText":"x","dimensions":300}`, "ValidationException", 400,
			"Malformed input request: #/dimensions: 300 is not a valid enum value, please reformat your input and try again."},
		{"titan v2 dimensions must be an integer", titanV2, `{"inputText":"x","dimensions":"256"}`, "ValidationException", 400,
			"#/dimensions: expected type: Integer, found: String"},
		{"titan needs inputText", titanV2, `{"texts":["x"]}`, "ValidationException", 400,
			"extraneous key [texts] is not permitted"},
		{"titan inputText must not be empty", titanV2, `{"inputText":""}`, "ValidationException", 400,
			"#/inputText: expected minLength: 1, actual: 0"},
		{"titan missing inputText", titanV1, `{}`, "ValidationException", 400,
			"#: required key [inputText] not found"},
		{"titan reads at most 8192 tokens", titanV2, `{"inputText":"` + strings.Repeat("abcd", 8193) + `"}`, "ValidationException", 400,
			"Too many input tokens. Max input tokens: 8192, request input token: 8193"},
		{"cohere requires input_type", cohereEn, `{"texts":["x"]}`, "ValidationException", 400,
			"Malformed input request: #: required key [input_type] not found, please reformat your input and try again."},
		{"cohere input_type values", cohereEn, `{"texts":["x"],"input_type":"query"}`, "ValidationException", 400,
			"#/input_type: query is not a valid enum value"},
		{"cohere takes at most 96 texts", cohereEn, `{"texts":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 97), ",") + `],"input_type":"search_document"}`, "ValidationException", 400,
			"#/texts: expected maxItems: 96, actual: 97"},
		{"cohere texts of at most 2048 characters", cohereEn, `{"texts":["ok","` + long + `"],"input_type":"search_document"}`, "ValidationException", 400,
			"#/texts/1: expected maxLength: 2048, actual: 2049"},
		{"not a JSON object", titanV2, `[1]`, "ValidationException", 400,
			"#: expected type: JSONObject, found: JSONArray"},
		{"a chat model other than Claude", "amazon.nova-micro-v1:0", `{"inputText":"x"}`, "ValidationException", 400,
			"Malformed input request: #: the simulator serves InvokeModel only for embedding models and Claude"},
		{"an unknown model", "amazon.titan-embed-text-v9", `{"inputText":"x"}`, "ValidationException", 400,
			"The provided model identifier is invalid."},
		{"an injected error", titanV2, `{"inputText":"x [sim:error=ThrottlingException]"}`, "ThrottlingException", 429,
			"Too many requests"},
		{"an injected error in a batch", cohereEn, `{"texts":["a","b [sim:error=ModelTimeoutException]"],"input_type":"search_document"}`, "ModelTimeoutException", 408,
			"timed out"},
		{"a marker InvokeModel does not honour", titanV2, `{"inputText":"x [sim:tool]"}`, "ValidationException", 400,
			"InvokeModel honours only error, latency and cut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := invoke(t, rt, tt.model, tt.body)
			if err == nil {
				t.Fatal("no error")
			}
			code, status := apiError(t, err)
			var ae smithy.APIError
			errors.As(err, &ae)
			if code != tt.code || status != tt.status || !strings.Contains(ae.ErrorMessage(), tt.msg) {
				t.Errorf("got %s %d %q, want %s %d %q", code, status, ae.ErrorMessage(), tt.code, tt.status, tt.msg)
			}
		})
	}
}

func TestInvokeStats(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	for _, body := range []string{`{"inputText":"12345678"}`, `{"inputText":"x [sim:error=ThrottlingException]"}`, `{"inputText":""}`} {
		_, _, _ = invoke(t, rt, titanV2, body)
	}
	_, _, _ = invoke(t, rt, cohereEn, `{"texts":["1234","12345"],"input_type":"search_document"}`)
	st := s.Stats()
	got := struct {
		Requests, Invocations, Throttles, Invalid int
		Input                                     int64
		ByModel                                   map[string]bedrocksim.Usage
	}{st.Requests[bedrocksim.OpInvokeModel], st.Invocations, st.Errors["ThrottlingException"], st.Errors["ValidationException"], st.InputTokens, st.ByModel}
	want := struct {
		Requests, Invocations, Throttles, Invalid int
		Input                                     int64
		ByModel                                   map[string]bedrocksim.Usage
	}{4, 2, 1, 1, 5, map[string]bedrocksim.Usage{
		titanV2:  {InputTokens: 2, TotalTokens: 2},
		cohereEn: {InputTokens: 3, TotalTokens: 3},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-want +got)\n%s", diff)
	}
}
