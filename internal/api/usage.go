package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/gate"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// usageScope is one budget in the GET /v1/usage body. Amounts are USD;
// limit and remaining are null when the scope has no cap. Spent and
// reserved are the key's own figures, shown for its own scope only.
type usageScope struct {
	ID           string   `json:"id,omitempty"`
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

// ownScope is the key's own budget: its figures, exactly.
func ownScope(s budget.ScopeStatus) usageScope {
	spent, reserved := toUSD(s.Spent), toUSD(s.Reserved)
	b := usageScope{ID: s.ID, SpentUSD: &spent, ReservedUSD: &reserved}
	if s.Limit != policy.Uncapped {
		limit, remaining := toUSD(s.Limit), toUSD(s.Remaining())
		b.LimitUSD, b.RemainingUSD = &limit, &remaining
	}
	return b
}

// sharedScope is a budget the key shares with other keys (its team's, the
// gateway's): its limit and what is left, rounded down to the cent, never
// its spend or reservations, which would tell one key what the others spend
// and how large their requests in flight are.
func sharedScope(s budget.ScopeStatus) usageScope {
	b := usageScope{ID: s.ID}
	if s.Limit != policy.Uncapped {
		limit, remaining := toUSD(s.Limit), toUSD(budget.SharedRemaining(s.Limit, s.Spent+s.Reserved))
		b.LimitUSD, b.RemainingUSD = &limit, &remaining
	}
	return b
}

// handleUsage serves GET /v1/usage: the calling key's budgets this month,
// its own exactly, those it shares only as what is left (sharedScope).
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
