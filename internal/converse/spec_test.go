package converse_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/openapitest"
)

// TestOutputMatchesOpenAISpec checks the responses and streams against
// OpenAI's OpenAPI specification, which catches what the hand-written
// expectations above might share with the code (a missing required field, a
// wrong enum value).
func TestOutputMatchesOpenAISpec(t *testing.T) {
	responses := []string{
		`{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2,"cacheReadInputTokens":3}}`,
		`{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"f","input":{"a":1}}}]}},"stopReason":"tool_use"}`,
		`{"output":{"message":{"role":"assistant","content":[{"text":"Blocked."}]}},"stopReason":"guardrail_intervened"}`,
	}
	for _, body := range responses {
		got, _, err := converse.FromConverse(converseOutput(t, body), testMeta)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		openapitest.Validate(t, "CreateChatCompletionResponse", b)
	}

	streams := [][]types.ConverseStreamOutput{
		{msgStart(), text(0, "Hi"), toolStart(1, "t", "f"), toolInput(1, `{"a":1}`), msgStop("tool_use"), metadata(1, 2, 3, 4)},
		{msgStart(), text(0, "Once"), msgStop("max_tokens"), metadata(1, 2, 0, 0)},
	}
	for _, events := range streams {
		for _, includeUsage := range []bool{false, true} {
			sse, err := converse.TranslateStream(testMeta, includeUsage, events)
			if err != nil {
				t.Fatal(err)
			}
			openapitest.ValidateSSE(t, sse)
		}
	}
}
