package converse_test

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/converse"
)

// sonnet45 takes structured output, thinking and prompt caching; haiku3
// none of those; novaPro prompt caching.

// toConverse parses body and translates it for model with opts.
func toConverse(t *testing.T, body, model string, opts converse.Options) (*converse.ChatRequest, *bedrockruntime.ConverseInput) {
	t.Helper()
	req, err := converse.ParseChatRequest([]byte(body))
	if err != nil {
		t.Fatalf("ParseChatRequest: %v", err)
	}
	in, err := converse.ToConverse(req, model, opts)
	if err != nil {
		t.Fatalf("ToConverse: %v", err)
	}
	return req, in
}

func TestFramingOf(t *testing.T) {
	const weather = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}},{"type":"function","function":{"name":"get_time"}}]`
	tests := []struct {
		name  string
		model string
		opts  converse.Options
		body  string
		want  converse.Framing
	}{
		{
			name: "one user message", model: haiku3,
			body: `{"model":"m","messages":[{"role":"user","content":"hello"}]}`,
			// the message and its text block
			want: converse.Framing{Blocks: 2},
		},
		{
			name: "system and parts", model: haiku3,
			body: `{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"assistant","content":"c"},{"role":"user","content":"d"}]}`,
			// 1 system block; 3 messages with 2 + 1 + 1 blocks
			want: converse.Framing{Blocks: 1 + 3 + 4},
		},
		{
			name: "tools", model: haiku3,
			body: `{"model":"m","messages":[{"role":"user","content":"hello"}],` + weather + `}`,
			want: converse.Framing{Blocks: 2 + 2, Tools: true},
		},
		{
			name: "tool_choice none sends no toolConfig", model: haiku3,
			body: `{"model":"m","messages":[{"role":"user","content":"hello"}],` + weather + `,"tool_choice":"none"}`,
			want: converse.Framing{Blocks: 2},
		},
		{
			name: "a JSON answer through a tool", model: haiku3,
			body: `{"model":"m","messages":[{"role":"user","content":"hello"}],"response_format":{"type":"json_object"}}`,
			want: converse.Framing{Blocks: 2 + 1, Tools: true},
		},
		{
			name: "a JSON answer through outputConfig", model: sonnet45,
			body: `{"model":"m","messages":[{"role":"user","content":"hello"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}}`,
			want: converse.Framing{Blocks: 2},
		},
		{
			name: "cache points asked by the request", model: novaPro,
			body: `{"model":"m","prompt_cache":true,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hello"}]}`,
			want: converse.Framing{Blocks: 3, CachePoints: true},
		},
		{
			name: "cache points from the policy", model: novaPro, opts: converse.Options{PromptCache: true},
			body: `{"model":"m","messages":[{"role":"user","content":"hello"}]}`,
			want: converse.Framing{Blocks: 2, CachePoints: true},
		},
		{
			name: "no cache points on a model without prompt caching", model: haiku3, opts: converse.Options{PromptCache: true},
			body: `{"model":"m","messages":[{"role":"user","content":"hello"}]}`,
			want: converse.Framing{Blocks: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, in := toConverse(t, tt.body, tt.model, tt.opts)
			if diff := cmp.Diff(tt.want, converse.FramingOf(in)); diff != "" {
				t.Errorf("FramingOf (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInputTextsHoldsEveryBilledText marks every text a request can carry
// and finds each mark that reaches Bedrock (in the body the SDK sends) in
// what InputTexts returns, on a model that takes the JSON schema as
// outputConfig and on one that takes it as a tool. A binary document is not
// a text: DocumentTokens bounds it. An echoed reasoning_content is not sent
// (Bedrock takes reasoning back only signed, as reasoning_details), so it
// is not billed.
func TestInputTextsHoldsEveryBilledText(t *testing.T) {
	txt := base64.StdEncoding.EncodeToString([]byte("MARK_TEXT_FILE contents"))
	pdf := base64.StdEncoding.EncodeToString(pdfWithText(t, strings.Repeat("MARK_PDF_TEXT ", 100)))
	body := `{"model":"m","reasoning_effort":"low",
	"messages":[
		{"role":"system","content":"MARK_SYSTEM"},
		{"role":"developer","content":"MARK_DEVELOPER"},
		{"role":"user","content":[
			{"type":"text","text":"MARK_USER"},
			{"type":"file","file":{"file_data":"data:text/plain;base64,` + txt + `","filename":"MarkTxtName.txt"}},
			{"type":"file","file":{"file_data":"data:application/pdf;base64,` + pdf + `","filename":"MarkPdfName.pdf"}}]},
		{"role":"assistant","content":"MARK_ASSISTANT","reasoning_content":"MARK_ECHOED_CONTENT",
		 "reasoning_details":[{"type":"reasoning.text","text":"MARK_REASONING","signature":"c2ln","format":"bedrock-converse","index":0}],
		 "tool_calls":[{"id":"call_1","type":"function","function":{"name":"mark_tool_name","arguments":"{\"q\":\"MARK_ARGUMENTS\"}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"MARK_TOOL_RESULT"}],
	"tools":[{"type":"function","function":{"name":"mark_tool_name","description":"MARK_TOOL_DESCRIPTION",
		"parameters":{"type":"object","properties":{"q":{"type":"string","description":"MARK_TOOL_SCHEMA"}}}}}],
	"response_format":{"type":"json_schema","json_schema":{"name":"mark_format_name","description":"MARK_FORMAT_DESCRIPTION",
		"schema":{"type":"object","properties":{"a":{"type":"string","description":"MARK_FORMAT_SCHEMA"}}}}}}`
	marks := []string{"MARK_SYSTEM", "MARK_DEVELOPER", "MARK_USER", "MARK_TEXT_FILE", "MarkTxtName", "MarkPdfName",
		"MARK_ASSISTANT", "MARK_REASONING", "mark_tool_name", "MARK_ARGUMENTS", "MARK_TOOL_RESULT",
		"MARK_TOOL_DESCRIPTION", "MARK_TOOL_SCHEMA", "MARK_FORMAT_DESCRIPTION", "MARK_FORMAT_SCHEMA"}
	for _, model := range []string{sonnet45, haiku3} {
		t.Run(model, func(t *testing.T) {
			_, in := toConverse(t, body, model, converse.Options{})
			all := strings.Join(converse.InputTexts(in), "\n")
			wire, _ := wireBody(t, in)
			sent := fmt.Sprint(wire)
			if !strings.Contains(all, "MARK_TEXT_FILE") { // base64 on the wire
				t.Errorf("InputTexts holds no MARK_TEXT_FILE")
			}
			for _, m := range append(marks, "MARK_ECHOED_CONTENT") {
				switch {
				case m == "MARK_TEXT_FILE":
				case !strings.Contains(sent, m):
					// not sent, so not billed: only where expected
					if m != "MARK_ECHOED_CONTENT" && (m != "MARK_REASONING" || model != haiku3) {
						t.Errorf("%s is not sent to Bedrock", m)
					}
				case !strings.Contains(all, m):
					t.Errorf("%s is sent to Bedrock, but InputTexts holds no %s", m, m)
				}
			}
			if strings.Contains(all, "MARK_PDF_TEXT") || strings.Contains(all, "%PDF") {
				t.Errorf("InputTexts holds a binary document's bytes")
			}
			if got, least := converse.DocumentTokens(in), len("MARK_PDF_TEXT ")*100; got < least {
				t.Errorf("DocumentTokens = %d, below the PDF's inflated text of %d bytes", got, least)
			}
		})
	}
}

// pdfWithText returns a minimal PDF whose one content stream is text,
// Flate-compressed as PDF writers do.
func pdfWithText(t *testing.T, text string) []byte {
	t.Helper()
	return pdfStream(t, "/Filter /FlateDecode", "BT /F1 12 Tf ("+text+") Tj ET")
}

// pdfStream returns a minimal PDF of one Flate-compressed stream whose
// dictionary holds dict.
func pdfStream(t *testing.T, dict, content string) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(content))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%%PDF-1.4\n1 0 obj\n<< /Length %d %s >>\nstream\r\n", z.Len(), dict)
	b.Write(z.Bytes())
	b.WriteString("\r\nendstream\nendobj\ntrailer\n<< >>\n%%EOF\n")
	return b.Bytes()
}

// zipOf returns a zip (the container of docx and xlsx files) of one entry.
func zipOf(t *testing.T, name, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(content))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestExtractedTextBound(t *testing.T) {
	// 300,000 bytes of words in random order: text compresses 3 to 4 times
	vocabulary := strings.Fields("budget cap key team model token price reserve settle bound stream document image tool schema")
	rnd := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < 300_000 {
		b.WriteString(vocabulary[rnd.IntN(len(vocabulary))] + " ")
	}
	text := b.String()
	pdf := pdfWithText(t, text)
	docx := zipOf(t, "word/document.xml", "<w:t>"+text+"</w:t>")
	repetitive := pdfWithText(t, strings.Repeat("the same words again and again ", 10_000))
	image := pdfStream(t, "/Type /XObject /Subtype /Image /Filter /FlateDecode", strings.Repeat("\x00\xff", 500_000))
	tests := []struct {
		name   string
		format types.DocumentFormat
		data   []byte
		least  int // the bound is at least this
		most   int // and at most this
		packed bool
	}{
		{name: "compressed PDF text", format: types.DocumentFormatPdf, data: pdf, least: len(text), most: len(pdf) + len(text) + 100, packed: true},
		{name: "docx", format: types.DocumentFormatDocx, data: docx, least: len(text), most: len(text) + 100, packed: true},
		// a text stream inflating past 10 times the PDF: unbounded, the cap
		{name: "PDF made to look small", format: types.DocumentFormatPdf, data: repetitive, least: 64 << 20, most: 64 << 20, packed: true},
		// an image stream holds no text: the PDF's bytes
		{name: "PDF image", format: types.DocumentFormatPdf, data: image, least: len(image), most: len(image)},
		{name: "not a zip", format: types.DocumentFormatXlsx, data: []byte("garbage"), least: 7, most: 7},
		{name: "PDF with no stream", format: types.DocumentFormatPdf, data: []byte("%PDF-1.4 stream endstream"), least: 25, most: 25},
		{name: "legacy doc", format: types.DocumentFormatDoc, data: []byte(text), least: len(text), most: len(text)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.packed && len(tt.data) >= tt.least {
				t.Fatalf("bad fixture: %d bytes of compressed data already bound its %d bytes of text", len(tt.data), tt.least)
			}
			got := converse.ExtractedTextBound(tt.format, tt.data)
			if got < tt.least || got > tt.most {
				t.Errorf("ExtractedTextBound = %d, want in [%d, %d]", got, tt.least, tt.most)
			}
		})
	}
}

// TestDocumentTokensBoundsTheWork caps the documents of a request at 64 MiB
// of text together, so that five PDFs that inflate to gigabytes cost one
// bounded pass: Bedrock refuses, unbilled, any prompt that long.
func TestDocumentTokensBoundsTheWork(t *testing.T) {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range 70 { // 70 MiB of zeros, a few hundred KB compressed
		zw.Write(zeros)
	}
	zw.Close()
	bomb := append([]byte("%PDF-1.4\n1 0 obj\n<< /Filter /FlateDecode >>\nstream\n"), z.Bytes()...)
	in := &bedrockruntime.ConverseInput{}
	var blocks []types.ContentBlock
	for i := range 5 {
		blocks = append(blocks, &types.ContentBlockMemberDocument{Value: types.DocumentBlock{
			Format: types.DocumentFormatPdf, Name: aws.String(fmt.Sprint("bomb ", i)), Source: &types.DocumentSourceMemberBytes{Value: bomb}}})
	}
	in.Messages = []types.Message{{Role: types.ConversationRoleUser, Content: blocks}}
	start := time.Now()
	if got, want := converse.DocumentTokens(in), 64<<20; got != want {
		t.Errorf("DocumentTokens = %d, want the cap %d", got, want)
	}
	t.Logf("5 PDFs of %d KB inflating to 70 MiB each: bounded in %v", len(bomb)>>10, time.Since(start))
}
