package converse

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// This file serves budget estimates: how much a request sends the model,
// measured before Bedrock counts it ([OutputCap] is beside ToConverse).

// InputSize is how much a request sends the model.
type InputSize struct {
	// TextBytes is an upper bound of the bytes of every text the model
	// reads: messages, system, tool schemas and arguments, echoed
	// reasoning, the response_format schema, text documents.
	TextBytes int
	Images    int // images, each billed by its pixels
}

// MeasureInput bounds what r sends the model from the size of the request
// body it was parsed from: every text the model reads is in the body, only
// longer for its JSON escapes, so the body less its images' and binary
// documents' base64 bounds the text (a text document's base64 is longer
// than its text, and stays in). The binary documents' own bound is
// [DocumentTokens]. It costs no pass over the text.
func MeasureInput(r *ChatRequest, bodyLen int) InputSize {
	s := InputSize{TextBytes: bodyLen}
	for i := range r.Messages {
		for _, p := range r.Messages[i].Parts {
			switch {
			case p.Kind == PartImage && p.Image != nil:
				s.Images++
				if p.Image.URL != "" {
					continue // the body holds its address, not its bytes
				}
				s.TextBytes -= (len(p.Image.Data) + 2) / 3 * 4
			case p.Kind == PartDocument && p.Document != nil && !textDocument(p.Document.Format):
				s.TextBytes -= base64.RawStdEncoding.EncodedLen(len(p.Document.Data))
			}
		}
	}
	if s.TextBytes < 0 {
		s.TextBytes = 0
	}
	return s
}

// Framing is what a Converse request carries besides its texts that the
// model is billed for, or that changes its price.
type Framing struct {
	// Blocks counts the messages, system blocks, content blocks and tools:
	// each is wrapped in a few tokens of the model's chat template.
	Blocks int
	// Tools: the request has a toolConfig, so the model reads its family's
	// tool-use system prompt.
	Tools bool
	// CachePoints: the request marks prompt prefixes to cache, so its input
	// may be billed at the cache-write price.
	CachePoints bool
}

// Input is a Converse request as it goes to Bedrock. Front ends hold it by
// this name, so that only the gate and upstream import the SDK's client
// package.
type Input = bedrockruntime.ConverseInput

// Measures is everything the worst case of a Converse call built from a
// chat request needs, read from the request and from the input sent to
// Bedrock: the byte bound, the framing and, lazily, the texts to count.
type Measures struct {
	Size           InputSize
	Framing        Framing
	DocumentTokens int
	Texts          func() []string
}

// Measure measures r (whose body was bodyLen bytes) and in, the Converse
// input built from it.
func Measure(r *ChatRequest, in *bedrockruntime.ConverseInput, bodyLen int) Measures {
	return Measures{
		Size: MeasureInput(r, bodyLen), Framing: FramingOf(in), DocumentTokens: DocumentTokens(in),
		Texts: func() []string { return InputTexts(in) },
	}
}

// FramingOf measures the framing of in, the request as it goes to Bedrock
// (after ToConverse added the gateway's cache points and any tool that
// carries a JSON answer). It allocates nothing.
func FramingOf(in *bedrockruntime.ConverseInput) Framing {
	var f Framing
	for _, b := range in.System {
		if _, ok := b.(*types.SystemContentBlockMemberCachePoint); ok {
			f.CachePoints = true
			continue
		}
		f.Blocks++
	}
	for i := range in.Messages {
		f.Blocks++
		for _, b := range in.Messages[i].Content {
			if _, ok := b.(*types.ContentBlockMemberCachePoint); ok {
				f.CachePoints = true
				continue
			}
			f.Blocks++
		}
	}
	if tc := in.ToolConfig; tc != nil && len(tc.Tools) > 0 {
		f.Tools = true
		for _, t := range tc.Tools {
			if _, ok := t.(*types.ToolMemberCachePoint); ok {
				f.CachePoints = true
				continue
			}
			f.Blocks++
		}
	}
	return f
}

// textDocument reports whether a document of format f is plain text, which
// the model reads as it is: [InputTexts] holds it. Other formats (PDF, Word,
// Excel) are bounded by [DocumentTokens].
func textDocument(f types.DocumentFormat) bool {
	switch f {
	case types.DocumentFormatTxt, types.DocumentFormatMd, types.DocumentFormatCsv, types.DocumentFormatHtml:
		return true
	}
	return false
}

