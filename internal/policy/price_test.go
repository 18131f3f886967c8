package policy_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

func TestPolicyPrice(t *testing.T) {
	p := parse(t, "p.yaml", `
pricing:
  anthropic.claude-3-5-haiku-20241022-v1:0: {input: 1, output: 5}     # overrides the table, for every profile too
  eu.anthropic.claude-3-haiku-20240307-v1:0: {input: 0.3, output: 1.5, cache_read: 0.03, cache_write: 0.3}  # one profile only
  arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/named: {input: 2, output: 8}
  my.tiny-v1:0: {input: 0.0001, output: 0.0035}
`)
	haiku3 := policy.Price{Input: 250, Output: 1250, CacheRead: 30, CacheWrite: 300}
	haiku35 := policy.Price{Input: 1000, Output: 5000, CacheRead: 100, CacheWrite: 1250}
	tests := []struct {
		id   string
		want policy.Price
		ok   bool
	}{
		{"anthropic.claude-3-haiku-20240307-v1:0", haiku3, true},
		{"us.anthropic.claude-3-haiku-20240307-v1:0", haiku3, true},
		{"apac.anthropic.claude-3-haiku-20240307-v1:0", haiku3, true},
		{"global.anthropic.claude-3-haiku-20240307-v1:0", haiku3, true},
		{"us-gov.anthropic.claude-3-haiku-20240307-v1:0", haiku3, true},
		{"jp.anthropic.claude-3-haiku-20240307-v1:0", haiku3, true},
		{"au.anthropic.claude-3-haiku-20240307-v1:0", haiku3, true},
		{"ca.anthropic.claude-3-haiku-20240307-v1:0", haiku3, true},
		{"eu.anthropic.claude-3-haiku-20240307-v1:0", policy.Price{Input: 300, Output: 1500, CacheRead: 30, CacheWrite: 300}, true},
		{"anthropic.claude-3-5-haiku-20241022-v1:0", haiku35, true},
		{"us.anthropic.claude-3-5-haiku-20241022-v1:0", haiku35, true},
		{"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", haiku3, true},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0", haiku3, true},
		{"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/named", policy.Price{Input: 2000, Output: 8000, CacheRead: 200, CacheWrite: 2500}, true},
		{"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/other", policy.Price{}, false},
		{"amazon.nova-micro-v1:0", policy.Price{Input: 35, Output: 140, CacheRead: 9, CacheWrite: 35}, true}, // 8.75 nano rounds up
		{"amazon.titan-embed-text-v2:0", policy.Price{Input: 20, Output: 0, CacheRead: 2, CacheWrite: 25}, true},
		{"openai.gpt-oss-120b-1:0", policy.Price{Input: 150, Output: 600, CacheRead: 15, CacheWrite: 188}, true}, // 187.5 rounds up
		{"my.tiny-v1:0", policy.Price{Input: 1, Output: 4, CacheRead: 1, CacheWrite: 1}, true},                   // fractions of a nano round up
		{"xx.anthropic.claude-3-haiku-20240307-v1:0", policy.Price{}, false},
		{"us.", policy.Price{}, false},
		{"", policy.Price{}, false},
	}
	for _, tt := range tests {
		got, ok := p.Price(tt.id)
		if diff := cmp.Diff(tt.want, got); diff != "" || ok != tt.ok {
			t.Errorf("Price(%q) = %v, want %v (-want +got):\n%s", tt.id, ok, tt.ok, diff)
		}
	}
}

