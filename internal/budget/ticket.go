package budget

import (
	"context"
	"sync"
	"time"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// Ticket is an admitted request's hold on its budgets.
type Ticket struct {
	KeyID     string
	TeamID    string // "" when the key has no team
	Period    string
	Price     policy.Price
	MaxOutput int  // the output cap the request must be sent with; 0 = the model's own
	Clamped   bool // MaxOutput was lowered to fit the budget

	g        *Guard
	res      *usage.Reservation
	reserved bool
	once     sync.Once
	result   Settlement
	err      error
}

// Usage is what a request consumed, in tokens.
type Usage struct {
	Input, Output, CacheRead, CacheWrite int64
	Estimated                            bool // Bedrock never reported it; estimated from the text produced
}

// Settlement is the outcome of settling a ticket.
type Settlement struct {
	Usage      Usage
	CostMicros int64 // micro-USD, at the route's price, rounded up
	Recorded   bool  // false when the store had already recorded it
}

// settleTimeout bounds a settlement; it runs even after the client left.
const settleTimeout = 10 * time.Second

// Settle records what the request cost and releases the rest of its hold.
// Only the first call counts: a ticket is settled exactly once, however
// many paths reach it. It runs on its own context so that a client that
// went away still gets billed, and retries a failing store a few times.
func (t *Ticket) Settle(ctx context.Context, u Usage) (Settlement, error) {
	t.once.Do(func() {
		t.result.Usage = u
		t.result.CostMicros = t.Price.Cost(u.Input, u.Output, u.CacheRead, u.CacheWrite)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
		defer cancel()
		for attempt := 0; ; attempt++ {
			t.result.Recorded, t.err = t.g.store.Settle(ctx, t.res, t.result.CostMicros)
			if t.err == nil || attempt == 2 || ctx.Err() != nil {
				return
			}
			time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
		}
	})
	return t.result, t.err
}
