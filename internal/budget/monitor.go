package budget

import (
	"context"
	"time"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// ScopeState is one budget of the policy this period, for dashboards and
// alerts. Amounts are micro-USD.
type ScopeState struct {
	Kind     usage.Kind
	ID       string  // key or team id; "" for the global scope
	Limit    int64   // usage.Uncapped when the scope has no cap
	Spent    int64   // settled
	Reserved int64   // held by requests in flight
	AlertAt  float64 // the policy's soft threshold, a fraction of Limit; 0 when unset
}

// Overview returns every key, team and the global scope of p with their
// totals this period, in one read of the store. An uncapped team's totals
// are the sum of its keys' under p, the uncapped global scope's the sum of
// every key's: only capped scopes have counters of their own.
func (g *Guard) Overview(ctx context.Context, p *policy.Policy) ([]ScopeState, error) {
	totals, err := g.store.List(ctx, Period(g.opts.Now()))
	if err != nil {
		return nil, err
	}
	state := func(kind usage.Kind, id string, limit int64, alert float64, t usage.Totals) ScopeState {
		return ScopeState{Kind: kind, ID: id, Limit: limit, Spent: t.Spent, Reserved: t.Reserved, AlertAt: alert}
	}
	out := make([]ScopeState, 0, len(p.Keys)+len(p.Teams())+1)
	members := map[string][]usage.Scope{}
	var all []usage.Scope
	for sc := range totals {
		if sc.Kind == usage.KindKey {
			all = append(all, sc) // keys gone from the policy spent too
		}
	}
	for _, k := range p.Keys {
		sc := usage.Scope{Kind: usage.KindKey, ID: k.ID}
		out = append(out, state(usage.KindKey, k.ID, k.BudgetMicros(), p.Alerts(k).Key, totals[sc]))
		if k.Team != "" {
			members[k.Team] = append(members[k.Team], sc)
		}
	}
	for _, t := range p.Teams() {
		alert := t.AlertAt.Lowest()
		tot := totals[usage.Scope{Kind: usage.KindTeam, ID: t.ID}]
		if t.BudgetMicros() == usage.Uncapped {
			tot = sumOf(totals, members[t.ID])
		}
		out = append(out, state(usage.KindTeam, t.ID, t.BudgetMicros(), alert, tot))
	}
	tot := totals[usage.Global]
	if p.GlobalBudgetMicros() == usage.Uncapped {
		tot = sumOf(totals, all)
	}
	return append(out, state(usage.KindGlobal, "", p.GlobalBudgetMicros(), p.GlobalAlertAt(), tot)), nil
}

// Monitor reads the Overview of the current policy every interval until ctx
// is done, passing it to report, and calls alert once per period for each
// scope whose settled spend reached its alert threshold. Failed reads are
// passed to report as errors and tried again at the next tick.
func (g *Guard) Monitor(ctx context.Context, current func() *policy.Policy, interval time.Duration,
	report func([]ScopeState, error), alert func(ScopeState)) {
	alerted := map[usage.Scope]string{} // scope -> period of its last alert
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		states, err := g.Overview(ctx, current())
		report(states, err)
		period := Period(g.opts.Now())
		for _, s := range states {
			scope := usage.Scope{Kind: s.Kind, ID: s.ID}
			if s.AlertAt > 0 && s.Limit > 0 && float64(s.Spent) >= s.AlertAt*float64(s.Limit) && alerted[scope] != period {
				alerted[scope] = period
				alert(s)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