func TestPolicyShippedPriceTable(t *testing.T) {
	p := parse(t)
	tests := []struct {
		id         string
		in, out    int64 // nano-USD per token
		cacheRead  int64
		cacheWrite int64
	}{
		{"anthropic.claude-3-haiku-20240307-v1:0", 250, 1250, 30, 300},
		{"anthropic.claude-3-5-haiku-20241022-v1:0", 800, 4000, 80, 1000},
		{"anthropic.claude-3-5-sonnet-20241022-v2:0", 3000, 15000, 300, 3750},
		{"anthropic.claude-3-7-sonnet-20250219-v1:0", 3000, 15000, 300, 3750},
		{"anthropic.claude-sonnet-4-20250514-v1:0", 3000, 15000, 300, 3750},
		{"anthropic.claude-sonnet-4-5-20250929-v1:0", 3000, 15000, 300, 3750},
		{"anthropic.claude-haiku-4-5-20251001-v1:0", 1000, 5000, 100, 1250},
		{"anthropic.claude-opus-4-1-20250805-v1:0", 15000, 75000, 1500, 18750},
		{"anthropic.claude-v2:1", 8000, 24000, 800, 10000},
		{"amazon.nova-micro-v1:0", 35, 140, 9, 35},
		{"amazon.nova-lite-v1:0", 60, 240, 15, 60},
		{"amazon.nova-pro-v1:0", 800, 3200, 200, 800},
		{"meta.llama3-1-8b-instruct-v1:0", 220, 220, 22, 275},
		{"meta.llama3-1-70b-instruct-v1:0", 720, 720, 72, 900},
		{"mistral.mistral-large-2407-v1:0", 2000, 6000, 200, 2500},
		{"mistral.mistral-7b-instruct-v0:2", 150, 200, 15, 188},
		{"openai.gpt-oss-120b-1:0", 150, 600, 15, 188},
		{"amazon.titan-embed-text-v1", 100, 0, 10, 125},
		{"amazon.titan-embed-text-v2:0", 20, 0, 2, 25},
		{"cohere.embed-english-v3", 100, 0, 10, 125},
		{"cohere.embed-multilingual-v3", 100, 0, 10, 125},
		// Claude Code 2.1.332's models, by base id and profile (no version
		// suffix); Haiku 5.5 at its above-100k tier.
		{"anthropic.claude-opus-5-5", 4000, 20000, 200, 5000},
		{"us.anthropic.claude-opus-5-5", 4000, 20000, 200, 5000},
		{"global.anthropic.claude-opus-5-5", 4000, 20000, 200, 5000},
		{"us.anthropic.claude-sonnet-5-5", 2000, 10000, 100, 2500},
		{"eu.anthropic.claude-haiku-5-5", 500, 2500, 50, 625},
		{"us.anthropic.claude-opus-5", 5000, 25000, 500, 6250},
		{"us.anthropic.claude-sonnet-5", 2000, 10000, 200, 2500},
		{"us.anthropic.claude-opus-4-8", 5000, 25000, 500, 6250},
		{"us.anthropic.claude-opus-4-7", 5000, 25000, 500, 6250},
		{"us.anthropic.claude-fable-5", 10000, 50000, 1000, 12500},
		{"us.anthropic.claude-fable-5-1", 10000, 50000, 250, 12500},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-fable-5-2", 8000, 40000, 200, 10000},
	}
	for _, tt := range tests {
		got, ok := p.Price(tt.id)
		want := policy.Price{Input: tt.in, Output: tt.out, CacheRead: tt.cacheRead, CacheWrite: tt.cacheWrite}
		if diff := cmp.Diff(want, got); diff != "" || !ok {
			t.Errorf("Price(%q) found=%v (-want +got):\n%s", tt.id, ok, diff)
		}
	}
}

func TestPolicyPriceCost(t *testing.T) {
	haiku := policy.Price{Input: 250, Output: 1250, CacheRead: 30, CacheWrite: 300}
	tests := []struct {
		name                                 string
		price                                policy.Price
		input, output, cacheRead, cacheWrite int64
		want                                 int64 // micro-USD
	}{
		{"1 input token of Haiku is 250 nano, rounded up to 1 micro", haiku, 1, 0, 0, 0, 1},
		{"4 input tokens: 1000 nano is exactly 1 micro", haiku, 4, 0, 0, 0, 1},
		{"5 input tokens: 1250 nano rounds up to 2", haiku, 5, 0, 0, 0, 2},
		{"1M input tokens is the list price", haiku, 1_000_000, 0, 0, 0, 250_000},
		{"1M of each", haiku, 1_000_000, 1_000_000, 1_000_000, 1_000_000, 250_000 + 1_250_000 + 30_000 + 300_000},
		{"one cache read token", haiku, 0, 0, 1, 0, 1},
		{"a typical chat", haiku, 1234, 567, 0, 0, (1234*250 + 567*1250 + 999) / 1000},
		{"nothing used", haiku, 0, 0, 0, 0, 0},
		{"negative counts are 0", haiku, -5, 0, 0, 0, 0},
		{"a free model", policy.Price{}, 1000, 1000, 0, 0, 0},
	}
	for _, tt := range tests {
		if got := tt.price.Cost(tt.input, tt.output, tt.cacheRead, tt.cacheWrite); got != tt.want {
			t.Errorf("%s: Cost = %d, want %d", tt.name, got, tt.want)
		}
	}
}
