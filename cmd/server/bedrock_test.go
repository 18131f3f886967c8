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
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/auth/bearer"
	smithyhttp "github.com/aws/smithy-go/transport/http"

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
		out, err := c.ConverseStream(ctx, streamInput(converseInput(model, prompt, int32(maxTokens))))
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
			Body: claudeBody(prompt, maxTokens), ContentType: aws.String("application/json")})
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
