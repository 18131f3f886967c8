package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/auth/bearer"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// bedrockPolicy has a capped key and a key allowed two Claude models only;
// an output token costs 10 micro-USD, an input token 0.1.
const bedrockPolicy = `
keys:
  - id: capped
    sha256: %q
    monthly_budget_usd: %s
  - id: free
    sha256: %q
    models: ["anthropic.claude-3-haiku-*", "us.anthropic.claude-3-5-haiku-*"]
pricing:
  anthropic.claude-3-haiku-20240307-v1:0: {input: 0.1, output: 10}
  anthropic.claude-3-5-haiku-20241022-v1:0: {input: 0.1, output: 10}
  amazon.titan-embed-text-v2:0: {input: 0.02, output: 0}
`

const haiku35 = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

func bedrockGateway(t *testing.T, budgetUSD string) *gateway {
	t.Helper()
	dir := t.TempDir()
	body := fmt.Sprintf(bedrockPolicy, policy.HashSecret(cappedSecret), budgetUSD, policy.HashSecret(freeSecret))
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, nil, "-sim", "-policies", dir, "-store", "bolt://"+filepath.Join(t.TempDir(), "usage.db"))
}

// plainBearer sends the bearer token over plain HTTP: the SDK's own signer
// refuses an http:// endpoint, and the test gateway has no TLS.
type plainBearer struct{}

func (plainBearer) SignWithBearerToken(_ context.Context, tok bearer.Token, m bearer.Message) (bearer.Message, error) {
	req, ok := m.(*smithyhttp.Request)
	if !ok {
		return nil, fmt.Errorf("unexpected message %T", m)
	}
	req = req.Clone()
	req.Header.Set("Authorization", "Bearer "+tok.Value)
	return req, nil
}

// bodyNoWriterTo works around smithy-go's request-body race against a fast
// local server (see bedrocksim's package doc).
type bodyNoWriterTo struct{ *http.Client }

func (c bodyNoWriterTo) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return c.Client.Do(r)
}

// bedrockClient is the AWS SDK's Bedrock Runtime client as a user sets it
// up: its endpoint the gateway's /bedrock, the Tollgate key in
// AWS_BEARER_TOKEN_BEDROCK, no AWS credentials. No retries, so that each
// refusal is seen once.
func bedrockClient(t *testing.T, g *gateway, key string) *bedrockruntime.Client {
	t.Setenv("AWS_BEARER_TOKEN_BEDROCK", key)
	return bedrockruntime.New(bedrockruntime.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(g.baseURL + "/bedrock"),
		BearerAuthSigner: plainBearer{},
		HTTPClient:       bodyNoWriterTo{&http.Client{}},
		RetryMaxAttempts: 1,
	})
}

// claudeBody is an InvokeModel body for Claude.
func claudeBody(prompt string, maxTokens int) []byte {
	b, _ := json.Marshal(map[string]any{
		"anthropic_version": "bedrock-2023-05-31", "max_tokens": maxTokens,
		"messages": []map[string]any{{"role": "user", "content": prompt}},
	})
	return b
}

func converseInput(model, prompt string, maxTokens int32) *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{
		ModelId:         aws.String(model),
		Messages:        []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: prompt}}}},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(maxTokens)},
	}
}

func streamInput(in *bedrockruntime.ConverseInput) *bedrockruntime.ConverseStreamInput {
	return &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: in.Messages, InferenceConfig: in.InferenceConfig}
}

// tokens is what one call used, as the client saw it.
type tokens struct{ in, out int }

