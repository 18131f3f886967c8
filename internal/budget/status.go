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

// Status returns the budgets of key k under policy p this period.
func (g *Guard) Status(ctx context.Context, p *policy.Policy, k *policy.Key) (Status, error) {
	period := Period(g.opts.Now())
	caps := p.Caps(k)
	cs := charges(k.ID, caps)
	scopes := make([]usage.Scope, len(cs))
	for i, c := range cs {
		scopes[i] = c.Scope
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
			if c.Limit != usage.Uncapped {
				st.Global = &s
			}
		}
	}
	return st, nil
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
