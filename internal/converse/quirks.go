package converse

import (
	"strings"

	"github.com/tollgate-gw/tollgate/internal/modelid"
)

// quirk is what Tollgate must know about a family of Bedrock models to send
// them a request they accept. Keep every model-specific rule in the quirks
// table below: the translation asks quirksFor and never tests model ids
// itself.
type quirk struct {
	// match is a family of foundation model ids (a prefix, see
	// [modelid.HasFamily]): it covers the base model id
	// (anthropic.claude-sonnet-4-5-20250929-v1:0), the cross-region
	// inference profiles (us., eu., apac., global. prefixes) and the ARNs of
	// foundation models and system-defined profiles. Application inference
	// profile ARNs are opaque (.../application-inference-profile/abc123)
	// and match nothing.
	match string

	// exclusiveSampling: the model rejects temperature and top_p in the same
	// request. Tollgate keeps temperature and drops top_p.
	exclusiveSampling bool

	// reasoning says how reasoning_effort reaches the model.
	reasoning reasoningStyle

	// promptCache: the model takes cachePoint blocks in the system prompt
	// and the messages (Bedrock prompt caching is generally available for
	// it).
	promptCache bool

	// textFormat: the model takes outputConfig.textFormat (structured
	// output with a JSON schema); other models get a forced tool instead.
	textFormat bool

	// maxOutput is the model's most output tokens, for the thinking
	// families: the budget and the max tokens Tollgate raises stay within
	// it. 0 when not needed.
	maxOutput int
}

// reasoningStyle is how a model family is asked to reason.
type reasoningStyle int

const (
	// reasoningIgnored: the model has no reasoning switch (or always
	// reasons, like DeepSeek R1); reasoning_effort is accepted and dropped.
	reasoningIgnored reasoningStyle = iota
	// reasoningThinking: Claude extended thinking,
	// additionalModelRequestFields {"thinking":{"type":"enabled",
	// "budget_tokens":N}} with N from thinkingBudgets.
	reasoningThinking
	// reasoningEffort: outputConfig.effort from converseEfforts, plus
	// extended thinking as reasoningThinking so that the reasoning comes
	// back.
	reasoningEffort
	// reasoningGPTOSS: OpenAI's open-weight models,
	// additionalModelRequestFields {"reasoning_effort": low|medium|high}.
	reasoningGPTOSS
	// reasoningNova: Amazon Nova 2, additionalModelRequestFields
	// {"reasoningConfig":{"type":"enabled","maxReasoningEffort":...}}.
	reasoningNova
)

// quirks is the one table of per-model rules. The first match wins, so put
// a more specific match before a more general one.
var quirks = []quirk{
	// Claude Code 2.1.332's models. A family's longer ids go first: opus-5
	// would match opus-5-5, fable-5 fable-5-1, and opus-4 below opus-4-8.
	{match: "anthropic.claude-opus-5-5", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-sonnet-5-5", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-haiku-5-5", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-opus-5", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-sonnet-5", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-opus-4-8", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-opus-4-7", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-fable-5-1", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-fable-5-2", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-fable-5", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-opus-4-6", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 128000},
	{match: "anthropic.claude-sonnet-4-6", exclusiveSampling: true, reasoning: reasoningEffort, promptCache: true, textFormat: true, maxOutput: 64000},
	// Opus 4.5 takes effort only behind Anthropic's effort-2025-11-24 beta,
	// not as Converse's outputConfig.effort: extended thinking, as 4.5.
	{match: "anthropic.claude-opus-4-5", exclusiveSampling: true, reasoning: reasoningThinking, promptCache: true, textFormat: true, maxOutput: 64000},
	{match: "anthropic.claude-sonnet-4-5", exclusiveSampling: true, reasoning: reasoningThinking, promptCache: true, textFormat: true, maxOutput: 64000},
	{match: "anthropic.claude-haiku-4-5", exclusiveSampling: true, reasoning: reasoningThinking, promptCache: true, textFormat: true, maxOutput: 64000},
	{match: "anthropic.claude-opus-4-1", exclusiveSampling: true, reasoning: reasoningThinking, promptCache: true, maxOutput: 32000},
	{match: "anthropic.claude-opus-4", reasoning: reasoningThinking, promptCache: true, maxOutput: 32000},
	{match: "anthropic.claude-sonnet-4", reasoning: reasoningThinking, promptCache: true, maxOutput: 64000},
	{match: "anthropic.claude-3-7-sonnet", reasoning: reasoningThinking, promptCache: true, maxOutput: 64000},
	{match: "anthropic.claude-3-5-haiku", promptCache: true},
	{match: "amazon.nova-2-", reasoning: reasoningNova, promptCache: true},
	{match: "amazon.nova-", promptCache: true},
	{match: "openai.gpt-oss", reasoning: reasoningGPTOSS},
}

// quirksFor returns the rules for modelID; the zero quirk when no row
// matches.
func quirksFor(modelID string) quirk {
	base, ok := modelid.Base(modelID)
	if !ok {
		return quirk{}
	}
	for _, q := range quirks {
		if strings.HasPrefix(base, q.match) {
			return q
		}
	}
	return quirk{}
}

// The reasoning_effort values, from none to the most.
var reasoningEfforts = []string{"none", "minimal", "low", "medium", "high", "xhigh"}

// thinkingBudgets are Claude's budget_tokens for each reasoning_effort. The
// least, 1024, is Claude's minimum.
var thinkingBudgets = map[string]int{
	"minimal": 1024,
	"low":     2048,
	"medium":  8192,
	"high":    16384,
	"xhigh":   32768,
}

// minThinkingBudget is the least budget_tokens Claude accepts.
const minThinkingBudget = 1024

// thinkingAnswerTokens is the room left for the answer above the thinking
// budget when the request sets no max tokens.
const thinkingAnswerTokens = 4096

// converseEfforts map reasoning_effort to outputConfig.effort (Claude's
// levels start at low; xhigh is capped at high, which every effort model
// takes).
var converseEfforts = map[string]string{
	"minimal": "low",
	"low":     "low",
	"medium":  "medium",
	"high":    "high",
	"xhigh":   "high",
}

// threeLevelEfforts map reasoning_effort to the low/medium/high scale of
// gpt-oss and Nova 2.
var threeLevelEfforts = map[string]string{
	"minimal": "low",
	"low":     "low",
	"medium":  "medium",
	"high":    "high",
	"xhigh":   "high",
}

// Claude's sampling limits while thinking: temperature must be 1 (or unset)
// and top_p at least 0.95 (or unset).
const (
	thinkingTemperature = 1.0
	thinkingMinTopP     = 0.95
)
