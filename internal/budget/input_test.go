package budget_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

func TestModelTables(t *testing.T) {
	tests := []struct {
		id                string
		image, toolTokens int
	}{
		{id: "anthropic.claude-3-haiku-20240307-v1:0", image: 1600, toolTokens: 530},
		{id: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", image: 1600, toolTokens: 530},
		{id: "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-1-20250805-v1:0", image: 1600, toolTokens: 530},
		{id: "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0", image: 1600, toolTokens: 530},
		// a Claude model the image table does not name may read larger images
		{id: "anthropic.claude-opus-5-20270101-v1:0", image: 6404, toolTokens: 530},
		{id: "amazon.nova-pro-v1:0", image: 2600, toolTokens: 512},
		{id: "us.amazon.nova-2-lite-v1:0", image: 2600, toolTokens: 512},
		{id: "meta.llama3-2-90b-instruct-v1:0", image: 6404, toolTokens: 512},
		{id: "us.meta.llama4-maverick-17b-instruct-v1:0", image: 6404, toolTokens: 512},
		{id: "mistral.pixtral-large-2502-v1:0", image: 6404, toolTokens: 512},
		// an application profile names no model: the largest allowances
		{id: "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", image: 6404, toolTokens: 530},
		{id: "newcomer.model-v1:0", image: 6404, toolTokens: 530},
	}
	for _, tt := range tests {
		if got := budget.ImageTokens(tt.id); got != tt.image {
			t.Errorf("ImageTokens(%s) = %d, want %d", tt.id, got, tt.image)
		}
		if got := budget.ToolPromptTokens(tt.id); got != tt.toolTokens {
			t.Errorf("ToolPromptTokens(%s) = %d, want %d", tt.id, got, tt.toolTokens)
		}
	}
}

// TestAdmitFraming reserves what a request carries besides its texts:
// framing per block, the tool-use prompt of the model's family, its images,
// its binary documents, and the cache-write price only with cache points.
// haiku costs 1 micro-USD an input token, 1.25 a cache write, 10 an output
// token; lean 1 an input token and 0.5 a cache write.
func TestAdmitFraming(t *testing.T) {
	tests := []struct {
		name         string
		model        string
		r            budget.Request
		wantReserved int64
	}{
		{name: "bare texts (embeddings)", model: haiku, r: budget.Request{InputBytes: 100},
			wantReserved: 100 + 10},
		{name: "one message", model: haiku, r: budget.Request{InputBytes: 100, Blocks: 2},
			wantReserved: 100 + 16 + 2*8 + 10},
		{name: "a profile id prices and frames as its model", model: "us." + haiku, r: budget.Request{InputBytes: 100, Blocks: 3, Tools: true},
			wantReserved: 100 + 16 + 3*8 + 530 + 10},
		{name: "another family's tool prompt", model: lean, r: budget.Request{InputBytes: 100, Blocks: 3, Tools: true},
			wantReserved: 100 + 16 + 3*8 + 512 + 10},
		{name: "images and documents", model: haiku, r: budget.Request{InputBytes: 100, Blocks: 4, Images: 2, DocumentTokens: 5000},
			wantReserved: 100 + 16 + 4*8 + 2*1600 + 5000 + 10},
		// (100 + 16 + 16) × 1.25 = 165
		{name: "cache points", model: haiku, r: budget.Request{InputBytes: 100, Blocks: 2, CacheWrite: true},
			wantReserved: 165 + 10},
		// cache writes cheaper than input: input at its own price
		{name: "cheap cache writes", model: lean, r: budget.Request{InputBytes: 100, Blocks: 2, CacheWrite: true},
			wantReserved: 100 + 16 + 2*8 + 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, cappedPolicy, budget.Options{})
			r := f.reqFor(t, "alice", tt.model)
			tt.r.ID, tt.r.Policy, tt.r.Key, tt.r.Route, tt.r.MaxOutput = r.ID, r.Policy, r.Key, r.Route, 1
			if _, err := f.guard.Admit(context.Background(), tt.r); err != nil {
				t.Fatalf("Admit: %v", err)
			}
			want := usage.Totals{Reserved: tt.wantReserved}
			if diff := cmp.Diff(want, f.totals(t, "2026-11", keyScope("alice"))[keyScope("alice")]); diff != "" {
				t.Errorf("alice's totals (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRefusalOfInputOnlyRequest refuses an embedding request, whose model
// bills no output: the message names its input tokens only.
func TestRefusalOfInputOnlyRequest(t *testing.T) {
	const titan = "amazon.titan-embed-text-v2:0"
	p, err := policy.Parse(map[string][]byte{"policy.yaml": []byte(`
keys:
  - id: alice
    sha256: "` + policy.HashSecret("alice") + `"
    monthly_budget_usd: 0.001
pricing:
  ` + titan + `: {input: 100, output: 0}
`)})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := p.KeyByID("alice")
	route, err := p.Route(k, titan)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: midNovember}
	g := budget.New(memory.New(memory.WithClock(clk.Now)), budget.Options{Now: clk.Now})
	_, err = g.Admit(context.Background(), budget.Request{ID: "r1", Policy: p, Key: k, Route: route, InputBytes: 20})
	want := "This request could cost up to $0.002000 (20 input tokens at most), more than the $0.001000 left of your API key's monthly budget ($0.00 spent of $0.001000 in 2026-11). Its input alone could cost up to $0.002000: shorten the prompt (fewer or shorter messages, images, documents or tools). It resets on 2026-12-01 00:00 UTC."
	if diff := cmp.Diff(want, asError(t, err).Message); diff != "" {
		t.Errorf("refusal (-want +got):\n%s", diff)
	}
}
