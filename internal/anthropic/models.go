package anthropic

import "strings"

// claudeModel is a Claude model as Anthropic and Bedrock name it.
type claudeModel struct {
	names     []string // Anthropic's names: dated, undated and -latest
	bedrockID string   // the foundation model id
	profile   bool     // on-demand use needs an inference profile
}

// claudeModels is the documented table from Anthropic's model names to
// Bedrock ids (docs/anthropic-compat.md). Policy aliases take precedence.
var claudeModels = []claudeModel{
	{[]string{"claude-3-haiku-20240307"}, "anthropic.claude-3-haiku-20240307-v1:0", false},
	{[]string{"claude-3-5-haiku-20241022", "claude-3-5-haiku-latest", "claude-3-5-haiku"}, "anthropic.claude-3-5-haiku-20241022-v1:0", true},
	{[]string{"claude-3-5-sonnet-20241022", "claude-3-5-sonnet-latest", "claude-3-5-sonnet"}, "anthropic.claude-3-5-sonnet-20241022-v2:0", true},
	{[]string{"claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest", "claude-3-7-sonnet"}, "anthropic.claude-3-7-sonnet-20250219-v1:0", true},
	{[]string{"claude-sonnet-4-20250514", "claude-sonnet-4-0", "claude-sonnet-4"}, "anthropic.claude-sonnet-4-20250514-v1:0", true},
	{[]string{"claude-opus-4-20250514", "claude-opus-4-0", "claude-opus-4"}, "anthropic.claude-opus-4-20250514-v1:0", true},
	{[]string{"claude-opus-4-1-20250805", "claude-opus-4-1"}, "anthropic.claude-opus-4-1-20250805-v1:0", true},
	{[]string{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"}, "anthropic.claude-sonnet-4-5-20250929-v1:0", true},
	{[]string{"claude-haiku-4-5-20251001", "claude-haiku-4-5"}, "anthropic.claude-haiku-4-5-20251001-v1:0", true},
	{[]string{"claude-opus-4-5-20251101", "claude-opus-4-5"}, "anthropic.claude-opus-4-5-20251101-v1:0", true},
	{[]string{"claude-opus-4-6"}, "anthropic.claude-opus-4-6-v1", true},
	{[]string{"claude-sonnet-4-6"}, "anthropic.claude-sonnet-4-6", true},
}

// Geography returns the inference-profile prefix of an AWS region: "eu" for
// eu-*, "apac" for ap-*, "us" otherwise.
func Geography(region string) string {
	switch {
	case strings.HasPrefix(region, "eu-"):
		return "eu"
	case strings.HasPrefix(region, "ap-"):
		return "apac"
	default:
		return "us"
	}
}

// BedrockModel returns the Bedrock id for an Anthropic model name: the
// foundation model id, or its inference profile in geography geo ("us",
// "eu", "apac", "global") for the models Bedrock serves only through one.
// ok is false for a name the table does not know.
func BedrockModel(name, geo string) (id string, ok bool) {
	for _, m := range claudeModels {
		for _, n := range m.names {
			if n != name {
				continue
			}
			if m.profile {
				return geo + "." + m.bedrockID, true
			}
			return m.bedrockID, true
		}
	}
	return "", false
}

// FoundationModel returns the foundation model id of a Bedrock id that names
// an inference profile by its geography prefix ("us.anthropic..." →
// "anthropic..."), and the id itself otherwise. Bedrock's CountTokens takes
// only foundation model ids.
func FoundationModel(id string) string {
	for _, geo := range []string{"us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca."} {
		if rest, ok := strings.CutPrefix(id, geo); ok {
			return rest
		}
	}
	if i := strings.Index(id, ":inference-profile/"); i >= 0 && strings.HasPrefix(id, "arn:") {
		return FoundationModel(id[i+len(":inference-profile/"):])
	}
	return id
}

// IsClaude reports whether a Bedrock id names a Claude model, which takes
// the Messages body on InvokeModel.
func IsClaude(id string) bool {
	return strings.Contains(id, "anthropic.claude")
}
