package bedrocksim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Messages of Bedrock's Converse validation, worded as Bedrock words them.
const (
	msgStartWithUser = "A conversation must start with a user message. Try again with a conversation that starts with a user message."
	msgAlternate     = "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
	msgToolConfig    = "The toolConfig field must be defined when using toolUse and toolResult content blocks."
	msgNoTools       = "This model doesn't support tool use."
	msgNoStreamTools = "This model doesn't support tool use in streaming mode."
	msgNoStreaming   = "The model is unsupported for streaming."
	msgNoSystem      = "This model doesn't support system messages. Try again without a system message or use a model that supports system messages."
	msgNoImages      = "This model doesn't support the image content block that you provided. Update the content block and try again."
	msgExclusive     = "temperature and top_p cannot both be specified for this model. Please use only one."
)

// validate applies Bedrock's request rules for model m to req, and returns the
// first violation as a ValidationException.
func validate(req *converseRequest, m Model, stream bool) *apiError {
	if stream && !m.Streaming {
		return validationError(msgNoStreaming)
	}
	if err := validateInference(req, m); err != nil {
		return err
	}
	if err := validateThinking(req, m); err != nil {
		return err
	}
	if err := validateTools(req, m, stream); err != nil {
		return err
	}
	if err := validateGuardrail(req.GuardrailConfig); err != nil {
		return err
	}
	if err := validateOutputConfig(req.OutputConfig, m); err != nil {
		return err
	}
	if err := validateMetadata(req.RequestMetadata); err != nil {
		return err
	}
	if err := validateDocuments(req, m); err != nil {
		return err
	}
	for i, b := range req.System {
		if !m.System {
			return validationError(msgNoSystem)
		}
		if b.Text != nil && *b.Text == "" {
			return constraintError("", fmt.Sprintf("system.%d.member.text", i+1), "Member must have length greater than or equal to 1")
		}
	}
	if len(req.Messages) == 0 {
		return validationError(msgStartWithUser)
	}
	for i := range req.Messages {
		if err := validateMessage(req, m, i); err != nil {
			return err
		}
	}
	return nil
}

func validateInference(req *converseRequest, m Model) *apiError {
	ic := req.InferenceConfig
	if ic == nil {
		return nil
	}
	if ic.MaxTokens != nil {
		n := *ic.MaxTokens
		if n < 1 {
			return constraintError(strconv.Itoa(n), "inferenceConfig.maxTokens", "Member must have value greater than or equal to 1")
		}
		if n > m.MaxOutputTokens {
			return validationErrorf("The maximum tokens you requested exceeds the model limit of %d. Try again with a maximum tokens value that is lower than %d.", m.MaxOutputTokens, m.MaxOutputTokens)
		}
	}
	for _, p := range []struct {
		name string
		v    *float64
	}{{"inferenceConfig.temperature", ic.Temperature}, {"inferenceConfig.topP", ic.TopP}} {
		if p.v == nil {
			continue
		}
		v := strconv.FormatFloat(*p.v, 'g', -1, 64)
		if *p.v < 0 {
			return constraintError(v, p.name, "Member must have value greater than or equal to 0")
		}
		if *p.v > 1 {
			return constraintError(v, p.name, "Member must have value less than or equal to 1")
		}
	}
	if m.ExclusiveSampling && ic.Temperature != nil && ic.TopP != nil {
		return validationError(msgExclusive)
	}
	for i, s := range ic.StopSequences {
		if s == "" {
			return constraintError("", fmt.Sprintf("inferenceConfig.stopSequences.%d.member", i+1), "Member must have length greater than or equal to 1")
		}
	}
	return nil
}