// DocumentTokens bounds the tokens of the text Bedrock extracts from the
// binary documents (PDF, Word, Excel) of in, messages and tool results
// alike: see [ExtractedTextBound]. A token is at least a byte, so bytes
// bound tokens.
func DocumentTokens(in *bedrockruntime.ConverseInput) int {
	n := 0
	for i := range in.Messages {
		for _, b := range in.Messages[i].Content {
			switch b := b.(type) {
			case *types.ContentBlockMemberDocument:
				n += binaryDocumentBound(&b.Value, maxExtractedBytes-n)
			case *types.ContentBlockMemberToolResult:
				for _, c := range b.Value.Content {
					if d, ok := c.(*types.ToolResultContentBlockMemberDocument); ok {
						n += binaryDocumentBound(&d.Value, maxExtractedBytes-n)
					}
				}
			}
		}
	}
	return n
}

// binaryDocumentBound is ExtractedTextBound of a binary document, at most
// limit.
func binaryDocumentBound(d *types.DocumentBlock, limit int) int {
	src, ok := d.Source.(*types.DocumentSourceMemberBytes)
	if !ok || textDocument(d.Format) || limit <= 0 {
		return 0
	}
	return extractedTextBound(d.Format, src.Value, limit)
}

// InputTexts returns every text of in that the model reads, for a precise
// token count: the system prompt, the messages' texts, tool calls (name and
// arguments) and tool results, echoed reasoning (text, and redacted
// reasoning by its bytes), text documents and every document's name, the
// tool schemas, and the structured-output schema. It walks the request as
// it goes to Bedrock, so that a text the gateway adds is counted too. Images
// and binary documents are not texts: see [MeasureInput] and
// [DocumentTokens]. It allocates; use it only when the bound of
// MeasureInput is not good enough.
func InputTexts(in *bedrockruntime.ConverseInput) []string {
	var texts []string
	for _, b := range in.System {
		switch b := b.(type) {
		case *types.SystemContentBlockMemberText:
			texts = append(texts, b.Value)
		case *types.SystemContentBlockMemberGuardContent:
			texts = appendGuardText(texts, b.Value)
		}
	}
	for i := range in.Messages {
		for _, b := range in.Messages[i].Content {
			texts = appendBlockTexts(texts, b)
		}
	}
	if tc := in.ToolConfig; tc != nil {
		for _, t := range tc.Tools {
			spec, ok := t.(*types.ToolMemberToolSpec)
			if !ok {
				continue
			}
			texts = append(texts, aws.ToString(spec.Value.Name), aws.ToString(spec.Value.Description))
			if js, ok := spec.Value.InputSchema.(*types.ToolInputSchemaMemberJson); ok {
				texts = appendDocument(texts, js.Value)
			}
		}
	}
	if oc := in.OutputConfig; oc != nil && oc.TextFormat != nil {
		if js, ok := oc.TextFormat.Structure.(*types.OutputFormatStructureMemberJsonSchema); ok {
			texts = append(texts, aws.ToString(js.Value.Name), aws.ToString(js.Value.Description), aws.ToString(js.Value.Schema))
		}
	}
	return texts
}

func appendBlockTexts(texts []string, b types.ContentBlock) []string {
	switch b := b.(type) {
	case *types.ContentBlockMemberText:
		texts = append(texts, b.Value)
	case *types.ContentBlockMemberDocument:
		texts = appendDocumentTexts(texts, &b.Value)
	case *types.ContentBlockMemberToolUse:
		texts = append(texts, aws.ToString(b.Value.Name))
		texts = appendDocument(texts, b.Value.Input)
	case *types.ContentBlockMemberToolResult:
		for _, c := range b.Value.Content {
			switch c := c.(type) {
			case *types.ToolResultContentBlockMemberText:
				texts = append(texts, c.Value)
			case *types.ToolResultContentBlockMemberJson:
				texts = appendDocument(texts, c.Value)
			case *types.ToolResultContentBlockMemberDocument:
				texts = appendDocumentTexts(texts, &c.Value)
			}
		}
	case *types.ContentBlockMemberReasoningContent:
		switch r := b.Value.(type) {
		case *types.ReasoningContentBlockMemberReasoningText:
			texts = append(texts, aws.ToString(r.Value.Text))
		case *types.ReasoningContentBlockMemberRedactedContent:
			texts = append(texts, string(r.Value))
		}
	case *types.ContentBlockMemberGuardContent:
		texts = appendGuardText(texts, b.Value)
	}
	return texts
}

// appendDocumentTexts appends a document's name and, for a text document,
// its text (a binary document's text is bounded by DocumentTokens).
func appendDocumentTexts(texts []string, d *types.DocumentBlock) []string {
	texts = append(texts, aws.ToString(d.Name))
	switch src := d.Source.(type) {
	case *types.DocumentSourceMemberBytes:
		if textDocument(d.Format) {
			texts = append(texts, string(src.Value))
		}
	case *types.DocumentSourceMemberText:
		texts = append(texts, src.Value)
	}
	return texts
}

