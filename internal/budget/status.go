package budget

import (
	"context"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// ScopeStatus is one budget's state in the current period, in micro-USD.
type ScopeStatus struct {
	ID       string // team id; "" for a key or the global scope
	Limit    int64  // usage.Uncapped when the scope has no cap
	Spent    int64
	Reserved int64
}

// Remaining is what the scope can still spend, never below 0; meaningless
// when the scope is uncapped.
func (s ScopeStatus) Remaining() int64 { return max(0, s.Limit-s.Spent-s.Reserved) }

// Status is a key's view of its budgets this period.
type Status struct {
	Period string
	Key    ScopeStatus
	Team   *ScopeStatus // nil when the key has no team
	Global *ScopeStatus // nil when the gateway has no global budget
}

// Status returns the budgets of key k under policy p this period. An
// uncapped team's totals are the sum of its keys' (under p): only capped
// scopes have counters of their own.
func (g *Guard) Status(ctx context.Context, p *policy.Policy, k *policy.Key) (Status, error) {
	period := Period(g.opts.Now())
	caps := p.Caps(k)
	cs := charges(k.ID, caps, period)
	scopes := make([]usage.Scope, 0, len(cs))
	for _, c := range cs {
		scopes = append(scopes, c.Scope)
	}
	var members []usage.Scope // the keys of an uncapped team
	if caps.TeamID != "" && caps.Team == usage.Uncapped {
		for _, m := range p.Keys {
			if m.Team == caps.TeamID {
				members = append(members, usage.Scope{Kind: usage.KindKey, ID: m.ID})
			}
		}
		scopes = append(scopes, members...)
	}
	totals, err := g.store.Totals(ctx, period, scopes)
	if err != nil {
		return Status{}, err
	}
	st := Status{Period: period}
	for _, c := range cs {
		s := ScopeStatus{ID: c.Scope.ID, Limit: c.Limit, Spent: totals[c.Scope].Spent, Reserved: totals[c.Scope].Reserved}
		switch c.Scope.Kind {
		case usage.KindKey:
			s.ID = ""
			st.Key = s
		case usage.KindTeam:
			st.Team = &s
		case usage.KindGlobal:
			st.Global = &s
		}
	}
	if caps.TeamID != "" && st.Team == nil {
		sum := sumOf(totals, members)
		st.Team = &ScopeStatus{ID: caps.TeamID, Limit: usage.Uncapped, Spent: sum.Spent, Reserved: sum.Reserved}
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
