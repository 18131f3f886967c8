package upstream_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

func TestInvokeModel(t *testing.T) {
	client := simClient(t, t.Context())
	out, tokens, err := client.InvokeModel(t.Context(), "cohere.embed-english-v3",
		[]byte(`{"texts":["12345678","x"],"input_type":"search_document"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Embeddings [][]float32 `json:"embeddings"`
	}
	if err := json.Unmarshal(out, &answer); err != nil || len(answer.Embeddings) != 2 {
		t.Errorf("answer %.80s: %v", out, err)
	}
	if tokens != 3 { // from X-Amzn-Bedrock-Input-Token-Count: Cohere's body has no count
		t.Errorf("input tokens = %d, want 3", tokens)
	}

	type want struct {
		Kind  tollgate.Kind
		Code  string
		Param string
	}
	for _, tt := range []struct {
		name, model, body string
		want              want
	}{
		{"a malformed body", "amazon.titan-embed-text-v1", `{"inputText":"x","dimensions":256}`, want{tollgate.Invalid, "", ""}},
		{"an unknown model", "amazon.titan-embed-text-v9", `{"inputText":"x"}`, want{tollgate.NotFound, "model_not_found", "model"}},
		{"throttled", "amazon.titan-embed-text-v2:0", `{"inputText":"x [sim:error=ThrottlingException]"}`, want{tollgate.RateLimited, "rate_limit_exceeded", ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := client.InvokeModel(t.Context(), tt.model, []byte(tt.body), nil)
			var e *tollgate.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want a *tollgate.Error", err)
			}
			if diff := cmp.Diff(tt.want, want{e.Kind, e.Code, e.Param}); diff != "" {
				t.Errorf("%v: (-want +got)\n%s", err, diff)
			}
		})
	}
}

// TestInvokeModelSendsMetadata checks the wire: the JSON content type and
// accept headers, and the request metadata as Bedrock reads it (a JSON
// object in X-Amzn-Bedrock-Request-Metadata); a missing token count header
// reads as 0.
func TestInvokeModelSendsMetadata(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"embedding":[0.5],"inputTextTokenCount":1}`))
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	client := upstream.NewClient(cfg, srv.URL)
	_, tokens, err := client.InvokeModel(t.Context(), "amazon.titan-embed-text-v2:0", []byte(`{"inputText":"x"}`),
		map[string]string{"tollgate_key_id": "team-a", "user": "u-1"})
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]string
	if err := json.Unmarshal([]byte(got.Get("X-Amzn-Bedrock-Request-Metadata")), &md); err != nil {
		t.Fatalf("metadata header %q: %v", got.Get("X-Amzn-Bedrock-Request-Metadata"), err)
	}
	if diff := cmp.Diff(map[string]string{"tollgate_key_id": "team-a", "user": "u-1"}, md); diff != "" {
		t.Errorf("metadata (-want +got)\n%s", diff)
	}
	if got.Get("Content-Type") != "application/json" || got.Get("Accept") != "application/json" || tokens != 0 {
		t.Errorf("content-type %q, accept %q, tokens %d", got.Get("Content-Type"), got.Get("Accept"), tokens)
	}
}
