package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/tokens"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// fakeBedrock answers InvokeModel for Titan v2 and Cohere with vectors that
// say which text they embed (the first value is the number at the end of
// the text), and records how many calls ran at once. The seam under test
// is the handler's fan-out, which the simulator's fixed answers cannot
// steer; the end-to-end tests in cmd/server run the real simulator.
type fakeBedrock struct {
	delay   time.Duration
	fail    string // a text whose call fails with a throttle
	noCount bool   // report no token count, in body nor header

	mu              sync.Mutex
	calls, inFlight int
	peak            int
}

func (f *fakeBedrock) Converse(context.Context, *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseOutput, error) {
	return nil, errors.New("not used")
}

func (f *fakeBedrock) ConverseStream(context.Context, *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseStreamEventStream, error) {
	return nil, errors.New("not used")
}

func (f *fakeBedrock) InvokeModel(_ context.Context, modelID string, body []byte, _ map[string]string) ([]byte, int, error) {
	f.mu.Lock()
	f.calls++
	f.inFlight++
	f.peak = max(f.peak, f.inFlight)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	time.Sleep(f.delay)

	var req struct {
		InputText string   `json:"inputText"`
		Texts     []string `json:"texts"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, 0, err
	}
	texts := req.Texts
	if req.InputText != "" {
		texts = []string{req.InputText}
	}
	vectors := make([][]float32, len(texts))
	for i, t := range texts {
		if t == f.fail {
			return nil, 0, &tollgate.Error{Kind: tollgate.RateLimited, Code: "rate_limit_exceeded", Message: "Bedrock: Too many requests"}
		}
		_, num, _ := strings.Cut(t, " ")
		n, _ := strconv.Atoi(num)
		vectors[i] = make([]float32, 1024)
		vectors[i][0] = float32(n)
	}
	tokens := 2 * len(texts) // a fixed count, so that sums are easy to check
	if f.noCount {
		tokens = 0
	}
	var out []byte
	if strings.HasPrefix(modelID, "cohere.") {
		out, _ = json.Marshal(map[string]any{"embeddings": vectors, "response_type": "embeddings_floats"})
	} else {
		out, _ = json.Marshal(map[string]any{"embedding": vectors[0], "inputTextTokenCount": tokens})
	}
	return out, tokens, nil
}

type fakeCatalog struct{}

func (fakeCatalog) Models(context.Context) ([]upstream.Model, error) { return nil, nil }
func (fakeCatalog) Lookup(_ context.Context, id string) (upstream.Model, bool, error) {
	if id == titanProfile {
		return upstream.Model{ID: id, OwnedBy: "amazon", Base: "amazon.titan-embed-text-v2:0"}, true, nil
	}
	return upstream.Model{}, false, nil
}

// titanProfile is an application inference profile routing to Titan v2.
const titanProfile = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/t1tan"

const embedSecret = "sk-embed-test"

// embeddingsServer is the handler with an uncapped key, its request log in
// logs.
func embeddingsServer(t *testing.T, f *fakeBedrock) (*httptest.Server, *lockedWriter) {
	t.Helper()
	p, err := policy.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = p.WithKey(policy.Key{ID: "k", SHA256: policy.HashSecret(embedSecret)}); err != nil {
		t.Fatal(err)
	}
	logs := &lockedWriter{}
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		Policies: policy.NewHolder(p),
		Bedrock:  f,
		Catalog:  fakeCatalog{},
		Budget:   budget.New(memory.New(), budget.Options{}),
		Tokens:   &tokens.Counter{},
	}))
	t.Cleanup(srv.Close)
	return srv, logs
}

type lockedWriter struct {
	mu sync.Mutex
	w  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// logLine waits for the request log line of the one request served: it is
// written once the response is sent.
func (l *lockedWriter) logLine(t *testing.T) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		l.mu.Lock()
		line := bytes.TrimSpace(l.w.Bytes())
		l.mu.Unlock()
		if len(line) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log %q: %v", line, err)
		}
		return rec
	}
	t.Fatal("no request log line")
	return nil
}

// embed posts an embeddings request for texts "text 0" ... "text n-1".
func embed(t *testing.T, srv *httptest.Server, model string, n int) (int, map[string]any) {
	t.Helper()
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprint("text ", i)
	}
	body, _ := json.Marshal(map[string]any{"model": model, "input": texts})
	req, _ := http.NewRequest("POST", srv.URL+"/v1/embeddings", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+embedSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// firsts returns the first value of each embedding: the number of the text
// it embeds.
func firsts(resp map[string]any) []int {
	var out []int
	for _, d := range resp["data"].([]any) {
		out = append(out, int(d.(map[string]any)["embedding"].([]any)[0].(float64)))
	}
	return out
}

func upTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestEmbeddingsFanOut(t *testing.T) {
	f := &fakeBedrock{delay: 5 * time.Millisecond}
	srv, logs := embeddingsServer(t, f)
	status, resp := embed(t, srv, "amazon.titan-embed-text-v2:0", 50)
	if status != 200 {
		t.Fatalf("%d %v", status, resp)
	}
	if diff := cmp.Diff(upTo(50), firsts(resp)); diff != "" {
		t.Errorf("order (-want +got)\n%s", diff)
	}
	if f.calls != 50 || f.peak < 2 || f.peak > 8 {
		t.Errorf("%d calls, %d at once: want one per text, concurrent, at most 8 at once", f.calls, f.peak)
	}
	rec := logs.logLine(t)
	if rec["input_tokens"] != 100.0 || rec["usage_estimated"] != nil || resp["usage"].(map[string]any)["prompt_tokens"] != 100.0 {
		t.Errorf("usage %v, log %v", resp["usage"], rec)
	}
}

func TestEmbeddingsBatches(t *testing.T) {
	f := &fakeBedrock{}
	srv, _ := embeddingsServer(t, f)
	status, resp := embed(t, srv, "cohere.embed-english-v3", 200)
	if status != 200 {
		t.Fatalf("%d %v", status, resp)
	}
	if diff := cmp.Diff(upTo(200), firsts(resp)); diff != "" {
		t.Errorf("order (-want +got)\n%s", diff)
	}
	if f.calls != 3 {
		t.Errorf("%d calls for 200 texts, want 3 of at most 96", f.calls)
	}
}

func TestEmbeddingsEstimatedWhenBedrockCountsNothing(t *testing.T) {
	f := &fakeBedrock{noCount: true}
	srv, logs := embeddingsServer(t, f)
	status, resp := embed(t, srv, "cohere.embed-english-v3", 3)
	if status != 200 {
		t.Fatalf("%d %v", status, resp)
	}
	var c tokens.Counter
	want := float64(c.Count("text 0", "text 1", "text 2"))
	rec := logs.logLine(t)
	if rec["usage_estimated"] != true || rec["input_tokens"] != want || resp["usage"].(map[string]any)["prompt_tokens"] != want {
		t.Errorf("usage %v, log %v: want %v tokens, estimated", resp["usage"], rec, want)
	}
}

func TestEmbeddingsFailureStopsNewCalls(t *testing.T) {
	f := &fakeBedrock{delay: 5 * time.Millisecond, fail: "text 3"}
	srv, logs := embeddingsServer(t, f)
	status, resp := embed(t, srv, "amazon.titan-embed-text-v2:0", 100)
	if status != 429 || resp["error"].(map[string]any)["code"] != "rate_limit_exceeded" {
		t.Fatalf("%d %v, want the failed call's 429", status, resp)
	}
	if f.calls >= 100 {
		t.Errorf("%d calls: calls kept starting after one failed", f.calls)
	}
	// Every call but the failed one was billed.
	if rec := logs.logLine(t); rec["input_tokens"] != float64(2*(f.calls-1)) {
		t.Errorf("settled %v input tokens, want %d for %d successful calls", rec["input_tokens"], 2*(f.calls-1), f.calls-1)
	}
}

// TestEmbeddingsApplicationProfile: an application inference profile's ARN
// names no model; the calls are planned for the model the catalog lists
// behind it (one text per call for Titan) and sent to the ARN.
func TestEmbeddingsApplicationProfile(t *testing.T) {
	f := &fakeBedrock{}
	srv, _ := embeddingsServer(t, f)
	status, resp := embed(t, srv, titanProfile, 3)
	if status != 200 {
		t.Fatalf("%d %v", status, resp)
	}
	if f.calls != 3 {
		t.Errorf("%d calls for 3 texts, want Titan's one per text", f.calls)
	}
	if status, _ := embed(t, srv, "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/unknown", 1); status != 400 {
		t.Errorf("an unknown profile: %d, want 400", status)
	}
}
