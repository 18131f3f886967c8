package budget_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

func TestPeriodIDs(t *testing.T) {
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		t                         time.Time
		month, week, day          string
		monthEnd, weekEnd, dayEnd time.Time
	}{
		{at(2026, 12, 2, 15), "2026-12", "2026-W49", "2026-12-02", at(2027, 1, 1, 0), at(2026, 12, 7, 0), at(2026, 12, 3, 0)},
		// A Sunday's week ends at midnight; a Monday starts the next.
		{at(2026, 11, 15, 23), "2026-11", "2026-W46", "2026-11-15", at(2026, 12, 1, 0), at(2026, 11, 16, 0), at(2026, 11, 16, 0)},
		{at(2026, 11, 16, 0), "2026-11", "2026-W47", "2026-11-16", at(2026, 12, 1, 0), at(2026, 11, 23, 0), at(2026, 11, 17, 0)},
		// The ISO week of a new year's first days may be the old year's.
		{at(2027, 1, 1, 8), "2027-01", "2026-W53", "2027-01-01", at(2027, 2, 1, 0), at(2027, 1, 4, 0), at(2027, 1, 2, 0)},
		{at(2027, 1, 4, 0), "2027-01", "2027-W01", "2027-01-04", at(2027, 2, 1, 0), at(2027, 1, 11, 0), at(2027, 1, 5, 0)},
		// Another zone's time is taken in UTC.
		{time.Date(2026, 12, 2, 23, 30, 0, 0, time.FixedZone("UTC-2", -2*3600)), "2026-12", "2026-W49", "2026-12-03", at(2027, 1, 1, 0), at(2026, 12, 7, 0), at(2026, 12, 4, 0)},
	}
	for _, tt := range tests {
		got := []any{budget.PeriodID(budget.Monthly, tt.t), budget.PeriodID(budget.Weekly, tt.t), budget.PeriodID(budget.Daily, tt.t),
			budget.PeriodEnd(budget.Monthly, tt.t), budget.PeriodEnd(budget.Weekly, tt.t), budget.PeriodEnd(budget.Daily, tt.t),
			budget.Period(tt.t), budget.NextPeriod(tt.t)}
		want := []any{tt.month, tt.week, tt.day, tt.monthEnd, tt.weekEnd, tt.dayEnd, tt.month, tt.monthEnd}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("periods of %v (-want +got):\n%s", tt.t, d)
		}
	}
}

const dailyPolicy = `
keys:
  - id: alice
    sha256: "#alice"
    daily_budget_usd: 0.01
    monthly_budget_usd: 0.025
`