// the five operations, each returning what the client saw of the usage.
var bedrockOps = []struct {
	name string
	call func(ctx context.Context, c *bedrockruntime.Client, model, prompt string, maxTokens int) (tokens, error)
}{
	{"converse", func(ctx context.Context, c *bedrockruntime.Client, model, prompt string, maxTokens int) (tokens, error) {
		out, err := c.Converse(ctx, converseInput(model, prompt, int32(maxTokens)))
		if err != nil {
			return tokens{}, err
		}
		msg := out.Output.(*types.ConverseOutputMemberMessage).Value
		if len(msg.Content) == 0 || out.StopReason == "" {
			return tokens{}, fmt.Errorf("empty answer %+v", out)
		}
		return tokens{int(*out.Usage.InputTokens), int(*out.Usage.OutputTokens)}, nil
	}},
	{"converse-stream", func(ctx context.Context, c *bedrockruntime.Client, model, prompt string, maxTokens int) (tokens, error) {
		out, err := c.ConverseStream(ctx, streamInput(converseInput(model, prompt, int32(maxTokens))), ownCodec)
		if err != nil {
			return tokens{}, err
		}
		stream := out.GetStream()
		defer stream.Close()
		var u tokens
		var text strings.Builder
		stopped := false
		for ev := range stream.Events() {
			switch ev := ev.(type) {
			case *types.ConverseStreamOutputMemberContentBlockDelta:
				if d, ok := ev.Value.Delta.(*types.ContentBlockDeltaMemberText); ok {
					text.WriteString(d.Value)
				}
			case *types.ConverseStreamOutputMemberMessageStop:
				stopped = true
			case *types.ConverseStreamOutputMemberMetadata:
				u = tokens{int(*ev.Value.Usage.InputTokens), int(*ev.Value.Usage.OutputTokens)}
			}
		}
		if err := stream.Err(); err != nil {
			return u, err
		}
		if !stopped || u.out == 0 || text.Len() == 0 {
			return u, fmt.Errorf("incomplete stream: stopped %v, usage %+v, text %q", stopped, u, text.String())
		}
		return u, nil
	}},
	{"invoke", func(ctx context.Context, c *bedrockruntime.Client, model, prompt string, maxTokens int) (tokens, error) {
		out, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), Body: claudeBody(prompt, maxTokens),
			ContentType: aws.String("application/json")})
		if err != nil {
			return tokens{}, err
		}
		var msg struct {
			Content []struct{ Text string }
			Usage   struct {
				InputTokens  int `json:"input_tokens"`
				OutputTokens int `json:"output_tokens"`
			}
		}
		if err := json.Unmarshal(out.Body, &msg); err != nil || len(msg.Content) == 0 {
			return tokens{}, fmt.Errorf("answer %s: %v", out.Body, err)
		}
		return tokens{msg.Usage.InputTokens, msg.Usage.OutputTokens}, nil
	}},
	{"invoke-with-response-stream", func(ctx context.Context, c *bedrockruntime.Client, model, prompt string, maxTokens int) (tokens, error) {
		out, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(model),
			Body: claudeBody(prompt, maxTokens), ContentType: aws.String("application/json")}, ownCodec)
		if err != nil {
			return tokens{}, err
		}
		stream := out.GetStream()
		defer stream.Close()
		var u tokens
		stopped := false
		for ev := range stream.Events() {
			chunk, ok := ev.(*types.ResponseStreamMemberChunk)
			if !ok {
				continue
			}
			var e struct {
				Type    string
				Metrics *struct {
					In  int `json:"inputTokenCount"`
					Out int `json:"outputTokenCount"`
				} `json:"amazon-bedrock-invocationMetrics"`
			}
			if err := json.Unmarshal(chunk.Value.Bytes, &e); err != nil {
				return u, fmt.Errorf("chunk %s: %v", chunk.Value.Bytes, err)
			}
			if e.Type == "message_stop" && e.Metrics != nil {
				stopped, u = true, tokens{e.Metrics.In, e.Metrics.Out}
			}
		}
		if err := stream.Err(); err != nil {
			return u, err
		}
		if !stopped {
			return u, errors.New("no message_stop with invocation metrics")
		}
		return u, nil
	}},
	{"count-tokens", func(ctx context.Context, c *bedrockruntime.Client, model, prompt string, maxTokens int) (tokens, error) {
		out, err := c.CountTokens(ctx, &bedrockruntime.CountTokensInput{ModelId: aws.String(model),
			Input: &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: claudeBody(prompt, maxTokens)}}})
		if err != nil {
			return tokens{}, err
		}
		if aws.ToInt32(out.InputTokens) <= 0 {
			return tokens{}, fmt.Errorf("counted %d tokens", aws.ToInt32(out.InputTokens))
		}
		return tokens{}, nil // counting is free
	}},
}

// ownCodec gives a stream call a protocol of its own: smithy-go v1.28
// shares one event-stream decoder among a client's concurrent streams (see
// upstream's ownStreamCodec).
func ownCodec(o *bedrockruntime.Options) { o.Protocol = restjson1.New(nil) }

