package bedrocksim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
)

const (
	haiku    = "anthropic.claude-3-haiku-20240307-v1:0"
	sonnet4  = "us.anthropic.claude-sonnet-4-20250514-v1:0"
	sonnet45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
)

// sim is a simulator started on 127.0.0.1:0 for one test, with real SDK
// clients pointed at it.
type sim struct {
	*bedrocksim.Server
	url string
}

func startSim(t *testing.T, opts bedrocksim.Options) *sim {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := bedrocksim.New(opts)
	url, err := s.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return &sim{Server: s, url: url}
}

var staticCredentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Source: "test"}, nil
})

// runtime returns a bedrock-runtime client for region (default us-east-1)
// that does not retry.
func (s *sim) runtime(region ...string) *bedrockruntime.Client {
	r := "us-east-1"
	if len(region) > 0 {
		r = region[0]
	}
	return bedrockruntime.New(bedrockruntime.Options{
		Region:       r,
		BaseEndpoint: aws.String(s.url),
		Credentials:  staticCredentials,
		Retryer:      aws.NopRetryer{},
	})
}

// control returns a bedrock control-plane client for region (default
// us-east-1) that does not retry.
func (s *sim) control(region ...string) *bedrock.Client {
	r := "us-east-1"
	if len(region) > 0 {
		r = region[0]
	}
	return bedrock.New(bedrock.Options{
		Region:       r,
		BaseEndpoint: aws.String(s.url),
		Credentials:  staticCredentials,
		Retryer:      aws.NopRetryer{},
	})
}

func userText(text string) []types.Message {
	return []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: text}}}}
}

func converseInput(modelID, text string) *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{ModelId: aws.String(modelID), Messages: userText(text)}
}

func streamInput(in *bedrockruntime.ConverseInput) *bedrockruntime.ConverseStreamInput {
	return &bedrockruntime.ConverseStreamInput{
		ModelId:                      in.ModelId,
		Messages:                     in.Messages,
		System:                       in.System,
		InferenceConfig:              in.InferenceConfig,
		ToolConfig:                   in.ToolConfig,
		AdditionalModelRequestFields: in.AdditionalModelRequestFields,
	}
}

// weatherTools is a toolConfig with two tools.
func weatherTools() *types.ToolConfiguration {
	return &types.ToolConfiguration{Tools: []types.Tool{
		&types.ToolMemberToolSpec{Value: types.ToolSpecification{
			Name:        aws.String("get_weather"),
			Description: aws.String("Current weather in a city"),
			InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{
				"type": "object",
				"properties": map[string]any{
					"city":  map[string]any{"type": "string"},
					"unit":  map[string]any{"type": "string", "enum": []any{"celsius", "fahrenheit"}},
					"days":  map[string]any{"type": "integer"},
					"debug": map[string]any{"type": "boolean"},
				},
				"required": []any{"city", "unit", "days"},
			})},
		}},
		&types.ToolMemberToolSpec{Value: types.ToolSpecification{
			Name:        aws.String("get_time"),
			Description: aws.String("Current time in a timezone"),
			InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{
				"type":       "object",
				"properties": map[string]any{"tz": map[string]any{"type": "string"}, "utc": map[string]any{"type": "boolean"}},
			})},
		}},
	}}
}

// usageOf flattens SDK token usage for comparison.
type usageOf struct {
	Input, Output, Total, CacheRead, CacheWrite int32
}

func flattenUsage(u *types.TokenUsage) usageOf {
	if u == nil {
		return usageOf{}
	}
	return usageOf{
		Input: aws.ToInt32(u.InputTokens), Output: aws.ToInt32(u.OutputTokens), Total: aws.ToInt32(u.TotalTokens),
		CacheRead: aws.ToInt32(u.CacheReadInputTokens), CacheWrite: aws.ToInt32(u.CacheWriteInputTokens),
	}
}

