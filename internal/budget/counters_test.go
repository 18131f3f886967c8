package budget_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// TestOnlyCappedCountersWritten: a request writes its key's counter and the
// counters of the scopes that have a cap, nothing else; the Overview shows
// an uncapped team's and the uncapped gateway's spend as the sum of keys.
func TestOnlyCappedCountersWritten(t *testing.T) {
	f := newFixture(t, `
keys:
  - id: alice
    sha256: "#alice"
    team: lab
    monthly_budget_usd: 1
  - id: bob
    sha256: "#bob"
    team: lab
  - id: carol
    sha256: "#carol"
    team: capped
teams:
  - id: lab
  - id: capped
    monthly_budget_usd: 10
`, budget.Options{})
	f.spend(t, "alice", 100)
	f.spend(t, "bob", 20)
	f.spend(t, "carol", 3)
	held := f.hold(t, "alice")
	want := map[usage.Scope]usage.Totals{
		keyScope("alice"):   {Spent: 100, Reserved: holdCost},
		keyScope("bob"):     {Spent: 20},
		keyScope("carol"):   {Spent: 3},
		teamScope("capped"): {Spent: 3},
	}
	if d := cmp.Diff(want, f.list(t, "2026-11")); d != "" {
		t.Errorf("counters (-want +got):\n%s", d)
	}
	got, err := f.guard.Overview(context.Background(), f.pol)
	if err != nil {
		t.Fatal(err)
	}
	wantStates := []budget.ScopeState{
		{Kind: usage.KindKey, ID: "alice", Limit: 1_000_000, Spent: 100, Reserved: holdCost},
		{Kind: usage.KindKey, ID: "bob", Limit: usage.Uncapped, Spent: 20},
		{Kind: usage.KindKey, ID: "carol", Limit: usage.Uncapped, Spent: 3},
		{Kind: usage.KindTeam, ID: "lab", Limit: usage.Uncapped, Spent: 120, Reserved: holdCost},
		{Kind: usage.KindTeam, ID: "capped", Limit: 10_000_000, Spent: 3},
		{Kind: usage.KindGlobal, Limit: usage.Uncapped, Spent: 123, Reserved: holdCost},
	}
	if d := cmp.Diff(wantStates, got); d != "" {
		t.Errorf("Overview (-want +got):\n%s", d)
	}
	if _, err := held.Settle(context.Background(), budget.Usage{}); err != nil {
		t.Fatal(err)
	}
}
