package converse

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithydoc "github.com/aws/smithy-go/document"
)

// This file serves budget estimates: how much a request sends the model,
// measured before Bedrock counts it, and the output cap a budget imposes.

// InputSize is how much a request sends the model.
type InputSize struct {
	TextBytes int // an upper bound of the bytes of every text the model reads
	Images    int // images, each billed by its pixels
}

// MeasureInput bounds what r sends the model from the size of the request
// body it was parsed from: every text the model reads (messages, tool
// schemas, arguments) is in the body, only longer for its JSON escapes, so
// the body less its images' base64 bounds the text. It costs no pass over
// the text.
func MeasureInput(r *ChatRequest, bodyLen int) InputSize {
	s := InputSize{TextBytes: bodyLen}
	for i := range r.Messages {
		for _, p := range r.Messages[i].Parts {
			if p.Kind == PartImage && p.Image != nil {
				s.Images++
				if p.Image.URL != "" {
					continue // the body holds its address, not its bytes
				}
				s.TextBytes -= (len(p.Image.Data) + 2) / 3 * 4
			}
		}
	}
	if s.TextBytes < 0 {
		s.TextBytes = 0
	}
	return s
}

// InputTexts returns every text of r that the model reads, for a precise
// token count. It allocates; use it only when the bound of MeasureInput is
// not good enough.
func InputTexts(r *ChatRequest) []string {
	var texts []string
	for i := range r.Messages {
		m := &r.Messages[i]
		for _, p := range m.Parts {
			if p.Kind == PartText {
				texts = append(texts, p.Text)
			}
		}
		for _, tc := range m.ToolCalls {
			texts = append(texts, tc.Function.Name, tc.Function.Arguments)
		}
	}
	for _, t := range r.Tools {
		texts = append(texts, t.Name, t.Description)
		if b, err := json.Marshal(t.Parameters); err == nil {
			texts = append(texts, string(b))
		}
	}
	return texts
}

// MaxTokens returns the max tokens in asks for, 0 when it sets none. It
// can be more than the request's max_tokens: Claude's thinking budget is on
// top of them (see [ToConverse]).
func MaxTokens(in *bedrockruntime.ConverseInput) int {
	if in.InferenceConfig == nil || in.InferenceConfig.MaxTokens == nil {
		return 0
	}
	return int(*in.InferenceConfig.MaxTokens)
}

// SetMaxTokens sets the most tokens the model may generate for in. When
// Claude's thinking is on and n leaves no room above its budget, the budget
// is lowered to half of n, or thinking is turned off when that would be
// below Claude's minimum of 1024, so that Bedrock still accepts in.
func SetMaxTokens(in *bedrockruntime.ConverseInput, n int) {
	if in.InferenceConfig == nil {
		in.InferenceConfig = &types.InferenceConfiguration{}
	}
	in.InferenceConfig.MaxTokens = aws.Int32(int32(min(n, 1<<31-1)))
	fields, budget := thinkingOf(in)
	if budget == 0 || budget < n {
		return
	}
	if b := n / 2; b >= minThinkingBudget {
		fields["thinking"] = map[string]any{"type": "enabled", "budget_tokens": b}
	} else {
		delete(fields, "thinking")
	}
	if len(fields) == 0 {
		in.AdditionalModelRequestFields = nil
		return
	}
	in.AdditionalModelRequestFields = document.NewLazyDocument(fields)
}

// thinkingOf returns in's additionalModelRequestFields and the thinking
// budget they set, 0 when none.
func thinkingOf(in *bedrockruntime.ConverseInput) (map[string]any, int) {
	if in.AdditionalModelRequestFields == nil {
		return nil, 0
	}
	raw, err := in.AdditionalModelRequestFields.MarshalSmithyDocument()
	if err != nil {
		return nil, 0
	}
	v, err := decodeJSONValue(raw)
	fields, _ := v.(map[string]any)
	if err != nil || fields == nil {
		return nil, 0
	}
	th, _ := fields["thinking"].(map[string]any)
	if th == nil {
		return fields, 0
	}
	n, _ := th["budget_tokens"].(smithydoc.Number)
	budget, _ := n.Int64()
	return fields, int(budget)
}

// ImageRef is an image the client sent by URL, and where it sits in the
// request ("messages[1].content[0].image_url"), for errors.
type ImageRef struct {
	Param string
	Image *Image
}

// ImageURLs returns the images of r that the gateway must fetch.
func ImageURLs(r *ChatRequest) []ImageRef {
	var refs []ImageRef
	for i := range r.Messages {
		for j, p := range r.Messages[i].Parts {
			if p.Kind == PartImage && p.Image != nil && p.Image.URL != "" {
				refs = append(refs, ImageRef{Param: fmt.Sprintf("messages[%d].content[%d].image_url", i, j), Image: p.Image})
			}
		}
	}
	return refs
}
