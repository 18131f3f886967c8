package budget

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// Reprice moves an unsettled ticket's hold to another model's price, for a
// fallback: the model it was admitted for failed without billing anything,
// and the request goes on to route's model with the same input and output
// cap (the request was built with that cap; it is not clamped again). id
// is the new reservation's id, distinct from every other of the request.
//
// It is exact: the new worst case is reserved before the old hold is
// released (settled at nothing, as Bedrock billed nothing), so the
// request never holds less than its worst case at the price it is sent at.
// When the new worst case does not fit, the ticket is unchanged and the
// error is Admit's 429 budget_exceeded; a store that cannot be reached is
// a 503 budget_store_unavailable (the ticket is unchanged too). The rate
// limits' hold (tokens, concurrency) is the request's and stays as it is.
func (t *Ticket) Reprice(ctx context.Context, id string, route policy.Route) error {
	g := t.g
	if !capped(t.res.Charges) {
		t.Price = route.Price
		return nil
	}
	if !route.Priced {
		return tollgate.Errorf(tollgate.PermissionDenied, "model_not_priced", "model",
			"The model %q has no price, so a budgeted key cannot use it. Ask your Tollgate administrator to add it to the policy's pricing.", route.Requested)
	}
	if !t.reserved {
		// Admitted with the store down (FailOpen): there is no hold to
		// move, and the settlement records the spend at the new price.
		t.Price = route.Price
		return nil
	}
	worst := policy.Price{Input: route.Price.Input, Output: route.Price.Output}
	if t.cacheWrite {
		worst.Input = max(worst.Input, route.Price.CacheWrite)
	}
	res := &usage.Reservation{ID: id, Charges: t.res.Charges,
		Amount: worst.Cost(t.input, int64(t.MaxOutput), 0, 0), Expires: g.opts.Now().Add(g.opts.Lease)}
	err := g.store.Reserve(ctx, res)
	var exceeded *usage.ExceededError
	switch {
	case errors.As(err, &exceeded):
		return g.refusal(exceeded, worst, t.input, t.MaxOutput, g.opts.Now().UTC())
	case errors.Is(err, usage.ErrUnavailable):
		return &tollgate.Error{Kind: tollgate.Unavailable, Code: "budget_store_unavailable", RetryAfter: 5 * time.Second,
			Message: "The gateway cannot check your budget right now. Try again shortly.", Cause: err}
	case err != nil:
		return &tollgate.Error{Kind: tollgate.Internal, Message: "The gateway could not reserve your request's budget.", Cause: err}
	}
	// Release the old hold through a ticket of its own, so that a slow
	// store defers it like any settlement (retried, flushed at shutdown).
	old := &Ticket{g: g, KeyID: t.KeyID, TeamID: t.TeamID, Period: t.Period, res: t.res, reserved: true}
	if _, err := old.Settle(ctx, Usage{}); err != nil {
		g.report(old.deferred(DeferredAbandoned, 1, err))
	}
	t.res, t.Price = res, route.Price
	return nil
}
