package bedrocksim_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
)

func TestInjectedErrors(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	tests := []struct {
		name       string
		wantStatus int
		target     any
		wantMsg    string
	}{
		{"AccessDeniedException", 403, new(*types.AccessDeniedException), "You don't have access to the model with the specified model ID."},
		{"ConflictException", 400, new(*types.ConflictException), ""},
		{"InternalServerException", 500, new(*types.InternalServerException), ""},
		{"ModelErrorException", 424, new(*types.ModelErrorException), ""},
		{"ModelNotReadyException", 429, new(*types.ModelNotReadyException), ""},
		{"ModelTimeoutException", 408, new(*types.ModelTimeoutException), ""},
		{"ResourceNotFoundException", 404, new(*types.ResourceNotFoundException), ""},
		{"ServiceQuotaExceededException", 400, new(*types.ServiceQuotaExceededException), "Too many tokens per day, please wait before trying again."},
		{"ServiceUnavailableException", 503, new(*types.ServiceUnavailableException), ""},
		{"ThrottlingException", 429, new(*types.ThrottlingException), "Too many requests, please wait before trying again."},
		{"ValidationException", 400, new(*types.ValidationException), ""},
	}
	if diff := cmp.Diff(len(bedrocksim.ErrorNames()), len(tests)); diff != "" {
		t.Errorf("ErrorNames and the test table differ in length: %s", diff)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rt.Converse(context.Background(), converseInput(haiku, "Hi [sim:error="+tt.name+"]"))
			if !errors.As(err, tt.target) {
				t.Fatalf("err = %v (%T), want %T", err, err, tt.target)
			}
			code, status := apiError(t, err)
			if code != tt.name || status != tt.wantStatus {
				t.Errorf("got %s %d, want %s %d", code, status, tt.name, tt.wantStatus)
			}
			var ae smithy.APIError
			errors.As(err, &ae)
			if ae.ErrorMessage() == "" || (tt.wantMsg != "" && ae.ErrorMessage() != tt.wantMsg) {
				t.Errorf("message = %q, want %q", ae.ErrorMessage(), tt.wantMsg)
			}
		})
	}
}