// modelFor is the model each operation is tried with: the simulator counts
// tokens only for the newer Claude models, served through profiles.
func modelFor(op string) string {
	if op == "count-tokens" {
		return haiku35
	}
	return haiku
}

// apiError returns err's Bedrock error code and HTTP status.
func apiError(err error) (string, int) {
	var ae smithy.APIError
	var re *smithyhttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) {
		return "", 0
	}
	return ae.ErrorCode(), re.HTTPStatusCode()
}

// TestBedrockSDK: the AWS SDK's Bedrock Runtime client, pointed at
// /bedrock with a Tollgate key as its bearer token, makes all five
// operations; the spend settled is exactly what the answers report.
func TestBedrockSDK(t *testing.T) {
	g := bedrockGateway(t, "5")
	client := bedrockClient(t, g, cappedSecret)
	ctx := context.Background()
	var wantMicros float64
	for _, op := range bedrockOps {
		u, err := op.call(ctx, client, modelFor(op.name), "Say hello. [sim:tokens=12]", 200)
		if err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		wantMicros += math.Ceil(float64(u.in)*0.1 + float64(u.out)*10) // each settlement rounds up to a micro-USD
	}
	got := g.usage(t, cappedSecret)
	if spent := math.Round(got.Key.SpentUSD * 1e6); spent != wantMicros || wantMicros == 0 {
		t.Errorf("spent %.1f micro-USD, want %.1f (the usage the answers report)", spent, wantMicros)
	}
	if got.Key.ReservedUSD != 0 {
		t.Errorf("%v USD still reserved", got.Key.ReservedUSD)
	}
}

// TestBedrockGuards: every operation is under the key's allowlist (403
// AccessDeniedException, Bedrock not called) and its budget (400
// ServiceQuotaExceededException naming the key's budget, which the SDKs do
// not retry); a missing, unknown or SigV4 credential is a 403
// UnrecognizedClientException.
func TestBedrockGuards(t *testing.T) {
	g := bedrockGateway(t, "0.000001")
	ctx := context.Background()
	t.Run("model not allowed", func(t *testing.T) {
		client := bedrockClient(t, g, freeSecret)
		for _, op := range bedrockOps {
			_, err := op.call(ctx, client, "anthropic.claude-3-5-sonnet-20240620-v1:0", "Hi", 100)
			var denied *types.AccessDeniedException
			if code, status := apiError(err); !errors.As(err, &denied) || status != 403 || !strings.Contains(err.Error(), "not allowed") {
				t.Errorf("%s: %v (%s %d), want a 403 AccessDeniedException saying the model is not allowed", op.name, err, code, status)
			}
		}
		if !logged(g, `"error_code":"model_not_allowed"`) || logged(g, `"upstream_request_id"`) {
			t.Errorf("the refusals are not logged as model_not_allowed, or Bedrock was called:\n%s", g.logs)
		}
	})
	t.Run("budget", func(t *testing.T) {
		client := bedrockClient(t, g, cappedSecret)
		for _, op := range bedrockOps {
			if op.name == "count-tokens" {
				continue // counting is free
			}
			_, err := op.call(ctx, client, haiku, "Hi", 100)
			var quota *types.ServiceQuotaExceededException
			if code, status := apiError(err); !errors.As(err, &quota) || status != 400 || !strings.Contains(err.Error(), "budget") {
				t.Errorf("%s: %v (%s %d), want a 400 ServiceQuotaExceededException naming the budget", op.name, err, code, status)
			}
		}
		if u := g.usage(t, cappedSecret); u.Key.SpentUSD != 0 || u.Key.ReservedUSD != 0 {
			t.Errorf("spent %v, reserved %v after refusals", u.Key.SpentUSD, u.Key.ReservedUSD)
		}
	})
	t.Run("credentials", func(t *testing.T) {
		for name, client := range map[string]*bedrockruntime.Client{
			"unknown key": bedrockClient(t, g, "sk-not-a-key-0123456789"),
			"sigv4":       sigv4Client(t, g),
		} {
			_, err := client.Converse(ctx, converseInput(haiku, "Hi", 10))
			if code, status := apiError(err); code != "UnrecognizedClientException" || status != 403 {
				t.Errorf("%s: %v (%s %d), want 403 UnrecognizedClientException", name, err, code, status)
			}
		}
		status, h, b := g.do(t, "GET", "/bedrock/inference-profiles?type=SYSTEM_DEFINED", "", "", "")
		if status != 403 || h.Get("X-Amzn-ErrorType") != "UnrecognizedClientException" || !strings.HasPrefix(string(b), `{"message":`) {
			t.Errorf("inference profiles without a key: %d %v %s", status, h, b)
		}
	})
}

