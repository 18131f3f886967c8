package budget

import (
	"context"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// ScopeStatus is one scope's budgets now, in micro-USD: its month's in
// Limit, Spent and Reserved (as before periods), and every period that
// applies in Periods.
type ScopeStatus struct {
	ID       string // team id; "" for a key or the global scope
	Limit    int64  // the monthly cap; usage.Uncapped when the month has none
	Spent    int64
	Reserved int64
	// Periods: the month always, then the week and the day when the scope
	// has a cap of theirs (PeriodKinds' order).
	Periods []PeriodStatus
}

// Remaining is what the scope can still spend this month, never below 0;
// meaningless when the month is uncapped.
func (s ScopeStatus) Remaining() int64 { return max(0, s.Limit-s.Spent-s.Reserved) }

// PeriodStatus is one period's budget of a scope, in micro-USD.
type PeriodStatus struct {
	Kind     PeriodKind
	Period   string // its id: "2026-12", "2026-W49", "2026-12-02"
	Limit    int64  // usage.Uncapped when the period has no cap
	Spent    int64
	Reserved int64
}

// Remaining is what the scope can still spend in the period, never below
// 0; meaningless when the period is uncapped.
func (s PeriodStatus) Remaining() int64 { return max(0, s.Limit-s.Spent-s.Reserved) }

// Status is a key's view of its budgets now.
type Status struct {
	Period string // the month
	Key    ScopeStatus
	Team   *ScopeStatus // nil when the key has no team
	Global *ScopeStatus // nil when the gateway has no global budget
}

// Status returns the budgets of key k under policy p now: one read of the
// store per period with a counter (one for a key capped by the month
// alone). An uncapped team month's totals are the sum of its keys' (under
// p): only capped scopes have counters of their own. An uncapped global
// month (the gateway capped by the day or week alone) shows 0 spent; the
// key is shown no figure of it anyway.
func (g *Guard) Status(ctx context.Context, p *policy.Policy, k *policy.Key) (Status, error) {
	now := g.opts.Now()
	month := Period(now)
	caps := p.Caps(k)
	byPeriod := map[string][]usage.Scope{}
	for _, c := range charges(k.ID, caps, now) {
		byPeriod[c.Period] = append(byPeriod[c.Period], c.Scope)
	}
	var members []usage.Scope // the keys of a team whose month is uncapped
	if caps.TeamID != "" && caps.Team.Monthly == usage.Uncapped {
		for _, m := range p.Keys {
			if m.Team == caps.TeamID {
				members = append(members, usage.Scope{Kind: usage.KindKey, ID: m.ID})
			}
		}
		byPeriod[month] = append(byPeriod[month], members...)
	}
	totals := make(map[string]map[usage.Scope]usage.Totals, len(byPeriod))
	for per, scopes := range byPeriod {
		t, err := g.store.Totals(ctx, per, scopes)
		if err != nil {
			return Status{}, err
		}
		totals[per] = t
	}
	scope := func(sc usage.Scope, l policy.Limits) ScopeStatus {
		s := ScopeStatus{ID: sc.ID}
		if sc.Kind == usage.KindKey {
			s.ID = ""
		}
		for _, kind := range PeriodKinds {
			lim := limit(l, kind)
			if kind != Monthly && lim == usage.Uncapped {
				continue
			}
			per := PeriodID(kind, now)
			t := totals[per][sc]
			if kind == Monthly && lim == usage.Uncapped && sc.Kind == usage.KindTeam {
				t = sumOf(totals[month], members)
			}
			s.Periods = append(s.Periods, PeriodStatus{Kind: kind, Period: per, Limit: lim, Spent: t.Spent, Reserved: t.Reserved})
			if kind == Monthly {
				s.Limit, s.Spent, s.Reserved = lim, t.Spent, t.Reserved
			}
		}
		return s
	}
	st := Status{Period: month, Key: scope(usage.Scope{Kind: usage.KindKey, ID: k.ID}, caps.Key)}
	if caps.TeamID != "" {
		t := scope(usage.Scope{Kind: usage.KindTeam, ID: caps.TeamID}, caps.Team)
		st.Team = &t
	}
	if caps.Global.Capped() {
		gs := scope(usage.Global, caps.Global)
		st.Global = &gs
	}
	return st, nil
}

// sumOf adds up the totals of scopes.
func sumOf(totals map[usage.Scope]usage.Totals, scopes []usage.Scope) usage.Totals {
	var sum usage.Totals
	for _, sc := range scopes {
		t := totals[sc]
		sum.Spent += t.Spent
		sum.Reserved += t.Reserved
		sum.Estimated += t.Estimated
	}
	return sum
}

// Estimate returns the usage of a request whose stream broke before Bedrock
// reported it: r's input counted as Admit counts it near a cap (its texts
// with tiktoken, plus its images, binary documents, framing and tool-use
// system prompt), the output from the bytes produced (about four per
// token). It is marked Estimated.
func (g *Guard) Estimate(r Request, outputBytes int) Usage {
	var texts []string
	if r.Texts != nil {
		texts = r.Texts()
	}
	return Usage{
		Input:     int64(g.counter.Count(texts...)) + fixedInput(&r),
		Output:    int64((outputBytes + 3) / 4),
		Estimated: true,
	}
}
