package budget_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// alerts collects what OnAlert was told.
type alerts struct {
	mu  sync.Mutex
	got []budget.Alert
}

func (a *alerts) record(x budget.Alert) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, x)
}

const alertPolicy = `
keys:
  - id: alice
    sha256: "#alice"
    monthly_budget_usd: 1
    alert_at: [0.5, 0.8]
  - id: bob
    sha256: "#bob"
    monthly_budget_usd: 1
`

// TestAlertsOncePerThreshold drives alice across 50 %, 80 % and 100 % of
// her $1 cap through two guards sharing one store (two gateway processes):
// exactly three alerts, each once, whichever guard settled; bob, with no
// alert_at, none. The 100 % alert fires either when settled spend reaches
// the cap or when the cap first refuses a request, whichever comes first.
func TestAlertsOncePerThreshold(t *testing.T) {
	tests := []struct {
		name    string
		spends  []int64 // micro-USD settled per request (input tokens at 1 micro each)
		refused bool    // want the 100 % alert from a refusal
	}{
		{"spend reaches the cap", []int64{300_000, 250_000, 100_000, 200_000, 100_000, 60_000, 5_000, 5_000}, false},
		{"a refusal comes first", []int64{300_000, 250_000, 100_000, 200_000, 100_000, 48_000}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: midNovember}
			store := memory.New(memory.WithClock(clk.Now))
			t.Cleanup(func() { store.Close() })
			var seen alerts
			guards := []*budget.Guard{
				budget.New(store, budget.Options{Now: clk.Now, OnAlert: seen.record}),
				budget.New(store, budget.Options{Now: clk.Now, OnAlert: seen.record}),
			}
			f := &fixture{clock: clk, pol: parsePolicy(t, alertPolicy)}
			ctx := context.Background()
			for i, spend := range tt.spends {
				for _, key := range []string{"alice", "bob"} {
					g := guards[i%2]
					r := f.req(t, key)
					r.Blocks, r.MaxOutput = 1, 1
					tk, err := g.Admit(ctx, r)
					if err != nil {
						continue // refused near the cap
					}
					if _, err := tk.Settle(ctx, budget.Usage{Input: spend}); err != nil {
						t.Fatalf("Settle: %v", err)
					}
				}
			}
			if tt.refused {
				// 998,000 spent: a request that needs at least 256
				// output tokens (2,560) no longer fits, and is
				// refused twice.
				for _, g := range guards {
					r := f.req(t, "alice")
					r.InputBytes, r.MaxOutput = 4, 3_400
					if _, err := g.Admit(ctx, r); err == nil {
						t.Fatal("Admit near the cap succeeded, want a refusal")
					}
				}
			}
			for _, g := range guards {
				if err := g.Flush(ctx); err != nil {
					t.Fatalf("Flush: %v", err)
				}
			}
			alice := usage.Scope{Kind: usage.KindKey, ID: "alice"}
			want := []budget.Alert{
				{Kind: alice.Kind, ID: alice.ID, Period: "2026-11", PeriodKind: budget.Monthly, Threshold: 0.5, Limit: 1_000_000, Time: midNovember},
				{Kind: alice.Kind, ID: alice.ID, Period: "2026-11", PeriodKind: budget.Monthly, Threshold: 0.8, Limit: 1_000_000, Time: midNovember},
				{Kind: alice.Kind, ID: alice.ID, Period: "2026-11", PeriodKind: budget.Monthly, Threshold: 1, Limit: 1_000_000, Time: midNovember, Refused: tt.refused},
			}
			// Spent is read when the check runs, after the settlement
			// that crossed the threshold, perhaps after later ones too.
			sortAlerts := cmpopts.SortSlices(func(a, b budget.Alert) bool { return a.Threshold < b.Threshold })
			if diff := cmp.Diff(want, seen.got, sortAlerts, cmpopts.IgnoreFields(budget.Alert{}, "Spent")); diff != "" {
				t.Errorf("alerts (-want +got):\n%s", diff)
			}
			for _, a := range seen.got {
				if reached := float64(a.Spent) >= a.Threshold*float64(a.Limit); reached == a.Refused {
					t.Errorf("alert at %v: spent %d of %d, refused %v", a.Threshold, a.Spent, a.Limit, a.Refused)
				}
			}
		})
	}
}