// validateThinking checks Claude's extended-thinking settings the way the
// Anthropic model behind Bedrock does; the errors come back prefixed as model
// errors.
func validateThinking(req *converseRequest, m Model) *apiError {
	tc, ok := thinkingOf(req)
	if !ok || !m.Reasoning || tc.Thinking.Type != "enabled" {
		return nil
	}
	modelErr := func(msg string) *apiError { return validationError("The model returned the following errors: " + msg) }
	if tc.Thinking.BudgetTokens == nil {
		return modelErr("thinking.enabled.budget_tokens: Field required")
	}
	budget := *tc.Thinking.BudgetTokens
	if budget < 1024 {
		return modelErr("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
	}
	maxTokens := m.MaxOutputTokens
	if ic := req.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil {
			maxTokens = *ic.MaxTokens
		}
		if ic.Temperature != nil && *ic.Temperature != 1 {
			return modelErr("`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking")
		}
		if ic.TopP != nil && *ic.TopP < 0.95 {
			return modelErr("`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking")
		}
	}
	if maxTokens <= budget {
		return modelErr("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
	}
	if tc := req.ToolConfig; tc != nil && tc.ToolChoice != nil && (tc.ToolChoice.Any != nil || tc.ToolChoice.Tool != nil) {
		return modelErr("Thinking may not be enabled when tool_choice forces tool use.")
	}
	for i, msg := range req.Messages {
		for j, b := range msg.Content {
			if rc := b.ReasoningContent; rc != nil && rc.ReasoningText != nil && rc.ReasoningText.Signature == "" {
				return modelErr(fmt.Sprintf("messages.%d.content.%d.thinking.signature: Field required", i, j))
			}
		}
	}
	// Claude's rule: the final assistant message, when it calls tools, must
	// start with its thinking block.
	for i := len(req.Messages) - 1; i >= 0; i-- {
		msg := req.Messages[i]
		if msg.Role != "assistant" {
			continue
		}
		calls := false
		for _, b := range msg.Content {
			calls = calls || b.ToolUse != nil
		}
		if calls && (len(msg.Content) == 0 || msg.Content[0].ReasoningContent == nil) {
			return modelErr(fmt.Sprintf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking", i, blockType(msg.Content[0])))
		}
		break
	}
	return nil
}

// blockType names a content block the way Anthropic's errors do.
func blockType(b contentBlock) string {
	switch {
	case b.ToolUse != nil:
		return "tool_use"
	case b.Text != nil:
		return "text"
	case b.Image != nil:
		return "image"
	case b.Document != nil:
		return "document"
	}
	return "unknown"
}

// Bedrock's patterns for guardrail ids and versions, and for
// requestMetadata keys and values.
var (
	guardrailIDPattern      = lazyRegexp(`^(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))$`)
	guardrailVersionPattern = lazyRegexp(`^(([1-9][0-9]{0,7})|(DRAFT))$`)
	metadataPattern         = lazyRegexp(`^[a-zA-Z0-9\s:_@$#=/+,\-.]*$`)
)

// Limits on documents, as Bedrock enforces them.
const (
	maxDocuments     = 5
	maxDocumentBytes = 4_500_000
	maxMetadata      = 16
)

var documentFormats = []string{"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}

func validateGuardrail(g *guardrailConfig) *apiError {
	if g == nil {
		return nil
	}
	if g.GuardrailIdentifier == "" || len(g.GuardrailIdentifier) > 2048 || !guardrailIDPattern().MatchString(g.GuardrailIdentifier) {
		return constraintError(g.GuardrailIdentifier, "guardrailConfig.guardrailIdentifier", "Member must satisfy regular expression pattern: (([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))")
	}
	if !guardrailVersionPattern().MatchString(g.GuardrailVersion) {
		return constraintError(g.GuardrailVersion, "guardrailConfig.guardrailVersion", "Member must satisfy regular expression pattern: (([1-9][0-9]{0,7})|(DRAFT))")
	}
	switch g.Trace {
	case "", "enabled", "disabled", "enabled_full":
	default:
		return constraintError(g.Trace, "guardrailConfig.trace", "Member must satisfy enum value set: [enabled, disabled, enabled_full]")
	}
	return nil
}

func validateOutputConfig(oc *outputConfig, m Model) *apiError {
	if oc == nil {
		return nil
	}
	if e := oc.Effort; e != nil {
		switch *e {
		case "low", "medium", "high", "xhigh", "max":
		default:
			return constraintError(*e, "outputConfig.effort", "Member must satisfy enum value set: [low, medium, high, xhigh, max]")
		}
		if !m.Effort {
			return validationError("The model returned the following errors: effort: This model does not support the effort parameter.")
		}
	}
	tf := oc.TextFormat
	if tf == nil {
		return nil
	}
	if tf.Type != "json_schema" {
		return constraintError(tf.Type, "outputConfig.textFormat.type", "Member must satisfy enum value set: [json_schema]")
	}
	js := tf.Structure.JSONSchema
	if js == nil {
		return validationError("The outputConfig.textFormat.structure field must define a jsonSchema.")
	}
	if !m.StructuredOutput {
		return validationError("This model doesn't support structured output with outputConfig.textFormat. Use a model that supports it, or remove outputConfig.textFormat.")
	}
	var schema map[string]any
	if json.Unmarshal([]byte(js.Schema), &schema) != nil {
		return validationError("The JSON schema in outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON. Fix the schema and try again.")
	}
	return nil
}

func validateMetadata(md map[string]string) *apiError {
	if len(md) > maxMetadata {
		return constraintError(strconv.Itoa(len(md)), "requestMetadata", fmt.Sprintf("Member must have length less than or equal to %d", maxMetadata))
	}
	for k, v := range md {
		if k == "" || len(k) > 256 || !metadataPattern().MatchString(k) {
			return constraintError(k, "requestMetadata", "Map keys must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [a-zA-Z0-9\\s:_@$#=/+,-.]{1,256}]")
		}
		if len(v) > 256 || !metadataPattern().MatchString(v) {
			return constraintError(v, "requestMetadata", "Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must satisfy regular expression pattern: [a-zA-Z0-9\\s:_@$#=/+,-.]{0,256}]")
		}
	}
	return nil
}

// documentNamePattern is what Bedrock accepts as a document name:
// alphanumerics, hyphens, parentheses, square brackets, and whitespace never
// twice in a row.
var documentNamePattern = lazyRegexp(`^[a-zA-Z0-9\-()\[\]]+(\s[a-zA-Z0-9\-()\[\]]+)*$`)

// validateDocuments checks the document blocks of the request: the model
// must take them (models with tool use do), their format and name must be
// valid, names unique, at most 5 per request and 4.5 MB each.
func validateDocuments(req *converseRequest, m Model) *apiError {
	count := 0
	names := map[string]bool{}
	for i, msg := range req.Messages {
		for j, b := range msg.Content {
			d := b.Document
			if d == nil {
				continue
			}
			if !m.Tools {
				return validationError("This model doesn't support the document content block that you provided. Update the content block and try again.")
			}
			path := fmt.Sprintf("messages.%d.member.content.%d.member.document", i+1, j+1)
			if !slices.Contains(documentFormats, d.Format) {
				return constraintError(d.Format, path+".format", "Member must satisfy enum value set: [pdf, csv, doc, docx, xls, xlsx, html, txt, md]")
			}
			if d.Name == "" || len(d.Name) > 200 || !documentNamePattern().MatchString(d.Name) {
				return validationErrorf("The document name %q at messages.%d.content.%d is invalid. A document name can only contain alphanumeric characters, whitespace characters (no more than one in a row), hyphens, parentheses, and square brackets.", d.Name, i, j)
			}
			if names[d.Name] {
				return validationErrorf("Documents in a request must have unique names. The name %q at messages.%d.content.%d is used more than once.", d.Name, i, j)
			}
			names[d.Name] = true
			if len(d.Source.Bytes) > maxDocumentBytes {
				return validationErrorf("The document at messages.%d.content.%d is larger than the maximum of 4.5 MB.", i, j)
			}
			if count++; count > maxDocuments {
				return validationErrorf("The request contains more than %d documents. Reduce the number of documents and try again.", maxDocuments)
			}
		}
	}
	return nil
}

func validateTools(req *converseRequest, m Model, stream bool) *apiError {
	tc := req.ToolConfig
	if tc == nil {
		return nil
	}
	if !m.Tools {
		return validationError(msgNoTools)
	}
	if stream && !m.StreamingTools {
		return validationError(msgNoStreamTools)
	}
	if len(tc.Tools) == 0 {
		return constraintError("[]", "toolConfig.tools", "Member must have length greater than or equal to 1")
	}
	seen := map[string]bool{}
	for i, t := range tc.Tools {
		if t.ToolSpec == nil {
			continue
		}
		name := t.ToolSpec.Name
		if name == "" || len(name) > 64 || strings.IndexFunc(name, func(r rune) bool {
			return !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 {
			return constraintError(name, fmt.Sprintf("toolConfig.tools.%d.member.toolSpec.name", i+1), "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+")
		}
		if seen[name] {
			return validationErrorf("The toolConfig field contains duplicate tool names: %s. Tool names must be unique.", name)
		}
		seen[name] = true
		if d := t.ToolSpec.Description; d != nil && *d == "" {
			return constraintError("", fmt.Sprintf("toolConfig.tools.%d.member.toolSpec.description", i+1), "Member must have length greater than or equal to 1")
		}
	}
	if tc.ToolChoice != nil && tc.ToolChoice.Tool != nil && !seen[tc.ToolChoice.Tool.Name] {
		return validationErrorf("The tool %s named in toolChoice isn't defined in toolConfig.tools. Define the tool or choose another one, and try again.", tc.ToolChoice.Tool.Name)
	}
	return nil
}

// validateMessage checks message i of req: its role and place in the
// conversation, its content blocks, and its toolUse/toolResult pairing with
// the neighbouring turns.
func validateMessage(req *converseRequest, m Model, i int) *apiError {
	msg := req.Messages[i]
	if msg.Role != "user" && msg.Role != "assistant" {
		return constraintError(msg.Role, fmt.Sprintf("messages.%d.member.role", i+1), "Member must satisfy enum value set: [user, assistant]")
	}
	if i == 0 && msg.Role != "user" {
		return validationError(msgStartWithUser)
	}
	if i > 0 && req.Messages[i-1].Role == msg.Role {
		return validationError(msgAlternate)
	}
	if len(msg.Content) == 0 {
		return validationErrorf("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
	}
	var results []string
	for j, b := range msg.Content {
		switch {
		case b.Text != nil:
			if strings.TrimSpace(*b.Text) == "" {
				return validationErrorf("The text field in the ContentBlock object at messages.%d.content.%d is blank. Add text to the text field, and try again.", i, j)
			}
		case b.Image != nil:
			if !m.Images {
				return validationError(msgNoImages)
			}
		case b.ToolUse != nil, b.ToolResult != nil:
			if req.ToolConfig == nil {
				return validationError(msgToolConfig)
			}
			if b.ToolResult != nil {
				results = append(results, b.ToolResult.ToolUseID)
			}
		case b.Video != nil:
			return validationError("This model doesn't support the video content block that you provided. Update the content block and try again.")
		case b.Audio != nil:
			return validationError("This model doesn't support the audio content block that you provided. Update the content block and try again.")
		}
	}
	if msg.Role == "user" && i > 0 {
		if err := matchToolResults(req.Messages[i-1], i, results); err != nil {
			return err
		}
	}
	return nil
}

// matchToolResults checks that the toolResult blocks of user message i answer
// exactly the toolUse blocks of the assistant turn before it.
func matchToolResults(prev message, i int, results []string) *apiError {
	var uses []string
	for _, b := range prev.Content {
		if b.ToolUse != nil {
			uses = append(uses, b.ToolUse.ToolUseID)
		}
	}
	if len(results) > len(uses) {
		return validationErrorf("The number of toolResult blocks at messages.%d.content exceeds the number of toolUse blocks of previous turn.", i)
	}
	answered := map[string]bool{}
	for _, id := range results {
		answered[id] = true
	}
	var missing []string
	for _, id := range uses {
		if !answered[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return validationErrorf("Expected toolResult blocks at messages.%d.content for the following Ids: %s", i, strings.Join(missing, ", "))
	}
	return nil
}