func appendGuardText(texts []string, b types.GuardrailConverseContentBlock) []string {
	if t, ok := b.(*types.GuardrailConverseContentBlockMemberText); ok {
		texts = append(texts, aws.ToString(t.Value.Text))
	}
	return texts
}

// appendDocument appends a smithy document (a tool schema or a tool's
// input) as the compact JSON the model reads.
func appendDocument(texts []string, d interface{ MarshalSmithyDocument() ([]byte, error) }) []string {
	if d == nil {
		return texts
	}
	if b, err := d.MarshalSmithyDocument(); err == nil {
		texts = append(texts, string(b))
	}
	return texts
}

// maxExtractedBytes caps the bound of the documents' text of one request:
// 64 MiB of text is more tokens than any Bedrock model's context window
// holds, and Bedrock refuses (and does not bill) a prompt longer than the
// window, so no billed request reads more. It also bounds the work of
// inflating PDF streams.
const maxExtractedBytes = 64 << 20

// ExtractedTextBound bounds the bytes of the text Bedrock extracts from a
// document of the given format: a text document is its own text; a Word or
// Excel file (docx, xlsx) is a zip of XML whose text is at most the sum of
// its entries' uncompressed sizes, read from the zip's directory; a PDF's
// text is in its content streams, at most its bytes plus what its
// Flate-compressed streams inflate to (counted, never kept). Legacy doc and
// xls files store their text uncompressed: their bytes. The bound is at
// most 64 MiB, for one document here and for all the documents of a
// request in [DocumentTokens]: more text than any Bedrock model's context
// window holds. Its cost is a pass over the data and, for a PDF, inflating
// its compressed streams (at most 64 MiB of output).
func ExtractedTextBound(format types.DocumentFormat, data []byte) int {
	return extractedTextBound(format, data, maxExtractedBytes)
}

func extractedTextBound(format types.DocumentFormat, data []byte, limit int) int {
	n := len(data)
	switch format {
	case types.DocumentFormatDocx, types.DocumentFormatXlsx:
		if zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data))); err == nil {
			var sum uint64
			for _, f := range zr.File {
				sum += f.UncompressedSize64
				if sum > uint64(limit) {
					break
				}
			}
			n = max(n, int(min(sum, uint64(limit))))
		}
	case types.DocumentFormatPdf:
		n += inflatedStreams(data, limit-min(n, limit))
	}
	return min(n, limit)
}

// maxInflation is how many times its size a PDF's text streams may
// inflate to before the PDF counts as unbounded. Content streams of text
// inflate 3 to 6 times; only a stream made to look small inflates more.
const maxInflation = 10

// inflatedStreams returns how many bytes the Flate-compressed streams of a
// PDF inflate to, at most limit. A stream's data starts after the keyword
// "stream" and its end of line; streams that are not zlib data (DCT and
// other filters) inflate to nothing and are counted by their bytes, and
// image streams (an object whose dictionary says /Subtype /Image) hold no
// text. When the text streams inflate past maxInflation times the PDF's
// size, the PDF is made to look smaller than it reads: inflating stops, and
// the bound is limit. So the work is at most maxInflation times the PDF.
func inflatedStreams(pdf []byte, limit int) int {
	budget := min(limit, maxInflation*len(pdf))
	total := 0
	for rest := pdf; ; {
		i := bytes.Index(rest, []byte("stream"))
		if i < 0 {
			return total
		}
		dict := rest[max(0, i-512):i]
		if j := bytes.LastIndex(dict, []byte("obj")); j >= 0 {
			dict = dict[j:]
		}
		rest = rest[i+len("stream"):]
		switch {
		case bytes.HasPrefix(rest, []byte("\r\n")):
			rest = rest[2:]
		case bytes.HasPrefix(rest, []byte("\n")), bytes.HasPrefix(rest, []byte("\r")):
			rest = rest[1:]
		default:
			continue // "endstream", or the word inside some text
		}
		if imageDictionary.Match(dict) {
			continue
		}
		zr, err := zlib.NewReader(bytes.NewReader(rest))
		if err != nil {
			continue
		}
		n, _ := io.Copy(io.Discard, io.LimitReader(zr, int64(budget-total)+1))
		if total += int(n); total > budget {
			return limit
		}
	}
}

// imageDictionary matches the dictionary of an image stream.
var imageDictionary = regexp.MustCompile(`/Subtype\s*/Image\b`)

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
