package converse

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// This file decodes OpenAI file content parts into documents for
// ParseChatRequest, and holds Bedrock's document limits.

// Bedrock's limits on documents in one Converse request.
const (
	MaxDocuments     = 5
	MaxDocumentBytes = 4_500_000 // 4.5 MB
	maxDocumentName  = 200
)

// documentFormats maps media types to Bedrock document formats.
var documentFormats = map[string]types.DocumentFormat{
	"application/pdf":    types.DocumentFormatPdf,
	"text/csv":           types.DocumentFormatCsv,
	"application/msword": types.DocumentFormatDoc,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": types.DocumentFormatDocx,
	"application/vnd.ms-excel": types.DocumentFormatXls,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": types.DocumentFormatXlsx,
	"text/html":       types.DocumentFormatHtml,
	"text/plain":      types.DocumentFormatTxt,
	"text/markdown":   types.DocumentFormatMd,
	"text/x-markdown": types.DocumentFormatMd,
}

// documentExtensions maps file name extensions to Bedrock document formats,
// for data without a telling media type.
var documentExtensions = map[string]types.DocumentFormat{
	".pdf": types.DocumentFormatPdf, ".csv": types.DocumentFormatCsv, ".doc": types.DocumentFormatDoc,
	".docx": types.DocumentFormatDocx, ".xls": types.DocumentFormatXls, ".xlsx": types.DocumentFormatXlsx,
	".html": types.DocumentFormatHtml, ".htm": types.DocumentFormatHtml, ".txt": types.DocumentFormatTxt,
	".md": types.DocumentFormatMd, ".markdown": types.DocumentFormatMd,
}

// parseFile decodes a file part's file object: file_data, a base64 data:
// URL (or bare base64, typed by the file name), and an optional filename.
// file_id is refused: Tollgate has no Files API.
func parseFile(raw json.RawMessage, p string) (*Document, error) {
	if firstByte(raw) != '{' {
		if isNull(raw) {
			return nil, invalid(codeMissing, p, "Missing required parameter: '%s'.", p)
		}
		return nil, invalid(codeInvalidType, p, "Invalid type for '%s': expected an object with file_data, but got %s instead.", p, rawKind(raw))
	}
	var w struct {
		FileData *string `json:"file_data"`
		FileID   *string `json:"file_id"`
		Filename *string `json:"filename"`
	}
	if err := decodeInto(raw, &w, p); err != nil {
		return nil, err
	}
	if w.FileID != nil && w.FileData == nil {
		return nil, invalid(codeUnsupportedValue, p+".file_id", "Unsupported value: '%s.file_id': Tollgate has no Files API; send the file inline as file_data (data:application/pdf;base64,...) with a filename.", p)
	}
	if w.FileData == nil || *w.FileData == "" {
		return nil, invalid(codeMissing, p+".file_data", "Missing required parameter: '%s.file_data'.", p)
	}
	filename := ""
	if w.Filename != nil {
		filename = *w.Filename
	}
	ext := strings.ToLower(path.Ext(filename))
	data := *w.FileData
	var format types.DocumentFormat
	if lower := strings.ToLower(data[:min(len(data), 5)]); lower == "data:" {
		meta, payload, ok := strings.Cut(data[len("data:"):], ",")
		mediaType, isBase64 := strings.CutSuffix(strings.ToLower(meta), ";base64")
		if !ok || !isBase64 {
			return nil, invalid(codeInvalidValue, p+".file_data", "Invalid '%s.file_data': the data: URL must be base64 encoded (data:application/pdf;base64,...).", p)
		}
		mediaType, _, _ = strings.Cut(mediaType, ";")
		format = documentFormats[mediaType]
		if format == "" {
			format = documentExtensions[ext]
		}
		if format == "" {
			return nil, invalid(codeUnsupportedValue, p+".file_data", "Invalid '%s.file_data': file type %q is not supported; Bedrock reads pdf, csv, doc, docx, xls, xlsx, html, txt and md documents.", p, mediaType)
		}
		data = payload
	} else {
		format = documentExtensions[ext]
		if format == "" {
			return nil, invalid(codeInvalidValue, p+".file_data", "Invalid '%s.file_data': expected a data: URL such as data:application/pdf;base64,..., or base64 data with a filename whose extension names the format (pdf, csv, doc, docx, xls, xlsx, html, txt, md).", p)
		}
	}
	if base64.StdEncoding.DecodedLen(len(data)) > MaxDocumentBytes+3 {
		return nil, tooLargeDocument(p)
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(data, "="))
	}
	if err != nil {
		return nil, invalid(codeInvalidValue, p+".file_data", "Invalid '%s.file_data': the file data is not valid base64.", p)
	}
	if len(b) == 0 {
		return nil, invalid(codeInvalidValue, p+".file_data", "Invalid '%s.file_data': the file is empty.", p)
	}
	if len(b) > MaxDocumentBytes {
		return nil, tooLargeDocument(p)
	}
	return &Document{Format: format, Name: DocumentName(filename), Data: b}, nil
}

func tooLargeDocument(p string) error {
	return invalid(codeInvalidValue, p, "Invalid '%s': the file is larger than Bedrock's limit of 4.5 MB per document.", p)
}

// DocumentName reduces a file name to a Bedrock document name: the
// extension dropped, then only ASCII letters and digits, single spaces,
// hyphens, parentheses and square brackets (anything else becomes a space),
// at most 200 characters; "document" when nothing is left.
func DocumentName(filename string) string {
	base := path.Base(strings.ReplaceAll(filename, `\`, "/"))
	if base == "." || base == "/" {
		base = ""
	}
	base = strings.TrimSuffix(base, path.Ext(base))
	var b strings.Builder
	space := true // no leading space
	for _, r := range base {
		ok := r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-()[]", r))
		if !ok {
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		b.WriteRune(r)
		space = false
	}
	name := strings.TrimSpace(b.String())
	if len(name) > maxDocumentName {
		name = strings.TrimSpace(name[:maxDocumentName])
	}
	if name == "" {
		return "document"
	}
	return name
}

// checkDocuments applies Bedrock's per-request limits to the documents of
// msgs and makes their names unique ("report", "report (2)", ...), since
// Bedrock refuses two documents of the same name.
func checkDocuments(msgs []Message) error {
	count := 0
	seen := map[string]bool{}
	for i := range msgs {
		for j := range msgs[i].Parts {
			d := msgs[i].Parts[j].Document
			if d == nil {
				continue
			}
			count++
			if count > MaxDocuments {
				p := fmt.Sprintf("messages[%d].content[%d]", i, j)
				return invalid(codeInvalidValue, p, "Invalid '%s': a request may carry at most %d documents (Bedrock's limit); this is document %d.", p, MaxDocuments, count)
			}
			name := d.Name
			for n := 2; seen[strings.ToLower(name)]; n++ {
				suffix := " (" + strconv.Itoa(n) + ")"
				name = strings.TrimSpace(d.Name[:min(len(d.Name), maxDocumentName-len(suffix))]) + suffix
			}
			seen[strings.ToLower(name)] = true
			d.Name = name
		}
	}
	return nil
}