// contentTranscript renders content blocks as lines for comparison.
func contentTranscript(t *testing.T, blocks []types.ContentBlock) []string {
	t.Helper()
	var out []string
	for _, b := range blocks {
		switch v := b.(type) {
		case *types.ContentBlockMemberText:
			out = append(out, "text: "+v.Value)
		case *types.ContentBlockMemberToolUse:
			out = append(out, fmt.Sprintf("toolUse %s: %s", aws.ToString(v.Value.Name), docJSON(t, v.Value.Input)))
		case *types.ContentBlockMemberReasoningContent:
			rt := v.Value.(*types.ReasoningContentBlockMemberReasoningText)
			out = append(out, fmt.Sprintf("reasoning: %s (signed %t)", aws.ToString(rt.Value.Text), aws.ToString(rt.Value.Signature) != ""))
		default:
			out = append(out, fmt.Sprintf("unexpected %T", b))
		}
	}
	return out
}

func docJSON(t *testing.T, d document.Interface) string {
	t.Helper()
	b, err := d.MarshalSmithyDocument()
	if err != nil {
		t.Fatalf("marshal document: %v", err)
	}
	return string(b)
}

// streamTranscript reads a ConverseStream to its end and renders its events
// as lines; deltas of one block are merged so that the transcript does not
// depend on the chunking, and counted.
type streamResult struct {
	Lines  []string
	Deltas map[int32]int
	Usage  usageOf
	Err    error
}

func readStream(t *testing.T, out *bedrockruntime.ConverseStreamOutput) streamResult {
	t.Helper()
	es := out.GetStream()
	defer es.Close()
	res := streamResult{Deltas: map[int32]int{}}
	var pending strings.Builder
	pendingIndex := int32(-1)
	flush := func() {
		if pendingIndex >= 0 {
			res.Lines = append(res.Lines, fmt.Sprintf("delta %d: %s", pendingIndex, pending.String()))
			pending.Reset()
			pendingIndex = -1
		}
	}
	timeout := time.After(10 * time.Second)
	for {
		var ev types.ConverseStreamOutput
		var ok bool
		select {
		case ev, ok = <-es.Events():
		case <-timeout:
			t.Fatal("stream did not end")
		}
		if !ok {
			break
		}
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberMessageStart:
			res.Lines = append(res.Lines, "messageStart: "+string(v.Value.Role))
		case *types.ConverseStreamOutputMemberContentBlockStart:
			flush()
			tu := v.Value.Start.(*types.ContentBlockStartMemberToolUse)
			res.Lines = append(res.Lines, fmt.Sprintf("start %d: toolUse %s %t", aws.ToInt32(v.Value.ContentBlockIndex),
				aws.ToString(tu.Value.Name), strings.HasPrefix(aws.ToString(tu.Value.ToolUseId), "tooluse_")))
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			idx := aws.ToInt32(v.Value.ContentBlockIndex)
			if idx != pendingIndex {
				flush()
				pendingIndex = idx
			}
			res.Deltas[idx]++
			switch d := v.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				pending.WriteString(d.Value)
			case *types.ContentBlockDeltaMemberToolUse:
				pending.WriteString(aws.ToString(d.Value.Input))
			case *types.ContentBlockDeltaMemberReasoningContent:
				switch r := d.Value.(type) {
				case *types.ReasoningContentBlockDeltaMemberText:
					pending.WriteString(r.Value)
				case *types.ReasoningContentBlockDeltaMemberSignature:
					pending.WriteString(" (signed)")
				}
			}
		case *types.ConverseStreamOutputMemberContentBlockStop:
			flush()
			res.Lines = append(res.Lines, fmt.Sprintf("stop %d", aws.ToInt32(v.Value.ContentBlockIndex)))
		case *types.ConverseStreamOutputMemberMessageStop:
			res.Lines = append(res.Lines, "messageStop: "+string(v.Value.StopReason))
		case *types.ConverseStreamOutputMemberMetadata:
			res.Lines = append(res.Lines, "metadata")
			res.Usage = flattenUsage(v.Value.Usage)
		default:
			res.Lines = append(res.Lines, fmt.Sprintf("unexpected %T", ev))
		}
	}
	flush()
	res.Err = es.Err()
	return res
}

// apiError returns the error code and HTTP status of an SDK error.
func apiError(t *testing.T, err error) (code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not a smithy.APIError", err, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
		if re.ServiceRequestID() == "" {
			t.Errorf("error %v carries no request id", err)
		}
	}
	return ae.ErrorCode(), status
}

// rawRequest sends a request without the SDK.
func rawRequest(t *testing.T, method, url, auth, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

// fakeClock is a clock that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(minutes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Duration(minutes) * time.Minute)
}
