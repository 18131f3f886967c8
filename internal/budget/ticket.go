package budget

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage"
)

// Ticket is an admitted request's hold on its budgets.
type Ticket struct {
	KeyID     string
	TeamID    string // "" when the key has no team
	Period    string // the month admitted in, "2026-11"; the hold is on every capped period (charges)
	Price     policy.Price
	MaxOutput int  // the output cap the request must be sent with; 0 = the model's own
	Clamped   bool // MaxOutput was lowered to fit the budget
	// Rate is what the key's rate limits allow after this admission; the
	// zero RateStatus when it has none.
	Rate RateStatus

	g        *Guard
	res      *usage.Reservation
	rate     *usage.RateRelease // the rate admission to release; nil when none
	alerts   []alertScope       // the capped scopes with alert thresholds (alert.go)
	reserved bool
	// input is the input tokens the reservation holds (the byte bound, or
	// the precise count near a cap); cacheWrite: the input may be billed at
	// the cache-write price. Reprice holds them again at another price.
	input      int64
	cacheWrite bool
	once       sync.Once
	result     Settlement
	err        error
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
	Recorded   bool  // false when the store had already recorded it, or not yet (Deferred)
	// Deferred: the store could not be reached within Options.SettleWait;
	// the settlement goes on in the background until it lands or the
	// reservation's lease ends (Guard.Flush waits for it at shutdown).
	Deferred bool
}

// DefaultSettleWait is how long Ticket.Settle waits for the store before it
// hands the settlement to the background.
const DefaultSettleWait = 3 * time.Second

// Background retries of a deferred settlement: each attempt is bounded by
// settleAttempt, and the pause between attempts grows from retryMin to
// retryMax (jittered), shrinking to retryFlushing while Guard.Flush waits.
const (
	settleAttempt = 10 * time.Second
	retryMin      = 500 * time.Millisecond
	retryMax      = 30 * time.Second
	retryFlushing = 200 * time.Millisecond
)

// DeferredState is where a deferred settlement stands.
type DeferredState string

// The states a deferred settlement reports to Options.OnDeferred.
const (
	// DeferredPending: the store did not take the settlement within
	// SettleWait; it is retried in the background.
	DeferredPending DeferredState = "pending"
	// DeferredRecorded: a background retry landed it.
	DeferredRecorded DeferredState = "recorded"
	// DeferredAbandoned: retries stopped (the lease ended, or Flush's
	// context ended) before it landed. A reserved request is then charged
	// its reserved amount by the lease sweep, and a late settlement, if one
	// ever lands, corrects that; an unreserved one (no capped scope, or
	// admitted with the store down under FailOpen) is not recorded.
	DeferredAbandoned DeferredState = "abandoned"
)

// Deferred describes a settlement that did not reach the store in time, for
// logs and metrics. It names the key by its policy id, never by a secret.
type Deferred struct {
	State         DeferredState
	KeyID         string
	ReservationID string // the request id
	CostMicros    int64
	Reserved      bool  // a reservation holds the request's worst case meanwhile
	Attempts      int   // store calls so far
	Err           error // the last store error; nil once recorded
}

// ErrFlushed is the error of a deferred settlement abandoned because
// Guard.Flush's context ended.
var ErrFlushed = errors.New("budget: settlement abandoned at shutdown")

// Settle records what the request cost and releases the rest of its hold.
// Only the first call counts: a ticket is settled exactly once, however
// many paths reach it. It runs on its own context, so that a client that
// went away still gets billed.
//
// Settle waits for the store at most Options.SettleWait, retrying a failing
// store. Past that it returns a Settlement marked Deferred, with a nil
// error, and keeps trying in the background with backoff until it lands or
// the reservation's lease ends (reported to Options.OnDeferred): the
// request's worst case stays reserved meanwhile, and is charged if the
// lease ends first. The error is non-nil only for a settlement the store
// refused outright (a bug), or one that could not be deferred because
// Flush has already run.
func (t *Ticket) Settle(ctx context.Context, u Usage) (Settlement, error) {
	t.once.Do(func() {
		t.releaseRate(ctx, u, false)
		t.result.Usage = u
		t.result.CostMicros = t.Price.Cost(u.Input, u.Output, u.CacheRead, u.CacheWrite)
		g := t.g
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.opts.SettleWait)
		defer cancel()
		attempts := 0
		for pause := 100 * time.Millisecond; ; pause *= 2 {
			attempts++
			t.result.Recorded, t.err = g.store.Settle(ctx, t.res, t.result.CostMicros)
			if t.err == nil || errors.Is(t.err, usage.ErrInvalid) || !sleep(ctx, pause) {
				break
			}
		}
		if t.err == nil {
			g.alerts.check(alertCheck{scopes: t.alerts})
		}
		if t.err == nil || errors.Is(t.err, usage.ErrInvalid) {
			return
		}
		if g.settling.background(t, attempts, t.err) {
			t.result.Deferred, t.err = true, nil
		}
	})
	return t.result, t.err
}

