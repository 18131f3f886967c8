package budget

import "github.com/tollgate-gw/tollgate/internal/modelid"

// This file bounds what a request reads, in tokens: the texts (see
// [tokens]), the images, and the framing Bedrock wraps them in. Every
// per-model number lives in one of the two tables below, with its source.

// Framing allowances, in input tokens: what a model reads besides the
// request's own texts. Chat templates put a few tokens around the
// conversation (begin and end markers, the assistant turn opened for the
// answer) and around each message and content block (role headers,
// separators, a document's tags): Llama 3's template spends 4 to 5 tokens a
// message, Claude's and Nova's fewer. The allowances are rounded up.
const (
	FramingTokens = 16 // once per conversation
	BlockTokens   = 8  // each message, system block, content block and tool
)

// modelTokens is one row of a per-model table: the first row whose family
// (a prefix of foundation model ids, see [modelid.HasFamily]) holds the
// model wins, so a more specific family goes first. A cross-region profile
// id or an ARN counts as the model it routes to; an application inference
// profile ARN, whose model the id does not tell, gets the table's default.
type modelTokens struct {
	family string
	tokens int
}

func lookup(table []modelTokens, modelID string, otherwise int) int {
	for _, row := range table {
		if modelid.HasFamily(modelID, row.family) {
			return row.tokens
		}
	}
	return otherwise
}

// toolPrompts is the system prompt a model family adds to a request that
// offers tools (the Converse request has a toolConfig), in tokens.
//
// Claude: Anthropic documents the tool-use system prompt per model and
// tool_choice ("Tool use pricing and tokens"): Claude 3 Opus 530 (auto) /
// 281 (any, tool), Claude 3 Sonnet 159 / 235, Claude 3 Haiku 264 / 340,
// Claude 3.5, 3.7 and 4.x 346 / 313. The table keeps the largest, 530, for
// every Claude model, since the request's tool_choice is not known here.
// The other providers on Bedrock do not document theirs: 512 stays their
// allowance, as it was for every model before.
var toolPrompts = []modelTokens{
	{family: "anthropic.claude", tokens: 530},
	{family: "amazon.", tokens: 512},
	{family: "meta.", tokens: 512},
	{family: "mistral.", tokens: 512},
	{family: "cohere.", tokens: 512},
	{family: "deepseek.", tokens: 512},
	{family: "openai.", tokens: 512},
	{family: "ai21.", tokens: 512},
	{family: "writer.", tokens: 512},
	{family: "qwen.", tokens: 512},
}

// defaultToolPrompt is the tool-use allowance of a model the table does not
// name, such as the one behind an application inference profile: the
// largest of the table.
const defaultToolPrompt = 530

// ToolPromptTokens returns the most tokens of the system prompt that
// modelID adds to a request offering tools.
func ToolPromptTokens(modelID string) int { return lookup(toolPrompts, modelID, defaultToolPrompt) }

// imageTokens is the most a model family bills for one image, in tokens,
// from each family's documented formula.
//
//   - Claude (3 to 4.6): tokens = width × height / 750, after Bedrock scales
//     an image down to a long edge of 1,568 px and about 1.15 megapixels:
//     at most about 1,600 (Anthropic, "Vision": "Evaluate image size").
//     Newer Claude models read larger images (about 4,800 tokens at a
//     2,576 px long edge), so only the families listed here get 1,600;
//     any other Claude id gets the default.
//   - Amazon Nova: rescaled to the nearest of its aspect ratios; the
//     documented examples go up to about 2,600 tokens (1.3K × 1.3K) (Amazon
//     Nova User Guide, "Image understanding: image to tokens conversion").
//   - Meta Llama 3.2 Vision: at most 4 tiles of 560 × 560 px, each
//     (560/14)² + 1 = 1,601 tokens, so 6,404 (the Mllama vision config).
//     Llama 4 (at most 16 tiles of 336 px at 144 tokens, plus a global
//     tile: about 2,500) stays under the same bound.
var imageTokens = []modelTokens{
	{family: "anthropic.claude-3", tokens: 1600},
	{family: "anthropic.claude-opus-4-6", tokens: 1600},
	{family: "anthropic.claude-sonnet-4-6", tokens: 1600},
	{family: "anthropic.claude-opus-4-5", tokens: 1600},
	{family: "anthropic.claude-sonnet-4-5", tokens: 1600},
	{family: "anthropic.claude-haiku-4-5", tokens: 1600},
	{family: "anthropic.claude-opus-4-1", tokens: 1600},
	{family: "anthropic.claude-opus-4-2025", tokens: 1600},
	{family: "anthropic.claude-sonnet-4-2025", tokens: 1600},
	{family: "amazon.nova", tokens: 2600},
	{family: "meta.llama", tokens: 6404},
}

// defaultImageTokens is the image allowance of a model the table does not
// name: the largest of the table, so that an unknown family is never
// under-reserved.
const defaultImageTokens = 6404

// ImageTokens returns the most tokens one image costs on modelID.
func ImageTokens(modelID string) int { return lookup(imageTokens, modelID, defaultImageTokens) }

// fixedInput is what r reads besides the texts the byte bound or the
// precise count measures: its images, its binary documents, its framing and
// the tool-use system prompt.
func fixedInput(r *Request) int64 {
	n := int64(r.Images)*int64(ImageTokens(r.Route.ModelID)) + int64(r.DocumentTokens)
	if r.Blocks > 0 {
		n += FramingTokens + int64(r.Blocks)*BlockTokens
	}
	if r.Tools {
		n += int64(ToolPromptTokens(r.Route.ModelID))
	}
	return n
}
