package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// usageScope is one scope in the GET /v1/usage body: its month's budget
// (the fields from before periods), and every period that applies by kind
// (monthly always; weekly, daily when the scope has such a cap). Amounts
// are USD; limit and remaining are null when there is no cap. Spent and
// reserved are the key's own figures, shown for its own scope only.
type usageScope struct {
	ID string `json:"id,omitempty"`
	usagePeriod
	Periods map[budget.PeriodKind]usagePeriod `json:"periods"`
}

// usagePeriod is one period's budget of a scope; Period, its id, is left
// out of the month's fields beside the scope's id (the body's period says
// it).
type usagePeriod struct {
	Period       string   `json:"period,omitempty"`
	LimitUSD     *float64 `json:"limit_usd"`
	SpentUSD     *float64 `json:"spent_usd,omitempty"`
	ReservedUSD  *float64 `json:"reserved_usd,omitempty"`
	RemainingUSD *float64 `json:"remaining_usd"`
}

type usageBody struct {
	KeyID  string      `json:"key_id"`
	Period string      `json:"period"`
	Key    usageScope  `json:"key"`
	Team   *usageScope `json:"team"`
	Global *usageScope `json:"global"`
	Models []string    `json:"models"`
}

func toUSD(micros int64) float64 { return float64(micros) / 1e6 }

// ownScope is the key's own budgets: its figures, exactly.
func ownScope(s budget.ScopeStatus) usageScope {
	return scopeOf(s, func(p budget.PeriodStatus) usagePeriod {
		spent, reserved := toUSD(p.Spent), toUSD(p.Reserved)
		b := usagePeriod{Period: p.Period, SpentUSD: &spent, ReservedUSD: &reserved}
		if p.Limit != policy.Uncapped {
			limit, remaining := toUSD(p.Limit), toUSD(p.Remaining())
			b.LimitUSD, b.RemainingUSD = &limit, &remaining
		}
		return b
	})
}

// sharedScope is the budgets the key shares with other keys (its team's,
// the gateway's): their limits and what is left, rounded down to the cent,
// never their spend or reservations, which would tell one key what the
// others spend and how large their requests in flight are.
func sharedScope(s budget.ScopeStatus) usageScope {
	return scopeOf(s, func(p budget.PeriodStatus) usagePeriod {
		b := usagePeriod{Period: p.Period}
		if p.Limit != policy.Uncapped {
			limit, remaining := toUSD(p.Limit), toUSD(budget.SharedRemaining(p.Limit, p.Spent+p.Reserved))
			b.LimitUSD, b.RemainingUSD = &limit, &remaining
		}
		return b
	})
}

// scopeOf renders s's periods with render; the month's is also the
// scope's own fields.
func scopeOf(s budget.ScopeStatus, render func(budget.PeriodStatus) usagePeriod) usageScope {
	b := usageScope{ID: s.ID, Periods: make(map[budget.PeriodKind]usagePeriod, len(s.Periods))}
	for _, p := range s.Periods {
		b.Periods[p.Kind] = render(p)
		if p.Kind == budget.Monthly {
			b.usagePeriod = render(p)
			b.usagePeriod.Period = ""
		}
	}
	return b
}

// handleUsage serves GET /v1/usage: the calling key's budgets now, by
// period, its own exactly, those it shares only as what is left
// (sharedScope).
func handleUsage(g *gate.Gate) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := keyOf(c)
		st, err := g.BudgetStatus(c.Request.Context(), gate.Caller{Policy: policyOf(c), Key: key})
		if err != nil {
			writeError(c, err)
			return
		}
		body := usageBody{KeyID: key.ID, Period: st.Period, Key: ownScope(st.Key), Models: key.Models}
		if body.Models == nil {
			body.Models = []string{}
		}
		if st.Team != nil {
			t := sharedScope(*st.Team)
			body.Team = &t
		}
		if st.Global != nil {
			g := sharedScope(*st.Global)
			body.Global = &g
		}
		c.JSON(http.StatusOK, body)
	}
}
