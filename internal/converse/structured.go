package converse

import (
	"encoding/json"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithydoc "github.com/aws/smithy-go/document"
)

// This file holds structured output (response_format) for ParseChatRequest
// and ToConverse: outputConfig.textFormat for the models that take it, else
// a forced tool whose input the responses (chat_response.go,
// chat_stream.go) turn into content.

// Response format types that ask for JSON.
const (
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// jsonToolName is the name of the tool that carries a JSON answer to models
// without outputConfig.textFormat; a suffix makes it unique when the
// request declares a tool of that name.
const jsonToolName = "json_response"

func parseResponseFormat(raw json.RawMessage) (*ResponseFormat, error) {
	if isNull(raw) {
		return nil, nil
	}
	if firstByte(raw) != '{' {
		return nil, invalid(codeInvalidType, "response_format", "Invalid type for 'response_format': expected an object, but got %s instead.", rawKind(raw))
	}
	var w struct {
		Type       *string `json:"type"`
		JSONSchema *struct {
			Name        *string         `json:"name"`
			Description *string         `json:"description"`
			Schema      json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if err := decodeInto(raw, &w, "response_format"); err != nil {
		return nil, err
	}
	if w.Type == nil {
		return nil, invalid(codeMissing, "response_format.type", "Missing required parameter: 'response_format.type'.")
	}
	switch *w.Type {
	case "text":
		return nil, nil
	case FormatJSONObject:
		return &ResponseFormat{Type: FormatJSONObject}, nil
	case FormatJSONSchema:
	default:
		return nil, invalid(codeInvalidValue, "response_format.type", "Invalid value for 'response_format.type': %q. Supported values are: 'text', 'json_object' and 'json_schema'.", *w.Type)
	}
	js := w.JSONSchema
	if js == nil {
		return nil, invalid(codeMissing, "response_format.json_schema", "Missing required parameter: 'response_format.json_schema'.")
	}
	if js.Name == nil || *js.Name == "" {
		return nil, invalid(codeMissing, "response_format.json_schema.name", "Missing required parameter: 'response_format.json_schema.name'.")
	}
	if !validToolName(*js.Name) {
		return nil, invalid(codeInvalidValue, "response_format.json_schema.name", "Invalid 'response_format.json_schema.name': %q does not match ^[a-zA-Z0-9_-]{1,64}$.", *js.Name)
	}
	rf := &ResponseFormat{Type: FormatJSONSchema, Name: *js.Name}
	if js.Description != nil {
		rf.Description = *js.Description
	}
	if isNull(js.Schema) {
		rf.Schema = map[string]any{"type": "object"}
		return rf, nil
	}
	if firstByte(js.Schema) != '{' {
		return nil, invalid(codeInvalidType, "response_format.json_schema.schema", "Invalid type for 'response_format.json_schema.schema': expected a JSON Schema object, but got %s instead.", rawKind(js.Schema))
	}
	v, err := decodeJSONValue(js.Schema)
	if err != nil {
		return nil, invalid(codeInvalidValue, "response_format.json_schema.schema", "Invalid 'response_format.json_schema.schema': %v.", err)
	}
	rf.Schema = v.(map[string]any)
	return rf, nil
}

// JSONTool returns the name of the tool whose input carries the JSON answer
// when ToConverse sends r to modelID, or "" when the answer comes as text
// (no response_format, a model with outputConfig.textFormat, or a
// tool_choice naming a function, which wins). Give it to [Meta.JSONTool].
func (r *ChatRequest) JSONTool(modelID string) string {
	return jsonTool(r, quirksFor(modelID))
}

func jsonTool(r *ChatRequest, q quirk) string {
	rf := r.ResponseFormat
	if rf == nil || (rf.Type == FormatJSONSchema && q.textFormat) || r.ToolChoice.Mode == ToolChoiceFunction {
		return ""
	}
	name := jsonToolName
	for n := 2; r.hasTool(name); n++ {
		name = jsonToolName + "_" + strconv.Itoa(n)
	}
	return name
}

func (r *ChatRequest) hasTool(name string) bool {
	for _, t := range r.Tools {
		if t.Name == name {
			return true
		}
	}
	return false
}

// jsonToolSpec is the tool a JSON answer is forced through. Its schema must
// be an object, as Bedrock requires of tool inputs.
func jsonToolSpec(rf *ResponseFormat, name string) (types.Tool, error) {
	schema := map[string]any{"type": "object"}
	desc := "Respond with a JSON object."
	if rf.Type == FormatJSONSchema {
		schema = rf.Schema
		if t, ok := schema["type"]; ok && t != "object" {
			return nil, invalid(codeUnsupportedValue, "response_format.json_schema.schema", "Unsupported value: 'response_format.json_schema.schema' must describe an object (\"type\": \"object\") for this model, which takes structured output as a tool input.")
		}
		desc = "Respond with JSON matching the " + rf.Name + " schema."
		if rf.Description != "" {
			desc = rf.Description
		}
	}
	return &types.ToolMemberToolSpec{Value: types.ToolSpecification{
		Name:        ptr(name),
		Description: ptr(desc),
		InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(schema)},
	}}, nil
}

// textFormat is the outputConfig.textFormat of a json_schema response
// format: the schema travels as a JSON string.
func textFormat(rf *ResponseFormat) (*types.OutputFormat, error) {
	schema, err := json.Marshal(jsonNumbers(rf.Schema))
	if err != nil {
		return nil, invalid(codeInvalidValue, "response_format.json_schema.schema", "Invalid 'response_format.json_schema.schema': %v.", err)
	}
	def := types.JsonSchemaDefinition{Schema: ptr(string(schema)), Name: ptr(rf.Name)}
	if rf.Description != "" {
		def.Description = ptr(rf.Description)
	}
	return &types.OutputFormat{Type: types.OutputFormatTypeJsonSchema, Structure: &types.OutputFormatStructureMemberJsonSchema{Value: def}}, nil
}

// jsonNumbers returns a copy of v with smithy document.Numbers as
// json.Numbers, which encoding/json writes digit for digit.
func jsonNumbers(v any) any {
	switch v := v.(type) {
	case smithydoc.Number:
		return json.Number(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonNumbers(e)
		}
		return out
	}
	return v
}
