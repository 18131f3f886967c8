package api

import (
	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// earlyCheckBytes is the body size from which a request's budget is checked
// before the body is parsed, its images fetched or its tokens counted: a key
// with nothing left must not make the gateway do that work (issue 13). Below
// it the work is cheaper than the store read the check costs.
const earlyCheckBytes = 64 << 10

// refuseExhausted answers 429 and reports true when a large request's key
// has no budget left under any of its caps.
func refuseExhausted(c *gin.Context, d Deps, body []byte) bool {
	if len(body) < earlyCheckBytes {
		return false
	}
	if err := d.Budget.Exhausted(c.Request.Context(), policyOf(c), keyOf(c)); err != nil {
		writeError(c, err)
		return true
	}
	return false
}

// currentPolicy re-checks the request's key against the policy in force now:
// the one pinned when the headers were read may since have disabled or
// removed the key, or changed its caps or models, while the body arrived or
// images were fetched (issue 13: requests opened before a key was disabled
// still reached Bedrock). It returns the policy and key to admit the request
// under, pinning them for the rest of the request.
func currentPolicy(c *gin.Context, d Deps) (*policy.Policy, *policy.Key, error) {
	pol, key := policyOf(c), keyOf(c)
	cur := d.Policies.Load()
	if cur == pol {
		return pol, key, nil
	}
	k, err := cur.Reauthenticate(key, d.Now())
	if err != nil {
		return nil, nil, err
	}
	c.Set(ctxPolicy, cur)
	c.Set(ctxKey, k)
	return cur, k, nil
}

// sameCall reports whether two routes of one request make the same Bedrock
// call: the same model id, guardrail and prompt-caching default.
func sameCall(a, b policy.Route) bool {
	return a.ModelID == b.ModelID && a.PromptCache == b.PromptCache &&
		(a.Guardrail == b.Guardrail || (a.Guardrail != nil && b.Guardrail != nil && *a.Guardrail == *b.Guardrail))
}