// TestBedrockClamp: near the end of a budget the output cap is lowered in
// the body Bedrock gets, so the answer stops at it and the spend stays
// under the cap.
func TestBedrockClamp(t *testing.T) {
	g := bedrockGateway(t, "0.006") // 6,000 micro-USD: about 590 output tokens
	client := bedrockClient(t, g, cappedSecret)
	out, err := client.Converse(context.Background(), converseInput(haiku, "Write at length. [sim:tokens=1000]", 1000))
	if err != nil {
		t.Fatal(err)
	}
	if n := *out.Usage.OutputTokens; out.StopReason != types.StopReasonMaxTokens || n >= 600 || n < 400 {
		t.Errorf("stop %s after %d tokens, want max_tokens near 590", out.StopReason, n)
	}
	if u := g.usage(t, cappedSecret); u.Key.SpentUSD > 0.006 || u.Key.ReservedUSD != 0 {
		t.Errorf("spent %v USD of 0.006, reserved %v", u.Key.SpentUSD, u.Key.ReservedUSD)
	}
}

// TestBedrockBudgetUnderConcurrency: 200 concurrent requests on a capped
// key, spread over the five operations, never push spend past the cap.
func TestBedrockBudgetUnderConcurrency(t *testing.T) {
	g := bedrockGateway(t, "0.05")
	client := bedrockClient(t, g, cappedSecret)
	const n = 200
	var (
		mu    sync.Mutex
		codes = map[string]int{}
		wg    sync.WaitGroup
	)
	for i := range n {
		op := bedrockOps[i%len(bedrockOps)]
		wg.Go(func() {
			_, err := op.call(context.Background(), client, modelFor(op.name), "Count. [sim:tokens=100] [sim:latency=200ms]", 100)
			code, _ := apiError(err)
			if err != nil && code != "ServiceQuotaExceededException" {
				t.Errorf("%s: %v", op.name, err)
			}
			mu.Lock()
			codes[op.name+" "+or(code, "ok")]++
			mu.Unlock()
		})
	}
	wg.Wait()
	u := g.usage(t, cappedSecret)
	t.Logf("%v; spent %.0f micro-USD of 50000", codes, u.Key.SpentUSD*1e6)
	if u.Key.SpentUSD > 0.05 || u.Key.ReservedUSD != 0 {
		t.Errorf("spent %v USD of 0.05, %v still reserved", u.Key.SpentUSD, u.Key.ReservedUSD)
	}
	if codes["converse ServiceQuotaExceededException"] == 0 || codes["converse ok"] == 0 {
		t.Errorf("%v: the cap should admit some requests and refuse others", codes)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sigv4Client is the SDK's client with AWS credentials instead of a
// Tollgate key.
func sigv4Client(t *testing.T, g *gateway) *bedrockruntime.Client {
	t.Setenv("AWS_BEARER_TOKEN_BEDROCK", "")
	return bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(g.baseURL + "/bedrock"),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), HTTPClient: bodyNoWriterTo{&http.Client{}}, RetryMaxAttempts: 1})
}