// TestDailyCap: a key capped by the day ($0.01) and the month ($0.025) is
// refused by its day first, with a message that names the day and its
// reset; the next day it is admitted again while the month keeps counting,
// until the month refuses.
func TestDailyCap(t *testing.T) {
	f := newFixture(t, dailyPolicy, budget.Options{})
	ctx := context.Background()
	alice := keyScope("alice")
	f.spend(t, "alice", 10_000)
	_, err := f.guard.Admit(ctx, f.req(t, "alice"))
	want := &tollgate.Error{Kind: tollgate.QuotaExceeded, Code: "budget_exceeded",
		Message: "Your API key's daily budget is exhausted: $0.01 spent of $0.01 in 2026-11-15. It resets on 2026-11-16 00:00 UTC."}
	if d := cmp.Diff(want, asError(t, err)); d != "" {
		t.Fatalf("Admit past the day (-want +got):\n%s", d)
	}
	k, _ := f.pol.KeyByID("alice")
	if d := cmp.Diff(want, asError(t, f.guard.Exhausted(ctx, f.pol, k))); d != "" {
		t.Errorf("Exhausted (-want +got):\n%s", d)
	}

	// Money left in the day, but not for this request: the message says so.
	f.clock.Set(midNovember.Add(12 * time.Hour)) // 2026-11-16 00:00, a Monday
	f.spend(t, "alice", 9_000)
	r := f.req(t, "alice")
	r.Blocks, r.MaxOutput = 1, 200
	_, err = f.guard.Admit(ctx, r)
	want.Message = "This request could cost up to $0.002024 (24 input and 200 output tokens at most), more than the $0.001000 left of your API key's daily budget ($0.009000 spent of $0.01 in 2026-11-16). Set max_tokens (or max_completion_tokens) to 97 or less, or shorten the prompt. It resets on 2026-11-17 00:00 UTC."
	if d := cmp.Diff(want, asError(t, err)); d != "" {
		t.Errorf("Admit near the day's cap (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[usage.Scope]usage.Totals{alice: {Spent: 19_000}}, f.totals(t, "2026-11", alice)); d != "" {
		t.Errorf("the month's totals (-want +got):\n%s", d)
	}

	// The third day has $0.01 but the month only $0.006: the month refuses.
	f.clock.Set(midNovember.Add(36 * time.Hour))
	f.spend(t, "alice", 6_000)
	_, err = f.guard.Admit(ctx, f.req(t, "alice"))
	want.Message = "Your API key's monthly budget is exhausted: $0.025000 spent of $0.025000 in 2026-11. It resets on 2026-12-01 00:00 UTC."
	if d := cmp.Diff(want, asError(t, err)); d != "" {
		t.Errorf("Admit past the month (-want +got):\n%s", d)
	}
	for per, spent := range map[string]int64{"2026-11-15": 10_000, "2026-11-16": 9_000, "2026-11-17": 6_000} {
		if d := cmp.Diff(map[usage.Scope]usage.Totals{alice: {Spent: spent}}, f.totals(t, per, alice)); d != "" {
			t.Errorf("totals of %s (-want +got):\n%s", per, d)
		}
	}
}

// TestSharedPeriodRefusal: a team's weekly cap refuses with what is left
// of it, rounded down, and when the week resets.
func TestSharedPeriodRefusal(t *testing.T) {
	f := newFixture(t, `
keys:
  - id: alice
    sha256: "#alice"
    team: lab
  - id: bob
    sha256: "#bob"
    team: lab
teams:
  - id: lab
    weekly_budget_usd: 0.02
`, budget.Options{})
	f.spend(t, "bob", 20_000)
	_, err := f.guard.Admit(context.Background(), f.req(t, "alice"))
	want := &tollgate.Error{Kind: tollgate.QuotaExceeded, Code: "budget_exceeded",
		Message: `Your team "lab"'s weekly budget of $0.02 is exhausted for 2026-W46. It resets on 2026-11-16 00:00 UTC.`}
	if d := cmp.Diff(want, asError(t, err)); d != "" {
		t.Errorf("Admit past the team's week (-want +got):\n%s", d)
	}
	f.clock.Set(midNovember.Add(12 * time.Hour))
	f.hold(t, "alice")
}

// TestDailyCapHoldsUnderConcurrency: 60 requests at once on a key whose
// day affords 12 worst cases and whose month affords far more: the day's
// settled spend stays within its cap, and at least 12 are admitted.
func TestDailyCapHoldsUnderConcurrency(t *testing.T) {
	const (
		goroutines = 60
		worstCase  = 24 + 500*10 // (16 + 8 tokens) × 1 + 500 output × 10
		dayCap     = 12*worstCase + worstCase/2
	)
	f := newFixture(t, fmt.Sprintf(`
keys:
  - id: alice
    sha256: "#alice"
    daily_budget_usd: %g
    monthly_budget_usd: 100
`, float64(dayCap)/1e6), budget.Options{MinOutput: 500})
	ctx := context.Background()
	var (
		admitted atomic.Int64
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	for i := range goroutines {
		r := f.req(t, "alice")
		r.Blocks, r.MaxOutput = 1, 500
		wg.Go(func() {
			<-start
			tk, err := f.guard.Admit(ctx, r)
			if err != nil {
				if asQuota(err) == nil {
					t.Errorf("Admit: %v", err)
				}
				return
			}
			admitted.Add(1)
			if _, err := tk.Settle(ctx, budget.Usage{Input: 24, Output: int64(i % 501)}); err != nil {
				t.Errorf("Settle: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	alice := keyScope("alice")
	day, month := f.totals(t, "2026-11-15", alice)[alice], f.totals(t, "2026-11", alice)[alice]
	if day.Spent > dayCap || day.Reserved != 0 || month != day {
		t.Errorf("day %+v, month %+v: want the same, spent at most %d, nothing reserved", day, month, dayCap)
	}
	if n := admitted.Load(); n < 12 {
		t.Errorf("admitted %d, want at least 12", n)
	}
}

// TestStatusPeriods: every period that applies to a scope, with its id,
// cap and totals: the month always, the week and the day when capped.
func TestStatusPeriods(t *testing.T) {
	f := newFixture(t, `
keys:
  - id: alice
    sha256: "#alice"
    team: lab
    daily_budget_usd: 1
  - id: bob
    sha256: "#bob"
    team: lab
teams:
  - id: lab
    weekly_budget_usd: 5
budget:
  daily_budget_usd: 100
  monthly_budget_usd: 1000
`, budget.Options{})
	f.spend(t, "bob", 300)
	f.hold(t, "alice")
	f.spend(t, "alice", 1000)
	k, _ := f.pol.KeyByID("alice")
	got, err := f.guard.Status(context.Background(), f.pol, k)
	if err != nil {
		t.Fatal(err)
	}
	u := usage.Uncapped
	want := budget.Status{
		Period: "2026-11",
		Key: budget.ScopeStatus{Limit: u, Spent: 1000, Reserved: holdCost, Periods: []budget.PeriodStatus{
			{Kind: budget.Monthly, Period: "2026-11", Limit: u, Spent: 1000, Reserved: holdCost},
			{Kind: budget.Daily, Period: "2026-11-15", Limit: 1_000_000, Spent: 1000, Reserved: holdCost},
		}},
		Team: &budget.ScopeStatus{ID: "lab", Limit: u, Spent: 1300, Reserved: holdCost, Periods: []budget.PeriodStatus{
			{Kind: budget.Monthly, Period: "2026-11", Limit: u, Spent: 1300, Reserved: holdCost}, // the sum of its keys
			{Kind: budget.Weekly, Period: "2026-W46", Limit: 5_000_000, Spent: 1300, Reserved: holdCost},
		}},
		Global: &budget.ScopeStatus{Limit: 1_000_000_000, Spent: 1300, Reserved: holdCost, Periods: []budget.PeriodStatus{
			{Kind: budget.Monthly, Period: "2026-11", Limit: 1_000_000_000, Spent: 1300, Reserved: holdCost},
			{Kind: budget.Daily, Period: "2026-11-15", Limit: 100_000_000, Spent: 1300, Reserved: holdCost},
		}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Status (-want +got):\n%s", d)
	}
}

// TestAlertsPerPeriod: alert_at applies to each period's cap of a scope,
// once per threshold and period: alice's day alerts at 50 % on two days,
// her month not yet.
func TestAlertsPerPeriod(t *testing.T) {
	clk := &fakeClock{t: midNovember}
	store := memory.New(memory.WithClock(clk.Now))
	t.Cleanup(func() { store.Close() })
	var seen alerts
	g := budget.New(store, budget.Options{Now: clk.Now, OnAlert: seen.record})
	f := &fixture{clock: clk, guard: g, pol: parsePolicy(t, `
keys:
  - id: alice
    sha256: "#alice"
    daily_budget_usd: 0.01
    monthly_budget_usd: 1
    alert_at: 0.5
`)}
	f.spend(t, "alice", 6_000)
	f.spend(t, "alice", 1_000)
	clk.Set(midNovember.Add(24 * time.Hour))
	f.spend(t, "alice", 5_000)
	if err := g.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []budget.Alert{
		{Kind: usage.KindKey, ID: "alice", Period: "2026-11-15", PeriodKind: budget.Daily, Threshold: 0.5, Spent: 6_000, Limit: 10_000, Time: midNovember},
		{Kind: usage.KindKey, ID: "alice", Period: "2026-11-16", PeriodKind: budget.Daily, Threshold: 0.5, Spent: 5_000, Limit: 10_000, Time: midNovember.Add(24 * time.Hour)},
	}
	// Spent is read when the check runs, perhaps after a later settlement.
	if d := cmp.Diff(want, seen.got, cmpopts.IgnoreFields(budget.Alert{}, "Time", "Spent")); d != "" {
		t.Errorf("alerts (-want +got):\n%s", d)
	}
	for _, a := range seen.got {
		if a.Spent < 5_000 {
			t.Errorf("alert of %s at %d spent, below its threshold", a.Period, a.Spent)
		}
	}
}
