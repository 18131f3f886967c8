package budget_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/budget"
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