// TestBedrockStreamFaults: Bedrock's errors reach the SDK with their type
// and status, before a stream (the error response) and during one (the
// exception event, as Bedrock sent it); a stream Bedrock cut ends with an
// exception event instead of looking complete; each is settled.
func TestBedrockStreamFaults(t *testing.T) {
	g := bedrockGateway(t, "5")
	client := bedrockClient(t, g, cappedSecret)
	ctx := context.Background()
	tests := []struct {
		name, op, marker, wantCode string
		wantStatus                 int
		billed                     bool
	}{
		{"error before the stream", "converse-stream", "[sim:error=ThrottlingException]", "ThrottlingException", 429, false},
		{"error on invoke", "invoke", "[sim:error=ModelNotReadyException]", "ModelNotReadyException", 429, false},
		{"exception mid-stream", "converse-stream", "[sim:tokens=50] [sim:exception=modelStreamErrorException]", "ModelStreamErrorException", 0, true},
		{"exception mid invoke stream", "invoke-with-response-stream", "[sim:tokens=50] [sim:exception=throttlingException]", "ThrottlingException", 0, true},
		{"cut", "converse-stream", "[sim:tokens=50] [sim:cut]", "ModelStreamErrorException", 0, true},
		{"cut invoke stream", "invoke-with-response-stream", "[sim:tokens=50] [sim:cut]", "ModelStreamErrorException", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.usage(t, cappedSecret).Key.SpentUSD
			for _, op := range bedrockOps {
				if op.name != tt.op {
					continue
				}
				_, err := op.call(ctx, client, haiku, "Hi "+tt.marker, 200)
				code, status := apiError(err)
				var se interface{ ErrorCode() string }
				if status == 0 && errors.As(err, &se) {
					code = se.ErrorCode()
				}
				if code != tt.wantCode || status != tt.wantStatus {
					t.Errorf("%v: code %q status %d, want %q %d", err, code, status, tt.wantCode, tt.wantStatus)
				}
			}
			u := g.usage(t, cappedSecret)
			if billed := u.Key.SpentUSD > before; billed != tt.billed || u.Key.ReservedUSD != 0 {
				t.Errorf("billed %v (spent %v → %v), want %v; reserved %v", billed, before, u.Key.SpentUSD, tt.billed, u.Key.ReservedUSD)
			}
		})
	}
}

// TestBedrockClientLeaves: a client that leaves a stream after its first
// event is billed what Bedrock reports at the end.
func TestBedrockClientLeaves(t *testing.T) {
	g := bedrockGateway(t, "5")
	client := bedrockClient(t, g, cappedSecret)
	for _, op := range []string{"converse-stream", "invoke-with-response-stream"} {
		before := g.usage(t, cappedSecret).Key.SpentUSD
		ctx, cancel := context.WithCancel(context.Background())
		var events <-chan struct{}
		switch op {
		case "converse-stream":
			out, err := client.ConverseStream(ctx, streamInput(converseInput(haiku, "Tell a story. [sim:tokens=300]", 500)))
			if err != nil {
				t.Fatal(err)
			}
			<-out.GetStream().Events()
		default:
			out, err := client.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(haiku),
				Body: claudeBody("Tell a story. [sim:tokens=300]", 500), ContentType: aws.String("application/json")})
			if err != nil {
				t.Fatal(err)
			}
			<-out.GetStream().Events()
		}
		_ = events
		cancel()
		// 300 output tokens cost 3,000 micro-USD: only the whole answer's usage reaches that.
		waitFor(t, 10*time.Second, func() bool {
			u := g.usage(t, cappedSecret)
			return u.Key.SpentUSD-before >= 0.003 && u.Key.ReservedUSD == 0
		})
		if logged(g, `"usage_estimated":true`) {
			t.Errorf("%s: the usage was estimated, not Bedrock's", op)
		}
	}
}

// TestBedrockLists: the control-plane lists Claude Code reads at start are
// the catalog narrowed to the key's allowlist, in Bedrock's shapes.
func TestBedrockLists(t *testing.T) {
	g := bedrockGateway(t, "5")
	allowed := func(id string) bool {
		return strings.HasPrefix(id, "anthropic.claude-3-haiku-") || strings.HasPrefix(id, "us.anthropic.claude-3-5-haiku-")
	}
	status, _, b := g.do(t, "GET", "/bedrock/foundation-models", freeSecret, "", "")
	var fm struct {
		ModelSummaries []struct{ ModelID, ModelArn, ProviderName string } `json:"modelSummaries"`
	}
	if err := json.Unmarshal(b, &fm); status != 200 || err != nil || len(fm.ModelSummaries) == 0 {
		t.Fatalf("foundation models: %d %v %s", status, err, b)
	}
	for _, m := range fm.ModelSummaries {
		if !allowed(m.ModelID) || !strings.HasSuffix(m.ModelArn, "foundation-model/"+m.ModelID) || m.ProviderName != "anthropic" {
			t.Errorf("listed %+v", m)
		}
	}
	status, _, b = g.do(t, "GET", "/bedrock/inference-profiles?typeEquals=SYSTEM_DEFINED", freeSecret, "", "")
	var ip struct {
		Profiles []struct {
			InferenceProfileID string `json:"inferenceProfileId"`
			Type               string `json:"type"`
			Models             []struct{ ModelArn string }
		} `json:"inferenceProfileSummaries"`
	}
	if err := json.Unmarshal(b, &ip); status != 200 || err != nil || len(ip.Profiles) == 0 {
		t.Fatalf("inference profiles: %d %v %s", status, err, b)
	}
	for _, p := range ip.Profiles {
		if !allowed(p.InferenceProfileID) || p.Type != "SYSTEM_DEFINED" || len(p.Models) != 1 {
			t.Errorf("listed %+v", p)
		}
	}
}