func TestWireErrors(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	const sigv4 = "AWS4-HMAC-SHA256 Credential=AKID/20250601/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00"
	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		body       string
		wantStatus int
		wantType   string
		wantBody   map[string]any
	}{
		{
			name: "missing Authorization header", method: "POST", path: "/model/" + haiku + "/converse",
			body:       `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
			wantStatus: 403, wantType: "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/",
			wantBody: map[string]any{"Message": "Authorization header is missing"},
		},
		{
			name: "unknown operation", method: "GET", path: "/model/" + haiku + "/converse", auth: sigv4,
			wantStatus: 404, wantType: "UnknownOperationException:http://internal.amazon.com/coral/com.amazon.coral.service/",
			wantBody: map[string]any{"message": ""},
		},
		{
			name: "unparsable body", method: "POST", path: "/model/" + haiku + "/converse", auth: sigv4, body: `{"messages":`,
			wantStatus: 400, wantType: "SerializationException:http://internal.amazon.com/coral/com.amazon.coral.service/",
		},
		{
			name: "validation error carries the bedrock namespace", method: "POST", path: "/model/nope/converse", auth: sigv4,
			body:       `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
			wantStatus: 400, wantType: "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
			wantBody: map[string]any{"message": "The provided model identifier is invalid."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawRequest(t, tt.method, s.url+tt.path, tt.auth, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("x-amzn-ErrorType"); got != tt.wantType {
				t.Errorf("x-amzn-ErrorType = %q, want %q", got, tt.wantType)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId")
			}
			if tt.wantBody != nil {
				if diff := cmp.Diff(tt.wantBody, body); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
		})
	}

	t.Run("the SDK sees a missing signature as AccessDeniedException", func(t *testing.T) {
		rt := bedrockruntime.New(bedrockruntime.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(s.url), Retryer: aws.NopRetryer{},
			Credentials: staticCredentials, HTTPClient: stripAuth{},
		})
		_, err := rt.Converse(context.Background(), converseInput(haiku, "hi"))
		var ad *types.AccessDeniedException
		if !errors.As(err, &ad) {
			t.Fatalf("err = %v, want AccessDeniedException", err)
		}
		if code, status := apiError(t, err); code != "AccessDeniedException" || status != 403 {
			t.Errorf("got %s %d, want AccessDeniedException 403", code, status)
		}
	})
}

// stripAuth sends requests without their Authorization header.
type stripAuth struct{}

func (stripAuth) Do(r *http.Request) (*http.Response, error) {
	r.Header.Del("Authorization")
	return http.DefaultClient.Do(r)
}

func TestValidation(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	text := func(s string) types.ContentBlock { return &types.ContentBlockMemberText{Value: s} }
	msg := func(role types.ConversationRole, blocks ...types.ContentBlock) types.Message {
		return types.Message{Role: role, Content: blocks}
	}
	user, assistant := types.ConversationRoleUser, types.ConversationRoleAssistant
	toolUse := &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
		ToolUseId: aws.String("tooluse_a"), Name: aws.String("get_weather"), Input: document.NewLazyDocument(map[string]any{}),
	}}
	toolResult := func(id string) types.ContentBlock {
		return &types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
			ToolUseId: aws.String(id), Content: []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: "ok"}},
		}}
	}
	image := &types.ContentBlockMemberImage{Value: types.ImageBlock{
		Format: types.ImageFormatPng, Source: &types.ImageSourceMemberBytes{Value: []byte("\x89PNG")},
	}}
	sampling := &types.InferenceConfiguration{Temperature: aws.Float32(0.5), TopP: aws.Float32(0.9)}
	thinking := func(budget int) document.Interface {
		return document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": budget}})
	}

	tests := []struct {
		name    string
		in      bedrockruntime.ConverseInput
		stream  bool
		wantMsg string
	}{
		{
			name:    "unknown model",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String("anthropic.claude-9"), Messages: userText("hi")},
			wantMsg: "The provided model identifier is invalid.",
		},
		{
			name:    "on-demand use of a model that needs an inference profile",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String("anthropic.claude-sonnet-4-20250514-v1:0"), Messages: userText("hi")},
			wantMsg: "Invocation of model ID anthropic.claude-sonnet-4-20250514-v1:0 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
		},
		{
			name:    "profile of another geography",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String("eu.anthropic.claude-sonnet-4-20250514-v1:0"), Messages: userText("hi")},
			wantMsg: "The provided model identifier is invalid.",
		},
		{
			name:    "embedding model",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String("amazon.titan-embed-text-v2:0"), Messages: userText("hi")},
			wantMsg: "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
		},
		{
			name:    "streaming on a model without streaming",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String("openai.gpt-oss-120b-1:0"), Messages: userText("hi")},
			stream:  true,
			wantMsg: "The model is unsupported for streaming.",
		},
		{
			name:    "empty conversation",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String(haiku)},
			wantMsg: "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
		},
		{
			name:    "first message from the assistant",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{msg(assistant, text("hi")), msg(user, text("hi"))}},
			wantMsg: "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
		},
		{
			name:    "roles do not alternate",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{msg(user, text("a")), msg(user, text("b"))}},
			wantMsg: "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
		},
		{
			name:    "blank text",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{msg(user, text(" \n"))}},
			wantMsg: "The text field in the ContentBlock object at messages.0.content.0 is blank. Add text to the text field, and try again.",
		},
		{
			name:    "empty content",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{{Role: user, Content: []types.ContentBlock{}}}},
			wantMsg: "The content field in the Message object at messages.0 is empty. Add a ContentBlock object to the content field and try again.",
		},
		{
			name: "toolUse without toolConfig",
			in: bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: []types.Message{
				msg(user, text("weather?")), msg(assistant, toolUse), msg(user, toolResult("tooluse_a")),
			}},
			wantMsg: "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
		},
		{
			name: "more toolResult blocks than toolUse blocks",
			in: bedrockruntime.ConverseInput{ModelId: aws.String(haiku), ToolConfig: weatherTools(), Messages: []types.Message{
				msg(user, text("weather?")), msg(assistant, toolUse), msg(user, toolResult("tooluse_a"), toolResult("tooluse_b")),
			}},
			wantMsg: "The number of toolResult blocks at messages.2.content exceeds the number of toolUse blocks of previous turn.",
		},
		{
			name: "toolUse left unanswered",
			in: bedrockruntime.ConverseInput{ModelId: aws.String(haiku), ToolConfig: weatherTools(), Messages: []types.Message{
				msg(user, text("weather?")), msg(assistant, toolUse), msg(user, text("never mind")),
			}},
			wantMsg: "Expected toolResult blocks at messages.2.content for the following Ids: tooluse_a",
		},
		{
			name: "maxTokens above the model limit",
			in: bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: userText("hi"),
				InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(5000)}},
			wantMsg: "The maximum tokens you requested exceeds the model limit of 4096. Try again with a maximum tokens value that is lower than 4096.",
		},
		{
			name: "maxTokens below 1",
			in: bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: userText("hi"),
				InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(0)}},
			wantMsg: "1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1",
		},
		{
			name:    "temperature and topP together on Claude Sonnet 4.5",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String(sonnet45), Messages: userText("hi"), InferenceConfig: sampling},
			wantMsg: "temperature and top_p cannot both be specified for this model. Please use only one.",
		},
		{
			name: "tool use on a model without it",
			in: bedrockruntime.ConverseInput{ModelId: aws.String("anthropic.claude-v2:1"), Messages: userText("hi"),
				ToolConfig: weatherTools()},
			wantMsg: "This model doesn't support tool use.",
		},
		{
			name: "streaming tool use on a model without it",
			in: bedrockruntime.ConverseInput{ModelId: aws.String("meta.llama3-1-8b-instruct-v1:0"), Messages: userText("hi"),
				ToolConfig: weatherTools()},
			stream:  true,
			wantMsg: "This model doesn't support tool use in streaming mode.",
		},
		{
			name: "system prompt on a model without it",
			in: bedrockruntime.ConverseInput{ModelId: aws.String("mistral.mistral-7b-instruct-v0:2"), Messages: userText("hi"),
				System: []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "Be brief."}}},
			wantMsg: "This model doesn't support system messages. Try again without a system message or use a model that supports system messages.",
		},
		{
			name: "image on a text-only model",
			in: bedrockruntime.ConverseInput{ModelId: aws.String("amazon.nova-micro-v1:0"),
				Messages: []types.Message{msg(user, text("what is this?"), image)}},
			wantMsg: "This model doesn't support the image content block that you provided. Update the content block and try again.",
		},
		{
			name: "thinking budget below the minimum",
			in: bedrockruntime.ConverseInput{ModelId: aws.String(sonnet4), Messages: userText("hi"),
				AdditionalModelRequestFields: thinking(512)},
			wantMsg: "The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
		},
		{
			name: "thinking with a temperature other than 1",
			in: bedrockruntime.ConverseInput{ModelId: aws.String(sonnet4), Messages: userText("hi"),
				AdditionalModelRequestFields: thinking(2048), InferenceConfig: &types.InferenceConfiguration{Temperature: aws.Float32(0.2)}},
			wantMsg: "The model returned the following errors: `temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking",
		},
		{
			name: "thinking budget not below maxTokens",
			in: bedrockruntime.ConverseInput{ModelId: aws.String(sonnet4), Messages: userText("hi"),
				AdditionalModelRequestFields: thinking(2048), InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(2048)}},
			wantMsg: "The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
		},
		{
			name:    "unknown marker",
			in:      bedrockruntime.ConverseInput{ModelId: aws.String(haiku), Messages: userText("hi [sim:bogus]")},
			wantMsg: "bedrocksim: marker [sim:bogus]: unknown marker",
		},
	}
	rt := s.runtime()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.stream {
				_, err = rt.ConverseStream(context.Background(), streamInput(&tt.in))
			} else {
				_, err = rt.Converse(context.Background(), &tt.in)
			}
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want ValidationException", err)
			}
			if code, status := apiError(t, err); code != "ValidationException" || status != 400 {
				t.Errorf("got %s %d, want ValidationException 400", code, status)
			}
			if got := ve.ErrorMessage(); got != tt.wantMsg {
				t.Errorf("message:\n got %q\nwant %q", got, tt.wantMsg)
			}
		})
	}
}

