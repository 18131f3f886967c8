package bedrocksim

import (
	"fmt"
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
