package bedrocksim

import "encoding/json"

// This file holds the JSON shapes of the Converse and ConverseStream APIs, as
// the SDK serializes requests (member names from
// bedrockruntime/schemas/schemas.go; blobs are base64 strings, documents raw
// JSON) and deserializes responses and events. Unknown members are ignored, as
// AWS does.

type converseRequest struct {
	Messages                          []message         `json:"messages"`
	System                            []systemBlock     `json:"system"`
	InferenceConfig                   *inferenceConfig  `json:"inferenceConfig"`
	ToolConfig                        *toolConfig       `json:"toolConfig"`
	GuardrailConfig                   *guardrailConfig  `json:"guardrailConfig"`
	AdditionalModelRequestFields      json.RawMessage   `json:"additionalModelRequestFields"`
	AdditionalModelResponseFieldPaths []string          `json:"additionalModelResponseFieldPaths"`
	PromptVariables                   json.RawMessage   `json:"promptVariables"`
	RequestMetadata                   map[string]string `json:"requestMetadata"`
	PerformanceConfig                 json.RawMessage   `json:"performanceConfig"`
	ServiceTier                       json.RawMessage   `json:"serviceTier"`
	OutputConfig                      *outputConfig     `json:"outputConfig"`
}

// guardrailConfig is GuardrailConfiguration (GuardrailStreamConfiguration
// adds streamProcessingMode).
type guardrailConfig struct {
	GuardrailIdentifier  string `json:"guardrailIdentifier"`
	GuardrailVersion     string `json:"guardrailVersion"`
	Trace                string `json:"trace"`
	StreamProcessingMode string `json:"streamProcessingMode"`
}

// outputConfig is OutputConfig: reasoning effort and structured output.
type outputConfig struct {
	Effort     *string `json:"effort"`
	TextFormat *struct {
		Type      string `json:"type"`
		Structure struct {
			JSONSchema *struct {
				Schema      string `json:"schema"`
				Name        string `json:"name"`
				Description string `json:"description"`
			} `json:"jsonSchema"`
		} `json:"structure"`
	} `json:"textFormat"`
}

type message struct {
	Role    string         `json:"role"`
	Content []contentBlock `json:"content"`
}

// contentBlock is the ContentBlock union; exactly one member is set.
type contentBlock struct {
	Text             *string          `json:"text,omitempty"`
	Image            *imageBlock      `json:"image,omitempty"`
	Document         *documentBlock   `json:"document,omitempty"`
	Video            json.RawMessage  `json:"video,omitempty"`
	Audio            json.RawMessage  `json:"audio,omitempty"`
	ToolUse          *toolUseBlock    `json:"toolUse,omitempty"`
	ToolResult       *toolResultBlock `json:"toolResult,omitempty"`
	GuardContent     json.RawMessage  `json:"guardContent,omitempty"`
	CachePoint       *cachePoint      `json:"cachePoint,omitempty"`
	ReasoningContent *reasoningBlock  `json:"reasoningContent,omitempty"`
	CitationsContent json.RawMessage  `json:"citationsContent,omitempty"`
	SearchResult     json.RawMessage  `json:"searchResult,omitempty"`
}

type imageBlock struct {
	Format string `json:"format"`
	Source struct {
		Bytes      []byte          `json:"bytes"`
		S3Location json.RawMessage `json:"s3Location"`
	} `json:"source"`
}

type documentBlock struct {
	Format string `json:"format"`
	Name   string `json:"name"`
	Source struct {
		Bytes   []byte `json:"bytes"`
		Text    string `json:"text"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	} `json:"source"`
}

type toolUseBlock struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type toolResultBlock struct {
	ToolUseID string              `json:"toolUseId"`
	Content   []toolResultContent `json:"content"`
	Status    string              `json:"status,omitempty"`
}

type toolResultContent struct {
	Text     *string         `json:"text,omitempty"`
	JSON     json.RawMessage `json:"json,omitempty"`
	Image    *imageBlock     `json:"image,omitempty"`
	Document *documentBlock  `json:"document,omitempty"`
}

type cachePoint struct {
	Type string `json:"type"`
}

type reasoningBlock struct {
	ReasoningText *reasoningText `json:"reasoningText,omitempty"`
	// RedactedContent is base64 on the wire.
	RedactedContent []byte `json:"redactedContent,omitempty"`
}

type reasoningText struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

// systemBlock is the SystemContentBlock union.
type systemBlock struct {
	Text         *string         `json:"text,omitempty"`
	GuardContent json.RawMessage `json:"guardContent,omitempty"`
	CachePoint   *cachePoint     `json:"cachePoint,omitempty"`
}

type inferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens"`
	Temperature   *float64 `json:"temperature"`
	TopP          *float64 `json:"topP"`
	StopSequences []string `json:"stopSequences"`
}

type toolConfig struct {
	Tools      []tool      `json:"tools"`
	ToolChoice *toolChoice `json:"toolChoice"`
}

// tool is the Tool union: a toolSpec, a systemTool or a cachePoint.
type tool struct {
	ToolSpec *struct {
		Name        string  `json:"name"`
		Description *string `json:"description"`
		InputSchema struct {
			JSON json.RawMessage `json:"json"`
		} `json:"inputSchema"`
	} `json:"toolSpec"`
	SystemTool *struct {
		Name string `json:"name"`
	} `json:"systemTool"`
	CachePoint *cachePoint `json:"cachePoint"`
}

// toolChoice is the ToolChoice union: {"auto":{}}, {"any":{}} or
// {"tool":{"name":...}}.
type toolChoice struct {
	Auto *struct{} `json:"auto"`
	Any  *struct{} `json:"any"`
	Tool *struct {
		Name string `json:"name"`
	} `json:"tool"`
}

// thinkingConfig is Claude's extended-thinking switch, passed through
// additionalModelRequestFields.
type thinkingConfig struct {
	Thinking *struct {
		Type         string `json:"type"`
		BudgetTokens *int   `json:"budget_tokens"`
	} `json:"thinking"`
}

type converseResponse struct {
	Output struct {
		Message message `json:"message"`
	} `json:"output"`
	StopReason string  `json:"stopReason"`
	Usage      usage   `json:"usage"`
	Metrics    metrics `json:"metrics"`
}

// usage is TokenUsage. totalTokens includes the cache tokens, as Bedrock
// reports it; inputTokens does not.
type usage struct {
	InputTokens           int `json:"inputTokens"`
	OutputTokens          int `json:"outputTokens"`
	TotalTokens           int `json:"totalTokens"`
	CacheReadInputTokens  int `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens int `json:"cacheWriteInputTokens,omitempty"`
}

type metrics struct {
	LatencyMs int64 `json:"latencyMs"`
}