// TestRegions checks that the SigV4 region selects which cross-region
// profiles work.
func TestRegions(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	tests := []struct {
		region, modelID string
		wantOK          bool
	}{
		{"us-east-1", "us.anthropic.claude-sonnet-4-20250514-v1:0", true},
		{"us-east-1", "eu.anthropic.claude-sonnet-4-20250514-v1:0", false},
		{"eu-west-1", "eu.anthropic.claude-sonnet-4-20250514-v1:0", true},
		{"eu-west-1", "us.anthropic.claude-sonnet-4-20250514-v1:0", false},
		{"ap-northeast-1", "apac.amazon.nova-pro-v1:0", true},
		{"eu-west-1", "global.anthropic.claude-haiku-4-5-20251001-v1:0", true},
		{"us-west-2", "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0", true},
		{"us-east-1", "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0", false},
		{"eu-west-1", bedrocksim.AppProfileARN, false},
	}
	for _, tt := range tests {
		t.Run(tt.region+" "+tt.modelID, func(t *testing.T) {
			_, err := s.runtime(tt.region).Converse(context.Background(), converseInput(tt.modelID, "hi"))
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Errorf("err = %v, want success %t", err, tt.wantOK)
			}
			if err != nil && !strings.Contains(err.Error(), "The provided model identifier is invalid.") {
				t.Errorf("err = %v, want an invalid model identifier", err)
			}
		})
	}
}

// TestInjectedErrorOnOneModel: [sim:error=Name@part] fails only the model
// ids that contain part (a fallback chain's primary); others answer.
func TestInjectedErrorOnOneModel(t *testing.T) {
	s := startSim(t, bedrocksim.Options{})
	rt := s.runtime()
	const text = "Hi [sim:error=ThrottlingException@claude-3-haiku]"
	_, err := rt.Converse(context.Background(), converseInput(haiku, text))
	if code, status := apiError(t, err); code != "ThrottlingException" || status != 429 {
		t.Errorf("%s: got %s %d, want ThrottlingException 429", haiku, code, status)
	}
	if _, err := rt.Converse(context.Background(), converseInput("amazon.nova-micro-v1:0", text)); err != nil {
		t.Errorf("amazon.nova-micro-v1:0: %v, want an answer", err)
	}
}
