package converse

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestQuirksForUnversionedIDs: Claude Code 2.1.332's models, whose ids
// carry no version suffix, get their own rows, by base id, profile or
// ARN, and not those of the shorter families their ids start with
// (anthropic.claude-opus-4 would give Opus 4.8 32k and no effort).
func TestQuirksForUnversionedIDs(t *testing.T) {
	type got struct {
		Reasoning reasoningStyle
		MaxOutput int
		Exclusive bool
	}
	tests := []struct {
		id   string
		want got
	}{
		{"us.anthropic.claude-opus-5-5", got{reasoningEffort, 128000, true}},
		{"anthropic.claude-opus-5-5", got{reasoningEffort, 128000, true}},
		{"global.anthropic.claude-sonnet-5-5", got{reasoningEffort, 128000, true}},
		{"eu.anthropic.claude-haiku-5-5", got{reasoningEffort, 128000, true}},
		{"us.anthropic.claude-opus-5", got{reasoningEffort, 128000, true}},
		{"us.anthropic.claude-sonnet-5", got{reasoningEffort, 128000, true}},
		{"us.anthropic.claude-opus-4-8", got{reasoningEffort, 128000, true}},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-7", got{reasoningEffort, 128000, true}},
		{"us.anthropic.claude-fable-5", got{reasoningEffort, 128000, true}},
		{"us.anthropic.claude-fable-5-1", got{reasoningEffort, 128000, true}},
		{"us.anthropic.claude-fable-5-2", got{reasoningEffort, 128000, true}},
		// The older families keep theirs.
		{"us.anthropic.claude-opus-4-20250514-v1:0", got{reasoningThinking, 32000, false}},
		{"us.anthropic.claude-opus-4-6-v1", got{reasoningEffort, 128000, true}},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", got{reasoningThinking, 64000, true}},
	}
	for _, tt := range tests {
		q := quirksFor(tt.id)
		if diff := cmp.Diff(tt.want, got{q.reasoning, q.maxOutput, q.exclusiveSampling}); diff != "" {
			t.Errorf("quirksFor(%q) (-want +got):\n%s", tt.id, diff)
		}
	}
}
