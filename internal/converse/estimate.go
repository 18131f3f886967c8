package converse

import (
	"encoding/json"
	"fmt"
)

// This file serves budget estimates: how much a request sends the model,
// measured before Bedrock counts it ([OutputCap] is beside ToConverse).

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