// TestBedrockModelIDs: ids with ':' and ARNs with '/' reach the same model,
// escaped (as the SDKs send them) or not.
func TestBedrockModelIDs(t *testing.T) {
	g := bedrockGateway(t, "5")
	client := bedrockClient(t, g, DemoKey)
	for _, id := range []string{haiku, "us." + haiku, "arn:aws:bedrock:us-east-1::foundation-model/" + haiku, bedrocksim.AppProfileARN} {
		if _, err := client.Converse(context.Background(), converseInput(id, "Hi", 10)); err != nil {
			t.Errorf("%s through the SDK: %v", id, err)
		}
		status, _, b := g.do(t, "POST", "/bedrock/model/"+id+"/converse", DemoKey, "application/json",
			`{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":10}}`)
		if status != 200 || !strings.Contains(string(b), `"usage"`) {
			t.Errorf("%s unescaped: %d %s", id, status, b)
		}
	}
}

// TestBedrockEmbeddings: an embedding model on /invoke is priced as an
// embedding, from the input tokens Bedrock reports, its body passed
// through both ways.
func TestBedrockEmbeddings(t *testing.T) {
	g := bedrockGateway(t, "5")
	client := bedrockClient(t, g, cappedSecret)
	out, err := client.InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{ModelId: aws.String("amazon.titan-embed-text-v2:0"),
		Body: []byte(`{"inputText":"Tollgate meters every token.","dimensions":256}`), ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Embedding           []float64 `json:"embedding"`
		InputTextTokenCount int       `json:"inputTextTokenCount"`
	}
	if err := json.Unmarshal(out.Body, &answer); err != nil || len(answer.Embedding) != 256 || answer.InputTextTokenCount == 0 {
		t.Fatalf("answer %s: %v", out.Body, err)
	}
	u := g.usage(t, cappedSecret)
	want := math.Ceil(float64(answer.InputTextTokenCount) * 20 / 1e3) // 0.02 USD per 1M tokens, rounded up to a micro-USD
	if spent := math.Round(u.Key.SpentUSD * 1e6); spent != want || u.Key.ReservedUSD != 0 {
		t.Errorf("spent %v micro-USD, want %v; reserved %v", spent, want, u.Key.ReservedUSD)
	}
}

// TestBedrockGuardrail: the key's guardrail applies on /bedrock whatever
// the request names: the simulator's guardrail intervenes only when the
// request Bedrock gets has one.
func TestBedrockGuardrail(t *testing.T) {
	dir := t.TempDir()
	body := fmt.Sprintf("keys:\n  - id: guarded\n    sha256: %q\n    guardrail: {id: abc123xyz, version: \"1\"}\n", policy.HashSecret(freeSecret))
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "bolt://"+filepath.Join(t.TempDir(), "usage.db"))
	for key, want := range map[string]types.StopReason{freeSecret: types.StopReasonGuardrailIntervened, DemoKey: types.StopReasonEndTurn} {
		out, err := bedrockClient(t, g, key).Converse(context.Background(), converseInput(haiku, "Hi [sim:guardrail]", 50))
		if err != nil {
			t.Fatal(err)
		}
		if out.StopReason != want {
			t.Errorf("key %s…: stop reason %s, want %s", key[:8], out.StopReason, want)
		}
	}
}