// sleep waits d, or less if ctx ends first; it reports whether ctx is
// still live.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return ctx.Err() == nil
	}
}

// settling tracks the settlements retried in the background.
type settling struct {
	mu       sync.Mutex
	wg       sync.WaitGroup
	pending  int
	flushed  bool               // Flush has run: no more deferring
	flushing chan struct{}      // closed when Flush starts: retry sooner
	stop     context.Context    // done when Flush's context ends: give up
	cancel   context.CancelFunc // ends stop
}

func newSettling() *settling {
	stop, cancel := context.WithCancel(context.Background())
	return &settling{flushing: make(chan struct{}), stop: stop, cancel: cancel}
}

// background hands t's settlement to a background goroutine; false once Flush
// has run.
func (s *settling) background(t *Ticket, attempts int, err error) bool {
	s.mu.Lock()
	if s.flushed {
		s.mu.Unlock()
		return false
	}
	s.pending++
	s.wg.Add(1)
	s.mu.Unlock()
	g := t.g
	end := t.res.Expires
	if end.IsZero() {
		end = g.opts.Now().Add(g.opts.Lease) // unreserved: no lease, retry as long as one
	}
	d := t.deferred(DeferredPending, attempts, err)
	g.report(d)
	go func() {
		defer func() {
			s.mu.Lock()
			s.pending--
			s.mu.Unlock()
			s.wg.Done()
		}()
		g.report(t.retry(d, end))
	}()
	return true
}

func (t *Ticket) deferred(state DeferredState, attempts int, err error) Deferred {
	return Deferred{State: state, KeyID: t.KeyID, ReservationID: t.res.ID, CostMicros: t.result.CostMicros,
		Reserved: t.reserved, Attempts: attempts, Err: err}
}

// retry tries the settlement until it lands, the lease ends at end, or
// Flush gives up, and returns the final state.
func (t *Ticket) retry(d Deferred, end time.Time) Deferred {
	g, s := t.g, t.g.settling
	pause := retryMin
	for {
		wait := pause/2 + time.Duration(rand.Int64N(int64(pause)))
		select {
		case <-s.flushing:
			wait = min(wait, retryFlushing)
		default:
		}
		if left := end.Sub(g.opts.Now()); left <= 0 {
			d.State = DeferredAbandoned
			d.Err = fmt.Errorf("budget: the lease ended before the store took the settlement: %w", d.Err)
			return d
		} else if wait > left {
			wait = left
		}
		tm := time.NewTimer(wait)
		select {
		case <-s.stop.Done():
			tm.Stop()
			d.State, d.Err = DeferredAbandoned, fmt.Errorf("%w: %w", ErrFlushed, d.Err)
			return d
		case <-s.flushing:
			tm.Stop() // Flush started during the pause: retry now
		case <-tm.C:
		}
		ctx, cancel := context.WithTimeout(s.stop, settleAttempt)
		d.Attempts++
		_, err := g.store.Settle(ctx, t.res, t.result.CostMicros)
		cancel()
		if err == nil {
			d.State, d.Err = DeferredRecorded, nil
			g.alerts.check(alertCheck{scopes: t.alerts})
			return d
		}
		d.Err = err
		if errors.Is(err, usage.ErrInvalid) {
			d.State = DeferredAbandoned
			return d
		}
		pause = min(2*pause, retryMax)
	}
}

func (g *Guard) report(d Deferred) {
	if g.opts.OnDeferred != nil {
		g.opts.OnDeferred(d)
	}
}

// Pending returns how many deferred settlements are being retried.
func (g *Guard) Pending() int {
	g.settling.mu.Lock()
	defer g.settling.mu.Unlock()
	return g.settling.pending
}

// Flush waits for the deferred settlements to land, retrying them sooner,
// until ctx ends; then it stops the retries that are left (each reported
// to OnDeferred as abandoned) and returns an error saying how many. Call it
// once, at shutdown, after the last request has been settled and before
// the store closes; settlements that fail after it are not deferred. It
// then waits, until ctx ends, for the alert checks queued so far.
func (g *Guard) Flush(ctx context.Context) error {
	err := g.flushSettlements(ctx)
	return errors.Join(err, g.alerts.flush(ctx))
}

func (g *Guard) flushSettlements(ctx context.Context) error {
	s := g.settling
	s.mu.Lock()
	if s.flushed {
		s.mu.Unlock()
		return nil
	}
	s.flushed = true
	left := s.pending
	s.mu.Unlock()
	if left == 0 {
		return nil
	}
	close(s.flushing)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	n := g.Pending()
	s.cancel()
	<-done
	return fmt.Errorf("%w: %d settlements still pending: %w", ErrFlushed, n, ctx.Err())
}
