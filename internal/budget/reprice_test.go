package budget_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// TestReprice moves a hold to a fallback's price: the new worst case is held
// instead of the old, one that does not fit leaves the ticket as it was,
// and the settlement is at the price of the model that answered. alice is
// capped by the day too: each step moves the day's counter as the month's.
func TestReprice(t *testing.T) {
	const (
		mid  = "eu.anthropic.claude-3-haiku-20240307-v1:0" // twice haiku's prices
		dear = "amazon.titan-text-premier-v1:0"            // a thousand times
	)
	f := newFixture(t, "keys:\n  - id: alice\n    sha256: \"#alice\"\n    monthly_budget_usd: 0.05\n", budget.Options{})
	p, err := policy.Parse(map[string][]byte{"p.yaml": []byte("keys:\n  - id: alice\n    sha256: " + policy.HashSecret("alice") +
		"\n    monthly_budget_usd: 0.05\n    daily_budget_usd: 0.04\npricing:\n  " + haiku + ": {input: 1, output: 10}\n  " + mid +
		": {input: 2, output: 20}\n  " + dear + ": {input: 1000, output: 10000}\n")})
	if err != nil {
		t.Fatal(err)
	}
	f.pol = p
	ctx := context.Background()
	r := f.req(t, "alice")
	r.InputBytes, r.MaxOutput = 400, 100
	tk, err := f.guard.Admit(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	period := budget.Period(midNovember)
	first := f.totals(t, period, keyScope("alice"))[keyScope("alice")].Reserved
	sameDay := func(step string) {
		t.Helper()
		day := f.totals(t, budget.PeriodID(budget.Daily, midNovember), keyScope("alice"))
		if diff := cmp.Diff(f.totals(t, period, keyScope("alice")), day); diff != "" {
			t.Errorf("%s: the day's totals differ from the month's (-month +day):\n%s", step, diff)
		}
	}
	sameDay("Admit")
	if first <= 0 {
		t.Fatalf("reserved %d after Admit", first)
	}
	k, _ := p.KeyByID("alice")
	route := func(model string) policy.Route {
		rt, err := p.Route(k, model)
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	if err := tk.Reprice(ctx, r.ID+"/1", route(mid)); err != nil {
		t.Fatalf("Reprice(mid): %v", err)
	}
	want := usage.Totals{Reserved: 2 * first}
	if diff := cmp.Diff(want, f.totals(t, period, keyScope("alice"))[keyScope("alice")]); diff != "" {
		t.Errorf("after Reprice(mid) (-want +got):\n%s", diff)
	}
	sameDay("Reprice(mid)")
	err = tk.Reprice(ctx, r.ID+"/2", route(dear))
	if e := asError(t, err); e.Code != "budget_exceeded" || !strings.Contains(e.Message, "daily budget") {
		t.Errorf("Reprice(dear): code %q (%s), want budget_exceeded by the daily budget, the tightest", e.Code, e.Message)
	}
	if diff := cmp.Diff(want, f.totals(t, period, keyScope("alice"))[keyScope("alice")]); diff != "" {
		t.Errorf("after a refused Reprice (-want +got):\n%s", diff)
	}
	sameDay("a refused Reprice")
	s, err := tk.Settle(ctx, budget.Usage{Input: 10, Output: 10})
	if err != nil {
		t.Fatal(err)
	}
	if s.CostMicros != 10*2+10*20 {
		t.Errorf("cost %d, want %d (the fallback's price)", s.CostMicros, 10*2+10*20)
	}
	if diff := cmp.Diff(usage.Totals{Spent: 220}, f.totals(t, period, keyScope("alice"))[keyScope("alice")]); diff != "" {
		t.Errorf("after Settle (-want +got):\n%s", diff)
	}
	sameDay("Settle")
}
