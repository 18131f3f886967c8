package budget_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// benchPolicy has one key per case: "free" is under no cap, so its requests
// reserve nothing; "capped" has a cap of its own. In benchTeamPolicy,
// "teamed" is under its own, its team's and the global cap, the most scopes
// a request can be charged against. Every key has an allowlist, so Route
// matches patterns, as it does for most production keys.
const benchPolicy = `
keys:
  - {id: free, sha256: "#free", models: ["anthropic.claude-3-haiku-*", "us.anthropic.*"]}
  - {id: capped, sha256: "#capped", models: ["anthropic.claude-3-haiku-*", "us.anthropic.*"], monthly_budget_usd: 1000000}
`

const benchTeamPolicy = `
keys:
  - {id: teamed, sha256: "#teamed", team: research, models: ["anthropic.claude-3-haiku-*", "us.anthropic.*"], monthly_budget_usd: 1000000}
teams:
  - {id: research, monthly_budget_usd: 10000000}
budget:
  monthly_budget_usd: 100000000
`

// BenchmarkRouteAdmitSettle is the CPU the policy and budget layers add to
// one chat request with the in-memory store: policy.Route, Guard.Admit and
// Ticket.Settle, as the chat handler calls them. An uncapped key reserves
// nothing and only records its spend; a capped one reserves its worst case
// first. The settled IDs stay in the store for its retention, as in
// production, so the store grows with b.N. cpu-ns/op is the process's user +
// system time per request (GC included), which ns/op misses when the
// collector runs on the other CPU.
func BenchmarkRouteAdmitSettle(b *testing.B) {
	for _, bc := range []struct{ name, yaml, key string }{
		{"uncapped", benchPolicy, "free"},
		{"capped", benchPolicy, "capped"},
		{"capped-key+team+global", benchTeamPolicy, "teamed"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			yaml := strings.NewReplacer("#free", policy.HashSecret("free"), "#capped", policy.HashSecret("capped"),
				"#teamed", policy.HashSecret("teamed")).Replace(bc.yaml)
			p, err := policy.Parse(map[string][]byte{"bench.yaml": []byte(yaml)})
			if err != nil {
				b.Fatal(err)
			}
			key, ok := p.KeyByID(bc.key)
			if !ok {
				b.Fatalf("no key %q", bc.key)
			}
			store := memory.New()
			defer store.Close()
			g := budget.New(store, budget.Options{})
			ctx := context.Background()
			const model = "anthropic.claude-3-haiku-20240307-v1:0"
			texts := []string{"Hello, Bedrock! Summarise the plot of Hamlet in two sentences."}
			var seq atomic.Int64
			b.ReportAllocs()
			cpu0 := cpuNanos()
			for b.Loop() {
				route, err := p.Route(key, model)
				if err != nil {
					b.Fatal(err)
				}
				t, err := g.Admit(ctx, budget.Request{
					ID: "bench-" + strconv.FormatInt(seq.Add(1), 36), Policy: p, Key: key, Route: route,
					InputBytes: len(texts[0]), Texts: func() []string { return texts }, MaxOutput: 1024,
				})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := t.Settle(ctx, budget.Usage{Input: 21, Output: 40}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuNanos()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuNanos is the process's user + system CPU time.
func cpuNanos() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkPreAdmissionHostile is the CPU a request of issue 13's attack
// costs the gateway before it is refused: a 1 MB body, one message of a
// single character repeated (which took seconds to count whole), or random
// words, parsed, translated, measured and admitted against a key whose cap leaves too
// little (so the texts are counted before the refusal: the worst case).
// cpu-ms/MB must stay under 50.
func BenchmarkPreAdmissionHostile(b *testing.B) {
	const model = "anthropic.claude-3-haiku-20240307-v1:0"
	p, err := policy.Parse(map[string][]byte{"bench.yaml": []byte(`
keys:
  - {id: near, sha256: "` + policy.HashSecret("near") + `", monthly_budget_usd: 0.05}
`)})
	if err != nil {
		b.Fatal(err)
	}
	key, _ := p.KeyByID("near")
	route, err := p.Route(key, model)
	if err != nil {
		b.Fatal(err)
	}
	var words strings.Builder
	for i := 0; words.Len() < 1<<20; i++ {
		words.WriteString(strconv.FormatInt(int64(i)*2654435761%1000003, 36) + " ")
	}
	for _, bc := range []struct{ name, text string }{
		{"equals-1MB", strings.Repeat("=", 1<<20)},
		{"words-1MB", words.String()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body, _ := json.Marshal(map[string]any{"model": model, "max_tokens": 1000,
				"messages": []map[string]string{{"role": "user", "content": bc.text}}})
			store := memory.New()
			defer store.Close()
			g := budget.New(store, budget.Options{})
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			admit := func(in *bedrockruntime.ConverseInput, size converse.InputSize) error {
				_, err := g.Admit(ctx, budget.Request{ID: "bench", Policy: p, Key: key, Route: route,
					InputBytes: size.TextBytes, Images: size.Images, MaxOutput: 1000,
					Texts: func() []string { return converse.InputTexts(in) }})
				return err
			}
			// The tokenizer loads on first use (once per process): not
			// part of a request's cost.
			_ = admit(&bedrockruntime.ConverseInput{}, converse.InputSize{TextBytes: 1 << 20})
			cpu0 := cpuNanos()
			for b.Loop() {
				if !utf8.Valid(body) {
					b.Fatal("invalid UTF-8")
				}
				req, err := converse.ParseChatRequest(body)
				if err != nil {
					b.Fatal(err)
				}
				in, err := converse.ToConverse(req, model, converse.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := admit(in, converse.MeasureInput(req, len(body))); err == nil {
					b.Fatal("admitted: the cap must leave too little")
				}
			}
			b.ReportMetric(float64(cpuNanos()-cpu0)/1e6/float64(b.N)/(float64(len(body))/(1<<20)), "cpu-ms/MB")
		})
	}
}
